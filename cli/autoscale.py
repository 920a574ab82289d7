"""``minictl autoscale``: a HorizontalPodAutoscaler for a deployment or replica set, as
kubectl 1.37's (k8s.io/kubectl/pkg/cmd/autoscale/autoscale.go): Validate's messages, an
autoscaling/v2 object named after the target (``--name`` otherwise), ``--min`` only when
positive, the cpu target from ``--cpu-percent`` or ``--cpu`` and the memory one from
``--memory`` (``70%`` is a Utilization, a quantity an AverageValue, a bare number milli-cpu or
mebibytes: parseResourceInput), and ``horizontalpodautoscaler.autoscaling/NAME autoscaled``.
"""

from __future__ import annotations

import re
from typing import Any

import click

from api import resources
from api.models.autoscaling import HorizontalPodAutoscaler
from api.quantity import parse_quantity
from cli import output
from cli.context import resolve_kind, split_ref, state
from cli.errors import CliError
from cli.options import common

INFO = resources.HORIZONTALPODAUTOSCALERS
DEPRECATED_CPU_PERCENT = ("Flag --cpu-percent has been deprecated, Use --cpu with percentage "
                          "or resource quantity format (e.g., '70%' for utilization or '500m' "
                          "for milliCPU).")


def parse_resource_input(text: str, resource: str) -> dict[str, Any]:
    """parseResourceInput: the MetricTarget ``text`` asks for."""
    text = text.strip()
    if not text:
        raise CliError("empty input")
    if text.endswith("%"):
        num = text[:-1]
        if not re.fullmatch(r"[+-]?\d+", num) or int(num) < 0 or int(num) > 2**31 - 1:
            raise CliError(f"invalid percentage value: {num}")
        return {"type": "Utilization", "averageUtilization": int(num)}
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        unit = "m" if resource == "cpu" else "Mi"
        text = f"{value:g}{unit}"
    try:
        parse_quantity(text)
    except (ValueError, TypeError):
        raise CliError(f"invalid resource {resource} value: {text}") from None
    return {"type": "AverageValue", "averageValue": text}


def _target(args: tuple[str, ...]) -> tuple[resources.ResourceInfo, str]:
    if not args:
        raise CliError("You must provide one or more resources by argument or filename.")
    if len(args) == 1:
        if "/" not in args[0]:
            raise CliError(f'you must specify the name of the {resolve_kind(args[0]).singular}')
        return split_ref(args[0])
    if len(args) > 2 or "/" in args[0]:
        raise CliError("autoscale takes one resource: TYPE NAME or TYPE/NAME")
    return resolve_kind(args[0]), args[1]


def build_hpa(name: str, info: resources.ResourceInfo, ref_name: str, *, min_: int, max_: int,
              cpu_percent: int, cpu: str, memory: str) -> dict[str, Any]:
    """createHorizontalPodAutoscalerV2."""
    spec: dict[str, Any] = {"scaleTargetRef": {"apiVersion": info.api_version,
                                               "kind": info.kind, "name": ref_name},
                            "maxReplicas": max_}
    if min_ > 0:
        spec["minReplicas"] = min_
    metrics: list[dict[str, Any]] = []
    if cpu_percent > 0:
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": cpu_percent}}})
    if cpu:
        metrics.append({"type": "Resource", "resource": {
            "name": "cpu", "target": parse_resource_input(cpu, "cpu")}})
    if memory:
        metrics.append({"type": "Resource", "resource": {
            "name": "memory", "target": parse_resource_input(memory, "memory")}})
    if metrics:
        spec["metrics"] = metrics
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name}, "spec": spec}


@click.command("autoscale")
@click.argument("args", nargs=-1)
@click.option("--min", "min_", type=int, default=-1, help="The lower limit for the number of "
              "pods (not set or negative: the server's default, 1).")
@click.option("--max", "max_", type=int, default=-1, help="The upper limit for the number of "
              "pods. Required.")
@click.option("--cpu-percent", type=int, default=None, help="Deprecated: the target average CPU "
              "utilization (percent of the request); use --cpu=N% instead.")
@click.option("--cpu", default="", help="Target CPU: 70% for a utilization of the request, "
              "500m (or 500) for an average value.")
@click.option("--memory", default="", help="Target memory: 60% for a utilization of the "
              "request, 200Mi (or 200) for an average value.")
@click.option("--name", default="", help="The name of the autoscaler (default: the "
              "resource's).")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="yaml, json or name.")
@click.option("--dry-run", default="none", metavar="none|client|server",
              help="client: print the autoscaler without sending it.")
@common
def autoscale_cmd(args: tuple[str, ...], min_: int, max_: int, cpu_percent: int | None, cpu: str,
                  memory: str, name: str, output_: str | None, dry_run: str) -> None:
    """Create an autoscaler for a deployment or replica set.

    \b
    Examples:
      minictl autoscale deployment foo --min=2 --max=10
      minictl autoscale deployment foo --max=5 --cpu=80%
      minictl autoscale deployment bar --min=3 --max=6 --cpu=500m --memory=200Mi
    """
    if cpu_percent is None:
        cpu_percent = -1
    else:
        click.echo(DEPRECATED_CPU_PERCENT, err=True)
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    if dry_run not in ("none", "client", "server"):
        raise CliError(f'invalid dry-run value ({dry_run}). Must be "none", "server", or '
                       '"client".')
    if max_ < 1:
        raise CliError(f"--max=MAXPODS is required and must be at least 1, max: {max_}")
    if max_ < min_:
        raise CliError(f"--max=MAXPODS must be larger or equal to --min=MINPODS, max: {max_}, "
                       f"min: {min_}")
    if cpu_percent > 0 and cpu:
        raise CliError("--cpu-percent and --cpu are mutually exclusive")
    if cpu:
        parse_resource_input(cpu, "cpu")
    if memory:
        parse_resource_input(memory, "memory")
    st = state()
    info, ref_name = _target(args)
    if "scale" not in info.subresources:
        core = f"{info.group}/{info.version}" if info.group else f"/{info.version}"
        raise CliError(f"cannot autoscale a {info.kind}: could not find scale subresource for "
                       f"{core}, Resource={info.plural} in discovery information")
    st.client.get(info.model, ref_name, st.namespace)  # NotFound as kubectl's builder says
    body = build_hpa(name or ref_name, info, ref_name, min_=min_, max_=max_,
                     cpu_percent=cpu_percent, cpu=cpu, memory=memory)
    verb = "autoscaled"
    if dry_run == "client":
        hpa = HorizontalPodAutoscaler.from_dict(body)
        verb = "created (dry run)"
    else:
        params: dict[str, Any] = {"fieldManager": "kubectl-autoscale"}
        if dry_run == "server":
            params["dryRun"] = "All"
            verb = "autoscaled (server dry run)"
        created = st.client.request("POST", INFO.collection_path(st.namespace), json=body,
                                    params=params)
        hpa = HorizontalPodAutoscaler.from_dict(created)
    if fmt in ("yaml", "json", "name"):
        output.print_objects([(INFO, hpa)], fmt, single=True)
        return
    output.done(INFO, hpa.metadata.name or "", verb)
