"""Informers against the real API server and etcd: sync, indexes, outages, 410, churn."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import orjson
import pytest

from api.models import Container, ObjectMeta, OwnerReference, Pod, PodSpec
from client.backoff import Backoff
from client.cache import (
    CONTROLLER_UID_INDEX,
    LABEL_INDEX,
    NAMESPACE_INDEX,
    NODE_NAME_INDEX,
    OWNER_UID_INDEX,
    meta_key,
    split_key,
)
from client.errors import Gone, NotFound
from client.informer import Informer, SharedInformerFactory
from client.rest import AsyncClient, RetryPolicy
from testing.objects import new_namespace
from testing.support import ApiServer, Etcd, async_wait_for

FAST_RETRY = RetryPolicy(retries=1, base=0.05, cap=0.1)


def pod(name: str, ns: str, *, node: str | None = None, labels: dict[str, str] | None = None,
        owner_uid: str | None = None) -> Pod:
    owners = None
    if owner_uid:
        owners = [OwnerReference(api_version="apps/v1", kind="ReplicaSet", name="rs",
                                 uid=owner_uid, controller=True)]
    return Pod(metadata=ObjectMeta(name=name, namespace=ns, labels=labels,
                                   owner_references=owners),
               spec=PodSpec(containers=[Container(name="c", image="nginx")], node_name=node))


class Mirror:
    """What a handler-only consumer sees: proves the handlers got every difference."""

    def __init__(self, inf: Informer[Pod]) -> None:
        self.objs: dict[str, str | None] = {}
        self.adds: list[str] = []
        self.deletes: list[str] = []
        self.updates = 0
        inf.add_handler(self.on_add, self.on_update, self.on_delete)

    def on_add(self, o: Pod) -> None:
        self.adds.append(o.metadata.name or "")
        self.objs[meta_key(o)] = o.metadata.resource_version

    async def on_update(self, old: Pod, new: Pod) -> None:  # async handlers work too
        assert meta_key(old) == meta_key(new)
        self.updates += 1
        self.objs[meta_key(new)] = new.metadata.resource_version

    def on_delete(self, o: Pod) -> None:
        self.deletes.append(o.metadata.name or "")
        self.objs.pop(meta_key(o), None)


async def server_state(c: AsyncClient, ns: str) -> dict[str, str | None]:
    res = await c.list(Pod, ns)
    return {meta_key(p): p.metadata.resource_version for p in res.items}


def cache_state(inf: Informer[Pod]) -> dict[str, str | None]:
    return {meta_key(p): p.metadata.resource_version for p in inf.store.list()}


async def test_sync_indexes_and_live_events(client: AsyncClient) -> None:
    ns = await new_namespace(client, "inf")
    await client.create(pod("a", ns, node="n1", labels={"app": "x"}, owner_uid="rs-1"))
    await client.create(pod("b", ns, node="n2", labels={"app": "x", "tier": "web"}))
    await client.create(pod("c", ns))
    inf = Informer(client, Pod, ns)
    mirror = Mirror(inf)
    await inf.start()
    assert await inf.wait_for_sync(10) and inf.has_synced
    try:
        assert sorted(inf.store.keys()) == [f"{ns}/a", f"{ns}/b", f"{ns}/c"]
        assert sorted(mirror.adds) == ["a", "b", "c"]
        a = inf.store.get(f"{ns}/a")
        assert isinstance(a, Pod) and a.spec.node_name == "n1"
        assert inf.store.get_by_key(f"{ns}/zzz") is None
        names = lambda objs: sorted(o.metadata.name for o in objs)  # noqa: E731
        assert names(inf.store.by_index(NAMESPACE_INDEX, ns)) == ["a", "b", "c"]
        assert names(inf.store.by_index(NODE_NAME_INDEX, "n1")) == ["a"]
        assert names(inf.store.by_index(OWNER_UID_INDEX, "rs-1")) == ["a"]
        assert names(inf.store.by_index(CONTROLLER_UID_INDEX, "rs-1")) == ["a"]
        assert names(inf.store.by_index(LABEL_INDEX, "app=x")) == ["a", "b"]
        inf.add_index("by-tier", lambda o: [(o.metadata.labels or {}).get("tier", "none")])
        assert names(inf.store.by_index("by-tier", "none")) == ["a", "c"]

        # binding c to n1 moves it in the node index; deleting a removes it everywhere
        await client.bind("c", ns, "n1")
        await async_wait_for(lambda: len(inf.store.by_index(NODE_NAME_INDEX, "n1")) == 2,
                             timeout=10, message="bind seen")
        await client.delete(Pod, "a", ns, grace_period_seconds=0)
        await async_wait_for(lambda: "a" in mirror.deletes, timeout=10, message="delete seen")
        assert names(inf.store.by_index(NODE_NAME_INDEX, "n1")) == ["c"]
        assert inf.store.by_index(OWNER_UID_INDEX, "rs-1") == []
        assert mirror.updates >= 1
        assert mirror.objs == cache_state(inf) == await server_state(client, ns)

        # a handler added late first gets the current objects as adds
        late: list[str] = []
        inf.add_handler(on_add=lambda o: late.append(o.metadata.name))
        assert sorted(late) == ["b", "c"]
        assert split_key(f"{ns}/b") == (ns, "b") and split_key("node1") == (None, "node1")
    finally:
        await inf.stop()
    assert not inf.running


async def test_shared_factory_shares_and_label_selector(client: AsyncClient) -> None:
    ns = await new_namespace(client, "inf")
    await client.create(pod("x", ns, labels={"app": "web"}))
    await client.create(pod("y", ns, labels={"app": "db"}))
    f = SharedInformerFactory(client)
    i1 = f.informer(Pod, ns, label_selector="app=web")
    assert f.informer(Pod, ns, label_selector="app=web") is i1
    i2 = f.informer(Pod, ns)
    assert i2 is not i1
    await f.start_all()
    try:
        assert await f.wait_for_sync(10)
        assert i1.store.keys() == [f"{ns}/x"]
        assert sorted(i2.store.keys()) == [f"{ns}/x", f"{ns}/y"]
        # relabelling y into the selector arrives as an add in i1
        await client.patch(Pod, "y", {"metadata": {"labels": {"app": "web"}}}, ns)
        await async_wait_for(lambda: len(i1.store) == 2, timeout=10)
    finally:
        await f.stop_all()


async def test_deletion_during_outage_delivered_after_relist(
        etcd: Etcd, client: AsyncClient) -> None:
    ns = await new_namespace(client, "inf")
    for n in ("a", "b"):
        await client.create(pod(n, ns))
    own = ApiServer(etcd.url).start()
    try:
        async with AsyncClient(own.url, retry=FAST_RETRY) as c2:
            inf = Informer(c2, Pod, ns, backoff=Backoff(0.1, 0.5))
            mirror = Mirror(inf)
            await inf.start()
            assert await inf.wait_for_sync(10)
            lists = inf.lists
            await asyncio.to_thread(own.stop)  # the informer's API server goes away
            await client.delete(Pod, "a", ns, grace_period_seconds=0)
            await client.patch(Pod, "b", {"metadata": {"labels": {"during": "outage"}}}, ns)
            await client.create(pod("c", ns))
            await async_wait_for(lambda: inf.errors > 0, timeout=10, message="outage noticed")
            assert f"{ns}/a" in inf.store.keys()  # nothing could tell it yet
            own = ApiServer(etcd.url, port=own.port)
            await asyncio.to_thread(own.start)
            await async_wait_for(lambda: "a" in mirror.deletes and len(inf.store) == 2,
                                 timeout=15, message="re-list after the outage")
            assert inf.lists > lists
            assert sorted(mirror.adds) == ["a", "b", "c"]
            b = inf.store.get(f"{ns}/b")
            assert b is not None and (b.metadata.labels or {}).get("during") == "outage"
            assert mirror.objs == cache_state(inf) == await server_state(client, ns)
            await inf.stop()
    finally:
        own.stop()


async def test_410_triggers_relist(etcd: Etcd, client: AsyncClient) -> None:
    # A tiny history window: after a few writes old resourceVersions are Expired.
    own = ApiServer(etcd.url, extra_args=["--watch-cache-capacity", "5",
                                          "--bookmark-interval", "600"]).start()
    try:
        async with AsyncClient(own.url, retry=FAST_RETRY) as c2:
            ns = await new_namespace(c2, "inf")
            for i in range(10):
                await c2.create(pod(f"p{i}", ns))
            with pytest.raises(Gone):  # the raw watch: an old resourceVersion is Expired
                async for _ in c2.watch(Pod, ns, resource_version="1", timeout_seconds=5):
                    pass
            # the server ends each watch after 1 s; the informer resumes from its rv
            inf = Informer(c2, Pod, ns, watch_timeout=(1, 1), backoff=Backoff(0.1, 0.5))
            mirror = Mirror(inf)
            await inf.start()
            assert await inf.wait_for_sync(10)
            assert inf.lists == 1
            # as if the informer had been away while the window moved past its rv
            # (nothing else changes in this namespace, so no event refreshes it)
            inf.resource_version = "1"
            await async_wait_for(lambda: inf.gone >= 1 and inf.lists >= 2, timeout=10,
                                 message="410 then re-list")
            assert inf.watches >= 2
            # and the informer is live again after the re-list
            await c2.delete(Pod, "p0", ns, grace_period_seconds=0)
            await async_wait_for(lambda: "p0" in mirror.deletes, timeout=10)
            assert cache_state(inf) == await server_state(c2, ns) == mirror.objs
            await inf.stop()
    finally:
        own.stop()


async def test_churn_1000_with_watch_cut_midway(etcd: Etcd, client: AsyncClient) -> None:
    ns = await new_namespace(client, "inf")
    own = ApiServer(etcd.url).start()
    try:
        async with AsyncClient(own.url, retry=FAST_RETRY) as c2:
            inf = Informer(c2, Pod, ns, backoff=Backoff(0.1, 0.5))
            mirror = Mirror(inf)
            await inf.start()
            assert await inf.wait_for_sync(10)

            done = 0
            rnd = random.Random(7)
            names = [f"c{i}" for i in range(1000)]

            async def churn(name: str) -> None:
                nonlocal done
                await client.create(pod(name, ns, labels={"v": "0"}))
                r = rnd.random()
                if r < 0.5:
                    await client.patch(Pod, name, {"metadata": {"labels": {"v": "1"}}}, ns)
                if r < 0.3:
                    try:
                        await client.delete(Pod, name, ns, grace_period_seconds=0)
                    except NotFound:
                        pass
                done += 1

            sem = asyncio.Semaphore(16)

            async def limited(name: str) -> None:
                async with sem:
                    await churn(name)

            work = asyncio.gather(*(limited(n) for n in names))
            await async_wait_for(lambda: done >= 400, timeout=60, message="churn under way")
            await asyncio.to_thread(own.kill)  # cut the watch mid-way, hard
            own = ApiServer(etcd.url, port=own.port)
            await asyncio.to_thread(own.start)
            await asyncio.wait_for(work, 120)
            truth = await server_state(client, ns)
            assert 500 < len(truth) < 900
            await async_wait_for(lambda: cache_state(inf) == truth, timeout=30,
                                 message="cache equals the server after churn")
            assert mirror.objs == truth
            assert inf.errors >= 1 and inf.lists >= 2
            await inf.stop()
    finally:
        own.stop()


async def test_resync_redelivers_cached_objects(client: AsyncClient) -> None:
    ns = await new_namespace(client, "inf")
    await client.create(pod("r", ns))
    inf = Informer(client, Pod, ns, resync_period=0.2)
    same: list[bool] = []
    inf.add_handler(on_update=lambda old, new: same.append(old is new))
    await inf.start()
    try:
        await async_wait_for(lambda: len(same) >= 2, timeout=5, message="resyncs")
        assert all(same)  # a resync is an update with the cached object on both sides
    finally:
        await inf.stop()


# ---- MockTransport: precise control over what the "server" says -----------------------


def _pod_dict(name: str, rv: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}


async def test_relist_after_410_emits_differences_mock() -> None:
    lists = [
        ("10", [_pod_dict("a", "1"), _pod_dict("b", "2")]),
        ("15", [_pod_dict("a", "12"), _pod_dict("c", "14")]),
    ]
    watches: list[str | None] = []

    def handler(r: httpx.Request) -> httpx.Response:
        if r.url.params.get("watch") == "true":
            watches.append(r.url.params.get("resourceVersion"))
            if len(watches) == 1:
                line = {"type": "ERROR", "object": {"kind": "Status", "code": 410,
                                                    "reason": "Expired", "message": "too old"}}
            else:
                line = {"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1",
                                                       "metadata": {"resourceVersion": "20"}}}
            return httpx.Response(200, content=orjson.dumps(line) + b"\n")
        rv, items = lists.pop(0) if len(lists) > 1 else lists[0]
        return httpx.Response(200, json={"kind": "PodList", "apiVersion": "v1",
                                         "metadata": {"resourceVersion": rv}, "items": items})

    c = AsyncClient("http://mock", transport=httpx.MockTransport(handler))
    inf = Informer(c, Pod, "ns", backoff=Backoff(0.01, 0.02))
    seen: list[tuple[str, str]] = []
    inf.add_handler(lambda o: seen.append(("add", o.metadata.name)),
                    lambda o, n: seen.append(("update", n.metadata.name)),
                    lambda o: seen.append(("delete", o.metadata.name)))
    await inf.start()
    await async_wait_for(lambda: inf.gone == 1 and inf.resource_version == "20", timeout=5)
    await inf.stop()
    await c.close()
    assert seen == [("add", "a"), ("add", "b"), ("delete", "b"), ("update", "a"), ("add", "c")]
    assert watches[:2] == ["10", "15"]  # watch from each list's resourceVersion
    assert sorted(inf.store.keys()) == ["ns/a", "ns/c"]
