"""``minictl cluster-info`` and ``minictl version``."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import click

from api import printers
from api.models import Node
from cli import output
from cli.context import state
from cli.options import common


def client_version() -> str:
    try:
        return "v" + metadata.version("minik8s")
    except metadata.PackageNotFoundError:
        return "v0.0.0-dev"


@click.command("version")
@click.option("--client", "client_only", is_flag=True, help="Only the client's version.")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="yaml or json.")
@common
def version_cmd(client_only: bool, output_: str | None) -> None:
    """Print the client and server versions."""
    st = state()
    fmt = output.check_output(output_, ("yaml", "json"))
    info: dict[str, Any] = {"clientVersion": {"gitVersion": client_version(),
                                              "platform": "minictl"}}
    if fmt is None:
        click.echo(f"Client Version: {info['clientVersion']['gitVersion']}")
    if not client_only:
        server: Any = st.client.request("GET", "/version")
        info["serverVersion"] = server
        if fmt is None:
            git = server.get("gitVersion") if isinstance(server, dict) else None
            click.echo(f"Server Version: {git or server}")
    if fmt == "json":
        click.echo(output.dump_json(info))
    elif fmt == "yaml":
        click.echo(output.dump_yaml(info).rstrip("\n"))


@click.command("cluster-info")
@common
def cluster_info_cmd() -> None:
    """Show where the control plane is and how many nodes are ready."""
    st = state()
    st.client.request("GET", "/version")
    nodes = st.client.list_all(Node).items
    statuses = [printers.node_status(n.to_dict()) for n in nodes]
    ready = sum(1 for s in statuses if s.startswith("Ready"))
    click.echo(f"Kubernetes control plane is running at {st.server}")
    click.echo(f"Nodes: {len(nodes)} ({ready} Ready)"
               + (": " + ", ".join(f"{n.metadata.name} {s}"
                                   for n, s in zip(nodes, statuses, strict=True))
                  if nodes else ""))
    click.echo()
    click.echo("To see what the cluster did for a request, use 'minictl trace "
               "deployment/<name>'.")
