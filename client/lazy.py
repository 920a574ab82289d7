"""Typed objects that validate on first use: what the informers hand out.

A lazy object is an instance of a private subclass of the model (``isinstance(obj, Pod)``
holds) that carries only its wire form: the decoded dict of a watch event, or the compact
JSON bytes of the informer's store. The first access to any attribute validates the wire
form with the model, fills the instance and turns it into a plain instance of the model
(``type(obj) is Pod`` from then on): every read, ``==``, ``repr``, ``model_dump``, copies and
pickling see exactly the object ``Pod.model_validate`` would have made.

A model field read first (``obj.metadata``, ``obj.status``) is validated alone and kept
(the same instance once the whole object is made), so handlers that look at names,
labels, owners or a status do not pay for the rest. ``wire(obj)`` gives the
wire dict of a lazy object not yet materialised (None otherwise), for accessors such as
``client.cache.meta_key`` that read a field or two without building anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar, cast

import orjson
from pydantic import TypeAdapter
from pydantic._internal._model_construction import ModelMetaclass
from pydantic.fields import FieldInfo

from api import resources
from api.models import TypedObject

T = TypeVar("T", bound=TypedObject)

_STATE = "\x00lazy"  # the only key of a lazy instance's __dict__; never a field name

_object_getattribute = object.__getattribute__
_object_setattr = object.__setattr__


# A lazy instance's state, one list (cheap to make: informers make one per event):
# [wire dict or None, JSON bytes or None, fields made {attribute: value} or None, hook or
#  None, key or None, owner or None]; an owner's ``lazy_made(key, raw, obj)`` hears of the validated object.
_DATA, _RAW, _META, _HOOK, _KEY, _OWNER = range(6)


def _wire_of(st: list[Any]) -> dict[str, Any]:
    data = st[_DATA]
    if data is None:
        data = st[_DATA] = orjson.loads(st[_RAW] or b"{}")
    return data  # type: ignore[no-any-return]


# how many lazy objects were validated whole, and how many fields were validated alone
# (for the benchmark: what handlers make of what they get)
made = {"object": 0, "field": 0}

# lazy subclass -> its model; model -> lazy subclass
_BASE: dict[type, type[TypedObject]] = {}
_LAZY: dict[type[TypedObject], type] = {}


def _state(obj: object) -> list[Any] | None:
    st = _object_getattribute(obj, "__dict__").get(_STATE)
    return st if type(st) is list else None


# (model, attribute) -> (wire name, validator, default placeholder) of a model field, or
# None for anything else (methods, extra fields): what one field is validated with alone.
_Field = tuple[str, TypeAdapter[Any], FieldInfo]
_FIELD_ADAPTERS: dict[tuple[type, str], _Field | str | None] = {}
_UNKNOWN = "unknown"  # neither a field nor anything of the class: an extra field, or none


def _field(base: type[TypedObject], name: str) -> _Field | str | None:
    k = (base, name)
    try:
        return _FIELD_ADAPTERS[k]
    except KeyError:
        pass
    fi = base.model_fields.get(name)
    found: _Field | str | None = None if hasattr(base, name) else _UNKNOWN
    if fi is not None and fi.annotation is not None:
        ann: Any = fi.annotation
        if fi.metadata:
            ann = Annotated[(ann, *fi.metadata)]
        found = (fi.alias or name, TypeAdapter(ann), fi)
    _FIELD_ADAPTERS[k] = found
    return found


def materialize(obj: object) -> None:
    """Validate a lazy object's wire form into it and make it a plain model instance
    (a no-op for anything else). Fields already handed out stay the object's fields."""
    base = _BASE.get(type(obj))
    if base is None:
        return
    st = _state(obj)
    if st is not None:
        made["object"] += 1
        data = _wire_of(st)
        done: dict[str, Any] | None = st[_META]
        if done and isinstance(data, dict):
            # fields made already need no second validation where a stand-in passes
            data = dict(data)
            for name in done:
                f = _field(base, name)
                if not isinstance(f, tuple) or f[0] not in data:
                    continue
                if name == "metadata":
                    data[f[0]] = {}
                elif not f[2].is_required() and f[2].default is None:
                    data[f[0]] = None
        m = base.model_validate(data)
        if done:
            m.__dict__.update(done)
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
    # A model field read alone is validated alone (pod.status, pod.spec, pod.metadata):
    # handlers that look at one part do not pay for the others.
    st = _state(self)
    if st is not None and name[:1] != "_":
        done = st[_META]
        if done is not None and name in done:
            return done[name]
        base = _BASE[type(self)]
        f = _field(base, name)
        if f is _UNKNOWN:
            # only an extra field of the wire form can answer (as pydantic's __getattr__
            # does): without one, no need to validate anything to say so
            data = _wire_of(st)
            if isinstance(data, dict) and name not in data:
                raise AttributeError(f"{base.__name__!r} object has no attribute {name!r}")
        elif isinstance(f, tuple):
            data = _wire_of(st)
            if isinstance(data, dict):
                wire_name, adapter, info = f
                if wire_name in data:
                    value = adapter.validate_python(data[wire_name])
                elif name in data:
                    value = adapter.validate_python(data[name])
                elif not info.is_required():
                    value = info.get_default(call_default_factory=True)
                else:
                    value = _MISSING
                if value is not _MISSING:
                    made["field"] += 1
                    if done is None:
                        done = st[_META] = {}
                    done[name] = value
                    return value
    materialize(self)
    return getattr(self, name)


_MISSING = object()


def _lazy_getattr(self: Any, name: str) -> Any:
    # Reached when _lazy_getattribute found no such attribute: say so (the model's own
    # __getattr__ would read private state, validating the whole object for nothing).
    raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def lazy_class(model: type[T]) -> type[T]:
    """The lazy subclass of ``model`` (made once; no schema of its own is built: it is
    never validated into, only turned into ``model``)."""
    cls = _LAZY.get(model)
    if cls is None:
        # type.__new__ skips pydantic's class construction: everything pydantic needs is
        # inherited, and the instance layout is the model's, so __class__ can be swapped.
        cls = type.__new__(ModelMetaclass, model.__name__, (model,), {
            "__getattribute__": _lazy_getattribute,
            "__getattr__": _lazy_getattr,
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
