"""Aggregated discovery (apidiscovery.k8s.io/v2 and v2beta1): every group, version and
resource in one document for ``/api`` and one for ``/apis``, as kube-apiserver serves them
when the client's Accept asks for ``application/json;g=apidiscovery.k8s.io;v=v2;
as=APIGroupDiscoveryList``, so kubectl makes two discovery requests instead of one per
group version. Built from the same tables as the legacy documents (apiserver/discovery.py),
custom resources included as their CRDs define them now; answered with an ETag (the
document's hash) and 304 to a matching If-None-Match, ``Vary: Accept``. A client that
does not ask for it gets the legacy documents. The tables come in as arguments
(``Tables``: apiserver.discovery's group_versions and api_resource_list), as that module
serves both forms.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

JSONDict = dict[str, Any]
GROUP = "apidiscovery.k8s.io"
VERSIONS = ("v2", "v2beta1")  # in kube-apiserver's order of preference


@dataclass(frozen=True)
class Tables:
    group_versions: Callable[[], dict[str, list[str]]]  # group -> versions, preferred first
    resource_list: Callable[[str, str], JSONDict | None]  # the legacy APIResourceList


def wanted_version(accept: str) -> str | None:
    """The apidiscovery version the Accept header asks for (first acceptable), else None."""
    for part in accept.split(","):
        params = dict(p.strip().partition("=")[::2] for p in part.split(";")[1:])
        if params.get("g") == GROUP and params.get("as") == "APIGroupDiscoveryList" \
                and params.get("v") in VERSIONS:
            return params["v"]
    return None


def _resources(t: Tables, group: str, version: str) -> list[JSONDict]:
    doc = t.resource_list(group, version) or {}
    out: dict[str, JSONDict] = {}
    subs: list[JSONDict] = []
    for e in doc.get("resources") or []:
        name = str(e.get("name", ""))
        if "/" in name:
            subs.append(e)
            continue
        r: JSONDict = {
            "resource": name,
            "responseKind": {"group": "", "version": "", "kind": e.get("kind", "")},
            "scope": "Namespaced" if e.get("namespaced") else "Cluster",
            "singularResource": e.get("singularName", ""),
            "verbs": list(e.get("verbs") or []),
        }
        for k in ("shortNames", "categories"):
            if e.get(k):
                r[k] = list(e[k])
        out[name] = r
    for e in subs:
        parent, _, sub = str(e["name"]).partition("/")
        if parent in out:
            out[parent].setdefault("subresources", []).append({
                "subresource": sub,
                "responseKind": {"group": e.get("group", ""), "version": e.get("version", ""),
                                 "kind": e.get("kind", "")},
                "verbs": list(e.get("verbs") or [])})
    return list(out.values())


def document(t: Tables, core: bool, version: str = "v2") -> JSONDict:
    """The APIGroupDiscoveryList of ``/api`` (``core``) or ``/apis``."""
    items = []
    for group, versions in t.group_versions().items():
        if (group == "") != core:
            continue
        items.append({
            "metadata": {"name": group, "creationTimestamp": None},
            "versions": [{"version": v, "resources": _resources(t, group, v),
                          "freshness": "Current"} for v in versions]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"{GROUP}/{version}",
            "metadata": {}, "items": items}


def response(t: Tables, request: Request, core: bool) -> Response | None:
    """The aggregated answer if the request asks for it, else None."""
    version = wanted_version(request.headers.get("accept", ""))
    if version is None:
        return None
    body = orjson.dumps(document(t, core, version))
    etag = '"' + hashlib.sha512(body).hexdigest()[:64].upper() + '"'
    headers = {"ETag": etag, "Vary": "Accept"}
    media = f"application/json;g={GROUP};v={version};as=APIGroupDiscoveryList"
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media, headers=headers)
