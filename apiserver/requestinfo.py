"""What a request is about (resource, namespace, name, subresource, verb), from its path.

Kubernetes' RequestInfo, reduced to the kinds in api/resources.py. The middlewares
(metrics, Table output, protobuf bodies) use it so they need no hook in the routes.
"""

from __future__ import annotations

from dataclasses import dataclass

from api import resources
from api.resources import ResourceInfo
from apiserver import customresources as served

_BY_GROUP_VERSION_PLURAL: dict[tuple[str, str, str], ResourceInfo] = {
    (r.group, r.version, r.plural): r for r in resources.ALL
}


@dataclass(frozen=True)
class RequestInfo:
    resource: ResourceInfo
    namespace: str | None
    name: str | None
    subresource: str | None
    verb: str


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true")


def parse(method: str, path: str, query: dict[str, str] | None = None) -> RequestInfo | None:
    """The RequestInfo of a resource request, or None for anything else (discovery, /metrics)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    info = _BY_GROUP_VERSION_PLURAL.get((group, version, rest[0])) \
        or served.lookup(group, version, rest[0])
    if info is None or len(rest) > 3:
        return None
    name = rest[1] if len(rest) >= 2 else None
    sub = rest[2] if len(rest) == 3 else None
    if info is resources.NAMESPACES and name is not None and namespace is None:
        namespace = name
    q = query or {}
    m = method.upper()
    if m == "GET":
        if _truthy(q.get("watch")):
            verb = "watch"
        else:
            verb = "get" if name is not None else "list"
    elif m == "POST":
        verb = "create"
    elif m == "PUT":
        verb = "update"
    elif m == "PATCH":
        verb = "patch"
    elif m == "DELETE":
        verb = "delete" if name is not None else "deletecollection"
    else:
        verb = m.lower()
    return RequestInfo(info, namespace, name, sub, verb)
