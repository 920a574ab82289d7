"""Typed objects that validate on first use: what the informers hand out.

A lazy object is an instance of a private subclass of the model (``isinstance(obj, Pod)``
holds) that carries only its wire form: the decoded dict of a watch event, or the compact
JSON bytes of the informer's store. The first access to any attribute validates the wire
form with the model, fills the instance and turns it into a plain instance of the model
(``type(obj) is Pod`` from then on): every read, ``==``, ``repr``, ``model_dump``, copies and
pickling see exactly the object ``Pod.model_validate`` would have made.

``obj.metadata`` alone validates only the metadata, so handlers that look at names,
labels, owners or timestamps do not pay for the spec and status. ``wire(obj)`` gives the
wire dict of a lazy object not yet materialised (None otherwise), for accessors such as
``client.cache.meta_key`` that read a field or two without building anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import orjson
from pydantic._internal._model_construction import ModelMetaclass

from api import resources
from api.models import ObjectMeta, TypedObject

T = TypeVar("T", bound=TypedObject)

_STATE = "\x00lazy"  # the only key of a lazy instance's __dict__; never a field name

_object_getattribute = object.__getattribute__
_object_setattr = object.__setattr__


# A lazy instance's state, one list (cheap to make: informers make one per event):
# [wire dict or None, JSON bytes or None, metadata made or None, hook or None, key or None,
#  owner or None]; an owner's ``lazy_made(key, raw, obj)`` hears of the validated object.
_DATA, _RAW, _META, _HOOK, _KEY, _OWNER = range(6)


def _wire_of(st: list[Any]) -> dict[str, Any]:
    data = st[_DATA]
    if data is None:
        data = st[_DATA] = orjson.loads(st[_RAW] or b"{}")
    return data  # type: ignore[no-any-return]


# how many lazy objects were validated whole, and how many had only their metadata
# validated (for the benchmark: what handlers make of what they get)
made = {"object": 0, "metadata": 0}

# lazy subclass -> its model; model -> lazy subclass
_BASE: dict[type, type[TypedObject]] = {}
_LAZY: dict[type[TypedObject], type] = {}


def _state(obj: object) -> list[Any] | None:
    st = _object_getattribute(obj, "__dict__").get(_STATE)
    return st if type(st) is list else None


def materialize(obj: object) -> None:
    """Validate a lazy object's wire form into it and make it a plain model instance
    (a no-op for anything else)."""
    base = _BASE.get(type(obj))
    if base is None:
        return
    st = _state(obj)
    if st is not None:
        made["object"] += 1
        data = _wire_of(st)
        if st[_META] is not None and isinstance(data, dict):
            # the metadata already handed out stays the object's metadata
            m = base.model_validate({**data, "metadata": {}})
            m.__dict__["metadata"] = st[_META]
        else:
            m = base.model_validate(data)
        _object_setattr(obj, "__dict__", m.__dict__)
        _object_setattr(obj, "__pydantic_fields_set__", m.__pydantic_fields_set__)
        _object_setattr(obj, "__pydantic_extra__", m.__pydantic_extra__)
        _object_setattr(obj, "__pydantic_private__", m.__pydantic_private__)
    _object_setattr(obj, "__class__", base)
    if st is not None:
        if st[_HOOK] is not None:
            st[_HOOK](obj)
        if st[_OWNER] is not None:
            st[_OWNER].lazy_made(st[_KEY], st[_RAW], obj)


def _lazy_getattribute(self: Any, name: str) -> Any:
    if name == "metadata":
        st = _state(self)
        if st is not None:
            meta = st[_META]
            if meta is None:
                made["metadata"] += 1
                meta = st[_META] = ObjectMeta.model_validate(_wire_of(st).get("metadata") or {})
            return meta
    materialize(self)
    return getattr(self, name)


def lazy_class(model: type[T]) -> type[T]:
    """The lazy subclass of ``model`` (made once; no schema of its own is built: it is
    never validated into, only turned into ``model``)."""
    cls = _LAZY.get(model)
    if cls is None:
        # type.__new__ skips pydantic's class construction: everything pydantic needs is
        # inherited, and the instance layout is the model's, so __class__ can be swapped.
        cls = type.__new__(ModelMetaclass, model.__name__, (model,), {
            "__getattribute__": _lazy_getattribute,
            "__module__": model.__module__,
            "__qualname__": model.__qualname__,
            "__doc__": model.__doc__,
        })
        _LAZY[model] = cls
        _BASE[cls] = model
        # a handler may pass one on untouched (client.update(obj) looks its kind up by
        # type(obj) before reading it): the lazy class resolves as its model does
        info = resources._BY_MODEL.get(model)
        if info is not None:
            resources._BY_MODEL.setdefault(cast(type[TypedObject], cls), info)
    return cast(type[T], cls)


def lazy(model: type[T], data: dict[str, Any] | None = None, raw: bytes | None = None,
         hook: Callable[[T], None] | None = None, key: str | None = None,
         owner: Any = None) -> T:
    """An object of ``model`` validated on first use from ``data`` (a decoded wire dict,
    which must not change afterwards) or ``raw`` (its JSON). ``hook`` is called with the
    object once it is fully validated; ``key``, its ``namespace/name`` if known, lets
    ``lazy_key`` answer without decoding ``raw``; ``owner.lazy_made(key, raw, obj)`` is
    called as ``hook`` is."""
    cls = _LAZY.get(model) or lazy_class(model)
    obj = cast(T, object.__new__(cls))
    _object_setattr(obj, "__dict__", {_STATE: [data, raw, None, hook, key, owner]})
    return obj


def lazy_key(obj: object) -> str | None:
    """The key a lazy object not validated yet was made with, else None."""
    if type(obj) not in _BASE:
        return None
    st = _state(obj)
    return st[_KEY] if st is not None else None


def is_lazy(obj: object) -> bool:
    """Not validated yet (its wire form is all it holds)."""
    return type(obj) in _BASE


def wire(obj: object) -> dict[str, Any] | None:
    """The wire dict of a lazy object not validated yet, else None. Read only: it is the
    object's own source."""
    if type(obj) not in _BASE:
        return None
    st = _state(obj)
    return _wire_of(st) if st is not None else None
