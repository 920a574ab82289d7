"""``minictl cluster-info`` and ``minictl version``."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import click

from api import resources
from api.models import Service
from cli import output, tables
from cli.context import state
from cli.options import common

SYSTEM_NAMESPACE = "kube-system"  # metav1.NamespaceSystem
CLUSTER_SERVICE_SELECTOR = "kubernetes.io/cluster-service=true"


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


def join_scheme_name_port(scheme: str, name: str, port: str) -> str:
    """k8s.io/apimachinery/pkg/util/net JoinSchemeNamePort: the ``<scheme>:<name>:<port>``
    form of a service in a proxy path."""
    if scheme:
        return f"{scheme}:{name}:{port}"
    if port:
        return f"{name}:{port}"
    return name


def service_link(server: str, svc: Service) -> str:
    """Where kubectl cluster-info says a cluster service runs (clusterinfo.go Run): its
    load balancer's address, else the API server's proxy path for its first port."""
    ingress = (svc.status.load_balancer.ingress if svc.status and svc.status.load_balancer
               else None) or []
    if ingress:
        host = ingress[0].ip or ingress[0].hostname or ""
        return "".join(f"http://{host}:{p.port} " for p in svc.spec.ports or [])
    name = svc.metadata.name or ""
    if svc.spec.ports:
        port = svc.spec.ports[0]
        scheme = "https" if port.name == "https" or port.port == 443 else ""
        name = join_scheme_name_port(scheme, name, port.name or "")
    return (f"{server}/api/v1/namespaces/{svc.metadata.namespace}/services/{name}/proxy")


def _running(what: str, where: str) -> None:
    click.echo(click.style(what, fg="green") + " is running at "
               + click.style(where, fg="yellow"))


@click.command("cluster-info")
@common
def cluster_info_cmd() -> None:
    """Show where the control plane and the cluster services are.

    As kubectl cluster-info: the API server, then each Service labelled
    kubernetes.io/cluster-service=true in kube-system (or -n NAMESPACE), such as kube-dns,
    under its kubernetes.io/name label.
    """
    st = state()
    ns = st.namespace if st.explicit_namespace else SYSTEM_NAMESPACE
    services = st.client.list_all(Service, ns, label_selector=CLUSTER_SERVICE_SELECTOR).items
    server = st.server
    _running("Kubernetes control plane", server)
    for svc in tables.sort_objects(resources.SERVICES, list(services)):
        label = (svc.metadata.labels or {}).get("kubernetes.io/name") or svc.metadata.name or ""
        _running(label, service_link(server, svc))
    click.echo()
    click.echo("To further debug and diagnose cluster problems, use 'minictl describe nodes' "
               "and 'minictl trace deployment/<name>'.")
