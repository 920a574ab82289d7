"""coordination.k8s.io/v1 Lease: leader election and node heartbeats."""

from __future__ import annotations

from pydantic import Field

from api.base import Int32, Model
from api.models.core import TypedObject


class LeaseSpec(Model):
    holder_identity: str | None = None
    lease_duration_seconds: Int32 | None = None
    acquire_time: str | None = None
    renew_time: str | None = None
    lease_transitions: Int32 | None = None


class Lease(TypedObject):
    api_version: str | None = "coordination.k8s.io/v1"
    kind: str | None = "Lease"
    spec: LeaseSpec = Field(default_factory=LeaseSpec)
