"""apps/v1 kinds: Deployment, ReplicaSet, DaemonSet, StatefulSet, ControllerRevision, and
autoscaling/v1 Scale."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.base import Int32, Model
from api.models.core import IntOrString, PodTemplateSpec, TypedObject
from api.models.meta import Condition, LabelSelector


class RollingUpdateDeployment(Model):
    max_surge: IntOrString | None = None
    max_unavailable: IntOrString | None = None


class DeploymentStrategy(Model):
    type: str | None = None
    rolling_update: RollingUpdateDeployment | None = None


class DeploymentSpec(Model):
    replicas: Int32 | None = None
    selector: LabelSelector
    template: PodTemplateSpec
    strategy: DeploymentStrategy | None = None
    min_ready_seconds: Int32 | None = None
    revision_history_limit: Int32 | None = None
    paused: bool | None = None
    progress_deadline_seconds: Int32 | None = None


class DeploymentStatus(Model):
    observed_generation: int | None = None
    replicas: Int32 | None = None
    updated_replicas: Int32 | None = None
    ready_replicas: Int32 | None = None
    available_replicas: Int32 | None = None
    unavailable_replicas: Int32 | None = None
    conditions: list[Condition] | None = None
    collision_count: Int32 | None = None


class Deployment(TypedObject):
    api_version: str | None = "apps/v1"
    kind: str | None = "Deployment"
    spec: DeploymentSpec
    status: DeploymentStatus | None = None


class ReplicaSetSpec(Model):
    replicas: Int32 | None = None
    selector: LabelSelector
    template: PodTemplateSpec | None = None
    min_ready_seconds: Int32 | None = None


class ReplicaSetStatus(Model):
    replicas: Int32 = 0
    fully_labeled_replicas: Int32 | None = None
    ready_replicas: Int32 | None = None
    available_replicas: Int32 | None = None
    observed_generation: int | None = None
    conditions: list[Condition] | None = None


class ReplicaSet(TypedObject):
    api_version: str | None = "apps/v1"
    kind: str | None = "ReplicaSet"
    spec: ReplicaSetSpec
    status: ReplicaSetStatus | None = None


class ScaleSpec(Model):
    replicas: Int32 | None = None


class ScaleStatus(Model):
    replicas: Int32 = 0
    selector: str | None = None


class Scale(TypedObject):
    api_version: str | None = "autoscaling/v1"
    kind: str | None = "Scale"
    spec: ScaleSpec = Field(default_factory=ScaleSpec)
    status: ScaleStatus | None = None


class RollingUpdateDaemonSet(Model):
    max_unavailable: IntOrString | None = None
    max_surge: IntOrString | None = None


class DaemonSetUpdateStrategy(Model):
    type: str | None = None
    rolling_update: RollingUpdateDaemonSet | None = None


class DaemonSetSpec(Model):
    selector: LabelSelector
    template: PodTemplateSpec
    update_strategy: DaemonSetUpdateStrategy | None = None
    min_ready_seconds: Int32 | None = None
    revision_history_limit: Int32 | None = None


class DaemonSetStatus(Model):
    current_number_scheduled: Int32 = 0
    number_misscheduled: Int32 = 0
    desired_number_scheduled: Int32 = 0
    number_ready: Int32 = 0
    observed_generation: int | None = None
    updated_number_scheduled: Int32 | None = None
    number_available: Int32 | None = None
    number_unavailable: Int32 | None = None
    collision_count: Int32 | None = None
    conditions: list[Condition] | None = None


class DaemonSet(TypedObject):
    api_version: str | None = "apps/v1"
    kind: str | None = "DaemonSet"
    spec: DaemonSetSpec
    status: DaemonSetStatus | None = None


class ControllerRevision(TypedObject):
    """An immutable snapshot of a controller's template (``data``) at ``revision``."""

    api_version: str | None = "apps/v1"
    kind: str | None = "ControllerRevision"
    data: dict[str, Any] | None = None
    revision: int = 0


class RollingUpdateStatefulSetStrategy(Model):
    partition: Int32 | None = None
    max_unavailable: IntOrString | None = None


class StatefulSetUpdateStrategy(Model):
    type: str | None = None
    rolling_update: RollingUpdateStatefulSetStrategy | None = None


class StatefulSetPersistentVolumeClaimRetentionPolicy(Model):
    when_deleted: str | None = None
    when_scaled: str | None = None


class StatefulSetOrdinals(Model):
    start: Int32 = 0


class StatefulSetSpec(Model):
    replicas: Int32 | None = None
    selector: LabelSelector
    template: PodTemplateSpec
    # PersistentVolumeClaims as wire dicts (the claim's model lives with the storage kinds).
    volume_claim_templates: list[dict[str, Any]] | None = None
    service_name: str | None = None
    pod_management_policy: str | None = None
    update_strategy: StatefulSetUpdateStrategy | None = None
    revision_history_limit: Int32 | None = None
    min_ready_seconds: Int32 | None = None
    persistent_volume_claim_retention_policy: (
        StatefulSetPersistentVolumeClaimRetentionPolicy | None) = None
    ordinals: StatefulSetOrdinals | None = None


class StatefulSetStatus(Model):
    observed_generation: int | None = None
    replicas: Int32 = 0
    ready_replicas: Int32 | None = None
    current_replicas: Int32 | None = None
    updated_replicas: Int32 | None = None
    current_revision: str | None = None
    update_revision: str | None = None
    collision_count: Int32 | None = None
    conditions: list[Condition] | None = None
    available_replicas: Int32 | None = None


class StatefulSet(TypedObject):
    api_version: str | None = "apps/v1"
    kind: str | None = "StatefulSet"
    spec: StatefulSetSpec
    status: StatefulSetStatus | None = None
