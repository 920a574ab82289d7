"""pods/ephemeralcontainers behind RBAC (over TLS): a subresource of its own, as for
kube-apiserver: patch on pods does not grant it, a rule on pods/ephemeralcontainers does,
and a refusal has RBAC's words."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from testing.secure import SecureApiServer
from testing.support import unique

AUTHORIZATION_MODE = "RBAC"
SMP = {"Content-Type": "application/strategic-merge-patch+json"}


@pytest.fixture(scope="module")
def root(secure_apiserver: SecureApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=secure_apiserver.insecure_url, timeout=15) as c:
        yield c


def _role(root: httpx.Client, ns: str, user: str, resources: list[str]) -> None:
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    r = root.post(f"{rbac}/roles", json={"metadata": {"name": user}, "rules": [
        {"apiGroups": [""], "resources": resources, "verbs": ["get", "patch", "update"]}]})
    assert r.status_code == 201, r.text
    r = root.post(f"{rbac}/rolebindings", json={
        "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user},
        "subjects": [{"kind": "User", "name": user}]})
    assert r.status_code == 201, r.text


def test_ephemeralcontainers_needs_its_own_rule(secure_apiserver: SecureApiServer,
                                                root: httpx.Client) -> None:
    ns = unique("ecauthz")
    assert root.post("/api/v1/namespaces", json={"metadata": {"name": ns}}).status_code == 201
    r = root.post(f"/api/v1/namespaces/{ns}/pods", json={
        "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    assert r.status_code == 201, r.text
    path = f"/api/v1/namespaces/{ns}/pods/p/ephemeralcontainers"
    patch = {"spec": {"ephemeralContainers": [{"name": "dbg", "image": "busybox"}]}}
    alice, bob = unique("alice"), unique("bob")
    _role(root, ns, alice, ["pods"])
    _role(root, ns, bob, ["pods/ephemeralcontainers"])
    with secure_apiserver.client(secure_apiserver.user(alice)) as c:
        assert c.get(f"/api/v1/namespaces/{ns}/pods/p").status_code == 200
        r = c.patch(path, json=patch, headers=SMP)
        assert r.status_code == 403, r.text
        assert r.json()["message"] == (
            f'pods "p" is forbidden: User "{alice}" cannot patch resource '
            f'"pods/ephemeralcontainers" in API group "" in the namespace "{ns}"')
    with secure_apiserver.client(secure_apiserver.user(bob)) as c:
        r = c.patch(path, json=patch, headers=SMP)
        assert r.status_code == 200, r.text
        assert [e["name"] for e in r.json()["spec"]["ephemeralContainers"]] == ["dbg"]
        assert c.get(path).status_code == 200
        assert c.get(f"/api/v1/namespaces/{ns}/pods/p").status_code == 403
