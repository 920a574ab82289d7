"""``minictl create cronjob NAME --image=IMG --schedule=SPEC [--restart=...] [-- CMD...]``
as kubectl's create_cronjob.go builds it, and ``job_from_cronjob``: the Job ``create job
--from=cronjob/NAME`` makes (create_job.go createJobFromCronJob)."""

from __future__ import annotations

import click

from api import resources
from api.models import Container, ObjectMeta, OwnerReference, PodSpec, PodTemplateSpec
from api.models.batch import CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec
from cli import output, write_util
from cli.context import state
from cli.create import _emit, _send, create_cmd
from cli.errors import CliError
from cli.options import common

# kubectl marks a Job made by hand from a CronJob (create_job.go)
INSTANTIATE_ANNOTATION = "cronjob.kubernetes.io/instantiate"


def job_from_cronjob(cj: CronJob, name: str, namespace: str | None) -> Job:
    """createJobFromCronJob: the template's spec, labels and annotations (plus
    ``cronjob.kubernetes.io/instantiate: manual``) and a controller reference to the
    CronJob without blockOwnerDeletion."""
    tmpl = cj.spec.job_template
    tmeta = tmpl.metadata or ObjectMeta()
    annotations = {INSTANTIATE_ANNOTATION: "manual", **(tmeta.annotations or {})}
    if tmpl.spec is None:
        raise CliError(f"cronjob {cj.metadata.name} has no job template")
    return Job(
        metadata=ObjectMeta(
            name=name, namespace=namespace, annotations=annotations,
            labels=dict(tmeta.labels) if tmeta.labels else None,
            owner_references=[OwnerReference(api_version="batch/v1", kind="CronJob",
                                             name=cj.metadata.name or "",
                                             uid=cj.metadata.uid or "", controller=True)]),
        spec=tmpl.spec.copy_deep(),
    )


@create_cmd.command("cronjob", context_settings={"ignore_unknown_options": False})
@click.argument("name")
@click.argument("command", nargs=-1)
@click.option("--image", help="Image name to run.")
@click.option("--schedule", help="A schedule in the Cron format the job should be run with.")
@click.option("--restart", default="OnFailure", show_default=True,
              help="job's restart policy. supported values: OnFailure, Never")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="yaml, json or name.")
@write_util.dry_run_option
@common
def create_cronjob(name: str, command: tuple[str, ...], image: str | None,
                   schedule: str | None, restart: str, output_: str | None,
                   dry_run: str) -> None:
    """Create a cronjob NAME running IMAGE on SCHEDULE (then COMMAND after --).

    \b
    Examples:
      minictl create cronjob my-job --image=busybox --schedule="*/1 * * * *"
      minictl create cronjob my-job --image=busybox --schedule="*/1 * * * *" -- date
    """
    if not image:
        raise CliError("--image must be specified")
    if not schedule:
        raise CliError("--schedule must be specified")
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    mode = write_util.parse_dry_run(dry_run)
    cj = CronJob(
        metadata=ObjectMeta(name=name, namespace=st.namespace),
        spec=CronJobSpec(
            schedule=schedule,
            job_template=JobTemplateSpec(
                metadata=ObjectMeta(name=name),
                spec=JobSpec(template=PodTemplateSpec(spec=PodSpec(
                    containers=[Container(name=name, image=image,
                                          command=list(command) or None)],
                    restart_policy=restart))),
            ),
        ),
    )
    cj = _send(st, resources.CRONJOBS, cj, st.namespace, mode)
    _emit(resources.CRONJOBS, cj, fmt, mode)


create_cmd.add_command(create_cronjob, "cj")
