"""``minictl logs``: a container's log through the API server (which asks the kubelet)."""

from __future__ import annotations

import sys

import click

from api import labels, resources
from api.models import Pod
from cli.context import State, resolve_kind, split_ref, state
from cli.errors import CliError
from cli.options import common


def _pod_for(st: State, target: str) -> Pod:
    """``POD``, ``pod/POD``, or ``deployment/NAME`` / ``rs/NAME``: the first of their pods."""
    if "/" not in target:
        return st.client.get(Pod, target, st.namespace)
    info, name = split_ref(target)
    if info is resources.PODS:
        return st.client.get(Pod, name, st.namespace)
    if info not in (resources.DEPLOYMENTS, resources.REPLICASETS):
        raise CliError(f"cannot get logs of {info.plural}")
    owner = st.client.get(info.model, name, st.namespace)
    sel = getattr(getattr(owner, "spec", None), "selector", None)
    try:  # what kubectl sends: metav1.LabelSelectorAsSelector(...).String()
        selector = str(labels.from_label_selector(sel))
    except labels.SelectorError as e:
        raise CliError(f"invalid selector of {info.singular}/{name}: {e}") from None
    pods = st.client.list_all(Pod, st.namespace, label_selector=selector).items
    if not pods:
        raise CliError(f"no pods found for {info.singular}/{name}")
    running = [p for p in pods if p.status and p.status.phase == "Running"]
    pods = sorted(running or pods, key=lambda p: p.metadata.creation_timestamp or "")
    if len(pods) > 1:
        click.echo(f"Found {len(pods)} pods, using pod/{pods[0].metadata.name}", err=True)
    return pods[0]


@click.command("logs")
@click.argument("target")
@click.argument("container_arg", required=False)
@click.option("-c", "--container", help="The container (default: the pod's first).")
@click.option("-f", "--follow", is_flag=True, help="Stream new lines as they are written.")
@click.option("--tail", type=int, default=-1, help="Only the last N lines (-1: all).")
@click.option("-p", "--previous", is_flag=True, help="The previous, terminated instance.")
@click.option("--timestamps", is_flag=True, help="Prefix each line with its RFC 3339 time.")
@common
def logs_cmd(target: str, container_arg: str | None, container: str | None, follow: bool,
             tail: int, previous: bool, timestamps: bool) -> None:
    """Print the logs of a container in a pod.

    \b
    Examples:
      minictl logs nginx-7c5ddbdf54-abcde
      minictl logs deployment/nginx --tail=20 -f
      minictl logs web -c sidecar --previous
    """
    st = state()
    if container and container_arg and container != container_arg:
        raise CliError("only one of -c or an inline [CONTAINER] arg is allowed")
    resolve_kind("pods")
    pod = _pod_for(st, target)
    names = [c.name for c in pod.spec.containers]
    cname = container or container_arg
    if cname is None:
        cname = names[0]
        if len(names) > 1:
            click.echo(f'Defaulted container "{cname}" out of: {", ".join(names)}', err=True)
    elif cname not in names:
        raise CliError(f"container {cname} is not valid for pod {pod.metadata.name}")
    ns = pod.metadata.namespace or st.namespace
    tail_lines = tail if tail >= 0 else None
    if follow:
        for chunk in st.client.pod_logs(pod.metadata.name or "", ns, follow=True,
                                        container=cname, tail_lines=tail_lines,
                                        timestamps=timestamps, previous=previous):
            sys.stdout.write(chunk)
            sys.stdout.flush()
    else:
        text = st.client.pod_logs(pod.metadata.name or "", ns, container=cname,
                                  tail_lines=tail_lines, timestamps=timestamps,
                                  previous=previous)
        sys.stdout.write(text)
        sys.stdout.flush()
