"""The compiled form of a CustomResourceDefinition's openAPIV3Schema.

Kubernetes keeps it in apiextensions-apiserver/pkg/apiserver/schema (structural.go:
``Structural`` with its ``Generic``, ``Extensions`` and ``ValueValidation`` parts). Here one
``Node`` holds all three, parsed once from the wire dict; the value validations under
``allOf``/``anyOf``/``oneOf``/``not`` are ``Node`` trees too (their structural parts are
rejected by the schema's own validation, so they only ever validate).

Compiling never raises: a malformed schema compiles to what can be read from it, and
``validate_crd_schema`` is what reports the malformations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import re2  # type: ignore[import-untyped]

UNSET: Any = object()

# The OpenAPI v3 types a CRD schema may name (apiextensions' openapiV3Types).
TYPES = ("array", "boolean", "integer", "number", "object", "string")


def _num(v: Any) -> float | int | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


_LEAF_TYPES: dict[str, frozenset[type]] = {
    "string": frozenset({str}), "boolean": frozenset({bool}), "integer": frozenset({int}),
    "number": frozenset({int, float}),
}
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def compile_pattern(p: str) -> tuple[Any, str]:
    """(compiled RE2 pattern, "") or (None, the error): Go's regexp is RE2, so patterns
    have RE2's syntax and match in linear time."""
    try:
        return re2.compile(p, _RE2_OPTIONS), ""
    except Exception as e:
        msg = e.args[0] if e.args else str(e)
        if isinstance(msg, bytes):
            msg = msg.decode("utf-8", "replace")
        return None, f"error parsing regexp: {msg}"


def _pattern(p: Any) -> Any:
    if not isinstance(p, str) or not p:
        return None
    return compile_pattern(p)[0]


class Node:
    """One schema node: generic fields, Kubernetes extensions and value validations."""

    __slots__ = (
        "additional",
        "additional_any",
        "all_of",
        "any_of",
        "default",
        "embedded",
        "enum",
        "enum_strs",
        "exclusive_maximum",
        "exclusive_minimum",
        "format",
        "has_checks",
        "has_defaults",
        "has_rules",
        "int_or_string",
        "ios_check",
        "items",
        "junctors",
        "leaf_types",
        "list_map_keys",
        "list_type",
        "map_type",
        "max_items",
        "max_length",
        "max_properties",
        "maximum",
        "min_items",
        "min_length",
        "min_properties",
        "minimum",
        "multiple_of",
        "not_",
        "nullable",
        "num_checks",
        "one_of",
        "pattern",
        "pattern_src",
        "preserve_unknown",
        "properties",
        "raw",
        "required",
        "rules",
        "str_checks",
        "type",
        "unique_items",
    )

    def __init__(self, raw: Mapping[str, Any], depth: int = 0) -> None:
        self.raw = raw
        get = raw.get
        t = get("type")
        self.type: str = t if isinstance(t, str) else ""
        f = get("format")
        self.format: str = f if isinstance(f, str) else ""
        self.nullable = get("nullable") is True
        self.default: Any = raw["default"] if "default" in raw else UNSET
        if self.default is None:
            # a null default is no default (apiextensions drops it)
            self.default = UNSET
        sub = depth + 1
        props = get("properties")
        self.properties: dict[str, Node] = {}
        if isinstance(props, Mapping) and depth < 200:
            for k, v in props.items():
                if isinstance(k, str) and isinstance(v, Mapping):
                    self.properties[k] = Node(v, sub)
        items = get("items")
        self.items: Node | None = (
            Node(items, sub) if isinstance(items, Mapping) and depth < 200 else None
        )
        ap = get("additionalProperties")
        self.additional: Node | None = None
        self.additional_any = False
        if isinstance(ap, Mapping) and depth < 200:
            self.additional = Node(ap, sub)
        elif ap is True:
            self.additional_any = True
        req = get("required")
        self.required: list[str] = (
            [r for r in req if isinstance(r, str)] if isinstance(req, list) else []
        )
        enum = get("enum")
        self.enum: list[Any] | None = list(enum) if isinstance(enum, list) and enum else None
        ps = get("pattern")
        self.pattern_src: str = ps if isinstance(ps, str) else ""
        self.pattern = _pattern(self.pattern_src)
        self.maximum = _num(get("maximum"))
        self.minimum = _num(get("minimum"))
        self.exclusive_maximum = get("exclusiveMaximum") is True
        self.exclusive_minimum = get("exclusiveMinimum") is True
        self.max_length = _int(get("maxLength"))
        self.min_length = _int(get("minLength"))
        self.max_items = _int(get("maxItems"))
        self.min_items = _int(get("minItems"))
        self.unique_items = get("uniqueItems") is True
        self.max_properties = _int(get("maxProperties"))
        self.min_properties = _int(get("minProperties"))
        mo = _num(get("multipleOf"))
        self.multiple_of = mo if mo is not None and mo > 0 else None
        self.preserve_unknown = get("x-kubernetes-preserve-unknown-fields") is True
        self.int_or_string = get("x-kubernetes-int-or-string") is True
        self.embedded = get("x-kubernetes-embedded-resource") is True
        lt = get("x-kubernetes-list-type")
        self.list_type: str | None = lt if isinstance(lt, str) else None
        keys = get("x-kubernetes-list-map-keys")
        self.list_map_keys: list[str] = (
            [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else []
        )
        mt = get("x-kubernetes-map-type")
        self.map_type: str | None = mt if isinstance(mt, str) else None
        self.all_of = self._nodes(get("allOf"), sub)
        self.any_of = self._nodes(get("anyOf"), sub)
        self.one_of = self._nodes(get("oneOf"), sub)
        n = get("not")
        self.not_: Node | None = Node(n, sub) if isinstance(n, Mapping) and depth < 200 else None
        # what the validator's fast path looks at
        self.ios_check = (self.int_or_string and not self.type and not self.any_of
                          and not self.all_of)
        self.junctors = bool(self.all_of or self.any_of or self.one_of or self.not_)
        self.str_checks = (self.max_length is not None or self.min_length is not None
                           or self.pattern is not None or bool(self.format))
        self.num_checks = (self.multiple_of is not None or self.maximum is not None
                           or self.minimum is not None)
        self.enum_strs = frozenset(e for e in self.enum or () if isinstance(e, str))
        # the Python types of values this node accepts without any check beyond their type
        # (the validator skips them); empty when the node checks more than types
        self.leaf_types: frozenset[type] = frozenset()
        if not (self.enum is not None or self.str_checks or self.num_checks or self.junctors
                or self.ios_check):
            self.leaf_types = _LEAF_TYPES.get(self.type, frozenset())
        # compiled CEL rules are attached by the CEL layer (list of cel.Rule)
        self.rules: list[Any] = []
        # filled by finish(): whether anything at or under this node needs the second
        # validation walk (embedded resources, list types, CEL) or defaulting
        self.has_checks = True
        self.has_defaults = True
        self.has_rules = True

    @staticmethod
    def _nodes(v: Any, depth: int) -> list[Node]:
        if not isinstance(v, list) or depth > 200:
            return []
        return [Node(x, depth) for x in v if isinstance(x, Mapping)]

    def finish(self) -> None:
        """Compute has_checks/has_defaults bottom-up (after the CEL rules are attached)."""
        subs = list(self.properties.values())
        if self.items is not None:
            subs.append(self.items)
        if self.additional is not None:
            subs.append(self.additional)
        for n in subs:
            n.finish()
        self.has_checks = bool(self.rules or self.embedded or self.list_type in ("set", "map")
                               or any(n.has_checks for n in subs))
        self.has_defaults = any(n.default is not UNSET or n.has_defaults for n in subs)
        self.has_rules = bool(self.rules) or any(n.has_rules for n in subs)

    def walk(self) -> list[Node]:
        """This node and every structural node under it (not the junctors' nodes)."""
        out: list[Node] = []
        stack: list[Node] = [self]
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(n.properties.values())
            if n.items is not None:
                stack.append(n.items)
            if n.additional is not None:
                stack.append(n.additional)
        return out

    def child(self, key: str) -> Node | None:
        """The schema of an object's field ``key``: its property, else additionalProperties."""
        p = self.properties.get(key)
        if p is not None:
            return p
        return self.additional
