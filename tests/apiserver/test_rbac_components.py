"""The default policy is enough for the components: the controller-manager and the
scheduler, each with its own client certificate (system:kube-controller-manager,
system:kube-scheduler), run a Deployment to bound pods on an RBAC server over TLS, and the
DNS as the kube-system/kube-dns ServiceAccount answers for the kubernetes Service; none
is refused anything on the way."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from testing.objects import make_node
from testing.secure import SecureApiServer
from testing.support import Process, json_request, service, unique, wait_for

AUTHORIZATION_MODE = "RBAC"


@pytest.fixture(scope="module")
def components(secure_apiserver: SecureApiServer) -> Iterator[dict[str, Process]]:
    s = secure_apiserver
    cm = s.user("system:kube-controller-manager")
    sched = s.user("system:kube-scheduler")
    procs: dict[str, Process] = {}
    try:
        procs["controller-manager"] = service("controller-manager", "controllers",
                                              ["--kubeconfig", str(cm.kubeconfig)])
        procs["scheduler"] = service("scheduler", "scheduler",
                                     ["--kubeconfig", str(sched.kubeconfig)])
        dns = s.user("system:serviceaccount:kube-system:kube-dns",
                     groups=["system:serviceaccounts", "system:serviceaccounts:kube-system"])
        procs["dns"] = service("dns", "clusterdns", [
            "--kubeconfig", str(dns.kubeconfig), "--address", "127.0.0.1", "--dns-port", "0",
            "--health-port", "-1", "--ready-port", "-1", "--metrics-port", "-1"])
        yield procs
    finally:
        for p in procs.values():
            p.stop()


def _get(url: str, path: str) -> Any:
    code, out = json_request("GET", url + path)
    assert code == 200, (code, out)
    return out


def test_deployment_runs_under_the_default_roles(secure_apiserver: SecureApiServer,
                                                 components: dict[str, Process]) -> None:
    s = secure_apiserver
    base = s.insecure_url
    node = unique("node")
    code, out = json_request("POST", f"{base}/api/v1/nodes", make_node(node).to_dict())
    assert code == 201, out
    ns = unique("ns")
    code, out = json_request("POST", f"{base}/api/v1/namespaces", {"metadata": {"name": ns}})
    assert code == 201, out
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    code, out = json_request("POST", f"{base}/apis/apps/v1/namespaces/{ns}/deployments", dep)
    assert code == 201, out

    def bound() -> bool:
        pods = _get(base, f"/api/v1/namespaces/{ns}/pods")["items"]
        return len(pods) == 2 and all(p["spec"].get("nodeName") == node for p in pods)
    wait_for(bound, 60, message="two pods bound by the scheduler")
    # the aggregation controller filled view as the controller-manager's identity
    view = _get(base, "/apis/rbac.authorization.k8s.io/v1/clusterroles/view")
    assert view.get("rules")
    for name, p in components.items():
        log = p.log_tail(400).lower()
        assert "forbidden" not in log and " 403" not in log, f"{name}:\n{p.log_tail(60)}"


def test_dns_answers_as_its_service_account(secure_apiserver: SecureApiServer,
                                            components: dict[str, Process]) -> None:
    from dnslib import DNSRecord

    dns = components["dns"]
    def serving_port() -> str:
        m = re.search(r"on 127\.0\.0\.1:(\d+)", dns.log_tail())
        return m.group(1) if m else ""
    port = int(wait_for(serving_port, 30, message="the DNS serving"))
    svc = wait_for(lambda: _get(secure_apiserver.insecure_url,
                                "/api/v1/namespaces/default/services/kubernetes"), 30)

    def answer() -> list[str]:
        q = DNSRecord.question("kubernetes.default.svc.cluster.local", "A")
        r = DNSRecord.parse(q.send("127.0.0.1", port, timeout=2))
        return [str(rr.rdata) for rr in r.rr]
    assert wait_for(answer, 30, message="an answer") == [svc["spec"]["clusterIP"]]
    log = dns.log_tail(400).lower()
    assert "forbidden" not in log and " 403" not in log, dns.log_tail(60)


def test_statefulset_runs_under_the_default_roles(secure_apiserver: SecureApiServer,
                                                  components: dict[str, Process]) -> None:
    """The statefulset controller as system:kube-controller-manager: revisions, claims of
    the volumeClaimTemplates and the pods, the set's status; refused nothing."""
    base = secure_apiserver.insecure_url
    ns = unique("ns")
    code, out = json_request("POST", f"{base}/api/v1/namespaces", {"metadata": {"name": ns}})
    assert code == 201, out
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
           "spec": {"replicas": 2, "serviceName": "db", "podManagementPolicy": "Parallel",
                    "selector": {"matchLabels": {"app": "db"}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}}}}],
                    "template": {"metadata": {"labels": {"app": "db"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    code, out = json_request("POST", f"{base}/apis/apps/v1/namespaces/{ns}/statefulsets", sts)
    assert code == 201, out

    def made() -> bool:
        pods = {p["metadata"]["name"] for p in
                _get(base, f"/api/v1/namespaces/{ns}/pods")["items"]}
        claims = {c["metadata"]["name"] for c in
                  _get(base, f"/api/v1/namespaces/{ns}/persistentvolumeclaims")["items"]}
        st = _get(base, f"/apis/apps/v1/namespaces/{ns}/statefulsets/db").get("status") or {}
        return pods == {"db-0", "db-1"} and claims == {"data-db-0", "data-db-1"} and \
            st.get("replicas") == 2 and bool(st.get("updateRevision"))
    wait_for(made, 60, message="the set's pods, claims and status")
    log = components["controller-manager"].log_tail(400).lower()
    assert "forbidden" not in log and " 403" not in log, \
        components["controller-manager"].log_tail(60)
