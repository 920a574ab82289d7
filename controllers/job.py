"""The Job controller: runs pods to completion (kubernetes/pkg/controller/job/job_controller.go).

``reconcile`` is syncJob: it claims the Job's pods, counts the finished ones it has not
counted yet, decides whether the Job failed (a FailJob pod failure policy rule, more
failures than backoffLimit, activeDeadlineSeconds, failed indexes) or succeeded
(completions, a success policy), and otherwise creates or deletes pods (manageJob:
parallelism, the completions left, Indexed indexes, suspend, the back-off after failed
pods: 10 s doubling, capped at six minutes).

Every pod it creates carries the ``batch.kubernetes.io/job-tracking`` finalizer, and a
finished pod is counted exactly once across restarts as Kubernetes does it
(trackJobStatusAndRemoveFinalizers): its uid goes to ``status.uncountedTerminatedPods``
(a status write) before its finalizer is removed, and the uid leaves that list for the
counter once the finalizer is gone. A pod with the finalizer is not counted yet; a pod
in the list is counted once, whichever process removes the finalizer. The Failed and
Complete conditions come after the interim FailureTarget and SuccessCriteriaMet, once no
pod is left uncounted or terminating.

A second queue (syncOrphanPod) removes the finalizer from pods whose Job is gone or
finished. Handlers only enqueue keys; expectations (creates, deletes, finalizer removals)
keep a reconcile from acting on a cache that has not seen its own writes yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from api.labels import SelectorError, from_label_selector
from api.models import ObjectMeta, Pod
from api.models.batch import (
    COMPLETION_MODES,
    JOB_COMPLETE,
    JOB_COMPLETION_INDEX_ANNOTATION,
    JOB_CONTROLLER_NAME,
    JOB_FAILED,
    JOB_FAILURE_TARGET,
    JOB_INDEX_FAILURE_COUNT_ANNOTATION,
    JOB_INDEX_IGNORED_FAILURE_COUNT_ANNOTATION,
    JOB_SUCCESS_CRITERIA_MET,
    JOB_SUSPENDED,
    JOB_TRACKING_FINALIZER,
    Job,
    JobCondition,
    JobStatus,
    UncountedTerminatedPods,
)
from api.podutil import controller_ref, is_pod_ready
from api.timeutil import format_time
from client import AsyncClient, NotFound
from client.cache import CONTROLLER_UID_INDEX, NAMESPACE_INDEX, meta_key, split_key
from client.controller import Controller, Result, owner_key
from controllers import job_util as ju
from controllers.context import ControllerContext, namespace_terminating, retry_conflicts
from controllers.expectations import Expectations
from controllers.ownership import ClaimManager, claim_candidates, owner_reference
from controllers.replicaset_util import pod_key, slow_start_batches

log = logging.getLogger(__name__)

KIND = "Job"
API_VERSION = "batch/v1"


class FinalizerExpectations:
    """uidTrackingExpectations: per Job, the pods whose finalizer removal was sent and not
    yet seen; they are neither counted again nor touched until the informer shows it."""

    def __init__(self) -> None:
        self._by_key: dict[str, set[str]] = {}

    def expect(self, key: str, uids: list[str]) -> None:
        self._by_key.setdefault(key, set()).update(uids)

    def observed(self, key: str, uid: str) -> None:
        s = self._by_key.get(key)
        if s is not None:
            s.discard(uid)

    def get(self, key: str) -> set[str]:
        return set(self._by_key.get(key, ()))

    def delete(self, key: str) -> None:
        self._by_key.pop(key, None)


class _Sync:
    """syncJobCtx: what one reconcile of one Job knows."""

    def __init__(self, job: Job, pods: list[Pod], expected_rm: set[str]) -> None:
        self.job = job
        self.pods = pods
        self.active_pods = [p for p in pods if ju.is_active(p)]
        self.terminating = sum(1 for p in pods if ju.is_terminating(p))
        self.ready = ju.count_ready(self.active_pods)
        self.expected_rm = expected_rm
        uncounted = job.status.uncounted_terminated_pods if job.status else None
        self.uncounted_succeeded = set((uncounted.succeeded if uncounted else None) or [])
        self.uncounted_failed = set((uncounted.failed if uncounted else None) or [])
        self.succeeded = 0
        self.failed = 0
        self.finished: JobCondition | None = None
        self.prev_succeeded_indexes = ju.OrderedIntervals()
        self.succeeded_indexes = ju.OrderedIntervals()
        self.failed_indexes: ju.OrderedIntervals | None = None
        self.delayed: dict[int, Pod] = {}
        self.backoff = ju.BackoffRecord()
        self.requeue: list[float] = []

    def valid_uncounted(self, uncounted: set[str], pred: Callable[[Pod], bool]) -> list[Pod]:
        """getValidPodsWithFilter: pods with the finalizer, not in ``uncounted`` nor being
        unfinalized, with a valid index for an Indexed Job, that ``pred`` accepts."""
        out = []
        for p in self.pods:
            uid = p.metadata.uid or ""
            if not ju.has_tracking_finalizer(p) or uid in uncounted or uid in self.expected_rm:
                continue
            if ju.is_indexed(self.job) and ju.valid_index(self.job, p) == ju.UNKNOWN_INDEX:
                continue
            if pred(p):
                out.append(p)
        return out


class JobController:
    name = "job"

    def __init__(self, ctx: ControllerContext, workers: int = 5,
                 now: Callable[[], datetime] | None = None,
                 backoff_base: float | None = None,
                 backoff_cap: float = ju.MAX_BACKOFF) -> None:
        self.client: AsyncClient = ctx.client
        self.recorder = ctx.recorder
        self.now = now or (lambda: datetime.now(UTC))
        base = ctx.options.job_pod_failure_backoff
        self.batch_period = ctx.options.job_sync_batch_period
        self.backoff_base = backoff_base if backoff_base is not None else base
        self.backoff_cap = backoff_cap
        self.job_informer = ctx.factory.informer(Job)
        self.pod_informer = ctx.factory.informer(Pod)
        self.job_store = self.job_informer.store
        self.pod_store = self.pod_informer.store
        self.expectations = Expectations()
        self.finalizers = FinalizerExpectations()
        self.backoffs: dict[str, ju.BackoffRecord] = {}
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.orphans = Controller("job-orphan-pod", self.sync_orphan_pod, workers=2)
        self.job_informer.add_handler(self._job_added, self._job_updated, self._job_deleted)
        self.pod_informer.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller, self.orphans]

    # ---- handlers: enqueue only --------------------------------------------------

    def _selecting_jobs(self, pod: Pod) -> list[Job]:
        out = []
        for j in self.job_store.by_index(NAMESPACE_INDEX, pod.metadata.namespace or ""):
            try:
                if from_label_selector(j.spec.selector).matches(pod.metadata.labels):
                    out.append(j)
            except SelectorError:
                continue
        return out

    def _batched(self, key: str) -> None:
        """enqueueSyncJobBatched: pod events and status-only updates wait the batch period,
        so that a burst of them makes one sync."""
        self.controller.enqueue_after(key, self.batch_period)

    def _job_added(self, job: Job) -> None:
        self.controller.enqueue(meta_key(job))

    def _job_updated(self, old: Job, new: Job) -> None:
        key = meta_key(new)
        if old.metadata.generation == new.metadata.generation:
            self._batched(key)
        else:
            self.controller.enqueue(key)  # a spec change syncs at once
        if ju.is_job_finished(new) and not ju.is_job_finished(old):
            self._enqueue_orphans_of(new)

    def _job_deleted(self, job: Any) -> None:
        if not isinstance(job, Job):
            return
        key = meta_key(job)
        self.expectations.delete(key)
        self.finalizers.delete(key)
        self.controller.enqueue(key)
        self._enqueue_orphans_of(job)

    def _enqueue_orphans_of(self, job: Job) -> None:
        for p in self.pod_store.by_index(CONTROLLER_UID_INDEX, job.metadata.uid or ""):
            if ju.has_tracking_finalizer(p):
                self.orphans.enqueue(meta_key(p))

    def _maybe_orphan(self, pod: Pod, key: str | None) -> None:
        """A pod with the finalizer whose Job is gone (or finished) goes to the orphan
        queue (the handlers' enqueueOrphanPod)."""
        if not ju.has_tracking_finalizer(pod):
            return
        if key is None:
            ref = controller_ref(pod)
            if ref is None or (ref.kind == KIND and ref.api_version == API_VERSION):
                self.orphans.enqueue(meta_key(pod))
            return
        job = self.job_store.get(key)
        if job is not None and ju.is_job_finished(job):
            self.orphans.enqueue(meta_key(pod))

    def _enqueue_orphan_owners(self, pod: Pod) -> None:
        if controller_ref(pod) is None and pod.metadata.deletion_timestamp is None:
            for j in self._selecting_jobs(pod):
                self._batched(meta_key(j))

    def _pod_added(self, pod: Pod) -> None:
        if pod.metadata.deletion_timestamp is not None:
            self._pod_deleted(pod, final=False)
            return
        key = owner_key(pod, KIND, self.job_store)
        if key is not None:
            self.expectations.creation_observed(key)
            self._batched(key)
        else:
            self._enqueue_orphan_owners(pod)
        self._maybe_orphan(pod, key)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        old_key = owner_key(old, KIND, self.job_store)
        key = owner_key(new, KIND, self.job_store)
        if old_key is not None and old_key != key:
            self._batched(old_key)
        if key is not None:
            if ju.has_tracking_finalizer(old) and not ju.has_tracking_finalizer(new):
                self.finalizers.observed(key, new.metadata.uid or "")
            if new.metadata.deletion_timestamp is not None:
                self.expectations.deletion_observed(key, pod_key(new))
            self._batched(key)
        elif old.metadata.labels != new.metadata.labels or old_key is not None:
            self._enqueue_orphan_owners(new)
        self._maybe_orphan(new, key)

    def _pod_deleted(self, pod: Any, final: bool = True) -> None:
        if not isinstance(pod, Pod):
            return
        key = owner_key(pod, KIND, self.job_store)
        if key is not None:
            self.expectations.deletion_observed(key, pod_key(pod))
            if final:
                self.finalizers.observed(key, pod.metadata.uid or "")
            self._batched(key)

    # ---- orphan pods (syncOrphanPod) -------------------------------------------------

    async def sync_orphan_pod(self, key: str) -> Result | None:
        pod = self.pod_store.get(key)
        if pod is None or not ju.has_tracking_finalizer(pod):
            return None
        ref = controller_ref(pod)
        if ref is not None:
            if ref.kind != KIND or ref.api_version != API_VERSION:
                return None
            job = self.job_store.get(f"{pod.metadata.namespace}/{ref.name}")
            if job is not None and job.metadata.uid == ref.uid:
                if job.spec.managed_by not in (None, JOB_CONTROLLER_NAME):
                    return None
                if not ju.is_job_finished(job):
                    return None  # its Job counts it
        ns, name = split_key(key)
        try:
            await self.client.patch(Pod, name, ju.remove_finalizer_patch(), ns,
                                    patch_type="strategic")
        except NotFound:
            pass
        return None

    # ---- reconcile (syncJob) ---------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        cached = self.job_store.get(key)
        if cached is None:
            self.expectations.delete(key)
            self.finalizers.delete(key)
            self.backoffs.pop(key, None)
            return None
        if cached.spec.managed_by not in (None, JOB_CONTROLLER_NAME):
            return None
        if ju.is_job_finished(cached):
            self.backoffs.pop(key, None)
            return None
        # a sync changes the status only (spec and metadata are shared with the cache,
        # never changed): a deep copy of the whole Job, pod template included, was the
        # costliest step of a reconcile
        job = cached.model_copy()
        job.status = cached.status.copy_deep() if cached.status is not None else None
        if job.spec.completion_mode not in (None, *COMPLETION_MODES):
            self.recorder.event(job, "Warning", "UnknownCompletionMode",
                                "Skipped Job sync because completion mode is unknown")
            return None
        if job.status is None:
            job.status = JobStatus()
        status = job.status
        if status.uncounted_terminated_pods is None:
            status.uncounted_terminated_pods = UncountedTerminatedPods()
        satisfied = self.expectations.satisfied(key)
        pods = await self._pods_for_job(job)
        if pods is None:
            return None
        s = _Sync(job, pods, self.finalizers.get(key))
        active = len(s.active_pods)
        new_succeeded = s.valid_uncounted(s.uncounted_succeeded, lambda p: ju.phase(p) ==
                                          "Succeeded")
        new_failed = s.valid_uncounted(s.uncounted_failed, lambda p: ju.is_pod_failed(p, job))
        s.succeeded = (status.succeeded or 0) + len(new_succeeded) + len(s.uncounted_succeeded)
        s.failed = (status.failed or 0) + ju.counted_failures(job, new_failed) + \
            len(s.uncounted_failed)
        now = self.now()
        if status.start_time is None and not ju.is_suspended(job):
            status.start_time = format_time(now)
        s.backoff = ju.new_backoff_record(self.backoffs.get(key, ju.BackoffRecord()),
                                          new_succeeded, new_failed)
        self._decide_failure(s, now)
        if ju.is_indexed(job):
            self._indexes(s, now)
        suspend_changed = False
        manage_error: Exception | None = None
        if s.finished is not None:
            deleted_ready, deleted, manage_error = await self._delete_active(job, s.active_pods)
            if deleted != active or not satisfied:
                s.finished = None  # pods or finalizers the cache has not shown gone yet
            active -= deleted
            s.terminating += deleted
            s.ready -= deleted_ready
        else:
            called = False
            if satisfied and job.metadata.deletion_timestamp is None:
                active, manage_error = await self._manage(key, s)
                called = True
            if job.spec.completions is None:
                complete = s.succeeded > 0 and active == 0
            else:
                complete = s.succeeded >= job.spec.completions and active == 0
            if complete:
                s.finished = ju.new_condition(JOB_SUCCESS_CRITERIA_MET, "True",
                                              ju.REASON_COMPLETIONS_REACHED,
                                              ju.MSG_COMPLETIONS_REACHED, now)
            elif called:
                suspend_changed = self._suspend_condition(job, now)
        needs_flush = (suspend_changed or active != (status.active or 0)
                       or s.ready != status.ready or s.terminating != status.terminating)
        status.active = active
        status.ready = s.ready
        status.terminating = s.terminating
        await self._track_status(key, s, needs_flush)
        if manage_error is not None:
            raise manage_error
        if not satisfied:
            s.requeue.append(self.expectations.timeout + 1.0)
        return Result(requeue_after=min(s.requeue)) if s.requeue else None

    def _decide_failure(self, s: _Sync, now: datetime) -> None:
        """The failure half of syncJob: SuccessCriteriaMet already reached, an existing
        FailureTarget, a FailJob rule, backoffLimit, activeDeadlineSeconds."""
        job = s.job
        scm = ju.find_condition(job, JOB_SUCCESS_CRITERIA_MET)
        if scm is not None and scm.status == "True":
            s.finished = scm
            return
        target = ju.find_condition(job, JOB_FAILURE_TARGET)
        if target is not None and target.status == "True":
            s.finished = ju.new_condition(JOB_FAILED, "True", target.reason or "",
                                          target.message or "", now)
            return
        msg = ju.fail_job_message(job, s.pods)
        if msg is not None:
            s.finished = ju.new_condition(JOB_FAILURE_TARGET, "True",
                                          ju.REASON_POD_FAILURE_POLICY, msg, now)
            return
        limit = job.spec.backoff_limit if job.spec.backoff_limit is not None else 6
        if s.failed > limit or ju.past_backoff_limit_on_failure(job, s.pods):
            s.finished = ju.new_condition(JOB_FAILURE_TARGET, "True",
                                          ju.REASON_BACKOFF_LIMIT_EXCEEDED, ju.MSG_BACKOFF_LIMIT,
                                          now)
        elif ju.past_active_deadline(job, now):
            s.finished = ju.new_condition(JOB_FAILURE_TARGET, "True",
                                          ju.REASON_DEADLINE_EXCEEDED, ju.MSG_DEADLINE, now)
        else:
            left = ju.deadline_remaining(job, now)
            if left is not None:
                s.requeue.append(ju.requeue_delay(left))

    def _indexes(self, s: _Sync, now: datetime) -> None:
        job = s.job
        s.prev_succeeded_indexes, s.succeeded_indexes = ju.succeeded_indexes(job, s.pods)
        s.succeeded = s.succeeded_indexes.total()
        if ju.has_backoff_limit_per_index(job):
            s.failed_indexes = ju.failed_indexes(job, s.pods)
            failed = s.failed_indexes.total()
            if s.finished is None:
                mfi = job.spec.max_failed_indexes
                if mfi is not None and failed > mfi:
                    s.finished = ju.new_condition(
                        JOB_FAILURE_TARGET, "True", ju.REASON_MAX_FAILED_INDEXES_EXCEEDED,
                        ju.MSG_MAX_FAILED_INDEXES, now)
                elif failed > 0 and failed + s.succeeded_indexes.total() >= ju.completions(job):
                    s.finished = ju.new_condition(JOB_FAILURE_TARGET, "True",
                                                  ju.REASON_FAILED_INDEXES,
                                                  ju.MSG_FAILED_INDEXES, now)
            s.delayed = ju.pods_with_delayed_deletion(job, s.pods, s.active_pods,
                                                      s.succeeded_indexes, s.failed_indexes,
                                                      s.expected_rm)
        if s.finished is None:
            msg = ju.match_success_policy(job, s.succeeded_indexes)
            if msg is not None:
                s.finished = ju.new_condition(JOB_SUCCESS_CRITERIA_MET, "True",
                                              ju.REASON_SUCCESS_POLICY, msg, now)

    def _suspend_condition(self, job: Job, now: datetime) -> bool:
        assert job.status is not None
        conditions = list(job.status.conditions or [])
        if ju.is_suspended(job):
            changed = ju.ensure_condition(conditions, JOB_SUSPENDED, "True", "JobSuspended",
                                          "Job suspended", now)
            if changed:
                self.recorder.event(job, "Normal", "Suspended", "Job suspended")
        else:
            changed = ju.ensure_condition(conditions, JOB_SUSPENDED, "False", "JobResumed",
                                          "Job resumed", now)
            if changed:
                self.recorder.event(job, "Normal", "Resumed", "Job resumed")
                # the deadline counts from the resume (ActiveDeadlineSeconds is the time a
                # Job is continuously active)
                job.status.start_time = format_time(now)
        job.status.conditions = conditions or None
        return changed

    # ---- pods ------------------------------------------------------------------------

    async def _pods_for_job(self, job: Job) -> list[Pod] | None:
        """getPodsForJob: the pods it controls plus the orphans its selector adopts."""
        try:
            selector = from_label_selector(job.spec.selector)
        except SelectorError as exc:
            log.warning("job %s: invalid selector: %s", meta_key(job), exc)
            return None
        candidates = claim_candidates(self.pod_store, job.metadata.namespace or "", selector,
                                      job.metadata.uid or "")
        claimer = ClaimManager(self.client, job, API_VERSION, KIND, selector,
                               lambda: self._fresh(job))
        orphans = {p.metadata.uid for p in candidates if controller_ref(p) is None}
        pods = await claimer.claim(candidates)
        # an adopted pod gets the tracking finalizer too (ClaimPods with finalizers)
        for i, p in enumerate(pods):
            if p.metadata.uid in orphans and not ju.has_tracking_finalizer(p):
                fins = [*(p.metadata.finalizers or []), JOB_TRACKING_FINALIZER]
                try:
                    pods[i] = await self.client.patch(
                        Pod, p.metadata.name or "", {"metadata": {
                            "finalizers": fins,
                            "resourceVersion": p.metadata.resource_version}},
                        p.metadata.namespace)
                except NotFound:
                    continue
        return pods

    async def _fresh(self, job: Job) -> Job | None:
        try:
            return await self.client.get(Job, job.metadata.name or "", job.metadata.namespace)
        except NotFound:
            return None

    async def _manage(self, key: str, s: _Sync) -> tuple[int, Exception | None]:
        """manageJob: the active pods the Job should have; returns the new active count."""
        job = s.job
        active = len(s.active_pods)
        if ju.is_suspended(job):
            victims = ju.pods_for_removal(job, s.active_pods, active)
            removed, error = await self._delete_pods(key, s, victims)
            return active - removed, error
        want = ju.want_active(job, active, s.succeeded)
        victims = ju.pods_for_removal(job, s.active_pods, max(0, active - want))
        victims = victims[:ju.MAX_POD_CREATE_DELETE_PER_SYNC]
        if victims:
            removed, error = await self._delete_pods(key, s, victims)
            return active - removed, error
        terminating = s.terminating if ju.only_replace_failed_pods(job) else 0
        diff = want - terminating - active
        if diff <= 0:
            return active, None
        if not ju.has_backoff_limit_per_index(job):
            wait = ju.remaining_backoff(s.backoff.failures_after_last_success,
                                        s.backoff.last_failure_time, self.now(),
                                        self.backoff_base, self.backoff_cap)
            if wait > 0:
                s.requeue.append(ju.requeue_delay(wait))
                return active, None
        diff = min(diff, ju.MAX_POD_CREATE_DELETE_PER_SYNC)
        indexes: list[int | None] = [None] * diff
        if ju.is_indexed(job):
            terminating_pods = [p for p in s.pods if ju.is_terminating(p)]
            pending = ju.first_pending_indexes(job, s.active_pods, terminating_pods,
                                               s.succeeded_indexes, s.failed_indexes, diff)
            if ju.has_backoff_limit_per_index(job):
                now = self.now()
                waits = {ix: ju.remaining_backoff_per_index(job, s.delayed.get(ix), now,
                                                            self.backoff_base,
                                                            self.backoff_cap)
                         for ix in pending}
                ready = [ix for ix in pending if waits[ix] <= 0]
                if not ready and waits:
                    s.requeue.append(ju.requeue_delay(min(waits.values())))
                    return active, None
                pending = ready
            indexes = list(pending)
        if not indexes:
            return active, None
        created, error = await self._create_pods(key, s, indexes)
        return active + created, error

    async def _create_pods(self, key: str, s: _Sync, indexes: list[int | None]
                           ) -> tuple[int, Exception | None]:
        count = len(indexes)
        self.expectations.expect_creations(key, count)
        created = 0
        attempted = 0
        error: Exception | None = None
        try:
            for batch in slow_start_batches(count):
                chunk = indexes[attempted:attempted + batch]
                attempted += batch
                results = await asyncio.gather(*(self._create_pod(s, ix) for ix in chunk),
                                               return_exceptions=True)
                errors = [r for r in results if isinstance(r, BaseException)]
                created += batch - len(errors)
                if errors:
                    err = errors[0]
                    if not isinstance(err, Exception):
                        raise err
                    if not namespace_terminating(err):
                        error = err
                    break
        finally:
            for _ in range(count - created):
                self.expectations.creation_observed(key)
        return created, error

    async def _create_pod(self, s: _Sync, index: int | None) -> None:
        job = s.job
        # the cached template is only serialized, unless an index changes it
        template = job.spec.template if index is None else job.spec.template.copy_deep()
        meta = template.metadata
        annotations = dict(meta.annotations or {})
        labels = dict(meta.labels or {})
        generate_name = f"{job.metadata.name}-"
        if index is not None:
            ju.add_completion_index_env(template)
            annotations[JOB_COMPLETION_INDEX_ANNOTATION] = str(index)
            labels[JOB_COMPLETION_INDEX_ANNOTATION] = str(index)
            template.spec.hostname = f"{job.metadata.name}-{index}"
            generate_name = ju.generate_name_with_index(job.metadata.name or "", index)
            if ju.has_backoff_limit_per_index(job):
                failures, ignored = ju.new_index_failure_counts(job, s.delayed.get(index))
                annotations[JOB_INDEX_FAILURE_COUNT_ANNOTATION] = str(failures)
                if ignored:
                    annotations[JOB_INDEX_IGNORED_FAILURE_COUNT_ANNOTATION] = str(ignored)
        finalizers = list(meta.finalizers or [])
        if JOB_TRACKING_FINALIZER not in finalizers:
            finalizers.append(JOB_TRACKING_FINALIZER)
        pod = Pod(
            metadata=ObjectMeta(
                generate_name=generate_name, namespace=job.metadata.namespace,
                labels=labels or None, annotations=annotations or None,
                finalizers=finalizers,
                owner_references=[owner_reference(job, API_VERSION, KIND)]),
            spec=template.spec)
        try:
            created = await self.client.create(pod, job.metadata.namespace)
        except Exception as exc:
            if not namespace_terminating(exc):
                self.recorder.event(job, "Warning", "FailedCreate", f"Error creating: {exc}")
            raise
        self.recorder.event(job, "Normal", "SuccessfulCreate",
                            f"Created pod: {created.metadata.name}")

    async def _delete_pods(self, key: str, s: _Sync, victims: list[Pod]
                           ) -> tuple[int, Exception | None]:
        """deleteJobPods: drop the finalizer (these pods are not counted), then delete;
        returns the number removed and the first error."""
        job = s.job
        self.expectations.expect_deletions(key, [pod_key(p) for p in victims])
        removed_ready = 0

        async def one(pod: Pod) -> None:
            nonlocal removed_ready
            name = pod.metadata.name or ""
            try:
                if ju.has_tracking_finalizer(pod):
                    await self.client.patch(Pod, name, ju.remove_finalizer_patch(),
                                            pod.metadata.namespace, patch_type="strategic")
                await self.client.delete(Pod, name, pod.metadata.namespace)
            except Exception as exc:
                self.expectations.deletion_observed(key, pod_key(pod))
                if isinstance(exc, NotFound):
                    return
                self.recorder.event(job, "Warning", "FailedDelete", f"Error deleting: {exc}")
                raise
            if is_pod_ready(pod):
                removed_ready += 1
            self.recorder.event(job, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

        results = await asyncio.gather(*(one(p) for p in victims), return_exceptions=True)
        errors = [r for r in results if isinstance(r, Exception)]
        removed = len(victims) - len(errors)
        s.terminating += removed
        s.ready -= removed_ready
        return removed, (errors[0] if errors else None)

    async def _delete_active(self, job: Job, pods: list[Pod]
                             ) -> tuple[int, int, Exception | None]:
        """deleteActivePods: delete (keeping the finalizers: the pods are counted as failed
        once they stop) every active pod of a Job that failed."""
        deleted_ready = 0

        async def one(pod: Pod) -> None:
            nonlocal deleted_ready
            name = pod.metadata.name or ""
            try:
                await self.client.delete(Pod, name, pod.metadata.namespace)
            except NotFound:
                pass
            except Exception as exc:
                self.recorder.event(job, "Warning", "FailedDelete", f"Error deleting: {exc}")
                raise
            else:
                self.recorder.event(job, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")
            if is_pod_ready(pod):
                deleted_ready += 1

        results = await asyncio.gather(*(one(p) for p in pods), return_exceptions=True)
        errors = [r for r in results if isinstance(r, Exception)]
        return deleted_ready, len(pods) - len(errors), (errors[0] if errors else None)

    # ---- status and finalizers (trackJobStatusAndRemoveFinalizers) ------------------------

    async def _track_status(self, key: str, s: _Sync, needs_flush: bool) -> None:
        job = s.job
        status = job.status
        assert status is not None and status.uncounted_terminated_pods is not None
        uncounted = status.uncounted_terminated_pods
        uncounted.succeeded = list(uncounted.succeeded or [])
        uncounted.failed = list(uncounted.failed or [])
        pods = s.pods
        if ju.is_indexed(job):
            pods = sorted(pods, key=ju.completion_index)
        with_finalizer = {p.metadata.uid or "" for p in pods
                          if ju.has_tracking_finalizer(p)
                          and (p.metadata.uid or "") not in s.expected_rm}
        if _clean_uncounted(status, with_finalizer):
            needs_flush = True
        to_remove: list[Pod] = []
        new_indexes: list[int] = []
        reached_max = False
        finished_ok = s.finished is not None and s.finished.type in (JOB_SUCCESS_CRITERIA_MET,
                                                                      JOB_COMPLETE)
        for pod in pods:
            uid = pod.metadata.uid or ""
            if not ju.has_tracking_finalizer(pod) or uid in s.expected_rm:
                continue
            failed = ju.is_pod_failed(pod, job)
            if not self._can_remove_finalizer(s, pod, failed):
                continue
            to_remove.append(pod)
            if ju.phase(pod) == "Succeeded" and uid not in s.uncounted_failed:
                if ju.is_indexed(job):
                    ix = ju.valid_index(job, pod)
                    if ix != ju.UNKNOWN_INDEX and not s.prev_succeeded_indexes.has(ix):
                        new_indexes.append(ix)
                        needs_flush = True
                elif uid not in s.uncounted_succeeded:
                    needs_flush = True
                    uncounted.succeeded.append(uid)
            elif failed or (s.finished is not None and not finished_ok):
                # once the Job is finished, every pod that did not succeed failed
                ix = ju.valid_index(job, pod)
                if uid not in s.uncounted_failed and (not ju.is_indexed(job)
                                                      or ix != ju.UNKNOWN_INDEX):
                    if ju.match_pod_failure_policy(job.spec.pod_failure_policy, pod)[1]:
                        needs_flush = True
                        uncounted.failed.append(uid)
            if len(new_indexes) + len(uncounted.succeeded) + len(uncounted.failed) >= \
                    ju.MAX_UNCOUNTED_PODS:
                reached_max = True
                break
        if ju.is_indexed(job):
            s.succeeded_indexes = s.succeeded_indexes.with_indexes(new_indexes)
            text = str(s.succeeded_indexes)
            if text != (status.completed_indexes or ""):
                needs_flush = True
            status.succeeded = s.succeeded_indexes.total()
            status.completed_indexes = text
            failed_text = str(s.failed_indexes) if s.failed_indexes is not None else None
            if failed_text != status.failed_indexes:
                status.failed_indexes = failed_text
                needs_flush = True
        now = self.now()
        if s.finished is not None and s.finished.type == JOB_FAILURE_TARGET:
            status.conditions = [*(status.conditions or []), s.finished]
            needs_flush = True
            s.finished = ju.new_condition(JOB_FAILED, "True", s.finished.reason or "",
                                          s.finished.message or "", now)
        if s.finished is not None and s.finished.type == JOB_SUCCESS_CRITERIA_MET:
            if ju.find_condition(job, JOB_SUCCESS_CRITERIA_MET) is None:
                status.conditions = [*(status.conditions or []), s.finished]
                needs_flush = True
            s.finished = ju.new_condition(JOB_COMPLETE, "True", s.finished.reason or "",
                                          s.finished.message or "", now)
        needs_flush = await self._flush_and_unfinalize(key, s, to_remove, with_finalizer,
                                                       needs_flush)
        finished = not reached_max and self._enact_finished(s)
        if finished or needs_flush:
            s.job = await self._write_status(s.job)
            if finished:
                self._record_finished(s.job, s.finished)

    async def _write_status(self, job: Job) -> Job:
        """The status write, with Kubernetes' omitempty: no empty uid lists, no zero
        active/succeeded/failed counters (ready and terminating are pointers: 0 stays)."""
        st = job.status
        if st is not None:
            unc = st.uncounted_terminated_pods
            if unc is not None:
                unc.succeeded = unc.succeeded or None
                unc.failed = unc.failed or None
            st.active = st.active or None
            st.succeeded = st.succeeded or None
            st.failed = st.failed or None
        return await self.client.update_status(job)

    def _can_remove_finalizer(self, s: _Sync, pod: Pod, failed: bool) -> bool:
        if s.job.metadata.deletion_timestamp is not None or s.finished is not None or \
                ju.phase(pod) == "Succeeded":
            return True
        if not failed:
            return False
        if ju.has_backoff_limit_per_index(s.job):
            ix = ju.completion_index(pod)
            delayed = s.delayed.get(ix)
            if delayed is not None and delayed.metadata.uid == pod.metadata.uid:
                return False
        return True

    async def _flush_and_unfinalize(self, key: str, s: _Sync, to_remove: list[Pod],
                                    with_finalizer: set[str], needs_flush: bool) -> bool:
        """flushUncountedAndRemoveFinalizers: write the uncounted uids (and an interim
        condition) first, then remove the finalizers, then move what was removed from the
        lists to the counters; returns whether a write is still owed."""
        if needs_flush:
            s.job = await self._write_status(s.job)
            self.backoffs[key] = s.backoff
            needs_flush = False
        error: Exception | None = None
        if to_remove:
            uids = [p.metadata.uid or "" for p in to_remove]
            self.finalizers.expect(key, uids)

            async def one(pod: Pod) -> None:
                try:
                    await self.client.patch(Pod, pod.metadata.name or "",
                                            ju.remove_finalizer_patch(),
                                            pod.metadata.namespace, patch_type="strategic")
                except NotFound:
                    pass
                except Exception:
                    self.finalizers.observed(key, pod.metadata.uid or "")
                    raise

            results = await asyncio.gather(*(one(p) for p in to_remove),
                                           return_exceptions=True)
            for pod, r in zip(to_remove, results, strict=True):
                if isinstance(r, Exception):
                    error = error or r
                else:
                    with_finalizer.discard(pod.metadata.uid or "")
        assert s.job.status is not None
        if _clean_uncounted(s.job.status, with_finalizer):
            needs_flush = True
        if error is not None:
            if needs_flush:
                s.job = await self._write_status(s.job)
            raise error
        return needs_flush

    def _enact_finished(self, s: _Sync) -> bool:
        """enactJobFinished: the Complete or Failed condition, once no pod is uncounted or
        still terminating."""
        cond = s.finished
        status = s.job.status
        if cond is None or status is None:
            return False
        unc = status.uncounted_terminated_pods
        if unc is not None and (unc.succeeded or unc.failed):
            return False
        if s.terminating > 0:
            return False
        conditions = list(status.conditions or [])
        ju.ensure_condition(conditions, cond.type, cond.status, cond.reason or "",
                            cond.message or "", self.now())
        status.conditions = conditions
        if cond.type == JOB_COMPLETE:
            status.completion_time = next(c.last_transition_time for c in conditions
                                          if c.type == JOB_COMPLETE)
        return True

    def _record_finished(self, job: Job, cond: JobCondition | None) -> None:
        if cond is None:
            return
        if cond.type == JOB_COMPLETE:
            st = job.status
            if job.spec.completions is not None and st is not None and \
                    (st.succeeded or 0) > job.spec.completions:
                self.recorder.event(job, "Warning", "TooManySucceededPods",
                                    "Too many succeeded pods running after completion count "
                                    "reached")
            self.recorder.event(job, "Normal", "Completed", "Job completed")
        else:
            self.recorder.event(job, "Warning", cond.reason or "Failed", cond.message or "")


def _clean_uncounted(status: JobStatus, with_finalizer: set[str]) -> bool:
    """cleanUncountedPodsWithoutFinalizers: uids whose finalizer is gone leave the lists
    for the counters; True when the status changed."""
    unc = status.uncounted_terminated_pods
    if unc is None:
        return False
    changed = False
    succeeded = [u for u in unc.succeeded or [] if u in with_finalizer]
    if len(succeeded) != len(unc.succeeded or []):
        status.succeeded = (status.succeeded or 0) + len(unc.succeeded or []) - len(succeeded)
        unc.succeeded = succeeded
        changed = True
    failed = [u for u in unc.failed or [] if u in with_finalizer]
    if len(failed) != len(unc.failed or []):
        status.failed = (status.failed or 0) + len(unc.failed or []) - len(failed)
        unc.failed = failed
        changed = True
    return changed
