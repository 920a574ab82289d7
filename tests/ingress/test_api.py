"""Ingress and IngressClass through the API: real kubectl (create ingress as protobuf, get,
describe) beside minictl (same objects, same tables, describe as kubectl's), the official
client's NetworkingV1Api, validation in Kubernetes' words, the default IngressClass given
at create, and discovery of networking.k8s.io (also at /api/ and /apis/)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from testing import kubectl as kubectl_cli
from testing.apiclient import Api
from testing.support import unique
from tests.cli.helpers import fails, ok

ING = "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"
CLASSES = "/apis/networking.k8s.io/v1/ingressclasses"


def no_age(table: str) -> list[str]:
    return [line.rsplit(None, 1)[0] for line in table.splitlines()]


def _causes(api: Api, ns: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    code, st = api.call("POST", ING.format(ns=ns), body)
    assert code == 422, (code, st)
    assert st["reason"] == "Invalid"
    return [(c["field"], c["message"]) for c in st["details"]["causes"]]


def _ing(spec: dict[str, Any], name: str = "bad") -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name}, "spec": spec}


def _be(name: str = "web", port: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"service": {"name": name, "port": port if port is not None else {"number": 80}}}


def test_validation_in_kubernetes_words(api: Api) -> None:
    ns = api.namespace()
    assert _causes(api, ns, _ing({})) == [
        ("spec", "Invalid value: []: either `defaultBackend` or `rules` must be specified")]
    causes = dict(_causes(api, ns, _ing({"rules": [{"host": "a.b", "http": {"paths": [
        {"path": "/x", "backend": _be()}]}}]})))
    assert causes == {"spec.rules[0].http.paths[0].pathType":
                      "Required value: pathType must be specified"}
    causes = dict(_causes(api, ns, _ing({"rules": [
        {"host": "1.2.3.4", "http": {"paths": [{"path": "x", "pathType": "Prefix",
                                                "backend": _be()}]}},
        {"host": "*.*.bad", "http": {"paths": [{"path": "/a//b", "pathType": "Exact",
                                                "backend": _be("Web", {})}]}},
        {"host": "ok.example", "http": {"paths": [{"path": "/", "pathType": "Sometimes",
                                                   "backend": _be(port={"number": 80,
                                                                        "name": "http"})}]}},
    ]})))
    assert causes["spec.rules[0].host"] == \
        'Invalid value: "1.2.3.4": must be a DNS name, not an IP address'
    assert causes["spec.rules[0].http.paths[0].path"] == 'Invalid value: "x": must be an absolute path'
    assert causes["spec.rules[1].host"].startswith(
        'Invalid value: "*.*.bad": a wildcard DNS-1123 subdomain must start with \'*.\'')
    assert causes["spec.rules[1].http.paths[0].path"] == \
        "Invalid value: \"/a//b\": must not contain '//'"
    assert causes["spec.rules[1].http.paths[0].backend.service.name"].startswith(
        'Invalid value: "Web": a DNS-1035 label must consist of lower case')
    assert causes["spec.rules[1].http.paths[0].backend"] == \
        "Required value: port name or number is required"
    assert causes["spec.rules[2].http.paths[0].pathType"] == \
        'Unsupported value: "Sometimes": supported values: "Exact", "ImplementationSpecific", ' \
        '"Prefix"'
    assert causes["spec.rules[2].http.paths[0].backend"] == \
        'Invalid value: "": cannot set both port name & port number'
    causes = dict(_causes(api, ns, {**_ing({"defaultBackend": _be(), "ingressClassName": "x",
                                           "tls": [{"hosts": ["Bad_Host"],
                                                    "secretName": "Not Valid"}]}),
                                    "metadata": {"name": "bad", "annotations": {
                                        "kubernetes.io/ingress.class": "y"}}}))
    assert set(causes) == {"spec.tls[0].hosts[0]", "spec.tls[0].secretName",
                           "annotations.kubernetes.io/ingress.class"}
    assert causes["annotations.kubernetes.io/ingress.class"] == \
        'Invalid value: "y": can not be set when the class field is also set'
    # IngressClass: controller required and a domain-prefixed path, immutable.
    name = unique("icv")
    code, st = api.call("POST", CLASSES, {"metadata": {"name": name}, "spec": {}})
    assert code == 422 and st["details"]["causes"][0]["field"] == "spec.controller"
    code, st = api.call("POST", CLASSES, {"metadata": {"name": name},
                                          "spec": {"controller": "nodomain"}})
    assert code == 422 and "must be a domain-prefixed path" in st["message"]
    ic = api.ok("POST", CLASSES, {"metadata": {"name": name}, "spec": {
        "controller": "example.com/ic", "parameters": {"kind": "Conf", "name": "c"}}},
        expect=201)
    assert ic["spec"]["parameters"]["scope"] == "Cluster"
    ic["spec"]["controller"] = "example.com/other"
    code, st = api.call("PUT", f"{CLASSES}/{name}", ic)
    assert code == 422 and st["details"]["causes"][0]["message"].endswith("field is immutable")
    api.ok("DELETE", f"{CLASSES}/{name}")


def test_default_class_at_create_and_status(api: Api) -> None:
    ns = api.namespace()
    old, new = unique("ica"), unique("icb")
    for n in (old, new):
        api.ok("POST", CLASSES, {"metadata": {"name": n, "annotations": {
            "ingressclass.kubernetes.io/is-default-class": "true"}},
            "spec": {"controller": "example.com/ic"}}, expect=201)
    try:
        made = api.ok("POST", ING.format(ns=ns), _ing({"defaultBackend": _be()}, "auto"),
                      expect=201)
        # The newest of the default classes, as the DefaultIngressClass admission plugin.
        assert made["spec"]["ingressClassName"] == new
        assert made["status"] == {"loadBalancer": {}}
        assert made["metadata"]["generation"] == 1
        legacy = api.ok("POST", ING.format(ns=ns), {**_ing({"defaultBackend": _be()}, "legacy"),
                                                     "metadata": {"name": "legacy", "annotations": {
                                                         "kubernetes.io/ingress.class": "x"}}},
                        expect=201)
        assert "ingressClassName" not in legacy["spec"]
        # Status only through /status.
        made["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
        put = api.ok("PUT", ING.format(ns=ns) + "/auto/status", made)
        assert put["status"]["loadBalancer"]["ingress"] == [{"ip": "127.0.0.1"}]
        assert put["metadata"]["generation"] == 1
    finally:
        for n in (old, new):
            api.ok("DELETE", f"{CLASSES}/{n}")


def test_kubectl_and_minictl(server_url: str, api: Api, kubectl: kubectl_cli.Kubectl) -> None:
    ns = api.namespace()
    api.ok("POST", f"/api/v1/namespaces/{ns}/services", {
        "metadata": {"name": "web"}, "spec": {"ports": [{"name": "http", "port": 80}]}},
        expect=201)
    api.ok("POST", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", {
        "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [f"10.244.9.{i}"], "conditions": {"ready": True}}
                      for i in range(1, 6)]}, expect=201)
    args = ["--class=nginx", "--rule=web.localhost/*=web:80", "--rule=web.localhost/api=web:http",
            "--rule=secure.localhost/*=web:80,tls=web-tls", "--rule=/plain=missing:80",
            "--default-backend=web:80", "--annotation=nginx.ingress.kubernetes.io/ssl-redirect=false"]
    assert kubectl("create", "ingress", "theirs", "-n", ns, *args).stdout == \
        "ingress.networking.k8s.io/theirs created\n"
    assert ok(server_url, "create", "ingress", "mine", "-n", ns, *args) == \
        "ingress.networking.k8s.io/mine created\n"
    mine, theirs = (api.ok("GET", ING.format(ns=ns) + f"/{n}") for n in ("mine", "theirs"))
    assert mine["spec"] == theirs["spec"]
    assert mine["metadata"]["annotations"] == theirs["metadata"]["annotations"]
    assert theirs["spec"]["rules"][0] == {"host": "web.localhost", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": _be()},
        {"path": "/api", "pathType": "Exact", "backend": _be(port={"name": "http"})}]}}
    assert theirs["spec"]["tls"] == [{"hosts": ["secure.localhost"], "secretName": "web-tls"}]
    # get: kubectl's columns, from the server's Table.
    table = kubectl("get", "ingress", "-n", ns).stdout
    assert table.splitlines()[0].split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert "web.localhost,secure.localhost" in table and "80, 443" in table
    assert no_age(ok(server_url, "get", "ingress", "-n", ns)) == no_age(table)
    assert no_age(ok(server_url, "get", "ing", "mine", "-n", ns, "-o", "wide")) == \
        no_age(kubectl("get", "ing", "mine", "-n", ns, "-o", "wide").stdout)
    # describe: the backends with their endpoints, a missing Service's error.
    desc = kubectl("describe", "ingress", "theirs", "-n", ns).stdout
    assert "web:80 (10.244.9.1:8080,10.244.9.2:8080,10.244.9.3:8080 + 2 more...)" in desc
    assert 'missing:80 (<error: services "missing" not found>)' in desc
    assert ok(server_url, "describe", "ingress", "theirs", "-n", ns) == desc
    # IngressClass: get and describe.
    cls = unique("icd")
    api.ok("POST", CLASSES, {"metadata": {"name": cls}, "spec": {
        "controller": "minik8s.io/ingress-nginx",
        "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters",
                       "name": "external-lb"}}}, expect=201)
    try:
        assert no_age(ok(server_url, "get", "ingressclass", cls)) == \
            no_age(kubectl("get", "ingressclass", cls).stdout)
        assert "IngressParameters.k8s.example.com/external-lb" in ok(
            server_url, "get", "ingressclass", cls)
        assert ok(server_url, "describe", "ingressclass", cls) == \
            kubectl("describe", "ingressclass", cls).stdout
    finally:
        api.ok("DELETE", f"{CLASSES}/{cls}")
    # create's own checks, in kubectl's words.
    assert fails(server_url, "create", "ingress", "x") == (
        "error: not enough information provided: every ingress has to either specify a "
        "default-backend (which catches all traffic) or a list of rules (which catch "
        "specific paths)")
    assert fails(server_url, "create", "ingress", "x", "--rule=nopath=svc:80") == (
        "error: rule nopath=svc:80 is invalid and should be in format "
        "host/path=svcname:svcport[,tls[=secret]]")
    assert fails(server_url, "create", "ingress", "x", "--default-backend=svc") == \
        "error: default-backend should be in format servicename:serviceport"


def test_official_client_and_discovery(server_url: str, api: Api) -> None:
    ns = api.namespace()
    cfg = k8s.Configuration()
    cfg.host = server_url
    with k8s.ApiClient(cfg) as c:
        net = k8s.NetworkingV1Api(c)
        body = k8s.V1Ingress(
            metadata=k8s.V1ObjectMeta(name="py"),
            spec=k8s.V1IngressSpec(ingress_class_name="nginx", rules=[k8s.V1IngressRule(
                host="py.localhost", http=k8s.V1HTTPIngressRuleValue(paths=[
                    k8s.V1HTTPIngressPath(path="/", path_type="Prefix", backend=k8s.V1IngressBackend(
                        service=k8s.V1IngressServiceBackend(
                            name="web", port=k8s.V1ServiceBackendPort(number=80))))]))]))
        made = net.create_namespaced_ingress(ns, body)
        assert made.spec.rules[0].http.paths[0].backend.service.port.number == 80
        assert [i.metadata.name for i in net.list_namespaced_ingress(ns).items] == ["py"]
        made.spec.rules[0].host = "py2.localhost"
        assert net.replace_namespaced_ingress("py", ns, made).metadata.generation == 2
        st = net.patch_namespaced_ingress_status("py", ns, {"status": {"loadBalancer": {
            "ingress": [{"ip": "127.0.0.1", "ports": [{"port": 80, "protocol": "TCP"}]}]}}})
        assert st.status.load_balancer.ingress[0].ip == "127.0.0.1"
        with pytest.raises(ApiException) as e:
            net.create_namespaced_ingress(ns, k8s.V1Ingress(metadata=k8s.V1ObjectMeta(name="e"),
                                                            spec=k8s.V1IngressSpec()))
        assert e.value.status == 422
        name = unique("icpy")
        net.create_ingress_class(k8s.V1IngressClass(
            metadata=k8s.V1ObjectMeta(name=name),
            spec=k8s.V1IngressClassSpec(controller="minik8s.io/ingress-nginx")))
        assert net.read_ingress_class(name).spec.controller == "minik8s.io/ingress-nginx"
        net.delete_ingress_class(name)
        net.delete_namespaced_ingress("py", ns)
    # Discovery: the group and its resources; /api/ and /apis/ answer as /api and /apis.
    res = api.ok("GET", "/apis/networking.k8s.io/v1")["resources"]
    names = {r["name"]: r for r in res}
    assert names["ingresses"]["shortNames"] == ["ing"] and names["ingresses"]["namespaced"]
    assert "ingresses/status" in names and not names["ingressclasses"]["namespaced"]
    for p in ("/api", "/apis"):
        plain, slash = httpx.get(server_url + p), httpx.get(server_url + p + "/")
        assert (plain.status_code, slash.status_code) == (200, 200)
        assert plain.json() == slash.json()
    groups = [g["name"] for g in api.ok("GET", "/apis")["groups"]]
    assert "networking.k8s.io" in groups
