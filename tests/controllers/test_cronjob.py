"""The CronJob and TTL-after-finished controllers in-process against a real API server,
on a FakeClock the tests move by minutes (the issue's "injected clock"): Allow, Forbid and
Replace, history limits, catch-up after downtime (once, the most recent missed time,
within startingDeadlineSeconds; TooManyMissedTimes past 100), timeZone, suspend, and a
finished Job deleted with its pods (garbage collector, foreground) after its TTL.

Jobs are finished by writing their status through jobs/status, so no Job controller
runs. The module has its own API server: its garbage collector acts on every namespace.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.cron import load_location
from api.models import Event, Pod
from api.models.batch import CronJob, Job, JobStatus
from api.timeutil import format_time, parse_time
from client import AsyncClient, NotFound
from client.events import EventRecorder
from client.informer import SharedInformerFactory
from controllers import cronjob_util as cu
from controllers.clock import FakeClock
from controllers.context import ControllerContext
from controllers.cronjob import CronJobController
from controllers.garbagecollector import GarbageCollector
from controllers.ttlafterfinished import TTLAfterFinishedController
from testing.objects import new_namespace
from testing.support import ApiServer, async_wait_for
from tests.controllers.helpers import start_controller_manager

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def server_url(private_apiserver: ApiServer) -> Iterator[str]:
    yield private_apiserver.url


class World:
    """The controllers of one controller-manager on a fake clock; ``halt`` and ``start``
    take it down and bring up a fresh one (new caches, queues, no memory), as a restart."""

    def __init__(self, client: AsyncClient, clock: FakeClock, ns: str) -> None:
        self.client = client
        self.clock = clock
        self.ns = ns
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.recorder = EventRecorder(client, component="cronjob-controller")
        self._build()

    def _build(self) -> None:
        self.factory = SharedInformerFactory(self.client)
        ctx = ControllerContext(self.client, self.factory, self.recorder)
        self.ctl = CronJobController(ctx, clock=self.clock)
        self.ttl = TTLAfterFinishedController(ctx, clock=self.clock)
        self.gc = GarbageCollector(ctx)

    async def start(self) -> None:
        await self.factory.start_all()
        assert await self.factory.wait_for_sync(10)
        self.stop = asyncio.Event()
        for c in (*self.ctl.controllers, *self.ttl.controllers, *self.gc.controllers):
            self.tasks.append(asyncio.create_task(c.run(self.stop)))

    async def halt(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks)
        self.tasks.clear()
        await self.factory.stop_all()
        self._build()


@pytest.fixture
async def world(server_url: str) -> AsyncIterator[World]:
    async with AsyncClient(server_url) as client:
        ns = await new_namespace(client, "cj")
        # the fake clock starts a little before the server's creation timestamps
        clock = FakeClock(datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1))
        w = World(client, clock, ns)
        await w.start()
        try:
            yield w
        finally:
            # the next test's controllers share this API server: leave them nothing
            await client.delete_collection(CronJob, ns)
            await client.delete_collection(Job, ns)
            if w.tasks:
                await w.halt()
            await w.recorder.close()


def cronjob_body(name: str, schedule: str = "*/1 * * * *", **spec: Any) -> CronJob:
    return CronJob.from_dict({
        "metadata": {"name": name},
        "spec": {"schedule": schedule, **spec,
                 "jobTemplate": {"spec": {"template": {"spec": {
                     "restartPolicy": "Never",
                     "containers": [{"name": "c", "image": "minik8s/busybox:latest"}]}}}}},
    })


async def create(w: World, name: str, schedule: str = "*/1 * * * *", **spec: Any) -> CronJob:
    before = w.ctl.controller.reconciles
    cj = await w.client.create(cronjob_body(name, schedule, **spec), w.ns)
    created = parse_time(cj.metadata.creation_timestamp or "")
    if w.clock.now() < created:
        w.clock.set(created)  # the next tick is then a schedule after the creation
    key = f"{w.ns}/{name}"
    # the first sync has requeued it for its next schedule time on the fake clock (a
    # suspended one is not requeued)
    await async_wait_for(lambda: key in w.ctl.cj_store and w.ctl.controller.reconciles > before
                         and (spec.get("suspend") or w.clock.due(key) is not None)
                         and not w.ctl.controller.queue.is_processing(key),
                         message="first sync")
    return cj


def next_minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0) + timedelta(minutes=1)


async def tick(w: World) -> datetime:
    """Move the clock to one second past the next whole minute; the schedule time."""
    at = next_minute(w.clock.now())
    w.clock.set(at + timedelta(seconds=1))
    return at


async def jobs(w: World, cj: str) -> list[Job]:
    return [j for j in (await w.client.list(Job, w.ns)).items
            if any(r.name == cj for r in j.metadata.owner_references or ())]


async def job_names(w: World, cj: str) -> list[str]:
    return sorted(j.metadata.name or "" for j in await jobs(w, cj))


async def wait_jobs(w: World, cj: str, want: list[str], what: str = "jobs") -> None:
    async def ok() -> bool:
        return await job_names(w, cj) == sorted(want)
    try:
        await async_wait_for(ok, timeout=10, message=what)
    except AssertionError:
        raise AssertionError(f"{what}: {await job_names(w, cj)} != {sorted(want)}") from None


async def status(w: World, name: str) -> CronJob:
    return await w.client.get(CronJob, name, w.ns)


async def active_names(w: World, name: str) -> list[str]:
    cj = await status(w, name)
    return sorted(r.name or "" for r in (cj.status.active if cj.status else None) or ())


async def finish(w: World, name: str, condition: str = "Complete") -> None:
    job = await w.client.get(Job, name, w.ns)
    now = format_time(w.clock.now())
    job.status = JobStatus.model_validate({
        "startTime": now, "completionTime": now if condition == "Complete" else None,
        "conditions": [{"type": condition, "status": "True", "lastTransitionTime": now,
                        "lastProbeTime": now}],
        "succeeded": 1 if condition == "Complete" else 0,
        "failed": 1 if condition == "Failed" else 0,
    })
    await w.client.update_status(job)


async def reasons(w: World, name: str) -> list[str]:
    return [e.reason or "" for e in (await w.client.list(Event, w.ns)).items
            if e.involved_object.name == name]


def jname(name: str, t: datetime) -> str:
    return f"{name}-{int(t.timestamp()) // 60}"


# ---- concurrency policies --------------------------------------------------------------


async def test_allow_creates_a_job_at_each_schedule(world: World) -> None:
    w = world
    await create(w, "allow")
    assert await job_names(w, "allow") == []
    t1 = await tick(w)
    await wait_jobs(w, "allow", [jname("allow", t1)], "the first job")
    job = (await jobs(w, "allow"))[0]
    assert (job.metadata.annotations or {})[cu.SCHEDULED_TIMESTAMP_ANNOTATION] == \
        format_time(t1)
    ref = (job.metadata.owner_references or [])[0]
    assert (ref.kind, ref.controller) == ("CronJob", True)
    t2 = await tick(w)
    await wait_jobs(w, "allow", [jname("allow", t1), jname("allow", t2)], "two jobs at once")

    async def recorded() -> bool:
        cj = await status(w, "allow")
        return (cj.status is not None and cj.status.last_schedule_time == format_time(t2)
                and len(cj.status.active or ()) == 2)
    await async_wait_for(recorded, message="status.active and lastScheduleTime")
    await async_wait_for(lambda: reasons(w, "allow"), message="events")
    assert "SuccessfulCreate" in await reasons(w, "allow")


async def test_forbid_skips_while_a_job_runs(world: World) -> None:
    w = world
    # startingDeadlineSeconds 10: a skipped time is not started late once the job ends
    await create(w, "forbid", concurrencyPolicy="Forbid", startingDeadlineSeconds=10)
    t1 = await tick(w)
    first = jname("forbid", t1)
    await wait_jobs(w, "forbid", [first])
    await async_wait_for(lambda: active_names(w, "forbid"), message="active")
    await tick(w)

    async def skipped() -> bool:
        return "JobAlreadyActive" in await reasons(w, "forbid")
    await async_wait_for(skipped, message="JobAlreadyActive")
    assert await job_names(w, "forbid") == [first]
    w.clock.step(30)
    await finish(w, first)

    async def saw() -> bool:
        return await active_names(w, "forbid") == [] and \
            "SawCompletedJob" in await reasons(w, "forbid")
    await async_wait_for(saw, message="SawCompletedJob")
    cj = await status(w, "forbid")
    assert cj.status is not None and cj.status.last_successful_time is not None
    assert await job_names(w, "forbid") == [first]
    t3 = await tick(w)
    await wait_jobs(w, "forbid", [first, jname("forbid", t3)], "the next job once free")


async def test_forbid_starts_the_skipped_time_late_without_a_deadline(world: World) -> None:
    w = world
    await create(w, "late-forbid", concurrencyPolicy="Forbid")
    t1 = await tick(w)
    await wait_jobs(w, "late-forbid", [jname("late-forbid", t1)])
    await async_wait_for(lambda: active_names(w, "late-forbid"), message="active")
    t2 = await tick(w)
    await async_wait_for(lambda: _reason(w, "late-forbid", "JobAlreadyActive"),
                         message="JobAlreadyActive")
    await finish(w, jname("late-forbid", t1))
    # as Kubernetes does: the skipped time is still unmet, so it starts once free
    await wait_jobs(w, "late-forbid", [jname("late-forbid", t1), jname("late-forbid", t2)])


async def _reason(w: World, name: str, reason: str) -> bool:
    return reason in await reasons(w, name)


async def test_replace_deletes_the_running_job(world: World) -> None:
    w = world
    await create(w, "replace", concurrencyPolicy="Replace")
    t1 = await tick(w)
    await wait_jobs(w, "replace", [jname("replace", t1)])
    await async_wait_for(lambda: active_names(w, "replace"), message="active")
    t2 = await tick(w)
    await wait_jobs(w, "replace", [jname("replace", t2)], "the replacement")

    async def replaced() -> bool:
        return await active_names(w, "replace") == [jname("replace", t2)]
    await async_wait_for(replaced, message="active is the new job")
    assert "SuccessfulDelete" in await reasons(w, "replace")


async def test_history_limits_prune_the_oldest_finished_jobs(world: World) -> None:
    w = world
    await create(w, "hist", successfulJobsHistoryLimit=1, failedJobsHistoryLimit=1)
    made: list[str] = []
    for outcome in ("Complete", "Complete", "Failed", "Failed", "Complete"):
        t = await tick(w)
        made.append(jname("hist", t))
        await async_wait_for(lambda n=made[-1]: n in job_names_sync(w),  # type: ignore[misc]
                             message=made[-1])
        await finish(w, made[-1], outcome)
        await async_wait_for(lambda n=made[-1]: _inactive(w, "hist", n),  # type: ignore[misc]
                             message="seen finished")
    # one of each outcome is kept: the newest success and the newest failure
    await wait_jobs(w, "hist", [made[3], made[4]], "pruned to the limits")
    assert "SuccessfulDelete" in await reasons(w, "hist")


def job_names_sync(w: World) -> list[str]:
    return [k.split("/", 1)[1] for k in w.ctl.job_store.keys() if k.startswith(w.ns + "/")]


def _inactive(w: World, cj: str, job: str) -> bool:
    c = w.ctl.cj_store.get(f"{w.ns}/{cj}")
    return c is not None and c.status is not None and \
        all(r.name != job for r in c.status.active or ())


# ---- downtime, time zones, suspend -------------------------------------------------


async def test_catch_up_after_downtime_runs_once(world: World) -> None:
    w = world
    await create(w, "late", startingDeadlineSeconds=600)
    await create(w, "lost")  # no deadline: 150 missed minutes
    await w.halt()  # the controller-manager goes down for 150 minutes
    start = w.clock.now()
    w.clock.set(next_minute(start) + timedelta(minutes=149, seconds=30))
    most_recent = next_minute(start) + timedelta(minutes=149)
    await w.start()
    await wait_jobs(w, "late", [jname("late", most_recent)], "one catch-up run")
    await wait_jobs(w, "lost", [jname("lost", most_recent)], "one run past 100 misses")

    async def warned() -> bool:
        return "TooManyMissedTimes" in await reasons(w, "lost")
    await async_wait_for(warned, message="TooManyMissedTimes")
    assert "TooManyMissedTimes" not in await reasons(w, "late")
    await asyncio.sleep(0.3)  # nothing else comes of the missed times
    assert len(await jobs(w, "late")) == 1 and len(await jobs(w, "lost")) == 1


async def test_time_zone(world: World) -> None:
    w = world
    zone = "Asia/Kolkata"  # +05:30: a UTC schedule would fire 5.5 hours away
    fire = next_minute(w.clock.now()) + timedelta(minutes=2)
    local = fire.astimezone(load_location(zone))
    await create(w, "tz", f"{local.minute} {local.hour} * * *", timeZone=zone)
    await tick(w)
    await asyncio.sleep(0.3)
    assert await job_names(w, "tz") == []
    w.clock.set(fire + timedelta(seconds=1))
    await wait_jobs(w, "tz", [jname("tz", fire)], "the job at the zone's time")
    job = (await jobs(w, "tz"))[0]
    assert (job.metadata.annotations or {})[cu.SCHEDULED_TIMESTAMP_ANNOTATION] == \
        local.replace(second=0).isoformat()


async def test_suspend_then_resume(world: World) -> None:
    w = world
    await create(w, "susp", suspend=True)
    await tick(w)
    await asyncio.sleep(0.3)
    assert await job_names(w, "susp") == []
    cj = await status(w, "susp")
    cj.spec.suspend = False
    await w.client.update(cj)
    # resumed: the missed schedule (no deadline) starts at once
    await async_wait_for(lambda: job_names(w, "susp"), message="a job after resuming")


# ---- TTL after finished ------------------------------------------------------------


async def test_ttl_deletes_a_finished_job_and_its_pods(world: World) -> None:
    w = world
    job = Job.from_dict({
        "metadata": {"name": "ttl"},
        "spec": {"ttlSecondsAfterFinished": 30, "template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}},
    })
    job = await w.client.create(job, w.ns)
    pod = Pod.from_dict({
        "metadata": {"name": "ttl-pod", "ownerReferences": [{
            "apiVersion": "batch/v1", "kind": "Job", "name": "ttl", "uid": job.metadata.uid,
            "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    })
    await w.client.create(pod, w.ns)
    await finish(w, "ttl")
    await async_wait_for(lambda: w.clock.due(f"{w.ns}/ttl") is not None,
                         message="requeued for expiry")
    w.clock.step(29)
    await asyncio.sleep(0.3)
    assert (await w.client.get(Job, "ttl", w.ns)).metadata.deletion_timestamp is None
    w.clock.step(2)

    async def gone() -> bool:
        for model, name in ((Job, "ttl"), (Pod, "ttl-pod")):
            try:
                await w.client.get(model, name, w.ns)
                return False
            except NotFound:
                pass
        return True
    await async_wait_for(gone, timeout=15, message="job and pod deleted")
    assert w.ttl.deleted == 1


async def test_controller_manager_process_runs_ttl_after_finished(server_url: str) -> None:
    """The registered controllers in the real controller-manager, on the wall clock: a Job
    with ttlSecondsAfterFinished 1 goes a second after it finished (Foreground: the garbage
    collector takes the foregroundDeletion finalizer off)."""
    cm = start_controller_manager(server_url, "--controllers=ttl-after-finished,cronjob,garbagecollector")
    try:
        async with AsyncClient(server_url) as client:
            ns = await new_namespace(client, "ttl")
            job = Job.from_dict({
                "metadata": {"name": "short"},
                "spec": {"ttlSecondsAfterFinished": 1, "template": {"spec": {
                    "restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}},
            })
            await client.create(job, ns)
            now = format_time(datetime.now(UTC))
            job = await client.get(Job, "short", ns)
            job.status = JobStatus.model_validate({
                "startTime": now, "completionTime": now, "succeeded": 1,
                "conditions": [{"type": "SuccessCriteriaMet", "status": "True",
                                "lastTransitionTime": now},
                               {"type": "Complete", "status": "True",
                                "lastTransitionTime": now}]})
            await client.update_status(job)

            async def gone() -> bool:
                try:
                    await client.get(Job, "short", ns)
                    return False
                except NotFound:
                    return True
            await async_wait_for(gone, timeout=20, message="the job deleted after its TTL")
    finally:
        cm.stop()
