"""The Node authorizer (--authorization-mode=Node,RBAC) over TLS, with kubelet identities
(client certificates CN system:node:<name>, O system:nodes): a node reads only the Secrets
and ConfigMaps its pods use, creates tokens only for its pods' ServiceAccounts, touches
only its own Lease; the graph follows pods as they are bound and deleted. Also the graph
alone, on a stand-in watch cache."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from apiserver.auth.node import NodeGraph, pod_refs
from testing.secure import SecureApiServer
from testing.support import unique, wait_for

AUTHORIZATION_MODE = "Node,RBAC"
SECURE_APISERVER_ARGS = ("--enable-admission-plugins=NodeRestriction",)


@pytest.fixture(scope="module")
def server(secure_apiserver: SecureApiServer) -> SecureApiServer:
    return secure_apiserver


@pytest.fixture(scope="module")
def root(server: SecureApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.insecure_url, timeout=15) as c:
        yield c


def node_client(server: SecureApiServer, name: str) -> httpx.Client:
    return server.client(server.user(f"system:node:{name}", groups=["system:nodes"]))


@pytest.fixture(scope="module")
def node_a(server: SecureApiServer) -> Iterator[httpx.Client]:
    with node_client(server, "node-a") as c:
        yield c


@pytest.fixture(scope="module")
def node_b(server: SecureApiServer) -> Iterator[httpx.Client]:
    with node_client(server, "node-b") as c:
        yield c


def post(root: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = root.post(path, json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_node_reads_only_what_its_pods_use(server: SecureApiServer, root: httpx.Client,
                                           node_a: httpx.Client, node_b: httpx.Client) -> None:
    ns = unique("nauthz")
    post(root, "/api/v1/namespaces", {"metadata": {"name": ns}})
    base = f"/api/v1/namespaces/{ns}"
    for s in ("env-secret", "vol-secret", "unused"):
        post(root, f"{base}/secrets", {"metadata": {"name": s}, "data": {"k": "dg=="}})
    post(root, f"{base}/configmaps", {"metadata": {"name": "cfg"}, "data": {"a": "b"}})
    post(root, f"{base}/serviceaccounts", {"metadata": {"name": "robot"}})
    post(root, f"{base}/pods", {"metadata": {"name": "web"}, "spec": {
        "nodeName": "node-a", "serviceAccountName": "robot",
        "containers": [{"name": "c", "image": "nginx", "env": [
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "k"}}}]}],
        "volumes": [{"name": "v", "secret": {"secretName": "vol-secret"}},
                    {"name": "p", "projected": {"sources": [{"configMap": {"name": "cfg"}}]}}]}})

    for name in ("env-secret", "vol-secret"):
        assert node_a.get(f"{base}/secrets/{name}").status_code == 200
    assert node_a.get(f"{base}/configmaps/cfg").status_code == 200
    r = node_a.get(f"{base}/secrets/unused")
    assert r.status_code == 403
    assert r.json()["message"] == (
        f'secrets "unused" is forbidden: User "system:node:node-a" cannot get resource '
        f'"secrets" in API group "" in the namespace "{ns}": no relationship found between '
        "node 'node-a' and this object")
    r = node_b.get(f"{base}/secrets/env-secret")
    assert r.status_code == 403 and "no relationship found between node 'node-b'" in \
        r.json()["message"]
    assert node_a.get(f"{base}/secrets").status_code == 403  # no listing all Secrets
    one = node_a.get(f"{base}/secrets", params={"fieldSelector": "metadata.name=vol-secret"})
    assert one.status_code == 200 and [i["metadata"]["name"] for i in one.json()["items"]] == \
        ["vol-secret"]
    assert node_a.delete(f"{base}/secrets/vol-secret").status_code == 403
    # Pods: its own (AuthorizeNodeWithSelectors); Services through the system:node rules.
    r = node_b.get(f"{base}/pods")
    assert r.status_code == 403 and r.json()["message"].endswith(
        "can only list/watch pods with spec.nodeName field selector")
    mine = node_a.get("/api/v1/pods", params={"fieldSelector": "spec.nodeName=node-a"})
    assert [p["metadata"]["name"] for p in mine.json()["items"]] == ["web"]
    assert node_b.get("/api/v1/pods", params={"fieldSelector": "spec.nodeName=node-a"}) \
        .status_code == 403
    assert node_a.get(f"{base}/pods/web").status_code == 200
    assert node_b.get(f"{base}/pods/web").status_code == 403
    assert node_b.get(f"{base}/services").status_code == 200

    token = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
             "spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web"}}}
    web_uid = root.get(f"{base}/pods/web").json()["metadata"]["uid"]
    token["spec"]["boundObjectRef"]["uid"] = web_uid  # type: ignore[index]
    assert node_a.post(f"{base}/serviceaccounts/robot/token", json=token).status_code == 201
    assert node_b.post(f"{base}/serviceaccounts/robot/token", json=token).status_code == 403

    # The graph follows the pods: once web is gone, node-a reads nothing of it.
    assert root.delete(f"{base}/pods/web", params={"gracePeriodSeconds": "0"}).status_code \
        == 200
    wait_for(lambda: node_a.get(f"{base}/secrets/env-secret").status_code == 403, timeout=10,
             message="access gone with the pod")
    assert node_a.get(f"{base}/configmaps/cfg").status_code == 403


def test_node_gets_the_volumes_of_its_pods_claims(root: httpx.Client, node_a: httpx.Client,
                                                 node_b: httpx.Client) -> None:
    ns = unique("nauthz")
    post(root, "/api/v1/namespaces", {"metadata": {"name": ns}})
    base = f"/api/v1/namespaces/{ns}"
    for pv in ("vol-a", "vol-other"):
        post(root, "/api/v1/persistentvolumes", {"metadata": {"name": f"{ns}-{pv}"}, "spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": f"/tmp/{pv}"}}})
    post(root, f"{base}/persistentvolumeclaims", {"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
        "volumeName": f"{ns}-vol-a"}})
    post(root, f"{base}/pods", {"metadata": {"name": "db"}, "spec": {
        "nodeName": "node-a", "containers": [{"name": "c", "image": "nginx"}],
        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}})
    assert node_a.get(f"{base}/persistentvolumeclaims/data").status_code == 200
    assert node_a.get(f"/api/v1/persistentvolumes/{ns}-vol-a").status_code == 200
    r = node_a.get(f"/api/v1/persistentvolumes/{ns}-vol-other")
    assert r.status_code == 403 and r.json()["message"].endswith(
        "no relationship found between node 'node-a' and this object")
    assert node_b.get(f"/api/v1/persistentvolumes/{ns}-vol-a").status_code == 403
    assert node_a.get("/api/v1/persistentvolumes").status_code == 403


def test_node_leases(root: httpx.Client, node_a: httpx.Client) -> None:
    base = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "node-a"}, "spec": {"holderIdentity": "node-a"}}
    r = node_a.post(base, json=lease)
    assert r.status_code in (201, 409), r.text
    assert node_a.get(f"{base}/node-a").status_code == 200
    post(root, base, {**lease, "metadata": {"name": unique("other")}})
    r = node_a.get(f"{base}/node-b")
    assert r.status_code == 403 and r.json()["message"].endswith(
        "can only access node lease with the same name as the requesting node")
    r = node_a.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/node-a")
    assert r.status_code == 403 and r.json()["message"].endswith(
        'can only access leases in the "kube-node-lease" system namespace')


MERGE = {"Content-Type": "application/merge-patch+json"}


def test_node_restriction(server: SecureApiServer, root: httpx.Client, node_a: httpx.Client,
                          node_b: httpx.Client) -> None:
    """One kubelet's credentials cannot patch the other node, its pods' status, nor delete
    its pods; a node may not create ordinary pods nor tokens for pods elsewhere."""
    for name in ("node-a", "node-b"):
        r = root.post("/api/v1/nodes", json={"metadata": {"name": name}})
        assert r.status_code in (201, 409)
    r = node_a.patch("/api/v1/nodes/node-b", headers=MERGE,
                     json={"metadata": {"labels": {"x": "y"}}})
    assert r.status_code == 403
    assert r.json()["message"] == \
        'nodes "node-b" is forbidden: node "node-a" is not allowed to modify node "node-b"'
    r = node_a.patch("/api/v1/nodes/node-b/status", headers=MERGE,
                     json={"status": {"conditions": []}})
    assert r.status_code == 403
    assert node_a.patch("/api/v1/nodes/node-a", headers=MERGE,
                        json={"metadata": {"labels": {"team": "a"}}}).status_code == 200
    assert node_a.get("/api/v1/nodes/node-a").status_code == 200
    r = node_a.get("/api/v1/nodes/node-b")
    assert r.status_code == 403 and r.json()["message"].endswith(
        "node 'node-a' cannot read 'node-b', only its own Node object")
    r = node_a.get("/api/v1/nodes")
    assert r.status_code == 403 and r.json()["message"].endswith(
        "node 'node-a' cannot read all nodes, only its own Node object")
    assert node_a.get("/api/v1/nodes", params={"fieldSelector": "metadata.name=node-a"}) \
        .status_code == 200
    r = node_a.patch("/api/v1/nodes/node-a", headers=MERGE, json={"metadata": {"labels": {
        "node-restriction.kubernetes.io/secure": "true"}}})
    assert r.status_code == 403 and r.json()["message"] == (
        'nodes "node-a" is forbidden: is not allowed to modify labels: '
        "node-restriction.kubernetes.io/secure")
    r = node_a.patch("/api/v1/nodes/node-a", headers=MERGE,
                     json={"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}})
    assert r.status_code == 403 and r.json()["message"].endswith(
        'node "node-a" is not allowed to modify taints')

    ns = unique("nrestrict")
    post(root, "/api/v1/namespaces", {"metadata": {"name": ns}})
    base = f"/api/v1/namespaces/{ns}/pods"
    for pod, node in (("on-a", "node-a"), ("on-b", "node-b")):
        post(root, base, {"metadata": {"name": pod}, "spec": {
            "nodeName": node, "containers": [{"name": "c", "image": "nginx"}]}})
    status = {"status": {"phase": "Running"}}
    assert node_a.patch(f"{base}/on-a/status", headers=MERGE, json=status).status_code == 200
    r = node_a.patch(f"{base}/on-b/status", headers=MERGE, json=status)
    assert r.status_code == 403 and r.json()["message"] == (
        'pods "on-b" is forbidden: node "node-a" can only update pod status for pods with '
        "spec.nodeName set to itself")
    # Labels cannot change through status here at all (the status strategy keeps metadata).
    r = node_a.patch(f"{base}/on-a/status", headers=MERGE,
                     json={"metadata": {"labels": {"l": "v"}}})
    assert not r.json()["metadata"].get("labels")
    r = node_a.delete(f"{base}/on-b")
    assert r.status_code == 403 and r.json()["message"].endswith(
        'node "node-a" can only delete pods with spec.nodeName set to itself')
    r = node_a.post(base, json={"metadata": {"name": "sneaky"}, "spec": {
        "nodeName": "node-a", "containers": [{"name": "c", "image": "nginx"}]}})
    assert r.status_code == 403 and r.json()["message"] == (
        'pods "sneaky" is forbidden: pod does not have "kubernetes.io/config.mirror" '
        'annotation, node "node-a" can only create mirror pods')
    assert node_a.delete(f"{base}/on-a", params={"gracePeriodSeconds": "0"}).status_code \
        == 200
    r = node_a.post(f"/api/v1/namespaces/{ns}/serviceaccounts/default/token",
                    json={"spec": {}})
    assert r.status_code == 403  # not a pod of node-a's: the Node authorizer says no


class _Cache:
    """A stand-in watch cache: objects, revision, ring window and its events."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}
        self.revision = 0
        self.window_start = 0
        self.events: list[Any] = []

    def put(self, key: str, obj: dict[str, Any] | None) -> None:
        self.revision += 1
        typ = "DELETED" if obj is None else "MODIFIED"
        if obj is None:
            self.objects.pop(key, None)
        else:
            self.objects[key] = type("CO", (), {"obj": obj})()
        self.events.append(type("Ev", (), {"type": typ, "key": key, "obj": obj,
                                            "rv": self.revision})())

    def _events_after(self, rv: int) -> list[Any]:
        return [e for e in self.events if e.rv > rv]


def test_graph_incremental_and_rebuilt() -> None:
    cache = _Cache()
    g = NodeGraph({"pods": cache})
    pod = {"metadata": {"namespace": "ns", "name": "p"},
           "spec": {"serviceAccountName": "sa", "imagePullSecrets": [{"name": "pull"}],
                    "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "e"}}]}]}}
    assert sorted(pod_refs(pod)) == [("configmaps", "ns", "e"), ("secrets", "ns", "pull"),
                                     ("serviceaccounts", "ns", "sa")]
    cache.put("/registry/pods/ns/p", pod)  # not bound yet
    assert not g.has_path("n1", "secrets", "ns", "pull")
    cache.put("/registry/pods/ns/p", {**pod, "spec": {**pod["spec"], "nodeName": "n1"}})
    assert g.has_path("n1", "secrets", "ns", "pull")
    assert g.has_path("n1", "serviceaccounts", "ns", "sa")
    assert not g.has_path("n2", "secrets", "ns", "pull")
    cache.put("/registry/pods/ns/q", {**pod, "metadata": {"namespace": "ns", "name": "q"},
                                      "spec": {**pod["spec"], "nodeName": "n1"}})
    cache.put("/registry/pods/ns/p", None)
    assert g.has_path("n1", "configmaps", "ns", "e")  # q still uses it
    cache.window_start = cache.revision + 1  # the ring lost the gap: rebuilt from objects
    cache.put("/registry/pods/ns/q", None)
    cache.objects = dict(cache.objects)
    assert not g.has_path("n1", "configmaps", "ns", "e")
    assert g.uses == {}
