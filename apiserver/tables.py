"""``as=Table`` output: the server-side printing kubectl relies on for its columns.

kubectl get asks for ``application/json;as=Table;v=v1;g=meta.k8s.io``; given a plain
object it prints only NAME and AGE. This module is the envelope: which form the
client asked for, the Table / PartialObjectMetadata[List] around a body or a watch
event. The columns and cells are the kind's, in its strategy (``table_row``, after
Kubernetes' pkg/printers/internalversion, with the priority-1 columns that kubectl
shows with ``-o wide``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from api.base import dig
from api.resources import ResourceInfo
from apiserver.strategies import strategy_for

JSONDict = dict[str, Any]

TABLE_API_VERSION = "meta.k8s.io/v1"

FORMS = ("Table", "PartialObjectMetadata", "PartialObjectMetadataList")


def wanted_form(accept: str | None) -> str | None:
    """The meta.k8s.io form (Table or PartialObjectMetadata[List]) the first acceptable
    media type asks for, or None for the object itself."""
    if not accept:
        return None
    for media in accept.split(","):
        params = {}
        parts = [p.strip() for p in media.split(";")]
        for p in parts[1:]:
            if "=" in p:
                k, v = p.split("=", 1)
                params[k.strip()] = v.strip()
        json_like = parts[0] in ("application/json", "*/*", "application/*")
        form = params.get("as")
        if form in FORMS and params.get("g", "meta.k8s.io") == "meta.k8s.io":
            if json_like:
                return form
            continue
        if json_like and form is None:
            return None
    return None


def wants_table(accept: str | None) -> bool:
    """True when the first acceptable media type asks for a meta.k8s.io Table."""
    return wanted_form(accept) == "Table"


def include_object_mode(query: dict[str, str]) -> str:
    """includeObject: None, Metadata (the default) or Object."""
    mode = query.get("includeObject", "Metadata")
    return mode if mode in ("None", "Metadata", "Object") else "Metadata"


def _partial_metadata(obj: JSONDict) -> JSONDict:
    return {"kind": "PartialObjectMetadata", "apiVersion": TABLE_API_VERSION,
            "metadata": obj.get("metadata") or {}}


def _strategy(info: ResourceInfo) -> Any:
    """The kind's strategy; for a custom resource, its view of the requested version (each
    version has printer columns of its own)."""
    s = strategy_for(info)
    view = getattr(s, "version_view", None)
    return view(info.version) if view is not None else s


def row(info: ResourceInfo, obj: JSONDict, include_object: str = "Metadata",
        now: datetime | None = None) -> JSONDict:
    cells, conditions = _strategy(info).table_row(obj, now)
    out: JSONDict = {"cells": cells}
    if conditions:
        out["conditions"] = conditions
    if include_object == "Object":
        out["object"] = obj
    elif include_object == "Metadata":
        out["object"] = _partial_metadata(obj)
    return out


def table(info: ResourceInfo, objects: list[JSONDict], list_meta: JSONDict | None = None,
          include_object: str = "Metadata", now: datetime | None = None) -> JSONDict:
    now = now or datetime.now(UTC)
    return {"kind": "Table", "apiVersion": TABLE_API_VERSION,
            "metadata": dict(list_meta or {}),
            "columnDefinitions": _strategy(info).columns,
            "rows": [row(info, o, include_object, now) for o in objects]}


def convert_body(info: ResourceInfo, body: JSONDict, include_object: str = "Metadata",
                 form: str = "Table") -> JSONDict:
    """A get or list response body in ``form``; anything else (a Status) unchanged."""
    kind = body.get("kind")
    is_list = kind == info.list_kind or (kind is None and isinstance(body.get("items"), list))
    if form != "Table":
        if is_list:
            return {"kind": "PartialObjectMetadataList", "apiVersion": TABLE_API_VERSION,
                    "metadata": dict(body.get("metadata") or {}),
                    "items": [_partial_metadata(o) for o in body.get("items") or []]}
        return _partial_metadata(body) if kind == info.kind else body
    if is_list:
        return table(info, list(body.get("items") or []), body.get("metadata"),
                     include_object)
    if kind == info.kind:
        rv = dig(body, "metadata", "resourceVersion")
        return table(info, [body], {"resourceVersion": rv} if rv else {}, include_object)
    return body


def convert_event(info: ResourceInfo, event: JSONDict, include_object: str = "Metadata",
                  form: str = "Table") -> JSONDict:
    """A watch event whose object becomes a one-row Table or its PartialObjectMetadata
    (ERROR and BOOKMARK untouched)."""
    obj = event.get("object")
    if event.get("type") in ("ADDED", "MODIFIED", "DELETED") and isinstance(obj, dict):
        return {"type": event["type"],
                "object": convert_body(info, obj, include_object, form)}
    return event
