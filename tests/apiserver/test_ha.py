"""Two API servers over one etcd: every server reflects the other's acknowledged writes at
once (consistent reads from the watch cache: etcd's current revision by a quorum read,
then the cache caught up to it, with etcd's progress answers for a type that had no
event), optimistic concurrency holds across them, a watch on one sees the other's
writes in order, and kubectl and the official client work against each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from pki import new_service_account_key
from testing.apiclient import Api, Watch
from testing.kubectl import Kubectl
from testing.kubectl import installed as kubectl_installed
from testing.support import ApiServer, Etcd, unique


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServer, ApiServer]]:
    # Both servers sign and verify ServiceAccount tokens with one key pair.
    keys = tmp_path_factory.mktemp("sa")
    key, pub = new_service_account_key()
    (keys / "sa.key").write_bytes(key)
    (keys / "sa.pub").write_bytes(pub)
    args = ["--service-account-key-file", str(keys / "sa.pub"),
            "--service-account-signing-key-file", str(keys / "sa.key")]
    etcd = Etcd().start()
    started: list[ApiServer] = []
    try:
        for _ in range(2):
            started.append(ApiServer(etcd.url, args).start())
        yield started[0], started[1]
    finally:
        for s in started:
            s.stop()
        etcd.stop()


@pytest.fixture(scope="module")
def apis(servers: tuple[ApiServer, ApiServer]) -> Iterator[tuple[Api, Api, str]]:
    a, b = Api(servers[0].url), Api(servers[1].url)
    ns = a.namespace()
    try:
        yield a, b, ns
    finally:
        a.close()
        b.close()


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": dict(data)}


def names(body: Any) -> set[str]:
    return {i["metadata"]["name"] for i in body["items"]}


def test_write_on_one_is_read_on_the_other_at_once(apis: tuple[Api, Api, str]) -> None:
    a, b, ns = apis
    path = f"/api/v1/namespaces/{ns}/configmaps"
    for i in range(15):
        w, r = (a, b) if i % 2 == 0 else (b, a)
        name = f"c{i}"
        made = w.ok("POST", path, cm(name, v="1"), 201)
        # No wait: the other server's list and get already hold it.
        listed = r.ok("GET", path)
        assert name in names(listed)
        assert int(listed["metadata"]["resourceVersion"]) >= \
            int(made["metadata"]["resourceVersion"])
        assert r.ok("GET", f"{path}/{name}")["data"] == {"v": "1"}
        w.ok("PUT", f"{path}/{name}", {**made, "data": {"v": "2"}})
        got = {i["metadata"]["name"]: i for i in r.ok("GET", path)["items"]}
        assert got[name]["data"] == {"v": "2"}
        w.ok("DELETE", f"{path}/{name}")
        assert name not in names(r.ok("GET", path))
        assert r.call("GET", f"{path}/{name}")[0] == 404


def test_namespace_made_on_one_is_usable_on_the_other(apis: tuple[Api, Api, str]) -> None:
    a, b, _ = apis
    for _ in range(5):
        ns = a.namespace()
        b.ok("POST", f"/api/v1/namespaces/{ns}/configmaps", cm("x"), 201)


def test_quiet_type_is_current_after_other_writes(apis: tuple[Api, Api, str]) -> None:
    """A list of a type nobody wrote since reports a resourceVersion at least as new
    as the other server's last write (its cache is vouched for by etcd's progress)."""
    a, b, ns = apis
    for _ in range(5):
        made = a.ok("POST", f"/api/v1/namespaces/{ns}/configmaps", cm(unique("q")), 201)
        listed = b.ok("GET", f"/api/v1/namespaces/{ns}/secrets")
        assert int(listed["metadata"]["resourceVersion"]) >= \
            int(made["metadata"]["resourceVersion"])
        # ...and a list from that resourceVersion is served by the other server at once.
        rv = made["metadata"]["resourceVersion"]
        assert b.call("GET", f"/api/v1/namespaces/{ns}/secrets", resourceVersion=rv)[0] == 200


def test_optimistic_concurrency_across_servers(apis: tuple[Api, Api, str]) -> None:
    a, b, ns = apis
    path = f"/api/v1/namespaces/{ns}/configmaps"
    old = a.ok("POST", path, cm("occ", v="1"), 201)
    b.ok("GET", f"{path}/occ")
    new = a.ok("PUT", f"{path}/occ", {**old, "data": {"v": "2"}})
    # b with the stale resourceVersion: 409, although b's cache may not have a's write yet.
    code, body = b.call("PUT", f"{path}/occ", {**old, "data": {"v": "3"}})
    assert code == 409 and body["reason"] == "Conflict", body
    # b with the new one, right after a's write: accepted (checked against etcd's copy).
    new2 = b.ok("PUT", f"{path}/occ", {**new, "data": {"v": "4"}})
    assert a.ok("GET", f"{path}/occ")["data"] == {"v": "4"}
    # A delete with a's now stale precondition: 409 on either server.
    def pre(rv: str) -> dict[str, Any]:
        return {"kind": "DeleteOptions", "apiVersion": "v1",
                "preconditions": {"resourceVersion": rv}}
    assert b.call("DELETE", f"{path}/occ", pre(new["metadata"]["resourceVersion"]))[0] == 409
    assert a.call("DELETE", f"{path}/occ", pre(new2["metadata"]["resourceVersion"]))[0] == 200


def test_update_that_looks_like_no_change_on_a_stale_copy(
        apis: tuple[Api, Api, str]) -> None:
    """b's cache may still hold the label a just removed: b's patch that sets it again
    must be written, not answered from the stale copy as a no-op."""
    a, b, ns = apis
    path = f"/api/v1/namespaces/{ns}/configmaps"
    for i in range(10):
        name = f"noop{i}"
        a.ok("POST", path, {**cm(name), "metadata": {"name": name, "labels": {"x": "1"}}}, 201)
        b.ok("GET", path)  # b's cache has it with the label
        a.ok("PATCH", f"{path}/{name}", {"metadata": {"labels": {"x": None}}},
             content_type="application/merge-patch+json")
        b.ok("PATCH", f"{path}/{name}", {"metadata": {"labels": {"x": "1"}}},
             content_type="application/merge-patch+json")
        assert a.ok("GET", f"{path}/{name}")["metadata"].get("labels") == {"x": "1"}


def test_watch_on_one_sees_the_others_writes_in_order(
        servers: tuple[ApiServer, ApiServer], apis: tuple[Api, Api, str]) -> None:
    a, b, ns = apis
    path = f"/api/v1/namespaces/{ns}/configmaps"
    rv = b.ok("GET", path)["metadata"]["resourceVersion"]
    w = Watch(servers[1].url, path, resourceVersion=rv)
    try:
        made = [a.ok("POST", path, cm(f"w{i}"), 201) for i in range(10)]
        a.ok("DELETE", f"{path}/w3")
        events = w.collect(11, timeout=15)
    finally:
        w.close()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == \
        [("ADDED", f"w{i}") for i in range(10)] + [("DELETED", "w3")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs)
    assert rvs[:10] == [int(m["metadata"]["resourceVersion"]) for m in made]


def test_watch_list_on_one_starts_with_the_others_writes(
        servers: tuple[ApiServer, ApiServer], apis: tuple[Api, Api, str]) -> None:
    a, _, ns = apis
    path = f"/api/v1/namespaces/{ns}/configmaps"
    for i in range(5):
        name = f"wl{i}"
        a.ok("POST", path, cm(name), 201)
        w = Watch(servers[1].url, path, sendInitialEvents="true", allowWatchBookmarks="true",
                  resourceVersionMatch="NotOlderThan", fieldSelector=f"metadata.name={name}")
        try:
            first = w.next(timeout=10)
        finally:
            w.close()
        assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", name), first


def test_kubectl_and_official_client_against_each(
        servers: tuple[ApiServer, ApiServer], apis: tuple[Api, Api, str],
        tmp_path: Path) -> None:
    ns = apis[2]
    if not kubectl_installed():
        pytest.skip("kubectl not installed")
    ka = Kubectl(servers[0].url, tmp_path / "a")
    kb = Kubectl(servers[1].url, tmp_path / "b")
    ka("-n", ns, "create", "configmap", "kc", "--from-literal=k=v")
    assert kb("-n", ns, "get", "configmap", "kc", "-o", "jsonpath={.data.k}").stdout == "v"
    kb("-n", ns, "label", "configmap", "kc", "l=1")
    assert ka("-n", ns, "get", "configmap", "-l", "l=1", "-o", "name").stdout.strip() == \
        "configmap/kc"
    for s, other in ((servers[0], servers[1]), (servers[1], servers[0])):
        cfg = client.Configuration(host=s.url)
        with client.ApiClient(cfg) as api_client:
            core = client.CoreV1Api(api_client)
            name = unique("oc")
            core.create_namespaced_config_map(ns, client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=name), data={"a": "b"}))
        cfg2 = client.Configuration(host=other.url)
        with client.ApiClient(cfg2) as api_client:
            core = client.CoreV1Api(api_client)
            assert name in {c.metadata.name for c in core.list_namespaced_config_map(ns).items
                            if c.metadata is not None}
            got = core.read_namespaced_config_map(name, ns)
            got.data = {"a": "c"}
            core.replace_namespaced_config_map(name, ns, got)
            with pytest.raises(ApiException) as e:
                core.replace_namespaced_config_map(name, ns, got)  # its rv is now stale
            assert e.value.status == 409


def test_token_of_a_new_service_account_is_accepted_by_the_other(
        apis: tuple[Api, Api, str]) -> None:
    """A ServiceAccount and its token made through one server authenticate on the other
    at once (its token check looks again once its caches caught up with etcd)."""
    a, b, ns = apis
    for i in range(5):
        sa = f"robot{i}"
        a.ok("POST", f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": sa}},
             201)
        token = a.ok("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token",
                     {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                      "spec": {}}, 201)["status"]["token"]
        review = b.ok("POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                      {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                       "spec": {"token": token}}, 201)
        assert review["status"].get("authenticated") is True, review
        assert review["status"]["user"]["username"] == f"system:serviceaccount:{ns}:{sa}"
