"""Pure functions of the Job controller, ported from kubernetes/pkg/controller/job.

Sources: job_controller.go (isPodFailed, ensureJobConditionStatus, newCondition,
pastBackoffLimitOnFailure, activePodsForRemoval, manageJob's wantActive, the
tracking finalizer patch, getNewFinishedPods via getValidPodsWithFilter,
cleanUncountedPodsWithoutFinalizers), indexed_job_utils.go (orderedIntervals,
calculateSucceededIndexes, calculateFailedIndexes, firstPendingIndexes,
appendDuplicatedIndexPodsForRemoval, getCompletionIndex, podGenerateNameWithIndex,
addCompletionIndexEnvVariables, the index failure-count annotations,
getPodsWithDelayedDeletionPerIndex), pod_failure_policy.go (matchPodFailurePolicy),
backoff_utils.go (backoffRecord, newBackoffRecord, getRemainingTimeForFailuresCount,
getFinishedTime) and pkg/controller/job/util (IsJobFinished). None of them does I/O;
``controllers.job`` calls them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from api.models import Condition, EnvVar, Pod, PodTemplateSpec
from api.models.batch import (
    ACTION_COUNT,
    ACTION_FAIL_INDEX,
    ACTION_FAIL_JOB,
    ACTION_IGNORE,
    FAILED,
    INDEXED,
    JOB_COMPLETE,
    JOB_COMPLETION_INDEX_ANNOTATION,
    JOB_COMPLETION_INDEX_ENV,
    JOB_FAILED,
    JOB_INDEX_FAILURE_COUNT_ANNOTATION,
    JOB_INDEX_IGNORED_FAILURE_COUNT_ANNOTATION,
    JOB_TRACKING_FINALIZER,
    OP_IN,
    OP_NOT_IN,
    Job,
    JobCondition,
    PodFailurePolicy,
    PodFailurePolicyOnExitCodesRequirement,
)
from api.podutil import is_pod_ready
from api.timeutil import format_time, parse_time_or_none
from controllers.replicaset_util import deletion_cost

UNKNOWN_INDEX = -1
# job_controller.go: DefaultJobPodFailureBackOff, MaxJobPodFailureBackOff (the documented
# six minutes), MaxUncountedPods, MaxPodCreateDeletePerSync.
DEFAULT_BACKOFF = 10.0
MAX_BACKOFF = 360.0
MAX_UNCOUNTED_PODS = 500
MAX_POD_CREATE_DELETE_PER_SYNC = 500
MAX_GENERATED_NAME_LENGTH = 63 - 5

# Job condition reasons (k8s.io/api/batch/v1 types.go).
REASON_POD_FAILURE_POLICY = "PodFailurePolicy"
REASON_BACKOFF_LIMIT_EXCEEDED = "BackoffLimitExceeded"
REASON_DEADLINE_EXCEEDED = "DeadlineExceeded"
REASON_MAX_FAILED_INDEXES_EXCEEDED = "MaxFailedIndexesExceeded"
REASON_FAILED_INDEXES = "FailedIndexes"
REASON_SUCCESS_POLICY = "SuccessPolicy"
REASON_COMPLETIONS_REACHED = "CompletionsReached"

MSG_BACKOFF_LIMIT = "Job has reached the specified backoff limit"
MSG_DEADLINE = "Job was active longer than specified deadline"
MSG_MAX_FAILED_INDEXES = "Job has exceeded the specified maximal number of failed indexes"
MSG_FAILED_INDEXES = "Job has failed indexes"
MSG_COMPLETIONS_REACHED = "Reached expected number of succeeded pods"


# ---- job state (util/utils.go, job_controller.go) ------------------------------------


def finished_condition(job: Job) -> JobCondition | None:
    """IsJobFinished: the Complete or Failed condition that is True."""
    for c in (job.status.conditions if job.status else None) or []:
        if c.type in (JOB_COMPLETE, JOB_FAILED) and c.status == "True":
            return c
    return None


def is_job_finished(job: Job) -> bool:
    return finished_condition(job) is not None


def find_condition(job: Job, type_: str) -> JobCondition | None:
    for c in (job.status.conditions if job.status else None) or []:
        if c.type == type_:
            return c
    return None


def new_condition(type_: str, status: str, reason: str, message: str,
                  now: datetime) -> JobCondition:
    t = format_time(now)
    return JobCondition(type=type_, status=status, reason=reason or None,
                        message=message or None, last_probe_time=t, last_transition_time=t)


def ensure_condition(conditions: list[JobCondition], type_: str, status: str, reason: str,
                     message: str, now: datetime) -> bool:
    """ensureJobConditionStatus, in place: update the condition of ``type_`` when its status,
    reason or message differ, append it unless it would be a new False; True when the list
    changed."""
    for i, c in enumerate(conditions):
        if c.type == type_:
            if c.status != status or (c.reason or "") != reason or (c.message or "") != message:
                conditions[i] = new_condition(type_, status, reason, message, now)
                return True
            return False
    if status != "False":
        conditions.append(new_condition(type_, status, reason, message, now))
        return True
    return False


def is_suspended(job: Job) -> bool:
    return job.spec.suspend is True


def is_indexed(job: Job) -> bool:
    return job.spec.completion_mode == INDEXED


def completions(job: Job) -> int:
    return job.spec.completions or 0


def has_backoff_limit_per_index(job: Job) -> bool:
    return job.spec.backoff_limit_per_index is not None


def only_replace_failed_pods(job: Job) -> bool:
    """onlyReplaceFailedPods: podReplacementPolicy Failed, or a pod failure policy."""
    return job.spec.pod_replacement_policy == FAILED or job.spec.pod_failure_policy is not None


def has_tracking_finalizer(pod: Pod) -> bool:
    return JOB_TRACKING_FINALIZER in (pod.metadata.finalizers or [])


def phase(pod: Pod) -> str:
    return (pod.status.phase if pod.status else None) or ""


def is_pod_failed(pod: Pod, job: Job) -> bool:
    """isPodFailed: phase Failed; or, unless only failed pods are replaced, deleted before
    it succeeded (an orphan that never reaches Failed)."""
    if phase(pod) == "Failed":
        return True
    if only_replace_failed_pods(job):
        return False
    return pod.metadata.deletion_timestamp is not None and phase(pod) != "Succeeded"


def is_terminating(pod: Pod) -> bool:
    """controller.CountTerminatingPods: being deleted, not yet terminal."""
    return pod.metadata.deletion_timestamp is not None and phase(pod) not in (
        "Succeeded", "Failed")


def is_active(pod: Pod) -> bool:
    """controller.FilterActivePods: neither terminal nor being deleted."""
    return phase(pod) not in ("Succeeded", "Failed") and pod.metadata.deletion_timestamp is None


def count_ready(pods: Iterable[Pod]) -> int:
    return sum(1 for p in pods if is_pod_ready(p))


def want_active(job: Job, active: int, succeeded: int) -> int:
    """manageJob: parallelism, never more than the completions left; a work queue Job
    (no completions) keeps what runs once any pod succeeded."""
    parallelism = job.spec.parallelism if job.spec.parallelism is not None else 1
    if job.spec.completions is None:
        return active if succeeded > 0 else parallelism
    return max(0, min(job.spec.completions - succeeded, parallelism))


def past_backoff_limit_on_failure(job: Job, pods: Iterable[Pod]) -> bool:
    """pastBackoffLimitOnFailure: with restartPolicy OnFailure, container restarts of the
    running and pending pods count against backoffLimit."""
    if job.spec.template.spec.restart_policy != "OnFailure":
        return False
    restarts = 0
    for p in pods:
        if phase(p) in ("Running", "Pending") and p.status is not None:
            for s in [*(p.status.init_container_statuses or []),
                      *(p.status.container_statuses or [])]:
                restarts += s.restart_count
    limit = job.spec.backoff_limit if job.spec.backoff_limit is not None else 6
    return restarts > 0 if limit == 0 else restarts >= limit


def past_active_deadline(job: Job, now: datetime) -> bool:
    ads = job.spec.active_deadline_seconds
    start = parse_time_or_none(job.status.start_time if job.status else None)
    if ads is None or start is None or is_suspended(job):
        return False
    return (now - start).total_seconds() >= ads


def deadline_remaining(job: Job, now: datetime) -> float | None:
    ads = job.spec.active_deadline_seconds
    start = parse_time_or_none(job.status.start_time if job.status else None)
    if ads is None or start is None or is_suspended(job):
        return None
    return ads - (now - start).total_seconds()


def remove_finalizer_patch() -> dict[str, object]:
    """removeTrackingFinalizerPatch (a strategic merge patch)."""
    return {"metadata": {"$deleteFromPrimitiveList/finalizers": [JOB_TRACKING_FINALIZER]}}


# ---- pod failure policy (pod_failure_policy.go) --------------------------------------


def _exit_code_matches(code: int, req: PodFailurePolicyOnExitCodesRequirement) -> bool:
    if req.operator == OP_IN:
        return code in req.values
    if req.operator == OP_NOT_IN:
        return code not in req.values
    return False


def _matching_container(pod: Pod, req: PodFailurePolicyOnExitCodesRequirement
                        ) -> tuple[str, int] | None:
    """matchOnExitCodes: a terminated container (app containers first, then init ones)
    with a non-zero exit code the requirement matches."""
    if pod.status is None:
        return None
    for statuses in (pod.status.container_statuses, pod.status.init_container_statuses):
        for s in statuses or []:
            if req.container_name is not None and s.name != req.container_name:
                continue
            term = s.state.terminated if s.state else None
            if term is not None and term.exit_code != 0 and \
                    _exit_code_matches(term.exit_code, req):
                return s.name, term.exit_code
    return None


def _matching_condition(pod: Pod, patterns: Sequence[object]) -> Condition | None:
    conditions = (pod.status.conditions if pod.status else None) or []
    for pattern in patterns:
        ptype = getattr(pattern, "type", None)
        pstatus = getattr(pattern, "status", None) or "True"
        for c in conditions:
            if c.type == ptype and c.status == pstatus:
                return c
    return None


def match_pod_failure_policy(policy: PodFailurePolicy | None, pod: Pod
                             ) -> tuple[str | None, bool, str | None]:
    """matchPodFailurePolicy: (the FailJob message, whether the failure counts toward
    backoffLimit, the action of the first matching rule)."""
    if policy is None:
        return None, True, None
    ns, name = pod.metadata.namespace, pod.metadata.name
    for index, rule in enumerate(policy.rules):
        if rule.on_exit_codes is not None:
            hit = _matching_container(pod, rule.on_exit_codes)
            if hit is None:
                continue
            if rule.action == ACTION_FAIL_JOB:
                return (f"Container {hit[0]} for pod {ns}/{name} failed with exit code "
                        f"{hit[1]} matching {rule.action} rule at index {index}",
                        True, ACTION_FAIL_JOB)
        elif rule.on_pod_conditions is not None:
            cond = _matching_condition(pod, rule.on_pod_conditions)
            if cond is None:
                continue
            if rule.action == ACTION_FAIL_JOB:
                return (f"Pod {ns}/{name} has condition {cond.type} matching "
                        f"{rule.action} rule at index {index}", True, ACTION_FAIL_JOB)
        else:
            continue
        if rule.action == ACTION_IGNORE:
            return None, False, ACTION_IGNORE
        if rule.action == ACTION_FAIL_INDEX:
            return None, True, ACTION_FAIL_INDEX
        if rule.action == ACTION_COUNT:
            return None, True, ACTION_COUNT
    return None, True, None


def fail_job_message(job: Job, pods: Iterable[Pod]) -> str | None:
    """getFailJobMessage: the message of the first failed pod a FailJob rule matches."""
    if job.spec.pod_failure_policy is None:
        return None
    for p in pods:
        if is_pod_failed(p, job):
            msg, _, _ = match_pod_failure_policy(job.spec.pod_failure_policy, p)
            if msg is not None:
                return msg
    return None


def counted_failures(job: Job, failed: Iterable[Pod]) -> int:
    """nonIgnoredFailedPodsCount."""
    return sum(1 for p in failed
               if match_pod_failure_policy(job.spec.pod_failure_policy, p)[1])


# ---- indexes (indexed_job_utils.go) --------------------------------------------------


def completion_index(pod: Pod) -> int:
    """getCompletionIndex: the index annotation (or label) as a non-negative int."""
    for src in (pod.metadata.annotations, pod.metadata.labels):
        v = (src or {}).get(JOB_COMPLETION_INDEX_ANNOTATION)
        if v is not None:
            return int(v) if v.isdigit() else UNKNOWN_INDEX
    return UNKNOWN_INDEX


def valid_index(job: Job, pod: Pod) -> int:
    ix = completion_index(pod)
    return ix if 0 <= ix < completions(job) else UNKNOWN_INDEX


@dataclass(frozen=True)
class Interval:
    first: int
    last: int


class OrderedIntervals(tuple[Interval, ...]):
    """orderedIntervals: sorted, disjoint, non-adjacent intervals of indexes."""

    @staticmethod
    def of(indexes: Iterable[int]) -> OrderedIntervals:
        out: list[Interval] = []
        for ix in sorted(set(indexes)):
            if out and out[-1].last + 1 == ix:
                out[-1] = Interval(out[-1].first, ix)
            else:
                out.append(Interval(ix, ix))
        return OrderedIntervals(out)

    def indexes(self) -> list[int]:
        return [i for iv in self for i in range(iv.first, iv.last + 1)]

    def with_indexes(self, indexes: Iterable[int]) -> OrderedIntervals:
        return OrderedIntervals.of([*self.indexes(), *indexes])

    def total(self) -> int:
        return sum(iv.last - iv.first + 1 for iv in self)

    def has(self, ix: int) -> bool:
        return any(iv.first <= ix <= iv.last for iv in self)

    def __str__(self) -> str:
        """"1,3-5,7": a pair becomes "1,2" (only three or more are a range)."""
        parts: list[str] = []
        for iv in self:
            if iv.first == iv.last:
                parts.append(str(iv.first))
            elif iv.last == iv.first + 1:
                parts += [str(iv.first), str(iv.last)]
            else:
                parts.append(f"{iv.first}-{iv.last}")
        return ",".join(parts)


def parse_indexes(text: str | None, completions_: int) -> OrderedIntervals:
    """parseIndexesFromString: the indexes below ``completions_``; bad parts skipped."""
    found: list[int] = []
    for part in (text or "").split(","):
        bounds = part.strip().split("-")
        if not part.strip() or len(bounds) > 2 or not all(b.isdigit() for b in bounds):
            continue
        lo, hi = int(bounds[0]), min(int(bounds[-1]), completions_ - 1)
        found.extend(range(lo, hi + 1))
    return OrderedIntervals.of(found)


def succeeded_indexes(job: Job, pods: Iterable[Pod]) -> tuple[OrderedIntervals, OrderedIntervals]:
    """calculateSucceededIndexes: (the indexes in status.completedIndexes, those plus the
    indexes of succeeded pods not yet counted)."""
    prev = parse_indexes(job.status.completed_indexes if job.status else None, completions(job))
    new = [valid_index(job, p) for p in pods
           if phase(p) == "Succeeded" and has_tracking_finalizer(p)]
    return prev, prev.with_indexes(ix for ix in new if ix != UNKNOWN_INDEX)


def index_failure_count(pod: Pod, annotation: str = JOB_INDEX_FAILURE_COUNT_ANNOTATION) -> int:
    v = (pod.metadata.annotations or {}).get(annotation, "")
    return int(v) if v.isdigit() else 0


def is_index_failed(job: Job, pod: Pod) -> bool:
    """isIndexFailed: a FailIndex rule matched, or a counted failure with the index's
    failures at backoffLimitPerIndex."""
    if not is_pod_failed(pod, job):
        return False
    _, counts, action = match_pod_failure_policy(job.spec.pod_failure_policy, pod)
    if action == ACTION_FAIL_INDEX:
        return True
    return counts and index_failure_count(pod) >= (job.spec.backoff_limit_per_index or 0)


def failed_indexes(job: Job, pods: Iterable[Pod]) -> OrderedIntervals:
    """calculateFailedIndexes: status.failedIndexes plus the indexes of uncounted failed pods
    whose index failed."""
    prev = parse_indexes(job.status.failed_indexes if job.status else None, completions(job))
    new = [valid_index(job, p) for p in pods
           if has_tracking_finalizer(p) and is_index_failed(job, p)]
    return prev.with_indexes(ix for ix in new if ix != UNKNOWN_INDEX)


def new_index_failure_counts(job: Job, replaced: Pod | None) -> tuple[int, int]:
    """getNewIndexFailureCounts: the failure and ignored-failure counts a replacement of
    ``replaced`` carries."""
    if replaced is None:
        return 0, 0
    failures = index_failure_count(replaced)
    ignored = index_failure_count(replaced, JOB_INDEX_IGNORED_FAILURE_COUNT_ANNOTATION)
    if match_pod_failure_policy(job.spec.pod_failure_policy, replaced)[1]:
        failures += 1
    else:
        ignored += 1
    return failures, ignored


def pods_with_delayed_deletion(job: Job, pods: Iterable[Pod], active: Iterable[Pod],
                               succeeded: OrderedIntervals, failed: OrderedIntervals,
                               expected_rm: set[str]) -> dict[int, Pod]:
    """getPodsWithDelayedDeletionPerIndex: per index still to run, the failed pod (with the
    most failures) whose finalizer stays until its replacement carries its count."""
    active_ix = {valid_index(job, p) for p in active}
    out: dict[int, Pod] = {}
    for p in pods:
        if not has_tracking_finalizer(p) or (p.metadata.uid or "") in expected_rm:
            continue
        ix = valid_index(job, p)
        if ix == UNKNOWN_INDEX or not is_pod_failed(p, job):
            continue
        if succeeded.has(ix) or failed.has(ix) or ix in active_ix:
            continue
        prev = out.get(ix)
        if prev is None or new_index_failure_counts(job, prev)[0] <= \
                new_index_failure_counts(job, p)[0]:
            out[ix] = p
    return out


def first_pending_indexes(job: Job, active: Iterable[Pod], terminating: Iterable[Pod],
                          succeeded: OrderedIntervals, failed: OrderedIntervals | None,
                          count: int) -> list[int]:
    """firstPendingIndexes: the lowest ``count`` indexes without a success, an active pod,
    a failed index, or (when only failed pods are replaced) a terminating pod."""
    taken = {valid_index(job, p) for p in active}
    if only_replace_failed_pods(job):
        taken |= {valid_index(job, p) for p in terminating}
    out: list[int] = []
    for ix in range(completions(job)):
        if len(out) >= count:
            break
        if ix in taken or succeeded.has(ix) or (failed is not None and failed.has(ix)):
            continue
        out.append(ix)
    return out


def pods_for_removal(job: Job, active: list[Pod], at_least: int) -> list[Pod]:
    """activePodsForRemoval: for an Indexed Job, pods without a valid index and all but one
    of each repeated index first; then the least advanced pods (controller.ActivePods)."""
    rm: list[Pod] = []
    left = list(active)
    if is_indexed(job):
        left = []
        by_index: dict[int, list[Pod]] = {}
        for p in active:
            ix = valid_index(job, p)
            if ix == UNKNOWN_INDEX:
                rm.append(p)
            else:
                by_index.setdefault(ix, []).append(p)
        for ix in sorted(by_index):
            group = sorted(by_index[ix], key=deletion_cost)
            rm += group[:-1]
            left.append(group[-1])
    if len(rm) < at_least:
        rm += sorted(left, key=deletion_cost)[:at_least - len(rm)]
    return rm


def generate_name_with_index(job_name: str, index: int) -> str:
    """podGenerateNameWithIndex: ``<job>-<index>-``, the name cut to fit."""
    suffix = f"-{index}-"
    prefix = job_name + suffix
    if len(prefix) > MAX_GENERATED_NAME_LENGTH:
        prefix = prefix[:MAX_GENERATED_NAME_LENGTH - len(suffix)] + suffix
    return prefix


def add_completion_index_env(template: PodTemplateSpec) -> None:
    """addCompletionIndexEnvVariables: JOB_COMPLETION_INDEX from the index annotation in
    every container that does not set it."""
    ref = {"fieldRef": {"fieldPath":
                        f"metadata.annotations['{JOB_COMPLETION_INDEX_ANNOTATION}']"}}
    for c in [*(template.spec.init_containers or []), *template.spec.containers]:
        env = list(c.env or [])
        if not any(e.name == JOB_COMPLETION_INDEX_ENV for e in env):
            env.append(EnvVar(name=JOB_COMPLETION_INDEX_ENV, value_from=ref))
        c.env = env


# ---- back-off (backoff_utils.go) -----------------------------------------------------


@dataclass(frozen=True)
class BackoffRecord:
    failures_after_last_success: int = 0
    last_failure_time: datetime | None = None


def finished_time(pod: Pod) -> datetime:
    """getFinishedTime: the latest container finish, else the Ready=False transition, else
    the deletion timestamp, else the creation time."""
    latest: datetime | None = None
    if pod.status is not None:
        for s in [*(pod.status.init_container_statuses or []),
                  *(pod.status.container_statuses or [])]:
            term = s.state.terminated if s.state else None
            t = parse_time_or_none(term.finished_at if term else None)
            if t is not None and (latest is None or t > latest):
                latest = t
        if latest is None:
            for c in pod.status.conditions or []:
                if c.type == "Ready" and c.status == "False":
                    latest = parse_time_or_none(c.last_transition_time)
    if latest is None:
        latest = parse_time_or_none(pod.metadata.deletion_timestamp)
    if latest is None:
        latest = parse_time_or_none(pod.metadata.creation_timestamp)
    return latest or datetime.fromtimestamp(0).astimezone()


def new_backoff_record(prev: BackoffRecord, new_succeeded: list[Pod],
                       new_failed: list[Pod]) -> BackoffRecord:
    """newBackoffRecord: failures since the last success and the time of the last one."""
    failed = sorted(new_failed, key=finished_time)
    if not new_succeeded:
        if not failed:
            return prev
        return BackoffRecord(prev.failures_after_last_success + len(failed),
                             finished_time(failed[-1]))
    last_success = max(finished_time(p) for p in new_succeeded)
    after = [p for p in failed if finished_time(p) > last_success]
    if not after:
        return BackoffRecord()
    return BackoffRecord(len(after), finished_time(after[-1]))


def backoff_delay(failures: int, base: float = DEFAULT_BACKOFF,
                  cap: float = MAX_BACKOFF) -> float:
    """The back-off after ``failures`` failures in a row: base, doubling, capped."""
    if failures <= 0:
        return 0.0
    delay = base
    for _ in range(1, failures):
        delay *= 2
        if delay >= cap:
            return cap
    return min(delay, cap)


def remaining_backoff(failures: int, last_failure: datetime | None, now: datetime,
                      base: float = DEFAULT_BACKOFF, cap: float = MAX_BACKOFF) -> float:
    """getRemainingTimeForFailuresCount: seconds until the next pod may be created."""
    if failures <= 0 or last_failure is None:
        return 0.0
    elapsed = (now - last_failure).total_seconds()
    delay = backoff_delay(failures, base, cap)
    return 0.0 if delay < elapsed else delay - elapsed


def remaining_backoff_per_index(job: Job, replaced: Pod | None, now: datetime,
                                base: float = DEFAULT_BACKOFF,
                                cap: float = MAX_BACKOFF) -> float:
    """getRemainingTimePerIndex: the back-off of an index from its last failed pod."""
    if replaced is None:
        return 0.0
    failures = index_failure_count(replaced) + index_failure_count(
        replaced, JOB_INDEX_IGNORED_FAILURE_COUNT_ANNOTATION) + 1
    return remaining_backoff(failures, finished_time(replaced), now, base, cap)


def requeue_delay(seconds: float) -> float:
    """A requeue a little after a deadline, never at once."""
    return max(seconds, 0.0) + 0.05


# ---- success policy (success_policy.go) ----------------------------------------------


def match_success_policy(job: Job, succeeded: OrderedIntervals) -> str | None:
    """matchSuccessPolicy: the message of the first rule the succeeded indexes meet."""
    policy = job.spec.success_policy
    if policy is None or not is_indexed(job):
        return None
    for i, rule in enumerate(policy.rules):
        if rule.succeeded_indexes is not None:
            wanted = parse_indexes(rule.succeeded_indexes, completions(job)).indexes()
            hits = sum(1 for ix in wanted if succeeded.has(ix))
            met = hits == len(wanted) if rule.succeeded_count is None \
                else hits >= rule.succeeded_count
        elif rule.succeeded_count is not None:
            met = succeeded.total() >= rule.succeeded_count
        else:
            continue
        if met:
            return f"Matched rules at index {i}"
    return None
