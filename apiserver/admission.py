"""Defaulting and validation of incoming objects, as wire dicts.

Defaults come from ``api.defaults`` (shared with clients). Validation uses
``api.validation`` when present; the pydantic model is checked too, so a field of
the wrong type is a 422 naming its path rather than a crash further down.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from api.defaults import apply_defaults
from api.names import is_dns1123_label, is_dns1123_subdomain, is_valid_label_value
from api.resources import ResourceInfo
from apiserver.errors import invalid

JSONDict = dict[str, Any]
Cause = dict[str, Any]

_external_validate: Callable[..., Any] | None = None
try:
    _external_validate = importlib.import_module("api.validation").validate
except (ImportError, AttributeError):
    _external_validate = None


def default(info: ResourceInfo, obj: JSONDict) -> None:
    apply_defaults(info.kind, obj)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for p in loc:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + p
    return out


def _model_causes(info: ResourceInfo, obj: JSONDict) -> list[Cause]:
    try:
        info.model.model_validate(obj)
    except ValidationError as e:
        causes = []
        for err in e.errors()[:20]:
            loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and "[" in x))
            t = err.get("type", "")
            reason = "FieldValueRequired" if t == "missing" else "FieldValueInvalid"
            msg = "Required value" if t == "missing" else f"Invalid value: {err['msg']}"
            causes.append({"reason": reason, "message": msg, "field": _path(loc)})
        return causes
    return []


_NAME_CHECK = {
    "Namespace": is_dns1123_label,
}


def _meta_causes(info: ResourceInfo, obj: JSONDict) -> list[Cause]:
    causes: list[Cause] = []
    md = obj.get("metadata")
    if not isinstance(md, dict):
        return [{"reason": "FieldValueRequired", "message": "Required value",
                 "field": "metadata"}]
    name = md.get("name")
    if not name:
        causes.append({"reason": "FieldValueRequired",
                       "message": "Required value: name or generateName is required",
                       "field": "metadata.name"})
    elif not isinstance(name, str):
        causes.append({"reason": "FieldValueInvalid", "message": "Invalid value: not a string",
                       "field": "metadata.name"})
    else:
        check = _NAME_CHECK.get(info.kind, is_dns1123_subdomain)
        for m in check(name):
            causes.append({"reason": "FieldValueInvalid",
                           "message": f'Invalid value: "{name}": {m}', "field": "metadata.name"})
    labels = md.get("labels")
    if isinstance(labels, dict):
        from api.labels import validate_label_key

        for k, v in labels.items():
            for m in validate_label_key(str(k)):
                causes.append({"reason": "FieldValueInvalid",
                               "message": f'Invalid value: "{k}": {m}',
                               "field": "metadata.labels"})
            if not isinstance(v, str):
                causes.append({"reason": "FieldValueInvalid",
                               "message": f"Invalid value: {v!r}: must be a string",
                               "field": f"metadata.labels.{k}"})
                continue
            for m in is_valid_label_value(v):
                causes.append({"reason": "FieldValueInvalid",
                               "message": f'Invalid value: "{v}": {m}',
                               "field": f"metadata.labels.{k}"})
    return causes


def _fallback_causes(info: ResourceInfo, obj: JSONDict) -> list[Cause]:
    """The few spec checks that matter most, while api.validation is absent."""
    causes: list[Cause] = []
    spec = obj.get("spec")
    if info.kind == "Pod" and isinstance(spec, dict):
        containers = spec.get("containers")
        if not containers:
            causes.append({"reason": "FieldValueRequired", "message": "Required value",
                           "field": "spec.containers"})
        elif isinstance(containers, list):
            for i, c in enumerate(containers):
                if not isinstance(c, dict):
                    continue
                if not c.get("name"):
                    causes.append({"reason": "FieldValueRequired", "message": "Required value",
                                   "field": f"spec.containers[{i}].name"})
                if not c.get("image"):
                    causes.append({"reason": "FieldValueRequired", "message": "Required value",
                                   "field": f"spec.containers[{i}].image"})
    if info.kind in ("Deployment", "ReplicaSet") and isinstance(spec, dict):
        r = spec.get("replicas")
        if isinstance(r, int) and r < 0:
            causes.append({"reason": "FieldValueInvalid",
                           "message": f"Invalid value: {r}: must be greater than or equal to 0",
                           "field": "spec.replicas"})
    return causes


def _external_causes(info: ResourceInfo, obj: JSONDict, old: JSONDict | None) -> list[Cause]:
    assert _external_validate is not None
    try:
        result = _external_validate(info.kind, obj)
    except Exception as e:  # a validator bug must not become a 500
        return [{"reason": "FieldValueInvalid", "message": f"Invalid value: {e}", "field": ""}]
    causes: list[Cause] = []
    for c in result or []:
        if isinstance(c, dict):
            causes.append(c)
        else:  # a FieldError-like object
            d = getattr(c, "to_cause", None)
            if callable(d):
                causes.append(d())
            else:
                causes.append({"reason": str(getattr(c, "reason", "FieldValueInvalid")),
                               "message": str(getattr(c, "message", c)),
                               "field": str(getattr(c, "field", ""))})
    return causes


def validate(info: ResourceInfo, obj: JSONDict, old: JSONDict | None = None) -> None:
    """Raise 422 Invalid naming every bad field."""
    causes = _meta_causes(info, obj)
    model = _model_causes(info, obj)
    causes += model
    if not model:
        if _external_validate is not None:
            causes += _external_causes(info, obj, old)
        else:
            causes += _fallback_causes(info, obj)
    if causes:
        # Kubernetes dedupes by field + message.
        seen: set[tuple[str, str]] = set()
        uniq = []
        for c in causes:
            k = (str(c.get("field")), str(c.get("message")))
            if k not in seen:
                seen.add(k)
                uniq.append(c)
        md = obj.get("metadata")
        name = md.get("name") if isinstance(md, dict) else None
        raise invalid(info, name if isinstance(name, str) else None, uniq)
