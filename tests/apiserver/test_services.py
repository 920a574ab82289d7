"""Services, Endpoints and EndpointSlices on the wire: the real kubectl, the official
Python client, validation errors, and the ``kubernetes`` Service.

The allocators' own tests (concurrency, ranges, restarts) are in test_services_alloc.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from testing.apiclient import Api
from testing.kubectl import Kubectl
from testing.support import unique, wait_for


def rows(out: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in out.strip().splitlines()]


def by_name(out: str) -> dict[str, list[str]]:
    r = rows(out)
    return {x[0]: x for x in r[1:]}


# ---- kubectl ---------------------------------------------------------------------------


def test_kubectl_create_service_clusterip_and_nodeport(kubectl: Kubectl, ns: str) -> None:
    # kubectl create service sends protobuf bodies.
    out = kubectl("create", "service", "clusterip", "web", "--tcp=80:8080", "-n", ns).stdout
    assert out.strip() == "service/web created"
    kubectl("create", "service", "nodeport", "np", "--tcp=80:8080", "--node-port=30999",
            "-n", ns)
    kubectl("create", "service", "clusterip", "hl", "--clusterip=None", "-n", ns)
    kubectl("create", "service", "externalname", "ext", "--external-name=db.example.com",
            "-n", ns)
    web = json.loads(kubectl("get", "svc", "web", "-n", ns, "-o", "json").stdout)
    assert web["spec"]["ports"] == [{"name": "80-8080", "port": 80, "protocol": "TCP",
                                     "targetPort": 8080}]
    assert web["spec"]["selector"] == {"app": "web"}
    assert web["spec"]["type"] == "ClusterIP" and web["spec"]["sessionAffinity"] == "None"
    assert web["spec"]["ipFamilies"] == ["IPv4"] and web["spec"]["ipFamilyPolicy"] == \
        "SingleStack"
    assert web["spec"]["internalTrafficPolicy"] == "Cluster"
    ip = web["spec"]["clusterIP"]
    assert ip.startswith("10.") and web["spec"]["clusterIPs"] == [ip]

    out = kubectl("get", "svc", "-n", ns, "-o", "wide").stdout
    header = rows(out)[0]
    assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    got = by_name(out)
    assert got["web"][1:5] == ["ClusterIP", ip, "<none>", "80/TCP"]
    assert got["web"][6] == "app=web"
    assert got["np"][1] == "NodePort" and got["np"][4] == "80:30999/TCP"
    assert got["hl"][1:5] == ["ClusterIP", "None", "<none>", "<none>"]
    assert got["ext"][1:5] == ["ExternalName", "<none>", "db.example.com", "<none>"]

    err = kubectl("create", "service", "nodeport", "np2", "--tcp=80:8080",
                  "--node-port=30999", "-n", ns, check=False)
    assert err.returncode == 1
    assert "spec.ports[0].nodePort: Invalid value: 30999: provided port is already " \
           "allocated" in err.stderr

    kubectl("delete", "svc", "np", "-n", ns)
    # The freed nodePort can be had again.
    kubectl("create", "service", "nodeport", "np2", "--tcp=80:8080", "--node-port=30999",
            "-n", ns)


def test_kubectl_expose_and_multi_document_apply(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "deployment", "web", "--image=nginx", "--port=80", "-n", ns)
    out = kubectl("expose", "deployment", "web", "--port=8080", "--target-port=80", "-n",
                  ns).stdout
    assert out.strip() == "service/web exposed"
    svc = json.loads(kubectl("get", "svc", "web", "-n", ns, "-o", "json").stdout)
    assert svc["spec"]["selector"] == {"app": "web"}
    assert svc["spec"]["ports"][0]["port"] == 8080
    assert svc["spec"]["ports"][0]["targetPort"] == 80

    manifest = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, labels: {app: shop}}
spec:
  replicas: 1
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec: {containers: [{name: c, image: nginx, ports: [{name: http, containerPort: 80}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: shop}
spec:
  selector: {app: shop}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: metrics, port: 9100, protocol: UDP}
"""
    out = kubectl("apply", "-n", ns, "-f", "-", stdin=manifest).stdout
    assert "deployment.apps/shop created" in out and "service/shop created" in out
    out = kubectl("apply", "-n", ns, "-f", "-", stdin=manifest.replace(
        "{app: shop}\n  ports", "{app: shop}\n  type: NodePort\n  ports")).stdout
    assert "service/shop configured" in out
    shop = json.loads(kubectl("get", "svc", "shop", "-n", ns, "-o", "json").stdout)
    assert shop["spec"]["type"] == "NodePort"
    assert shop["spec"]["ports"][0]["targetPort"] == "http"
    assert all(30000 <= p["nodePort"] <= 32767 for p in shop["spec"]["ports"])
    got = by_name(kubectl("get", "svc", "shop", "-n", ns).stdout)
    np = [p["nodePort"] for p in shop["spec"]["ports"]]
    assert got["shop"][4] == f"80:{np[0]}/TCP,9100:{np[1]}/UDP"
    kubectl("delete", "-n", ns, "-f", "-", stdin=manifest)
    wait_for(lambda: kubectl("get", "svc", "-n", ns, "-o", "name").stdout.strip()
             == "service/web", timeout=10)


def test_kubectl_get_endpoints_and_endpointslices(kubectl: Kubectl, api: Api, ns: str) -> None:
    api.ok("POST", f"/api/v1/namespaces/{ns}/endpoints", {
        "metadata": {"name": "many"},
        "subsets": [{"addresses": [{"ip": f"10.244.0.{i}"} for i in range(1, 6)],
                     "ports": [{"port": 80}]}]}, 201)
    api.ok("POST", f"/api/v1/namespaces/{ns}/endpoints", {
        "metadata": {"name": "empty"}}, 201)
    api.ok("POST", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", {
        "metadata": {"name": "many-abcde", "labels": {"kubernetes.io/service-name": "many"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [f"10.244.0.{i}"], "conditions": {"ready": True}}
                      for i in range(1, 6)],
        "ports": [{"name": "", "port": 80, "protocol": "TCP"}]}, 201)
    out = kubectl("get", "ep", "-n", ns).stdout
    assert rows(out)[0] == ["NAME", "ENDPOINTS", "AGE"]
    got = by_name(out)
    assert got["many"][1] == "10.244.0.1:80,10.244.0.2:80,10.244.0.3:80 + 2 more..."
    assert got["empty"][1] == "<none>"
    out = kubectl("get", "endpointslices", "-n", ns).stdout
    assert rows(out)[0] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert by_name(out)["many-abcde"][1:4] == [
        "IPv4", "80", "10.244.0.1,10.244.0.2,10.244.0.3 + 2 more..."]
    y = yaml.safe_load(kubectl("get", "endpointslice", "many-abcde", "-n", ns, "-o",
                               "yaml").stdout)
    assert y["metadata"]["generation"] == 1


def test_kubectl_apply_service_validation_error(kubectl: Kubectl, ns: str) -> None:
    bad = """
apiVersion: v1
kind: Service
metadata: {name: bad}
spec:
  type: Fancy
  sessionAffinity: Sticky
  ports:
  - {port: 80, protocol: ICMP}
  - {port: 80, targetPort: "not_a_name"}
"""
    r = kubectl("apply", "-n", ns, "-f", "-", stdin=bad, check=False)
    assert r.returncode == 1
    assert 'The Service "bad" is invalid' in r.stderr
    for text in ('spec.type: Unsupported value: "Fancy"',
                 'spec.sessionAffinity: Unsupported value: "Sticky"',
                 'spec.ports[0].protocol: Unsupported value: "ICMP"',
                 "spec.ports[0].name: Required value",
                 'spec.ports[1].targetPort: Invalid value: "not_a_name"'):
        assert text in r.stderr, r.stderr


# ---- the API directly --------------------------------------------------------------------


def service(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec}}


@pytest.mark.parametrize("spec,field,message", [
    ({"ports": []}, "spec.ports", "Required value"),
    ({"ports": [{"port": 80}, {"port": 81}]}, "spec.ports[0].name", "Required value"),
    ({"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]}, "spec.ports[1].name",
     'Duplicate value: "a"'),
    ({"ports": [{"port": 0}]}, "spec.ports[0].port",
     "Invalid value: 0: must be between 1 and 65535, inclusive"),
    ({"ports": [{"port": 80, "nodePort": 30001}]}, "spec.ports[0].nodePort",
     "Forbidden: may not be used when `type` is 'ClusterIP'"),
    ({"type": "ExternalName", "ports": []}, "spec.externalName", "Required value"),
    ({"type": "ExternalName", "externalName": "Not_A_Host"}, "spec.externalName",
     'Invalid value: "Not_A_Host": a lowercase RFC 1123 subdomain must consist of'),
    ({"type": "NodePort", "clusterIP": "None"}, "spec.clusterIPs[0]",
     "Invalid value: \"None\": may not be set to 'None' for NodePort services"),
    ({"clusterIP": "10.96.0.300"}, "spec.clusterIPs[0]",
     'Invalid value: "10.96.0.300": must be a valid IP address'),
    ({"sessionAffinity": "ClientIP",
      "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}}},
     "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
     "Invalid value: 0: must be greater than 0 and less than 86400"),
    ({"externalTrafficPolicy": "Local"}, "spec.externalTrafficPolicy",
     'Invalid value: "Local": may only be set for externally-accessible services'),
    ({"ipFamilyPolicy": "RequireDualStack"}, "spec.ipFamilyPolicy",
     'Invalid value: "RequireDualStack": this cluster is not configured for dual-stack '
     "services"),
    ({"ipFamilies": ["IPv6"]}, "spec.ipFamilies[0]",
     'Invalid value: "IPv6": not configured on this cluster'),
])
def test_service_validation(api: Api, ns: str, spec: dict[str, Any], field: str,
                            message: str) -> None:
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/services",
                          service(unique("v"), **spec))
    assert code == 422, body
    assert body["reason"] == "Invalid" and body["details"]["kind"] == "Service"
    causes = {c["field"]: c["message"] for c in body["details"]["causes"]}
    assert field in causes, causes
    assert causes[field].startswith(message), causes[field]


def test_service_names_are_dns1035_labels(api: Api, ns: str) -> None:
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/services", service("1abc"))
    assert code == 422
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    assert "a DNS-1035 label must consist of" in body["details"]["causes"][0]["message"]


def test_defaults(api: Api, ns: str) -> None:
    s = api.ok("POST", f"/api/v1/namespaces/{ns}/services", service(
        "aff", sessionAffinity="ClientIP", type="NodePort",
        ports=[{"port": 80, "targetPort": "http"}]), 201)
    spec = s["spec"]
    assert spec["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    assert spec["ports"][0]["protocol"] == "TCP" and spec["ports"][0]["targetPort"] == "http"
    assert spec["externalTrafficPolicy"] == "Cluster"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert s["status"] == {}
    p = api.ok("POST", f"/api/v1/namespaces/{ns}/services", service("tp"), 201)
    assert p["spec"]["ports"][0]["targetPort"] == 80
    assert "externalTrafficPolicy" not in p["spec"]


def test_status_subresource(api: Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/services"
    s = api.ok("POST", path, service("st"), 201)
    s["status"] = {"conditions": [{"type": "X", "status": "True", "reason": "R", "message": "",
                                   "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    after = api.ok("PUT", f"{path}/st", s)
    assert after["status"] == {}  # the main resource does not write status
    st = api.ok("PUT", f"{path}/st/status", {**s, "metadata": after["metadata"]})
    assert st["status"]["conditions"][0]["type"] == "X"
    assert st["spec"]["clusterIP"] == s["spec"]["clusterIP"]


def test_field_selectors(api: Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/services"
    a = api.ok("POST", path, service("fa"), 201)
    api.ok("POST", path, service("fb", type="NodePort"), 201)
    names = [i["metadata"]["name"] for i in api.ok(
        "GET", path, fieldSelector="spec.type=NodePort")["items"]]
    assert names == ["fb"]
    names = [i["metadata"]["name"] for i in api.ok(
        "GET", path, fieldSelector=f"spec.clusterIP={a['spec']['clusterIP']}")["items"]]
    assert names == ["fa"]
    code, body = api.call("GET", path, fieldSelector="spec.selector=x")
    assert code == 400 and "field label not supported: spec.selector" in body["message"]


def test_endpoints_and_slice_validation(api: Api, ns: str) -> None:
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/endpoints", {
        "metadata": {"name": "e"},
        "subsets": [{"addresses": [{"ip": "not-an-ip"}, {"ip": "127.0.0.1"}],
                     "ports": [{"port": 80}, {"port": 81, "protocol": "ICMP"}]}, {}]})
    assert code == 422
    causes = {c["field"]: c["message"] for c in body["details"]["causes"]}
    assert causes["subsets[0].addresses[0].ip"].startswith('Invalid value: "not-an-ip"')
    assert "loopback" in causes["subsets[0].addresses[1].ip"]
    assert causes["subsets[0].ports[0].name"] == "Required value"
    assert causes["subsets[0].ports[1].protocol"].startswith('Unsupported value: "ICMP"')
    assert causes["subsets[1]"] == "Required value: must specify `addresses` or " \
                                   "`notReadyAddresses`"
    slices = f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"
    code, body = api.call("POST", slices, {
        "metadata": {"name": "s"}, "addressType": "IPv4",
        "endpoints": [{"addresses": ["fd00::1"]}, {"addresses": []}],
        "ports": [{"name": "a"}, {"name": "a", "protocol": "TCP"}]})
    assert code == 422
    causes = {c["field"]: c["message"] for c in body["details"]["causes"]}
    assert causes["endpoints[0].addresses[0]"] == \
        'Invalid value: "fd00::1": must be a valid IPv4 address'
    assert causes["endpoints[1].addresses"] == "Required value: must contain at least 1 address"
    assert causes["ports[1].name"] == 'Duplicate value: "a"'
    code, body = api.call("POST", slices, {
        "metadata": {"name": "s"}, "addressType": "IPv4",
        "endpoints": [{"addresses": [f"10.0.{i // 250}.{i % 250 + 1}"]} for i in range(1001)]})
    assert code == 422
    assert body["details"]["causes"][0] == {
        "reason": "FieldValueTooMany", "field": "endpoints",
        "message": "Too many: 1001: must have at most 1000 items"}
    ok = api.ok("POST", slices, {"metadata": {"name": "s"}, "addressType": "IPv4",
                                 "endpoints": [{"addresses": ["10.0.0.1"]}],
                                 "ports": [{"port": 80}]}, 201)
    assert ok["ports"] == [{"name": "", "port": 80, "protocol": "TCP"}]
    code, body = api.call("PATCH", f"{slices}/s", {"addressType": "IPv6"},
                          content_type="application/merge-patch+json")
    assert code == 422
    assert {"reason": "FieldValueInvalid", "field": "addressType",
            "message": 'Invalid value: "IPv6": field is immutable'} in body["details"]["causes"]
    gen = api.ok("PATCH", f"{slices}/s", {"endpoints": [{"addresses": ["10.0.0.2"]}]},
                 content_type="application/merge-patch+json")["metadata"]["generation"]
    assert gen == 2


def test_kubernetes_service_and_its_endpoints(api: Api) -> None:
    def ready() -> bool:
        return all(api.call("GET", p)[0] == 200 for p in (
            "/api/v1/namespaces/default/services/kubernetes",
            "/api/v1/namespaces/default/endpoints/kubernetes",
            "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes"))

    wait_for(ready, timeout=15)
    svc = api.ok("GET", "/api/v1/namespaces/default/services/kubernetes")
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    assert svc["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
    port = int(api.url.rsplit(":", 1)[1])
    assert svc["spec"]["ports"] == [{"name": "https", "port": 443, "protocol": "TCP",
                                     "targetPort": port}]
    assert "selector" not in svc["spec"]
    ep = api.ok("GET", "/api/v1/namespaces/default/endpoints/kubernetes")
    assert ep["subsets"][0]["ports"] == [{"name": "https", "port": port, "protocol": "TCP"}]
    address = ep["subsets"][0]["addresses"][0]["ip"]
    es = api.ok("GET", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes")
    assert es["endpoints"][0]["addresses"] == [address]
    assert es["metadata"]["labels"]["kubernetes.io/service-name"] == "kubernetes"
    assert es["ports"] == [{"name": "https", "port": port, "protocol": "TCP"}]


# ---- the official Python client ----------------------------------------------------------


@pytest.fixture
def k8s(server_url: str) -> Iterator[client.ApiClient]:
    cfg = client.Configuration(host=server_url)
    with client.ApiClient(cfg) as c:
        yield c


def test_python_client_services_endpoints_and_slices(k8s: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(k8s)
    disc = client.DiscoveryV1Api(k8s)
    events: list[tuple[str, str]] = []
    rv = core.list_namespaced_service(ns).metadata.resource_version

    def watch_services() -> None:
        w = watch.Watch()
        for ev in w.stream(core.list_namespaced_service, ns, resource_version=rv,
                           timeout_seconds=10):
            events.append((ev["type"], ev["object"].metadata.name))
            if len(events) >= 2:
                w.stop()

    t = threading.Thread(target=watch_services, daemon=True)
    t.start()
    created = core.create_namespaced_service(ns, client.V1Service(
        metadata=client.V1ObjectMeta(name="py"),
        spec=client.V1ServiceSpec(
            selector={"app": "py"}, type="NodePort",
            ports=[client.V1ServicePort(name="http", port=80, target_port="http")])))
    assert created.spec.cluster_ip and created.spec.cluster_ips == [created.spec.cluster_ip]
    assert created.spec.ports[0].node_port and created.spec.ports[0].target_port == "http"
    core.delete_namespaced_service("py", ns)
    t.join(15)
    assert events == [("ADDED", "py"), ("DELETED", "py")]

    ep_events: list[tuple[str, str, str]] = []
    ep_rv = core.list_namespaced_endpoints(ns).metadata.resource_version

    def watch_endpoints() -> None:
        w = watch.Watch()
        for ev in w.stream(core.list_namespaced_endpoints, ns, resource_version=ep_rv,
                           timeout_seconds=10):
            obj = ev["object"]
            ep_events.append((ev["type"], obj.metadata.name, obj.subsets[0].addresses[0].ip))
            if len(ep_events) >= 2:
                w.stop()

    t = threading.Thread(target=watch_endpoints, daemon=True)
    t.start()
    core.create_namespaced_endpoints(ns, client.V1Endpoints(
        metadata=client.V1ObjectMeta(name="manual"),
        subsets=[client.V1EndpointSubset(
            addresses=[client.V1EndpointAddress(ip="10.244.1.7")],
            ports=[client.CoreV1EndpointPort(port=8080, name="http")])]))
    eps = core.list_namespaced_endpoints(ns).items
    assert [(e.metadata.name, e.subsets[0].addresses[0].ip) for e in eps] == \
        [("manual", "10.244.1.7")]
    assert eps[0].subsets[0].ports[0].protocol == "TCP"
    core.patch_namespaced_endpoints("manual", ns, {"subsets": [{
        "addresses": [{"ip": "10.244.1.8"}], "ports": [{"port": 8080, "name": "http"}]}]})
    t.join(15)
    assert ep_events == [("ADDED", "manual", "10.244.1.7"), ("MODIFIED", "manual", "10.244.1.8")]

    disc.create_namespaced_endpoint_slice(ns, client.V1EndpointSlice(
        metadata=client.V1ObjectMeta(name="manual-1",
                                     labels={"kubernetes.io/service-name": "manual"}),
        address_type="IPv4",
        endpoints=[client.V1Endpoint(addresses=["10.244.1.7"],
                                     conditions=client.V1EndpointConditions(ready=True))],
        ports=[client.DiscoveryV1EndpointPort(port=8080, name="http")]))
    slices = disc.list_namespaced_endpoint_slice(
        ns, label_selector="kubernetes.io/service-name=manual").items
    assert [s.metadata.name for s in slices] == ["manual-1"]
    assert slices[0].endpoints[0].conditions.ready is True
    with pytest.raises(ApiException) as e:
        core.create_namespaced_service(ns, client.V1Service(
            metadata=client.V1ObjectMeta(name="bad"),
            spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80, protocol="ICMP")])))
    assert e.value.status == 422
