"""Leader election under a slow network and a leader's kill -9, against real API servers.

- a delaying TCP proxy (written here, bounded) sits between one replica and the API: when
  its delay passes the renew deadline, that leader stops acting before the other replica
  can take the lease, and the two never act at once (sampled every 5 ms, and by the times
  each one started and stopped acting);
- a leader whose acquire answer comes back late counts its renew deadline from the
  request, not from the answer;
- two scheduler processes with --leader-elect on a private API server: kill -9 of the
  leader, the standby binds a new pod within lease duration + retry period, from its warm
  informer cache (no LIST of pods reaches the API server meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from api.models import Lease, Pod
from client import Client
from client.leaderelection import LeaderElector
from client.rest import AsyncClient, RetryPolicy
from testing.objects import make_node, make_pod, new_namespace
from testing.support import ApiServer, Etcd, Process, async_wait_for, service, unique, wait_for

pytestmark = pytest.mark.timeout(90)

LEASE = 2.0
RENEW = 1.5
RETRY = 0.25
FAST_RETRY = RetryPolicy(retries=1, base=0.05, cap=0.1)
MAX_DELAY = 5.0  # the proxy never holds data longer


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that forwards each chunk ``delay`` seconds after it
    arrived, in order, both ways. ``delay`` may change at any time (at most MAX_DELAY)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.delay = 0.0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> DelayProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            w.close()
            return
        for src, dst in ((r, uw), (ur, w)):
            t = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if not data:
                    dst.close()
                    return
                dst.write(data)
                await dst.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                data = await src.read(65536)
                queue.put_nowait((time.monotonic() + min(self.delay, MAX_DELAY), data))
                if not data:
                    break
            await asyncio.wait_for(sender, MAX_DELAY + 1)
        except (TimeoutError, OSError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(BaseException):
                await sender
            with contextlib.suppress(Exception):
                dst.close()


class Replica:
    """A candidate whose work records when it acted (monotonic times, this process)."""

    def __init__(self, client: AsyncClient, ns: str, lease: str, ident: str,
                 on_lead: Callable[[], object] | None = None) -> None:
        self.acting = False
        self.on_lead = on_lead
        self.spans: list[list[float]] = []
        self.elector = LeaderElector(
            client, namespace=ns, name=lease, identity=ident, lease_duration=LEASE,
            renew_deadline=RENEW, retry_period=RETRY, on_started_leading=self.lead,
            release_on_cancel=False)
        self.task = asyncio.create_task(self.elector.run())

    async def lead(self) -> None:
        self.acting = True
        self.spans.append([time.monotonic(), float("inf")])
        if self.on_lead is not None:
            self.on_lead()
        try:
            await asyncio.Event().wait()
        finally:
            self.acting = False
            self.spans[-1][1] = time.monotonic()

    async def kill(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def overlapping(a: Replica, b: Replica) -> list[tuple[list[float], list[float]]]:
    return [(x, y) for x in a.spans for y in b.spans if x[0] < y[1] and y[0] < x[1]]


async def sample_max_acting(reps: list[Replica], stop: asyncio.Event) -> int:
    most = 0
    while not stop.is_set():
        most = max(most, sum(r.acting for r in reps))
        await asyncio.sleep(0.005)
    return most


async def test_delayed_leader_steps_down_before_the_other_takes_over(
        server_url: str, client: AsyncClient) -> None:
    ns = await new_namespace(client, "led")
    lease = unique("lease")
    port = int(server_url.rsplit(":", 1)[1])
    proxy = await DelayProxy(port).start()
    stop = asyncio.Event()
    async with AsyncClient(f"http://127.0.0.1:{proxy.port}", retry=FAST_RETRY,
                           timeout=MAX_DELAY) as slow:
        a = Replica(slow, ns, lease, "a")
        await async_wait_for(lambda: a.elector.is_leader, timeout=10, message="a leads")
        b = Replica(client, ns, lease, "b")
        sampler = asyncio.create_task(sample_max_acting([a, b], stop))
        try:
            await asyncio.sleep(LEASE)  # several renewals through the (fast) proxy
            assert a.acting and not b.spans
            proxy.delay = 2.5  # above the renew deadline, both ways
            t0 = time.monotonic()
            await async_wait_for(lambda: not a.acting, timeout=RENEW + 2, message="a stops")
            assert time.monotonic() - t0 <= RENEW + RETRY + 0.5
            await async_wait_for(lambda: b.acting, timeout=LEASE + RENEW + 3,
                                 message="b takes over")
            # the network heals: a stays a follower, b keeps leading
            proxy.delay = 0.0
            await asyncio.sleep(LEASE + RETRY)
            assert b.acting and not a.acting
            obj = await client.get(Lease, lease, ns)
            assert obj.spec.holder_identity == "b"
        finally:
            stop.set()
            most = await sampler
            await a.kill()
            await b.kill()
            await proxy.stop()
    assert most == 1
    assert not overlapping(a, b), (a.spans, b.spans)
    assert a.spans[0][1] < b.spans[0][0]


async def test_late_acquire_answer_counts_from_the_request(
        server_url: str, client: AsyncClient) -> None:
    """Each request is 0.3 s late both ways, so the acquire (GET then PUT) is answered
    ~1.2 s after it was sent; then the link gets slower than the renew deadline. The
    elector's deadline counts from when it SENT the acquire: it stops acting ~0.3 s after
    starting (1.5 s after sending), not a full renew deadline after the late answer."""
    ns = await new_namespace(client, "led")
    lease = unique("lease")
    port = int(server_url.rsplit(":", 1)[1])
    proxy = await DelayProxy(port).start()
    proxy.delay = 0.3
    async with AsyncClient(f"http://127.0.0.1:{proxy.port}", retry=FAST_RETRY,
                           timeout=MAX_DELAY) as slow:
        a = Replica(slow, ns, lease, "a", on_lead=lambda: setattr(proxy, "delay", 2.5))
        try:
            await async_wait_for(lambda: a.spans and not a.acting, timeout=10,
                                 message="a acts, then steps down")
        finally:
            await a.kill()
            await proxy.stop()
    (start, end), = a.spans[:1]
    assert end - start < RENEW - 0.5, a.spans


# ---- processes: the scheduler's standby takes over from its warm cache --------------

SCHED_LEASE = ["--leader-elect", "--leader-elect-lease-duration", "2",
               "--leader-elect-renew-deadline", "1.5", "--leader-elect-retry-period", "0.25"]


@pytest.fixture(scope="module")
def own_server() -> Iterator[ApiServer]:
    e = Etcd().start()
    try:
        s = ApiServer(e.url).start()
        try:
            yield s
        finally:
            s.stop()
    finally:
        e.stop()


def pod_lists(url: str) -> float:
    """How many LISTs of pods the API server has answered (its /metrics)."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        lines = r.read().decode().splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines
               if line.startswith("apiserver_request_total{")
               and 'resource="pods"' in line and 'verb="LIST"' in line)


def test_scheduler_standby_takes_over_from_its_warm_cache(own_server: ApiServer) -> None:
    url = own_server.url
    procs: list[Process] = []
    try:
        with Client(url) as api:
            node = make_node(unique("n"), cpu="100")
            created = api.create(node)
            if not (created.status and created.status.conditions):
                created.status = node.status
                api.update_status(created)
            for ident in ("s-a", "s-b"):
                procs.append(service(f"scheduler-{ident}", "scheduler",
                                     ["--server", url, "--identity", ident, *SCHED_LEASE]))

            def holder() -> str | None:
                try:
                    return api.get(Lease, "minik8s-scheduler", "kube-system").spec.holder_identity
                except Exception:
                    return None
            leader = wait_for(holder, timeout=20, message="a leader")
            standby = procs[1] if leader == "s-a" else procs[0]
            api.create(make_pod("before", "default", cpu="10m"))
            wait_for(lambda: api.get(Pod, "before", "default").spec.node_name, timeout=15,
                     message="the leader binds")
            # both replicas' caches are synced (the standby's too: it logs it)
            wait_for(lambda: "caches synced" in standby.log_path.read_text(), timeout=15,
                     message="the standby's caches synced")
            lists = pod_lists(url)
            t0 = time.monotonic()
            (procs[0] if leader == "s-a" else procs[1]).kill()
            api.create(make_pod("after", "default", cpu="10m"))
            wait_for(lambda: api.get(Pod, "after", "default").spec.node_name, timeout=15,
                     interval=0.02, message="the standby binds")
            took = time.monotonic() - t0
            assert took <= 2 + 0.25 + 1.0, took
            assert pod_lists(url) == lists, "the new leader listed pods again"
            assert standby.alive()
    finally:
        for p in procs:
            p.stop()
