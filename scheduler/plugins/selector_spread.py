"""SelectorSpread: spread the pods of one owner (its controller ownerReference) across nodes.

The raw score is how many of the owner's pods a node already has; normalizing maps the
node with the most to 0 and a node with none to 100 (k8s selector_spread.go, no zones).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from scheduler.framework import NodeInfo, PodInfo, default_normalize


class SelectorSpread:
    name: ClassVar[str] = "SelectorSpread"
    spread_by_owner: ClassVar[bool] = True

    def relevant(self, pod: PodInfo) -> bool:
        return pod.owner_uid is not None

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        return self.score_all(pod, (node,))[0]

    def score_all(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        uid = pod.owner_uid or ""
        return [n.owner_counts.get(uid, 0) for n in nodes]

    def normalize(self, pod: PodInfo, scores: list[int]) -> None:
        default_normalize(scores, reverse=True)
