"""batch/v1 kinds: Job (k8s.io/api/batch/v1 types.go).

Field names and optionality follow types.go; the label, annotation and finalizer
names the API server and the Job controller share are constants here.
"""

from __future__ import annotations

from api.base import Int32, Model
from api.models.core import ObjectReference, PodTemplateSpec, TypedObject
from api.models.meta import LabelSelector, ObjectMeta

# ---- well-known names (k8s.io/api/batch/v1 types.go) -------------------------------

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_JOB_NAME_LABEL = "job-name"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
JOB_COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
JOB_INDEX_FAILURE_COUNT_ANNOTATION = "batch.kubernetes.io/job-index-failure-count"
JOB_INDEX_IGNORED_FAILURE_COUNT_ANNOTATION = (
    "batch.kubernetes.io/job-index-ignored-failure-count")
JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
JOB_COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
JOB_CONTROLLER_NAME = "kubernetes.io/job-controller"

NON_INDEXED = "NonIndexed"
INDEXED = "Indexed"
COMPLETION_MODES = (NON_INDEXED, INDEXED)

# Job condition types.
JOB_SUSPENDED = "Suspended"
JOB_COMPLETE = "Complete"
JOB_FAILED = "Failed"
JOB_FAILURE_TARGET = "FailureTarget"
JOB_SUCCESS_CRITERIA_MET = "SuccessCriteriaMet"

# Pod failure policy actions and operators.
ACTION_FAIL_JOB = "FailJob"
ACTION_FAIL_INDEX = "FailIndex"
ACTION_IGNORE = "Ignore"
ACTION_COUNT = "Count"
POD_FAILURE_POLICY_ACTIONS = (ACTION_FAIL_JOB, ACTION_FAIL_INDEX, ACTION_IGNORE, ACTION_COUNT)
OP_IN = "In"
OP_NOT_IN = "NotIn"

# podReplacementPolicy values.
TERMINATING_OR_FAILED = "TerminatingOrFailed"
FAILED = "Failed"


class PodFailurePolicyOnExitCodesRequirement(Model):
    container_name: str | None = None
    operator: str
    values: list[Int32]


class PodFailurePolicyOnPodConditionsPattern(Model):
    type: str
    status: str | None = None


class PodFailurePolicyRule(Model):
    action: str
    on_exit_codes: PodFailurePolicyOnExitCodesRequirement | None = None
    on_pod_conditions: list[PodFailurePolicyOnPodConditionsPattern] | None = None


class PodFailurePolicy(Model):
    rules: list[PodFailurePolicyRule]


class SuccessPolicyRule(Model):
    succeeded_indexes: str | None = None
    succeeded_count: Int32 | None = None


class SuccessPolicy(Model):
    rules: list[SuccessPolicyRule]


class JobSpec(Model):
    parallelism: Int32 | None = None
    completions: Int32 | None = None
    active_deadline_seconds: int | None = None
    pod_failure_policy: PodFailurePolicy | None = None
    success_policy: SuccessPolicy | None = None
    backoff_limit: Int32 | None = None
    backoff_limit_per_index: Int32 | None = None
    max_failed_indexes: Int32 | None = None
    selector: LabelSelector | None = None
    manual_selector: bool | None = None
    template: PodTemplateSpec
    ttl_seconds_after_finished: Int32 | None = None
    completion_mode: str | None = None
    suspend: bool | None = None
    pod_replacement_policy: str | None = None
    managed_by: str | None = None


class JobCondition(Model):
    type: str
    status: str
    last_probe_time: str | None = None
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class UncountedTerminatedPods(Model):
    succeeded: list[str] | None = None
    failed: list[str] | None = None


class JobStatus(Model):
    conditions: list[JobCondition] | None = None
    start_time: str | None = None
    completion_time: str | None = None
    active: Int32 | None = None
    succeeded: Int32 | None = None
    failed: Int32 | None = None
    terminating: Int32 | None = None
    completed_indexes: str | None = None
    failed_indexes: str | None = None
    uncounted_terminated_pods: UncountedTerminatedPods | None = None
    ready: Int32 | None = None


class Job(TypedObject):
    api_version: str | None = "batch/v1"
    kind: str | None = "Job"
    spec: JobSpec
    status: JobStatus | None = None


# ---- CronJob (k8s.io/api/batch/v1 types.go) -----------------------------------------

# The scheduled time of a Job a CronJob made, RFC 3339 in the CronJob's time zone.
CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"

ALLOW_CONCURRENT = "Allow"
FORBID_CONCURRENT = "Forbid"
REPLACE_CONCURRENT = "Replace"
CONCURRENCY_POLICIES = (ALLOW_CONCURRENT, FORBID_CONCURRENT, REPLACE_CONCURRENT)


class JobTemplateSpec(Model):
    metadata: ObjectMeta | None = None
    spec: JobSpec | None = None


class CronJobSpec(Model):
    schedule: str
    time_zone: str | None = None
    starting_deadline_seconds: int | None = None
    concurrency_policy: str | None = None
    suspend: bool | None = None
    job_template: JobTemplateSpec
    successful_jobs_history_limit: Int32 | None = None
    failed_jobs_history_limit: Int32 | None = None


class CronJobStatus(Model):
    active: list[ObjectReference] | None = None
    last_schedule_time: str | None = None
    last_successful_time: str | None = None


class CronJob(TypedObject):
    api_version: str | None = "batch/v1"
    kind: str | None = "CronJob"
    spec: CronJobSpec
    status: CronJobStatus | None = None
