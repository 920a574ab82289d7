"""Workqueue and controller loop: dedup, one worker per key, backoff growth, error recovery."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from client.controller import Controller, Result
from client.workqueue import RateLimitingQueue, ShutDown, WorkQueue
from testing.support import async_wait_for


async def test_dedup_while_queued() -> None:
    q = WorkQueue()
    for k in ["a", "b", "a", "a", "c", "b"]:
        q.add(k)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]
    assert q.metrics["adds"] == 3


async def test_key_added_during_processing_waits_for_done() -> None:
    q = WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")  # while processing: parked, not handed to another worker
    assert len(q) == 0
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    assert not getter.done()
    q.done(key)
    assert await asyncio.wait_for(getter, 1) == "a"
    q.done("a")
    q.shutdown()
    with pytest.raises(ShutDown):
        await q.get()


async def test_shutdown_wakes_waiters_and_ignores_adds() -> None:
    q = WorkQueue()
    waiters = [asyncio.create_task(q.get()) for _ in range(3)]
    await asyncio.sleep(0)
    q.shutdown()
    q.add("x")
    res = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, ShutDown) for r in res)


async def test_no_concurrent_processing_of_one_key() -> None:
    active: dict[str, int] = {}
    overlap = []
    counts: dict[str, int] = {}

    async def reconcile(key: str) -> None:
        active[key] = active.get(key, 0) + 1
        if active[key] > 1:
            overlap.append(key)
        counts[key] = counts.get(key, 0) + 1
        await asyncio.sleep(0.002)
        active[key] -= 1

    ctl = Controller("t", reconcile, workers=8)
    stop = asyncio.Event()
    runner = asyncio.create_task(ctl.run(stop))
    for i in range(400):
        ctl.enqueue(f"k{i % 5}")
        if i % 7 == 0:
            await asyncio.sleep(0.001)
    await async_wait_for(lambda: len(ctl.queue) == 0 and not any(active.values()), timeout=10)
    stop.set()
    await asyncio.wait_for(runner, 5)
    assert overlap == []
    assert set(counts) == {f"k{i}" for i in range(5)}
    assert sum(counts.values()) < 400  # bursts collapsed into fewer reconciles


async def test_backoff_doubles_per_key_and_caps() -> None:
    q = RateLimitingQueue(base_delay=0.005, max_delay=1000, qps=1e9, burst=10**9)
    delays = [q.when("a") for _ in range(20)]
    assert delays[:4] == pytest.approx([0.005, 0.01, 0.02, 0.04])
    assert all(b == pytest.approx(2 * a) or b == 1000 for a, b in itertools.pairwise(delays))
    assert max(q.when("a") for _ in range(60)) == 1000
    assert q.num_requeues("a") == 80
    assert q.when("b") == pytest.approx(0.005)  # per key
    q.forget("a")
    assert q.num_requeues("a") == 0 and q.when("a") == pytest.approx(0.005)


async def test_token_bucket_limits_overall_rate() -> None:
    q = RateLimitingQueue(qps=10, burst=5)
    delays = [q.when(f"k{i}") for i in range(8)]
    assert delays[:5] == pytest.approx([0.005] * 5)
    assert delays[5] == pytest.approx(0.1, abs=0.02) and delays[7] == pytest.approx(0.3, abs=0.02)


async def test_add_after_and_rate_limited_add_arrive_later() -> None:
    q = RateLimitingQueue()
    t0 = time.monotonic()
    q.add_after("x", 0.1)
    q.add_after("x", 0.05)  # the earlier due time wins, one entry
    q.add_rate_limited("y")
    assert len(q) == 0
    first = await asyncio.wait_for(q.get(), 1)
    second = await asyncio.wait_for(q.get(), 1)
    assert (first, second) == ("y", "x")
    assert 0.04 <= time.monotonic() - t0 < 0.5
    assert q.metrics["retries"] == 1
    q.shutdown()


async def test_controller_error_requeues_with_backoff_and_loop_survives(
        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[tuple[str, float]] = []

    async def reconcile(key: str) -> Result | None:
        calls.append((key, time.monotonic()))
        if key == "bad" and len([c for c in calls if c[0] == "bad"]) < 4:
            raise RuntimeError("boom")
        if key == "again" and len([c for c in calls if c[0] == "again"]) < 2:
            return Result(requeue_after=0.05)
        return None

    ctl = Controller("t", reconcile, workers=2)
    stop = asyncio.Event()
    runner = asyncio.create_task(ctl.run(stop))
    ctl.enqueue("bad")
    ctl.enqueue("again")
    await async_wait_for(lambda: len([c for c in calls if c[0] == "bad"]) == 4
                         and len([c for c in calls if c[0] == "again"]) == 2, timeout=5)
    ctl.enqueue("good")
    await async_wait_for(lambda: any(c[0] == "good" for c in calls), timeout=5)
    stop.set()
    await asyncio.wait_for(runner, 5)
    bad = [t for k, t in calls if k == "bad"]
    gaps = [b - a for a, b in itertools.pairwise(bad)]
    assert gaps[0] >= 0.004 and gaps[2] >= 0.019  # 5 ms, 10 ms, 20 ms ...
    assert ctl.queue.num_requeues("bad") == 0  # forgotten after the success
    assert ctl.errors == 3
    assert "bad" in caplog.text and "boom" in caplog.text


async def test_controller_cancel_stops_workers() -> None:
    started = asyncio.Event()

    async def reconcile(key: str) -> None:
        started.set()
        await asyncio.sleep(100)

    ctl = Controller("t", reconcile)
    runner = asyncio.create_task(ctl.run())
    ctl.enqueue("a")
    await asyncio.wait_for(started.wait(), 2)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(runner, 2)


async def test_enqueue_handlers_use_meta_key() -> None:
    from api.models import Node, ObjectMeta, Pod, PodSpec

    ctl = Controller("t", lambda k: asyncio.sleep(0))  # type: ignore[arg-type,return-value]
    on_add, on_update, on_delete = ctl.enqueue_handlers()
    on_add(Pod(metadata=ObjectMeta(name="p", namespace="ns"), spec=PodSpec(containers=[])))
    on_update(Node(metadata=ObjectMeta(name="n")), Node(metadata=ObjectMeta(name="n")))
    on_delete(Pod(metadata=ObjectMeta(name="q", namespace="ns"), spec=PodSpec(containers=[])))
    assert [await ctl.queue.get() for _ in range(3)] == ["ns/p", "n", "ns/q"]


# ---- enqueue_owner: dependents enqueue their owner ------------------------------------

def _rs(name: str, uid: str, labels: dict[str, str] | None = None) -> Any:
    from api.models import ReplicaSet
    return ReplicaSet.from_dict({"metadata": {"name": name, "namespace": "ns", "uid": uid},
                                 "spec": {"selector": {"matchLabels": labels or {"app": "x"}}}})


def _pod(owners: list[tuple[str, str, bool]], labels: dict[str, str] | None = None,
         deleting: bool = False) -> Any:
    from api.models import Pod
    meta: dict[str, Any] = {"name": "p", "namespace": "ns", "labels": labels or {"app": "x"},
                            "ownerReferences": [
                                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": n,
                                 "uid": u, "controller": c} for n, u, c in owners]}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return Pod.from_dict({"metadata": meta, "spec": {"containers": [{"name": "c"}]}})


async def _drain(q: WorkQueue) -> set[str]:
    keys = set()
    while len(q):
        key = await q.get()
        q.done(key)
        keys.add(key)
    return keys


async def _noop(key: str) -> None:
    return None


async def test_enqueue_owner_maps_dependents_to_owner_keys() -> None:
    from client.cache import Store
    owners: Store[Any] = Store()
    for name in ("a", "b", "c"):
        owners.put(_rs(name, "u-" + name))
    adopter = _rs("c", "u-c")
    c = Controller("t", _noop)
    h = c.enqueue_owner("ReplicaSet", owners,
                        orphan_owners=lambda obj: [adopter])
    assert h.on_add(_pod([("a", "u-a", True)])) == "ns/a"
    assert await _drain(c.queue) == {"ns/a"}
    assert h.on_add(_pod([("a", "u-other", True)])) is None  # a namesake owns nothing
    assert await _drain(c.queue) == set()
    # the controller changed: both owners hear of it
    assert h.on_update(_pod([("a", "u-a", True)]), _pod([("b", "u-b", True)])) == "ns/b"
    assert await _drain(c.queue) == {"ns/a", "ns/b"}
    # an orphan: whoever may adopt it; not when it is going away
    assert h.on_add(_pod([])) is None
    assert await _drain(c.queue) == {"ns/c"}
    h.on_add(_pod([], deleting=True))
    assert await _drain(c.queue) == set()
    assert h.on_update(_pod([]), _pod([], labels={"app": "y"})) is None
    assert await _drain(c.queue) == {"ns/c"}
    assert h.on_delete(_pod([("b", "u-b", True)])) == "ns/b"
    assert h.on_delete("a tombstone") is None
    assert await _drain(c.queue) == {"ns/b"}
    # every owner of the kind, not only the controller
    h.only_controller = False
    h.on_delete(_pod([("b", "u-b", True), ("a", "u-a", False)]))
    assert await _drain(c.queue) == {"ns/a", "ns/b"}
