"""The informer's local cache: objects by ``namespace/name`` key, plus secondary indexes.

Objects an informer stores are kept compactly, as the JSON bytes the server sent plus the
few fields the key and the indexes need; the typed object is made on access (``get``,
``list``, ``by_index``) and a bounded number of them is kept (``cache_size``, most
recently used), so a consumer that reads the same objects again gets the same instances.
Objects put as typed objects (``put``) are kept as they are.

Objects handed out are shared by every reader of a shared informer, so they are never
changed in place: callers that want to modify one take ``obj.copy_deep()`` first.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar, cast

import orjson

from api.models import TypedObject
from api.podutil import controller_ref
from client.lazy import lazy, wire

_list = list  # Store.list shadows the builtin inside the class body

T = TypeVar("T", bound=TypedObject)

IndexFunc = Callable[[TypedObject], Iterable[str]]

# Names of the indexes every store has (``store.by_index(NAMESPACE_INDEX, "default")``).
NAMESPACE_INDEX = "namespace"
NODE_NAME_INDEX = "spec.nodeName"  # pods bound to a node; value is the node name
OWNER_UID_INDEX = "ownerReferences.uid"  # every owner's uid
CONTROLLER_UID_INDEX = "controller.uid"  # only the managing controller's uid
LABEL_INDEX = "labels"  # value "key=value"

# Typed objects a store keeps made (the most recently used): beyond them an object is
# validated again from its bytes when read.
DEFAULT_CACHE_SIZE = 4096


def _wire_meta(d: dict[str, Any]) -> dict[str, Any]:
    md = d.get("metadata")
    return md if isinstance(md, dict) else {}


def meta_key(obj: TypedObject) -> str:
    """``namespace/name``, or ``name`` for cluster-scoped objects (client-go's key).
    Reads a lazy object's wire form without validating it."""
    d = wire(obj)
    if d is not None:
        md = _wire_meta(d)
        ns, name = md.get("namespace"), md.get("name")
    else:
        m = obj.metadata
        ns, name = m.namespace, m.name
    return f"{ns}/{name}" if ns else (name or "")


def split_key(key: str) -> tuple[str | None, str]:
    """(namespace or None, name)."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, key)


def _by_namespace(obj: TypedObject) -> Iterable[str]:
    d = wire(obj)
    ns = _wire_meta(d).get("namespace") if d is not None else obj.metadata.namespace
    return (ns,) if isinstance(ns, str) and ns else ()


def _by_node_name(obj: TypedObject) -> Iterable[str]:
    d = wire(obj)
    if d is not None:
        spec = d.get("spec")
        node = spec.get("nodeName") if isinstance(spec, dict) else None
    else:
        spec = getattr(obj, "spec", None)
        node = getattr(spec, "node_name", None) if spec is not None else None
    return (node,) if isinstance(node, str) and node else ()


def _by_owner_uid(obj: TypedObject) -> Iterable[str]:
    d = wire(obj)
    if d is not None:
        return [r["uid"] for r in _wire_meta(d).get("ownerReferences") or ()
                if isinstance(r, dict) and isinstance(r.get("uid"), str)]
    return [r.uid for r in obj.metadata.owner_references or ()]


def _by_controller_uid(obj: TypedObject) -> Iterable[str]:
    d = wire(obj)
    if d is not None:
        for r in _wire_meta(d).get("ownerReferences") or ():
            if isinstance(r, dict) and r.get("controller") is True:
                uid = r.get("uid")
                return (uid,) if isinstance(uid, str) else ()
        return ()
    ref = controller_ref(obj)
    return (ref.uid,) if ref else ()


def _by_label(obj: TypedObject) -> Iterable[str]:
    d = wire(obj)
    labels = _wire_meta(d).get("labels") if d is not None else obj.metadata.labels
    return [f"{k}={v}" for k, v in (labels or {}).items()]


DEFAULT_INDEXERS: dict[str, IndexFunc] = {
    NAMESPACE_INDEX: _by_namespace,
    NODE_NAME_INDEX: _by_node_name,
    OWNER_UID_INDEX: _by_owner_uid,
    CONTROLLER_UID_INDEX: _by_controller_uid,
    LABEL_INDEX: _by_label,
}

_NO_VALUES: tuple[str, ...] = ()
# an object's values in one index: the value itself when there is exactly one
_Values = str | tuple[str, ...]
_intern = sys.intern


class _Entry:
    """One stored object: its JSON (None for an object put typed), its resourceVersion,
    the typed object when made (or put), and its values in each index (by position)."""

    __slots__ = ("idx", "obj", "raw", "rv")

    def __init__(self, raw: bytes | None, rv: str | None, obj: Any,
                 idx: tuple[_Values, ...]) -> None:
        self.raw = raw
        self.rv = rv
        self.obj = obj
        self.idx = idx


class Store(Generic[T]):
    """A keyed, indexed set of objects. Not thread-safe: one event loop owns it.

    ``model_cls`` is needed to store wire objects (``put_wire``); ``cache_size`` bounds the
    typed objects kept made from them."""

    def __init__(self, indexers: dict[str, IndexFunc] | None = None, *,
                 model_cls: type[T] | None = None,
                 cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.model_cls = model_cls
        self.cache_size = cache_size
        self._items: dict[str, _Entry] = {}
        self._indexers: dict[str, IndexFunc] = dict(DEFAULT_INDEXERS if indexers is None
                                                    else indexers)
        self._names: list[str] = list(self._indexers)
        # index name -> value -> keys
        self._indices: dict[str, dict[str, set[str]]] = {n: {} for n in self._indexers}
        # keys whose entry holds a typed object made from its bytes, least recent first
        self._made: dict[str, None] = {}

    # ---- reads -----------------------------------------------------------------------

    def _typed(self, key: str, e: _Entry) -> T:
        obj = e.obj
        made = self._made
        if obj is not None:
            if key in made:  # most recently used now
                del made[key]
                made[key] = None
            return cast(T, obj)
        assert self.model_cls is not None and e.raw is not None
        made_obj = self.model_cls.model_validate(orjson.loads(e.raw))
        self._remember(key, e, made_obj)
        return made_obj

    def _remember(self, key: str, e: _Entry, obj: Any) -> None:
        if self.cache_size <= 0:
            return
        e.obj = obj
        made = self._made
        made[key] = None
        if len(made) > self.cache_size:
            old = next(iter(made))
            del made[old]
            oe = self._items.get(old)
            if oe is not None and oe.raw is not None:
                oe.obj = None

    def _view(self, key: str, e: _Entry) -> T:
        """The entry as an object without validating it now: the typed one if made, else
        a lazy one that joins the cache when validated."""
        if e.obj is not None:
            return cast(T, e.obj)
        assert self.model_cls is not None
        return lazy(self.model_cls, raw=e.raw, hook=self._hook(key, e))

    def _hook(self, key: str, e: _Entry) -> Callable[[Any], None]:
        def made(obj: Any) -> None:
            if self._items.get(key) is e and e.obj is None:
                self._remember(key, e, obj)
        return made

    def get(self, key_or_obj: str | TypedObject) -> T | None:
        key = key_or_obj if isinstance(key_or_obj, str) else meta_key(key_or_obj)
        e = self._items.get(key)
        return None if e is None else self._typed(key, e)

    def get_by_key(self, key: str) -> T | None:
        e = self._items.get(key)
        return None if e is None else self._typed(key, e)

    def list(self) -> list[T]:
        return [self._typed(k, e) for k, e in self._items.items()]

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
        items = self._items
        return [self._typed(k, items[k]) for k in keys]

    def index_keys(self, index_name: str, value: str) -> _list[str]:
        return sorted(self._indices[index_name].get(value, ()))

    def resource_version(self, key: str) -> str | None:
        """The stored object's resourceVersion, without making the object."""
        e = self._items.get(key)
        return None if e is None else e.rv

    def peek(self, key: str) -> T | None:
        """The stored object, validated only when first used (see client.lazy)."""
        e = self._items.get(key)
        return None if e is None else self._view(key, e)

    def views(self) -> Iterator[T]:
        """Every stored object, each validated only when first used."""
        for key, e in list(self._items.items()):
            yield self._view(key, e)

    # ---- writes (the informer's) -----------------------------------------------------

    def add_index(self, name: str, fn: IndexFunc) -> None:
        if name in self._indexers:
            raise ValueError(f"index {name!r} exists")
        self._indexers[name] = fn
        self._names.append(name)
        idx: dict[str, set[str]] = {}
        self._indices[name] = idx
        for key, e in self._items.items():
            vals = tuple(map(_intern, fn(self._view(key, e))))
            e.idx = (*e.idx, vals[0] if len(vals) == 1 else vals)
            for v in vals:
                idx.setdefault(v, set()).add(key)

    def put(self, obj: T) -> T | None:
        """Insert or replace a typed object, kept as it is; returns the previous object."""
        key = meta_key(obj)
        old = self._items.get(key)
        e = _Entry(None, obj.metadata.resource_version, obj, ())
        self._set(key, e, obj, old)
        return None if old is None else self._view(key, old)

    def put_wire(self, data: dict[str, Any], raw: bytes | None = None) -> tuple[T, T | None]:
        """Insert or replace an object in its wire form (a decoded dict this store now
        owns; ``raw`` its JSON if at hand). Returns (the new object, the previous one),
        both validated only when first used."""
        assert self.model_cls is not None, "put_wire needs the store's model_cls"
        md = _wire_meta(data)
        ns, name = md.get("namespace"), md.get("name")
        key = f"{ns}/{name}" if ns else (name or "")
        # orjson's result keeps its whole output buffer (4 KB for a pod): stored objects
        # get an exact-size copy
        e = _Entry(raw if raw is not None else bytes(memoryview(orjson.dumps(data))),
                   md.get("resourceVersion"), None, ())
        new = lazy(self.model_cls, data=data, hook=self._hook(key, e))
        old = self._items.get(key)
        self._set(key, e, new, old)
        return new, None if old is None else self._view(key, old)

    def _set(self, key: str, e: _Entry, view: Any, old: _Entry | None) -> None:
        self._items[key] = e
        if old is not None:
            self._unindex(key, old)
            self._made.pop(key, None)
        e.idx = self._index(key, view)

    def delete(self, key: str) -> T | None:
        old = self._items.pop(key, None)
        if old is None:
            return None
        self._unindex(key, old)
        self._made.pop(key, None)
        return self._view(key, old)

    def fresh(self) -> Store[T]:
        """An empty store with this one's indexers, model and cache size (what a re-list
        fills before ``adopt``)."""
        return Store(dict(self._indexers), model_cls=self.model_cls, cache_size=self.cache_size)

    def adopt(self, fresh: Store[T]) -> _list[tuple[str, T, T | None]]:
        """Take the content of ``fresh`` (a re-list) as this store's, keeping the entries
        (and typed objects) of those whose resourceVersion did not change. Returns the
        differences as client-go's Replace delivers them: ("delete", old, None),
        ("add", new, None), ("update", old, new), objects validated when first used."""
        mine, theirs = self._items, fresh._items
        gone = [(k, e) for k, e in mine.items() if k not in theirs]
        diff: list[tuple[str, _Entry | None]] = []  # (key, old entry or None for an add)
        made: dict[str, None] = {}
        for key, e in theirs.items():
            old = mine.get(key)
            if old is None or old.rv != e.rv:
                diff.append((key, old))
            else:
                theirs[key] = old
                if key in self._made:
                    made[key] = None
        self._items = theirs
        self._indices = fresh._indices
        self._made = made
        # views made after the swap: the new ones join this store's cache when validated
        notes: list[tuple[str, T, T | None]] = [
            ("delete", self._view(k, e), None) for k, e in gone]
        for k, old_e in diff:
            if old_e is None:
                notes.append(("add", self._view(k, theirs[k]), None))
            else:
                notes.append(("update", self._view(k, old_e), self._view(k, theirs[k])))
        return notes

    def replace(self, objs: Iterable[T]) -> None:
        self._items = {}
        self._indices = {n: {} for n in self._indexers}
        self._made = {}
        for obj in objs:
            self.put(obj)

    def _index(self, key: str, obj: Any) -> tuple[_Values, ...]:
        out: list[_Values] = []
        indices = self._indices
        for name, fn in self._indexers.items():
            # values repeat across objects (namespaces, labels, owners): one copy each
            v = tuple(map(_intern, fn(obj)))
            if v:
                idx = indices[name]
                for one in v:
                    s = idx.get(one)
                    if s is None:
                        idx[one] = {key}
                    else:
                        s.add(key)
                out.append(v[0] if len(v) == 1 else v)  # one value: the string itself
            else:
                out.append(_NO_VALUES)
        return tuple(out)

    def _unindex(self, key: str, e: _Entry) -> None:
        for name, vals in zip(self._names, e.idx, strict=False):
            if not vals:
                continue
            idx = self._indices[name]
            for v in ((vals,) if isinstance(vals, str) else vals):
                s = idx.get(v)
                if s is not None:
                    s.discard(key)
                    if not s:
                        del idx[v]
