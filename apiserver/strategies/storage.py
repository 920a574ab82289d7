"""PersistentVolumes and PersistentVolumeClaims (pkg/registry/core/persistentvolume{,claim}:
status starts Pending and is written through /status; defaults from
pkg/apis/core/v1/defaults.go) and StorageClasses (pkg/registry/storage/storageclass;
reclaimPolicy Delete and volumeBindingMode Immediate by default); Tables as printers.go's
printPersistentVolume, printPersistentVolumeClaim and printStorageClass."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.base import dig
from api.quantity import QuantityError, canonical
from api.storage import volume_class
from api.timeutil import now as now_str
from apiserver.strategies.base import (
    AGE,
    NAME,
    JSONDict,
    Row,
    Strategy,
    age_of,
    column,
    name_of,
)

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
BETA_DEFAULT_CLASS_ANNOTATION = "storageclass.beta.kubernetes.io/is-default-class"
_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
          ("ReadWriteOncePod", "RWOP"))


def access_modes_string(modes: Any) -> str:
    """helper.GetAccessModesAsString: RWO,ROX,RWX,RWOP in that order."""
    ms = modes if isinstance(modes, list) else []
    return ",".join(short for full, short in _MODES if full in ms)


def _quantity(q: Any) -> str:
    if q is None:
        return "0"
    try:
        return canonical(q)
    except (QuantityError, TypeError, ValueError):
        return str(q)


def is_default_class(obj: JSONDict) -> bool:
    ann = dig(obj, "metadata", "annotations") or {}
    return isinstance(ann, dict) and (ann.get(DEFAULT_CLASS_ANNOTATION) == "true"
                                      or ann.get(BETA_DEFAULT_CLASS_ANNOTATION) == "true")


def _spec(obj: JSONDict) -> JSONDict:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    return spec


class PersistentVolumeStrategy(Strategy):
    status_subresource = True
    return_deleted_object = True
    columns = [
        NAME,
        column("Capacity", description="capacity is the description of the persistent "
                                       "volume's resources and capacity."),
        column("Access Modes", description="accessModes contains all ways the volume can "
                                           "be mounted."),
        column("Reclaim Policy", description="persistentVolumeReclaimPolicy defines what "
                                             "happens to a persistent volume when released "
                                             "from its claim."),
        column("Status", description="phase indicates if a volume is available, bound to a "
                                     "claim, or released by a claim."),
        column("Claim", description="claimRef is part of a bi-directional binding between "
                                    "PersistentVolume and PersistentVolumeClaim."),
        column("StorageClass", description="StorageClass of the volume"),
        column("VolumeAttributesClass", description="VolumeAttributesClass of the volume"),
        column("Reason", description="reason is a brief CamelCase string that describes any "
                                     "failure and is meant for machine parsing and tidy "
                                     "display in the CLI."),
        AGE,
        column("VolumeMode", priority=1, description="volumeMode defines if a volume is "
                                                     "intended to be used with a formatted "
                                                     "filesystem or to remain in raw block "
                                                     "state."),
    ]

    def default(self, obj: JSONDict) -> None:
        super().default(obj)
        spec = _spec(obj)
        spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
        spec.setdefault("volumeMode", "Filesystem")

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"phase": "Pending", "lastPhaseTransitionTime": now_str()}

    def prepare_for_status_update(self, new_status: Any, old: JSONDict) -> JSONDict:
        new = super().prepare_for_status_update(new_status, old)
        # The PersistentVolumeLastPhaseTransitionTime rule: a phase change stamps the time.
        if isinstance(new_status, dict) and new_status.get("phase") != \
                dig(old, "status", "phase") and \
                new_status.get("lastPhaseTransitionTime") == \
                dig(old, "status", "lastPhaseTransitionTime"):
            new["status"] = {**new_status, "lastPhaseTransitionTime": now_str()}
        return new

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        spec = obj.get("spec") or {}
        ref = spec.get("claimRef") or {}
        claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else ""
        phase = dig(obj, "status", "phase") or ""
        if dig(obj, "metadata", "deletionTimestamp"):
            phase = "Terminating"
        size = _quantity((spec.get("capacity") or {}).get("storage"))
        return [name_of(obj), size, access_modes_string(spec.get("accessModes")),
                spec.get("persistentVolumeReclaimPolicy") or "", phase, claim,
                volume_class(obj), spec.get("volumeAttributesClassName") or "<unset>",
                dig(obj, "status", "reason") or "", age_of(obj, now),
                spec.get("volumeMode") or "<unset>"], []


class PersistentVolumeClaimStrategy(Strategy):
    status_subresource = True
    return_deleted_object = True
    columns = [
        NAME,
        column("Status", description="phase represents the current phase of "
                                     "PersistentVolumeClaim."),
        column("Volume", description="volumeName is the binding reference to the "
                                     "PersistentVolume backing this claim."),
        column("Capacity", description="capacity represents the actual resources of the "
                                       "underlying volume."),
        column("Access Modes", description="accessModes contains the actual access modes "
                                           "the volume backing the PVC has."),
        column("StorageClass", description="StorageClass of the pvc"),
        column("VolumeAttributesClass", description="VolumeAttributesClass of the pvc"),
        AGE,
        column("VolumeMode", priority=1, description="volumeMode defines what type of "
                                                     "volume is required by the claim."),
    ]

    def default(self, obj: JSONDict) -> None:
        super().default(obj)
        _spec(obj).setdefault("volumeMode", "Filesystem")

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"phase": "Pending"}

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        spec = obj.get("spec") or {}
        phase = dig(obj, "status", "phase") or ""
        if dig(obj, "metadata", "deletionTimestamp"):
            phase = "Terminating"
        capacity = modes = ""
        if spec.get("volumeName"):
            modes = access_modes_string(dig(obj, "status", "accessModes"))
            capacity = _quantity((dig(obj, "status", "capacity") or {}).get("storage"))
        vac = spec.get("volumeAttributesClassName") or "<unset>"
        return [name_of(obj), phase, spec.get("volumeName") or "", capacity, modes,
                volume_class(obj), vac, age_of(obj, now),
                spec.get("volumeMode") or "<unset>"], []


class StorageClassStrategy(Strategy):
    spec_and_status = False
    return_deleted_object = True
    columns = [
        NAME,
        column("Provisioner", description="provisioner indicates the type of the "
                                          "provisioner."),
        column("ReclaimPolicy", description="reclaimPolicy controls the reclaimPolicy for "
                                            "dynamically provisioned PersistentVolumes of "
                                            "this storage class."),
        column("VolumeBindingMode", description="volumeBindingMode indicates how "
                                                "PersistentVolumeClaims should be "
                                                "provisioned and bound."),
        column("AllowVolumeExpansion", description="allowVolumeExpansion shows whether the "
                                                   "storage class allow volume expand."),
        AGE,
    ]

    def default(self, obj: JSONDict) -> None:
        super().default(obj)
        obj.setdefault("reclaimPolicy", "Delete")
        obj.setdefault("volumeBindingMode", "Immediate")

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        name = name_of(obj)
        if is_default_class(obj):
            name += " (default)"
        return [name, obj.get("provisioner") or "", obj.get("reclaimPolicy") or "Delete",
                obj.get("volumeBindingMode") or "Immediate",
                bool(obj.get("allowVolumeExpansion")), age_of(obj, now)], []
