"""policy/v1 PodDisruptionBudget and the Eviction a pods/eviction request carries
(k8s.io/api/policy/v1/types.go)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.base import Int32, Model
from api.models.core import IntOrString, TypedObject
from api.models.meta import Condition, LabelSelector, ObjectMeta

# The cause type of a 429 from pods/eviction (policyv1.DisruptionBudgetCause).
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"
DISRUPTION_ALLOWED_CONDITION = "DisruptionAllowed"
SYNC_FAILED_REASON = "SyncFailed"
SUFFICIENT_PODS_REASON = "SufficientPods"
INSUFFICIENT_PODS_REASON = "InsufficientPods"
IF_HEALTHY_BUDGET = "IfHealthyBudget"
ALWAYS_ALLOW = "AlwaysAllow"


class PodDisruptionBudgetSpec(Model):
    min_available: IntOrString | None = None
    selector: LabelSelector | None = None
    max_unavailable: IntOrString | None = None
    unhealthy_pod_eviction_policy: str | None = None


class PodDisruptionBudgetStatus(Model):
    observed_generation: int | None = None
    disrupted_pods: dict[str, str] | None = None
    disruptions_allowed: Int32 = 0
    current_healthy: Int32 = 0
    desired_healthy: Int32 = 0
    expected_pods: Int32 = 0
    conditions: list[Condition] | None = None


class PodDisruptionBudget(TypedObject):
    api_version: str | None = "policy/v1"
    kind: str | None = "PodDisruptionBudget"
    spec: PodDisruptionBudgetSpec = Field(default_factory=PodDisruptionBudgetSpec)
    status: PodDisruptionBudgetStatus | None = None


class Eviction(Model):
    """Not stored: the body of a POST to pods/{name}/eviction."""

    api_version: str | None = "policy/v1"
    kind: str | None = "Eviction"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    delete_options: dict[str, Any] | None = None
