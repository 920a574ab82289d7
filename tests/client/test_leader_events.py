"""Leader election and the event recorder against the real API server."""

from __future__ import annotations

import asyncio
import time

import pytest

from api.models import Container, Event, Lease, ObjectMeta, Pod, PodSpec
from client.events import EventRecorder
from client.leaderelection import LeaderElector
from client.rest import AsyncClient, RetryPolicy
from testing.objects import new_namespace
from testing.support import ApiServer, Etcd, async_wait_for, free_port, unique

LEASE = 2.0
RENEW = 1.5
RETRY = 0.25
FAST_RETRY = RetryPolicy(retries=1, base=0.05, cap=0.1)


class Candidate:
    def __init__(self, client: AsyncClient, ns: str, lease: str, ident: str,
                 release_on_cancel: bool = False) -> None:
        self.acting = False
        self.started = 0
        self.stopped = 0
        self.cancelled = 0
        self.elector = LeaderElector(
            client, namespace=ns, name=lease, identity=ident, lease_duration=LEASE,
            renew_deadline=RENEW, retry_period=RETRY, on_started_leading=self.lead,
            on_stopped_leading=self.on_stop, release_on_cancel=release_on_cancel)
        self.task = asyncio.create_task(self.elector.run())

    async def lead(self) -> None:
        self.started += 1
        self.acting = True
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.acting = False

    def on_stop(self) -> None:
        self.stopped += 1

    async def kill(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


class Monitor:
    """Samples every 5 ms: never may two candidates act at once."""

    def __init__(self, cands: list[Candidate]) -> None:
        self.cands = cands
        self.max_leaders = 0
        self.max_acting = 0
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.max_leaders = max(self.max_leaders,
                                   sum(c.elector.is_leader for c in self.cands))
            self.max_acting = max(self.max_acting, sum(c.acting for c in self.cands))
            await asyncio.sleep(0.005)

    def leader(self) -> Candidate | None:
        ls = [c for c in self.cands if c.elector.is_leader]
        return ls[0] if len(ls) == 1 else None

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def test_one_leader_and_takeover_after_crash(client: AsyncClient) -> None:
    ns = await new_namespace(client, "le")
    lease = unique("lease")
    a = Candidate(client, ns, lease, "a")
    b = Candidate(client, ns, lease, "b")
    mon = Monitor([a, b])
    try:
        first = await async_wait_for(mon.leader, timeout=10, message="a leader")
        other = b if first is a else a
        await asyncio.sleep(LEASE * 1.5)  # several renewals: leadership stays put
        assert first.elector.is_leader and not other.elector.is_leader
        assert other.started == 0
        obj = await client.get(Lease, lease, ns)
        assert obj.spec.holder_identity == first.elector.identity
        assert obj.spec.lease_duration_seconds == 2

        t0 = time.monotonic()
        await first.kill()  # crashed: no release, the lease must expire
        assert first.cancelled == 1 and not first.acting
        await async_wait_for(lambda: other.elector.is_leader and other.acting, timeout=10,
                             message="takeover")
        took = time.monotonic() - t0
        assert took <= LEASE + 2 * RETRY + 0.5, took
        assert took >= LEASE - RETRY - 0.3, f"took over a live lease after {took:.2f}s"
        obj = await client.get(Lease, lease, ns)
        assert obj.spec.holder_identity == other.elector.identity
        assert (obj.spec.lease_transitions or 0) >= 1
        assert mon.max_leaders == 1 and mon.max_acting == 1
    finally:
        await mon.stop()
        await a.kill()
        await b.kill()


async def test_release_on_cancel_hands_over_fast(client: AsyncClient) -> None:
    ns = await new_namespace(client, "le")
    lease = unique("lease")
    a = Candidate(client, ns, lease, "a", release_on_cancel=True)
    await async_wait_for(lambda: a.elector.is_leader, timeout=10)
    b = Candidate(client, ns, lease, "b")
    try:
        await asyncio.sleep(RETRY * 3)
        assert not b.elector.is_leader
        t0 = time.monotonic()
        await a.kill()
        await async_wait_for(lambda: b.elector.is_leader, timeout=10)
        assert time.monotonic() - t0 < LEASE, "a released lease is taken without waiting"
    finally:
        await a.kill()
        await b.kill()


async def test_leader_that_cannot_renew_stops_at_once(etcd: Etcd, client: AsyncClient) -> None:
    ns = await new_namespace(client, "le")
    lease = unique("lease")
    own = ApiServer(etcd.url).start()  # the leader's only way to the cluster
    try:
        async with AsyncClient(own.url, retry=FAST_RETRY, timeout=2) as c_a:
            a = Candidate(c_a, ns, lease, "a")
            await async_wait_for(lambda: a.elector.is_leader, timeout=10)
            b = Candidate(client, ns, lease, "b")
            mon = Monitor([a, b])
            try:
                await asyncio.sleep(RETRY * 2)
                t0 = time.monotonic()
                await asyncio.to_thread(own.kill)  # partitioned, but still running
                await async_wait_for(lambda: not a.acting, timeout=RENEW + 1)
                stepped_down = time.monotonic() - t0
                assert stepped_down <= RENEW + 0.5 and a.cancelled == 1 and a.stopped == 1
                await async_wait_for(lambda: b.elector.is_leader, timeout=LEASE + 3)
                assert mon.max_leaders == 1 and mon.max_acting == 1
            finally:
                await mon.stop()
                await a.kill()
                await b.kill()
    finally:
        own.stop()


async def test_work_that_ends_releases_the_lease(client: AsyncClient) -> None:
    ns = await new_namespace(client, "le")
    lease = unique("lease")

    async def short_work() -> None:
        await asyncio.sleep(0.1)

    el = LeaderElector(client, namespace=ns, name=lease, identity="once",
                       lease_duration=LEASE, renew_deadline=RENEW, retry_period=RETRY,
                       on_started_leading=short_work)
    await asyncio.wait_for(el.run(), 10)
    assert not el.is_leader
    obj = await client.get(Lease, lease, ns)
    assert not obj.spec.holder_identity


def test_elector_rejects_inconsistent_durations(server_url: str) -> None:
    async def noop() -> None:
        return None
    with pytest.raises(ValueError):
        LeaderElector(None, name="x", identity="i", lease_duration=5,  # type: ignore[arg-type]
                      renew_deadline=6, on_started_leading=noop)


# ---- events ------------------------------------------------------------------------------


def mkpod(name: str, ns: str) -> Pod:
    return Pod(metadata=ObjectMeta(name=name, namespace=ns, uid=f"uid-{name}"),
               spec=PodSpec(containers=[Container(name="c", image="nginx")]))


async def events_for(c: AsyncClient, ns: str, name: str) -> list[Event]:
    res = await c.list(Event, ns, field_selector=f"involvedObject.name={name}")
    return sorted(res.items, key=lambda e: e.reason or "")


async def test_event_recorder_writes_and_aggregates(client: AsyncClient) -> None:
    ns = await new_namespace(client, "le")
    rec = EventRecorder(client, "test-component", host="host-1")
    p = mkpod("web", ns)
    t0 = time.perf_counter()
    for _ in range(5):
        rec.event(p, "Normal", "Scheduled", "assigned to n1")
    rec.event(p, "Warning", "FailedMount", "no volume")
    assert time.perf_counter() - t0 < 0.05  # never blocks the caller
    assert await rec.flush(10)
    evs = await events_for(client, ns, "web")
    assert [(e.reason, e.type, e.count) for e in evs] == [
        ("FailedMount", "Warning", 1), ("Scheduled", "Normal", 5)]
    sched = evs[1]
    io = sched.involved_object
    assert (io.kind, io.name, io.namespace, io.uid) == ("Pod", "web", ns, "uid-web")
    assert sched.source is not None and sched.source.component == "test-component"
    assert sched.source.host == "host-1" and sched.first_timestamp and sched.last_timestamp
    first = sched.first_timestamp

    # repeats after the first write PATCH the same Event: count grows, name stays
    for _ in range(2):
        rec.event(p, "Normal", "Scheduled", "assigned to n1")
        assert await rec.flush(10)
    evs = await events_for(client, ns, "web")
    assert [(e.reason, e.count) for e in evs] == [("FailedMount", 1), ("Scheduled", 7)]
    assert evs[1].metadata.name == sched.metadata.name and evs[1].first_timestamp == first
    assert rec.created == 2 and rec.patched == 2
    await rec.close()


async def test_event_recorder_bounded_while_server_down() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with AsyncClient(dead, retry=RetryPolicy(retries=0), timeout=1) as c:
        rec = EventRecorder(c, "test", max_pending=10)
        t0 = time.perf_counter()
        for i in range(50):
            rec.event(mkpod(f"p{i}", "default"), "Normal", "Started", "started")
        assert time.perf_counter() - t0 < 0.1
        await asyncio.sleep(0.3)  # the writer fails and keeps retrying
        assert rec.pending <= 10 and rec.dropped >= 40
        # the newest are the ones kept
        names = {k[2] for k in rec._pending}
        assert "p49" in names and "p0" not in names
        t1 = time.perf_counter()
        await rec.close(timeout=0.2)
        assert time.perf_counter() - t1 < 1.5


async def test_event_recorder_field_path_is_part_of_the_event(client: AsyncClient) -> None:
    ns = await new_namespace(client, "le")
    rec = EventRecorder(client, "kubelet", host="node-1")
    p = mkpod("two", ns)
    for _ in range(3):
        rec.event(p, "Normal", "Started", "Started container", field_path="spec.containers{a}")
    rec.event(p, "Normal", "Started", "Started container", field_path="spec.containers{b}")
    rec.event(p, "Normal", "Started", "Started container")  # callers without a fieldPath
    rec.eventf(p, "Warning", "BackOff", "Back-off %s", "b", field_path="spec.containers{b}")
    assert await rec.flush(10)
    evs = await events_for(client, ns, "two")
    got = sorted((e.reason, e.involved_object.field_path or "", e.count) for e in evs)
    assert got == [("BackOff", "spec.containers{b}", 1), ("Started", "", 1),
                   ("Started", "spec.containers{a}", 3), ("Started", "spec.containers{b}", 1)]
    # a repeat for one container patches that container's Event only
    rec.event(p, "Normal", "Started", "Started container", field_path="spec.containers{b}")
    assert await rec.flush(10)
    evs = await events_for(client, ns, "two")
    counts = {(e.reason, e.involved_object.field_path): e.count for e in evs}
    assert counts[("Started", "spec.containers{b}")] == 2
    assert counts[("Started", "spec.containers{a}")] == 3 and rec.patched == 1
    await rec.close()
