"""``Structural``: a compiled schema with the four operations the CR handler needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.structural import cel, prune
from api.structural.schema import Node
from api.structural.validate import validate
from api.validation.field import FieldError


class Structural:
    """Compile once per CRD version (``Structural.compile(schema)``), then call
    ``default``/``prune``/``validate`` per object and ``list_type``/``map_type`` for
    server-side apply."""

    __slots__ = ("root",)

    def __init__(self, root: Node) -> None:
        self.root = root

    @classmethod
    def compile(cls, schema: Any) -> Structural:
        """Never raises: what cannot be read from a malformed schema is ignored (the
        CRD's own validation reports it)."""
        root = Node(schema if isinstance(schema, Mapping) else {})
        for n in root.walk():
            cel.compile_rules(n)
        root.finish()
        return cls(root)

    def default(self, obj: dict[str, Any]) -> None:
        """Apply the schema's defaults in place."""
        try:
            prune.default(obj, self.root)
        except RecursionError:
            pass

    def prune(self, obj: dict[str, Any]) -> list[str]:
        """Drop unknown fields in place; return their paths (``spec.foo``)."""
        if not isinstance(obj, dict):
            return []
        try:
            return prune.prune(obj, self.root)
        except RecursionError:
            return []

    def validate(self, obj: Any, old: Any = None) -> list[FieldError]:
        """Field errors of ``obj`` (``old``: the stored object, for transition rules)."""
        try:
            return validate(obj, old, self.root)
        except RecursionError:
            return [FieldError("<nil>", "FieldValueInvalid", "object nested too deeply", "")]

    def _node(self, path: tuple[str, ...]) -> Node | None:
        """The node at a field path; list items are crossed implicitly (a path names
        fields only, as server-side apply's field sets do)."""
        n: Node | None = self.root
        for seg in path:
            while n is not None and n.items is not None and not n.properties \
                    and n.additional is None:
                n = n.items
            if n is None:
                return None
            n = n.child(seg)
        return n

    def list_type(self, path: tuple[str, ...]) -> tuple[str, list[str]] | None:
        """('map', keys) / ('set', []) / ('atomic', []) of the list at ``path``; None when
        the path is not a list (an unset list type on a list is 'atomic')."""
        n = self._node(path)
        if n is None or n.type != "array":
            return None
        lt = n.list_type or "atomic"
        if lt == "map":
            return "map", list(n.list_map_keys)
        return lt, []

    def map_type(self, path: tuple[str, ...]) -> str | None:
        """'granular' / 'atomic' of the object at ``path``; None when not an object."""
        n = self._node(path)
        if n is None or n.type != "object":
            return None
        return n.map_type or "granular"
