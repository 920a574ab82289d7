"""fieldValidation (Strict, Warn, Ignore): unknown and duplicate fields in a request body.

Kubernetes' strict decoding reports a field the kind does not declare as
``unknown field "spec.foo"`` and a key repeated in one JSON object as
``duplicate field "replicas"``; Strict answers 400 with them, Warn adds a Warning
header per field, Ignore drops them silently (unknown fields are not stored either
way for custom resources, whose pruning reports them here too).
"""

from __future__ import annotations

import json
from typing import Any

from apiserver.fieldmanager import typed
from apiserver.fieldmanager.fieldpath import path_string
from apiserver.fieldmanager.schema import ANY, LIST, MAP, Type

STRICT, WARN, IGNORE = "Strict", "Warn", "Ignore"
_DIRECTIVES = {"strict": STRICT, "warn": WARN, "ignore": IGNORE}


class BadDirective(ValueError):
    pass


def directive(value: str | None, default: str = WARN) -> str:
    """The fieldValidation query parameter (case-insensitive), or ``default``."""
    if value is None or value == "":
        return default
    got = _DIRECTIVES.get(value.lower())
    if got is None:
        raise BadDirective(f'fieldValidation: Unsupported value: "{value}": supported values: '
                           f'"Ignore", "Strict", "Warn"')
    return got


def unknown_fields(obj: Any, t: Type, *, keyed: bool = False) -> list[str]:
    """Fields ``obj`` holds that its type does not declare: ``spec.foo``,
    ``spec.containers[0].foo`` (``keyed``: structured-merge-diff's
    ``.spec.containers[name="c"].foo``, as apply reports them)."""
    found: list[tuple[Any, ...]] = []
    _walk(obj, t, (), found, 0)
    return [_format(p, keyed) for p in found]


def _format(path: tuple[Any, ...], keyed: bool) -> str:
    """A path of names and (list type, item, index) triples, spelled out."""
    out = ""
    for seg in path:
        if isinstance(seg, str):
            out = f"{out}.{seg}" if (keyed or out) else seg
        elif keyed:
            lt, item, i = seg
            try:
                pe = typed.item_element(lt, item, i)
            except typed.TypedError:
                pe = f"i:{i}"
            out += path_string((pe,))
        else:
            out += f"[{seg[2]}]"
    return out


def _walk(v: Any, t: Type, path: tuple[Any, ...], out: list[tuple[Any, ...]],
          depth: int) -> None:
    if depth > 100 or t.kind == ANY:
        return
    if t.kind == MAP and isinstance(v, dict):
        declared = t.declared
        for key, val in v.items():
            if declared is not None and key not in declared:
                out.append((*path, key))
                continue
            ct = t.field(key)
            if ct is not None and ct.kind in (MAP, LIST):
                _walk(val, ct, (*path, key), out, depth + 1)
    elif t.kind == LIST and isinstance(v, list):
        et = t.elem()
        if et.kind not in (MAP, LIST):
            return
        for i, item in enumerate(v):
            _walk(item, et, (*path, (t, item, i)), out, depth + 1)


def without_directives(v: Any) -> Any:
    """A strategic merge patch without its ``$patch``/``$setElementOrder/...`` keys."""
    if isinstance(v, dict):
        return {k: without_directives(x) for k, x in v.items() if not k.startswith("$")}
    if isinstance(v, list):
        return [without_directives(x) for x in v]
    return v


def duplicate_fields(body: bytes) -> list[str]:
    """Keys repeated within one JSON object of ``body`` (paths as strict decoding's)."""
    dups: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                dups.append(k)
            seen.add(k)
        return dict(pairs)

    try:
        json.loads(body, object_pairs_hook=hook)
    except (ValueError, RecursionError):
        return []
    return dups


def messages(unknown: list[str], duplicate: list[str]) -> list[str]:
    return [f'unknown field "{p}"' for p in unknown] + \
        [f'duplicate field "{p}"' for p in duplicate]
