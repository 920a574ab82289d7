"""The CronJob controller: makes Jobs on a schedule (pkg/controller/cronjob/
cronjob_controllerv2.go).

Handlers only enqueue CronJob keys (a Job enqueues the CronJob its controllerRef names;
a CronJob whose schedule or time zone changed is enqueued at its next schedule time).
``sync`` reads the caches, prunes finished Jobs past the history limits
(cleanupFinishedJobs), reconciles ``status.active`` with the Jobs it sees (SawCompletedJob,
MissingJob, UnexpectedJob, lastSuccessfulTime), and, unless suspended, starts the most
recent unmet schedule time within ``startingDeadlineSeconds`` as a Job named
``<cronjob>-<minutes since the epoch>`` under ``concurrencyPolicy`` Allow/Forbid/Replace;
then it writes status once and requeues the key at the next schedule time through its
clock. The clock is injectable: tests pass a ``FakeClock`` and move it by hand.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from api.cron import ScheduleError, load_location, parse_standard
from api.models.batch import JOB_COMPLETE, CronJob, CronJobStatus, Job
from api.podutil import controller_ref
from api.timeutil import format_time, parse_time_or_none
from client import AlreadyExists, AsyncClient, NotFound
from client.cache import CONTROLLER_UID_INDEX, meta_key
from client.controller import Controller, Result
from controllers import cronjob_util as cu
from controllers.clock import Clock, RealClock
from controllers.context import ControllerContext, namespace_terminating, retry_conflicts

log = logging.getLogger(__name__)

KIND = "CronJob"


def _rv(obj: CronJob) -> int:
    try:
        return int(obj.metadata.resource_version or 0)
    except ValueError:
        return 0


def _rfc1123z(t: datetime) -> str:
    """Go's time.RFC1123Z of a UTC time (the MissSchedule event's format)."""
    return t.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


class CronJobController:
    name = "cronjob"

    def __init__(self, ctx: ControllerContext, workers: int = 5,
                 clock: Clock | None = None) -> None:
        self.client: AsyncClient = ctx.client
        self.recorder = ctx.recorder
        self.clock: Clock = clock or RealClock()
        self.cj_informer = ctx.factory.informer(CronJob)
        self.job_informer = ctx.factory.informer(Job)
        self.cj_store = self.cj_informer.store
        self.job_store = self.job_informer.store
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.jobs = self.controller.enqueue_owner(KIND, self.cj_store)
        self.cj_informer.add_handler(self._cj_added, self._cj_updated, self._cj_deleted)
        self.job_informer.add_handler(self._job_added, self.jobs.on_update, self.jobs.on_delete)
        # the start delay of each Job made (seconds after its scheduled time), for the bench
        self.creation_skew: list[float] = []
        self._written: dict[str, CronJob] = {}

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    # ---- handlers: enqueue only ---------------------------------------------------

    def _cj_added(self, cj: CronJob) -> None:
        self.controller.enqueue(meta_key(cj))

    def _cj_updated(self, old: CronJob, new: CronJob) -> None:
        if old.spec.schedule != new.spec.schedule or old.spec.time_zone != new.spec.time_zone:
            # updateCronJob: a new schedule requeues at its next time
            try:
                sched = parse_standard(cu.format_schedule(new))
            except ScheduleError:
                self.recorder.event(new, "Warning", "UnParseableCronJobSchedule",
                                    f"unparseable schedule for cronjob: {new.spec.schedule}")
                return
            now = self.clock.now()
            self.clock.add_after(self.controller.queue, meta_key(new),
                                 cu.next_schedule_time_duration(new, now, sched))
            return
        key = meta_key(new)
        written = self._written.get(key)
        if (written is not None and old.spec == new.spec
                and written.metadata.resource_version == new.metadata.resource_version):
            return  # the echo of our own status write: the sync that made it requeued it
        self.controller.enqueue(key)

    def _cj_deleted(self, cj: Any) -> None:
        if isinstance(cj, CronJob):
            self.controller.enqueue(meta_key(cj))

    def _job_added(self, job: Job) -> None:
        if job.metadata.deletion_timestamp is not None:
            self.jobs.on_delete(job)
            return
        ref = controller_ref(job)
        if ref is not None and ref.kind == KIND and not cu.is_job_finished(job):
            # a running Job the CronJob already lists (the one a sync just made): nothing
            # to do until it changes
            owner = self._current(f"{job.metadata.namespace}/{ref.name}")
            if owner is not None and owner.metadata.uid == ref.uid and \
                    cu.in_active_list(owner, job.metadata.uid):
                return
        self.jobs.on_add(job)

    # ---- sync -----------------------------------------------------------------------

    def _jobs_of(self, cj: CronJob) -> list[Job]:
        """getJobsToBeReconciled: the Jobs whose controllerRef is this CronJob (by uid,
        through the cache's index, where Kubernetes compares names over the namespace)."""
        return [j for j in self.job_store.by_index(CONTROLLER_UID_INDEX, cj.metadata.uid or "")
                if j.metadata.namespace == cj.metadata.namespace
                and (ref := controller_ref(j)) is not None and ref.kind == KIND]

    def _current(self, key: str) -> CronJob | None:
        """The cached CronJob, or the one this controller last wrote when the cache has not
        seen that write yet (a sync right after our own status update would otherwise act
        on the old status and make the same Job again)."""
        cached = self.cj_store.get(key)
        written = self._written.get(key)
        if cached is None:
            self._written.pop(key, None)
            return None
        if written is not None:
            if (written.metadata.uid == cached.metadata.uid
                    and _rv(written) > _rv(cached)):
                return written
            del self._written[key]
        return cached

    async def reconcile(self, key: str) -> Result | None:
        current = self._current(key)
        if current is None:
            return None
        # status is all a sync changes: the rest is shared with the cache, never mutated;
        # a sync assigns the status' fields (new active lists), never changes them in place
        cj = current.model_copy()
        cj.status = current.status.model_copy() if current.status else CronJobStatus()
        jobs = self._jobs_of(cj)
        update = await self._cleanup_finished_jobs(cj, jobs)
        requeue_after, updated, error = None, False, None
        try:
            requeue_after, updated = await self._sync_cronjob(cj, jobs)
        except Exception as exc:  # status first, then the retry
            error = exc
        if update or updated:
            try:
                self._written[key] = await self.client.update_status(cj)
            except NotFound:
                return None
        if requeue_after is not None:
            self.clock.add_after(self.controller.queue, key, requeue_after)
            return None
        if error is not None and not namespace_terminating(error):
            raise error
        return None

    async def _sync_cronjob(self, cj: CronJob, jobs: list[Job]) -> tuple[float | None, bool]:
        """syncCronJob: (seconds until the next sync, whether status changed)."""
        now = self.clock.now()
        update = False
        status = cj.status
        assert status is not None
        children: set[str | None] = set()
        for j in jobs:
            children.add(j.metadata.uid)
            found = cu.in_active_list(cj, j.metadata.uid)
            finished = cu.finished_status(j)
            if not found and finished is None:
                fresh = await self._get_cronjob(cj)
                if fresh is not None and cu.in_active_list(fresh, j.metadata.uid):
                    cj.metadata = fresh.metadata
                    cj.spec = fresh.spec
                    cj.status = status = fresh.status or CronJobStatus()
                    continue
                self.recorder.event(cj, "Warning", "UnexpectedJob",
                                    f"Saw a job that the controller did not create or "
                                    f"forgot: {j.metadata.name}")
            elif found and finished is not None:
                cu.delete_from_active_list(cj, j.metadata.uid)
                self.recorder.event(cj, "Normal", "SawCompletedJob",
                                    f"Saw completed job: {j.metadata.name}, "
                                    f"condition: {finished}")
                update = True
            if finished == JOB_COMPLETE:
                # succeeded Jobs stamp lastSuccessfulTime whether active or not
                done = parse_time_or_none(j.status.completion_time if j.status else None)
                last = parse_time_or_none(status.last_successful_time)
                if done is not None and (last is None or done > last):
                    status.last_successful_time = format_time(done)
                    update = True
        # active references whose Job is gone (asked of the server, the cache may lag)
        for ref in list(status.active or ()):
            if ref.uid in children:
                continue
            try:
                await self.client.get(Job, ref.name or "", ref.namespace)
            except NotFound:
                self.recorder.event(cj, "Normal", "MissingJob",
                                    f"Active job went missing: {ref.name}")
                cu.delete_from_active_list(cj, ref.uid)
                update = True

        if cj.metadata.deletion_timestamp is not None:
            return None, update
        if cj.spec.time_zone is not None:
            try:
                load_location(cj.spec.time_zone)
            except ScheduleError as exc:
                self.recorder.event(cj, "Warning", "UnknownTimeZone",
                                    f'invalid timeZone: "{cj.spec.time_zone}": {exc}')
                return None, update
        if cj.spec.suspend:
            return None, update
        if "TZ" in cj.spec.schedule:
            self.recorder.event(
                cj, "Warning", "UnsupportedSchedule",
                f'CRON_TZ or TZ used in schedule "{cj.spec.schedule}" is not officially '
                "supported, see https://kubernetes.io/docs/concepts/workloads/controllers/"
                "cron-jobs/ for more details")
        try:
            sched = parse_standard(cu.format_schedule(cj))
        except ScheduleError as exc:
            self.recorder.event(cj, "Warning", "UnparseableSchedule",
                                f'unparseable schedule: "{cj.spec.schedule}" : {exc}')
            return None, update
        try:
            scheduled, missed = cu.next_schedule_time(cj, now, sched)
        except ScheduleError as exc:
            self.recorder.event(cj, "Warning", "InvalidSchedule",
                                f"invalid schedule: {cj.spec.schedule} : {exc}")
            return None, update
        if missed is cu.MissedSchedules.MANY:
            self.recorder.event(cj, "Warning", "TooManyMissedTimes",
                                "too many missed start times. Set or decrease "
                                ".spec.startingDeadlineSeconds or check clock skew")
        if scheduled is None:
            return cu.next_schedule_time_duration(cj, now, sched), update

        sds = cj.spec.starting_deadline_seconds
        if sds is not None and (scheduled.timestamp() + sds) < now.timestamp():
            self.recorder.event(cj, "Warning", "MissSchedule",
                                f"Missed scheduled time to start a job: {_rfc1123z(scheduled)}")
            return cu.next_schedule_time_duration(cj, now, sched), update
        last = parse_time_or_none(status.last_schedule_time)
        if (cu.in_active_list_by_name(cj, cu.job_name(cj, scheduled), cj.metadata.namespace)
                or (last is not None and last == scheduled)):
            return cu.next_schedule_time_duration(cj, now, sched), update
        policy = cj.spec.concurrency_policy or cu.ALLOW
        if policy == cu.FORBID and status.active:
            self.recorder.event(cj, "Normal", "JobAlreadyActive",
                                "Not starting job because prior execution is running and "
                                "concurrency policy is Forbid")
            return cu.next_schedule_time_duration(cj, now, sched), update
        if policy == cu.REPLACE:
            for ref in list(status.active or ()):
                try:
                    job = await self.client.get(Job, ref.name or "", ref.namespace)
                except Exception as exc:
                    self.recorder.event(cj, "Warning", "FailedGet", f"Get job: {exc}")
                    raise
                if not await self._delete_job(cj, job):
                    raise RuntimeError(f"could not replace job {ref.namespace}/{ref.name}")
                update = True

        req = cu.job_from_template(cj, scheduled)
        try:
            created = await self.client.create(req, cj.metadata.namespace)
        except AlreadyExists:
            existing = await self.client.get(Job, req.metadata.name or "", cj.metadata.namespace)
            owner = controller_ref(existing)
            if owner is None or owner.uid != cj.metadata.uid:
                return None, update  # someone else's Job: assume they keep the status
            if cu.in_active_list(cj, existing.metadata.uid):
                return None, update
            created = existing
        except Exception as exc:
            if namespace_terminating(exc):
                raise
            self.recorder.event(cj, "Warning", "FailedCreate", f"Error creating job: {exc}")
            raise
        else:
            self.creation_skew.append((self.clock.now() - scheduled).total_seconds())
            self.recorder.event(cj, "Normal", "SuccessfulCreate",
                                f"Created job {created.metadata.name}")
        status.active = [*(status.active or ()), cu.job_ref(created)]
        status.last_schedule_time = format_time(scheduled)
        update = True
        return cu.next_schedule_time_duration(cj, now, sched), update

    async def _get_cronjob(self, cj: CronJob) -> CronJob | None:
        try:
            return await self.client.get(CronJob, cj.metadata.name or "", cj.metadata.namespace)
        except NotFound:
            return None

    # ---- history limits -------------------------------------------------------------

    async def _cleanup_finished_jobs(self, cj: CronJob, jobs: list[Job]) -> bool:
        """cleanupFinishedJobs: the oldest finished Jobs past each history limit go."""
        ok_limit = cj.spec.successful_jobs_history_limit
        failed_limit = cj.spec.failed_jobs_history_limit
        if ok_limit is None and failed_limit is None:
            return False
        succeeded = [j for j in jobs if cu.finished_status(j) == "Complete"]
        failed = [j for j in jobs if cu.finished_status(j) == "Failed"]
        update = False
        for group, limit in ((succeeded, ok_limit), (failed, failed_limit)):
            if limit is None or len(group) <= limit:
                continue
            for job in cu.by_start_time(group)[: len(group) - limit]:
                if await self._delete_job(cj, job):
                    update = True
        return update

    async def _delete_job(self, cj: CronJob, job: Job) -> bool:
        """deleteJob: the Job goes (its pods in the background) with its active reference."""
        try:
            await self.client.delete(Job, job.metadata.name or "", job.metadata.namespace,
                                     propagation_policy="Background")
        except NotFound:
            pass
        except Exception as exc:
            self.recorder.event(cj, "Warning", "FailedDelete", f"Deleted job: {exc}")
            log.warning("cronjob %s: deleting job %s: %s", meta_key(cj), job.metadata.name,
                        exc)
            return False
        cu.delete_from_active_list(cj, job.metadata.uid)
        self.recorder.event(cj, "Normal", "SuccessfulDelete",
                            f"Deleted job {job.metadata.name}")
        return True

