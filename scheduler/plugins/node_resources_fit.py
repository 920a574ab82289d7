"""NodeResourcesFit: cpu, memory and pod count requests against what is left on the node.

"Left" is allocatable minus the requests of every pod counted on the node, assumed pods
included, which is what keeps a burst of decisions from overcommitting a node.
"""

from __future__ import annotations

from typing import ClassVar

from scheduler.framework import OK, Block, NodeInfo, PodInfo, Status

ERR_TOO_MANY_PODS = "Too many pods"
ERR_CPU = "Insufficient cpu"
ERR_MEMORY = "Insufficient memory"

_STATUS_CACHE: dict[tuple[bool, bool, bool], Status] = {}


def _status(pods: bool, cpu: bool, memory: bool) -> Status:
    key = (pods, cpu, memory)
    st = _STATUS_CACHE.get(key)
    if st is None:
        reasons = [r for r, bad in ((ERR_TOO_MANY_PODS, pods), (ERR_CPU, cpu),
                                    (ERR_MEMORY, memory)) if bad]
        st = _STATUS_CACHE[key] = Status(tuple(reasons))
    return st


class NodeResourcesFit:
    name: ClassVar[str] = "NodeResourcesFit"

    def relevant(self, pod: PodInfo) -> bool:
        return True

    def block_filter(self, pod: PodInfo, block: Block) -> bool:
        return block.min_free_pods >= 1 and (pod.cpu <= 0 or pod.cpu <= block.min_free_cpu) \
            and (pod.memory <= 0 or pod.memory <= block.min_free_memory)

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        too_many = len(node.pods) + 1 > node.alloc_pods
        # As in k8s, a zero request is never "insufficient", even on an overcommitted node.
        cpu = pod.cpu > 0 and pod.cpu > node.alloc_cpu - node.req_cpu
        mem = pod.memory > 0 and pod.memory > node.alloc_memory - node.req_memory
        if too_many or cpu or mem:
            return _status(too_many, cpu, mem)
        return OK
