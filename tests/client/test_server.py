"""The REST client against the real API server: both faces, typed errors, subresources."""

from __future__ import annotations

import asyncio

import pytest

from api.models import (
    Container,
    Deployment,
    Namespace,
    Node,
    ObjectMeta,
    Pod,
    PodSpec,
    PodTemplateSpec,
    Scale,
)
from api.models.meta import LabelSelector
from client import errors
from client.rest import AsyncClient, Client, RetryPolicy
from testing.support import ApiServer, free_port, on_own_etcd, unique


def pod(name: str, ns: str, labels: dict[str, str] | None = None) -> Pod:
    return Pod(metadata=ObjectMeta(name=name, namespace=ns, labels=labels),
               spec=PodSpec(containers=[Container(name="c", image="nginx")]))


@pytest.fixture
def sync_client(server_url: str) -> Client:
    with Client(server_url) as c:
        yield c  # type: ignore[misc]


@pytest.fixture
def ns(sync_client: Client) -> str:
    name = unique("cs")
    sync_client.create(Namespace(metadata=ObjectMeta(name=name)))
    return name


def test_crud_and_typed_errors_sync(sync_client: Client, ns: str) -> None:
    c = sync_client
    created = c.create(pod("a", ns, {"app": "x"}))
    assert created.metadata.uid and created.metadata.resource_version
    with pytest.raises(errors.AlreadyExists):
        c.create(pod("a", ns))
    with pytest.raises(errors.NotFound):
        c.get(Pod, "missing", ns)
    with pytest.raises(errors.Invalid) as inv:
        c.create(Pod(metadata=ObjectMeta(name="Bad_Name", namespace=ns),
                     spec=PodSpec(containers=[])))
    assert inv.value.code == 422 and inv.value.causes

    got = c.get(Pod, "a", ns)
    got.metadata.labels = {"app": "y"}
    updated = c.update(got)
    assert updated.metadata.labels == {"app": "y"}
    stale = got.copy_deep()
    stale.metadata.labels = {"app": "z"}
    with pytest.raises(errors.Conflict):
        c.update(stale)  # carries the old resourceVersion

    patched = c.patch(Pod, "a", {"metadata": {"annotations": {"k": "v"}}}, ns)
    assert patched.metadata.annotations == {"k": "v"}
    patched = c.patch(Pod, "a", [{"op": "add", "path": "/metadata/labels/extra", "value": "1"}],
                      ns, patch_type="json")
    assert patched.metadata.labels == {"app": "y", "extra": "1"}
    patched = c.patch(Pod, "a", {"metadata": {"labels": {"extra": None}}}, ns,
                      patch_type="strategic")
    assert patched.metadata.labels == {"app": "y"}

    st = patched.copy_deep()
    st.status = st.status or type(st).model_fields["status"].annotation.__args__[0]()  # type: ignore[union-attr]
    assert st.status is not None
    st.status.phase = "Running"
    after = c.update_status(st)
    assert after.status is not None and after.status.phase == "Running"

    c.bind("a", ns, "node-1")
    assert c.get(Pod, "a", ns).spec.node_name == "node-1"

    res = c.list(Pod, ns, label_selector="app=y")
    assert [p.metadata.name for p in res.items] == ["a"] and res.resource_version
    assert c.list(Pod, ns, field_selector="spec.nodeName=node-1").items[0].metadata.name == "a"

    with pytest.raises(errors.Conflict):
        c.delete(Pod, "a", ns, preconditions_rv="1")
    c.delete(Pod, "a", ns, grace_period_seconds=0)
    with pytest.raises(errors.NotFound):
        c.get(Pod, "a", ns)


def test_list_all_pages_and_delete_collection(sync_client: Client, ns: str) -> None:
    c = sync_client
    for i in range(7):
        c.create(pod(f"p{i}", ns, {"batch": "1"}))
    page = c.list(Pod, ns, limit=3)
    assert len(page.items) == 3 and page.continue_
    allp = c.list_all(Pod, ns, page_size=3)
    assert sorted(p.metadata.name for p in allp.items) == [f"p{i}" for i in range(7)]
    c.delete_collection(Pod, ns, label_selector="batch=1")
    assert c.list(Pod, ns).items == [] or all(
        p.metadata.deletion_timestamp for p in c.list(Pod, ns).items)


def test_scale_subresource_and_cluster_scoped(sync_client: Client, ns: str) -> None:
    c = sync_client
    d = Deployment.model_validate({
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": PodTemplateSpec(metadata=ObjectMeta(labels={"app": "web"}),
                                             spec=pod("x", ns).spec).to_dict()},
    })
    assert isinstance(LabelSelector(match_labels={"app": "web"}), LabelSelector)
    c.create(d)
    sc = c.get_scale(Deployment, "web", ns)
    assert isinstance(sc, Scale) and sc.spec.replicas == 1
    assert c.patch_scale(Deployment, "web", 3, ns).spec.replicas == 3
    sc = c.get_scale(Deployment, "web", ns)
    sc.spec.replicas = 2
    assert c.update_scale(Deployment, sc, ns).spec.replicas == 2
    assert c.get(Deployment, "web", ns).spec.replicas == 2

    node = unique("node")
    c.create(Node(metadata=ObjectMeta(name=node)))
    assert c.get(Node, node).metadata.namespace is None
    assert node in [n.metadata.name for n in c.list(Node).items]
    c.delete(Node, node)
    assert c.request("GET", "/api")["kind"] == "APIVersions"


async def test_async_face_and_watch_over_aiohttp(server_url: str, ns: str) -> None:
    async with AsyncClient(server_url) as c:
        res = await c.list(Pod, ns)

        async def writer() -> None:
            await c.create(pod("w", ns))
            await c.patch(Pod, "w", {"metadata": {"labels": {"a": "b"}}}, ns)
            await c.delete(Pod, "w", ns, grace_period_seconds=0)

        t = asyncio.create_task(writer())
        seen = []
        async for ev in c.watch(Pod, ns, resource_version=res.resource_version,
                                timeout_seconds=10):
            seen.append(ev.type)
            if ev.type == "DELETED":
                break
        await t
        assert [s for s in seen if s != "BOOKMARK"] == ["ADDED", "MODIFIED", "DELETED"]
        # many concurrent requests share the pool
        await asyncio.gather(*(c.create(pod(f"q{i}", ns)) for i in range(50)))
        assert len((await c.list(Pod, ns)).items) >= 50


def test_unreachable_server_is_server_unavailable() -> None:
    c = Client(f"http://127.0.0.1:{free_port()}", retry=RetryPolicy(retries=2, base=0.01))
    with pytest.raises(errors.ServerUnavailable) as info:
        c.get(Pod, "x")
    assert info.value.code == 503 and "cannot reach" in info.value.message


TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io"


def test_request_with_accept_and_raw_table_watch(sync_client: Client, ns: str) -> None:
    c = sync_client
    c.create(pod("t", ns))
    path = f"/api/v1/namespaces/{ns}/pods"
    table = c.request("GET", path, accept=TABLE_ACCEPT)
    assert table["kind"] == "Table" and [r["cells"][0] for r in table["rows"]] == ["t"]
    assert c.request("GET", path)["kind"] == "PodList"
    rv = table["metadata"]["resourceVersion"]
    c.patch(Pod, "t", {"metadata": {"labels": {"a": "b"}}}, ns)
    for ev in c.watch_raw(path, {"resourceVersion": rv, "timeoutSeconds": 10},
                          accept=TABLE_ACCEPT):
        if ev["type"] != "BOOKMARK":
            break
    assert ev["type"] == "MODIFIED" and ev["object"]["kind"] == "Table"
    assert len(ev["object"]["rows"]) == 1


def test_raw_watch_from_too_old_a_version_is_gone() -> None:
    """On a server whose watch cache keeps three events per kind, a watch from before the
    last three writes is 410 Gone (on the shared server, whether resourceVersion 1 is still
    in the window depends on what was written before its caches started)."""
    with on_own_etcd(lambda url: ApiServer(url, ["--watch-cache-capacity", "3"])) as s:
        c = Client(s.url)
        try:
            ns = unique("gone")
            c.request("POST", "/api/v1/namespaces", json={"metadata": {"name": ns}})
            first = c.create(pod("g0", ns)).metadata.resource_version
            for i in range(1, 6):
                c.create(pod(f"g{i}", ns))
            path = f"/api/v1/namespaces/{ns}/pods"
            with pytest.raises(errors.Gone):
                next(iter(c.watch_raw(path, {"resourceVersion": first}, accept=TABLE_ACCEPT)))
        finally:
            c.close()


async def test_async_raw_watch(server_url: str, ns: str) -> None:
    async with AsyncClient(server_url) as c:
        path = f"/api/v1/namespaces/{ns}/pods"
        rv = (await c.request("GET", path, accept=TABLE_ACCEPT))["metadata"]["resourceVersion"]
        await c.create(pod("u", ns))
        async for ev in c.watch_raw(path, {"resourceVersion": rv, "timeoutSeconds": 10}):
            if ev["type"] != "BOOKMARK":
                break
        assert ev["type"] == "ADDED" and ev["object"]["kind"] == "Pod"
