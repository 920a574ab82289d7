"""authorization.k8s.io/v1 (k8s.io/api/authorization/v1): the access reviews, asked by
a create and answered in status, never stored."""

from __future__ import annotations

from pydantic import Field

from api.base import Model
from api.models.core import TypedObject

GROUP = "authorization.k8s.io"


class ResourceAttributes(Model):
    namespace: str | None = None
    verb: str | None = None
    group: str | None = None
    version: str | None = None
    resource: str | None = None
    subresource: str | None = None
    name: str | None = None


class NonResourceAttributes(Model):
    path: str | None = None
    verb: str | None = None


class SubjectAccessReviewSpec(Model):
    resource_attributes: ResourceAttributes | None = None
    non_resource_attributes: NonResourceAttributes | None = None
    user: str | None = None
    groups: list[str] | None = None
    extra: dict[str, list[str]] | None = None
    uid: str | None = None


class SelfSubjectAccessReviewSpec(Model):
    resource_attributes: ResourceAttributes | None = None
    non_resource_attributes: NonResourceAttributes | None = None


class SubjectAccessReviewStatus(Model):
    allowed: bool = False
    denied: bool | None = None
    reason: str | None = None
    evaluation_error: str | None = None


class SubjectAccessReview(TypedObject):
    api_version: str | None = f"{GROUP}/v1"
    kind: str | None = "SubjectAccessReview"
    spec: SubjectAccessReviewSpec = Field(default_factory=SubjectAccessReviewSpec)
    status: SubjectAccessReviewStatus | None = None


class LocalSubjectAccessReview(TypedObject):
    api_version: str | None = f"{GROUP}/v1"
    kind: str | None = "LocalSubjectAccessReview"
    spec: SubjectAccessReviewSpec = Field(default_factory=SubjectAccessReviewSpec)
    status: SubjectAccessReviewStatus | None = None


class SelfSubjectAccessReview(TypedObject):
    api_version: str | None = f"{GROUP}/v1"
    kind: str | None = "SelfSubjectAccessReview"
    spec: SelfSubjectAccessReviewSpec = Field(default_factory=SelfSubjectAccessReviewSpec)
    status: SubjectAccessReviewStatus | None = None


class SelfSubjectRulesReviewSpec(Model):
    namespace: str | None = None


class ResourceRule(Model):
    verbs: list[str] = Field(default_factory=list)
    api_groups: list[str] | None = None
    resources: list[str] | None = None
    resource_names: list[str] | None = None


class NonResourceRule(Model):
    verbs: list[str] = Field(default_factory=list)
    non_resource_urls: list[str] | None = Field(default=None, alias="nonResourceURLs")


class SubjectRulesReviewStatus(Model):
    resource_rules: list[ResourceRule] = Field(default_factory=list)
    non_resource_rules: list[NonResourceRule] = Field(default_factory=list)
    incomplete: bool = False
    evaluation_error: str | None = None


class SelfSubjectRulesReview(TypedObject):
    api_version: str | None = f"{GROUP}/v1"
    kind: str | None = "SelfSubjectRulesReview"
    spec: SelfSubjectRulesReviewSpec = Field(default_factory=SelfSubjectRulesReviewSpec)
    status: SubjectRulesReviewStatus | None = None
