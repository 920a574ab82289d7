"""Field paths and sets of them, as sigs.k8s.io/structured-merge-diff's fieldpath.

A path is a tuple of path elements, each kept in its fieldsV1 spelling: ``f:<name>``
(a field or map key), ``k:{"name":"c"}`` (a list item by its keys, sorted, compact
JSON), ``v:"x"`` (an item of a set by its value) or ``i:3`` (by index). A field set is
a plain ``set`` of paths, each path a member; fieldsV1 is that set as a tree, where
``{}`` is a member leaf and ``".": {}`` marks a member that also has children.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

Path = tuple[str, ...]
FieldSet = set[Path]

_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


class FieldsError(ValueError):
    """A fieldsV1 document that is not a field set."""


def field(name: str) -> str:
    return "f:" + name


def key_element(keys: dict[str, Any]) -> str:
    return "k:" + orjson.dumps(keys, option=orjson.OPT_SORT_KEYS).decode()


def value_element(value: Any) -> str:
    return "v:" + orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def index_element(i: int) -> str:
    return f"i:{i}"


def _sort_key(pe: str) -> tuple[int, Any]:
    kind = _RANK.get(pe[:1], 4)
    if kind == 3:
        try:
            return kind, int(pe[2:])
        except ValueError:
            return kind, 0
    return kind, pe[2:]


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """The fieldsV1 JSON of a field set, children in structured-merge-diff's order."""
    root: dict[str, Any] = {}
    members: set[int] = set()
    for p in paths:
        node = root
        for pe in p:
            node = node.setdefault(pe, {})
        members.add(id(node))

    def emit(node: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if node and id(node) in members:
            out["."] = {}
        for pe in sorted(node, key=_sort_key):
            out[pe] = emit(node[pe])
        return out

    return emit(root)


def from_fields_v1(doc: Any) -> FieldSet:
    """The field set a fieldsV1 document stands for; FieldsError if it is malformed."""
    out: FieldSet = set()
    if not isinstance(doc, dict):
        raise FieldsError("fieldsV1 must be an object")

    def walk(node: dict[str, Any], prefix: Path, depth: int) -> None:
        if depth > 128:
            raise FieldsError("fieldsV1 is nested too deep")
        for pe, child in node.items():
            if pe == ".":
                if prefix:
                    out.add(prefix)
                continue
            if not isinstance(child, dict) or len(pe) < 2 or pe[1] != ":" \
                    or pe[0] not in _RANK:
                raise FieldsError(f"parsing JSON: invalid path element {pe!r}")
            p = (*prefix, pe)
            if child:
                walk(child, p, depth + 1)
            else:
                out.add(p)

    walk(doc, (), 0)
    return out


def path_string(p: Path) -> str:
    """fieldpath.Path.String: ``.spec.containers[name="c"].image``."""
    parts: list[str] = []
    for pe in p:
        kind, body = pe[:1], pe[2:]
        if kind == "f":
            parts.append("." + body)
        elif kind == "k":
            try:
                keys = orjson.loads(body)
                parts.append("[" + ",".join(f"{k}={orjson.dumps(v).decode()}"
                                            for k, v in keys.items()) + "]")
            except (orjson.JSONDecodeError, AttributeError):
                parts.append("[" + body + "]")
        elif kind == "v":
            parts.append("[=" + body + "]")
        else:
            parts.append("[" + body + "]")
    return "".join(parts)


def with_prefixes(paths: Iterable[Path]) -> FieldSet:
    """EnsureNamedFieldsAreMembers: every path plus the field paths leading to it."""
    out: FieldSet = set()
    for p in paths:
        out.add(p)
        for i in range(1, len(p)):
            if p[i - 1][:1] == "f":
                out.add(p[:i])
    return out


def has_prefix(p: Path, prefix: Path) -> bool:
    return p[: len(prefix)] == prefix
