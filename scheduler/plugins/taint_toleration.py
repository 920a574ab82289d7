"""TaintToleration: a node's NoSchedule / NoExecute taints repel pods that don't tolerate them."""

from __future__ import annotations

from typing import ClassVar

from scheduler.framework import OK, NodeInfo, PodInfo, Status


def untolerated_reason(key: str, value: str) -> str:
    return f"node(s) had untolerated taint {{{key}: {value}}}"


class TaintToleration:
    name: ClassVar[str] = "TaintToleration"

    def relevant(self, pod: PodInfo) -> bool:
        return True

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        for taint in node.hard_taints:
            value = taint.value or ""
            if not pod.tolerates(taint.key, value, taint.effect):
                return Status.fail(untolerated_reason(taint.key, value))
        return OK
