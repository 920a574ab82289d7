"""pods/eviction behind authorization and admission (Node,RBAC over TLS, NodeRestriction):
a kubelet evicts only pods bound to its node (admitPodEviction's message), a user needs
create on pods/eviction (RBAC's 403 otherwise; edit's aggregated rules have it, and
PodDisruptionBudgets), and the eviction is
admitted as a CREATE of the subresource."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from testing.secure import SecureApiServer
from testing.support import unique

AUTHORIZATION_MODE = "Node,RBAC"
SECURE_APISERVER_ARGS = ("--enable-admission-plugins=NodeRestriction",)


@pytest.fixture(scope="module")
def server(secure_apiserver: SecureApiServer) -> SecureApiServer:
    return secure_apiserver


@pytest.fixture(scope="module")
def root(server: SecureApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.insecure_url, timeout=15) as c:
        yield c


def post(c: httpx.Client, path: str, body: dict[str, Any]) -> None:
    r = c.post(path, json=body)
    assert r.status_code == 201, r.text


def eviction(name: str) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}


def test_node_and_user_evictions(server: SecureApiServer, root: httpx.Client) -> None:
    ns = unique("evauthz")
    post(root, "/api/v1/namespaces", {"metadata": {"name": ns}})
    for node in ("node-a", "node-b"):
        r = root.post("/api/v1/nodes", json={"metadata": {"name": node}})
        assert r.status_code in (201, 409)
    base = f"/api/v1/namespaces/{ns}/pods"
    for pod, node in (("on-a", "node-a"), ("on-b", "node-b"), ("other", "node-b")):
        post(root, base, {"metadata": {"name": pod}, "spec": {
            "nodeName": node, "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "c", "image": "nginx"}]}})
    with server.client(server.user("system:node:node-a", groups=["system:nodes"])) as node_a:
        r = node_a.post(f"{base}/on-b/eviction", json=eviction("on-b"))
        assert r.status_code == 403 and r.json()["message"] == (
            'pods "on-b" is forbidden: node node-a can only evict pods with spec.nodeName '
            "set to itself")
        r = node_a.post(f"{base}/on-a/eviction", json=eviction("on-a"))
        assert r.status_code == 201, r.text
    assert root.get(f"{base}/on-a").status_code == 404
    with server.client(server.user(unique("alice"))) as alice:
        r = alice.post(f"{base}/on-b/eviction", json=eviction("on-b"))
        assert r.status_code == 403
        assert 'cannot create resource "pods/eviction" in API group ""' in r.json()["message"]
    user = unique("bob")
    post(root, f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", {
        "metadata": {"name": "bob-edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "system:aggregate-to-edit"},
        "subjects": [{"kind": "User", "name": user}]})
    with server.client(server.user(user)) as bob:
        r = bob.post(f"{base}/on-b/eviction", json=eviction("on-b"))
        assert r.status_code == 201, r.text
        r = bob.post(f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets", json={
            "metadata": {"name": "pdb"}, "spec": {"minAvailable": 1}})
        assert r.status_code == 201, r.text
