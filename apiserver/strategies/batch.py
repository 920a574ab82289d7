"""Jobs (pkg/registry/batch/job/strategy.go) and the Table kubectl prints for them
(pkg/printers/internalversion/printers.go printJob).

A Job has a status subresource and a generation. Create clears the status and,
unless spec.manualSelector, generates the selector and the template labels
(generateSelector: batch.kubernetes.io/controller-uid and controller-uid = the Job's
uid, batch.kubernetes.io/job-name and job-name = its name; the selector matches the
uid). The Job's own labels default to its template's (SetDefaults_Job, which
kube-apiserver applies again when it reads the stored object back).
"""

from __future__ import annotations

from datetime import datetime

from api.base import dig
from api.models.batch import (
    CONTROLLER_UID_LABEL,
    JOB_NAME_LABEL,
    LEGACY_CONTROLLER_UID_LABEL,
    LEGACY_JOB_NAME_LABEL,
)
from api.printers import (
    containers_and_images,
    format_label_selector,
    job_completions,
    job_duration,
    job_status,
)
from api.timeutil import since
from apiserver.strategies.base import (
    AGE,
    NAME,
    JSONDict,
    Row,
    Strategy,
    age_of,
    column,
    meta,
    name_of,
)

_SELECTOR_DOC = ("A label query over pods that should match the pod count. Normally, the "
                 "system sets this field for you. More info: https://kubernetes.io/docs/"
                 "concepts/overview/working-with-objects/labels/#label-selectors")
_SUCCEEDED_DOC = ("The number of pods which reached phase Succeeded. The value increases "
                  "monotonically for a given spec. However, it may decrease in reaction to "
                  "scale down of elastic indexed jobs.")


def generate_selector(job: JSONDict) -> None:
    """generateSelector: the template's job-name and controller-uid labels (legacy and
    batch.kubernetes.io/ forms, kept when the client set them: validation rejects a
    conflict) and a selector on the uid."""
    md = meta(job)
    spec = job.get("spec")
    if not isinstance(spec, dict):
        return
    tmpl = spec.get("template")
    if not isinstance(tmpl, dict):
        return
    tmeta = tmpl.get("metadata")
    if not isinstance(tmeta, dict):
        tmeta = tmpl["metadata"] = {}
    labels = tmeta.get("labels")
    if not isinstance(labels, dict):
        labels = tmeta["labels"] = {}
    name, uid = str(md.get("name") or ""), str(md.get("uid") or "")
    for key in (LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL):
        labels.setdefault(key, name)
    for key in (LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL):
        labels.setdefault(key, uid)
    sel = spec.get("selector")
    if not isinstance(sel, dict):
        sel = spec["selector"] = {}
    ml = sel.get("matchLabels")
    if not isinstance(ml, dict):
        ml = sel["matchLabels"] = {}
    ml.setdefault(CONTROLLER_UID_LABEL, uid)


class JobStrategy(Strategy):
    status_subresource = True
    has_generation = True
    columns = [NAME,
               column("Status", description="Status of the job."),
               column("Completions", description=_SUCCEEDED_DOC),
               column("Duration", description="Time required to complete the job."),
               AGE,
               column("Containers", priority=1,
                      description="Names of each container in the template."),
               column("Images", priority=1,
                      description="Images referenced by each container in the template."),
               column("Selector", priority=1, description=_SELECTOR_DOC)]

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        spec = obj.get("spec")
        if isinstance(spec, dict) and spec.get("manualSelector") is not True:
            generate_selector(obj)
        obj["status"] = {}
        md = meta(obj)
        labels = dig(obj, "spec", "template", "metadata", "labels")
        if isinstance(labels, dict) and labels and not md.get("labels"):
            md["labels"] = dict(labels)

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        spec = obj.get("spec") or {}
        names, images = containers_and_images(dig(spec, "template", "spec") or {})
        return [name_of(obj), job_status(obj), job_completions(obj), job_duration(obj, now),
                age_of(obj, now), names, images,
                format_label_selector(spec.get("selector"))], []


def _bool_ptr(v: object) -> str:
    """printBoolPtr: ``<unset>`` for nil, else True/False."""
    return "<unset>" if v is None else ("True" if v else "False")


class CronJobStrategy(Strategy):
    """CronJobs (pkg/registry/batch/cronjob/strategy.go): status subresource, generation,
    create starts the status empty; the Table is printCronJob's."""

    status_subresource = True
    has_generation = True
    columns = [NAME,
               column("Schedule", description="The schedule in Cron format, see "
                      "https://en.wikipedia.org/wiki/Cron."),
               column("Timezone", description="The time zone name for the given schedule, "
                      "see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones."),
               column("Suspend", "boolean", description="This flag tells the controller to "
                      "suspend subsequent executions, it does not apply to already started "
                      "executions.  Defaults to false."),
               column("Active", "integer", description="A list of pointers to currently "
                      "running jobs."),
               column("Last Schedule", description="Information when was the last time the "
                      "job was successfully scheduled."),
               AGE,
               column("Containers", priority=1,
                      description="Names of each container in the template."),
               column("Images", priority=1,
                      description="Images referenced by each container in the template."),
               column("Selector", priority=1, description=_SELECTOR_DOC)]

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {}

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        jspec = dig(spec, "jobTemplate", "spec") or {}
        names, images = containers_and_images(dig(jspec, "template", "spec") or {})
        last = status.get("lastScheduleTime")
        tz = spec.get("timeZone")
        return [name_of(obj), spec.get("schedule") or "",
                tz if tz is not None else "<none>", _bool_ptr(spec.get("suspend")),
                len(status.get("active") or []), since(last, now) if last else "<none>",
                age_of(obj, now), names, images,
                format_label_selector(jspec.get("selector"))], []
