"""networking.k8s.io/v1 Ingress and IngressClass (k8s.io/api/networking/v1/types.go)."""

from __future__ import annotations

from pydantic import Field

from api.base import Int32, Model
from api.models.core import TypedObject

# pathType values (networking.PathType).
PATH_TYPE_EXACT = "Exact"
PATH_TYPE_PREFIX = "Prefix"
PATH_TYPE_IMPLEMENTATION_SPECIFIC = "ImplementationSpecific"
PATH_TYPES = (PATH_TYPE_EXACT, PATH_TYPE_PREFIX, PATH_TYPE_IMPLEMENTATION_SPECIFIC)

# An IngressClass with this annotation "true" is given to Ingresses created without a
# class (the DefaultIngressClass admission plugin).
DEFAULT_INGRESS_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
# The deprecated annotation that named an Ingress's class before spec.ingressClassName.
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"


class ServiceBackendPort(Model):
    name: str | None = None
    number: Int32 | None = None


class IngressServiceBackend(Model):
    name: str = ""
    port: ServiceBackendPort | None = None


class TypedLocalObjectReference(Model):
    api_group: str | None = None
    kind: str = ""
    name: str = ""


class IngressBackend(Model):
    service: IngressServiceBackend | None = None
    resource: TypedLocalObjectReference | None = None


class HTTPIngressPath(Model):
    path: str | None = None
    path_type: str | None = None
    backend: IngressBackend = Field(default_factory=IngressBackend)


class HTTPIngressRuleValue(Model):
    paths: list[HTTPIngressPath] | None = None


class IngressRule(Model):
    host: str | None = None
    http: HTTPIngressRuleValue | None = None


class IngressTLS(Model):
    hosts: list[str] | None = None
    secret_name: str | None = None


class IngressSpec(Model):
    ingress_class_name: str | None = None
    default_backend: IngressBackend | None = None
    tls: list[IngressTLS] | None = None
    rules: list[IngressRule] | None = None


class IngressPortStatus(Model):
    port: Int32
    protocol: str | None = None
    error: str | None = None


class IngressLoadBalancerIngress(Model):
    ip: str | None = None
    hostname: str | None = None
    ports: list[IngressPortStatus] | None = None


class IngressLoadBalancerStatus(Model):
    ingress: list[IngressLoadBalancerIngress] | None = None


class IngressStatus(Model):
    load_balancer: IngressLoadBalancerStatus | None = None


class Ingress(TypedObject):
    api_version: str | None = "networking.k8s.io/v1"
    kind: str | None = "Ingress"
    spec: IngressSpec = Field(default_factory=IngressSpec)
    status: IngressStatus | None = None


class IngressClassParametersReference(Model):
    api_group: str | None = None
    kind: str = ""
    name: str = ""
    scope: str | None = None
    namespace: str | None = None


class IngressClassSpec(Model):
    controller: str | None = None
    parameters: IngressClassParametersReference | None = None


class IngressClass(TypedObject):
    api_version: str | None = "networking.k8s.io/v1"
    kind: str | None = "IngressClass"
    spec: IngressClassSpec = Field(default_factory=IngressClassSpec)
