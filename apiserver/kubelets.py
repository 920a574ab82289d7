"""How the API server reaches a node's kubelet: the address and port the node reports.

Used by the pods/log and pods/exec proxies: the first of the node's InternalIP, ExternalIP
and Hostname addresses, with the port in status.daemonEndpoints.kubeletEndpoint.
"""

from __future__ import annotations

from typing import Any


def kubelet_url(node: dict[str, Any]) -> str | None:
    status = node.get("status") or {}
    addrs = status.get("addresses") or []
    host = None
    for t in ("InternalIP", "ExternalIP", "Hostname"):
        for a in addrs:
            if isinstance(a, dict) and a.get("type") == t and a.get("address"):
                host = a["address"]
                break
        if host:
            break
    port = (((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port"))
    if not host or not port:
        return None
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{int(port)}"
