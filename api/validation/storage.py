"""PersistentVolume, PersistentVolumeClaim (pkg/apis/core/validation: ValidatePersistentVolume,
ValidatePersistentVolumeClaim and their updates) and StorageClass
(pkg/apis/storage/validation: ValidateStorageClass, ValidateStorageClassUpdate)."""

from __future__ import annotations

from typing import Any

from api.names import is_dns1123_subdomain, is_qualified_name
from api.quantity import QuantityError, parse_quantity
from api.validation.field import (
    JSON,
    Errs,
    as_dict,
    as_list,
    as_str,
    at_index,
    at_key,
    child,
    forbidden,
    invalid,
    not_supported,
    one_of,
    required,
)
from api.validation.meta import validate_label_selector
from api.volumes import VOLUME_SOURCES

ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
RECLAIM_POLICIES = ["Delete", "Recycle", "Retain"]
SC_RECLAIM_POLICIES = ["Delete", "Retain"]
VOLUME_MODES = ["Block", "Filesystem"]
BINDING_MODES = ["Immediate", "WaitForFirstConsumer"]
_NOT_POSITIVE = "must be greater than zero"
_IMMUTABLE = "field is immutable"
_PVC_SPEC_IMMUTABLE = ("spec is immutable after creation except resources.requests and "
                       "volumeAttributesClassName for bound claims")
# Persistent volume sources: the pod volume sources minus the pod-only ones, plus local.
_POD_ONLY = ("emptyDir", "gitRepo", "secret", "persistentVolumeClaim", "downwardAPI",
             "configMap", "projected", "ephemeral", "image")
PV_SOURCES = (*(s for s in VOLUME_SOURCES if s not in _POD_ONLY), "local")


def _access_modes(errs: Errs, modes: Any, path: str, what: str) -> None:
    ms = as_list(errs, modes, path)
    if not ms:
        errs.append(required(path, what))
    for m in ms:
        if m not in ACCESS_MODES:
            errs.append(not_supported(path, m, ACCESS_MODES))
    if "ReadWriteOncePod" in ms and len(ms) > 1:
        errs.append(forbidden(path, "may not use ReadWriteOncePod with other access modes"))


def _positive(errs: Errs, raw: Any, path: str) -> None:
    try:
        q = parse_quantity(raw)
    except (QuantityError, TypeError, ValueError):
        errs.append(invalid(path, raw, "must be a valid quantity"))
        return
    if q <= 0:
        errs.append(invalid(path, raw, _NOT_POSITIVE))


def _class_name(errs: Errs, value: Any, path: str) -> None:
    name = as_str(errs, value, path)
    if name:
        for m in is_dns1123_subdomain(name):
            errs.append(invalid(path, name, m))


def validate_persistent_volume(obj: JSON) -> Errs:
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec") or {}, "spec")
    _access_modes(errs, spec.get("accessModes"), child("spec", "accessModes"),
                  "must specify at least 1 access mode")
    cpath = child("spec", "capacity")
    cap = as_dict(errs, spec.get("capacity"), cpath)
    if not cap:
        errs.append(required(cpath))
    elif set(cap) != {"storage"}:
        errs.append(not_supported(cpath, sorted(cap), ["storage"]))
    else:
        _positive(errs, cap["storage"], at_key(cpath, "storage"))
    one_of(errs, spec.get("persistentVolumeReclaimPolicy"),
           child("spec", "persistentVolumeReclaimPolicy"), RECLAIM_POLICIES)
    _class_name(errs, spec.get("storageClassName"), child("spec", "storageClassName"))
    one_of(errs, spec.get("volumeMode"), child("spec", "volumeMode"), VOLUME_MODES)
    sources = [s for s in PV_SOURCES if spec.get(s) is not None]
    if not sources:
        errs.append(required("spec", "must specify a volume type"))
    for s in sources[1:]:
        errs.append(forbidden(child("spec", s), "may not specify more than 1 volume type"))
    for s in sources[:1]:
        sd = as_dict(errs, spec.get(s), child("spec", s))
        if s in ("hostPath", "local"):
            p = as_str(errs, sd.get("path"), child("spec", s, "path"))
            if not p:
                errs.append(required(child("spec", s, "path")))
            elif ".." in p.split("/"):
                errs.append(invalid(child("spec", s, "path"), p, "must not contain '..'"))
        if s == "local" and not spec.get("nodeAffinity"):
            errs.append(required(child("spec", "nodeAffinity"), "Local volume requires node affinity"))
    na = spec.get("nodeAffinity")
    if na is not None:
        req = as_dict(errs, na, child("spec", "nodeAffinity")).get("required")
        if req is not None:
            tpath = child("spec", "nodeAffinity", "required", "nodeSelectorTerms")
            terms = as_list(errs, as_dict(errs, req, child("spec", "nodeAffinity", "required"))
                            .get("nodeSelectorTerms"), tpath)
            if not terms:
                errs.append(required(tpath, "must have at least one node selector term"))
    return errs


def validate_persistent_volume_update(old: JSON, new: JSON) -> Errs:
    errs: Errs = []
    ospec, nspec = old.get("spec") or {}, new.get("spec") or {}
    if not isinstance(ospec, dict) or not isinstance(nspec, dict):
        return errs
    if any(ospec.get(s) != nspec.get(s) for s in PV_SOURCES):
        errs.append(forbidden(child("spec", "persistentvolumesource"),
                              "spec.persistentvolumesource is immutable after creation"))
    if (ospec.get("volumeMode") or "Filesystem") != (nspec.get("volumeMode") or "Filesystem"):
        errs.append(invalid(child("spec", "volumeMode"), nspec.get("volumeMode"), _IMMUTABLE))
    if ospec.get("nodeAffinity") is not None and \
            ospec.get("nodeAffinity") != nspec.get("nodeAffinity"):
        errs.append(invalid(child("spec", "nodeAffinity"), nspec.get("nodeAffinity"),
                            _IMMUTABLE))
    return errs


def validate_pvc_spec(errs: Errs, spec: JSON, path: str) -> None:
    _access_modes(errs, spec.get("accessModes"), child(path, "accessModes"),
                  "at least 1 access mode is required")
    if spec.get("selector") is not None:
        errs += validate_label_selector(spec.get("selector"), child(path, "selector"))
    res = as_dict(errs, spec.get("resources") or {}, child(path, "resources"))
    reqs = as_dict(errs, res.get("requests") or {}, child(path, "resources", "requests"))
    spath = at_key(child(path, "resources"), "storage")
    if "storage" not in reqs:
        errs.append(required(spath))
    else:
        _positive(errs, reqs["storage"], spath)
    _class_name(errs, spec.get("storageClassName"), child(path, "storageClassName"))
    one_of(errs, spec.get("volumeMode"), child(path, "volumeMode"), VOLUME_MODES)


def validate_persistent_volume_claim(obj: JSON) -> Errs:
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec") or {}, "spec")
    validate_pvc_spec(errs, spec, "spec")
    return errs


def _storage(spec: JSON) -> Any:
    return ((spec.get("resources") or {}).get("requests") or {}).get("storage")


def validate_persistent_volume_claim_update(old: JSON, new: JSON) -> Errs:
    errs: Errs = []
    ospec, nspec = old.get("spec") or {}, new.get("spec") or {}
    if not isinstance(ospec, dict) or not isinstance(nspec, dict):
        return errs
    oc, nc = dict(ospec), dict(nspec)
    if not ospec.get("volumeName"):
        oc["volumeName"] = nspec.get("volumeName")
    if oc.get("storageClassName") is None:
        oc["storageClassName"] = nspec.get("storageClassName")
    bound = (new.get("status") or {}).get("phase") == "Bound"
    if bound:
        for c in (oc, nc):
            c.pop("volumeAttributesClassName", None)
            res = dict(c.get("resources") or {})
            reqs = dict(res.get("requests") or {})
            reqs.pop("storage", None)
            res["requests"] = reqs
            c["resources"] = res
    if {k: v for k, v in oc.items() if v is not None} != \
            {k: v for k, v in nc.items() if v is not None}:
        errs.append(forbidden("spec", _PVC_SPEC_IMMUTABLE))
    elif bound:
        try:
            if parse_quantity(_storage(nspec)) < parse_quantity(_storage(ospec)):
                errs.append(forbidden(child("spec", "resources", "requests", "storage"),
                                      "field can not be less than previous value"))
        except (QuantityError, TypeError, ValueError):
            pass
    return errs


def validate_storage_class(obj: JSON) -> Errs:
    errs: Errs = []
    prov = as_str(errs, obj.get("provisioner"), "provisioner")
    if not prov:
        errs.append(required("provisioner"))
    else:
        for m in is_qualified_name(prov.lower()):
            errs.append(invalid("provisioner", prov, m))
    params = as_dict(errs, obj.get("parameters") or {}, "parameters")
    for k in params:
        if not k:
            errs.append(invalid("parameters", k, "field can not be empty."))
    one_of(errs, obj.get("reclaimPolicy"), "reclaimPolicy", SC_RECLAIM_POLICIES)
    mode = obj.get("volumeBindingMode")
    if mode is None:
        errs.append(required("volumeBindingMode"))
    elif mode not in BINDING_MODES:
        errs.append(not_supported("volumeBindingMode", mode, BINDING_MODES))
    for i, o in enumerate(as_list(errs, obj.get("mountOptions"), "mountOptions")):
        if not o:
            errs.append(required(at_index("mountOptions", i)))
    return errs


def validate_storage_class_update(old: JSON, new: JSON) -> Errs:
    errs: Errs = []
    if (old.get("parameters") or {}) != (new.get("parameters") or {}):
        errs.append(forbidden("parameters", "updates to parameters are forbidden."))
    if old.get("provisioner") != new.get("provisioner"):
        errs.append(forbidden("provisioner", "updates to provisioner are forbidden."))
    if old.get("reclaimPolicy") != new.get("reclaimPolicy"):
        errs.append(forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
    if old.get("volumeBindingMode") != new.get("volumeBindingMode"):
        errs.append(invalid("volumeBindingMode", new.get("volumeBindingMode"), _IMMUTABLE))
    return errs
