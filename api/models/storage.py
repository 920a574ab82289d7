"""Storage (k8s.io/api core/v1 PersistentVolume and PersistentVolumeClaim, storage/v1
StorageClass): the fields this project reads; the rest travels as unknown fields."""

from __future__ import annotations

from api.base import Model
from api.models.core import (
    HostPathVolumeSource,
    NodeSelector,
    ObjectReference,
    ResourceList,
    TypedObject,
)
from api.models.meta import LabelSelector


class LocalVolumeSource(Model):
    path: str
    fs_type: str | None = None


class VolumeNodeAffinity(Model):
    required: NodeSelector | None = None


class PersistentVolumeSpec(Model):
    capacity: ResourceList | None = None
    access_modes: list[str] | None = None
    claim_ref: ObjectReference | None = None
    persistent_volume_reclaim_policy: str | None = None
    storage_class_name: str | None = None
    mount_options: list[str] | None = None
    volume_mode: str | None = None
    node_affinity: VolumeNodeAffinity | None = None
    host_path: HostPathVolumeSource | None = None
    local: LocalVolumeSource | None = None
    volume_attributes_class_name: str | None = None


class PersistentVolumeStatus(Model):
    phase: str | None = None
    message: str | None = None
    reason: str | None = None
    last_phase_transition_time: str | None = None


class PersistentVolume(TypedObject):
    api_version: str | None = "v1"
    kind: str | None = "PersistentVolume"
    spec: PersistentVolumeSpec | None = None
    status: PersistentVolumeStatus | None = None


class VolumeResourceRequirements(Model):
    limits: ResourceList | None = None
    requests: ResourceList | None = None


class PersistentVolumeClaimSpec(Model):
    access_modes: list[str] | None = None
    selector: LabelSelector | None = None
    resources: VolumeResourceRequirements | None = None
    volume_name: str | None = None
    storage_class_name: str | None = None
    volume_mode: str | None = None
    volume_attributes_class_name: str | None = None


class PersistentVolumeClaimStatus(Model):
    phase: str | None = None
    access_modes: list[str] | None = None
    capacity: ResourceList | None = None


class PersistentVolumeClaim(TypedObject):
    api_version: str | None = "v1"
    kind: str | None = "PersistentVolumeClaim"
    spec: PersistentVolumeClaimSpec | None = None
    status: PersistentVolumeClaimStatus | None = None


class StorageClass(TypedObject):
    api_version: str | None = "storage.k8s.io/v1"
    kind: str | None = "StorageClass"
    provisioner: str = ""
    parameters: dict[str, str] | None = None
    reclaim_policy: str | None = None
    mount_options: list[str] | None = None
    allow_volume_expansion: bool | None = None
    volume_binding_mode: str | None = None
