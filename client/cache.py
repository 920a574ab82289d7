"""The informer's local cache: objects by ``namespace/name`` key, plus secondary indexes.

Objects in the store are shared by every reader of a shared informer, so they are
never changed in place: callers that want to modify one take ``obj.copy_deep()`` first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from api.models import TypedObject
from api.podutil import controller_ref

_list = list  # Store.list shadows the builtin inside the class body

T = TypeVar("T", bound=TypedObject)

IndexFunc = Callable[[TypedObject], Iterable[str]]

# Names of the indexes every store has (``store.by_index(NAMESPACE_INDEX, "default")``).
NAMESPACE_INDEX = "namespace"
NODE_NAME_INDEX = "spec.nodeName"  # pods bound to a node; value is the node name
OWNER_UID_INDEX = "ownerReferences.uid"  # every owner's uid
CONTROLLER_UID_INDEX = "controller.uid"  # only the managing controller's uid
LABEL_INDEX = "labels"  # value "key=value"


def meta_key(obj: TypedObject) -> str:
    """``namespace/name``, or ``name`` for cluster-scoped objects (client-go's key)."""
    m = obj.metadata
    return f"{m.namespace}/{m.name}" if m.namespace else (m.name or "")


def split_key(key: str) -> tuple[str | None, str]:
    """(namespace or None, name)."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, key)


def _by_namespace(obj: TypedObject) -> Iterable[str]:
    ns = obj.metadata.namespace
    return (ns,) if ns else ()


def _by_node_name(obj: TypedObject) -> Iterable[str]:
    spec = getattr(obj, "spec", None)
    node = getattr(spec, "node_name", None) if spec is not None else None
    return (node,) if isinstance(node, str) and node else ()


def _by_owner_uid(obj: TypedObject) -> Iterable[str]:
    return [r.uid for r in obj.metadata.owner_references or ()]


def _by_controller_uid(obj: TypedObject) -> Iterable[str]:
    ref = controller_ref(obj)
    return (ref.uid,) if ref else ()


def _by_label(obj: TypedObject) -> Iterable[str]:
    return [f"{k}={v}" for k, v in (obj.metadata.labels or {}).items()]


DEFAULT_INDEXERS: dict[str, IndexFunc] = {
    NAMESPACE_INDEX: _by_namespace,
    NODE_NAME_INDEX: _by_node_name,
    OWNER_UID_INDEX: _by_owner_uid,
    CONTROLLER_UID_INDEX: _by_controller_uid,
    LABEL_INDEX: _by_label,
}


class Store(Generic[T]):
    """A keyed, indexed set of objects. Not thread-safe: one event loop owns it."""

    def __init__(self, indexers: dict[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, T] = {}
        self._indexers: dict[str, IndexFunc] = dict(DEFAULT_INDEXERS if indexers is None
                                                    else indexers)
        # index name -> value -> keys; and key -> index name -> values (to unindex cheaply)
        self._indices: dict[str, dict[str, set[str]]] = {n: {} for n in self._indexers}
        self._values: dict[str, dict[str, tuple[str, ...]]] = {}

    # ---- reads -----------------------------------------------------------------------

    def get(self, key_or_obj: str | TypedObject) -> T | None:
        key = key_or_obj if isinstance(key_or_obj, str) else meta_key(key_or_obj)
        return self._items.get(key)

    def get_by_key(self, key: str) -> T | None:
        return self._items.get(key)

    def list(self) -> list[T]:
        return list(self._items.values())

    def keys(self) -> _list[str]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def by_index(self, index_name: str, value: str) -> _list[T]:
        try:
            keys = self._indices[index_name].get(value, ())
        except KeyError:
            raise KeyError(f"no index named {index_name!r}") from None
        return [self._items[k] for k in keys]

    def index_keys(self, index_name: str, value: str) -> _list[str]:
        return sorted(self._indices[index_name].get(value, ()))

    # ---- writes (the informer's) -----------------------------------------------------

    def add_index(self, name: str, fn: IndexFunc) -> None:
        if name in self._indexers:
            raise ValueError(f"index {name!r} exists")
        self._indexers[name] = fn
        idx: dict[str, set[str]] = {}
        self._indices[name] = idx
        for key, obj in self._items.items():
            vals = tuple(fn(obj))
            self._values.setdefault(key, {})[name] = vals
            for v in vals:
                idx.setdefault(v, set()).add(key)

    def put(self, obj: T) -> T | None:
        """Insert or replace; returns the previous object."""
        key = meta_key(obj)
        old = self._items.get(key)
        self._items[key] = obj
        if old is not None:
            self._unindex(key)
        self._index(key, obj)
        return old

    def delete(self, key: str) -> T | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key)
        return old

    def replace(self, objs: Iterable[T]) -> None:
        self._items = {}
        self._indices = {n: {} for n in self._indexers}
        self._values = {}
        for obj in objs:
            self.put(obj)

    def _index(self, key: str, obj: T) -> None:
        vals: dict[str, tuple[str, ...]] = {}
        for name, fn in self._indexers.items():
            v = tuple(fn(obj))
            if v:
                vals[name] = v
                idx = self._indices[name]
                for one in v:
                    s = idx.get(one)
                    if s is None:
                        idx[one] = {key}
                    else:
                        s.add(key)
        self._values[key] = vals

    def _unindex(self, key: str) -> None:
        for name, vals in self._values.pop(key, {}).items():
            idx = self._indices[name]
            for v in vals:
                s = idx.get(v)
                if s is not None:
                    s.discard(key)
                    if not s:
                        del idx[v]
