"""What the PV controller, the scheduler's volume binding filter and the kubelet share
about PersistentVolumes and claims: their class, the well-known annotations, whether a
volume fits a claim (pkg/controller/volume/persistentvolume/util: FindMatchingVolume,
CheckVolumeModeMismatches, CheckNodeAffinity) and where a claim's volume lives."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from api.labels import SelectorError, from_label_selector
from api.models import NodeSelectorTerm
from api.nodeaffinity import terms_match
from api.quantity import QuantityError, parse_quantity

JSON = Mapping[str, Any]

BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
ANN_STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
ANN_BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
PV_PROTECTION = "kubernetes.io/pv-protection"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
LOCAL_PATH_PROVISIONER = "minik8s.io/local-path"
HOSTNAME_LABEL = "kubernetes.io/hostname"


def _get(obj: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(p)
    return obj


def volume_class(obj: JSON) -> str:
    """GetPersistentVolumeClass / GetPersistentVolumeClaimClass (the beta annotation
    first; "" when unset)."""
    ann = _get(obj, "metadata", "annotations") or {}
    if isinstance(ann, Mapping) and BETA_CLASS_ANNOTATION in ann:
        return str(ann[BETA_CLASS_ANNOTATION])
    return str(_get(obj, "spec", "storageClassName") or "")


def _storage(v: Any) -> Fraction:
    try:
        return parse_quantity(v) if v is not None else Fraction(0)
    except (QuantityError, TypeError, ValueError):
        return Fraction(0)


def claim_request(pvc: JSON) -> Fraction:
    return _storage(_get(pvc, "spec", "resources", "requests", "storage"))


def volume_capacity(pv: JSON) -> Fraction:
    return _storage(_get(pv, "spec", "capacity", "storage"))


def node_affinity_allows(pv: JSON, node_name: str, node_labels: Mapping[str, str]) -> bool:
    """CheckNodeAffinity: a volume without required node affinity fits every node."""
    terms = _get(pv, "spec", "nodeAffinity", "required", "nodeSelectorTerms")
    if not terms:
        return True
    try:
        parsed = [NodeSelectorTerm.model_validate(t) for t in terms]
    except ValueError:
        return False
    return terms_match(parsed, node_labels, node_name)


def claim_ref_is(pv: JSON, pvc: JSON) -> bool:
    """The volume's claimRef names this claim (the uid too, once the binder set it)."""
    ref = _get(pv, "spec", "claimRef")
    if not isinstance(ref, Mapping):
        return False
    md = pvc.get("metadata") or {}
    if ref.get("name") != md.get("name") or ref.get("namespace") != md.get("namespace"):
        return False
    return not ref.get("uid") or ref.get("uid") == md.get("uid")


def volume_fits(pv: JSON, pvc: JSON) -> bool:
    """The static checks of FindMatchingVolume: class, access modes, volume mode, size,
    selector, and the volume free (or pre-bound to this claim), not being deleted."""
    if _get(pv, "metadata", "deletionTimestamp"):
        return False
    ref = _get(pv, "spec", "claimRef")
    if ref and not claim_ref_is(pv, pvc):
        return False
    if volume_class(pv) != volume_class(pvc):
        return False
    want = set(_get(pvc, "spec", "accessModes") or ())
    if not want <= set(_get(pv, "spec", "accessModes") or ()):
        return False
    if (_get(pv, "spec", "volumeMode") or "Filesystem") != \
            (_get(pvc, "spec", "volumeMode") or "Filesystem"):
        return False
    if volume_capacity(pv) < claim_request(pvc):
        return False
    sel = _get(pvc, "spec", "selector")
    if sel is not None:
        try:
            if not from_label_selector(sel).matches(_get(pv, "metadata", "labels") or {}):
                return False
        except SelectorError:
            return False
    return True


def best_match(volumes: Iterable[JSON], pvc: JSON, node: tuple[str, Mapping[str, str]] |
               None = None) -> JSON | None:
    """The smallest fitting volume (a volume pre-bound to the claim first); with ``node``
    only volumes whose node affinity allows that node."""
    best: JSON | None = None
    for pv in volumes:
        if not volume_fits(pv, pvc):
            continue
        if node is not None and not node_affinity_allows(pv, node[0], node[1]):
            continue
        if _get(pv, "spec", "claimRef"):
            return pv
        if best is None or volume_capacity(pv) < volume_capacity(best):
            best = pv
    return best


def volume_host_path(pv: JSON) -> str | None:
    """Where a hostPath or local volume lives on its node."""
    for src in ("hostPath", "local"):
        p = _get(pv, "spec", src, "path")
        if isinstance(p, str) and p:
            return p
    return None
