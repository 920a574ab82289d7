"""What server-side apply needs to know of a type: which nodes are maps (and whether
atomic), which lists are atomic, sets or maps keyed by which fields.

Built-in kinds use the fields of ``builtin_types`` (Kubernetes' own, through the
official client's generated models) with the list and struct semantics Kubernetes'
OpenAPI declares (``x-kubernetes-list-type``/``-list-map-keys``/``-map-type``, or
``patchMergeKey`` lists, which structured-merge-diff treats as maps); a list not named
here is atomic. A custom resource uses its structural schema's ``list_type`` /
``map_type`` (a ``SchemaLike``); a kind with neither is deduced from its values (maps
granular, lists atomic), as structured-merge-diff's deduced type.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Protocol

import orjson

from api.resources import ResourceInfo

SCALAR, MAP, LIST, ANY = "scalar", "map", "list", "any"

# Lists that merge item by item: "<Type>.<field>" -> keys (x-kubernetes-list-map-keys, or
# the patchMergeKey). Lists named "conditions" whose items have a "type" are keyed by it.
LIST_MAP_KEYS: dict[str, tuple[str, ...]] = {
    "V1PodSpec.containers": ("name",),
    "V1PodSpec.initContainers": ("name",),
    "V1PodSpec.ephemeralContainers": ("name",),
    "V1PodSpec.volumes": ("name",),
    "V1PodSpec.imagePullSecrets": ("name",),
    "V1PodSpec.hostAliases": ("ip",),
    "V1PodSpec.topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "V1PodSpec.resourceClaims": ("name",),
    "V1PodSpec.schedulingGates": ("name",),
    "V1Container.ports": ("containerPort", "protocol"),
    "V1Container.env": ("name",),
    "V1Container.volumeMounts": ("mountPath",),
    "V1Container.volumeDevices": ("devicePath",),
    "V1EphemeralContainer.ports": ("containerPort", "protocol"),
    "V1EphemeralContainer.env": ("name",),
    "V1EphemeralContainer.volumeMounts": ("mountPath",),
    "V1EphemeralContainer.volumeDevices": ("devicePath",),
    "V1ResourceRequirements.claims": ("name",),
    "V1ObjectMeta.ownerReferences": ("uid",),
    "V1ServiceSpec.ports": ("port", "protocol"),
    "V1PodStatus.podIPs": ("ip",),
    "V1PodStatus.hostIPs": ("ip",),
    "V1PodStatus.resourceClaimStatuses": ("name",),
    "V1NodeStatus.addresses": ("type",),
    "V1ServiceAccount.secrets": ("name",),
    "V1ValidatingWebhookConfiguration.webhooks": ("name",),
    "V1MutatingWebhookConfiguration.webhooks": ("name",),
}
# Lists of scalars that are sets (x-kubernetes-list-type: set, or patchStrategy merge).
LIST_SETS = frozenset({"V1ObjectMeta.finalizers", "V1NodeSpec.podCIDRs"})
# Lists whose items have a "type" but that Kubernetes declares atomic.
ATOMIC_LISTS = frozenset({"V1JobStatus.conditions", "V1Container.resizePolicy"})
# Structs replaced as a whole (+structType=atomic) and maps (+mapType=atomic).
ATOMIC_STRUCTS = frozenset({
    "V1LabelSelector", "V1NodeSelector", "V1NodeSelectorTerm", "V1TopologySelectorTerm",
    "V1LocalObjectReference", "V1ObjectReference", "V1ConfigMapKeySelector",
    "V1SecretKeySelector", "V1ObjectFieldSelector", "V1ResourceFieldSelector",
    "V1TypedLocalObjectReference", "V1TypedObjectReference", "V1ConfigMapEnvSource",
    "V1SecretEnvSource", "V1SecretReference",
})
ATOMIC_MAPS = frozenset({"V1PodSpec.nodeSelector"})
# Defaults of list-map keys a client may leave out (the OpenAPI default of the key).
KEY_DEFAULTS: dict[str, Any] = {"protocol": "TCP"}


class Type:
    """One node's type. ``kind``: scalar, map (a struct when ``fields`` is set), list,
    or any (deduced from the value)."""

    __slots__ = ("_elem", "_elem_code", "_fields", "atomic", "keys", "kind", "list_type",
                 "name")

    def __init__(self, kind: str, *, name: str = "", atomic: bool = False,
                 list_type: str = "atomic", keys: tuple[str, ...] = (),
                 fields: dict[str, str] | None = None, elem_code: str = "o") -> None:
        self.kind = kind
        self.name = name
        self.atomic = atomic
        self.list_type = list_type
        self.keys = keys
        self._fields = fields
        self._elem_code = elem_code
        self._elem: Type | None = None

    @property
    def declared(self) -> dict[str, str] | None:
        """A struct's declared fields (name -> code); None for a map."""
        return self._fields

    def field(self, name: str) -> Type | None:
        """A child's type; None for a field a struct does not declare."""
        if self._fields is not None:
            code = self._fields.get(name)
            if code is None:
                return None
            return _child(self.name, name, code)
        return self.elem()

    def elem(self) -> Type:
        if self._elem is None:
            self._elem = _resolve(self._elem_code)
        return self._elem


SCALAR_T = Type(SCALAR)
ANY_T = Type(ANY)


@cache
def _types() -> dict[str, dict[str, str]]:
    from apiserver.fieldmanager.builtin_types import DATA

    data: dict[str, dict[str, str]] = orjson.loads(DATA)
    return data


@cache
def _resolve(code: str) -> Type:
    if code == "s":
        return SCALAR_T
    if code == "o":
        return ANY_T
    if code.startswith("{"):
        return Type(MAP, elem_code=code[1:])
    if code.startswith("["):
        return Type(LIST, elem_code=code[1:])
    fields = _types().get(code)
    if fields is None:
        return ANY_T
    return Type(MAP, name=code, fields=fields, atomic=code in ATOMIC_STRUCTS)


@cache
def _child(parent: str, name: str, code: str) -> Type:
    where = f"{parent}.{name}"
    if code.startswith("["):
        elem = code[1:]
        keys = LIST_MAP_KEYS.get(where)
        if keys is not None:
            return Type(LIST, list_type="map", keys=keys, elem_code=elem)
        if where in LIST_SETS:
            return Type(LIST, list_type="set", elem_code=elem)
        if name == "conditions" and where not in ATOMIC_LISTS \
                and "type" in (_types().get(elem) or {}):
            return Type(LIST, list_type="map", keys=("type",), elem_code=elem)
        return Type(LIST, elem_code=elem)
    if code.startswith("{") and where in ATOMIC_MAPS:
        return Type(MAP, atomic=True, elem_code=code[1:])
    return _resolve(code)


def _group_prefix(group: str) -> str:
    return (group.split(".")[0] or "core").capitalize()


@cache
def builtin_root(group: str, version: str, kind: str) -> Type | None:
    """The type of a built-in kind (None when Kubernetes has no such kind)."""
    types = _types()
    v = version[:1].upper() + version[1:]
    for name in (f"{_group_prefix(group)}{v}{kind}", f"{v}{kind}"):
        if name in types:
            return _resolve(name)
    return None


class SchemaLike(Protocol):
    """A custom resource's compiled schema, as api.structural.Structural exposes it."""

    def list_type(self, path: tuple[str, ...]) -> tuple[str, list[str]] | None: ...

    def map_type(self, path: tuple[str, ...]) -> str | None: ...


class CustomType(Type):
    """A node of a custom resource: deduced from the value, with the list and map types
    its schema declares (``path``: the field names from the root, list items left out;
    ``item``: the node is an item of the list at ``path``)."""

    __slots__ = ("_declared", "item", "path", "schema")

    def __init__(self, schema: SchemaLike, path: tuple[str, ...], item: bool = False) -> None:
        lt = schema.list_type(path) if path and not item else None
        mt = schema.map_type(path) if path and not item else None
        if lt is not None:
            super().__init__(LIST, list_type=lt[0], keys=tuple(lt[1]))
        else:
            super().__init__(ANY, atomic=mt == "atomic")
        self.schema = schema
        self.path = path
        self.item = item
        self._declared: dict[str, str] | bool | None = False

    @property
    def declared(self) -> dict[str, str] | None:
        """The schema's properties here (struct fields); None for a map (additional
        properties or unknown fields kept)."""
        if self._declared is False:
            self._declared = None
            node_of = getattr(self.schema, "_node", None)
            n = node_of(self.path) if callable(node_of) else None
            if n is not None and self.item:
                n = getattr(n, "items", None)
            props = getattr(n, "properties", None) if n is not None else None
            if props:
                self._declared = dict.fromkeys(props, "o")
        return self._declared if isinstance(self._declared, dict) else None

    def field(self, name: str) -> Type | None:
        if not self.path and name == "metadata":
            return _resolve("V1ObjectMeta")
        return _custom(self.schema, (*self.path, name))

    def elem(self) -> Type:
        return _custom(self.schema, self.path, item=True)


_custom_cache: dict[tuple[int, tuple[str, ...], bool], CustomType] = {}


def _custom(schema: SchemaLike, path: tuple[str, ...], item: bool = False) -> CustomType:
    k = (id(schema), path, item)
    t = _custom_cache.get(k)
    if t is None or t.schema is not schema:
        if len(_custom_cache) > 50_000:
            _custom_cache.clear()
        t = _custom_cache[k] = CustomType(schema, path, item)
    return t


# Custom kinds' schemas: (group, version, kind) -> schema, set by whoever serves them.
_custom_schemas: dict[tuple[str, str, str], SchemaLike | None] = {}


def register(group: str, version: str, kind: str, schema: SchemaLike | None) -> None:
    """Serve apply for a custom kind with ``schema``'s list/map types (None: deduced)."""
    _custom_schemas[(group, version, kind)] = schema


def unregister(group: str, version: str, kind: str) -> None:
    _custom_schemas.pop((group, version, kind), None)


def builtin_group(group: str) -> bool:
    """A group of Kubernetes' own kinds (custom resources live in other groups)."""
    return "." not in group or group.endswith(".k8s.io") or group == "k8s.io"


def root_type(info: ResourceInfo, custom: SchemaLike | None = None) -> Type:
    """The type of ``info``'s objects: its custom schema (``custom``, or registered),
    built-in, or deduced."""
    if custom is not None:
        return _custom(custom, ())
    key = (info.group, info.version, info.kind)
    if key in _custom_schemas:
        schema = _custom_schemas[key]
        return _custom(schema if schema is not None else _NO_SCHEMA, ())
    if builtin_group(info.group):
        return builtin_root(*key) or _custom(_NO_SCHEMA, ())
    return _custom(_NO_SCHEMA, ())


class _NoSchema:
    def list_type(self, path: tuple[str, ...]) -> tuple[str, list[str]] | None:
        return None

    def map_type(self, path: tuple[str, ...]) -> str | None:
        return None


def is_builtin(info: ResourceInfo) -> bool:
    return (info.group, info.version, info.kind) not in _custom_schemas and \
        builtin_group(info.group) and \
        builtin_root(info.group, info.version, info.kind) is not None


_NO_SCHEMA = _NoSchema()
