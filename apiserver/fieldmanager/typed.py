"""Walks over objects with their types, as structured-merge-diff's typed package:
the field set of a value (ToFieldSet), the comparison of two values (Compare: added,
modified, removed), the merge of an applied configuration into a live object (Merge)
and the removal of items (RemoveItems). Values are plain JSON dicts and lists.
"""

from __future__ import annotations

from typing import Any

import orjson

from apiserver.fieldmanager.fieldpath import FieldSet, Path
from apiserver.fieldmanager.schema import ANY, ANY_T, KEY_DEFAULTS, LIST, MAP, Type

MISSING: Any = object()


class TypedError(ValueError):
    """A value its type cannot hold (an item without its keys, duplicate keys)."""


def _kind(t: Type, v: Any) -> str:
    """How a node is walked: "map", "list" (granular) or "leaf"."""
    k = t.kind
    if k == ANY:
        if isinstance(v, dict):
            return "leaf" if t.atomic else MAP
        if isinstance(v, list):
            return LIST if t.list_type != "atomic" else "leaf"
        return "leaf"
    if k == MAP:
        return MAP if isinstance(v, dict) and not t.atomic else "leaf"
    if k == LIST:
        return LIST if isinstance(v, list) and t.list_type != "atomic" else "leaf"
    return "leaf"


def item_element(t: Type, item: Any, index: int) -> str:
    """The path element of a list item: by its keys, its value, or its index."""
    if t.list_type == "map":
        if not isinstance(item, dict):
            raise TypedError("an item of an associative list must be an object")
        keys: dict[str, Any] = {}
        for k in t.keys:
            if k in item:
                keys[k] = item[k]
            elif k in KEY_DEFAULTS:
                keys[k] = KEY_DEFAULTS[k]
        if not keys:
            raise TypedError(f"associative list with keys has an element that omits key "
                             f"field {t.keys[0]!r}")
        return "k:" + orjson.dumps(keys, option=orjson.OPT_SORT_KEYS).decode()
    if t.list_type == "set":
        return "v:" + orjson.dumps(item, option=orjson.OPT_SORT_KEYS).decode()
    return f"i:{index}"


def _index(t: Type, items: list[Any], strict: bool) -> tuple[list[str], dict[str, Any]]:
    pes: list[str] = []
    by: dict[str, Any] = {}
    for i, item in enumerate(items):
        pe = item_element(t, item, i)
        if pe in by:
            if strict:
                raise TypedError(f"duplicate entries for key {pe[2:]}")
            continue
        pes.append(pe)
        by[pe] = item
    return pes, by


# ---- ToFieldSet ----------------------------------------------------------------------


def to_set(v: Any, t: Type, path: Path = (), out: FieldSet | None = None) -> FieldSet:
    """Every field, item and leaf of ``v`` (the applied configuration's field set)."""
    if out is None:
        out = set()
    k = _kind(t, v)
    if k == MAP:
        declared = t.declared
        for key, val in v.items():
            ct = t.field(key) if declared is None or key in declared else None
            p = (*path, "f:" + key)
            to_set(val, ct or ANY_T, p, out)
            if val is None or val == {} or declared is None or key not in declared:
                out.add(p)
    elif k == LIST:
        et = t.elem()
        pes, by = _index(t, v, strict=True)
        for pe in pes:
            p = (*path, pe)
            to_set(by[pe], et, p, out)
            out.add(p)
    elif path:
        out.add(path)
    return out


# ---- Compare -------------------------------------------------------------------------


def _empty(v: Any) -> bool:
    return v is MISSING or v is None or v == {} or v == []


def compare(lhs: Any, rhs: Any, t: Type, path: Path, added: FieldSet, modified: FieldSet,
            removed: FieldSet) -> None:
    """The fields ``rhs`` adds, changes and removes relative to ``lhs`` (MISSING: absent;
    a null is present and, as in structured-merge-diff, takes the other side's form)."""
    if lhs is MISSING:
        _every(rhs, t, path, added)
        return
    if rhs is MISSING:
        _every(lhs, t, path, removed)
        return
    if lhs == rhs:
        return
    probe = rhs if rhs is not MISSING and rhs is not None else lhs
    k = _kind(t, probe) if probe is not MISSING and probe is not None else "leaf"
    if k != "leaf":
        if lhs not in (MISSING, None) and rhs not in (MISSING, None) \
                and type(lhs) is not type(rhs):
            k = "leaf"
        elif _empty(lhs) and _empty(rhs):
            k = "leaf"
    if k == "leaf":
        if lhs is MISSING:
            added.add(path)
        elif rhs is MISSING:
            removed.add(path)
        else:
            modified.add(path)
        return
    if k == MAP:
        lm = lhs if isinstance(lhs, dict) else {}
        rm = rhs if isinstance(rhs, dict) else {}
        for key in {**lm, **rm}:
            compare(lm.get(key, MISSING), rm.get(key, MISSING), t.field(key) or ANY_T,
                    (*path, "f:" + key), added, modified, removed)
    else:
        et = t.elem()
        _, lby = _index(t, lhs if isinstance(lhs, list) else [], strict=False)
        _, rby = _index(t, rhs if isinstance(rhs, list) else [], strict=False)
        for pe in {**lby, **rby}:
            compare(lby.get(pe, MISSING), rby.get(pe, MISSING), et, (*path, pe), added,
                    modified, removed)
    if path:
        if lhs is MISSING:
            added.add(path)
        elif rhs is MISSING:
            removed.add(path)


def _every(v: Any, t: Type, path: Path, out: FieldSet) -> None:
    """Every node of ``v``, as compare records a subtree only one side has."""
    k = _kind(t, v) if v is not None else "leaf"
    if k == MAP and v:
        for key, val in v.items():
            _every(val, t.field(key) or ANY_T, (*path, "f:" + key), out)
    elif k == LIST and v:
        et = t.elem()
        _, by = _index(t, v, strict=False)
        for pe, item in by.items():
            _every(item, et, (*path, pe), out)
    if path:
        out.add(path)


def diff(lhs: Any, rhs: Any, t: Type) -> tuple[FieldSet, FieldSet, FieldSet]:
    added: FieldSet = set()
    modified: FieldSet = set()
    removed: FieldSet = set()
    compare(lhs, rhs, t, (), added, modified, removed)
    return added, modified, removed


# ---- Merge ---------------------------------------------------------------------------


def merge(lhs: Any, rhs: Any, t: Type) -> Any:
    """``rhs`` (the applied configuration) merged into ``lhs`` (the live object)."""
    if lhs is MISSING:
        return rhs
    if rhs is MISSING:
        return lhs
    k = _kind(t, rhs)
    if k == "leaf" or type(lhs) is not type(rhs):
        return rhs
    if k == MAP:
        out = dict(lhs)
        for key, val in rhs.items():
            out[key] = merge(lhs.get(key, MISSING), val, t.field(key) or ANY_T)
        return out
    return _merge_list(lhs, rhs, t)


def _merge_list(lhs: list[Any], rhs: list[Any], t: Type) -> list[Any]:
    """merge.go's visitListItems: items in rhs' order for those both hold, lhs-only items
    where lhs had them, rhs-only items where rhs has them."""
    et = t.elem()
    lpes, lby = _index(t, lhs, strict=False)
    rpes, rby = _index(t, rhs, strict=True)
    shared = [pe for pe in rpes if pe in lby]
    si = 0
    next_shared = shared[0] if shared else None
    out: list[Any] = []
    merged: set[str] = set()
    li = ri = 0
    while li < len(lpes) or ri < len(rpes):
        if li < len(lpes) and ri < len(rpes):
            pe = lpes[li]
            if pe == rpes[ri]:
                merged.add(pe)
                out.append(merge(lby[pe], rby[pe], et))
                li += 1
                ri += 1
                si += 1
                next_shared = shared[si] if si < len(shared) else None
                continue
            if pe in rby and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(lpes):
            pe = lpes[li]
            if pe not in rby:
                out.append(lby[pe])
                li += 1
                continue
            if pe in merged:
                li += 1
                continue
        if ri < len(rpes):
            pe = rpes[ri]
            merged.add(pe)
            out.append(merge(lby.get(pe, MISSING), rby[pe], et))
            ri += 1
            if next_shared is not None and next_shared == pe:
                si += 1
                next_shared = shared[si] if si < len(shared) else None
            continue
        li += 1  # pragma: no cover - an lhs item already merged
    return out


# ---- RemoveItems ---------------------------------------------------------------------


def _trie(paths: FieldSet) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for p in paths:
        node = root
        for pe in p[:-1]:
            node = node.setdefault(pe, [False, {}])[1]
        if p:
            node.setdefault(p[-1], [False, {}])[0] = True
    return root


def remove(v: Any, paths: FieldSet, t: Type) -> Any:
    """``v`` without the fields and items named in ``paths`` (whole subtrees)."""
    if not paths:
        return v
    return _remove(v, _trie(paths), t)


def _remove(v: Any, trie: dict[str, Any], t: Type) -> Any:
    k = _kind(t, v)
    if k == MAP:
        out = {}
        for key, val in v.items():
            node = trie.get("f:" + key)
            if node is None:
                out[key] = val
            elif not node[0]:
                out[key] = _remove(val, node[1], t.field(key) or ANY_T)
        return out
    if k == LIST:
        et = t.elem()
        items = []
        for i, item in enumerate(v):
            try:
                node = trie.get(item_element(t, item, i))
            except TypedError:
                node = None
            if node is None:
                items.append(item)
            elif not node[0]:
                items.append(_remove(item, node[1], et))
        return items
    return v
