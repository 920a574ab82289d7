"""The Job controller's pure functions (controllers/job_util.py), after the cases of
pkg/controller/job's backoff_utils_test.go, indexed_job_utils_test.go,
pod_failure_policy_test.go and job_controller_test.go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.models import Pod
from api.models.batch import JOB_COMPLETION_INDEX_ANNOTATION, JOB_TRACKING_FINALIZER, Job
from api.timeutil import format_time
from controllers import job_util as ju

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def job(**spec: Any) -> Job:
    status = spec.pop("status", None)
    return Job.from_dict({"metadata": {"name": "j", "namespace": "ns", "uid": "u"},
                          "spec": {"template": {"spec": {"restartPolicy": "Never",
                                                         "containers": [{"name": "c",
                                                                         "image": "i"}]}},
                                   **spec}, "status": status})


def pod(name: str, phase: str = "Running", index: int | None = None, exit_code: int | None = None,
        finished: datetime | None = None, finalizer: bool = True, deleting: bool = False,
        conditions: list[dict[str, str]] | None = None, annotations: dict[str, str] | None = None,
        container: str = "c") -> Pod:
    ann = dict(annotations or {})
    if index is not None:
        ann[JOB_COMPLETION_INDEX_ANNOTATION] = str(index)
    status: dict[str, Any] = {"phase": phase, "conditions": conditions or []}
    if exit_code is not None:
        status["containerStatuses"] = [{"name": container, "state": {"terminated": {
            "exitCode": exit_code, "finishedAt": format_time(finished or T0)}}}]
    md: dict[str, Any] = {"name": name, "namespace": "ns", "uid": name, "annotations": ann,
                          "creationTimestamp": format_time(T0 - timedelta(hours=1))}
    if finalizer:
        md["finalizers"] = [JOB_TRACKING_FINALIZER]
    if deleting:
        md["deletionTimestamp"] = format_time(T0)
    return Pod.from_dict({"metadata": md, "spec": {"containers": [{"name": container,
                                                                   "image": "i"}]},
                          "status": status})


def test_backoff_delay_doubles_to_the_six_minute_cap() -> None:
    assert [ju.backoff_delay(n) for n in range(7)] == [0, 10, 20, 40, 80, 160, 320]
    assert ju.backoff_delay(7) == 360 and ju.backoff_delay(50) == 360
    assert ju.backoff_delay(3, base=0.5) == 2.0
    # remaining time counts from the last failure
    assert ju.remaining_backoff(2, T0, T0 + timedelta(seconds=5)) == 15
    assert ju.remaining_backoff(2, T0, T0 + timedelta(seconds=25)) == 0
    assert ju.remaining_backoff(0, None, T0) == 0


def test_new_backoff_record() -> None:
    f1 = pod("f1", "Failed", exit_code=1, finished=T0)
    f2 = pod("f2", "Failed", exit_code=1, finished=T0 + timedelta(seconds=3))
    ok = pod("s", "Succeeded", exit_code=0, finished=T0 + timedelta(seconds=1))
    r = ju.new_backoff_record(ju.BackoffRecord(), [], [f1])
    assert r == ju.BackoffRecord(1, T0)
    r = ju.new_backoff_record(r, [], [f2])
    assert r == ju.BackoffRecord(2, T0 + timedelta(seconds=3))
    # a success resets; failures after it count again
    assert ju.new_backoff_record(r, [ok], [f1, f2]) == ju.BackoffRecord(
        1, T0 + timedelta(seconds=3))
    assert ju.new_backoff_record(r, [ok], []) == ju.BackoffRecord()


@pytest.mark.parametrize("indexes,text", [
    ([], ""), ([0], "0"), ([1, 2], "1,2"), ([1, 3, 4, 5, 7], "1,3-5,7"), ([0, 1, 2, 3], "0-3"),
])
def test_ordered_intervals(indexes: list[int], text: str) -> None:
    iv = ju.OrderedIntervals.of(indexes)
    assert str(iv) == text and iv.total() == len(indexes)
    assert ju.parse_indexes(text, 100).indexes() == indexes
    assert ju.parse_indexes("1,3-5,7", 5).indexes() == [1, 3, 4]
    assert ju.parse_indexes("x,2", 5).indexes() == [2]


def test_indexes_succeeded_pending_and_duplicates() -> None:
    j = job(completions=5, parallelism=3, completionMode="Indexed",
            status={"completedIndexes": "0"})
    pods = [pod("a", "Succeeded", index=2, exit_code=0), pod("b", "Succeeded", index=9),
            pod("c", "Succeeded", index=3, finalizer=False), pod("d", index=1)]
    prev, now = ju.succeeded_indexes(j, pods)
    assert str(prev) == "0" and str(now) == "0,2"
    active = [p for p in pods if ju.is_active(p)]
    assert ju.first_pending_indexes(j, active, [], now, None, 5) == [3, 4]
    dup = [pod("x", index=1), pod("y", index=1), pod("z"), pod("w", index=7)]
    names = {p.metadata.name for p in ju.pods_for_removal(j, dup, 0)}
    assert len(names & {"x", "y"}) == 1 and {"z", "w"} <= names
    assert ju.generate_name_with_index("a" * 70, 12).endswith("-12-")
    assert len(ju.generate_name_with_index("a" * 70, 12)) == 58


def test_pod_failure_policy_matching() -> None:
    j = job(podFailurePolicy={"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        {"action": "FailJob", "onExitCodes": {"containerName": "c", "operator": "In",
                                              "values": [42]}},
        {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [1, 2]}},
    ]})
    pfp = j.spec.pod_failure_policy
    evicted = pod("e", "Failed", exit_code=137,
                  conditions=[{"type": "DisruptionTarget", "status": "True"}])
    assert ju.match_pod_failure_policy(pfp, evicted) == (None, False, "Ignore")
    msg, counts, action = ju.match_pod_failure_policy(pfp, pod("p", "Failed", exit_code=42))
    assert action == "FailJob" and counts and msg == (
        "Container c for pod ns/p failed with exit code 42 matching FailJob rule at index 1")
    assert ju.match_pod_failure_policy(pfp, pod("q", "Failed", exit_code=3)) == (
        None, True, "Count")
    assert ju.match_pod_failure_policy(pfp, pod("r", "Failed", exit_code=1)) == (
        None, True, None)
    assert ju.fail_job_message(j, [pod("p", "Failed", exit_code=42)]) is not None
    assert ju.counted_failures(j, [evicted, pod("q", "Failed", exit_code=3)]) == 1
    # only failed pods are replaced with a policy: a deleted running pod is not failed
    assert not ju.is_pod_failed(pod("d", deleting=True), j)
    assert ju.is_pod_failed(pod("d", deleting=True), job())


def test_want_active_and_deadline() -> None:
    assert ju.want_active(job(completions=5, parallelism=2), 0, 0) == 2
    assert ju.want_active(job(completions=5, parallelism=2), 1, 4) == 1
    assert ju.want_active(job(parallelism=3), 2, 0) == 3
    assert ju.want_active(job(parallelism=3), 2, 1) == 2  # work queue: no new pods
    j = job(activeDeadlineSeconds=10, status={"startTime": format_time(T0)})
    assert not ju.past_active_deadline(j, T0 + timedelta(seconds=9))
    assert ju.past_active_deadline(j, T0 + timedelta(seconds=10))
    assert ju.deadline_remaining(j, T0 + timedelta(seconds=4)) == 6
    assert not ju.past_active_deadline(job(activeDeadlineSeconds=1, suspend=True,
                                           status={"startTime": format_time(T0)}),
                                       T0 + timedelta(hours=1))


def test_backoff_limit_per_index_helpers() -> None:
    j = job(completions=3, parallelism=3, completionMode="Indexed", backoffLimitPerIndex=1)
    first = pod("f", "Failed", index=0, exit_code=1,
                annotations={"batch.kubernetes.io/job-index-failure-count": "0"})
    second = pod("g", "Failed", index=0, exit_code=1,
                 annotations={"batch.kubernetes.io/job-index-failure-count": "1"})
    assert not ju.is_index_failed(j, first) and ju.is_index_failed(j, second)
    assert str(ju.failed_indexes(j, [first, second])) == "0"
    assert ju.new_index_failure_counts(j, first) == (1, 0)
    delayed = ju.pods_with_delayed_deletion(j, [first], [], ju.OrderedIntervals(),
                                            ju.OrderedIntervals(), set())
    assert delayed == {0: first}
    assert ju.remaining_backoff_per_index(j, first, T0 + timedelta(seconds=1)) == 9


def test_conditions_and_success_policy() -> None:
    conds: list[Any] = []
    assert not ju.ensure_condition(conds, "Suspended", "False", "JobResumed", "", T0)
    assert ju.ensure_condition(conds, "Suspended", "True", "JobSuspended", "Job suspended", T0)
    assert not ju.ensure_condition(conds, "Suspended", "True", "JobSuspended", "Job suspended",
                                   T0)
    assert ju.ensure_condition(conds, "Suspended", "False", "JobResumed", "Job resumed", T0)
    assert len(conds) == 1 and conds[0].status == "False"
    j = job(completions=5, completionMode="Indexed", successPolicy={"rules": [
        {"succeededIndexes": "0-2", "succeededCount": 2}, {"succeededCount": 4}]})
    assert ju.match_success_policy(j, ju.OrderedIntervals.of([0, 4])) is None
    assert ju.match_success_policy(j, ju.OrderedIntervals.of([0, 2])) == \
        "Matched rules at index 0"
    assert ju.match_success_policy(j, ju.OrderedIntervals.of([0, 3, 4, 1])) == \
        "Matched rules at index 0"
