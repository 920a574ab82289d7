"""apiextensions.k8s.io/v1 CustomResourceDefinition validation, after
staging/src/k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation.

The openAPIV3Schema itself is checked by ``api.structural.validate_crd_schema`` when
that module is present (structural schema rules, defaults, CEL); this module checks
everything around it: names, group, scope, versions (exactly one storage version, the
``None`` conversion only), subresources, printer columns, stored versions.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from api.names import is_dns1035_label, is_dns1123_subdomain
from api.validation.field import (
    JSON,
    Errs,
    FieldError,
    as_dict,
    as_list,
    at_index,
    child,
    forbidden,
    invalid,
    not_supported,
    required,
)

SCOPES = ["Cluster", "Namespaced"]
COLUMN_TYPES = ["integer", "number", "string", "boolean", "date"]
COLUMN_FORMATS = ["int32", "int64", "float", "double", "byte", "date", "date-time",
                  "password"]

SchemaCheck = Callable[[dict[str, Any], str], list[FieldError]]


def _schema_check() -> SchemaCheck | None:
    """The structural-schema validator (api.structural), when it is installed."""
    try:
        mod = importlib.import_module("api.structural")
    except ImportError:
        return None
    fn = getattr(mod, "validate_crd_schema", None)
    return fn if callable(fn) else None


def _d(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ""


def validate_names(names: Any, path: str) -> Errs:
    """ValidateCustomResourceDefinitionNames (spec.names and status.acceptedNames)."""
    errs: Errs = []
    n = as_dict(errs, names, path)
    for key in ("plural", "singular"):
        v = _str(n.get(key))
        if v:
            msgs = is_dns1035_label(v)
            if msgs:
                errs.append(invalid(child(path, key), v, ",".join(msgs)))
    for key in ("kind", "listKind"):
        v = _str(n.get(key))
        if v:
            msgs = is_dns1035_label(v.lower())
            if msgs:
                errs.append(invalid(child(path, key), v, "may have mixed case, but should "
                                    "otherwise match: " + ",".join(msgs)))
    for key in ("shortNames", "categories"):
        for i, s in enumerate(as_list(errs, n.get(key), child(path, key))):
            msgs = is_dns1035_label(_str(s))
            if msgs:
                errs.append(invalid(at_index(child(path, key), i), s, ",".join(msgs)))
    kind = _str(n.get("kind"))
    if kind and kind == n.get("listKind"):
        errs.append(invalid(child(path, "listKind"), kind, "kind and listKind may not be the "
                            "same"))
    return errs


def _validate_subresources(sub: Any, path: str) -> Errs:
    errs: Errs = []
    if sub is None:
        return errs
    s = as_dict(errs, sub, path)
    scale = s.get("scale")
    if scale is None:
        return errs
    sc = as_dict(errs, scale, child(path, "scale"))
    sp = child(path, "scale")
    spec_path = _str(sc.get("specReplicasPath"))
    if not spec_path:
        errs.append(required(child(sp, "specReplicasPath"), ""))
    elif not spec_path.startswith(".spec."):
        errs.append(invalid(child(sp, "specReplicasPath"), spec_path,
                            "should be a json path under .spec"))
    status_path = _str(sc.get("statusReplicasPath"))
    if not status_path:
        errs.append(required(child(sp, "statusReplicasPath"), ""))
    elif not status_path.startswith(".status."):
        errs.append(invalid(child(sp, "statusReplicasPath"), status_path,
                            "should be a json path under .status"))
    sel = sc.get("labelSelectorPath")
    if sel is not None and not (_str(sel).startswith(".spec.")
                                or _str(sel).startswith(".status.")):
        errs.append(invalid(child(sp, "labelSelectorPath"), sel,
                            "should be a json path under either .spec or .status"))
    return errs


def _validate_columns(cols: Any, path: str) -> Errs:
    errs: Errs = []
    for i, c in enumerate(as_list(errs, cols, path)):
        p = at_index(path, i)
        col = as_dict(errs, c, p)
        if not _str(col.get("name")):
            errs.append(required(child(p, "name"), ""))
        t = col.get("type")
        if not t:
            errs.append(required(child(p, "type"), ""))
        elif t not in COLUMN_TYPES:
            errs.append(not_supported(child(p, "type"), t, COLUMN_TYPES))
        f = col.get("format")
        if f and f not in COLUMN_FORMATS:
            errs.append(not_supported(child(p, "format"), f, COLUMN_FORMATS))
        jp = _str(col.get("jsonPath"))
        if not jp:
            errs.append(required(child(p, "jsonPath"), ""))
    return errs


def _validate_conversion(conv: Any, path: str) -> Errs:
    errs: Errs = []
    if conv is None:
        return errs
    c = as_dict(errs, conv, path)
    strategy = c.get("strategy")
    if strategy in (None, "None"):
        if c.get("webhook") is not None:
            errs.append(forbidden(child(path, "webhook"),
                                  "should not be set when strategy is not set to Webhook"))
    elif strategy == "Webhook":
        errs.append(not_supported(child(path, "strategy"), strategy, ["None"]))
        errs[-1].message += " (conversion webhooks are not supported by this server)"
    else:
        errs.append(not_supported(child(path, "strategy"), strategy, ["None", "Webhook"]))
    return errs


def validate_crd_spec(spec: Any, path: str = "spec") -> Errs:
    errs: Errs = []
    s = as_dict(errs, spec, path)
    group = _str(s.get("group"))
    if not group:
        errs.append(required(child(path, "group"), ""))
    elif msgs := is_dns1123_subdomain(group):
        errs.append(invalid(child(path, "group"), group, ",".join(msgs)))
    elif len(group.split(".")) < 2:
        errs.append(invalid(child(path, "group"), group,
                            "should be a domain with at least one dot"))
    scope = s.get("scope")
    if not scope:
        errs.append(required(child(path, "scope"), ""))
    elif scope not in SCOPES:
        errs.append(not_supported(child(path, "scope"), scope, SCOPES))
    vpath = child(path, "versions")
    versions = as_list(errs, s.get("versions"), vpath)
    if not versions:
        errs.append(required(vpath, "must have exactly one version marked as storage version"))
    storage = 0
    seen: set[str] = set()
    unique = True
    check_schema = _schema_check()
    for i, v in enumerate(versions):
        p = at_index(vpath, i)
        ver = as_dict(errs, v, p)
        name = _str(ver.get("name"))
        if ver.get("storage") is True:
            storage += 1
        if name in seen:
            unique = False
        seen.add(name)
        if msgs := is_dns1035_label(name):
            errs.append(invalid(child(p, "name"), name, ",".join(msgs)))
        schema = as_dict(errs, ver.get("schema"), child(p, "schema")).get("openAPIV3Schema")
        spath = child(p, "schema", "openAPIV3Schema")
        if schema is None:
            errs.append(required(spath, "schemas are required"))
        elif not isinstance(schema, dict):
            errs.append(invalid(spath, schema, "must be an object"))
        else:
            sub = ver.get("subresources")
            if isinstance(sub, dict) and sub.get("status") is not None:
                extra = sorted(k for k in schema if k not in (
                    "properties", "required", "type", "description",
                    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-validations"))
                if extra:
                    errs.append(invalid(spath, "", 'must only have "properties", "required" '
                                        'or "description" at the root if the status '
                                        "subresource is enabled"))
            if check_schema is not None:
                errs += check_schema(schema, spath)
            elif schema.get("type") not in (None, "object"):
                errs.append(invalid(child(spath, "type"), schema.get("type"),
                                    "must be object at the root"))
        errs += _validate_subresources(ver.get("subresources"), child(p, "subresources"))
        errs += _validate_columns(ver.get("additionalPrinterColumns"),
                                  child(p, "additionalPrinterColumns"))
    if not unique:
        errs.append(invalid(vpath, versions, "must contain unique version names"))
    if versions and storage != 1:
        errs.append(invalid(vpath, versions,
                            "must have exactly one version marked as storage version"))
    npath = child(path, "names")
    names = as_dict(errs, s.get("names"), npath)
    for key in ("plural", "singular", "kind", "listKind"):
        if not _str(names.get(key)):
            errs.append(required(child(npath, key), ""))
    errs += validate_names(names, npath)
    errs += _validate_conversion(s.get("conversion"), child(path, "conversion"))
    return errs


def validate_crd(obj: JSON) -> Errs:
    """ValidateCustomResourceDefinition (metadata name rule, spec, status names)."""
    errs: Errs = []
    spec = _d(obj.get("spec"))
    names = _d(spec.get("names"))
    name = _str(_d(obj.get("metadata")).get("name"))
    want = f"{_str(names.get('plural'))}.{_str(spec.get('group'))}"
    if name and name != want:
        errs.append(invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    errs += validate_crd_spec(obj.get("spec"))
    status = obj.get("status")
    if isinstance(status, dict):
        errs += validate_names(status.get("acceptedNames"), "status.acceptedNames")
    return errs


def _established(obj: JSON) -> bool:
    status = _d(obj.get("status"))
    for c in status.get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == "Established":
            return bool(c.get("status") == "True")
    return False


def validate_crd_update(old: JSON, new: JSON) -> Errs:
    """ValidateCustomResourceDefinitionUpdate's update-only rules."""
    errs: Errs = []
    os_ = _d(old.get("spec"))
    ns_ = _d(new.get("spec"))
    on = _d(os_.get("names"))
    nn = _d(ns_.get("names"))

    def immutable(path: str, a: Any, b: Any) -> None:
        if a != b:
            errs.append(invalid(path, b, "field is immutable"))

    if _established(old):
        immutable("spec.scope", os_.get("scope"), ns_.get("scope"))
        immutable("spec.names.kind", on.get("kind"), nn.get("kind"))
    immutable("spec.group", os_.get("group"), ns_.get("group"))
    immutable("spec.names.plural", on.get("plural"), nn.get("plural"))
    status = _d(new.get("status"))
    served = {v.get("name") for v in ns_.get("versions") or [] if isinstance(v, dict)}
    for i, v in enumerate(status.get("storedVersions") or []):
        if v not in served:
            errs.append(invalid(at_index("status.storedVersions", i), v,
                                "must appear in spec.versions"))
    return errs
