"""networking.k8s.io/v1 NetworkPolicy (k8s.io/api/networking/v1 types.go): which pods may
talk to which, enforced by the policy agent (proxy/netpol)."""

from __future__ import annotations

from pydantic import Field

from api.base import Int32, Model
from api.models.core import IntOrString, TypedObject
from api.models.meta import LabelSelector

POLICY_TYPE_INGRESS = "Ingress"
POLICY_TYPE_EGRESS = "Egress"


class IPBlock(Model):
    cidr: str
    except_: list[str] | None = Field(default=None, alias="except")


class NetworkPolicyPeer(Model):
    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


class NetworkPolicyPort(Model):
    protocol: str | None = None
    port: IntOrString | None = None
    end_port: Int32 | None = None


class NetworkPolicyIngressRule(Model):
    ports: list[NetworkPolicyPort] | None = None
    from_: list[NetworkPolicyPeer] | None = Field(default=None, alias="from")


class NetworkPolicyEgressRule(Model):
    ports: list[NetworkPolicyPort] | None = None
    to: list[NetworkPolicyPeer] | None = None


class NetworkPolicySpec(Model):
    pod_selector: LabelSelector = Field(default_factory=LabelSelector)
    ingress: list[NetworkPolicyIngressRule] | None = None
    egress: list[NetworkPolicyEgressRule] | None = None
    policy_types: list[str] | None = None


class NetworkPolicy(TypedObject):
    api_version: str | None = "networking.k8s.io/v1"
    kind: str | None = "NetworkPolicy"
    spec: NetworkPolicySpec = Field(default_factory=NetworkPolicySpec)
