"""``minictl create deployment|namespace`` and ``minictl run``."""

from __future__ import annotations

import copy
from typing import TypeVar

import click

from api import resources
from api.models import (
    Container,
    ContainerPort,
    Deployment,
    DeploymentSpec,
    EnvVar,
    LabelSelector,
    Namespace,
    ObjectMeta,
    Pod,
    PodSpec,
    PodTemplateSpec,
)
from api.models.core import TypedObject
from api.resources import ResourceInfo
from cli import manifests, output, tables, write_util
from cli.context import State, state
from cli.errors import CliError
from cli.options import common
from client.errors import ApiError

T = TypeVar("T", bound=TypedObject)


def container_name_for(image: str) -> str:
    """kubectl names the container after the image: ``nginx:1.22`` -> ``nginx``."""
    base = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    cleaned = "".join(c if c.isalnum() or c == "-" else "-" for c in base.lower()).strip("-")
    return cleaned or "app"


def _emit(info: ResourceInfo, obj: TypedObject, fmt: str | None, dry_run: bool | str) -> None:
    if fmt in ("yaml", "json", "name"):
        output.print_objects([(info, obj)], fmt, single=True)
        return
    mode = dry_run if isinstance(dry_run, str) else ("client" if dry_run else "none")
    output.done(info, obj.metadata.name or "", "created" + write_util.dry_suffix(mode))


def _send(st: State, info: ResourceInfo, obj: T, namespace: str | None, mode: str) -> T:
    """Create ``obj`` (``--dry-run=server``: the server's dryRun=All; client: not sent)."""
    if mode == "client":
        return obj
    if mode == "none":
        return st.client.create(obj, namespace)
    data = write_util.create(st, info, namespace, output.wire(info, obj), dry_run=mode)
    return type(obj).model_validate(data)


@click.group("create", invoke_without_command=True)
@click.option("-f", "--filename", multiple=True,
              help="A file, a directory of .yaml/.yml/.json files, or - for stdin.")
@click.option("-R", "--recursive", is_flag=True, help="With -f DIR: its subdirectories too.")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="yaml, json or name.")
@write_util.dry_run_option
@click.pass_context
@common
def create_cmd(ctx: click.Context, filename: tuple[str, ...], recursive: bool,
               output_: str | None, dry_run: str) -> None:
    """Create objects from files (-f) or a deployment, namespace, configmap or secret.

    \b
    Examples:
      minictl create -f deployment.yaml
      minictl create -f manifests/ -R --dry-run=server
      minictl create deployment nginx --replicas=3
    """
    if ctx.invoked_subcommand is not None:
        if filename:
            raise CliError("-f cannot be given with a subcommand")
        return
    if not filename:
        raise CliError("must specify one of -f and -k")
    _create_files(filename, recursive, output_, dry_run)


def _create_files(filename: tuple[str, ...], recursive: bool, output_: str | None,
                  dry_run: str) -> None:
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    mode = write_util.parse_dry_run(dry_run)
    printer = write_util.Printer(fmt)
    failed = False
    for source, doc in manifests.load_sourced(filename, recursive, verb="create"):
        try:
            info = manifests.info_of(doc)
            name = manifests.name_of(doc)
            ns = manifests.namespace_of(doc, info, st.namespace, st.explicit_namespace)
        except CliError as exc:
            click.echo(f"error: {exc.message}", err=True)
            failed = True
            continue
        body = copy.deepcopy(doc)
        if ns is not None:
            body.setdefault("metadata", {})["namespace"] = ns
        try:
            result = body if mode == "client" else write_util.create(st, info, ns, body,
                                                                     dry_run=mode)
        except ApiError as exc:
            click.echo(write_util.source_error(exc, "creating", source, st.server), err=True)
            failed = True
            continue
        printer(info, result, f"{tables.qualified_name(info, name)} created"
                              f"{write_util.dry_suffix(mode)}")
    if failed:
        raise SystemExit(1)


@create_cmd.command("deployment")
@click.argument("name")
@click.option("--image", help="The image to run (default: NAME, e.g. nginx).")
@click.option("-r", "--replicas", type=int, default=1, show_default=True,
              help="Number of replicas.")
@click.option("--port", type=int, help="The port the container exposes.")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="yaml, json or name.")
@write_util.dry_run_option
@common
def create_deployment(name: str, image: str | None, replicas: int, port: int | None,
                      output_: str | None, dry_run: str) -> None:
    """Create a deployment NAME running IMAGE with REPLICAS pods (labels app=NAME).

    \b
    Example:
      minictl create deployment nginx --replicas=3
    """
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    mode = write_util.parse_dry_run(dry_run)
    if replicas < 0:
        raise CliError(f"--replicas must be >= 0, got {replicas}")
    img = image or name
    labels = {"app": name}
    container = Container(name=container_name_for(img), image=img,
                          ports=[ContainerPort(container_port=port)] if port else None)
    dep = Deployment(
        metadata=ObjectMeta(name=name, namespace=st.namespace, labels=dict(labels)),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(match_labels=dict(labels)),
            template=PodTemplateSpec(metadata=ObjectMeta(labels=dict(labels)),
                                     spec=PodSpec(containers=[container])),
        ),
    )
    dep = _send(st, resources.DEPLOYMENTS, dep, st.namespace, mode)
    _emit(resources.DEPLOYMENTS, dep, fmt, mode)


@create_cmd.command("namespace")
@click.argument("name")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="yaml, json or name.")
@write_util.dry_run_option
@common
def create_namespace(name: str, output_: str | None, dry_run: str) -> None:
    """Create a namespace NAME."""
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    mode = write_util.parse_dry_run(dry_run)
    ns = _send(st, resources.NAMESPACES, Namespace(metadata=ObjectMeta(name=name)), None, mode)
    _emit(resources.NAMESPACES, ns, fmt, mode)


create_cmd.add_command(create_namespace, "ns")
create_cmd.add_command(create_deployment, "deploy")


def _parse_env(pairs: tuple[str, ...]) -> list[EnvVar] | None:
    out: list[EnvVar] = []
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or not key:
            raise CliError(f"invalid env: {p} (expected KEY=VALUE)")
        out.append(EnvVar(name=key, value=value))
    return out or None


def _parse_labels(text: str | None, default: dict[str, str]) -> dict[str, str]:
    if not text:
        return default
    out: dict[str, str] = {}
    for part in text.split(","):
        k, sep, v = part.partition("=")
        if not sep or not k.strip():
            raise CliError(f"invalid label spec: {part}")
        out[k.strip()] = v.strip()
    return out


@click.command("run", context_settings={"ignore_unknown_options": False})
@click.argument("name")
@click.argument("command_args", nargs=-1)
@click.option("--image", required=True, help="The image for the container.")
@click.option("--port", type=int, help="The port the container exposes.")
@click.option("-l", "--labels", help="Labels, e.g. app=web,tier=front (default: run=NAME).")
@click.option("--env", multiple=True, help="KEY=VALUE; repeatable.")
@click.option("--restart", default="Always", show_default=True,
              type=click.Choice(["Always", "OnFailure", "Never"]), help="The restart policy.")
@click.option("--command", "use_command", is_flag=True,
              help="Use the extra arguments as the command instead of as args.")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="yaml, json or name.")
@write_util.dry_run_option
@common
def run_cmd(name: str, command_args: tuple[str, ...], image: str, port: int | None,
            labels: str | None, env: tuple[str, ...], restart: str, use_command: bool,
            output_: str | None, dry_run: str) -> None:
    """Run one pod NAME from IMAGE.

    \b
    Examples:
      minictl run web --image nginx --port 80
      minictl run sleeper --image busybox --command -- sleep 3600
    """
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    mode = write_util.parse_dry_run(dry_run)
    container = Container(
        name=name, image=image,
        ports=[ContainerPort(container_port=port)] if port else None,
        env=_parse_env(env),
        command=list(command_args) if use_command and command_args else None,
        args=list(command_args) if command_args and not use_command else None,
    )
    pod = Pod(metadata=ObjectMeta(name=name, namespace=st.namespace,
                                  labels=_parse_labels(labels, {"run": name})),
              spec=PodSpec(containers=[container], restart_policy=restart))
    pod = _send(st, resources.PODS, pod, st.namespace, mode)
    _emit(resources.PODS, pod, fmt, mode)
