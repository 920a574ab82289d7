"""NodePorts: a pod's hostPorts must be free on the node (per protocol, with 0.0.0.0 as any IP)."""

from __future__ import annotations

from typing import ClassVar

from scheduler.framework import OK, Block, NodeInfo, PodInfo, Status

ERR_REASON = "node(s) didn't have free ports for the requested pod ports"

_FAIL = Status.fail(ERR_REASON)
ANY_IP = "0.0.0.0"


def port_conflicts(used: dict[tuple[str, int], dict[str, int]], ip: str, proto: str,
                   port: int) -> bool:
    ips = used.get((proto, port))
    if not ips:
        return False
    return ip == ANY_IP or ANY_IP in ips or ip in ips


class NodePorts:
    name: ClassVar[str] = "NodePorts"

    def relevant(self, pod: PodInfo) -> bool:
        return bool(pod.host_ports)

    def block_filter(self, pod: PodInfo, block: Block) -> bool:
        return block.no_ports

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        used = node.ports
        if not used:
            return OK
        for ip, proto, port in pod.host_ports:
            if port_conflicts(used, ip, proto, port):
                return _FAIL
        return OK
