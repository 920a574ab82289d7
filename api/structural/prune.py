"""Pruning and defaulting, as apiextensions-apiserver does them.

prune: schema/pruning/algorithm.go. Fields that no property or additionalProperties
specifies are dropped, except under x-kubernetes-preserve-unknown-fields (where specified
fields are still pruned below); at the resource root and in embedded resources,
``apiVersion``/``kind`` strings and ``metadata`` stay, and metadata keeps only ObjectMeta's
fields (schema/objectmeta's coercion). The dropped paths are returned (``spec.foo``,
``spec.list[0].bar``), as Kubernetes' fieldValidation reports them; the root's
apiVersion/kind/metadata are never reported.

default: schema/defaulting/algorithm.go. A property that is missing, or null where the
schema is not nullable, gets a deep copy of its default; items and additionalProperties
values that are null get theirs; defaults are applied top-down, so defaults inside a
default value apply too.
"""

from __future__ import annotations

import copy
from typing import Any

from api.structural.schema import UNSET, Node

OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
})
_META = frozenset({"apiVersion", "kind", "metadata"})
MAX_DEPTH = 256


def _key(path: str, k: str) -> str:
    return f"{path}.{k}" if path else k


class Pruner:
    def __init__(self) -> None:
        self.pruned: list[str] = []

    def root(self, obj: dict[str, Any], s: Node) -> None:
        self._map(obj, s, "", embedded=True, root=True, depth=0)

    def _meta(self, md: dict[str, Any], path: str) -> None:
        for k in [k for k in md if k not in OBJECT_META_FIELDS]:
            del md[k]
            self.pruned.append(_key(path, str(k)))

    def _map(self, x: dict[str, Any], s: Node, path: str, *, embedded: bool, root: bool,
             depth: int) -> None:
        preserve = s.preserve_unknown
        for k in list(x):
            v = x[k]
            if embedded or s.embedded:
                if k in ("apiVersion", "kind") and isinstance(v, str):
                    continue
                if k == "metadata" and isinstance(v, dict):
                    self._meta(v, _key(path, "metadata"))
                    continue
            prop = s.child(k)
            if prop is not None:
                self.value(v, prop, _key(path, str(k)), depth + 1)
            elif not preserve and not s.additional_any:
                del x[k]
                if not (root and k in _META):
                    self.pruned.append(_key(path, str(k)))

    def value(self, x: Any, s: Node | None, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        if isinstance(x, dict):
            if s is None:
                return
            self._map(x, s, path, embedded=False, root=False, depth=depth)
        elif isinstance(x, list):
            items = s.items if s is not None else None
            if items is None:
                return
            for i, v in enumerate(x):
                self.value(v, items, f"{path}[{i}]", depth + 1)


def prune(obj: dict[str, Any], s: Node) -> list[str]:
    p = Pruner()
    p.root(obj, s)
    return p.pruned


def _null_default(x: Any, s: Node | None) -> bool:
    return x is None and s is not None and not s.nullable and s.default is not UNSET


def default(x: Any, s: Node | None, depth: int = 0) -> None:
    if s is None or depth > MAX_DEPTH or not s.has_defaults:
        return
    if isinstance(x, dict):
        for k, prop in s.properties.items():
            if prop.default is UNSET:
                continue
            if k not in x or (x[k] is None and not prop.nullable):
                x[k] = copy.deepcopy(prop.default)
        for k in list(x):
            sub = s.properties.get(k)
            if sub is not None:
                default(x[k], sub, depth + 1)
            elif s.additional is not None:
                if _null_default(x[k], s.additional):
                    x[k] = copy.deepcopy(s.additional.default)
                else:
                    default(x[k], s.additional, depth + 1)
    elif isinstance(x, list) and s.items is not None:
        for i, v in enumerate(x):
            if _null_default(v, s.items):
                x[i] = copy.deepcopy(s.items.default)
            else:
                default(v, s.items, depth + 1)
