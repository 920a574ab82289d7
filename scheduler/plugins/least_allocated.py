"""NodeResourcesLeastAllocated: prefer nodes with the most cpu and memory left after the pod.

Uses the "non-zero" requests (pods without requests count as 100m / 200Mi), as
kube-scheduler does for scoring, so that request-less pods still spread.
"""

from __future__ import annotations

from typing import ClassVar

from scheduler.framework import MAX_NODE_SCORE, NodeInfo, PodInfo


def _least(requested: int, allocatable: int) -> int:
    if allocatable <= 0 or requested > allocatable:
        return 0
    return (allocatable - requested) * MAX_NODE_SCORE // allocatable


class LeastAllocated:
    name: ClassVar[str] = "NodeResourcesLeastAllocated"

    def relevant(self, pod: PodInfo) -> bool:
        return True

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        # cpu and memory weigh 1 each, as in the default scoring strategy
        return (_least(node.nz_cpu + pod.nz_cpu, node.alloc_cpu)
                + _least(node.nz_memory + pod.nz_memory, node.alloc_memory)) // 2

    def normalize(self, pod: PodInfo, scores: list[int]) -> None:
        return None
