"""Services, Endpoints and EndpointSlices as pure functions: kubectl's printing
(printService, formatEndpoints, formatDiscoveryPorts/Endpoints), SetDefaults_Service and
the validation the server and clients share."""

from __future__ import annotations

from typing import Any

from api import validation
from api.defaults import apply_defaults
from api.printers import (
    format_endpoints,
    format_labels,
    format_slice_endpoints,
    format_slice_ports,
    service_external_ip,
    service_ports,
)


def svc(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "s", "namespace": "default"}, "spec": spec}


def test_service_columns() -> None:
    assert service_ports([{"port": 80, "protocol": "TCP"},
                          {"port": 53, "protocol": "UDP", "nodePort": 30053}]) == \
        "80/TCP,53:30053/UDP"
    assert format_labels({"b": "2", "a": "1"}) == "a=1,b=2"
    assert format_labels(None) == "<none>"
    assert service_external_ip(svc(type="ClusterIP")) == "<none>"
    assert service_external_ip(svc(type="NodePort", externalIPs=["1.2.3.4"])) == "1.2.3.4"
    assert service_external_ip(svc(type="ExternalName", externalName="x.y")) == "x.y"
    assert service_external_ip(svc(type="LoadBalancer")) == "<pending>"
    lb = svc(type="LoadBalancer")
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.10"}, {"ip": "127.0.0.11"},
                                                 {"hostname": "lb.example.com"}]}}
    assert service_external_ip(lb) == "127.0.0.10,12..."
    assert service_external_ip(lb, wide=True) == "127.0.0.10,127.0.0.11,lb.example.com"


def test_format_endpoints() -> None:
    assert format_endpoints({}) == "<none>"
    ep = {"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                       "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}]}]}
    assert format_endpoints(ep) == "10.0.0.1:80,10.0.0.2:80,10.0.0.1:81 + 1 more..."
    assert format_endpoints(ep, {"b"}) == "10.0.0.1:81,10.0.0.2:81"
    headless = {"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]}
    assert format_endpoints(headless) == "10.0.0.1"
    v6 = {"subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]}
    assert format_endpoints(v6) == "[fd00::1]:80"
    only_not_ready = {"subsets": [{"notReadyAddresses": [{"ip": "10.0.0.1"}],
                                   "ports": [{"port": 80}]}]}
    assert format_endpoints(only_not_ready) == "<none>"


def test_format_slices() -> None:
    assert format_slice_ports(None) == "<unset>"
    assert format_slice_ports([{"port": 80}, {"name": "dns"}, {}, {"port": 9}]) == \
        "80,dns,* + 1 more..."
    assert format_slice_endpoints([]) == "<unset>"
    assert format_slice_endpoints([{"addresses": ["a"]}, {"addresses": ["b", "c", "d"]}]) == \
        "a,b,c + 1 more..."


def test_service_defaults() -> None:
    s = svc(ports=[{"port": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"}])
    apply_defaults("Service", s)
    assert s["spec"] == {
        "type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80},
                  {"port": 53, "protocol": "UDP", "targetPort": "dns"}]}
    s = svc(type="LoadBalancer", sessionAffinity="ClientIP",
            sessionAffinityConfig={"clientIP": {}})
    apply_defaults("Service", s)
    assert s["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    assert s["spec"]["externalTrafficPolicy"] == "Cluster"
    assert s["spec"]["allocateLoadBalancerNodePorts"] is True
    s = svc(type="ClusterIP", externalIPs=["1.2.3.4"], sessionAffinityConfig={"x": 1})
    apply_defaults("Service", s)
    assert s["spec"]["externalTrafficPolicy"] == "Cluster"
    assert "sessionAffinityConfig" not in s["spec"]
    e = {"kind": "EndpointSlice", "ports": [{"port": 80}]}
    apply_defaults("EndpointSlice", e)
    assert e["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]


def fields(kind: str, obj: dict[str, Any]) -> dict[str, str]:
    return {e.field: e.body() for e in validation.validate(kind, obj)}


def test_service_validation() -> None:
    ok = svc(ports=[{"port": 80}])
    apply_defaults("Service", ok)
    assert fields("Service", ok) == {}
    bad = svc(type="ClusterIP", clusterIP="10.96.0.5", clusterIPs=["10.96.0.6"],
              sessionAffinity="None", internalTrafficPolicy="Cluster",
              ports=[{"name": "a", "port": 80, "protocol": "TCP", "targetPort": 0},
                     {"name": "b", "port": 80, "protocol": "TCP", "targetPort": "x--y"}])
    got = fields("Service", bad)
    assert got["spec.clusterIPs"] == ('Invalid value: ["10.96.0.6"]: first value must match '
                                      "`clusterIP`")
    assert got["spec.ports[0].targetPort"] == \
        "Invalid value: 0: must be between 1 and 65535, inclusive"
    assert got["spec.ports[1].targetPort"] == \
        'Invalid value: "x--y": must not contain consecutive hyphens'
    assert got["spec.ports[1]"].startswith("Duplicate value: ")
    upd = validation.validate_update("Service", {**ok, "spec": {**ok["spec"], "clusterIPs": [
        "10.96.0.5"]}}, {**ok, "spec": {**ok["spec"], "clusterIPs": ["10.96.0.6"]}})
    assert [e.field for e in upd] == ["spec.clusterIPs[0]"]
    # To or from ExternalName the address may go.
    ext = {**ok, "spec": {"type": "ExternalName", "externalName": "a.b"}}
    assert validation.validate_update("Service", {**ok, "spec": {
        **ok["spec"], "clusterIPs": ["10.96.0.5"]}}, ext) == []


def test_endpoints_validation() -> None:
    good = {"kind": "Endpoints", "metadata": {"name": "e", "namespace": "d"},
            "subsets": [{"addresses": [{"ip": "10.244.0.1", "hostname": "h",
                                        "nodeName": "n1"}],
                         "notReadyAddresses": [{"ip": "10.244.0.2"}],
                         "ports": [{"port": 80, "protocol": "TCP"}]}]}
    assert fields("Endpoints", good) == {}
    good["subsets"][0]["addresses"][0]["ip"] = "169.254.1.1"
    assert "link-local" in fields("Endpoints", good)["subsets[0].addresses[0].ip"]


def test_load_balancer_source_ranges() -> None:
    s = svc(type="ClusterIP", ports=[{"port": 80}], loadBalancerSourceRanges=["10.0.0.0/8"])
    apply_defaults("Service", s)
    assert fields("Service", s) == {
        "spec.loadBalancerSourceRanges":
            "Forbidden: may only be used when `type` is 'LoadBalancer'"}
    s = svc(type="LoadBalancer", ports=[{"port": 80}], loadBalancerSourceRanges=["10.0.0/8"])
    apply_defaults("Service", s)
    assert fields("Service", s) == {
        "spec.loadBalancerSourceRanges[0]": 'Invalid value: "10.0.0/8": must be a list of IP '
                                            "ranges. For example, 10.240.0.0/24,10.250.0.0/24 "}
