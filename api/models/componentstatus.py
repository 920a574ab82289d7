"""v1 ComponentStatus (deprecated in Kubernetes 1.19, still in many tutorials): the health of
etcd, the scheduler and the controller-manager as the API server sees it. Served read-only."""

from __future__ import annotations

from api.base import Model
from api.models.core import TypedObject


class ComponentCondition(Model):
    type: str | None = None  # "Healthy"
    status: str | None = None  # "True", "False", "Unknown"
    message: str | None = None
    error: str | None = None


class ComponentStatus(TypedObject):
    api_version: str | None = "v1"
    kind: str | None = "ComponentStatus"
    conditions: list[ComponentCondition] | None = None
