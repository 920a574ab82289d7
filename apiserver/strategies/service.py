"""Services and Endpoints (pkg/registry/core/service/strategy.go,
pkg/registry/core/endpoint/strategy.go) and the Table rows kubectl prints for them
(pkg/printers/internalversion/printers.go printService, printEndpoints).

A Service has a status subresource and no generation; create starts its status
empty. The ClusterIPs and NodePorts a Service holds are allocated and released
around the write by ``apiserver.services`` (the service REST storage's BeginCreate,
BeginUpdate and AfterDelete hooks), not here.
"""

from __future__ import annotations

from datetime import datetime

from api.printers import (
    format_endpoints,
    format_labels,
    or_none,
    service_cluster_ip,
    service_external_ip,
    service_ports,
)
from apiserver.strategies.base import AGE, NAME, JSONDict, Row, Strategy, age_of, column, name_of


def service_spec(svc: JSONDict) -> JSONDict:
    """The Service's spec dict (made when missing): what allocation and printing read."""
    spec = svc.get("spec")
    if not isinstance(spec, dict):
        spec = svc["spec"] = {}
    return spec


def service_port_dicts(svc: JSONDict) -> list[JSONDict]:
    """The Service's ports that are dicts (validation names the others)."""
    ports = service_spec(svc).get("ports")
    return [p for p in ports if isinstance(p, dict)] if isinstance(ports, list) else []


def _needs_cluster_ip(svc: JSONDict) -> bool:
    return service_spec(svc).get("type") != "ExternalName"


def _needs_node_port(svc: JSONDict) -> bool:
    """needsNodePort: the type holds NodePorts (allocateLoadBalancerNodePorts false
    only stops new ones being allocated; those held stay until the client removes them)."""
    return service_spec(svc).get("type") in ("NodePort", "LoadBalancer")


def _needs_hc_node_port(svc: JSONDict) -> bool:
    spec = service_spec(svc)
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def _externally_accessible(svc: JSONDict) -> bool:
    spec = service_spec(svc)
    t = spec.get("type")
    return t in ("LoadBalancer", "NodePort") or (t == "ClusterIP"
                                                 and bool(spec.get("externalIPs")))


def _node_ports(svc: JSONDict) -> list[object]:
    return [p.get("nodePort") or 0 for p in service_port_dicts(svc)]


def normalize_cluster_ips(new: JSONDict, old: JSONDict | None) -> None:
    """NormalizeClusterIPs (pkg/registry/core/service/strategy.go): clusterIP and
    clusterIPs[0] follow whichever of the two the client changed."""
    spec = service_spec(new)
    cip = spec.get("clusterIP") or ""
    ips = spec.get("clusterIPs") if isinstance(spec.get("clusterIPs"), list) else []
    if old is not None:
        ospec = service_spec(old)
        ocip = ospec.get("clusterIP") or ""
        oips = ospec.get("clusterIPs") if isinstance(ospec.get("clusterIPs"), list) else []
        if cip != ocip and ips == oips:
            # The client changed clusterIP only: clusterIPs follows it.
            if not cip:
                spec.pop("clusterIPs", None)
            elif not ips:
                spec["clusterIPs"] = [cip]
            else:
                spec["clusterIPs"] = [cip, *ips[1:]]
            return
        if ips != oips and cip == ocip and ips:
            spec["clusterIP"] = ips[0]
            return
    if cip and not ips:
        spec["clusterIPs"] = [cip]
    elif ips and not cip and isinstance(ips[0], str):
        spec["clusterIP"] = ips[0]


def drop_type_dependent_fields(new: JSONDict, old: JSONDict) -> None:
    """dropTypeDependentFields: a type change wipes what the new type does not use and
    the client did not change itself (the allocator releases what it held)."""
    spec, ospec = service_spec(new), service_spec(old)
    if _needs_cluster_ip(old) and not _needs_cluster_ip(new):
        if spec.get("clusterIP") == ospec.get("clusterIP") and \
                spec.get("clusterIPs") == ospec.get("clusterIPs"):
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        if spec.get("ipFamilies") == ospec.get("ipFamilies"):
            spec.pop("ipFamilies", None)
        if spec.get("ipFamilyPolicy") == ospec.get("ipFamilyPolicy"):
            spec.pop("ipFamilyPolicy", None)
    if _needs_node_port(old) and not _needs_node_port(new) and \
            _node_ports(new) == _node_ports(old):
        for p in service_port_dicts(new):
            p.pop("nodePort", None)
    if _needs_hc_node_port(old) and not _needs_hc_node_port(new) and \
            spec.get("healthCheckNodePort") == ospec.get("healthCheckNodePort"):
        spec.pop("healthCheckNodePort", None)
    if ospec.get("type") == "LoadBalancer" and spec.get("type") != "LoadBalancer":
        if spec.get("allocateLoadBalancerNodePorts") is not None and \
                spec.get("allocateLoadBalancerNodePorts") == \
                ospec.get("allocateLoadBalancerNodePorts"):
            spec.pop("allocateLoadBalancerNodePorts", None)
        if spec.get("loadBalancerClass") == ospec.get("loadBalancerClass"):
            spec.pop("loadBalancerClass", None)
    if _externally_accessible(old) and not _externally_accessible(new) and \
            spec.get("externalTrafficPolicy") == ospec.get("externalTrafficPolicy"):
        spec.pop("externalTrafficPolicy", None)
    if spec.get("type") != "LoadBalancer" and isinstance(new.get("status"), dict):
        new["status"].pop("loadBalancer", None)


def patch_allocated_values(new: JSONDict, old: JSONDict) -> None:
    """patchAllocatedValues (storage.go): a client that leaves out the clusterIP or the
    nodePorts the Service holds (``kubectl replace`` of its manifest) keeps them."""
    spec, ospec = service_spec(new), service_spec(old)
    if _needs_cluster_ip(old) and _needs_cluster_ip(new):
        if not spec.get("clusterIP") and ospec.get("clusterIP"):
            spec["clusterIP"] = ospec["clusterIP"]
        if not spec.get("clusterIPs") and ospec.get("clusterIPs"):
            spec["clusterIPs"] = list(ospec["clusterIPs"])
    if _needs_node_port(old) and _needs_node_port(new):
        used = {n for n in _node_ports(old) if n} & {n for n in _node_ports(new) if n}
        by_name = {p.get("name") or "": p.get("nodePort") for p in service_port_dicts(old)}
        for p in service_port_dicts(new):
            if not p.get("nodePort"):
                val = by_name.get(p.get("name") or "")
                if val and val not in used:
                    p["nodePort"] = val
    if _needs_hc_node_port(old) and _needs_hc_node_port(new) and \
            not spec.get("healthCheckNodePort") and ospec.get("healthCheckNodePort"):
        spec["healthCheckNodePort"] = ospec["healthCheckNodePort"]


class ServiceStrategy(Strategy):
    status_subresource = True
    # The service REST storage's Delete answers with the deleted Service.
    return_deleted_object = True
    columns = [NAME,
               column("Type", description="type determines how the Service is exposed. "
                      "Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, "
                      "NodePort, and LoadBalancer."),
               column("Cluster-IP", description="clusterIP is the IP address of the service "
                      "and is usually assigned randomly."),
               column("External-IP", description="externalIPs is a list of IP addresses for "
                      "which nodes in the cluster will also accept traffic for this service."),
               column("Port(s)", description="The list of ports that are exposed by this "
                      "service."),
               AGE,
               column("Selector", priority=1, description="Route service traffic to pods "
                      "with label keys and values matching this selector.")]

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {}
        normalize_cluster_ips(obj, None)

    def prepare_for_update(self, new: JSONDict, old: JSONDict) -> None:
        """PrepareForUpdate: status from the old Service, fields of a type it left
        dropped (dropTypeDependentFields), allocated values the client left out patched
        in from the old Service (patchAllocatedValues), clusterIP(s) kept in step."""
        super().prepare_for_update(new, old)
        drop_type_dependent_fields(new, old)
        patch_allocated_values(new, old)
        normalize_cluster_ips(new, old)

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        spec = obj.get("spec") or {}
        return [name_of(obj), str(spec.get("type") or ""), service_cluster_ip(obj),
                service_external_ip(obj), or_none(service_ports(spec.get("ports"))),
                age_of(obj, now), format_labels(spec.get("selector"))], []


class EndpointsStrategy(Strategy):
    spec_and_status = False  # subsets at the top level
    columns = [NAME,
               column("Endpoints", description="The set of all endpoints is the union of "
                      "all subsets."),
               AGE]

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        return [name_of(obj), format_endpoints(obj), age_of(obj, now)], []
