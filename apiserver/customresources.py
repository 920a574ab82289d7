"""The custom resources this API server serves now, by group/version and plural.

Filled from the CustomResourceDefinitions (apiserver/crd/controller.py) and read on
every request that no built-in kind matches: the routes, requestinfo (Tables,
metrics), discovery and OpenAPI. Imports only api/, so every server module may use it.
"""

from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass, field
from typing import Any

from api.models.apiextensions import CustomResource
from api.resources import ResourceInfo

JSONDict = dict[str, Any]


@dataclass(frozen=True)
class CustomResourceInfo(ResourceInfo):
    """One served version of a CRD's kind."""

    crd_name: str = ""
    storage_version: str = ""
    #: the version's openAPIV3Schema, its printer columns, its scale subresource
    schema: JSONDict = field(default_factory=dict, compare=False, hash=False)
    printer_columns: tuple[JSONDict, ...] = field(default=(), compare=False, hash=False)
    scale: JSONDict | None = field(default=None, compare=False, hash=False)

    @property
    def storage_resource(self) -> str:
        return f"{self.group}/{self.plural}"

    @property
    def is_storage_version(self) -> bool:
        return self.version == self.storage_version


_by_gv: dict[tuple[str, str], dict[str, CustomResourceInfo]] = {}
_by_crd: dict[str, tuple[CustomResourceInfo, ...]] = {}
_storage: dict[str, CustomResourceInfo] = {}
# Bumped on every change, so derived documents (OpenAPI) know when to rebuild.
generation = 0


def kinds(group: str, version: str) -> dict[str, CustomResourceInfo] | None:
    return _by_gv.get((group, version))


def lookup(group: str, version: str, plural: str) -> CustomResourceInfo | None:
    k = _by_gv.get((group, version))
    return k.get(plural) if k is not None else None


def of_crd(crd_name: str) -> tuple[CustomResourceInfo, ...]:
    return _by_crd.get(crd_name, ())


def storage_of(crd_name: str) -> CustomResourceInfo | None:
    """The CRD's storage version (served or not): what the registry reads and writes."""
    return _storage.get(crd_name)


def groups() -> set[str]:
    return {g for g, _ in _by_gv}


_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority_key(v: str) -> tuple[int, int, int, str]:
    """Kubernetes' version priority: GA before beta before alpha, higher numbers first,
    anything else last in alphabetical order."""
    m = _VERSION.match(v)
    if m is None:
        return (3, 0, 0, v)
    level = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    return (level, -int(m.group(1)), -int(m.group(3) or 0), v)


def all_infos() -> list[CustomResourceInfo]:
    return [i for infos in _by_crd.values() for i in infos]


def install(crd_name: str, infos: tuple[CustomResourceInfo, ...],
            storage: CustomResourceInfo) -> None:
    """Serve exactly ``infos`` for the CRD (replacing what it served before)."""
    global generation
    remove(crd_name)
    _by_crd[crd_name] = infos
    _storage[crd_name] = storage
    for i in infos:
        _by_gv.setdefault((i.group, i.version), {})[i.plural] = i
    generation += 1


def remove(crd_name: str) -> None:
    global generation
    old = _by_crd.pop(crd_name, ())
    _storage.pop(crd_name, None)
    for i in old:
        k = _by_gv.get((i.group, i.version))
        if k is not None and k.get(i.plural) is i:
            del k[i.plural]
            if not k:
                del _by_gv[(i.group, i.version)]
    if old:
        generation += 1


def infos_from_crd(crd: JSONDict) -> tuple[tuple[CustomResourceInfo, ...],
                                           CustomResourceInfo | None]:
    """The served versions of a CRD as ResourceInfos, and its storage version's (names
    from status.acceptedNames once accepted, else from the spec)."""
    spec = crd.get("spec") or {}
    status = crd.get("status") or {}
    names = status.get("acceptedNames") or {}
    if not names.get("plural"):
        if any(c.get("type") == "NamesAccepted" and c.get("status") == "False"
               for c in status.get("conditions") or [] if isinstance(c, dict)):
            return (), None  # its names conflict with another CRD's: not served
        names = spec.get("names") or {}
    versions = [v for v in spec.get("versions") or [] if isinstance(v, dict)]
    storage = next((v.get("name", "") for v in versions if v.get("storage")), "")
    out = []
    storage_info = None
    for v in versions:
        sub = v.get("subresources") or {}
        subs = tuple(s for s in ("status", "scale") if sub.get(s) is not None)
        kind = names.get("kind", "")
        info = CustomResourceInfo(
            kind=kind, plural=names.get("plural", ""),
            singular=names.get("singular") or kind.lower(),
            group=spec.get("group", ""), version=v.get("name", ""),
            namespaced=spec.get("scope") == "Namespaced", model=CustomResource,
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()), subresources=subs,
            list_kind=names.get("listKind") or kind + "List",
            crd_name=(crd.get("metadata") or {}).get("name", ""), storage_version=storage,
            schema=(v.get("schema") or {}).get("openAPIV3Schema") or {},
            printer_columns=tuple(v.get("additionalPrinterColumns") or ()),
            scale=sub.get("scale"))
        if v.get("name") == storage:
            storage_info = info
        if v.get("served"):
            out.append(info)
    return tuple(out), storage_info


#: The version a request addressed (its schema defaults, prunes and validates the object);
#: unset: the storage version.
request_version: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "crd_request_version", default=None)

#: CRDs being deleted (their objects are going): no creates, as for a terminating CRD.
terminating: set[str] = set()


# ---- JSONPath of printer columns (simple paths, as Kubernetes supports there) ----------

_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\?\(@\.([\w.]+)\s*==\s*['\"]([^'\"]*)['\"]\)\]"
                   r"|\['([^']+)'\]")


def json_path(obj: Any, path: str) -> Any:
    """The first value ``path`` (``.spec.x``, ``.a[0].b``, ``.c[?(@.type=="Ready")].s``)
    selects in ``obj``, or None."""
    p = path.strip()
    if p.startswith("{") and p.endswith("}"):
        p = p[1:-1]
    if not p.startswith((".", "[")):
        p = "." + p
    cur: Any = obj
    pos = 0
    while pos < len(p):
        m = _STEP.match(p, pos)
        if m is None:
            return None
        pos = m.end()
        key, idx, fkey, fval, qkey = m.groups()
        if key is not None or qkey is not None:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(key if key is not None else qkey)
        elif idx is not None:
            if not isinstance(cur, list) or int(idx) >= len(cur):
                return None
            cur = cur[int(idx)]
        else:
            if not isinstance(cur, list):
                return None
            found = None
            for item in cur:
                v: Any = item
                for part in fkey.split("."):
                    v = v.get(part) if isinstance(v, dict) else None
                if v is not None and str(v) == fval:
                    found = item
                    break
            cur = found
        if cur is None:
            return None
    return cur
