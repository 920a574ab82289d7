"""NodeUnschedulable: cordoned (spec.unschedulable) and not-Ready nodes take no new pods.

Kubernetes expresses both as taints (node.kubernetes.io/unschedulable and
node.kubernetes.io/not-ready, NoSchedule); a pod that tolerates the taint may still go.
"""

from __future__ import annotations

from typing import ClassVar

from api.wellknown import TAINT_NODE_NOT_READY, TAINT_NODE_UNSCHEDULABLE
from scheduler.framework import (
    OK,
    Block,
    NodeInfo,
    PodInfo,
    Status,
)

ERR_UNSCHEDULABLE = "node(s) were unschedulable"
ERR_NOT_READY = "node(s) were not ready"

_UNSCHEDULABLE = Status.fail(ERR_UNSCHEDULABLE)
_NOT_READY = Status.fail(ERR_NOT_READY)


class NodeUnschedulable:
    name: ClassVar[str] = "NodeUnschedulable"

    def relevant(self, pod: PodInfo) -> bool:
        return True

    def block_filter(self, pod: PodInfo, block: Block) -> bool:
        return block.all_ready

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        if node.unschedulable and not pod.tolerates(TAINT_NODE_UNSCHEDULABLE, "", "NoSchedule"):
            return _UNSCHEDULABLE
        if not node.ready and not pod.tolerates(TAINT_NODE_NOT_READY, "", "NoSchedule"):
            return _NOT_READY
        return OK
