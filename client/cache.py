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
from typing import Any, Generic, TypeVar

import orjson

from api.models import TypedObject
from api.podutil import controller_ref
from client.lazy import lazy, lazy_key, wire

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
    Reads a lazy object's key or wire form without validating it."""
    key = lazy_key(obj)
    if key is not None:
        return key
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

_Values = str | tuple[str, ...]  # an object's values in one index: one value as itself
_NO_VALUES: tuple[str, ...] = ()
_intern = sys.intern
_DEFAULT_TWINS: tuple[Any, ...] = ()  # set below, once the twins exist


def _values(vals: Iterable[str]) -> _Values:
    # values repeat across objects (namespaces, labels, owners): one copy each
    v = tuple(map(_intern, vals))
    return v[0] if len(v) == 1 else v


# The default indexes straight from a wire dict (what put_wire stores), same values.
def _w_namespace(d: dict[str, Any], md: dict[str, Any]) -> _Values:
    ns = md.get("namespace")
    return _intern(ns) if isinstance(ns, str) and ns else _NO_VALUES


def _w_node_name(d: dict[str, Any], md: dict[str, Any]) -> _Values:
    spec = d.get("spec")
    node = spec.get("nodeName") if isinstance(spec, dict) else None
    return _intern(node) if isinstance(node, str) and node else _NO_VALUES


def _w_owner_uid(d: dict[str, Any], md: dict[str, Any]) -> _Values:
    refs = md.get("ownerReferences")
    if not refs or not isinstance(refs, list):
        return _NO_VALUES
    return _values(r["uid"] for r in refs
                   if isinstance(r, dict) and isinstance(r.get("uid"), str))


def _w_controller_uid(d: dict[str, Any], md: dict[str, Any]) -> _Values:
    refs = md.get("ownerReferences")
    if not refs or not isinstance(refs, list):
        return _NO_VALUES
    for r in refs:
        if isinstance(r, dict) and r.get("controller") is True:
            uid = r.get("uid")
            return _intern(uid) if isinstance(uid, str) else _NO_VALUES
    return _NO_VALUES


def _w_label(d: dict[str, Any], md: dict[str, Any]) -> _Values:
    labels = md.get("labels")
    if not labels or not isinstance(labels, dict):
        return _NO_VALUES
    return _values(f"{k}={v}" for k, v in labels.items())


def _w_defaults(d: dict[str, Any], md: dict[str, Any]) -> tuple[_Values, ...]:
    """All five default indexes of a wire dict at once (the stores of informers): the
    same values as the functions above, in DEFAULT_INDEXERS' order, with fewer calls."""
    ns = md.get("namespace")
    spec = d.get("spec")
    node = spec.get("nodeName") if type(spec) is dict else None
    refs = md.get("ownerReferences")
    owners: _Values = _NO_VALUES
    ctl: _Values = _NO_VALUES
    if refs:
        owners = _w_owner_uid(d, md)
        ctl = _w_controller_uid(d, md)
    labels = md.get("labels")
    lv: _Values = _NO_VALUES
    if labels and type(labels) is dict:
        if len(labels) == 1:
            for k, v in labels.items():
                lv = _intern(f"{k}={v}")
        else:
            lv = tuple([_intern(f"{k}={v}") for k, v in labels.items()])
    return (_intern(ns) if type(ns) is str and ns else _NO_VALUES,
            _intern(node) if type(node) is str and node else _NO_VALUES,
            owners, ctl, lv)


_WIRE_TWINS: dict[Any, Callable[[dict[str, Any], dict[str, Any]], _Values]] = {
    _by_namespace: _w_namespace,
    _by_node_name: _w_node_name,
    _by_owner_uid: _w_owner_uid,
    _by_controller_uid: _w_controller_uid,
    _by_label: _w_label,
}
_DEFAULT_TWINS = tuple(_WIRE_TWINS[fn] for fn in DEFAULT_INDEXERS.values())



# One stored object: (its JSON, or None for an object put typed; its resourceVersion;
# its values in each index, by position). A tuple of strings and bytes: small, and left
# alone by the cyclic GC.
_Entry = tuple[bytes | None, str | None, tuple[_Values, ...]]


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
        # per index, the function computing its values from a wire dict (default indexes)
        self._twins = [_WIRE_TWINS.get(fn) for fn in self._indexers.values()]
        self._all_twins = self._twins_if_all()
        self._defaults_only = self._all_twins == _DEFAULT_TWINS
        # index name -> value -> keys
        self._indices: dict[str, dict[str, set[str]]] = {n: {} for n in self._indexers}
        # typed objects made from stored bytes, least recently used first
        self._made: dict[str, T] = {}
        # objects put typed (``put``), kept as they are
        self._pinned: dict[str, T] = {}

    def _twins_if_all(self) -> tuple[Callable[[dict[str, Any], dict[str, Any]], _Values], ...] | None:
        tw = tuple(t for t in self._twins if t is not None)
        return tw if len(tw) == len(self._twins) else None

    # ---- reads -----------------------------------------------------------------------

    def _typed(self, key: str, e: _Entry) -> T:
        raw = e[0]
        if raw is None:
            return self._pinned[key]
        made = self._made
        obj = made.pop(key, None)
        if obj is not None:
            made[key] = obj  # the most recently used now
            return obj
        assert self.model_cls is not None
        obj = self.model_cls.model_validate(orjson.loads(raw))
        self._remember(key, obj)
        return obj

    def _remember(self, key: str, obj: T) -> None:
        if self.cache_size <= 0:
            return
        made = self._made
        made[key] = obj
        if len(made) > self.cache_size:
            del made[next(iter(made))]

    def _view(self, key: str, e: _Entry) -> T:
        """The entry as an object without validating it now: the typed one if made, else
        a lazy one that joins the cache when validated."""
        raw = e[0]
        if raw is None:
            return self._pinned[key]
        obj = self._made.get(key)
        if obj is not None:
            return obj
        assert self.model_cls is not None
        return lazy(self.model_cls, raw=raw, key=key, owner=self)

    def lazy_made(self, key: str, raw: bytes, obj: T) -> None:
        """A lazy object this store handed out was validated: cached if still current."""
        cur = self._items.get(key)
        if cur is not None and cur[0] is raw and key not in self._made:
            self._remember(key, obj)

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
        return None if e is None else e[1]

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
        self._twins.append(_WIRE_TWINS.get(fn))
        self._all_twins = self._twins_if_all()
        self._defaults_only = self._all_twins == _DEFAULT_TWINS
        idx: dict[str, set[str]] = {}
        self._indices[name] = idx
        items = self._items
        for key, e in list(items.items()):
            vals = _values(fn(self._view(key, e)))
            items[key] = (e[0], e[1], (*e[2], vals))
            for v in ((vals,) if isinstance(vals, str) else vals):
                idx.setdefault(v, set()).add(key)

    def put(self, obj: T) -> T | None:
        """Insert or replace a typed object, kept as it is; returns the previous object."""
        key = meta_key(obj)
        old = self._items.get(key)
        prev = None if old is None else self._view(key, old)
        e: _Entry = (None, obj.metadata.resource_version,
                     tuple(_values(fn(obj)) for fn in self._indexers.values()))
        self._set(key, e, old)
        self._pinned[key] = obj
        return prev

    def _wire_entry(self, data: dict[str, Any], raw: bytes | None
                    ) -> tuple[str, _Entry, T | None]:
        """(key, entry, the lazy object if an index needed one) of a wire object."""
        md = _wire_meta(data)
        ns, name = md.get("namespace"), md.get("name")
        key = f"{ns}/{name}" if ns else (name or "")
        if raw is None:
            # orjson's result keeps its whole output buffer (4 KB for a pod): stored
            # objects get an exact-size copy
            raw = bytes(memoryview(orjson.dumps(data)))
        if self._defaults_only:
            return key, (raw, md.get("resourceVersion"), _w_defaults(data, md)), None
        twins = self._all_twins
        if twins is not None:  # indexes all computed from the wire dict
            return key, (raw, md.get("resourceVersion"),
                         tuple([tw(data, md) for tw in twins])), None
        view: T | None = None
        vals: list[_Values] = []
        for tw, fn in zip(self._twins, self._indexers.values(), strict=True):
            if tw is not None:
                vals.append(tw(data, md))
            else:
                if view is None:
                    assert self.model_cls is not None
                    view = lazy(self.model_cls, data=data, raw=raw, key=key, owner=self)
                vals.append(_values(fn(view)))
        return key, (raw, md.get("resourceVersion"), tuple(vals)), view

    def put_wire(self, data: dict[str, Any], raw: bytes | None = None) -> tuple[T, T | None]:
        """Insert or replace an object in its wire form (a decoded dict this store now
        owns; ``raw`` its JSON if at hand). Returns (the new object, the previous one),
        both validated only when first used."""
        assert self.model_cls is not None, "put_wire needs the store's model_cls"
        key, e, new = self._wire_entry(data, raw)
        if new is None:
            new = lazy(self.model_cls, data=data, raw=e[0], key=key, owner=self)
        old = self._items.get(key)
        prev = None if old is None else self._view(key, old)
        self._set(key, e, old)
        return new, prev

    def _set(self, key: str, e: _Entry, old: _Entry | None) -> None:
        self._items[key] = e
        if old is None:
            self._index(key, e[2], None)
        else:
            self._made.pop(key, None)
            self._pinned.pop(key, None)
            self._index(key, e[2], old[2])

    def delete(self, key: str) -> T | None:
        old = self._items.get(key)
        if old is None:
            return None
        prev = self._view(key, old)
        del self._items[key]
        self._unindex(key, old)
        self._made.pop(key, None)
        self._pinned.pop(key, None)
        return prev

    def fresh(self) -> Store[T]:
        """An empty store with this one's indexers, model and cache size (what a re-list
        fills with ``fill`` before ``adopt``)."""
        return Store(dict(self._indexers), model_cls=self.model_cls, cache_size=self.cache_size)

    def fill(self, data: dict[str, Any]) -> None:
        """``put_wire`` without making objects for anyone (a re-list's fresh store)."""
        key, e, _ = self._wire_entry(data, None)
        self._set(key, e, self._items.get(key))

    def adopt(self, fresh: Store[T]) -> _list[tuple[str, str, T | None]]:
        """Take the content of ``fresh`` (a re-list) as this store's, keeping the entries
        (and typed objects) of those whose resourceVersion did not change. Returns the
        differences as client-go's Replace delivers them, as (kind, key, old object):
        ("delete", key, old), ("add", key, None), ("update", key, old); the new objects
        are this store's (``peek(key)``), made when delivered: a re-list of many objects
        does not hold one object per difference at once."""
        mine, theirs = self._items, fresh._items
        notes: list[tuple[str, str, T | None]] = [
            ("delete", k, self._view(k, e)) for k, e in mine.items() if k not in theirs]
        for key, e in theirs.items():
            old = mine.get(key)
            if old is None:
                notes.append(("add", key, None))
            elif old[1] != e[1]:
                notes.append(("update", key, self._view(key, old)))
            else:
                theirs[key] = old
        self._made = {k: o for k, o in self._made.items() if theirs.get(k) is mine.get(k)}
        self._pinned = {k: o for k, o in self._pinned.items() if theirs.get(k) is mine.get(k)}
        self._items = theirs
        self._indices = fresh._indices
        return notes

    def replace(self, objs: Iterable[T]) -> None:
        self._items = {}
        self._indices = {n: {} for n in self._indexers}
        self._made = {}
        self._pinned = {}
        for obj in objs:
            self.put(obj)

    def _index(self, key: str, new: tuple[_Values, ...],
               old: tuple[_Values, ...] | None) -> None:
        """Move ``key`` from its ``old`` values to its ``new`` ones, index by index (an
        update rarely changes any: then nothing moves)."""
        if new == old:
            return
        indices = self._indices
        for i, (name, vals) in enumerate(zip(self._names, new, strict=False)):
            if old is not None:
                was = old[i] if i < len(old) else _NO_VALUES
                if vals == was:
                    continue
                if was:
                    self._drop(indices[name], key, was)
            if not vals:
                continue
            idx = indices[name]
            if type(vals) is str:
                s = idx.get(vals)
                if s is None:
                    idx[vals] = {key}
                else:
                    s.add(key)
                continue
            for one in vals:
                s = idx.get(one)
                if s is None:
                    idx[one] = {key}
                else:
                    s.add(key)

    @staticmethod
    def _drop(idx: dict[str, set[str]], key: str, vals: _Values) -> None:
        for v in ((vals,) if isinstance(vals, str) else vals):
            s = idx.get(v)
            if s is not None:
                s.discard(key)
                if not s:
                    del idx[v]

    def _unindex(self, key: str, e: _Entry) -> None:
        for name, vals in zip(self._names, e[2], strict=False):
            if vals:
                self._drop(self._indices[name], key, vals)
