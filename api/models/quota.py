"""ResourceQuota and LimitRange (core/v1), as k8s.io/api defines them."""

from __future__ import annotations

from api.base import Model
from api.models.core import ResourceList, TypedObject


class ScopedResourceSelectorRequirement(Model):
    scope_name: str
    operator: str
    values: list[str] | None = None


class ScopeSelector(Model):
    match_expressions: list[ScopedResourceSelectorRequirement] | None = None


class ResourceQuotaSpec(Model):
    hard: ResourceList | None = None
    scopes: list[str] | None = None
    scope_selector: ScopeSelector | None = None


class ResourceQuotaStatus(Model):
    hard: ResourceList | None = None
    used: ResourceList | None = None


class ResourceQuota(TypedObject):
    api_version: str | None = "v1"
    kind: str | None = "ResourceQuota"
    spec: ResourceQuotaSpec | None = None
    status: ResourceQuotaStatus | None = None


class LimitRangeItem(Model):
    type: str
    max: ResourceList | None = None
    min: ResourceList | None = None
    default: ResourceList | None = None
    default_request: ResourceList | None = None
    max_limit_request_ratio: ResourceList | None = None


class LimitRangeSpec(Model):
    limits: list[LimitRangeItem]


class LimitRange(TypedObject):
    api_version: str | None = "v1"
    kind: str | None = "LimitRange"
    spec: LimitRangeSpec | None = None
