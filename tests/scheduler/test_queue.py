"""Unit tests of the scheduling queue: ordering, backoff, unschedulable parking and moves."""

from __future__ import annotations

import asyncio

from api.models import Pod
from scheduler.framework import PodInfo
from scheduler.queue import SchedulingQueue
from testing.objects import make_pod


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def pod(name: str, priority: int | None = None, created: str = "2026-01-01T00:00:00Z") -> PodInfo:
    p = make_pod(name, priority=priority)
    p.metadata.creation_timestamp = created
    return PodInfo(p)


async def test_active_order_priority_then_creation_then_arrival() -> None:
    q = SchedulingQueue(clock=Clock())
    q.add(pod("late", created="2026-01-01T00:00:05Z"))
    q.add(pod("early", created="2026-01-01T00:00:01Z"))
    q.add(pod("important", priority=1000, created="2026-01-01T00:00:09Z"))
    q.add(pod("early2", created="2026-01-01T00:00:01Z"))
    order = [(await q.pop()).info.name for _ in range(4)]
    assert order == ["important", "early", "early2", "late"]


async def test_add_is_idempotent_and_delete_removes() -> None:
    q = SchedulingQueue(clock=Clock())
    q.add(pod("a"))
    q.add(pod("a"))
    q.add(pod("b"))
    q.delete("default/a")
    assert q.counts()["active"] == 1
    assert (await q.pop()).info.name == "b"
    assert q.pop_nowait() is None


async def test_pop_waits_for_an_add() -> None:
    q = SchedulingQueue()
    task = asyncio.create_task(q.pop())
    await asyncio.sleep(0.01)
    assert not task.done()
    q.add(pod("a"))
    qp = await asyncio.wait_for(task, 1)
    assert qp.info.name == "a" and qp.attempts == 1


async def test_backoff_doubles_to_the_cap() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(pod("a"))
    durations = []
    for _ in range(6):
        qp = q.pop_nowait()
        assert qp is not None
        durations.append(q.backoff_duration(qp))
        q.add_backoff(qp)
        assert q.where("default/a") == "backoff"
        assert q.flush() is not None
        assert q.pop_nowait() is None  # not before its backoff expires
        clock.t += durations[-1]
        q.flush()
        assert q.where("default/a") == "active"
    assert durations == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


async def test_unschedulable_waits_for_a_cluster_event() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(pod("a"))
    qp = q.pop_nowait()
    assert qp is not None
    q.add_unschedulable(qp)
    assert q.where("default/a") == "unschedulable"
    clock.t += 30
    q.flush()
    assert q.where("default/a") == "unschedulable"  # no busy retry
    assert q.move_all("NodeAdd") == 1
    # backoff of the first attempt (1 s) already elapsed: straight to active
    assert q.where("default/a") == "active"


async def test_move_right_after_failure_goes_through_backoff() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(pod("a"))
    qp = q.pop_nowait()
    assert qp is not None
    q.add_unschedulable(qp)
    q.move_all("NodeAdd")
    assert q.where("default/a") == "backoff"
    clock.t += 1
    q.flush()
    assert q.where("default/a") == "active"


async def test_event_during_the_cycle_skips_unschedulable() -> None:
    q = SchedulingQueue(clock=Clock())
    q.add(pod("a"))
    qp = q.pop_nowait()
    assert qp is not None
    q.move_all("NodeAdd")  # a node appeared while "a" was being scheduled
    q.add_unschedulable(qp)
    assert q.where("default/a") == "backoff"


async def test_unschedulable_flushed_after_timeout() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock, unschedulable_timeout=60)
    q.add(pod("a"))
    qp = q.pop_nowait()
    assert qp is not None
    q.add_unschedulable(qp)
    assert q.flush() == 60
    clock.t += 60
    q.flush()
    assert q.where("default/a") == "active"


async def test_deleted_in_flight_is_not_parked_and_update_reactivates() -> None:
    q = SchedulingQueue(clock=Clock())
    q.add(pod("a"))
    qp = q.pop_nowait()
    assert qp is not None
    q.delete("default/a")
    q.add_unschedulable(qp)
    assert "default/a" not in q
    q.add(pod("b"))
    qb = q.pop_nowait()
    assert qb is not None
    q.add_unschedulable(qb)
    q.add(pod("b", priority=5))  # the pod changed: it may fit now
    assert q.where("default/b") in ("backoff", "active")


async def test_run_moves_backoff_pods_on_time() -> None:
    q = SchedulingQueue(initial_backoff=0.05)
    runner = asyncio.create_task(q.run())
    try:
        q.add(pod("a"))
        qp = await q.pop()
        q.add_backoff(qp)
        again = await asyncio.wait_for(q.pop(), 2)
        assert again.info.name == "a" and again.attempts == 2
    finally:
        q.close()
        await asyncio.wait_for(runner, 1)


async def test_scheduler_handlers_hold_gated_pods_until_ungated() -> None:
    from client.rest import AsyncClient
    from scheduler.plugins import default_framework
    from scheduler.service import Scheduler

    async with AsyncClient("http://127.0.0.1:9") as client:  # never called here
        s = Scheduler(client, default_framework())
        gated = make_pod("g").to_dict()
        gated["spec"]["schedulingGates"] = [{"name": "example.com/wait"}]
        old = Pod.from_dict(gated)
        s.on_pod_add(old)
        assert "default/g" not in s.queue
        new = make_pod("g")
        s.on_pod_update(old, new)
        assert s.queue.where("default/g") == "active"
        # and a pod of another scheduler is never queued
        s.on_pod_add(make_pod("other", scheduler_name="someone-else"))
        assert "default/other" not in s.queue
