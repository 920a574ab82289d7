"""``minictl create job NAME --image=IMG [-- CMD...]`` and ``--from=cronjob/NAME``, as
kubectl's create_job.go builds them (createJob: one container named after the Job,
restartPolicy Never; createJobFromCronJob: ``cli.create_cronjob.job_from_cronjob``)."""

from __future__ import annotations

import click

from api import resources
from api.models import Container, ObjectMeta, PodSpec, PodTemplateSpec
from api.models.batch import CronJob, Job, JobSpec
from cli import output, write_util
from cli.context import state
from cli.create import _emit, _send, create_cmd
from cli.create_cronjob import job_from_cronjob
from cli.errors import CliError
from cli.options import common
from client.errors import NotFound


def build_job(name: str, image: str, command: list[str], namespace: str | None) -> Job:
    """createJob: the Job kubectl sends for ``create job NAME --image=IMG -- CMD``."""
    return Job(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=JobSpec(template=PodTemplateSpec(spec=PodSpec(
            containers=[Container(name=name, image=image, command=command or None)],
            restart_policy="Never"))),
    )


@create_cmd.command("job", context_settings={"ignore_unknown_options": False})
@click.argument("name")
@click.argument("command", nargs=-1)
@click.option("--image", help="Image name to run.")
@click.option("--from", "from_", metavar="KIND/NAME",
              help="The name of the resource to create a Job from (only cronjob is "
                   "supported).")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="yaml, json or name.")
@write_util.dry_run_option
@common
def create_job(name: str, command: tuple[str, ...], image: str | None, from_: str | None,
               output_: str | None, dry_run: str) -> None:
    """Create a job NAME running IMAGE (then COMMAND after --), or from a cronjob.

    \b
    Examples:
      minictl create job my-job --image=busybox
      minictl create job my-job --image=busybox -- date
      minictl create job test-job --from=cronjob/a-cronjob
    """
    if bool(image) == bool(from_):
        raise CliError("either --image or --from must be specified")
    if command and from_:
        raise CliError("cannot specify --from and command")
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    mode = write_util.parse_dry_run(dry_run)
    if from_:
        kind, _, source = from_.partition("/")
        if not source:
            raise CliError("from must be of the form resource/name")
        info = resources.lookup(kind)
        if info is None:
            raise CliError(f"the server doesn't have a resource type \"{kind}\"")
        if info is not resources.CRONJOBS:
            raise CliError(f"unknown object type {info.kind}")
        try:
            cj = st.client.get(CronJob, source, st.namespace)
        except NotFound:
            raise CliError(f'cronjobs.batch "{source}" not found') from None
        job = job_from_cronjob(cj, name, st.namespace)
    else:
        job = build_job(name, image or "", list(command), st.namespace)
    job = _send(st, resources.JOBS, job, st.namespace, mode)
    _emit(resources.JOBS, job, fmt, mode)
