"""TaintToleration: a node's NoSchedule / NoExecute taints repel pods that don't tolerate them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from scheduler.framework import (
    OK,
    Block,
    NodeInfo,
    NodeSnapshot,
    PodInfo,
    Status,
    default_normalize,
    tolerates,
)


def untolerated_reason(key: str, value: str) -> str:
    return f"node(s) had untolerated taint {{{key}: {value}}}"


class TaintToleration:
    name: ClassVar[str] = "TaintToleration"

    def relevant(self, pod: PodInfo) -> bool:
        return True

    def block_filter(self, pod: PodInfo, block: Block) -> bool:
        return block.no_hard_taints

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        for taint in node.hard_taints:
            value = taint.value or ""
            if not pod.tolerates(taint.key, value, taint.effect):
                return Status.fail(untolerated_reason(taint.key, value))
        return OK


class TaintTolerationScore:
    """Prefer nodes with fewer PreferNoSchedule taints the pod does not tolerate."""

    name: ClassVar[str] = "TaintToleration"

    def relevant(self, pod: PodInfo) -> bool:
        return True

    def constant_on(self, pod: PodInfo, snapshot: NodeSnapshot) -> bool:
        return snapshot.soft_tainted() == 0  # every node scores 0, normalized to 100

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        if not node.soft_taints:
            return 0
        tols = pod.soft_tolerations
        return sum(1 for t in node.soft_taints
                   if not tolerates(tols, t.key, t.value or "", t.effect))

    def score_all(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        score = self.score
        return [score(pod, n) if n.soft_taints else 0 for n in nodes]

    def normalize(self, pod: PodInfo, scores: list[int]) -> None:
        default_normalize(scores, reverse=True)
