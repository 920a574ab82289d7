"""``minictl cluster-info`` and ``minictl version``."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import IO, Any

import click

from api import resources
from api.models import Service
from cli import output, tables
from cli.context import state
from cli.errors import CliError
from cli.options import common
from client.errors import ApiError, NotFound

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


@click.group("cluster-info", invoke_without_command=True)
@common
@click.pass_context
def cluster_info_cmd(ctx: click.Context) -> None:
    """Show where the control plane and the cluster services are.

    As kubectl cluster-info: the API server, then each Service labelled
    kubernetes.io/cluster-service=true in kube-system (or -n NAMESPACE), such as kube-dns,
    under its kubernetes.io/name label. ``cluster-info dump`` dumps the cluster's state.
    """
    if ctx.invoked_subcommand is not None:
        return
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


# What kubectl cluster-info dump lists in each namespace, in its order, and the file names.
_DUMPED = (("events", "/api/v1/namespaces/{ns}/events"),
           ("replication-controllers", "/api/v1/namespaces/{ns}/replicationcontrollers"),
           ("services", "/api/v1/namespaces/{ns}/services"),
           ("daemonsets", "/apis/apps/v1/namespaces/{ns}/daemonsets"),
           ("deployments", "/apis/apps/v1/namespaces/{ns}/deployments"),
           ("replicasets", "/apis/apps/v1/namespaces/{ns}/replicasets"),
           ("pods", "/api/v1/namespaces/{ns}/pods"))


def _unserved(exc: ApiError) -> bool:
    """The 404 of a resource the server does not serve (not of a missing namespace)."""
    return isinstance(exc, NotFound) and not (exc.status.details and exc.status.details.kind)


@cluster_info_cmd.command("dump")
@click.option("-A", "--all-namespaces", "all_namespaces", is_flag=True,
              help="If true, dump all namespaces. If true, --namespaces is ignored.")
@click.option("--namespaces", "namespaces", multiple=True, metavar="NS[,NS...]",
              help="A comma separated list of namespaces to dump.")
@click.option("--output-directory", "output_directory", default="", metavar="DIR",
              help="Where to output the files. If empty or '-' uses stdout, otherwise "
                   "creates a directory hierarchy in that directory.")
@click.option("-o", "--output", "output_", default="json", metavar="FORMAT",
              help="json (default) or yaml.")
@click.option("--pod-running-timeout", default="20s", metavar="DURATION",
              help="Accepted for kubectl's sake (minictl does not wait for pods).")
@common
def dump_cmd(all_namespaces: bool, namespaces: tuple[str, ...], output_directory: str,
             output_: str, pod_running_timeout: str) -> None:
    """Dump the cluster's state for debugging, as kubectl cluster-info dump does.

    The nodes, then per namespace (kube-system and the current one; --namespaces,
    --all-namespaces) its events, replication controllers, services, daemon sets,
    deployments, replica sets and pods, and each pod's container logs; to stdout, or with
    --output-directory as DIR/nodes.json, DIR/NS/pods.json, DIR/NS/POD/logs.txt, ...
    Where kubectl stops at a kind the server does not serve (minik8s serves no
    ReplicationControllers or DaemonSets), minictl leaves that list out.
    """
    st = state()
    fmt = output.check_output(output_, ("json", "yaml"))
    ext = f".{fmt}"
    first = [True]

    @contextmanager
    def writer(name: str, extension: str) -> Iterator[IO[str]]:
        if not output_directory or output_directory == "-":
            yield sys.stdout
            return
        full = os.path.join(output_directory, name) + extension
        try:
            os.makedirs(os.path.dirname(full), mode=0o755, exist_ok=True)
            f = open(full, "w", encoding="utf-8")
        except OSError as e:
            raise CliError(f"error: {e}") from e
        with f:
            yield f

    def emit(name: str, obj: Any) -> None:
        with writer(name, ext) as w:
            if fmt == "yaml":
                if not first[0] and (not output_directory or output_directory == "-"):
                    w.write("---\n")
                w.write(output.dump_yaml(obj))
            else:
                w.write(output.dump_json(obj) + "\n")
            w.flush()
        first[0] = False

    emit("nodes", st.client.request("GET", "/api/v1/nodes"))
    if all_namespaces:
        listed: Any = st.client.request("GET", "/api/v1/namespaces")
        names = [(i.get("metadata") or {}).get("name", "") for i in listed.get("items") or []]
    elif namespaces:
        names = [n for arg in namespaces for n in arg.split(",") if n]
    else:
        names = [SYSTEM_NAMESPACE, st.namespace]
    for ns in names:
        pods: Any = {}
        for name, path in _DUMPED:
            try:
                obj = st.client.request("GET", path.format(ns=ns))
            except ApiError as e:
                if _unserved(e):
                    continue
                raise
            emit(f"{ns}/{name}", obj)
            if name == "pods":
                pods = obj
        for pod in pods.get("items") or []:
            meta = pod.get("metadata") or {}
            spec = pod.get("spec") or {}
            with writer(f"{ns}/{meta.get('name', '')}/logs", ".txt") as w:
                for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
                    what = f"container {c.get('name')} of pod {meta.get('namespace')}/" \
                           f"{meta.get('name')}"
                    w.write(f"==== START logs for {what} ====\n")
                    try:
                        w.write(st.client.pod_logs(meta.get("name", ""), ns,
                                                   container=c.get("name")))
                    except ApiError as e:
                        w.write(f"Request log error: {e.message}\n")
                    w.write(f"==== END logs for {what} ====\n")
                w.flush()
    if output_directory and output_directory != "-":
        click.echo(f"Cluster info dumped to {output_directory}")
