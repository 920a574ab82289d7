"""Kinds the server serves beyond the built-in ones (custom resources), from its discovery
documents, as kubectl's RESTMapper finds them: /apis, then each group version that no
built-in kind lives in. Read only when a name or manifest needs a kind that
api.resources does not know (or ``get all``); each kind becomes a ResourceInfo (with a model class
of its own, so the client's calls by model reach its paths) in api.resources'
discovered list."""

from __future__ import annotations

from typing import Any, Protocol, cast

from pydantic import create_model

from api import resources
from api.models.apiextensions import CustomResource
from api.models.core import TypedObject
from api.resources import ResourceInfo
from client.errors import ApiError
from client.rest import Client


class State(Protocol):
    """What discovery needs of the command's state (cli.context.State)."""

    @property
    def client(self) -> Client: ...

_SKIP = {"metrics.k8s.io"}


def _infos(group: str, version: str, doc: dict[str, Any]) -> list[ResourceInfo]:
    subs: dict[str, list[str]] = {}
    mains = []
    for r in doc.get("resources") or []:
        name = str(r.get("name") or "")
        if "/" in name:
            parent, sub = name.split("/", 1)
            subs.setdefault(parent, []).append(sub)
        elif name:
            mains.append(r)
    out = []
    for r in mains:
        kind = str(r.get("kind") or "")
        model = cast(type[TypedObject], create_model(kind or "Unknown", __base__=CustomResource))
        out.append(ResourceInfo(
            kind=kind, plural=str(r["name"]), singular=str(r.get("singularName") or
                                                            kind.lower()),
            group=group, version=version, namespaced=bool(r.get("namespaced")), model=model,
            short_names=tuple(r.get("shortNames") or ()),
            categories=tuple(r.get("categories") or ()),
            subresources=tuple(subs.get(str(r["name"]), ())),
            verbs=tuple(r.get("verbs") or ()), list_kind=kind + "List"))
    return out


def discover(st: State) -> None:
    """Learn the server's custom kinds (preferred version first) into api.resources."""
    try:
        groups = st.client.request("GET", "/apis")
    except ApiError:
        return
    builtin = {(r.group, r.version) for r in resources.ALL}
    if not isinstance(groups, dict):
        return
    for g in groups.get("groups") or []:
        name = str(g.get("name") or "")
        if name in _SKIP:
            continue
        preferred = (g.get("preferredVersion") or {}).get("version")
        versions = [str(v.get("version")) for v in g.get("versions") or []]
        versions.sort(key=lambda v: v != preferred)
        for v in versions:
            if (name, v) in builtin:
                continue
            try:
                doc = st.client.request("GET", f"/apis/{name}/{v}")
            except ApiError:
                continue
            if isinstance(doc, dict):
                for info in _infos(name, v, doc):
                    resources.add_discovered(info)


def for_version(api_version: str, kind: str) -> ResourceInfo | None:
    """The discovered kind of a manifest's apiVersion and kind."""
    for r in resources.discovered():
        if r.api_version == api_version and r.kind == kind:
            return r
    return None
