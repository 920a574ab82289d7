"""batch/v1 Jobs.

Ports pkg/apis/batch/validation/validation.go: ValidateJob (ValidateGeneratedSelector,
ValidateJobSpec with validateJobSpec: parallelism, completions, activeDeadlineSeconds,
backoffLimit, backoffLimitPerIndex / maxFailedIndexes, completionMode, podFailurePolicy,
successPolicy, podReplacementPolicy, ttlSecondsAfterFinished, the template restarting
Never or OnFailure) and ValidateJobUpdate (ValidateJobSpecUpdate's immutable fields).
``validate_job_spec_fields`` is validateJobSpec, which a CronJob's jobTemplate shares.
"""

from __future__ import annotations

from collections.abc import Mapping

from api.base import dig
from api.cron import ScheduleError, load_location, parse_standard, valid_zone_part
from api.labels import SelectorError, from_label_selector
from api.models.batch import (
    ACTION_FAIL_INDEX,
    COMPLETION_MODES,
    CONCURRENCY_POLICIES,
    CONTROLLER_UID_LABEL,
    FAILED,
    INDEXED,
    JOB_NAME_LABEL,
    LEGACY_CONTROLLER_UID_LABEL,
    LEGACY_JOB_NAME_LABEL,
    OP_IN,
    OP_NOT_IN,
    POD_FAILURE_POLICY_ACTIONS,
    TERMINATING_OR_FAILED,
)
from api.validation.field import (
    JSON,
    NON_NEGATIVE,
    Errs,
    as_dict,
    as_int,
    as_list,
    at_index,
    at_key,
    child,
    duplicate,
    forbidden,
    invalid,
    non_negative,
    not_supported,
    required,
)
from api.validation.meta import validate_label_selector, validate_template_meta
from api.validation.pod import validate_pod_spec

_IMMUTABLE = "field is immutable"
MAX_PARALLELISM_FOR_INDEXED = 100_000
MAX_COMPLETIONS_WITHOUT_LIMIT = 100_000
MAX_FAILED_INDEXES_LIMIT = 100_000
MAX_POD_FAILURE_POLICY_RULES = 20
MAX_EXIT_CODE_VALUES = 255
_POD_CONDITION_STATUSES = ["True", "False", "Unknown"]


def _has_label(errs: Errs, labels: JSON, path: str, key: str, expected: str) -> None:
    """apivalidation.ValidateHasLabel."""
    lpath = child(path, "labels")
    if key not in labels:
        errs.append(required(at_key(lpath, key), expected))
    elif labels[key] != expected:
        errs.append(invalid(at_key(lpath, key), dict(labels), f"must be '{expected}'"))


def _validate_generated_selector(errs: Errs, obj: JSON, spec: JSON) -> None:
    """ValidateGeneratedSelector: unless manualSelector, the template carries the
    controller-uid and job-name labels and the selector matches them."""
    if spec.get("manualSelector") is True or spec.get("selector") is None:
        return
    md = as_dict([], obj.get("metadata"), "metadata")
    uid, name = str(md.get("uid") or ""), str(md.get("name") or "")
    if not uid:
        errs.append(required("metadata.uid"))
    tmeta = as_dict([], dig(spec, "template", "metadata"), "")
    labels = as_dict([], tmeta.get("labels"), "")
    tpath = "spec.template.metadata"
    expected = {LEGACY_CONTROLLER_UID_LABEL: uid, LEGACY_JOB_NAME_LABEL: name,
                CONTROLLER_UID_LABEL: uid, JOB_NAME_LABEL: name}
    for key, value in expected.items():
        _has_label(errs, labels, tpath, key, value)
    try:
        selector = from_label_selector(spec.get("selector"))
    except SelectorError:
        return
    if not selector.matches(expected):
        errs.append(invalid("spec.selector", spec.get("selector"), "`selector` not auto-generated"))


def _validate_exit_codes(errs: Errs, req: JSON, containers: set[str], path: str) -> None:
    name = req.get("containerName")
    if name is not None and name not in containers:
        errs.append(invalid(child(path, "containerName"), name,
                            "must be one of the container or initContainer names in the pod "
                            "template"))
    op = req.get("operator")
    if op not in (OP_IN, OP_NOT_IN):
        errs.append(not_supported(child(path, "operator"), op, [OP_IN, OP_NOT_IN]))
    vpath = child(path, "values")
    values = as_list(errs, req.get("values"), vpath)
    if not values:
        errs.append(required(vpath, "at least one value is required"))
    elif len(values) > MAX_EXIT_CODE_VALUES:
        errs.append(invalid(vpath, len(values),
                            f"must have at most {MAX_EXIT_CODE_VALUES} elements"))
    prev: int | None = None
    seen: set[int] = set()
    for i, v in enumerate(values):
        n = as_int(errs, v, at_index(vpath, i))
        if n is None:
            continue
        if n in seen:
            errs.append(duplicate(at_index(vpath, i), n))
        if op == OP_IN and n == 0:
            errs.append(invalid(at_index(vpath, i), n,
                                "must not be 0 for the In operator"))
        if prev is not None and prev > n:
            errs.append(invalid(vpath, values, "must be ordered"))
        seen.add(n)
        prev = n


def _validate_pod_failure_policy(errs: Errs, spec: JSON, path: str) -> None:
    pfp = as_dict(errs, spec.get("podFailurePolicy"), path)
    rpath = child(path, "rules")
    rules = as_list(errs, pfp.get("rules"), rpath)
    if len(rules) > MAX_POD_FAILURE_POLICY_RULES:
        errs.append(invalid(rpath, len(rules),
                            f"must have at most {MAX_POD_FAILURE_POLICY_RULES} elements"))
    pod_spec = as_dict([], dig(spec, "template", "spec"), "")
    containers = {str(c.get("name")) for key in ("containers", "initContainers")
                  for c in as_list([], pod_spec.get(key), "") if isinstance(c, Mapping)}
    for i, r in enumerate(rules):
        ipath = at_index(rpath, i)
        rule = as_dict(errs, r, ipath)
        action = rule.get("action")
        if action not in POD_FAILURE_POLICY_ACTIONS:
            errs.append(not_supported(child(ipath, "action"), action,
                                      list(POD_FAILURE_POLICY_ACTIONS)))
        elif action == ACTION_FAIL_INDEX and spec.get("backoffLimitPerIndex") is None:
            errs.append(forbidden(child(ipath, "action"),
                                  "requires the backoffLimitPerIndex to be set"))
        codes, conds = rule.get("onExitCodes"), rule.get("onPodConditions")
        if codes is not None and conds is not None:
            errs.append(invalid(ipath, "", "specifying both OnExitCodes and OnPodConditions "
                                "is not supported"))
        elif codes is None and conds is None:
            errs.append(invalid(ipath, "", "specifying one of OnExitCodes and OnPodConditions "
                                "is required"))
        if codes is not None:
            cpath = child(ipath, "onExitCodes")
            _validate_exit_codes(errs, as_dict(errs, codes, cpath), containers, cpath)
        if conds is not None:
            cpath = child(ipath, "onPodConditions")
            for j, p in enumerate(as_list(errs, conds, cpath)):
                ppath = at_index(cpath, j)
                pattern = as_dict(errs, p, ppath)
                if not pattern.get("type"):
                    errs.append(required(child(ppath, "type")))
                status = pattern.get("status")
                if status not in _POD_CONDITION_STATUSES:
                    errs.append(not_supported(child(ppath, "status"), status,
                                              _POD_CONDITION_STATUSES))


def _parse_indexes(text: str, completions: int) -> str | None:
    """What is wrong with an indexes string ("1,3-5,7") of a success policy rule, or None."""
    last = -1
    for part in text.split(","):
        bounds = part.split("-")
        if len(bounds) > 2 or not all(b.isdigit() for b in bounds):
            return f"error parsing succeededIndexes: {text}"
        lo, hi = int(bounds[0]), int(bounds[-1])
        if lo > hi or lo <= last:
            return "must be in increasing order"
        if hi >= completions:
            return f"too large: {hi} (must be less than completions {completions})"
        last = hi
    return None


def _validate_success_policy(errs: Errs, spec: JSON, path: str) -> None:
    sp = as_dict(errs, spec.get("successPolicy"), path)
    if spec.get("completionMode") != INDEXED:
        errs.append(invalid(path, dict(sp), "requires indexed completion mode"))
        return
    rpath = child(path, "rules")
    rules = as_list(errs, sp.get("rules"), rpath)
    if not rules:
        errs.append(required(rpath, "at least one rules must be specified when the "
                             "successPolicy is specified"))
    c = spec.get("completions")
    completions = c if isinstance(c, int) else 0
    for i, r in enumerate(rules):
        ipath = at_index(rpath, i)
        rule = as_dict(errs, r, ipath)
        idx, count = rule.get("succeededIndexes"), rule.get("succeededCount")
        if idx is None and count is None:
            errs.append(required(ipath, "at least one of succeededCount or succeededIndexes "
                                 "must be specified"))
        if isinstance(idx, str):
            msg = _parse_indexes(idx, completions)
            if msg is not None:
                errs.append(invalid(child(ipath, "succeededIndexes"), idx, msg))
        if count is not None:
            n = as_int(errs, count, child(ipath, "succeededCount"))
            if n is not None and n < 0:
                errs.append(invalid(child(ipath, "succeededCount"), n, NON_NEGATIVE))
            elif n is not None and n > completions:
                errs.append(invalid(child(ipath, "succeededCount"), n,
                                    f"must be less than or equal to {completions} (the "
                                    "number of specified completions)"))


def validate_job_spec_fields(errs: Errs, spec: JSON, path: str) -> None:
    """validateJobSpec: everything but the selector (a Job's and a jobTemplate's spec)."""
    for f in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit",
              "ttlSecondsAfterFinished"):
        non_negative(errs, spec.get(f), child(path, f))
    mode = spec.get("completionMode")
    if mode is not None and mode not in COMPLETION_MODES:
        errs.append(not_supported(child(path, "completionMode"), mode, list(COMPLETION_MODES)))
    completions = spec.get("completions")
    parallelism = spec.get("parallelism")
    if mode == INDEXED:
        if completions is None:
            errs.append(required(child(path, "completions"),
                                 f"when completion mode is {INDEXED}"))
        if isinstance(parallelism, int) and parallelism > MAX_PARALLELISM_FOR_INDEXED:
            errs.append(invalid(child(path, "parallelism"), parallelism,
                                f"must be less than or equal to {MAX_PARALLELISM_FOR_INDEXED} "
                                f"when completion mode is {INDEXED}"))
    bli = spec.get("backoffLimitPerIndex")
    mfi = spec.get("maxFailedIndexes")
    if bli is not None:
        non_negative(errs, bli, child(path, "backoffLimitPerIndex"))
        if mode != INDEXED:
            errs.append(forbidden(child(path, "backoffLimitPerIndex"),
                                  "requires indexed completion mode"))
    if mfi is not None:
        non_negative(errs, mfi, child(path, "maxFailedIndexes"))
        if bli is None:
            errs.append(required(child(path, "backoffLimitPerIndex"),
                                 "when maxFailedIndexes is specified"))
        if isinstance(mfi, int) and isinstance(completions, int) and mfi > completions:
            errs.append(invalid(child(path, "maxFailedIndexes"), mfi,
                                "must be less than or equal to completions"))
        if isinstance(mfi, int) and mfi > MAX_FAILED_INDEXES_LIMIT:
            errs.append(invalid(child(path, "maxFailedIndexes"), mfi,
                                f"must be less than or equal to {MAX_FAILED_INDEXES_LIMIT}"))
    rp = dig(spec, "template", "spec", "restartPolicy")
    if spec.get("podFailurePolicy") is not None:
        _validate_pod_failure_policy(errs, spec, child(path, "podFailurePolicy"))
        if rp != "Never":
            errs.append(invalid(child(path, "template", "spec", "restartPolicy"), rp,
                                'only "Never" is supported when podFailurePolicy is specified'))
    if bli is not None and rp != "Never":
        errs.append(invalid(child(path, "template", "spec", "restartPolicy"), rp,
                            'only "Never" is supported when backoffLimitPerIndex is specified'))
    if spec.get("successPolicy") is not None:
        _validate_success_policy(errs, spec, child(path, "successPolicy"))
    prp = spec.get("podReplacementPolicy")
    if prp is not None:
        allowed = [FAILED] if spec.get("podFailurePolicy") is not None \
            else [TERMINATING_OR_FAILED, FAILED]
        if prp not in allowed:
            errs.append(not_supported(child(path, "podReplacementPolicy"), prp, allowed))
    for f in ("suspend", "manualSelector"):
        v = spec.get(f)
        if v is not None and not isinstance(v, bool):
            errs.append(invalid(child(path, f), v, "must be a boolean"))
    tpath = child(path, "template")
    tmpl = as_dict(errs, spec.get("template"), tpath)
    if spec.get("template") is None:
        errs.append(required(tpath))
    errs += validate_template_meta(tmpl.get("metadata"), child(tpath, "metadata"))
    errs += validate_pod_spec(tmpl.get("spec"), child(tpath, "spec"))
    if rp not in ("OnFailure", "Never"):
        errs.append(not_supported(child(tpath, "spec", "restartPolicy"), rp,
                                  ["OnFailure", "Never"]))


def validate_job(obj: JSON) -> Errs:
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    _validate_generated_selector(errs, obj, spec)
    validate_job_spec_fields(errs, spec, "spec")
    errs += validate_job_status(obj)
    sel = spec.get("selector")
    if sel is None:
        errs.append(required("spec.selector"))
        return errs
    errs += validate_label_selector(sel, "spec.selector")
    try:
        selector = from_label_selector(sel if isinstance(sel, Mapping) else None)
    except SelectorError:
        return errs
    labels = dig(spec, "template", "metadata", "labels")
    if not selector.matches(labels if isinstance(labels, Mapping) else None):
        errs.append(invalid("spec.template.metadata.labels", labels,
                            "`selector` does not match template `labels`"))
    return errs


def _suspended(spec: JSON) -> bool:
    return spec.get("suspend") is True


def validate_job_update(old: JSON, new: JSON) -> Errs:
    """ValidateJobSpecUpdate: selector, completions (but for elastic Indexed Jobs, where
    it moves with parallelism), completionMode, podFailurePolicy, backoffLimitPerIndex,
    successPolicy fixed; the template only while the Job is suspended and never started
    (its scheduling directives)."""
    errs: Errs = []
    o = as_dict([], old.get("spec"), "")
    n = as_dict([], new.get("spec"), "")
    if o.get("selector") is not None and n.get("selector") != o.get("selector"):
        errs.append(invalid("spec.selector", n.get("selector"), _IMMUTABLE))
    for f in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "successPolicy",
              "managedBy"):
        if n.get(f) != o.get(f):
            errs.append(invalid(child("spec", f), n.get(f), _IMMUTABLE))
    if n.get("completions") != o.get("completions"):
        elastic = (n.get("completionMode") == INDEXED and
                   n.get("completions") == n.get("parallelism") and
                   o.get("completions") == o.get("parallelism"))
        if not elastic:
            errs.append(invalid("spec.completions", n.get("completions"), _IMMUTABLE))
    if n.get("template") != o.get("template"):
        started = dig(old, "status", "startTime") is not None
        if not (_suspended(o) and not started and _only_scheduling_changed(o, n)):
            errs.append(invalid("spec.template", n.get("template"), _IMMUTABLE))
    return errs


_SCHEDULING_DIRECTIVES = ("nodeSelector", "tolerations", "affinity", "schedulingGates")


def _only_scheduling_changed(o: JSON, n: JSON) -> bool:
    """A suspended Job that never started may change the template's scheduling directives
    and its labels and annotations (JobMutableSchedulingDirectives)."""
    ot = dict(as_dict([], o.get("template"), ""))
    nt = dict(as_dict([], n.get("template"), ""))
    os_, ns_ = dict(as_dict([], ot.get("spec"), "")), dict(as_dict([], nt.get("spec"), ""))
    for k in _SCHEDULING_DIRECTIVES:
        os_.pop(k, None)
        ns_.pop(k, None)
    return os_ == ns_


def validate_job_status(obj: JSON) -> Errs:
    """ValidateJobStatus's counters (non-negative)."""
    errs: Errs = []
    status = as_dict([], obj.get("status"), "")
    for f in ("active", "succeeded", "failed", "ready", "terminating"):
        v = status.get(f)
        if isinstance(v, int) and v < 0:
            errs.append(invalid(child("status", f), v, NON_NEGATIVE))
    return errs


# ---- CronJob (ValidateCronJobCreate / ValidateCronJobUpdate) ---------------------------

# The controller names each Job <cronjob>-<11-digit minutes>: 63 - 11 characters.
CRONJOB_NAME_MAX = 52


def _validate_schedule(errs: Errs, schedule: str, allow_tz: bool, time_zone: object,
                       path: str) -> None:
    """validateScheduleFormat: cron.ParseStandard's error, and TZ in the schedule refused
    (kept only by updates of CronJobs that had it before the timeZone field)."""
    try:
        parse_standard(schedule)
    except ScheduleError as exc:
        errs.append(invalid(path, schedule, str(exc)))
    if allow_tz and "TZ" in schedule and time_zone is not None:
        errs.append(invalid(path, schedule,
                            "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
    elif not allow_tz and "TZ" in schedule:
        errs.append(invalid(path, schedule,
                            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))


def _validate_time_zone(errs: Errs, tz: object, path: str) -> None:
    """validateTimeZone: an IANA zone name that this host's zone database knows."""
    if tz is None:
        return
    if not isinstance(tz, str):
        errs.append(invalid(path, tz, "must be a string"))
        return
    if not tz:
        errs.append(invalid(path, tz, "timeZone must be nil or non-empty string"))
        return
    if not all(valid_zone_part(p) for p in tz.split("/")):
        errs.append(invalid(path, tz, f"unknown time zone {tz}"))
        return
    if tz.lower() == "local":
        errs.append(invalid(path, tz, "timeZone must be an explicit time zone as defined in "
                                      "https://www.iana.org/time-zones"))
    try:
        load_location(tz)
    except ScheduleError as exc:
        errs.append(invalid(path, tz, str(exc)))


def _validate_cronjob_spec(errs: Errs, spec: JSON, old_spec: JSON | None, path: str) -> None:
    """validateCronJobSpec."""
    schedule = spec.get("schedule")
    spath = child(path, "schedule")
    if not schedule:
        errs.append(required(spath))
    elif not isinstance(schedule, str):
        errs.append(invalid(spath, schedule, "must be a string"))
    else:
        old_schedule = old_spec.get("schedule") if old_spec is not None else None
        allow_tz = isinstance(old_schedule, str) and "TZ" in old_schedule
        _validate_schedule(errs, schedule, allow_tz, spec.get("timeZone"), spath)
    if spec.get("startingDeadlineSeconds") is not None:
        non_negative(errs, spec.get("startingDeadlineSeconds"),
                     child(path, "startingDeadlineSeconds"))
    if old_spec is None or old_spec.get("timeZone") != spec.get("timeZone"):
        _validate_time_zone(errs, spec.get("timeZone"), child(path, "timeZone"))
    policy = spec.get("concurrencyPolicy")
    cpath = child(path, "concurrencyPolicy")
    if not policy:
        errs.append(required(cpath))
    elif policy not in CONCURRENCY_POLICIES:
        errs.append(not_supported(cpath, policy, list(CONCURRENCY_POLICIES)))
    suspend = spec.get("suspend")
    if suspend is not None and not isinstance(suspend, bool):
        errs.append(invalid(child(path, "suspend"), suspend, "must be a boolean"))
    _validate_job_template(errs, spec.get("jobTemplate"), child(path, "jobTemplate"))
    for f in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        if spec.get(f) is not None:
            non_negative(errs, spec.get(f), child(path, f))


def _validate_job_template(errs: Errs, template: object, path: str) -> None:
    """ValidateJobTemplateSpec: a Job spec whose selector the Job's creation generates."""
    tmpl = as_dict(errs, template, path)
    errs += validate_template_meta(tmpl.get("metadata"), child(path, "metadata"))
    spath = child(path, "spec")
    jspec = as_dict(errs, tmpl.get("spec"), spath)
    validate_job_spec_fields(errs, jspec, spath)
    if jspec.get("selector") is not None:
        errs.append(invalid(child(spath, "selector"), jspec.get("selector"),
                            "`selector` will be auto-generated"))
    if jspec.get("manualSelector") is True:
        errs.append(not_supported(child(spath, "manualSelector"), True, ["nil", "false"]))


def validate_cronjob(obj: JSON) -> Errs:
    """ValidateCronJobCreate: the spec and the 52-character name limit. Updates run it too:
    a schedule with TZ, which the old object could have had only before the timeZone
    field, is refused here from the start."""
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    _validate_cronjob_spec(errs, spec, None, "spec")
    name = dig(obj, "metadata", "name")
    if isinstance(name, str) and len(name) > CRONJOB_NAME_MAX:
        errs.append(invalid("metadata.name", name,
                            f"must be no more than {CRONJOB_NAME_MAX} characters"))
    return errs

