"""The CronJob controller's pure logic (no cluster needed): utils_test.go's cases for
mostRecentScheduleTime / nextScheduleTime, time zones, job names, the TTL arithmetic and
the fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.cron import ScheduleError, parse_standard
from api.models.batch import CronJob, Job
from api.timeutil import format_time
from client.workqueue import RateLimitingQueue
from controllers import cronjob_util as cu
from controllers import ttlafterfinished as ttl
from controllers.clock import FakeClock

T0 = datetime(2026, 5, 4, 10, 0, 0, tzinfo=UTC)  # a Monday, on the hour


def cronjob(schedule: str = "*/1 * * * *", *, created: datetime = T0,
            last: datetime | None = None, sds: int | None = None, tz: str | None = None,
            **spec: Any) -> CronJob:
    d: dict[str, Any] = {
        "metadata": {"name": "cj", "namespace": "ns", "uid": "u1",
                     "creationTimestamp": format_time(created)},
        "spec": {"schedule": schedule, "concurrencyPolicy": "Allow",
                 "jobTemplate": {"metadata": {"labels": {"a": "b"}},
                                 "spec": {"template": {"spec": {
                                     "restartPolicy": "Never",
                                     "containers": [{"name": "c", "image": "i"}]}}}},
                 **spec},
        "status": {},
    }
    if last is not None:
        d["status"]["lastScheduleTime"] = format_time(last)
    if sds is not None:
        d["spec"]["startingDeadlineSeconds"] = sds
    if tz is not None:
        d["spec"]["timeZone"] = tz
    return CronJob.from_dict(d)


def job(name: str, *, condition: str | None = None, started: datetime | None = None,
        finished: datetime | None = None, ttl_seconds: int | None = None) -> Job:
    d: dict[str, Any] = {"metadata": {"name": name, "namespace": "ns", "uid": name},
                         "spec": {"template": {"spec": {"containers": []}}}, "status": {}}
    if started:
        d["status"]["startTime"] = format_time(started)
    if condition:
        d["status"]["conditions"] = [{"type": condition, "status": "True",
                                      "lastTransitionTime": format_time(finished or T0)}]
        d["status"]["completionTime"] = format_time(finished or T0)
    if ttl_seconds is not None:
        d["spec"]["ttlSecondsAfterFinished"] = ttl_seconds
    return Job.from_dict(d)


# ---- mostRecentScheduleTime / nextScheduleTime (utils_test.go) -----------------------


def test_nothing_due_before_the_first_schedule() -> None:
    cj = cronjob("0 * * * *", created=T0)
    sched = parse_standard(cj.spec.schedule)
    assert cu.next_schedule_time(cj, T0 + timedelta(minutes=59), sched) == \
        (None, cu.MissedSchedules.NONE)
    # requeued just after the next hour (NEXT_SCHEDULE_DELTA)
    assert cu.next_schedule_time_duration(cj, T0 + timedelta(minutes=59), sched) == \
        pytest.approx(60 + cu.NEXT_SCHEDULE_DELTA)


def test_one_due_then_the_most_recent_of_several_missed() -> None:
    cj = cronjob("0 * * * *", created=T0 - timedelta(minutes=1))
    sched = parse_standard(cj.spec.schedule)
    assert cu.next_schedule_time(cj, T0 + timedelta(minutes=5), sched) == \
        (T0, cu.MissedSchedules.NONE)
    # down for five hours: only the most recent missed time is started
    got, missed = cu.next_schedule_time(cj, T0 + timedelta(hours=5, minutes=2), sched)
    assert got == T0 + timedelta(hours=5)
    assert missed is cu.MissedSchedules.FEW


def test_last_schedule_time_wins_over_creation() -> None:
    cj = cronjob("*/1 * * * *", created=T0 - timedelta(hours=1), last=T0)
    sched = parse_standard(cj.spec.schedule)
    assert cu.next_schedule_time(cj, T0 + timedelta(seconds=30), sched)[0] is None
    assert cu.next_schedule_time(cj, T0 + timedelta(seconds=61), sched)[0] == \
        T0 + timedelta(minutes=1)


def test_more_than_100_missed_is_many_and_the_deadline_limits_the_count() -> None:
    cj = cronjob("*/1 * * * *", created=T0)
    sched = parse_standard(cj.spec.schedule)
    now = T0 + timedelta(minutes=150, seconds=10)
    got, missed = cu.next_schedule_time(cj, now, sched)
    assert got == T0 + timedelta(minutes=150)
    assert missed is cu.MissedSchedules.MANY
    # startingDeadlineSeconds 200: only the last three minutes count
    cj = cronjob("*/1 * * * *", created=T0, sds=200)
    got, missed = cu.next_schedule_time(cj, now, sched)
    assert got == T0 + timedelta(minutes=150)
    assert missed is cu.MissedSchedules.FEW


def test_a_schedule_that_never_fires_is_an_error() -> None:
    cj = cronjob("59 23 31 2 *")
    with pytest.raises(ScheduleError, match="less than 1 second"):
        cu.next_schedule_time(cj, T0 + timedelta(days=400), parse_standard(cj.spec.schedule))


def test_time_zone_shifts_the_schedule_and_the_annotation() -> None:
    cj = cronjob("0 12 * * *", created=T0, tz="Asia/Tokyo")
    sched = parse_standard(cu.format_schedule(cj))
    assert cu.format_schedule(cj) == "TZ=Asia/Tokyo 0 12 * * *"
    # 12:00 JST is 03:00 UTC the next day
    now = datetime(2026, 5, 5, 3, 0, 5, tzinfo=UTC)
    got, _ = cu.next_schedule_time(cj, now, sched)
    assert got == datetime(2026, 5, 5, 3, tzinfo=UTC)
    j = cu.job_from_template(cj, got)
    assert j.metadata.name == f"cj-{int(got.timestamp()) // 60}"
    assert j.metadata.annotations == {
        cu.SCHEDULED_TIMESTAMP_ANNOTATION: "2026-05-05T12:00:00+09:00"}
    assert j.metadata.labels == {"a": "b"}
    ref = (j.metadata.owner_references or [])[0]
    assert (ref.kind, ref.name, ref.uid, ref.controller) == ("CronJob", "cj", "u1", True)
    utc = cu.job_from_template(cronjob(), T0)
    assert (utc.metadata.annotations or {})[cu.SCHEDULED_TIMESTAMP_ANNOTATION] == \
        "2026-05-04T10:00:00Z"


def test_job_status_helpers_and_order() -> None:
    done = job("a", condition="Complete", started=T0)
    failed = job("b", condition="Failed", started=T0 - timedelta(minutes=1))
    running = job("c", started=T0 - timedelta(minutes=5))
    unstarted = job("d")
    assert cu.finished_status(done) == "Complete" and cu.is_job_succeeded(done)
    assert cu.finished_status(failed) == "Failed" and not cu.is_job_succeeded(failed)
    assert not cu.is_job_finished(running)
    order = [j.metadata.name for j in cu.by_start_time([unstarted, done, failed, running])]
    assert order == ["c", "b", "a", "d"]


# ---- the TTL arithmetic and the fake clock ---------------------------------------------


def test_ttl_expiry() -> None:
    assert ttl.expire_time(job("x", condition="Complete", finished=T0, ttl_seconds=30)) == \
        T0 + timedelta(seconds=30)
    assert not ttl.needs_cleanup(job("x", ttl_seconds=30))  # not finished
    assert not ttl.needs_cleanup(job("x", condition="Failed"))  # no TTL
    assert ttl.needs_cleanup(job("x", condition="Failed", ttl_seconds=0))


async def test_fake_clock_adds_keys_when_their_time_comes() -> None:
    clock = FakeClock(T0)
    q = RateLimitingQueue("t")
    clock.add_after(q, "a", 60)
    clock.add_after(q, "a", 30)  # the earliest wins
    clock.add_after(q, "b", 90)
    clock.step(29)
    assert len(q) == 0
    clock.step(1)
    assert len(q) == 1 and await q.get() == "a"
    clock.step(60)
    assert await q.get() == "b"
    assert clock.waiting == 0
