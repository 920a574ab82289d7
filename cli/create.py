"""``minictl create deployment|namespace`` and ``minictl run``."""

from __future__ import annotations

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
from cli import output
from cli.context import state
from cli.errors import CliError
from cli.options import common


def container_name_for(image: str) -> str:
    """kubectl names the container after the image: ``nginx:1.22`` -> ``nginx``."""
    base = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    cleaned = "".join(c if c.isalnum() or c == "-" else "-" for c in base.lower()).strip("-")
    return cleaned or "app"


def _emit(info: ResourceInfo, obj: TypedObject, fmt: str | None, dry_run: bool) -> None:
    if fmt in ("yaml", "json", "name"):
        output.print_objects([(info, obj)], fmt, single=True)
        return
    output.done(info, obj.metadata.name or "", "created (dry run)" if dry_run else "created")


def _check_dry_run(value: str) -> bool:
    if value not in ("none", "client", "server"):
        raise CliError(f'invalid dry-run value ({value}). Must be "none", "server", or "client".')
    return value != "none"


@click.group("create")
def create_cmd() -> None:
    """Create a deployment or a namespace."""


@create_cmd.command("deployment")
@click.argument("name")
@click.option("--image", help="The image to run (default: NAME, e.g. nginx).")
@click.option("-r", "--replicas", type=int, default=1, show_default=True,
              help="Number of replicas.")
@click.option("--port", type=int, help="The port the container exposes.")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="yaml, json or name.")
@click.option("--dry-run", default="none", metavar="none|client",
              help="client: print the object without sending it.")
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
    dry = _check_dry_run(dry_run)
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
    if not dry:
        dep = st.client.create(dep, st.namespace)
    _emit(resources.DEPLOYMENTS, dep, fmt, dry)


@create_cmd.command("namespace")
@click.argument("name")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="yaml, json or name.")
@click.option("--dry-run", default="none", metavar="none|client",
              help="client: print the object without sending it.")
@common
def create_namespace(name: str, output_: str | None, dry_run: str) -> None:
    """Create a namespace NAME."""
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    dry = _check_dry_run(dry_run)
    ns = Namespace(metadata=ObjectMeta(name=name))
    if not dry:
        ns = st.client.create(ns)
    _emit(resources.NAMESPACES, ns, fmt, dry)


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
@click.option("--dry-run", default="none", metavar="none|client",
              help="client: print the object without sending it.")
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
    dry = _check_dry_run(dry_run)
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
    if not dry:
        pod = st.client.create(pod, st.namespace)
    _emit(resources.PODS, pod, fmt, dry)
