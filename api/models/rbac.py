"""rbac.authorization.k8s.io/v1 (k8s.io/api/rbac/v1): Roles and ClusterRoles hold
PolicyRules; RoleBindings and ClusterRoleBindings grant a role to subjects."""

from __future__ import annotations

from pydantic import Field

from api.base import Model
from api.models.core import TypedObject
from api.models.meta import LabelSelector

GROUP = "rbac.authorization.k8s.io"


class PolicyRule(Model):
    verbs: list[str] | None = None
    api_groups: list[str] | None = None
    resources: list[str] | None = None
    resource_names: list[str] | None = None
    non_resource_urls: list[str] | None = Field(default=None, alias="nonResourceURLs")


class AggregationRule(Model):
    cluster_role_selectors: list[LabelSelector] | None = None


class Role(TypedObject):
    api_version: str | None = f"{GROUP}/v1"
    kind: str | None = "Role"
    rules: list[PolicyRule] | None = None


class ClusterRole(TypedObject):
    api_version: str | None = f"{GROUP}/v1"
    kind: str | None = "ClusterRole"
    rules: list[PolicyRule] | None = None
    aggregation_rule: AggregationRule | None = None


class Subject(Model):
    kind: str | None = None
    api_group: str | None = None
    name: str | None = None
    namespace: str | None = None


class RoleRef(Model):
    api_group: str | None = None
    kind: str | None = None
    name: str | None = None


class RoleBinding(TypedObject):
    api_version: str | None = f"{GROUP}/v1"
    kind: str | None = "RoleBinding"
    subjects: list[Subject] | None = None
    role_ref: RoleRef | None = None


class ClusterRoleBinding(TypedObject):
    api_version: str | None = f"{GROUP}/v1"
    kind: str | None = "ClusterRoleBinding"
    subjects: list[Subject] | None = None
    role_ref: RoleRef | None = None
