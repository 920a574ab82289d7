"""Defaulting and validation of incoming objects, as wire dicts.

Defaults come from ``api.defaults`` and checks from ``api.validation`` (shared with
clients). The pydantic model is checked first, so a field of the wrong type is a 422
naming its path rather than a crash in a validator that assumes the right types.

Pods stamped from one template share a spec, and the spec is most of the work of both
checks: a pod whose whole object passed both is remembered by its spec
(``api.validation.remember_valid_spec``), and the next pod with that spec has the
model check a stub spec in its place (the models have no cross-field validators)
while ``api.validation`` skips the spec, so only the rest of the object is checked.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from api import validation as api_validation
from api.defaults import apply_defaults
from api.resources import ResourceInfo
from apiserver.errors import invalid

JSONDict = dict[str, Any]
Cause = dict[str, Any]

_STUB_POD_SPEC: JSONDict = {"containers": []}
_BOUNDS = {"less_than_equal": "less than or equal to",
           "greater_than_equal": "greater than or equal to"}


def default(info: ResourceInfo, obj: JSONDict) -> None:
    try:
        apply_defaults(info.kind, obj)
    except (TypeError, AttributeError, ValueError, KeyError):
        # Defaulting assumes the right shapes; validation names what is wrong.
        pass


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
            if t in _BOUNDS:  # an int32 out of range (api.base.Int32), in Kubernetes' words
                bound = (err.get("ctx") or {}).get("le" if t == "less_than_equal" else "ge")
                msg = f"Invalid value: {err.get('input')}: must be {_BOUNDS[t]} {bound}"
            causes.append({"reason": reason, "message": msg, "field": _path(loc)})
        return causes
    return []


def _external_causes(info: ResourceInfo, obj: JSONDict, old: JSONDict | None,
                     subresource: str | None = None) -> list[Cause]:
    try:
        errs = api_validation.validate(info.kind, obj)
        if old is not None:
            errs += api_validation.validate_update(info.kind, old, obj, subresource)
    except Exception as e:  # a validator bug must not become a 500
        return [{"reason": "FieldValueInvalid", "message": f"Invalid value: {e}", "field": ""}]
    return [e.to_cause() for e in errs]


def _unique(causes: list[Cause]) -> list[Cause]:
    """Kubernetes dedupes causes by field + message."""
    seen: set[tuple[str, str]] = set()
    out = []
    for c in causes:
        k = (str(c.get("field")), str(c.get("message")))
        if k not in seen:
            seen.add(k)
            out.append(c)
    return out


def validate(info: ResourceInfo, obj: JSONDict, old: JSONDict | None = None,
             subresource: str | None = None) -> None:
    """Raise 422 Invalid naming every bad field; ``subresource``: an update through it
    (pods/ephemeralcontainers) is checked by its own update rules."""
    key = api_validation.memo_key(obj.get("spec")) if info.kind == "Pod" else None
    known = api_validation.spec_known_valid(key)
    # The model check first: api.validation may assume the right types.
    causes = _model_causes(info, {**obj, "spec": _STUB_POD_SPEC} if known else obj)
    if not causes:
        causes = _external_causes(info, obj, old, subresource)
    if causes:
        md = obj.get("metadata")
        name = md.get("name") if isinstance(md, dict) else None
        raise invalid(info, name if isinstance(name, str) else None, _unique(causes))
    if not known:
        api_validation.remember_valid_spec(key)
