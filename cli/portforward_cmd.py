"""``minictl port-forward TYPE/NAME [LOCAL:]REMOTE...``: forward local ports to a pod, as
kubectl port-forward does (client/portforward.py speaks the protocol).

``pod/NAME`` (or ``NAME``), ``deployment/NAME``, ``replicaset/NAME`` and ``service/NAME``
resolve to a pod as kubectl's AttachablePodForObject does (the selector's pods, running
ones first, oldest first). For a service, each remote port names a service port (number
or name) and becomes the pod's port as translateServicePortToTargetPort does: a numeric
targetPort as is, a named one looked up in the pod's containers, none the port itself;
``80`` alone keeps 80 as the local port.
"""

from __future__ import annotations

import asyncio
import sys

import click

from api import labels, resources
from api.models import Pod, Service
from cli.context import State, split_ref, state
from cli.errors import CliError
from cli.options import common
from client.portforward import LostConnection, PortForwarder, parse_ports


def _selected_pod(st: State, what: str, sel: str) -> Pod:
    if not sel:
        raise CliError(f"cannot attach to {what}: no selector")
    pods = st.client.list_all(Pod, st.namespace, label_selector=sel).items
    if not pods:
        raise CliError(f"timed out waiting for the condition: no pods of {what}")
    running = [p for p in pods if p.status and p.status.phase == "Running"]
    return sorted(running or pods, key=lambda p: p.metadata.creation_timestamp or "")[0]


def _service_port(svc: Service, pod: Pod, spec: str) -> str:
    local, sep, remote = spec.rpartition(":")
    if not sep:
        local, remote = spec, spec
    ports = (svc.spec.ports if svc.spec else None) or []
    match = next((p for p in ports if str(p.port) == remote or (p.name and p.name == remote)),
                 None)
    if match is None:
        raise CliError(f"Service {svc.metadata.name} does not have a service port {remote}")
    target = match.target_port
    if isinstance(target, str) and not target.isdigit():
        found = [cp.container_port for c in pod.spec.containers for cp in c.ports or []
                 if cp.name == target]
        if not found:
            raise CliError(f"Pod '{pod.metadata.name}' does not have a named port '{target}'")
        pod_port = found[0]
    else:
        pod_port = int(target) if target not in (None, 0, "0") else match.port
    if not sep:
        local = str(match.port)
    return f"{local}:{pod_port}"


def resolve(st: State, target: str, port_specs: list[str]) -> tuple[Pod, list[str]]:
    if "/" not in target:
        return st.client.get(Pod, target, st.namespace), port_specs
    info, name = split_ref(target)
    if info is resources.PODS:
        return st.client.get(Pod, name, st.namespace), port_specs
    if info is getattr(resources, "SERVICES", None):
        svc = st.client.get(Service, name, st.namespace)
        selector = (svc.spec.selector if svc.spec else None) or {}
        pod = _selected_pod(st, f"service/{name}",
                            ",".join(f"{k}={v}" for k, v in sorted(selector.items())))
        return pod, [_service_port(svc, pod, s) for s in port_specs]
    if info in (resources.DEPLOYMENTS, resources.REPLICASETS):
        owner = st.client.get(info.model, name, st.namespace)
        sel = getattr(getattr(owner, "spec", None), "selector", None)
        try:  # what kubectl sends: metav1.LabelSelectorAsSelector(...).String()
            selector_s = str(labels.from_label_selector(sel))
        except labels.SelectorError as e:
            raise CliError(f"invalid selector of {info.singular}/{name}: {e}") from None
        return _selected_pod(st, f"{info.singular}/{name}", selector_s), port_specs
    raise CliError(f"cannot attach to *v1.{info.kind}: selector for *v1.{info.kind} not "
                   "implemented")


@click.command("port-forward")
@click.argument("target")
@click.argument("ports", nargs=-1)
@click.option("--address", "addresses", multiple=True, default=("localhost",),
              help="Addresses to listen on (comma separated); localhost and IPs.")
@click.option("--pod-running-timeout", default="1m", help="Accepted for compatibility.")
@common
def port_forward_cmd(target: str, ports: tuple[str, ...], addresses: tuple[str, ...],
                     pod_running_timeout: str) -> int:
    """Forward one or more local ports to a pod.

    \b
    Examples:
      minictl port-forward pod/mypod 8888:5000
      minictl port-forward deployment/web :80
      minictl port-forward svc/web 8080:80 --address 0.0.0.0
    """
    if not ports:
        raise click.UsageError("TYPE/NAME and list of ports are required for port-forward")
    st = state()
    pod, specs = resolve(st, target, list(ports))
    phase = pod.status.phase if pod.status else None
    if phase != "Running":
        raise CliError("unable to forward port because pod is not running. Current status="
                       f"{phase or 'Pending'}")
    try:
        forwarded = parse_ports(specs)
    except ValueError as e:
        raise CliError(str(e)) from None
    addrs = [a.strip() for group in addresses for a in group.split(",") if a.strip()]
    cfg = st.config  # --server, else the kubeconfig's context, ...: as every verb

    def out(line: str) -> None:
        click.echo(line)
        sys.stdout.flush()

    def err(line: str) -> None:
        click.echo(line, err=True)

    fwd = PortForwarder(cfg.server, pod.metadata.namespace or st.namespace,
                        pod.metadata.name or "", forwarded, addrs, out, err, token=cfg.token,
                        ssl_context=st.ssl_context())
    try:
        asyncio.run(fwd.run())
    except LostConnection as e:
        raise CliError(str(e)) from None
    except OSError as e:
        raise CliError(str(e)) from None
    except KeyboardInterrupt:
        return 0
    return 0
