"""The Endpoints and EndpointSlice controllers against a real API server + etcd, with the
controller-manager as its own process (endpoints, endpointslice and the garbage
collector). Pods are made Running/Ready (each with its own IP) through pods/status, as a
kubelet would; no containers run."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from api import wellknown as wk
from api.models import Endpoints, Event, Pod, Service
from api.models.discovery import EndpointSlice
from client import AsyncClient
from client.informer import Informer
from testing.objects import new_namespace
from testing.support import Process, async_wait_for
from tests.controllers.endpoints_helpers import (
    endpoints,
    not_ready_ips,
    pod,
    ready_ips,
    run_pods,
    service,
    set_status,
    slice_ips,
    slices_of,
    when,
)
from tests.controllers.helpers import start_controller_manager

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def cm(server_url: str) -> Iterator[Process]:
    p = start_controller_manager(server_url, "--controllers=endpoints,endpointslice,"
                                             "garbagecollector", name="cm-endpoints")
    yield p
    p.stop()


@pytest.fixture
async def client(server_url: str, cm: Process) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server_url) as c:
        yield c
    assert cm.alive(), cm.log_tail()


@pytest.fixture
async def ns(client: AsyncClient) -> str:
    return await new_namespace(client, "ep")


# ---- tests ------------------------------------------------------------------------------


async def test_endpoints_and_slices_follow_pods(client: AsyncClient, ns: str) -> None:
    svc = await client.create(service("web", selector={"app": "web"}), ns)
    ips = await run_pods(client, ns, ["a", "b", "c"])
    await client.create(pod("other", labels={"app": "other"}), ns)  # not selected

    ep = await async_wait_for(
        lambda: when(endpoints(client, ns, "web"), lambda e: ready_ips(e) == set(ips.values())),
        timeout=20, message="Endpoints with the 3 ready pods")
    assert ep is not None
    (subset,) = ep.subsets or []
    assert [(p.name, p.port, p.protocol) for p in subset.ports or []] == [("http", 8080, "TCP")]
    addr = next(a for a in subset.addresses or [] if a.ip == ips["a"])
    assert addr.node_name == "node-1"
    assert addr.target_ref is not None and (addr.target_ref.kind, addr.target_ref.name) == \
        ("Pod", "a")
    assert (ep.metadata.labels or {}).get("team") == "t1"
    assert wk.ENDPOINTS_LAST_CHANGE_TRIGGER_TIME_ANNOTATION in (ep.metadata.annotations or {})

    slices = await async_wait_for(
        lambda: when(slices_of(client, ns, "web"),
                      lambda ss: slice_ips(ss, ready=True) == set(ips.values())),
        timeout=20, message="an EndpointSlice with the 3 ready pods")
    assert len(slices) == 1, json.dumps([s.to_dict() for s in slices])
    (sl,) = slices
    assert sl.metadata.name and sl.metadata.name.startswith("web-")
    assert sl.metadata.labels == {"team": "t1", wk.LABEL_SERVICE_NAME: "web",
                                  wk.LABEL_MANAGED_BY: wk.ENDPOINTSLICE_CONTROLLER_NAME}
    (ref,) = sl.metadata.owner_references or []
    assert (ref.api_version, ref.kind, ref.name, ref.uid, ref.controller) == \
        ("v1", "Service", "web", svc.metadata.uid, True)
    assert sl.address_type == "IPv4"
    assert [(p.name, p.port, p.protocol) for p in sl.ports or []] == [("http", 8080, "TCP")]
    e = next(x for x in sl.endpoints if x.addresses == [ips["b"]])
    assert e.conditions is not None
    assert (e.conditions.ready, e.conditions.serving, e.conditions.terminating) == \
        (True, True, False)
    assert e.node_name == "node-1" and e.target_ref is not None and e.target_ref.name == "b"

    # a pod that turns unready moves to notReadyAddresses / ready=false
    await set_status(client, ns, "b", ips["b"], False)
    ep = await async_wait_for(
        lambda: when(endpoints(client, ns, "web"), lambda e: not_ready_ips(e) == {ips["b"]}),
        timeout=20, message="b not ready in the Endpoints")
    assert ready_ips(ep) == {ips["a"], ips["c"]}
    await async_wait_for(
        lambda: when(slices_of(client, ns, "web"),
                      lambda ss: slice_ips(ss, ready=False) == {ips["b"]}),
        timeout=20, message="b ready=false in the slice")

    # deleting the Service removes its Endpoints (the controller) and slices (the GC)
    await client.delete(Service, "web", ns)
    await async_wait_for(lambda: when(endpoints(client, ns, "web"), lambda e: e is None),
                         timeout=20, message="Endpoints deleted with the Service")
    await async_wait_for(lambda: when(slices_of(client, ns, "web"), lambda ss: not ss),
                         timeout=30, message="slices garbage-collected with the Service")


async def test_scale_3_5_0(client: AsyncClient, ns: str) -> None:
    await client.create(service("web", selector={"app": "web"}), ns)
    ips = await run_pods(client, ns, [f"p{i}" for i in range(3)])
    await async_wait_for(
        lambda: when(slices_of(client, ns, "web"),
                      lambda ss: slice_ips(ss, True) == set(ips.values())),
        timeout=20, message="3 endpoints")
    ips |= await run_pods(client, ns, ["p3", "p4"], first_ip=10)
    assert len(set(ips.values())) == 5
    await async_wait_for(
        lambda: when(slices_of(client, ns, "web"),
                      lambda ss: slice_ips(ss, True) == set(ips.values()) and len(ss) == 1),
        timeout=20, message="5 endpoints in one slice")
    await async_wait_for(
        lambda: when(endpoints(client, ns, "web"), lambda e: ready_ips(e) == set(ips.values())),
        timeout=20, message="5 addresses")
    # scaled to 0: the pods terminate (no kubelet confirms, so they stay terminating)
    names = list(ips)
    await asyncio.gather(*(client.delete(Pod, n, ns) for n in names))
    ep = await async_wait_for(
        lambda: when(endpoints(client, ns, "web"), lambda e: not (e.subsets or [])),
        timeout=20, message="no addresses left")
    assert ep is not None

    def terminating(ss: list[EndpointSlice]) -> bool:
        eps = [e for s in ss for e in s.endpoints]
        return len(eps) == 5 and all(
            e.conditions is not None and (e.conditions.ready, e.conditions.serving,
                                          e.conditions.terminating) == (False, True, True)
            for e in eps)

    await async_wait_for(lambda: when(slices_of(client, ns, "web"), terminating),
                         timeout=20, message="5 terminating endpoints, not ready, serving")
    # and gone
    await asyncio.gather(*(client.delete(Pod, n, ns, grace_period_seconds=0) for n in names))
    slices = await async_wait_for(
        lambda: when(slices_of(client, ns, "web"),
                      lambda ss: len(ss) == 1 and not ss[0].endpoints),
        timeout=20, message="one empty (placeholder) slice")
    assert not slices[0].ports


async def test_named_target_port_resolved_per_pod(client: AsyncClient, ns: str) -> None:
    await client.create(service("web", selector={"app": "web"},
                                ports=[{"name": "http", "port": 80, "targetPort": "web"}]), ns)
    ip_a = (await run_pods(client, ns, ["a"], port=8080))["a"]
    ip_b = (await run_pods(client, ns, ["b"], port=9090, first_ip=2))["b"]

    def ports(ep: Endpoints | None) -> set[tuple[str, int]]:
        return {(a.ip, p.port) for s in (ep.subsets if ep else None) or ()
                for a in s.addresses or () for p in s.ports or ()}

    await async_wait_for(
        lambda: when(endpoints(client, ns, "web"),
                      lambda e: ports(e) == {(ip_a, 8080), (ip_b, 9090)}),
        timeout=20, message="each pod's own port in the Endpoints")

    def slice_ports(ss: list[EndpointSlice]) -> set[tuple[str, int]]:
        return {(e.addresses[0], p.port or 0) for s in ss for e in s.endpoints
                for p in s.ports or ()}

    slices = await async_wait_for(
        lambda: when(slices_of(client, ns, "web"),
                      lambda ss: slice_ports(ss) == {(ip_a, 8080), (ip_b, 9090)}),
        timeout=20, message="one slice per port number")
    assert len(slices) == 2


async def test_250_pods_make_3_slices(client: AsyncClient, ns: str) -> None:
    # the pods first: the Service's first sync then packs them all (pods arriving one by
    # one fill slices as they come, which may take a fourth)
    ips = await run_pods(client, ns, [f"p{i}" for i in range(250)])
    await client.create(service("big", selector={"app": "web"}), ns)
    slices = await async_wait_for(
        lambda: when(slices_of(client, ns, "big"),
                      lambda ss: slice_ips(ss, True) == set(ips.values())),
        timeout=60, message="250 endpoints in slices")
    sizes = sorted(len(s.endpoints) for s in slices)
    assert sizes == [50, 100, 100], sizes
    ep = await async_wait_for(
        lambda: when(endpoints(client, ns, "big"), lambda e: len(ready_ips(e)) == 250),
        timeout=30, message="250 addresses in the Endpoints")
    assert ep is not None and len(ep.subsets or []) == 1
    # one pod turns unready: one slice is written, the others stay as they were
    before = {s.metadata.name: s.metadata.resource_version for s in slices}
    await set_status(client, ns, "p7", ips["p7"], False)
    after = await async_wait_for(
        lambda: when(slices_of(client, ns, "big"),
                      lambda ss: slice_ips(ss, False) == {ips["p7"]}),
        timeout=20, message="p7 unready in its slice")
    changed = [s.metadata.name for s in after
               if before.get(s.metadata.name) != s.metadata.resource_version]
    assert len(after) == 3 and len(changed) == 1, changed


async def test_selectorless_service_keeps_user_endpoints(client: AsyncClient, ns: str) -> None:
    await client.create(service("manual", ports=[{"port": 5432}]), ns)
    user = Endpoints.from_dict({"metadata": {"name": "manual"}, "subsets": [
        {"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 5432}]}]})
    created = await client.create(user, ns)
    # a selecting Service in the same namespace proves the controllers have run since
    await client.create(service("web", selector={"app": "web"}), ns)
    await run_pods(client, ns, ["a"])
    await async_wait_for(lambda: when(endpoints(client, ns, "web"), lambda e: ready_ips(e)),
                         timeout=20, message="the selecting Service's Endpoints")
    await async_wait_for(lambda: when(slices_of(client, ns, "web"),
                                       lambda ss: slice_ips(ss, True)),
                         timeout=20, message="the selecting Service's slice")
    now = await client.get(Endpoints, "manual", ns)
    assert now.metadata.resource_version == created.metadata.resource_version
    assert ready_ips(now) == {"192.0.2.10"}
    assert await slices_of(client, ns, "manual") == []


async def test_headless_hostname_and_publish_not_ready(client: AsyncClient, ns: str) -> None:
    await client.create(service("db", selector={"app": "db"}, cluster_ip="None",
                                publish=True), ns)
    ips = await run_pods(client, ns, ["db-0"], labels={"app": "db"}, hostname="db-0",
                         subdomain="db", ready=False)
    ep = await async_wait_for(
        lambda: when(endpoints(client, ns, "db"), lambda e: ready_ips(e) == {ips["db-0"]}),
        timeout=20, message="a not-ready pod published as ready")
    assert ep is not None
    assert (ep.metadata.labels or {}).get(wk.IS_HEADLESS_SERVICE_LABEL) == ""
    assert [a.hostname for s in ep.subsets or [] for a in s.addresses or []] == ["db-0"]
    (sl,) = await async_wait_for(
        lambda: when(slices_of(client, ns, "db"), lambda ss: slice_ips(ss, True)),
        timeout=20, message="the slice")
    (e,) = sl.endpoints
    assert e.hostname == "db-0" and e.conditions is not None
    assert (e.conditions.ready, e.conditions.serving) == (True, False)
    assert (sl.metadata.labels or {}).get(wk.IS_HEADLESS_SERVICE_LABEL) == ""


async def test_deleted_slice_and_endpoints_come_back(client: AsyncClient, ns: str) -> None:
    await client.create(service("web", selector={"app": "web"}), ns)
    ips = await run_pods(client, ns, ["a"])
    (sl,) = await async_wait_for(
        lambda: when(slices_of(client, ns, "web"), lambda ss: slice_ips(ss) == {ips["a"]}),
        timeout=20, message="the slice")
    await async_wait_for(lambda: when(endpoints(client, ns, "web"), lambda e: ready_ips(e)),
                         timeout=20, message="the Endpoints")
    await client.delete(EndpointSlice, sl.metadata.name or "", ns)
    await client.delete(Endpoints, "web", ns)
    await async_wait_for(
        lambda: when(slices_of(client, ns, "web"),
                      lambda ss: slice_ips(ss) == {ips["a"]}
                      and ss[0].metadata.name != sl.metadata.name),
        timeout=20, message="a new slice")
    await async_wait_for(lambda: when(endpoints(client, ns, "web"), lambda e: ready_ips(e)),
                         timeout=20, message="the Endpoints again")


@pytest.mark.slow
async def test_ready_to_slice_latency(client: AsyncClient, ns: str,
                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    """Time from a pod's Ready flip (from before its status is read and written, so an
    upper bound) to the watch event of the EndpointSlice showing it, over a bounded
    number of flips of 5 pods."""
    await client.create(service("web", selector={"app": "web"}), ns)
    names = [f"p{i}" for i in range(5)]
    ips = await run_pods(client, ns, names)
    inf: Informer[EndpointSlice] = Informer(
        client, EndpointSlice, ns, label_selector=f"{wk.LABEL_SERVICE_NAME}=web")
    waiting: dict[tuple[str, bool], asyncio.Future[float]] = {}

    def seen(s: EndpointSlice) -> None:
        for e in s.endpoints:
            key = (e.addresses[0], bool(e.conditions and e.conditions.ready))
            fut = waiting.get(key)
            if fut is not None and not fut.done():
                fut.set_result(time.perf_counter())

    inf.add_handler(seen, lambda _o, n: seen(n), None)
    await inf.start()
    try:
        await async_wait_for(lambda: slice_ips(inf.store.list(), True) == set(ips.values()),
                             timeout=20, message="5 ready endpoints")
        lat: list[float] = []
        deadline = time.monotonic() + 60
        for i in range(60):
            if time.monotonic() > deadline:
                break
            name = names[i % len(names)]
            ready = i // len(names) % 2 == 1  # first round: unready, then ready, ...
            fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            waiting[(ips[name], ready)] = fut
            t0 = time.perf_counter()
            await set_status(client, ns, name, ips[name], ready)
            t1 = await asyncio.wait_for(fut, 10)
            del waiting[(ips[name], ready)]
            lat.append(max(0.0, t1 - t0))
    finally:
        await inf.stop()
    lat.sort()
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    out = {"flips": len(lat), "p50_ms": round(p50 * 1000, 1), "p99_ms": round(p99 * 1000, 1),
           "max_ms": round(lat[-1] * 1000, 1)}
    print("pod Ready -> EndpointSlice:", json.dumps(out))
    assert len(lat) >= 20
    assert p99 < 1.0, out


async def test_no_failed_events(client: AsyncClient, ns: str) -> None:
    """A plain sync reports no FailedToUpdateEndpoint(Slices) events."""
    await client.create(service("web", selector={"app": "web"}), ns)
    await run_pods(client, ns, ["a", "b"])
    await async_wait_for(lambda: when(slices_of(client, ns, "web"),
                                       lambda ss: len(slice_ips(ss, True)) == 2),
                         timeout=20, message="2 endpoints")
    reasons = {e.reason for e in (await client.list(Event, ns)).items}
    assert not reasons & {"FailedToUpdateEndpoint", "FailedToCreateEndpoint",
                          "FailedToUpdateEndpointSlices"}


async def test_official_client_reads_what_the_controllers_wrote(client: AsyncClient, ns: str,
                                                                server_url: str) -> None:
    """client-python's typed models deserialize our Endpoints and EndpointSlices."""
    from kubernetes import client as k8s

    await client.create(service("web", selector={"app": "web"}), ns)
    ips = await run_pods(client, ns, ["a", "b"])
    await set_status(client, ns, "b", ips["b"], False)
    await async_wait_for(lambda: when(slices_of(client, ns, "web"),
                                      lambda ss: slice_ips(ss, False) == {ips["b"]}),
                         timeout=20, message="a ready and b not ready in the slice")
    await async_wait_for(lambda: when(endpoints(client, ns, "web"),
                                      lambda e: not_ready_ips(e) == {ips["b"]}),
                         timeout=20, message="b not ready in the Endpoints")

    def read() -> tuple[object, object]:
        with k8s.ApiClient(k8s.Configuration(host=server_url)) as api:
            ep = k8s.CoreV1Api(api).read_namespaced_endpoints("web", ns)
            sl = k8s.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
                ns, label_selector=f"{wk.LABEL_SERVICE_NAME}=web")
            return ep, sl

    ep, sl = await asyncio.to_thread(read)
    (subset,) = ep.subsets  # type: ignore[attr-defined]
    assert [a.ip for a in subset.addresses] == [ips["a"]]
    assert [a.ip for a in subset.not_ready_addresses] == [ips["b"]]
    assert subset.addresses[0].target_ref.kind == "Pod"
    (item,) = sl.items  # type: ignore[attr-defined]
    assert item.address_type == "IPv4" and item.ports[0].port == 8080
    assert {e.addresses[0]: e.conditions.ready for e in item.endpoints} == {
        ips["a"]: True, ips["b"]: False}
    assert item.metadata.owner_references[0].kind == "Service"
