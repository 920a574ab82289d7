"""NodeResourcesBalancedAllocation: prefer nodes whose cpu and memory use stay balanced.

score = (1 - std(cpuFraction, memoryFraction)) * 100; with two resources the standard
deviation is |cpu - memory| / 2 (k8s balanced_allocation.go).
"""

from __future__ import annotations

from typing import ClassVar

from scheduler.framework import MAX_NODE_SCORE, NodeInfo, PodInfo


def _fraction(requested: int, allocatable: int) -> float:
    if allocatable <= 0:
        return 1.0
    f = requested / allocatable
    return 1.0 if f > 1.0 else f


class BalancedAllocation:
    name: ClassVar[str] = "NodeResourcesBalancedAllocation"

    def relevant(self, pod: PodInfo) -> bool:
        return True

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        cpu = _fraction(node.nz_cpu + pod.nz_cpu, node.alloc_cpu)
        mem = _fraction(node.nz_memory + pod.nz_memory, node.alloc_memory)
        std = abs(cpu - mem) / 2
        return int((1 - std) * MAX_NODE_SCORE)

    def normalize(self, pod: PodInfo, scores: list[int]) -> None:
        return None
