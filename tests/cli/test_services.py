"""minictl expose, get svc/ep/endpointslices, describe service/endpoints and cluster-info,
against the real API server and compared with what the real kubectl prints for the same
objects (nothing here needs a controller: the tests write EndpointSlices themselves)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from testing.apiclient import Api
from testing.kubectl import Kubectl
from tests.cli.helpers import cells, fails, get, ok, post, without_age

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def svc_path(ns: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/services" + (f"/{name}" if name else "")


def slice_body(service: str, name: str, ports: list[dict[str, Any]],
               endpoints: list[tuple[str, bool | None]]) -> dict[str, Any]:
    """An EndpointSlice as the endpointslice controller writes it (port names "" when unset)."""
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "", "protocol": "TCP", **p} for p in ports],
        "endpoints": [{"addresses": [ip]} | ({} if ready is None else
                                              {"conditions": {"ready": ready}})
                      for ip, ready in endpoints],
    }


def add_slice(server_url: str, ns: str, body: dict[str, Any]) -> None:
    post(server_url, f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", body)


def old_event(server_url: str, ns: str, obj: dict[str, Any], reason: str, message: str) -> None:
    """An Event three hours old: its AGE reads the same whenever the two tools print it."""
    ts = (datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    post(server_url, f"/api/v1/namespaces/{ns}/events", {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{obj['metadata']['name']}.{uuid.uuid4().hex[:16]}"},
        "involvedObject": {"kind": obj["kind"], "name": obj["metadata"]["name"],
                           "namespace": ns, "uid": obj["metadata"]["uid"],
                           "apiVersion": obj["apiVersion"]},
        "reason": reason, "message": message, "type": "Normal", "count": 1,
        "source": {"component": "service-controller"}, "firstTimestamp": ts,
        "lastTimestamp": ts})


# ---------------------------------------------------------------- expose

def test_expose_deployment_as_kubectl(server_url: str, ns: str) -> None:
    ok(server_url, "-n", ns, "create", "deployment", "nginx", "--replicas=3", "--port=80")
    assert ok(server_url, "-n", ns, "expose", "deployment", "nginx", "--port=80") == \
        "service/nginx exposed\n"
    svc = get(server_url, svc_path(ns, "nginx"))
    assert svc["metadata"]["labels"] == {"app": "nginx"}
    assert svc["spec"]["selector"] == {"app": "nginx"}
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert svc["spec"]["clusterIP"].startswith("10.")

    # A second one on another port and type, named, to a named target port.
    out = ok(server_url, "-n", ns, "expose", "deploy/nginx", "--port=8080", "--name=web-np",
             "--type=NodePort", "--target-port=http")
    assert out == "service/web-np exposed\n"
    np = get(server_url, svc_path(ns, "web-np"))["spec"]
    assert np["type"] == "NodePort" and np["ports"][0]["targetPort"] == "http"
    assert 30000 <= np["ports"][0]["nodePort"] <= 32767

    # The same name twice is the server's AlreadyExists, in kubectl's words.
    assert fails(server_url, "-n", ns, "expose", "deployment", "nginx", "--port=80") == \
        'Error from server (AlreadyExists): services "nginx" already exists'


def test_expose_ports_from_the_object(server_url: str, ns: str) -> None:
    """No --port: the container ports (kubectl's rule): one keeps no name, several become
    port-1, port-2; a port served over TCP and UDP becomes port-N-tcp and port-N-udp."""
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "dns", "labels": {"app": "dns", "tier": "infra"}},
           "spec": {"containers": [{"name": "d", "image": "busybox", "ports": [
               {"containerPort": 53, "protocol": "UDP"}, {"containerPort": 53},
               {"containerPort": 9153}]}]}}
    post(server_url, f"/api/v1/namespaces/{ns}/pods", pod)
    assert ok(server_url, "-n", ns, "expose", "pod", "dns") == "service/dns exposed\n"
    spec = get(server_url, svc_path(ns, "dns"))["spec"]
    assert spec["selector"] == {"app": "dns", "tier": "infra"}
    assert [(p["name"], p["port"], p["protocol"], p["targetPort"]) for p in spec["ports"]] == [
        ("port-1-udp", 53, "UDP", 53), ("port-1-tcp", 53, "TCP", 53),
        ("port-2", 9153, "TCP", 9153)]

    # Exposing a service copies its selector and its ports.
    ok(server_url, "-n", ns, "expose", "service", "dns", "--port=9153", "--name=metrics")
    m = get(server_url, svc_path(ns, "metrics"))
    assert m["spec"]["selector"] == {"app": "dns", "tier": "infra"}
    assert m["spec"]["ports"][0]["port"] == 9153 and "name" not in m["spec"]["ports"][0]

    ok(server_url, "-n", ns, "create", "deployment", "noport", "--image=busybox")
    assert fails(server_url, "-n", ns, "expose", "deployment", "noport") == \
        "error: couldn't find port via --port flag or introspection"
    ok(server_url, "-n", ns, "expose", "deployment", "noport", "--cluster-ip=None")
    headless = get(server_url, svc_path(ns, "noport"))["spec"]
    assert headless["clusterIP"] == "None" and not headless.get("ports")


def test_expose_refusals(server_url: str, ns: str) -> None:
    ok(server_url, "-n", ns, "create", "configmap", "conf", "--from-literal=a=b")
    assert fails(server_url, "-n", ns, "expose", "configmap", "conf", "--port=80") == \
        "error: cannot expose a ConfigMap"
    assert fails(server_url, "-n", ns, "expose", "deployment", "missing", "--port=80") == \
        'Error from server (NotFound): deployments.apps "missing" not found'
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "expr"},
           "spec": {"selector": {"matchLabels": {"app": "expr"}, "matchExpressions": [
               {"key": "tier", "operator": "In", "values": ["a"]}]},
                    "template": {"metadata": {"labels": {"app": "expr", "tier": "a"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    post(server_url, f"/apis/apps/v1/namespaces/{ns}/deployments", dep)
    assert "to map-based selector format" in fails(
        server_url, "-n", ns, "expose", "deployment", "expr", "--port=80")
    post(server_url, f"/api/v1/namespaces/{ns}/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    assert fails(server_url, "-n", ns, "expose", "pod", "bare", "--port=80").endswith(
        "the pod has no labels and cannot be exposed")
    assert fails(server_url, "-n", ns, "expose", "pod", "bare", "--port=80",
                 "--selector=app") == "error: unexpected label spec: app"
    assert fails(server_url, "-n", ns, "expose", "pod", "bare", "--port=http",
                 "--selector=app=x") == 'error: strconv.Atoi: parsing "http": invalid syntax'
    # The server's validation is a 422 in one line.
    err = fails(server_url, "-n", ns, "expose", "pod", "bare", "--port=80", "--selector=a=b",
                "--type=Bogus")
    assert err.startswith("The Service \"bare\" is invalid:") and "spec.type" in err
    assert fails(server_url, "-n", ns, "expose") == \
        "error: You must provide one or more resources by argument or filename."


def test_expose_dry_run_is_kubectls(server_url: str, ns: str, kubectl: Kubectl) -> None:
    ok(server_url, "-n", ns, "create", "deployment", "web", "--port=8080")
    args = ("-n", ns, "expose", "deployment", "web", "--port=80", "--target-port=8080",
            "--type=NodePort", "--dry-run=client")
    mine = ok(server_url, *args, "-o", "yaml")
    assert mine == kubectl(*args, "-o", "yaml").stdout
    assert yaml.safe_load(mine)["metadata"]["namespace"] == ns
    assert ok(server_url, *args) == kubectl(*args).stdout == \
        "service/web exposed (dry run)\n"
    assert get(server_url, svc_path(ns))["items"] == []
    # Server-side dry run: validated and defaulted by the server, not stored.
    assert ok(server_url, "-n", ns, "expose", "deployment", "web", "--port=80",
              "--dry-run=server") == "service/web exposed (server dry run)\n"
    assert get(server_url, svc_path(ns))["items"] == []


def test_kubectl_expose_and_minictl_read_the_same(server_url: str, ns: str,
                                                 kubectl: Kubectl) -> None:
    ok(server_url, "-n", ns, "create", "deployment", "web", "--port=80")
    kubectl("-n", ns, "expose", "deployment", "web", "--port=80", "--name=by-kubectl")
    ok(server_url, "-n", ns, "expose", "deployment", "web", "--port=80", "--name=by-minictl")
    a = get(server_url, svc_path(ns, "by-kubectl"))["spec"]
    b = get(server_url, svc_path(ns, "by-minictl"))["spec"]
    for spec in (a, b):
        spec.pop("clusterIP")
        spec.pop("clusterIPs")
    assert a == b


# ---------------------------------------------------------------- get

def _service_objects(server_url: str, ns: str) -> None:
    post(server_url, svc_path(ns), {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [
            {"name": "http", "port": 80, "targetPort": 8080},
            {"name": "metrics", "port": 9100, "targetPort": "metrics"}]}})
    add_slice(server_url, ns, slice_body(
        "web", "web-abcde", [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9100}],
        [("10.244.0.5", True), ("10.244.0.6", True), ("10.244.0.7", False),
         ("10.244.0.8", None), ("10.244.0.9", True)]))
    post(server_url, f"/api/v1/namespaces/{ns}/endpoints", {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
        "subsets": [{"addresses": [{"ip": f"10.244.0.{i}"} for i in (5, 6, 8, 9)],
                     "notReadyAddresses": [{"ip": "10.244.0.7"}],
                     "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                               {"name": "metrics", "port": 9100, "protocol": "TCP"}]}]})


def test_get_services_endpoints_and_slices(server_url: str, ns: str) -> None:
    _service_objects(server_url, ns)
    out = ok(server_url, "-n", ns, "get", "svc,ep,endpointslices")
    blocks = out.split("\n\n")
    assert len(blocks) == 3, out
    svc, ep, sl = (b.splitlines() for b in blocks)
    assert cells(svc[0]) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    row = cells(svc[1])
    node_ports = [p["nodePort"] for p in get(server_url, svc_path(ns, "web"))["spec"]["ports"]]
    assert row[0] == "service/web" and row[1] == "NodePort" and row[3] == "<none>"
    assert row[4] == f"80:{node_ports[0]}/TCP,9100:{node_ports[1]}/TCP"
    assert cells(ep[0]) == ["NAME", "ENDPOINTS", "AGE"]
    assert cells(ep[1])[:2] == ["endpoints/web",
                                "10.244.0.5:8080,10.244.0.6:8080,10.244.0.8:8080 + 5 more..."]
    assert cells(sl[0]) == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert cells(sl[1])[:4] == ["endpointslice.discovery.k8s.io/web-abcde", "IPv4",
                                "8080,9100", "10.244.0.5,10.244.0.6,10.244.0.7 + 2 more..."]
    wide = ok(server_url, "-n", ns, "get", "services", "-o", "wide").splitlines()
    assert cells(wide[0])[-1] == "SELECTOR" and cells(wide[1])[-1] == "app=web"
    names = ok(server_url, "-n", ns, "get", "svc,ep", "-o", "name").split()
    assert names == ["service/web", "endpoints/web"]
    # `get all` lists services after pods, as kubectl does.
    ok(server_url, "-n", ns, "run", "p", "--image=nginx")
    blocks = ok(server_url, "-n", ns, "get", "all").split("\n\n")
    assert [cells(b.splitlines()[1])[0].split("/")[0] for b in blocks] == ["pod", "service"]


def test_get_tables_are_kubectls(server_url: str, ns: str, kubectl: Kubectl) -> None:
    _service_objects(server_url, ns)
    for args in (["get", "svc,ep,endpointslices"], ["get", "svc", "-o", "wide"],
                 ["get", "ep", "web"], ["get", "endpointslices", "--show-labels"]):
        mine = ok(server_url, "-n", ns, *args)
        theirs = kubectl("-n", ns, *args).stdout
        assert without_age(mine) == without_age(theirs), (args, mine, theirs)


# ---------------------------------------------------------------- describe

def test_describe_service_is_kubectls(server_url: str, ns: str, kubectl: Kubectl) -> None:
    _service_objects(server_url, ns)
    svc = get(server_url, svc_path(ns, "web"))
    old_event(server_url, ns, svc, "EnsuringLoadBalancer", "Ensuring load balancer")
    mine = ok(server_url, "-n", ns, "describe", "service", "web")
    assert mine == kubectl("-n", ns, "describe", "service", "web").stdout
    lines = mine.splitlines()
    assert lines[0] == "Name:                     web"
    assert f"IP:                       {svc['spec']['clusterIP']}" in lines
    assert "Port:                     http  80/TCP" in lines
    assert "TargetPort:               metrics/TCP" in lines
    assert ("Endpoints:                10.244.0.5:8080,10.244.0.6:8080,10.244.0.8:8080 "
            "+ 1 more...") in lines
    assert cells(lines[lines.index("Events:") + 1]) == ["Type", "Reason", "Age", "From",
                                                        "Message"]
    assert mine == kubectl("-n", ns, "describe", "svc/web").stdout
    # The Endpoints object too.
    assert ok(server_url, "-n", ns, "describe", "endpoints", "web") == \
        kubectl("-n", ns, "describe", "endpoints", "web").stdout


def test_describe_service_without_ready_endpoints(server_url: str, ns: str,
                                                  kubectl: Kubectl) -> None:
    post(server_url, svc_path(ns), {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "lonely"},
        "spec": {"selector": {"app": "lonely"}, "ports": [{"port": 80}],
                 "sessionAffinity": "ClientIP"}})
    post(server_url, svc_path(ns), {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "example.internal"}})
    before = ok(server_url, "-n", ns, "describe", "svc", "lonely")
    assert "Endpoints:                <none>" in before.splitlines()
    assert before == kubectl("-n", ns, "describe", "svc", "lonely").stdout
    add_slice(server_url, ns, slice_body("lonely", "lonely-x", [{"port": 80}],
                                         [("10.244.0.7", False)]))
    after = ok(server_url, "-n", ns, "describe", "svc", "lonely")
    # kubectl prints the key with its padding and nothing after it.
    assert after == kubectl("-n", ns, "describe", "svc", "lonely").stdout
    assert "Endpoints:                \n" in after
    both = ok(server_url, "-n", ns, "describe", "svc")
    assert both == kubectl("-n", ns, "describe", "svc").stdout
    assert "External Name:" in both


# ---------------------------------------------------------------- cluster-info

def test_cluster_info_is_kubectls(server_url: str, api: Api, kubectl: Kubectl) -> None:
    """kubectl lists the Services labelled kubernetes.io/cluster-service=true of kube-system
    (or -n NS): a private namespace here, so the shared server's kube-system is left alone."""
    ns = api.namespace()
    base = ok(server_url, "-n", ns, "cluster-info").splitlines()
    assert base[0] == f"Kubernetes control plane is running at {server_url}"
    post(server_url, svc_path(ns), {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "labels": {
            "k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
            "kubernetes.io/name": "CoreDNS"}},
        "spec": {"selector": {"k8s-app": "kube-dns"}, "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}})
    post(server_url, svc_path(ns), {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "dashboard", "labels": {"kubernetes.io/cluster-service": "true"}},
        "spec": {"selector": {"app": "d"}, "ports": [{"port": 443}]}})
    post(server_url, svc_path(ns), {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "not-listed"},
        "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}})
    mine = ok(server_url, "-n", ns, "cluster-info")
    lines = mine.splitlines()
    assert lines[:3] == [  # by Service name, as the server lists them
        f"Kubernetes control plane is running at {server_url}",
        f"dashboard is running at {server_url}/api/v1/namespaces/{ns}/services/"
        "https:dashboard:/proxy",
        f"CoreDNS is running at {server_url}/api/v1/namespaces/{ns}/services/kube-dns:dns/proxy"]
    theirs = ANSI.sub("", kubectl("-n", ns, "cluster-info").stdout).splitlines()
    assert lines[:4] == theirs[:4]
    assert lines[4].startswith("To further debug and diagnose cluster problems")


@pytest.mark.parametrize("args", [["expose", "--help"], ["cluster-info", "--help"]])
def test_help(server_url: str, args: list[str]) -> None:
    assert ok(server_url, *args).startswith("Usage: minictl")
