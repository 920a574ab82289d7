"""NodeResourcesLeastAllocated: prefer nodes with the most cpu and memory left after the pod.

Uses the "non-zero" requests (pods without requests count as 100m / 200Mi), as
kube-scheduler does for scoring, so that request-less pods still spread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from scheduler.framework import MAX_NODE_SCORE, NodeInfo, PodInfo


class LeastAllocated:
    name: ClassVar[str] = "NodeResourcesLeastAllocated"
    memoizable: ClassVar[bool] = True  # node state and the pod's non-zero requests only

    def relevant(self, pod: PodInfo) -> bool:
        return True

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        return self.score_all(pod, (node,))[0]

    def score_all(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        # One loop with the arithmetic inline: this runs for hundreds of nodes per pod.
        pc, pm = pod.nz_cpu, pod.nz_memory
        out = []
        for n in nodes:
            ac, am = n.alloc_cpu, n.alloc_memory
            rc, rm = n.nz_cpu + pc, n.nz_memory + pm
            c = (ac - rc) * MAX_NODE_SCORE // ac if 0 < ac and rc <= ac else 0
            m = (am - rm) * MAX_NODE_SCORE // am if 0 < am and rm <= am else 0
            # cpu and memory weigh 1 each, as in the default scoring strategy
            out.append((c + m) // 2)
        return out

    def normalize(self, pod: PodInfo, scores: list[int]) -> None:
        return None
