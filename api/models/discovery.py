"""discovery.k8s.io/v1 EndpointSlice (k8s.io/api/discovery/v1 types.go): a Service's
endpoints in slices of at most 100, which the proxy and the DNS server watch."""

from __future__ import annotations

from pydantic import Field

from api.base import Int32, Model
from api.models.core import ObjectReference, TypedObject


class EndpointConditions(Model):
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class ForZone(Model):
    name: str


class EndpointHints(Model):
    for_zones: list[ForZone] | None = None


class Endpoint(Model):
    addresses: list[str]
    conditions: EndpointConditions | None = None
    hostname: str | None = None
    target_ref: ObjectReference | None = None
    node_name: str | None = None
    zone: str | None = None
    hints: EndpointHints | None = None


class EndpointSlicePort(Model):
    name: str | None = None
    protocol: str | None = None
    port: Int32 | None = None
    app_protocol: str | None = None


class EndpointSlice(TypedObject):
    api_version: str | None = "discovery.k8s.io/v1"
    kind: str | None = "EndpointSlice"
    address_type: str = "IPv4"
    endpoints: list[Endpoint] = Field(default_factory=list)
    ports: list[EndpointSlicePort] | None = None
