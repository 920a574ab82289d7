"""NodeResourcesBalancedAllocation: prefer nodes whose cpu and memory use stay balanced.

score = (1 - std(cpuFraction, memoryFraction)) * 100; with two resources the standard
deviation is |cpu - memory| / 2 (k8s balanced_allocation.go).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from scheduler.framework import MAX_NODE_SCORE, NodeInfo, PodInfo


class BalancedAllocation:
    name: ClassVar[str] = "NodeResourcesBalancedAllocation"
    memoizable: ClassVar[bool] = True  # node state and the pod's non-zero requests only

    def relevant(self, pod: PodInfo) -> bool:
        return True

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        return self.score_all(pod, (node,))[0]

    def score_all(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        pc, pm = pod.nz_cpu, pod.nz_memory
        out = []
        for n in nodes:
            ac, am = n.alloc_cpu, n.alloc_memory
            cpu = (n.nz_cpu + pc) / ac if ac > 0 else 1.0
            mem = (n.nz_memory + pm) / am if am > 0 else 1.0
            cpu = 1.0 if cpu > 1.0 else cpu
            mem = 1.0 if mem > 1.0 else mem
            out.append(int((1 - abs(cpu - mem) / 2) * MAX_NODE_SCORE))
        return out

    def normalize(self, pod: PodInfo, scores: list[int]) -> None:
        return None
