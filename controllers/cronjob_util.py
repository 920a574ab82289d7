"""What the CronJob controller decides, as pure functions (pkg/controller/cronjob/utils.go).

Schedules come from ``api.cron`` (robfig/cron's ParseStandard over croniter);
``most_recent_schedule_time``,
``next_schedule_time``, ``next_schedule_time_duration``, ``job_from_template`` and the
Job status helpers follow utils.go. Every function takes ``now``: the controller reads it
from its ``controllers.clock.Clock``, which a test replaces by a clock it moves by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import Enum

from api.cron import Schedule, ScheduleError, load_location
from api.models import ObjectMeta, ObjectReference
from api.models.batch import JOB_COMPLETE, JOB_FAILED, CronJob, Job
from api.timeutil import format_time, parse_time_or_none
from controllers.ownership import owner_reference

# k8s.io/api/batch/v1 CronJobScheduledTimestampAnnotation
SCHEDULED_TIMESTAMP_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
# nextScheduleDelta: requeue a little after the schedule, for clock skew
NEXT_SCHEDULE_DELTA = 0.1
# more missed start times than this: the TooManyMissedTimes event
TOO_MANY_MISSED = 100


class MissedSchedules(Enum):
    NONE = 0
    FEW = 1
    MANY = 2


ALLOW, FORBID, REPLACE = "Allow", "Forbid", "Replace"
CONCURRENCY_POLICIES = (ALLOW, FORBID, REPLACE)


def format_schedule(cj: CronJob) -> str:
    """formatSchedule: the schedule with the CronJob's timeZone as a ``TZ=`` prefix (a TZ
    already in the schedule, or an unknown zone, leaves it as it is)."""
    schedule = cj.spec.schedule
    if "TZ" in schedule:
        return schedule
    tz = cj.spec.time_zone
    if tz is not None:
        try:
            load_location(tz)
        except ScheduleError:
            return schedule
        return f"TZ={tz} {schedule}"
    return schedule


# ---- schedule arithmetic (utils.go) --------------------------------------------------


def _earliest(cj: CronJob) -> datetime:
    status = cj.status
    last = parse_time_or_none(status.last_schedule_time if status else None)
    if last is not None:
        return last
    created = parse_time_or_none(cj.metadata.creation_timestamp)
    return created or datetime.fromtimestamp(0, UTC)


def most_recent_schedule_time(cj: CronJob, now: datetime, schedule: Schedule,
                              include_starting_deadline: bool
                              ) -> tuple[datetime, datetime | None, MissedSchedules]:
    """mostRecentScheduleTime: the last schedule time (or the creation time), the most
    recent time a Job should have been created (None: not yet), and how many were missed.
    Raises ScheduleError for a schedule that never (or too often) fires."""
    earliest = _earliest(cj)
    missed = MissedSchedules.NONE
    sds = cj.spec.starting_deadline_seconds
    if include_starting_deadline and sds is not None:
        deadline = now - timedelta(seconds=sds)
        if deadline > earliest:
            earliest = deadline
    t1 = schedule.next(earliest)
    if t1 is None:
        raise ScheduleError("time difference between two schedules is less than 1 second")
    if now < t1:
        return earliest, None, missed
    t2 = schedule.next(t1)
    if t2 is not None and now < t2:
        return earliest, t1, missed
    between = round((t2 - t1).total_seconds()) if t2 is not None else 0
    if between < 1:
        raise ScheduleError("time difference between two schedules is less than 1 second")
    elapsed = int((now - t1).total_seconds())
    n_missed = elapsed // between + 1
    most_recent: datetime | None = None
    t = schedule.next(t1 + timedelta(seconds=(n_missed - 2) * between))
    while t is not None and t <= now:
        most_recent = t
        t = schedule.next(t)
    if n_missed > TOO_MANY_MISSED:
        missed = MissedSchedules.MANY
    elif n_missed > 0:
        missed = MissedSchedules.FEW
    return earliest, most_recent, missed


def next_schedule_time(cj: CronJob, now: datetime, schedule: Schedule
                       ) -> tuple[datetime | None, MissedSchedules]:
    """nextScheduleTime: the most recent unmet schedule time within the starting deadline
    (None: nothing to start), and whether too many were missed (the caller records the
    TooManyMissedTimes event)."""
    _, most_recent, missed = most_recent_schedule_time(cj, now, schedule, True)
    if most_recent is None or most_recent > now:
        return None, missed
    return most_recent, missed


def next_schedule_time_duration(cj: CronJob, now: datetime, schedule: Schedule) -> float:
    """nextScheduleTimeDuration: seconds until the next schedule after the most recent one,
    plus NEXT_SCHEDULE_DELTA."""
    try:
        earliest, most_recent, missed = most_recent_schedule_time(cj, now, schedule, False)
    except ScheduleError:
        most_recent = now
    else:
        if most_recent is None:
            most_recent = earliest if missed is MissedSchedules.NONE else now
    nxt = schedule.next(most_recent)
    if nxt is None:
        nxt = schedule.next(now) or now + timedelta(hours=1)
    return (nxt - now).total_seconds() + NEXT_SCHEDULE_DELTA


# ---- Jobs -------------------------------------------------------------------------


def job_name(cj: CronJob, scheduled: datetime) -> str:
    """getJobName: the CronJob's name and the scheduled time in minutes since the epoch,
    so that one scheduled time can never make two Jobs."""
    return f"{cj.metadata.name}-{int(scheduled.timestamp()) // 60}"


def job_from_template(cj: CronJob, scheduled: datetime) -> Job:
    """getJobFromTemplate2: a Job of the template, named for its scheduled time, owned by
    the CronJob, annotated with the scheduled time in the CronJob's time zone."""
    tmpl = cj.spec.job_template
    tmeta = tmpl.metadata or ObjectMeta()
    annotations = dict(tmeta.annotations or {})
    try:
        loc = load_location(cj.spec.time_zone or "")
    except ScheduleError:
        loc = load_location("")
    local = scheduled.astimezone(loc)
    annotations[SCHEDULED_TIMESTAMP_ANNOTATION] = rfc3339(local)
    spec = tmpl.spec
    if spec is None:
        raise ValueError("cronjob has no job template spec")
    # The template's spec is shared, not copied (deep-copying a pod template was the
    # costliest step of a sync): the Job made here is a request body, only serialized,
    # never kept nor changed.
    return Job(
        metadata=ObjectMeta(
            name=job_name(cj, scheduled), namespace=cj.metadata.namespace,
            labels=dict(tmeta.labels) if tmeta.labels else None,
            annotations=annotations,
            owner_references=[owner_reference(cj, "batch/v1", "CronJob")],
        ),
        spec=spec,
    )


def rfc3339(t: datetime) -> str:
    """Go's time.RFC3339 of a zoned time: ``Z`` in UTC, the offset elsewhere."""
    if t.utcoffset() == timedelta(0):
        return format_time(t)
    return t.replace(microsecond=0).isoformat()


def finished_status(job: Job) -> str | None:
    """getFinishedStatus: "Complete" or "Failed" once the Job has finished, else None."""
    for c in (job.status.conditions if job.status else None) or ():
        if c.type in (JOB_COMPLETE, JOB_FAILED) and c.status == "True":
            return c.type
    return None


def is_job_finished(job: Job) -> bool:
    return finished_status(job) is not None


def is_job_succeeded(job: Job) -> bool:
    return any(c.type == JOB_COMPLETE and c.status == "True"
               for c in (job.status.conditions if job.status else None) or ())


def by_start_time(jobs: Iterable[Job]) -> list[Job]:
    """byJobStartTime: oldest start first, Jobs not started last, names break ties."""
    def key(j: Job) -> tuple[int, datetime, str]:
        st = parse_time_or_none(j.status.start_time if j.status else None)
        return (0, st, j.metadata.name or "") if st is not None else \
            (1, datetime.fromtimestamp(0, UTC), j.metadata.name or "")
    return sorted(jobs, key=key)


def job_ref(job: Job) -> ObjectReference:
    """getRef: the reference kept in status.active."""
    return ObjectReference(kind="Job", namespace=job.metadata.namespace,
                           name=job.metadata.name, uid=job.metadata.uid,
                           api_version="batch/v1",
                           resource_version=job.metadata.resource_version)


def in_active_list(cj: CronJob, uid: str | None) -> bool:
    return any(r.uid == uid for r in (cj.status.active if cj.status else None) or ())


def in_active_list_by_name(cj: CronJob, name: str, namespace: str | None) -> bool:
    return any(r.name == name and r.namespace == namespace
               for r in (cj.status.active if cj.status else None) or ())


def delete_from_active_list(cj: CronJob, uid: str | None) -> None:
    if cj.status is None:
        return
    cj.status.active = [r for r in cj.status.active or () if r.uid != uid] or None
