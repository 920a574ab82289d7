"""PATCH bodies: JSON merge patch, JSON patch, strategic merge patch and apply patch.

Pure functions over plain dicts, so the routes stay thin and this is testable alone.
A bad patch raises ``PatchError`` carrying the HTTP code and Kubernetes reason the
route answers with (400 BadRequest for a body that is not a patch, 422 Invalid for
a patch that cannot be applied to this object), as the real API server does.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import orjson

from apiserver.decoding import DecodeError, check_json_depth, load_yaml

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"

SUPPORTED = (MERGE_PATCH, JSON_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)

# Field name -> merge key, from the patchMergeKey tags of the Kubernetes types we serve.
# Keyed by the field's name alone: in the kinds minik8s serves no two fields of one
# name need different keys (``ports`` only appears on containers here).
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "conditions": "type",
    "ownerReferences": "uid",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "podIPs": "ip",
    "hostIPs": "ip",
    "addresses": "type",
    "resourceClaims": "name",
    "topologySpreadConstraints": "topologyKey",
    "resizePolicy": "resourceName",
}

# Lists of scalars whose patch strategy is "merge": the patch's items are added.
MERGED_PRIMITIVE_LISTS = frozenset({"finalizers"})

_DIRECTIVE = "$patch"
_SET_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_RETAIN_KEYS = "$retainKeys"


class PatchError(Exception):
    """A patch that cannot be decoded (400 BadRequest) or applied (422 Invalid)."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    @property
    def reason(self) -> str:
        return {400: "BadRequest", 415: "UnsupportedMediaType"}.get(self.code, "Invalid")


def media_type(content_type: str) -> str:
    """``application/merge-patch+json; charset=utf-8`` -> ``application/merge-patch+json``."""
    return content_type.split(";", 1)[0].strip().lower()


def is_supported(content_type: str) -> bool:
    return media_type(content_type) in SUPPORTED


def apply_patch(content_type: str, original: dict[str, Any], patch: bytes) -> dict[str, Any]:
    """Return ``original`` with ``patch`` applied; ``original`` is left unchanged."""
    kind = media_type(content_type)
    if kind == JSON_PATCH:
        return _json_patch(original, patch)
    if kind == MERGE_PATCH:
        merged: dict[str, Any] = merge_patch(original, _decode_object(patch))
        return merged
    if kind == STRATEGIC_MERGE_PATCH:
        return strategic_merge_patch(original, _decode_object(patch))
    if kind == APPLY_PATCH:
        # Server-side apply without field ownership: the applied configuration is
        # merged in the strategic way, which is what a single manager observes.
        return strategic_merge_patch(original, _decode_yaml_object(patch))
    raise PatchError(
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(SUPPORTED)}", code=415)


def is_apply(content_type: str) -> bool:
    return media_type(content_type) == APPLY_PATCH


def applied_object(patch: bytes) -> dict[str, Any]:
    """The object a server-side apply creates when none exists yet."""
    obj: dict[str, Any] = _strip_directives(_decode_yaml_object(patch))
    return obj


# ---- decoding ------------------------------------------------------------------


def _decode_object(patch: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(patch)
        check_json_depth(patch, doc)
    except (orjson.JSONDecodeError, DecodeError) as exc:
        raise PatchError(f"error decoding patch: {exc}") from None
    if not isinstance(doc, dict):
        raise PatchError("error decoding patch: the patch must be a JSON object")
    return doc


def _decode_yaml_object(patch: bytes) -> dict[str, Any]:
    try:
        doc = load_yaml(patch)
    except DecodeError as exc:
        raise PatchError(f"error decoding YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise PatchError("error decoding YAML: the applied configuration must be an object")
    return doc


# ---- RFC 6902 ------------------------------------------------------------------


def _json_patch(original: dict[str, Any], patch: bytes) -> dict[str, Any]:
    try:
        ops = orjson.loads(patch)
        check_json_depth(patch, ops)
    except (orjson.JSONDecodeError, DecodeError) as exc:
        raise PatchError(f"error decoding patch: {exc}") from None
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise PatchError("error decoding patch: a JSON patch must be a list of operations")
    try:
        compiled = jsonpatch.JsonPatch(ops)
        result = compiled.apply(_copy(original))
    except jsonpatch.InvalidJsonPatch as exc:
        raise PatchError(f"invalid JSON patch: {exc}") from None
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise PatchError(f"the JSON patch could not be applied: {exc}", code=422) from None
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise PatchError(f"the JSON patch could not be applied: {exc}", code=422) from None
    if not isinstance(result, dict):
        raise PatchError("the JSON patch replaced the object with a non-object", code=422)
    return result


# ---- RFC 7386 ------------------------------------------------------------------


def merge_patch(original: Any, patch: Any) -> Any:
    """JSON merge patch: objects merge recursively, null deletes, anything else replaces.
    ``original`` is left as it was (copied once, then merged into in place)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = _copy(original) if isinstance(original, dict) else {}
    _merge_into(result, patch)
    return result


def _copy(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a JSON object: an orjson round trip, several times faster than
    copy.deepcopy (which stays for what JSON cannot hold)."""
    try:
        out: dict[str, Any] = orjson.loads(orjson.dumps(obj))
    except TypeError:
        return copy.deepcopy(obj)
    return out


def _merge_into(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            cur = target.get(key)
            if not isinstance(cur, dict):
                cur = target[key] = {}
            _merge_into(cur, value)
        else:
            target[key] = copy.deepcopy(value)


# ---- strategic merge patch -------------------------------------------------------


def strategic_merge_patch(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Kubernetes' strategic merge patch for the kinds minik8s serves.

    Lists named in MERGE_KEYS merge item by item on their key (``$patch: delete``
    in an item removes it, ``$patch: replace`` replaces the whole list); other lists
    are replaced; maps merge as in a merge patch unless they carry ``$patch: replace``
    or ``$patch: delete``. ``$setElementOrder`` and ``$deleteFromPrimitiveList``,
    which kubectl apply sends, are honoured; ``$retainKeys`` is accepted.
    """
    result = _merge_map(_copy(original), patch)
    if result is None:
        return {}
    return result


def _merge_map(original: dict[str, Any] | None, patch: dict[str, Any]) -> dict[str, Any] | None:
    directive = patch.get(_DIRECTIVE)
    if directive is not None:
        if directive == "delete":
            return None
        if directive == "replace":
            replaced: dict[str, Any] = _strip_directives(
                {k: v for k, v in patch.items() if k != _DIRECTIVE})
            return replaced
        if directive != "merge":
            raise PatchError(f"unknown patch type: {directive!r} in map")
    result: dict[str, Any] = dict(original) if isinstance(original, dict) else {}
    retain = patch.get(_RETAIN_KEYS)
    if retain is not None:
        if not isinstance(retain, list) or not all(isinstance(k, str) for k in retain):
            # mergepatch.ErrBadPatchFormatForRetainKeys: a 400, as Kubernetes answers.
            raise PatchError("invalid patch format of retainKeys")
        keep = set(retain) | {k for k in patch if not k.startswith("$")}
        result = {k: v for k, v in result.items() if k in keep}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in (_DIRECTIVE, _RETAIN_KEYS):
            continue
        if key.startswith(_SET_ORDER):
            _check_order(key, value)
            orders[key[len(_SET_ORDER):]] = value
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            field = key[len(_DELETE_PRIMITIVE):]
            if not isinstance(value, list):
                raise PatchError(f"invalid patch: {key} must be a list")
            current = result.get(field)
            if isinstance(current, list):
                result[field] = [x for x in current if x not in value]
            continue
        if value is None:
            result.pop(key, None)
            continue
        result[key] = _merge_value(key, result.get(key), value)
        if result[key] is None:
            result.pop(key)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _apply_order(field, result[field], order)
    return result


def _merge_value(key: str, original: Any, patch: Any) -> Any:
    if isinstance(patch, dict):
        return _merge_map(original if isinstance(original, dict) else None, patch)
    if isinstance(patch, list):
        return _merge_list(key, original if isinstance(original, list) else [], patch)
    return patch


def _merge_list(key: str, original: list[Any], patch: list[Any]) -> list[Any]:
    merge_key = MERGE_KEYS.get(key)
    if merge_key is None:
        if key in MERGED_PRIMITIVE_LISTS:
            if any(isinstance(x, dict) and x.get(_DIRECTIVE) == "replace" for x in patch):
                return [x for x in patch if not isinstance(x, dict)]
            return original + [x for x in patch if x not in original]
        if any(isinstance(x, dict) and _DIRECTIVE in x and len(x) == 1 for x in patch):
            # {"$patch": "replace"} marker in an unkeyed list: the rest replaces it.
            return [_strip_directives(x) for x in patch
                    if not (isinstance(x, dict) and _DIRECTIVE in x and len(x) == 1)]
        return [_strip_directives(x) for x in patch]
    if any(not isinstance(x, dict) for x in patch):
        raise PatchError(f"invalid patch: the items of {key} must be objects keyed by {merge_key}")
    if any(x.get(_DIRECTIVE) == "replace" for x in patch):
        return [_strip_directives(x) for x in patch if x.get(_DIRECTIVE) != "replace"]
    result = list(original)
    for item in patch:
        directive = item.get(_DIRECTIVE)
        if merge_key not in item:
            if directive is None:
                raise PatchError(f"invalid patch: an item of {key} has no {merge_key}", code=422)
            continue
        idx = next((i for i, cur in enumerate(result)
                    if isinstance(cur, dict) and cur.get(merge_key) == item[merge_key]), None)
        if directive == "delete":
            if idx is not None:
                del result[idx]
            continue
        if idx is None:
            result.append(_strip_directives(item))
        else:
            merged = _merge_map(result[idx], item)
            if merged is not None:
                result[idx] = merged
    return result


def _check_order(key: str, order: Any) -> None:
    """A ``$setElementOrder/<field>`` list names items by merge key (maps holding only
    a scalar key) or, for lists of scalars, by value; anything else is malformed
    (mergepatch.ErrBadPatchFormatForSetElementOrderList, a 400 in Kubernetes)."""
    field = key[len(_SET_ORDER):]
    merge_key = MERGE_KEYS.get(field)
    if not isinstance(order, list):
        raise PatchError(f"invalid patch format of setElementOrder list: {key} must be a list")
    for o in order:
        if merge_key is not None:
            ok = isinstance(o, dict) and _is_scalar(o.get(merge_key))
        else:
            ok = _is_scalar(o)
        if not ok:
            want = f"maps with a scalar {merge_key}" if merge_key else "scalars"
            raise PatchError(f"invalid patch format of setElementOrder list: the items of "
                             f"{key} must be {want}")


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def _apply_order(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    """Put items in the order kubectl asked for; items it does not name keep their place after."""
    merge_key = MERGE_KEYS.get(field)

    def ident(x: Any) -> Any:
        if merge_key is not None and isinstance(x, dict):
            x = x.get(merge_key)
        # Stored items are not ours to police: a non-scalar identity just matches nothing.
        return orjson.dumps(x) if isinstance(x, dict | list) else x

    wanted = [ident(o) for o in order]
    rank = {w: i for i, w in enumerate(wanted) if not isinstance(w, bytes)}
    named = [x for x in items if ident(x) in rank]
    others = [x for x in items if ident(x) not in rank]
    named.sort(key=lambda x: rank[ident(x)])
    return named + others


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items()
                if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value
