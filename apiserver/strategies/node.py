"""Nodes (pkg/registry/core/node/strategy.go): cluster-scoped, with a status
subresource the kubelet writes."""

from __future__ import annotations

from datetime import datetime

from api.printers import node_address, node_roles, node_status, or_unknown
from api.timeutil import since
from apiserver.strategies.base import AGE, NAME, JSONDict, Row, Strategy, column


class NodeStrategy(Strategy):
    status_subresource = True
    columns = [NAME,
               column("Status", description="The status of the node"),
               column("Roles", description="The roles of the node"),
               AGE,
               column("Version", description="Kubelet Version reported by the node."),
               column("Internal-IP", priority=1, description="List of internal IPs."),
               column("External-IP", priority=1, description="List of external IPs."),
               column("OS-Image", priority=1, description="OS image reported by the node."),
               column("Kernel-Version", priority=1, description="Kernel version."),
               column("Container-Runtime", priority=1, description="Container runtime "
                      "version.")]

    def canonicalize(self, obj: JSONDict) -> None:
        """The v1 NodeSpec conversion (pkg/apis/core/v1/conversion.go): podCIDRs is what is
        kept, and podCIDR reads as its first entry; a client that sets only podCIDR (an
        older one) gets podCIDRs = [podCIDR]."""
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        cidrs, cidr = spec.get("podCIDRs"), spec.get("podCIDR")
        if isinstance(cidrs, list) and cidrs:
            if isinstance(cidrs[0], str):
                spec["podCIDR"] = cidrs[0]
        elif isinstance(cidr, str) and cidr:
            spec["podCIDRs"] = [cidr]

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        meta = obj.get("metadata") or {}
        info = (obj.get("status") or {}).get("nodeInfo") or {}
        return [meta.get("name", ""), node_status(obj), node_roles(obj),
                since(meta.get("creationTimestamp"), now), info.get("kubeletVersion", ""),
                node_address(obj, "InternalIP"), node_address(obj, "ExternalIP"),
                or_unknown(info.get("osImage")), or_unknown(info.get("kernelVersion")),
                or_unknown(info.get("containerRuntimeVersion"))], []
