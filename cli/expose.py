"""``minictl expose``: a Service for a deployment, replica set, pod or service, as kubectl's.

A port of k8s.io/kubectl/pkg/cmd/expose (expose.go RunExpose and createService) and the
polymorphic helpers it calls (k8s.io/kubectl/pkg/polymorphichelpers: canbeexposed.go,
mapbasedselectorforobject.go, portsforobject.go, multiprotocolsforobject.go):

- the selector is ``--selector`` or the object's own: a pod's labels, a service's selector,
  a deployment's or replica set's ``matchLabels`` (refused when it has matchExpressions);
- the ports are ``--port`` or the object's (container ports, a service's ports); several
  ports become ``port-1``, ``port-2``, ... and a port served over several protocols becomes
  ``port-N-tcp``/``port-N-udp``; the protocol comes from the object where it has the port;
- ``targetPort`` is ``--target-port`` (a number or a port name) for every port, else the port;
- the Service is named ``--name`` or after the object (cut to 63 characters), and carries
  ``--labels`` or the object's labels.
"""

from __future__ import annotations

from typing import Any

import click

from api import resources
from api.models import (
    Deployment,
    ObjectMeta,
    Pod,
    ReplicaSet,
    Service,
    ServicePort,
    ServiceSpec,
)
from api.models.core import LoadBalancerStatus, PodSpec, ServiceStatus, TypedObject
from api.models.meta import LabelSelector
from api.resources import ResourceInfo
from cli import output
from cli.context import resolve_kind, split_ref, state
from cli.errors import CliError
from cli.options import common

DNS1035_LABEL_MAX_LENGTH = 63

# kubectl's exposeResources; replication controllers are not served here.
EXPOSABLE = ("Pod", "Service", "Deployment", "ReplicaSet")


def can_be_exposed(info: ResourceInfo) -> None:
    """canBeExposed: the error names the GroupKind as Go prints it (``Kind.group``)."""
    if info.kind not in EXPOSABLE:
        group_kind = f"{info.kind}.{info.group}" if info.group else info.kind
        raise CliError(f"cannot expose a {group_kind}")


def make_labels(labels: dict[str, str] | None) -> str:
    """polymorphichelpers.MakeLabels: ``k=v,k2=v2`` (sorted here, Go's map order is random)."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))


def _match_labels(sel: LabelSelector | None, what: str) -> str:
    if sel is None or not sel.match_labels:
        raise CliError("couldn't retrieve selectors via --selector flag or introspection: "
                       f"invalid {what}: no selectors, therefore cannot be exposed")
    if sel.match_expressions:
        exprs = [e.to_dict() for e in sel.match_expressions]
        raise CliError("couldn't retrieve selectors via --selector flag or introspection: "
                       f'couldn\'t convert expressions - "{exprs}" to map-based selector format')
    return make_labels(sel.match_labels)


def selector_for(obj: TypedObject) -> str:
    """mapBasedSelectorForObject."""
    if isinstance(obj, Pod):
        if not obj.metadata.labels:
            raise CliError("couldn't retrieve selectors via --selector flag or introspection: "
                           "the pod has no labels and cannot be exposed")
        return make_labels(obj.metadata.labels)
    if isinstance(obj, Service):
        if obj.spec.selector is None:
            raise CliError("couldn't retrieve selectors via --selector flag or introspection: "
                           "the service has no pod selector set")
        return make_labels(obj.spec.selector)
    if isinstance(obj, Deployment):
        return _match_labels(obj.spec.selector, "deployment")
    if isinstance(obj, ReplicaSet):
        return _match_labels(obj.spec.selector, "replicaset")
    raise CliError(f"cannot extract pod selector from {type(obj).__name__}")


def _pod_spec(obj: TypedObject) -> PodSpec | None:
    if isinstance(obj, Pod):
        return obj.spec
    if isinstance(obj, (Deployment, ReplicaSet)):
        return obj.spec.template.spec if obj.spec.template is not None else None
    return None


def ports_for(obj: TypedObject) -> list[str]:
    """portsForObject: the container ports (or a service's ports), without duplicates."""
    out: list[str] = []
    if isinstance(obj, Service):
        numbers = [p.port for p in obj.spec.ports or []]
    else:
        spec = _pod_spec(obj)
        numbers = [p.container_port for c in (spec.containers if spec else [])
                   for p in c.ports or []]
    for n in numbers:
        if str(n) not in out:
            out.append(str(n))
    return out


def protocols_for(obj: TypedObject) -> dict[str, list[str]]:
    """multiProtocolsForObject: port -> the protocols it is served over (TCP when unset)."""
    result: dict[str, list[str]] = {}
    if isinstance(obj, Service):
        pairs = [(p.port, p.protocol) for p in obj.spec.ports or []]
    else:
        spec = _pod_spec(obj)
        pairs = [(p.container_port, p.protocol) for c in (spec.containers if spec else [])
                 for p in c.ports or []]
    for port, proto in pairs:
        result.setdefault(str(port), []).append(proto or "TCP")
    return result


def parse_labels(spec: str) -> dict[str, str]:
    """expose.go parseLabels: ``k=v,k2=v2``, equality only."""
    labels: dict[str, str] = {}
    for item in spec.split(","):
        parts = item.split("=")
        if len(parts) != 2:
            raise CliError(f"unexpected label spec: {item}")
        if not parts[0]:
            raise CliError("unexpected empty label key")
        labels[parts[0]] = parts[1]
    return labels


def parse_int_or_string(text: str) -> int | str:
    """intstr.Parse: a number if it is one, else the name."""
    try:
        return int(text)
    except ValueError:
        return text


def build_service(*, name: str, selector: str, ports: list[str], labels: str,
                  protocol: str | None, protocols: dict[str, list[str]],
                  target_port: str | None, type_: str | None, external_ip: str | None,
                  load_balancer_ip: str | None, session_affinity: str | None,
                  cluster_ip: str | None) -> Service:
    """expose.go createService."""
    if not selector:
        raise CliError("selector must be specified")
    svc_ports: list[ServicePort] = []
    for i, text in enumerate(ports):
        try:
            port = int(text)
        except ValueError:
            raise CliError(f'strconv.Atoi: parsing "{text}": invalid syntax') from None
        port_name = f"port-{i + 1}" if len(ports) > 1 else None
        proto = protocol
        if not proto:
            proto = "TCP"
            found = protocols.get(text)
            if found and len(found) > 1:
                svc_ports.extend(ServicePort(name=f"port-{i + 1}-{p.lower()}", port=port,
                                             protocol=p) for p in found)
                continue
            if found:
                proto = found[0]
        svc_ports.append(ServicePort(name=port_name, port=port, protocol=proto))
    target = parse_int_or_string(target_port) if target_port else None
    for p in svc_ports:
        p.target_port = target if target is not None else p.port
    spec = ServiceSpec(selector=parse_labels(selector), ports=svc_ports)
    if external_ip:
        spec.external_ips = [external_ip]
    if type_:
        spec.type = type_
    if spec.type == "LoadBalancer" and load_balancer_ip:
        spec.load_balancer_ip = load_balancer_ip
    if session_affinity:
        if session_affinity not in ("None", "ClientIP"):
            raise CliError(f"unknown session affinity: {session_affinity}")
        spec.session_affinity = session_affinity
    if cluster_ip:
        spec.cluster_ip = cluster_ip
    meta = ObjectMeta(name=name, labels=parse_labels(labels) if labels else None)
    return Service(metadata=meta, spec=spec,
                   status=ServiceStatus(load_balancer=LoadBalancerStatus()))


def _target(args: tuple[str, ...]) -> tuple[ResourceInfo, str]:
    if not args:
        raise CliError("You must provide one or more resources by argument or filename.")
    if len(args) == 1:
        if "/" not in args[0]:
            raise CliError(f'you must specify the name of the {resolve_kind(args[0]).singular}')
        return split_ref(args[0])
    if len(args) > 2 or "/" in args[0]:
        raise CliError("expose takes one resource: TYPE NAME or TYPE/NAME")
    return resolve_kind(args[0]), args[1]


@click.command("expose")
@click.argument("args", nargs=-1)
@click.option("--port", help="The port that the service should serve on. Copied from the "
              "resource being exposed, if unspecified.")
@click.option("--target-port", help="Name or number for the port on the container that the "
              "service should direct traffic to (default: the port).")
@click.option("--type", "type_", metavar="TYPE",
              help="ClusterIP (the default), NodePort, LoadBalancer or ExternalName.")
@click.option("--name", help="The name of the service (default: the object's).")
@click.option("--protocol", help="TCP, UDP or SCTP (default: the object's, else TCP).")
@click.option("--selector", help="The pods the service sends to, k=v[,k2=v2] (default: the "
              "object's selector or, for a pod, its labels).")
@click.option("-l", "--labels", help="Labels of the service (default: the object's).")
@click.option("--cluster-ip", help="The ClusterIP to ask for, or None for a headless service.")
@click.option("--external-ip", help="An external IP the service also accepts.")
@click.option("--load-balancer-ip", help="The IP asked of a LoadBalancer.")
@click.option("--session-affinity", help="None or ClientIP.")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="yaml, json or name.")
@click.option("--dry-run", default="none", metavar="none|client|server",
              help="client: print the service without sending it.")
@common
def expose_cmd(args: tuple[str, ...], port: str | None, target_port: str | None,
               type_: str | None, name: str | None, protocol: str | None,
               selector: str | None, labels: str | None, cluster_ip: str | None,
               external_ip: str | None, load_balancer_ip: str | None,
               session_affinity: str | None, output_: str | None, dry_run: str) -> None:
    """Expose a deployment, replica set, pod or service as a new Service.

    \b
    Examples:
      minictl expose deployment nginx --port=80
      minictl expose deployment nginx --port=80 --target-port=8000 --type=NodePort
      minictl expose pod valid-pod --port=444 --name=frontend
      minictl expose service nginx --port=443 --target-port=8443 --name=nginx-https
    """
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    if dry_run not in ("none", "client", "server"):
        raise CliError(f'invalid dry-run value ({dry_run}). Must be "none", "server", or '
                       '"client".')
    info, obj_name = _target(args)
    can_be_exposed(info)
    obj = st.client.get(info.model, obj_name, st.namespace)
    default_name = obj_name[:DNS1035_LABEL_MAX_LENGTH]
    sel = selector or selector_for(obj)
    ports: list[str] = [port] if port else ports_for(obj)
    if not ports and cluster_ip != "None":
        raise CliError("couldn't find port via --port flag or introspection")
    svc = build_service(
        name=name or default_name, selector=sel, ports=ports,
        labels=labels or make_labels(obj.metadata.labels), protocol=protocol,
        protocols=protocols_for(obj), target_port=target_port, type_=type_,
        external_ip=external_ip, load_balancer_ip=load_balancer_ip,
        session_affinity=session_affinity, cluster_ip=cluster_ip)
    if dry_run == "client":
        if st.explicit_namespace:
            svc.metadata.namespace = st.namespace
    else:
        params: dict[str, Any] = {"dryRun": "All"} if dry_run == "server" else {}
        svc = _create(st.client, svc, st.namespace, params)
    if fmt in ("yaml", "json", "name"):
        output.print_objects([(resources.SERVICES, svc)], fmt, single=True)
        return
    suffix = {"client": " (dry run)", "server": " (server dry run)"}.get(dry_run, "")
    output.done(resources.SERVICES, svc.metadata.name or "", "exposed" + suffix)


def _create(client: Any, svc: Service, namespace: str, params: dict[str, Any]) -> Service:
    if not params:
        created: Service = client.create(svc, namespace)
        return created
    body = client.request("POST", resources.SERVICES.collection_path(namespace),
                          json=svc.to_dict(), params=params)
    return Service.model_validate(body)
