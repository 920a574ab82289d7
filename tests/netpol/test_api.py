"""NetworkPolicy (networking.k8s.io/v1) on the wire: kubectl apply/get, the official
client's NetworkingV1Api, Kubernetes' defaults (policyTypes, port protocol) and
ValidateNetworkPolicy's errors as 422 causes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from testing import kubectl as kubectl_cli
from testing.apiclient import Api


@pytest.fixture
def kubectl_cmd(kubectl: kubectl_cli.Kubectl) -> kubectl_cli.Kubectl:
    return kubectl


NETPOLS = "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies"


def policy(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name}, "spec": {"podSelector": {}, **spec}}


def test_defaults_and_discovery(api: Api, ns: str) -> None:
    url = NETPOLS.format(ns=ns)
    out = api.ok("POST", url, policy("deny"), 201)
    assert out["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    assert out["metadata"]["generation"] == 1
    out = api.ok("POST", url, policy("web", egress=[{"ports": [{"port": 53}]}]), 201)
    assert out["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert out["spec"]["egress"] == [{"ports": [{"protocol": "TCP", "port": 53}]}]
    out = api.ok("POST", url, policy("eg", policyTypes=["Egress"]), 201)
    assert out["spec"]["policyTypes"] == ["Egress"]
    res = api.ok("GET", "/apis/networking.k8s.io/v1")["resources"]
    np = next(r for r in res if r["name"] == "networkpolicies")
    assert np["kind"] == "NetworkPolicy" and np["namespaced"] and np["shortNames"] == ["netpol"]


def test_validation_causes(api: Api, ns: str) -> None:
    code, out = api.call("POST", NETPOLS.format(ns=ns), policy(
        "bad", ingress=[{"ports": [{"port": "http", "endPort": 90}, {"port": 70000},
                                   {"protocol": "ICMP"}, {"port": 90, "endPort": 80}],
                         "from": [{}, {"ipBlock": {"cidr": "10.0.0.0/8",
                                                   "except": ["11.0.0.0/16"]},
                                       "podSelector": {}}]}],
        policyTypes=["Ingress", "Sideways"]))
    assert code == 422 and out["reason"] == "Invalid"
    causes = {(c["field"], c["reason"]) for c in out["details"]["causes"]}
    assert causes == {
        ("spec.ingress[0].ports[0].endPort", "FieldValueInvalid"),
        ("spec.ingress[0].ports[1].port", "FieldValueInvalid"),
        ("spec.ingress[0].ports[2].protocol", "FieldValueNotSupported"),
        ("spec.ingress[0].ports[3].endPort", "FieldValueInvalid"),
        ("spec.ingress[0].from[0]", "FieldValueRequired"),
        ("spec.ingress[0].from[1].ipBlock.except[0]", "FieldValueInvalid"),
        ("spec.ingress[0].from[1]", "FieldValueForbidden"),
        ("spec.policyTypes[1]", "FieldValueNotSupported"),
    }, out
    assert ('spec.ingress[0].from[1].ipBlock.except[0]: Invalid value: "11.0.0.0/16": must '
            "be a strict subset of `cidr`") in out["message"]


MANIFEST = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web-allow
spec:
  podSelector:
    matchLabels: {app: web}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {team: a}
      podSelector:
        matchLabels: {role: client}
    ports:
    - port: http
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
"""


def test_kubectl_apply_get(kubectl_cmd: kubectl_cli.Kubectl, ns: str) -> None:
    def kubectl(*args: str, stdin: str | None = None) -> str:
        return kubectl_cmd(*args, stdin=stdin).stdout

    out = kubectl("apply", "-n", ns, "-f", "-", stdin=MANIFEST)
    assert "networkpolicy.networking.k8s.io/web-allow created" in out
    lines = kubectl("get", "networkpolicy", "-n", ns).splitlines()
    assert lines[0].split() == ["NAME", "POD-SELECTOR", "AGE"]
    rows = sorted(line.split()[:2] for line in lines[1:])
    assert rows == [["default-deny", "<none>"], ["web-allow", "app=web"]]
    got = json.loads(kubectl("get", "netpol", "web-allow", "-n", ns, "-o", "json"))
    assert got["spec"]["ingress"][0]["ports"] == [{"port": "http", "protocol": "TCP"}]
    # again: the defaulted protocol is in an atomic list, so kubectl patches web-allow
    out = kubectl("apply", "-n", ns, "-f", "-", stdin=MANIFEST)
    assert "networkpolicy.networking.k8s.io/default-deny unchanged" in out
    out = kubectl("delete", "networkpolicies.networking.k8s.io", "default-deny", "-n", ns)
    assert 'networkpolicy.networking.k8s.io "default-deny" deleted' in out


def test_official_client(server_url: str, ns: str) -> None:
    with k8s.ApiClient(k8s.Configuration(host=server_url)) as c:
        net = k8s.NetworkingV1Api(c)
        peer = k8s.V1NetworkPolicyPeer(ip_block=k8s.V1IPBlock(
            cidr="172.16.0.0/12", **{"_except": ["172.17.0.0/16"]}))
        body = k8s.V1NetworkPolicy(
            metadata=k8s.V1ObjectMeta(name="db"),
            spec=k8s.V1NetworkPolicySpec(
                pod_selector=k8s.V1LabelSelector(match_labels={"app": "db"}),
                ingress=[k8s.V1NetworkPolicyIngressRule(
                    ports=[k8s.V1NetworkPolicyPort(port=5432, end_port=5440)],
                    **{"_from": [peer]})]))
        created = net.create_namespaced_network_policy(ns, body)
        got = c.sanitize_for_serialization(created)
        assert got["spec"]["policyTypes"] == ["Ingress"]
        assert got["spec"]["ingress"] == [{
            "from": [{"ipBlock": {"cidr": "172.16.0.0/12", "except": ["172.17.0.0/16"]}}],
            "ports": [{"port": 5432, "endPort": 5440, "protocol": "TCP"}]}]
        assert created.spec is not None
        created.spec.pod_selector = k8s.V1LabelSelector(match_labels={"app": "pg"})
        replaced = net.replace_namespaced_network_policy("db", ns, created)
        assert c.sanitize_for_serialization(replaced)["metadata"]["generation"] == 2
        listed = c.sanitize_for_serialization(net.list_namespaced_network_policy(ns))
        assert [p["metadata"]["name"] for p in listed["items"]] == ["db"]
        net.delete_namespaced_network_policy("db", ns)
        with pytest.raises(ApiException) as exc:
            net.read_namespaced_network_policy("db", ns)
        assert exc.value.status == 404


DESCRIBED = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: full
  labels: {team: a}
  annotations: {note: x}
spec:
  podSelector:
    matchExpressions: [{key: app, operator: In, values: [web, api]}]
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, 10.2.0.0/16]}
    - namespaceSelector: {matchLabels: {team: b}}
      podSelector: {matchLabels: {role: client}}
    - podSelector: {}
    ports:
    - port: http
    - port: 8000
      endPort: 8080
      protocol: UDP
  - {}
  egress:
  - to:
    - namespaceSelector: {}
    ports: [{port: 53, protocol: UDP}]
"""


def test_describe_like_kubectl(server_url: str, kubectl_cmd: kubectl_cli.Kubectl,
                               ns: str) -> None:
    from tests.cli.helpers import fails, ok
    kubectl_cmd("apply", "-n", ns, "-f", "-", stdin=DESCRIBED)
    kubectl_cmd("apply", "-n", ns, "-f", "-", stdin=MANIFEST)
    for name in ("full", "web-allow", "default-deny"):
        want = kubectl_cmd("describe", "networkpolicy", name, "-n", ns).stdout
        assert ok(server_url, "describe", "networkpolicy", name, "-n", ns) == want, want
    assert "Allowing egress traffic:\n    <none> (Selected pods are isolated for egress" in \
        ok(server_url, "describe", "netpol", "default-deny", "-n", ns)
    # get: the server's table, as kubectl prints it (AGE may tick between the two)
    mine = ok(server_url, "get", "networkpolicies", "-n", ns).splitlines()
    theirs = kubectl_cmd("get", "networkpolicies", "-n", ns).stdout.splitlines()
    assert [r.rsplit(None, 1)[0] for r in mine] == [r.rsplit(None, 1)[0] for r in theirs]
    # a bad policy: one line, exit 1, the API server's message
    err = fails(server_url, "apply", "-n", ns, "-f", "-", input=DESCRIBED.replace(
        "endPort: 8080", "endPort: 7000"))
    assert len(err.splitlines()) == 1 and "must be greater than or equal to `port`" in err


def test_agent_role(api: Api) -> None:
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    role = api.ok("GET", f"{rbac}/clusterroles/system:minik8s-netpol")
    assert {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
            "verbs": ["list", "watch"]} in role["rules"]
    binding = api.ok("GET", f"{rbac}/clusterrolebindings/system:minik8s-netpol")
    assert [s["name"] for s in binding["subjects"]] == ["system:kube-proxy"]
