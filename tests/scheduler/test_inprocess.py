"""The scheduler in-process against a real API server, with bindings delayed or failed by a
transport wrapper (our own interface), to see the assume cache at work:

- an assumed pod counts on its node at once, while its binding is still in flight;
- a failed binding forgets the assumption, reports it, and retries the pod after backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from api.models import Node, Pod
from client.informer import SharedInformerFactory
from client.rest import AsyncClient
from scheduler.plugins import default_framework
from scheduler.service import Scheduler
from testing.objects import make_node, make_pod, new_namespace
from testing.support import async_wait_for, unique

pytestmark = pytest.mark.timeout(60)


class BindingGate(httpx.AsyncBaseTransport):
    """Passes requests through, except that bindings can be held or failed once."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.fail_once: set[str] = set()
        self.open = asyncio.Event()
        self.open.set()
        self.held = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/binding"):
            name = request.url.path.split("/")[-2]
            if name in self.fail_once:
                self.fail_once.discard(name)
                return httpx.Response(500, json={
                    "apiVersion": "v1", "kind": "Status", "status": "Failure", "code": 500,
                    "reason": "InternalError", "message": "etcd hiccup (injected)"})
            self.held += 1
            await self.open.wait()
            self.held -= 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Harness:
    def __init__(self, url: str) -> None:
        self.gate = BindingGate()
        self.client = AsyncClient(url, transport=self.gate)
        self.events: list[tuple[str, str, str, str]] = []
        self.sched = Scheduler(self.client, default_framework(), events=self._event)
        self.sched.queue.initial_backoff = 0.2
        self.factory = SharedInformerFactory(self.client)
        s = self.sched
        self.factory.informer(Node).add_handler(s.on_node_add, s.on_node_update,
                                                s.on_node_delete)
        self.factory.informer(Pod).add_handler(s.on_pod_add, s.on_pod_update, s.on_pod_delete)
        self.task: asyncio.Task[None] | None = None

    def _event(self, obj: Pod, type_: str, reason: str, message: str) -> None:
        self.events.append((obj.metadata.name or "", type_, reason, message))

    async def start(self) -> None:
        await self.factory.start_all()
        assert await self.factory.wait_for_sync(10)
        self.task = asyncio.create_task(self.sched.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.factory.stop_all()
        await self.client.close()


@pytest.fixture
async def h(cluster: str) -> AsyncIterator[Harness]:
    harness = Harness(cluster)
    yield harness
    await harness.stop()


async def add_node(c: AsyncClient, node: Node) -> None:
    created = await c.create(node)
    if not (created.status and created.status.conditions):
        created.status = node.status
        await c.update_status(created)


async def node_of(c: AsyncClient, ns: str, name: str) -> str | None:
    return (await c.get(Pod, name, ns)).spec.node_name


async def test_assumed_pods_count_while_their_bindings_are_in_flight(h: Harness) -> None:
    c = h.client
    ns = await new_namespace(c, "inproc")
    g = unique("g")
    await add_node(c, make_node(f"{g}-n", cpu="2", labels={"group": g}))
    h.gate.open.clear()  # hold every binding
    await h.start()
    for n in ("a", "b", "c"):
        await c.create(make_pod(n, ns, cpu="1", node_selector={"group": g}))
    await async_wait_for(lambda: h.gate.held == 2, timeout=10, message="2 bindings in flight")
    await async_wait_for(lambda: h.sched.queue.where(f"{ns}/c") == "unschedulable",
                         timeout=10, message="the third pod parked")
    ni = h.sched.cache.nodes[f"{g}-n"]
    assert ni.req_cpu == 2000 and h.sched.cache.assumed_count() == 2
    assert await node_of(c, ns, "a") is None  # nothing bound yet: it was the assumption
    h.gate.open.set()

    async def two_bound() -> bool:
        return sum([bool(await node_of(c, ns, n)) for n in ("a", "b", "c")]) == 2
    await async_wait_for(two_bound, timeout=10, message="a and b bound")
    await async_wait_for(lambda: h.sched.cache.assumed_count() == 0, timeout=10,
                         message="the informer confirmed the assumptions")
    assert ni.req_cpu == 2000
    assert await node_of(c, ns, "c") is None
    failed = [e for e in h.events if e[0] == "c"]
    assert failed and failed[0][1:3] == ("Warning", "FailedScheduling")
    assert "1 Insufficient cpu" in failed[0][3]


async def test_failed_binding_forgets_and_retries(h: Harness) -> None:
    c = h.client
    ns = await new_namespace(c, "inproc")
    g = unique("g")
    await add_node(c, make_node(f"{g}-n", cpu="2", labels={"group": g}))
    h.gate.fail_once.add("flaky")
    await h.start()
    await c.create(make_pod("flaky", ns, cpu="1", node_selector={"group": g}))
    await async_wait_for(lambda: h.sched.stats.bind_errors == 1, timeout=10,
                         message="the injected binding failure")
    await async_wait_for(lambda: node_of(c, ns, "flaky"), timeout=10,
                         message="bound on the retry")
    await async_wait_for(lambda: h.sched.cache.assumed_count() == 0, timeout=10,
                         message="confirmed")
    ni = h.sched.cache.nodes[f"{g}-n"]
    assert ni.req_cpu == 1000 and list(ni.pods) == [f"{ns}/flaky"]  # counted once
    reasons = [(e[2], e[3]) for e in h.events if e[0] == "flaky"]
    assert reasons[0][0] == "FailedScheduling" and "Binding rejected" in reasons[0][1] \
        and "etcd hiccup" in reasons[0][1]
    assert reasons[-1] == ("Scheduled", f"Successfully assigned {ns}/flaky to {g}-n")


async def test_pod_recreated_while_its_binding_is_in_flight(h: Harness) -> None:
    c = h.client
    ns = await new_namespace(c, "inproc")
    g = unique("g")
    await add_node(c, make_node(f"{g}-n", cpu="2", labels={"group": g}))
    h.gate.open.clear()
    await h.start()
    await c.create(make_pod("x", ns, cpu="1", node_selector={"group": g}))
    await async_wait_for(lambda: h.gate.held == 1, timeout=10, message="binding in flight")
    old_uid = (await c.get(Pod, "x", ns)).metadata.uid
    await c.delete(Pod, "x", ns, grace_period_seconds=0)
    await c.create(make_pod("x", ns, cpu="1", node_selector={"group": g}))
    new_uid = (await c.get(Pod, "x", ns)).metadata.uid
    assert new_uid != old_uid
    h.gate.open.set()  # the old binding now fails its UID precondition
    await async_wait_for(lambda: node_of(c, ns, "x"), timeout=15,
                         message="the re-created pod bound")
    await async_wait_for(lambda: h.sched.cache.assumed_count() == 0, timeout=10,
                         message="no assumption left")
    ni = h.sched.cache.nodes[f"{g}-n"]
    assert ni.req_cpu == 1000 and ni.pods[f"{ns}/x"].uid == new_uid
