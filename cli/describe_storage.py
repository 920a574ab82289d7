"""``minictl describe`` of PersistentVolume, PersistentVolumeClaim and StorageClass, as
kubectl's PersistentVolumeDescriber, PersistentVolumeClaimDescriber (``Used By``: the
pods of the namespace with a volume of the claim) and StorageClassDescriber."""

from __future__ import annotations

from typing import Any

from api.models.core import Pod, TypedObject
from api.models.storage import PersistentVolume, PersistentVolumeClaim, StorageClass
from api.quantity import QuantityError, canonical
from api.storage import volume_class
from api.timeutil import since
from cli.context import State
from cli.describe import (
    EXTRA_DESCRIBERS,
    NONE,
    Writer,
    _annotations,
    _with_events,
    events_for,
)
from client.errors import ApiError

_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
          ("ReadWriteOncePod", "RWOP"))


def access_modes(modes: Any) -> str:
    ms = modes if isinstance(modes, list) else []
    return ",".join(short for full, short in _MODES if full in ms)


def _q(v: Any) -> str:
    if v is None:
        return "0"
    try:
        return canonical(v)
    except (QuantityError, TypeError, ValueError):
        return str(v)


def _finalizers(obj: TypedObject) -> str:
    return "[" + " ".join(obj.metadata.finalizers or []) + "]"


def _status(obj: TypedObject, phase: Any) -> str:
    if obj.metadata.deletion_timestamp:
        return f"Terminating (lasts {since(obj.metadata.deletion_timestamp)})"
    return str(phase or "")


def _term(term: dict[str, Any]) -> str:
    """printNodeSelectorTermsMultilineWithIndent's one term."""
    parts = []
    for e in [*(term.get("matchExpressions") or []), *(term.get("matchFields") or [])]:
        op = str(e.get("operator") or "").lower()
        vals = e.get("values") or []
        parts.append(f"{e.get('key')} {op} [{', '.join(vals)}]" if vals or op in ("in", "notin")
                     else f"{e.get('key')} {op}")
    return ", ".join(parts) or NONE


def describe_pv(st: State, obj: TypedObject) -> str:
    assert isinstance(obj, PersistentVolume)
    d = obj.to_dict()
    spec = d.get("spec") or {}
    status = d.get("status") or {}
    w = Writer()
    w.kv(0, "Name", obj.metadata.name)
    w.map(0, "Labels", obj.metadata.labels)
    _annotations(w, obj)
    w.kv(0, "Finalizers", _finalizers(obj))
    w.kv(0, "StorageClass", volume_class(d))
    w.kv(0, "Status", _status(obj, status.get("phase")))
    ref = spec.get("claimRef")
    w.kv(0, "Claim", f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else "")
    w.kv(0, "Reclaim Policy", spec.get("persistentVolumeReclaimPolicy") or "")
    w.kv(0, "Access Modes", access_modes(spec.get("accessModes")))
    if spec.get("volumeMode"):
        w.kv(0, "VolumeMode", spec["volumeMode"])
    w.kv(0, "Capacity", _q((spec.get("capacity") or {}).get("storage")))
    na = spec.get("nodeAffinity")
    if not na:
        w.kv(0, "Node Affinity", NONE)
    else:
        w.kv(0, "Node Affinity", "")
        terms = (na.get("required") or {}).get("nodeSelectorTerms") or []
        if not terms:
            w.kv(1, "Required Terms", NONE)
        else:
            w.kv(1, "Required Terms", "")
            for i, t in enumerate(terms):
                w.kv(2, f"Term {i}", _term(t))
    w.kv(0, "Message", status.get("message") or "")
    w.kv(0, "Source")
    if spec.get("hostPath") is not None:
        hp = spec["hostPath"]
        w.kv(2, "Type", "HostPath (bare host directory volume)")
        w.kv(2, "Path", hp.get("path") or "")
        w.kv(2, "HostPathType", hp.get("type") or "")
    elif spec.get("local") is not None:
        w.kv(2, "Type", "LocalVolume (a persistent volume backed by local storage on a node)")
        w.kv(2, "Path", spec["local"].get("path") or "")
    return _with_events(w, events_for(st, obj))


def _users(st: State, ns: str, claim: str) -> list[str]:
    try:
        pods = st.client.list_all(Pod, ns).items
    except ApiError:
        return []
    out = []
    for p in pods:
        for v in p.spec.volumes or []:
            src = (v.model_extra or {}).get("persistentVolumeClaim")
            if isinstance(src, dict) and src.get("claimName") == claim:
                out.append(p.metadata.name or "")
                break
    return sorted(out)


def describe_pvc(st: State, obj: TypedObject) -> str:
    assert isinstance(obj, PersistentVolumeClaim)
    d = obj.to_dict()
    spec = d.get("spec") or {}
    status = d.get("status") or {}
    w = Writer()
    w.kv(0, "Name", obj.metadata.name)
    w.kv(0, "Namespace", obj.metadata.namespace)
    w.kv(0, "StorageClass", volume_class(d))
    w.kv(0, "Status", _status(obj, status.get("phase")))
    w.kv(0, "Volume", spec.get("volumeName") or "")
    w.map(0, "Labels", obj.metadata.labels)
    _annotations(w, obj)
    w.kv(0, "Finalizers", _finalizers(obj))
    capacity = modes = ""
    if spec.get("volumeName"):
        modes = access_modes(status.get("accessModes"))
        capacity = _q((status.get("capacity") or {}).get("storage"))
    w.kv(0, "Capacity", capacity)
    w.kv(0, "Access Modes", modes)
    if spec.get("volumeMode"):
        w.kv(0, "VolumeMode", spec["volumeMode"])
    users = _users(st, obj.metadata.namespace or "", obj.metadata.name or "")
    w.kv(0, "Used By", "\n".join(users) if users else NONE)
    return _with_events(w, events_for(st, obj))


def describe_sc(st: State, obj: TypedObject) -> str:
    assert isinstance(obj, StorageClass)
    d = obj.to_dict()
    ann = obj.metadata.annotations or {}
    default = ann.get("storageclass.kubernetes.io/is-default-class") == "true" or \
        ann.get("storageclass.beta.kubernetes.io/is-default-class") == "true"
    w = Writer()
    w.kv(0, "Name", obj.metadata.name)
    w.kv(0, "IsDefaultClass", "Yes" if default else "No")
    w.kv(0, "Annotations", ",".join(f"{k}={v}" for k, v in sorted(ann.items())) or NONE)
    w.kv(0, "Provisioner", d.get("provisioner") or "")
    params = d.get("parameters") or {}
    w.kv(0, "Parameters", ",".join(f"{k}={v}" for k, v in sorted(params.items())) or NONE)
    ave = d.get("allowVolumeExpansion")
    w.kv(0, "AllowVolumeExpansion", "<unset>" if ave is None else str(bool(ave)))
    opts = d.get("mountOptions") or []
    if not opts:
        w.kv(0, "MountOptions", NONE)
    else:
        w.kv(0, "MountOptions")
        for o in opts:
            w.raw(f"  {o}")
    if d.get("reclaimPolicy"):
        w.kv(0, "ReclaimPolicy", d["reclaimPolicy"])
    if d.get("volumeBindingMode"):
        w.kv(0, "VolumeBindingMode", d["volumeBindingMode"])
    return _with_events(w, events_for(st, obj))


EXTRA_DESCRIBERS.update({PersistentVolume: describe_pv, PersistentVolumeClaim: describe_pvc,
                         StorageClass: describe_sc})
