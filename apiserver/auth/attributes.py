"""What a request asks to do, for authorization: Kubernetes' RequestInfoFactory
(staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go) and
authorizer.Attributes (staging/src/k8s.io/apiserver/pkg/authorization/authorizer).

Unlike ``apiserver.requestinfo`` (the kinds this server serves), any path parses: a
request for an unknown resource is still authorized (and then answered 404), as in
Kubernetes, so a user cannot probe which resources exist without permission.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from apiserver.auth.user import UserInfo

_API_PREFIXES = ("api", "apis")
_SPECIAL_VERBS = ("proxy", "watch")
_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_VERB_BY_METHOD = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update",
                   "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True)
class Attributes:
    user: UserInfo
    verb: str
    resource_request: bool
    path: str = ""  # non-resource requests: the URL path
    namespace: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    field_selector: str = ""  # a list/watch's fieldSelector (the Node authorizer reads it)


def _truthy(values: list[str] | None) -> bool:
    return bool(values) and values[0].lower() in ("1", "true")  # type: ignore[index]


def _exact_name(field_selector: str) -> str:
    """``metadata.name=x`` (or ``==``) in a field selector: the name it requires."""
    for term in field_selector.split(","):
        for op in ("==", "="):
            key, sep, value = term.partition(op)
            if sep and key.strip() == "metadata.name" and "!" not in key:
                return value.strip()
    return ""


def from_request(user: UserInfo, method: str, path: str, query_string: str = "") -> Attributes:
    """The Attributes of an HTTP request (``method`` upper case, ``path`` unquoted)."""
    parts = [p for p in path.split("/") if p]
    nonresource = Attributes(user, method.lower(), False, path=path)
    if len(parts) < 3 or parts[0] not in _API_PREFIXES:
        return nonresource
    prefix, parts = parts[0], parts[1:]
    group = ""
    if prefix == "apis":
        if len(parts) < 3:
            return nonresource
        group, parts = parts[0], parts[1:]
    version, parts = parts[0], parts[1:]
    if parts[0] in _SPECIAL_VERBS:
        if len(parts) < 2:
            return nonresource
        verb, parts = parts[0], parts[1:]
    else:
        verb = _VERB_BY_METHOD.get(method.upper(), "")
    namespace = ""
    if parts[0] == "namespaces":
        if len(parts) > 1:
            namespace = parts[1]
            if len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
                parts = parts[2:]
    resource = parts[0]
    name = parts[1] if len(parts) >= 2 else ""
    sub = parts[2] if len(parts) >= 3 and verb != "proxy" else ""
    field_selector = ""
    if not name and verb in ("get", "watch"):
        query = parse_qs(query_string) if query_string else {}
        if verb == "get":
            verb = "watch" if _truthy(query.get("watch")) else "list"
        fs = query.get("fieldSelector")
        if fs:
            field_selector = fs[0]
            name = _exact_name(fs[0])
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(user, verb, True, namespace=namespace, api_group=group,
                      api_version=version, resource=resource, subresource=sub, name=name,
                      field_selector=field_selector)
