"""``minictl top nodes|pods``: CPU and memory usage from metrics.k8s.io, as ``kubectl top``
prints it (k8s.io/kubectl/pkg/cmd/top: top_node.go, top_pod.go; pkg/metricsutil's
TopCmdPrinter).

- nodes: NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%), the percentages of each Node's
  allocatable (``--show-capacity``: capacity); nodes without metrics print ``<unknown>``;
- pods: [NAMESPACE] NAME CPU(cores) MEMORY(bytes), ``--containers`` one line per container
  (POD NAME ...), ``--sum`` a total line;
- cpu as millicores (``250m``), memory as MiB (``64Mi``), both rounded as
  resource.Quantity's MilliValue and Value do; ``--sort-by=cpu|memory`` sorts largest first,
  otherwise by (namespace and) name.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import click

from api.quantity import parse_quantity
from api.timeutil import go_duration, parse_time
from cli import tables
from cli.context import state
from cli.errors import CliError
from cli.options import common
from client.rest import Client

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
BASE = f"/apis/{GROUP}/{VERSION}"
METRICS_CREATION_DELAY = 120.0  # seconds: kubectl's metricsCreationDelay
RESOURCES = ("cpu", "memory")


def _render(rows: list[list[str]]) -> str:
    """kubectl's tabwriter for top (printers.GetNewTabWriter: minwidth 6, padding 3): a
    column is as wide as its widest cell plus 3, and at least 6."""
    w = [max(6, n + 3) for n in tables.widths(rows)]
    return "\n".join("".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows)


def _milli(q: Any) -> int:
    try:
        return math.ceil(parse_quantity(str(q)) * 1000)
    except (ValueError, TypeError):
        return 0


def _value(q: Any) -> int:
    try:
        return math.ceil(parse_quantity(str(q)))
    except (ValueError, TypeError):
        return 0


def _usage_cells(usage: dict[str, Any], available: dict[str, Any] | None) -> list[str]:
    out: list[str] = []
    for res in RESOURCES:
        q = usage.get(res, "0")
        out.append(f"{_milli(q)}m" if res == "cpu" else f"{_value(q) // (1024 * 1024)}Mi")
        if available is not None and res in available:
            avail = _milli(available[res])
            frac = (Fraction(_milli(q), avail) * 100) if avail else Fraction(0)
            out.append(f"{int(frac)}%")
    return out


def metrics_api_available(client: Client) -> bool:
    groups = client.request("GET", "/apis")
    for g in (groups.get("groups") if isinstance(groups, dict) else None) or []:
        if g.get("name") == GROUP and any(v.get("version") == VERSION
                                           for v in g.get("versions") or []):
            return True
    return False


def _require_api(client: Client) -> None:
    if not metrics_api_available(client):
        raise CliError("Metrics API not available")


def _selector_params(selector: str | None, field_selector: str | None = None) -> dict[str, str]:
    params: dict[str, str] = {}
    if selector:
        params["labelSelector"] = selector
    if field_selector:
        params["fieldSelector"] = field_selector
    return params


def _sort_usage(items: list[dict[str, Any]], sort_by: str | None,
                usage: Any, default: Any) -> list[dict[str, Any]]:
    if sort_by == "cpu":
        return sorted(items, key=lambda m: -_milli(usage(m).get("cpu", "0")))
    if sort_by == "memory":
        return sorted(items, key=lambda m: -_value(usage(m).get("memory", "0")))
    return sorted(items, key=default)


def _pod_usage(m: dict[str, Any]) -> dict[str, str]:
    cpu = sum(_milli((c.get("usage") or {}).get("cpu", "0")) for c in m.get("containers") or [])
    mem = sum(_value((c.get("usage") or {}).get("memory", "0"))
              for c in m.get("containers") or [])
    return {"cpu": f"{cpu}m", "memory": str(mem)}


def _check_sort(sort_by: str | None) -> None:
    if sort_by not in (None, "", "cpu", "memory"):
        raise CliError("--sort-by accepts only cpu or memory")


class _TopGroup(click.Group):
    """kubectl top's subcommands answer to their plural and short names too."""

    ALIASES = {"nodes": "node", "no": "node", "pods": "pod", "po": "pod"}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.ALIASES.get(cmd_name, cmd_name))


@click.group("top", cls=_TopGroup)
def top_cmd() -> None:
    """Display resource (CPU/memory) usage of nodes or pods (the metrics.k8s.io API).

    \b
    Examples:
      minictl top nodes
      minictl top pods -A --sort-by=cpu
      minictl top pod web-1 --containers
    """


@top_cmd.command("node")
@click.argument("name", required=False)
@click.option("-l", "--selector", default=None, metavar="SELECTOR",
              help="Label selector on the nodes, e.g. -l key1=value1,key2=value2.")
@click.option("--sort-by", default=None, metavar="cpu|memory",
              help="Sort by cpu or memory, largest first.")
@click.option("--no-headers", is_flag=True, help="Print rows without the header.")
@click.option("--show-capacity", is_flag=True,
              help="Percentages of the nodes' capacity instead of allocatable.")
@common
def top_node_cmd(name: str | None, selector: str | None, sort_by: str | None, no_headers: bool,
                 show_capacity: bool) -> None:
    """Display resource (CPU/memory) usage of nodes."""
    _check_sort(sort_by)
    client = state().client
    _require_api(client)
    if name:
        items = [client.request("GET", f"{BASE}/nodes/{name}")]
    else:
        got = client.request("GET", f"{BASE}/nodes", params=_selector_params(selector))
        items = list(got.get("items") or []) if isinstance(got, dict) else []
    if not items:
        raise CliError("metrics not available yet")
    if name:
        nodes = [client.request("GET", f"/api/v1/nodes/{name}")]
    else:
        nl = client.request("GET", "/api/v1/nodes", params=_selector_params(selector))
        nodes = list(nl.get("items") or []) if isinstance(nl, dict) else []
    field = "capacity" if show_capacity else "allocatable"
    available = {str((n.get("metadata") or {}).get("name")): (n.get("status") or {}).get(field)
                 or {} for n in nodes}
    rows: list[list[str]] = [] if no_headers else [
        ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]]
    for m in _sort_usage(items, sort_by, lambda m: m.get("usage") or {},
                         lambda m: str((m.get("metadata") or {}).get("name"))):
        nname = str((m.get("metadata") or {}).get("name"))
        rows.append([nname, *_usage_cells(m.get("usage") or {}, available.pop(nname, None))])
    for nname in sorted(available):
        rows.append([nname, "<unknown>", "<unknown>", "<unknown>", "<unknown>"])
    if rows:
        click.echo(_render(rows))


def _age(pod: dict[str, Any]) -> float:
    ts = (pod.get("metadata") or {}).get("creationTimestamp")
    try:
        return (datetime.now(UTC) - parse_time(ts)).total_seconds() if ts else 0.0
    except ValueError:
        return 0.0


def _why_empty(client: Client, namespace: str | None, name: str | None,
               params: dict[str, str]) -> None:
    """kubectl's verifyEmptyMetrics: old pods without metrics are an error, young ones
    'not available yet'; no pods at all is not an error."""
    if name:
        pods = [client.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}")]
    else:
        path = f"/api/v1/namespaces/{namespace}/pods" if namespace else "/api/v1/pods"
        pl = client.request("GET", path, params=params)
        pods = list(pl.get("items") or []) if isinstance(pl, dict) else []
        if not pods:
            return
    for p in pods:
        age = _age(p)
        if age > METRICS_CREATION_DELAY:
            md = p.get("metadata") or {}
            raise CliError(f"Metrics not available for pod {md.get('namespace')}/"
                           f"{md.get('name')}, age: {go_duration(age)}")
    raise CliError("metrics not available yet")


@top_cmd.command("pod")
@click.argument("name", required=False)
@click.option("-A", "--all-namespaces", is_flag=True, help="Pods of every namespace.")
@click.option("-l", "--selector", default=None, metavar="SELECTOR",
              help="Label selector on the pods, e.g. -l app=web.")
@click.option("--field-selector", default=None, metavar="SELECTOR",
              help="Field selector (metadata.name, metadata.namespace).")
@click.option("--containers", is_flag=True, help="One line per container.")
@click.option("--sort-by", default=None, metavar="cpu|memory",
              help="Sort by cpu or memory, largest first.")
@click.option("--no-headers", is_flag=True, help="Print rows without the header.")
@click.option("--sum", "sum_", is_flag=True, help="Print the sum of the resource usage.")
@common
def top_pod_cmd(name: str | None, all_namespaces: bool, selector: str | None,
                field_selector: str | None, containers: bool, sort_by: str | None,
                no_headers: bool, sum_: bool) -> None:
    """Display resource (CPU/memory) usage of pods."""
    _check_sort(sort_by)
    st = state()
    client = st.client
    namespace = None if all_namespaces else st.namespace
    if name and all_namespaces:
        raise CliError("a resource cannot be retrieved by name across all namespaces")
    _require_api(client)
    params = _selector_params(selector, field_selector)
    if name:
        items = [client.request("GET", f"{BASE}/namespaces/{namespace}/pods/{name}")]
    else:
        path = f"{BASE}/namespaces/{namespace}/pods" if namespace else f"{BASE}/pods"
        got = client.request("GET", path, params=params)
        items = list(got.get("items") or []) if isinstance(got, dict) else []
    if not items:
        _why_empty(client, namespace, name, params)
        click.echo("No resources found" if all_namespaces
                   else f"No resources found in {namespace} namespace.", err=True)
        return
    with_ns = all_namespaces
    head: list[str] = (["NAMESPACE"] if with_ns else []) + (["POD"] if containers else []) + [
        "NAME", "CPU(cores)", "MEMORY(bytes)"]
    rows: list[list[str]] = [] if no_headers else [head]

    def default_key(m: dict[str, Any]) -> tuple[str, str]:
        md = m.get("metadata") or {}
        return (str(md.get("namespace")) if with_ns else "", str(md.get("name")))
    for m in _sort_usage(items, sort_by, _pod_usage, default_key):
        md = m.get("metadata") or {}
        lead = [str(md.get("namespace"))] if with_ns else []
        if containers:
            cs = _sort_usage(list(m.get("containers") or []), sort_by,
                             lambda c: c.get("usage") or {}, lambda c: str(c.get("name")))
            for c in cs:
                rows.append([*lead, str(md.get("name")), str(c.get("name")),
                             *_usage_cells(c.get("usage") or {}, None)])
        else:
            rows.append([*lead, str(md.get("name")), *_usage_cells(_pod_usage(m), None)])
    if sum_:
        width = len(head)
        total = {"cpu": f"{sum(_milli(_pod_usage(m)['cpu']) for m in items)}m",
                 "memory": str(sum(_value(_pod_usage(m)["memory"]) for m in items))}
        rows.append([""] * (width - 2) + ["________", "________"])
        rows.append([""] * (width - 2) + _usage_cells(total, None))
    click.echo(_render(rows))
