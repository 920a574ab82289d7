"""SelectorSpread: spread the pods of one owner (its controller ownerReference) across nodes.

The raw score is how many of the owner's pods a node already has; normalizing maps the
node with the most to 0 and a node with none to 100 (k8s selector_spread.go, no zones).
"""

from __future__ import annotations

from typing import ClassVar

from scheduler.framework import MAX_NODE_SCORE, NodeInfo, PodInfo


class SelectorSpread:
    name: ClassVar[str] = "SelectorSpread"

    def relevant(self, pod: PodInfo) -> bool:
        return pod.owner_uid is not None

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        assert pod.owner_uid is not None
        return node.owner_counts.get(pod.owner_uid, 0)

    def normalize(self, pod: PodInfo, scores: list[int]) -> None:
        top = max(scores, default=0)
        for i, count in enumerate(scores):
            scores[i] = MAX_NODE_SCORE if top == 0 else MAX_NODE_SCORE * (top - count) // top
