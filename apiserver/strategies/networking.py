"""networking.k8s.io/v1 Ingresses and IngressClasses (pkg/registry/networking/ingress and
ingressclass): an Ingress has a status subresource and a generation; an IngressClass's
parameters scope defaults to Cluster (SetDefaults_IngressClass); Tables as printers.go's
printIngress and printIngressClass."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apiserver.strategies.base import AGE, NAME, JSONDict, Row, Strategy, age_of, column, name_of

_LOAD_BALANCER_WIDTH = 16


def ingress_hosts(rules: Any) -> str:
    """formatHosts: up to three hosts, then '+ N more...'; '*' when none."""
    rs = rules if isinstance(rules, list) else []
    hosts: list[str] = []
    more = False
    for r in rs:
        if len(hosts) == 3:
            more = True
        host = r.get("host") if isinstance(r, dict) else None
        if not more and host:
            hosts.append(str(host))
    if not hosts:
        return "*"
    out = ",".join(hosts)
    return f"{out} + {len(rs) - 3} more..." if more else out


def ingress_address(status: Any, wide: bool = False) -> str:
    """ingressLoadBalancerStatusStringer."""
    lb = (status or {}).get("loadBalancer") if isinstance(status, dict) else None
    items = (lb or {}).get("ingress") if isinstance(lb, dict) else None
    out = []
    for i in items if isinstance(items, list) else []:
        if not isinstance(i, dict):
            continue
        if i.get("ip"):
            out.append(str(i["ip"]))
        elif i.get("hostname"):
            out.append(str(i["hostname"]))
    r = ",".join(out)
    if not wide and len(r) > _LOAD_BALANCER_WIDTH:
        r = r[: _LOAD_BALANCER_WIDTH - 3] + "..."
    return r


def ingress_ports(tls: Any) -> str:
    return "80, 443" if isinstance(tls, list) and tls else "80"


class IngressStrategy(Strategy):
    status_subresource = True
    has_generation = True
    columns = [NAME,
               column("Class", description="The name of the IngressClass resource that "
                      "should be used for ingress"),
               column("Hosts", description="Hosts that incoming requests are matched "
                      "against before the ingress rule"),
               column("Address", description="Address is a list containing ingress points "
                      "for the load-balancer"),
               column("Ports", description="Ports of TLS configurations that open"),
               AGE]

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"loadBalancer": {}}

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        cls = spec.get("ingressClassName")
        return [name_of(obj), "<none>" if cls is None else str(cls),
                ingress_hosts(spec.get("rules")), ingress_address(obj.get("status")),
                ingress_ports(spec.get("tls")), age_of(obj, now)], []


def class_parameters(spec: Any) -> str:
    params = spec.get("parameters") if isinstance(spec, dict) else None
    if not isinstance(params, dict):
        return "<none>"
    kind = str(params.get("kind") or "")
    if params.get("apiGroup") is not None:
        kind = f"{kind}.{params['apiGroup']}"
    return f"{kind}/{params.get('name') or ''}"


class IngressClassStrategy(Strategy):
    columns = [NAME,
               column("Controller", description="Controller that is responsible for "
                      "handling this class"),
               column("Parameters", description="A reference to a resource with additional "
                      "parameters"),
               AGE]

    def default(self, obj: JSONDict) -> None:
        super().default(obj)
        spec = obj.get("spec")
        params = spec.get("parameters") if isinstance(spec, dict) else None
        if isinstance(params, dict) and params.get("scope") is None:
            params["scope"] = "Cluster"

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        return [name_of(obj), str(spec.get("controller") or ""), class_parameters(spec),
                age_of(obj, now)], []
