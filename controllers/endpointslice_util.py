"""Pure functions of the EndpointSlice controller: a pod as an Endpoint, the slices a
Service should have, and the smallest set of creates, updates and deletes that gets
there from the slices it has.

Ported from Kubernetes' ``staging/src/k8s.io/endpointslice``: ``reconciler.go``
(Reconcile, reconcileByAddressType, reconcileByPortMapping, finalize's turning creates
into updates of slices about to be deleted, the placeholder slice), ``utils.go``
(podToEndpoint, getEndpointPorts, newEndpointSlice, getEndpointSlicePrefix, ownedBy,
getSliceToFill, setEndpointSliceLabels, getAddressTypesForService) and
``util/endpointset.go`` (endpoints keyed by addresses, hostname and the pod they
point at). Topology hints and traffic distribution are left out (one zone). Nothing
here does I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from api import wellknown as wk
from api.models import ObjectMeta, OwnerReference, Pod, Service
from api.models.core import ObjectReference
from api.models.discovery import Endpoint, EndpointConditions, EndpointSlice, EndpointSlicePort
from api.podutil import is_pod_ready
from controllers.endpoints_util import (
    PortNotFound,
    find_port,
    is_service_ip_set,
    pod_ips,
    should_pod_be_in_endpoints,
    should_set_hostname,
)

__all__ = [
    "MAX_ENDPOINTS_PER_SLICE",
    "SlicePlan",
    "address_types_for_service",
    "endpoint_key",
    "endpoint_ports",
    "endpoints_equal_beyond_hash",
    "get_slice_to_fill",
    "new_endpoint_slice",
    "owned_by",
    "plan_slices",
    "pod_to_endpoint",
    "port_map_key",
    "service_key_of_slice",
    "slice_labels",
]

#: --max-endpoints-per-slice's default in kube-controller-manager.
MAX_ENDPOINTS_PER_SLICE = 100

PortMapKey = tuple[tuple[str, int, str, str], ...]
EndpointKey = tuple[tuple[str, ...], str, str, str]


# ---- one endpoint -----------------------------------------------------------


def _family_of(ip: str) -> str | None:
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return None


def pod_to_endpoint(pod: Pod, svc: Service, address_type: str = "IPv4") -> Endpoint:
    """podToEndpoint: the pod's addresses of ``address_type``; serving = Ready;
    terminating = being deleted; ready = serving and not terminating, or always with
    publishNotReadyAddresses; nodeName, targetRef, and hostname when the pod's
    subdomain is this Service."""
    serving = is_pod_ready(pod)
    terminating = pod.metadata.deletion_timestamp is not None
    ready = bool(svc.spec.publish_not_ready_addresses) or (serving and not terminating)
    return Endpoint(
        addresses=[str(ipaddress.ip_address(ip)) for ip in pod_ips(pod)
                   if _family_of(ip) == address_type],
        conditions=EndpointConditions(ready=ready, serving=serving, terminating=terminating),
        target_ref=ObjectReference(kind="Pod", namespace=pod.metadata.namespace,
                                   name=pod.metadata.name, uid=pod.metadata.uid),
        node_name=pod.spec.node_name or None,
        hostname=pod.spec.hostname if should_set_hostname(pod, svc) else None,
    )


def endpoint_ports(svc: Service, pod: Pod) -> list[EndpointSlicePort]:
    """getEndpointPorts: each Service port resolved in this pod (a named targetPort the
    pod lacks is left out); none for a headless Service without ports."""
    out: list[EndpointSlicePort] = []
    for sp in svc.spec.ports or ():
        try:
            num = find_port(pod, sp)
        except PortNotFound:
            continue
        out.append(EndpointSlicePort(name=sp.name or "", port=num, protocol=sp.protocol or "TCP",
                                     app_protocol=sp.app_protocol))
    return out


def port_map_key(ports: Iterable[EndpointSlicePort] | None) -> PortMapKey:
    """NewPortMapKey: slices group by their exact (order-free) port list."""
    return tuple(sorted((p.name or "", p.port or 0, p.protocol or "", p.app_protocol or "")
                        for p in ports or ()))


def endpoint_key(ep: Endpoint) -> EndpointKey:
    """endpointset.go hashEndpoint: an endpoint is its addresses, hostname and pod; the
    rest (conditions, node) is compared by endpoints_equal_beyond_hash."""
    ref = ep.target_ref
    return (tuple(sorted(ep.addresses)), ep.hostname or "",
            (ref.namespace or "") if ref else "", (ref.name or "") if ref else "")


def _ref_tuple(ref: ObjectReference | None) -> tuple[str | None, ...] | None:
    if ref is None:
        return None
    return (ref.kind, ref.namespace, ref.name, ref.uid, ref.api_version, ref.field_path)


def endpoints_equal_beyond_hash(a: Endpoint, b: Endpoint) -> bool:
    """EndpointsEqualBeyondHash: node, zone, the three conditions and the targetRef
    (without its resourceVersion)."""
    ca = a.conditions or EndpointConditions()
    cb = b.conditions or EndpointConditions()
    return (a.node_name == b.node_name and a.zone == b.zone and ca.ready == cb.ready
            and ca.serving == cb.serving and ca.terminating == cb.terminating
            and _ref_tuple(a.target_ref) == _ref_tuple(b.target_ref))


# ---- slices -----------------------------------------------------------------


def address_types_for_service(svc: Service) -> list[str]:
    """getAddressTypesForService: from spec.ipFamilies; without them, the ClusterIP's
    family. A headless Service without ipFamilies gets IPv4 only, where Kubernetes
    assumes both families (for clusters being upgraded to dual stack): this cluster is
    single-stack IPv4 (DESIGN.md's ranges), and an IPv6 slice would stay an empty
    placeholder for ever."""
    fams = [f for f in svc.spec.ip_families or () if f in ("IPv4", "IPv6")]
    if fams:
        return sorted(set(fams))
    if is_service_ip_set(svc):
        return [_family_of(svc.spec.cluster_ip or "") or "IPv4"]
    return ["IPv4"]


def slice_prefix(service_name: str) -> str:
    """getEndpointSlicePrefix: ``<svc>-`` unless that is too long a name."""
    prefix = f"{service_name}-"
    return prefix if len(prefix) <= 253 - 5 else service_name


def owned_by(slice_: EndpointSlice, svc: Service) -> bool:
    return any(o.uid == svc.metadata.uid and o.kind == "Service" and o.api_version == "v1"
               for o in slice_.metadata.owner_references or ())


def _reserved(key: str) -> bool:
    return key in (wk.LABEL_SERVICE_NAME, wk.LABEL_MANAGED_BY, wk.IS_HEADLESS_SERVICE_LABEL)


def slice_labels(slice_: EndpointSlice, svc: Service,
                 controller_name: str = wk.ENDPOINTSLICE_CONTROLLER_NAME
                 ) -> tuple[dict[str, str], bool]:
    """setEndpointSliceLabels: the Service's labels (but the reserved ones) plus
    kubernetes.io/service-name, the managed-by label and, for a Service without a
    ClusterIP, service.kubernetes.io/headless; and whether the slice's differ."""
    ep_labels = {k: v for k, v in (slice_.metadata.labels or {}).items() if not _reserved(k)}
    svc_labels = {k: v for k, v in (svc.metadata.labels or {}).items() if not _reserved(k)}
    updated = ep_labels != svc_labels
    if not is_service_ip_set(svc):
        svc_labels[wk.IS_HEADLESS_SERVICE_LABEL] = ""
    svc_labels[wk.LABEL_SERVICE_NAME] = svc.metadata.name or ""
    svc_labels[wk.LABEL_MANAGED_BY] = controller_name
    return svc_labels, updated


def service_owner_reference(svc: Service) -> OwnerReference:
    """metav1.NewControllerRef(service, v1 Service)."""
    return OwnerReference(api_version="v1", kind="Service", name=svc.metadata.name or "",
                          uid=svc.metadata.uid or "", controller=True,
                          block_owner_deletion=True)


def new_endpoint_slice(svc: Service, ports: list[EndpointSlicePort], address_type: str,
                       controller_name: str = wk.ENDPOINTSLICE_CONTROLLER_NAME
                       ) -> EndpointSlice:
    """newEndpointSlice: ``generateName: <svc>-``, owned (controller) by the Service."""
    s = EndpointSlice(
        metadata=ObjectMeta(generate_name=slice_prefix(svc.metadata.name or ""),
                            namespace=svc.metadata.namespace,
                            owner_references=[service_owner_reference(svc)], labels={}),
        address_type=address_type, endpoints=[], ports=list(ports))
    s.metadata.labels, _ = slice_labels(s, svc, controller_name)
    return s


def service_key_of_slice(slice_: EndpointSlice) -> str | None:
    """ServiceControllerKey: ``<ns>/<kubernetes.io/service-name>``."""
    name = (slice_.metadata.labels or {}).get(wk.LABEL_SERVICE_NAME)
    return f"{slice_.metadata.namespace}/{name}" if name else None


def get_slice_to_fill(slices: Sequence[EndpointSlice], num_endpoints: int,
                      max_endpoints: int) -> EndpointSlice | None:
    """getSliceToFill: the slice that ``num_endpoints`` more would bring closest to full."""
    closest_diff = max_endpoints
    closest: EndpointSlice | None = None
    for s in slices:
        diff = max_endpoints - (num_endpoints + len(s.endpoints))
        if 0 <= diff < closest_diff:
            closest_diff, closest = diff, s
            if diff == 0:
                break
    return closest


# ---- the plan ---------------------------------------------------------------


@dataclass
class SlicePlan:
    to_create: list[EndpointSlice] = field(default_factory=list)
    to_update: list[EndpointSlice] = field(default_factory=list)
    to_delete: list[EndpointSlice] = field(default_factory=list)
    added: int = 0
    removed: int = 0

    @property
    def empty(self) -> bool:
        return not (self.to_create or self.to_update or self.to_delete)


def _pop(desired: dict[EndpointKey, Endpoint]) -> Endpoint:
    return desired.pop(next(iter(desired)))


def _reconcile_by_port_mapping(svc: Service, existing: list[EndpointSlice],
                               desired: dict[EndpointKey, Endpoint],
                               ports: list[EndpointSlicePort], address_type: str,
                               max_per_slice: int, controller_name: str) -> SlicePlan:
    """reconcileByPortMapping: (1) keep the desired endpoints in the slices that have
    them, updating changed ones and dropping the rest (a slice left empty goes); (2)
    top up the slices already being updated, fullest first; (3) put what is left in
    the one unchanged slice it fills best, else in new slices of up to max_per_slice."""
    by_name: dict[str, EndpointSlice] = {}
    unchanged: list[str] = []
    to_update: list[str] = []
    to_delete: list[str] = []
    removed = 0
    for s in existing:
        name = s.metadata.name or ""
        by_name[name] = s
        kept: list[Endpoint] = []
        changed = False
        for ep in s.endpoints:
            got = desired.pop(endpoint_key(ep), None)
            if got is not None:
                kept.append(got)
                if not endpoints_equal_beyond_hash(got, ep):
                    changed = True
        labels, labels_changed = slice_labels(s, svc, controller_name)
        if changed or len(kept) != len(s.endpoints):
            removed += max(0, len(s.endpoints) - len(kept))
            if not kept:
                to_delete.append(name)
            else:
                copy = s.copy_deep()
                copy.endpoints = kept
                copy.metadata.labels = labels
                by_name[name] = copy
                to_update.append(name)
        elif labels_changed:
            copy = s.copy_deep()
            copy.metadata.labels = labels
            by_name[name] = copy
            to_update.append(name)
        else:
            unchanged.append(name)
    added = len(desired)

    if desired and to_update:
        for s in sorted((by_name[n] for n in to_update), key=lambda x: -len(x.endpoints)):
            while desired and len(s.endpoints) < max_per_slice:
                s.endpoints.append(_pop(desired))

    to_create: list[EndpointSlice] = []
    while desired:
        fill: EndpointSlice | None = None
        if len(desired) < max_per_slice and unchanged:
            fill = get_slice_to_fill([by_name[n] for n in unchanged], len(desired),
                                     max_per_slice)
        if fill is None:
            fill = new_endpoint_slice(svc, ports, address_type, controller_name)
        else:
            fill = fill.copy_deep()
            by_name[fill.metadata.name or ""] = fill
        while desired and len(fill.endpoints) < max_per_slice:
            fill.endpoints.append(_pop(desired))
        if fill.metadata.name:
            to_update.append(fill.metadata.name)
            unchanged.remove(fill.metadata.name)
        else:
            to_create.append(fill)
    return SlicePlan(to_create, [by_name[n] for n in to_update], [by_name[n] for n in to_delete],
                     added, removed)


def _is_placeholder_of(s: EndpointSlice, placeholder: EndpointSlice) -> bool:
    """placeholderSliceCompare: same namespace, labels, owners, and no endpoints or ports."""
    def owners(x: EndpointSlice) -> list[dict[str, object]]:
        return [o.to_dict() for o in x.metadata.owner_references or ()]
    return (s.metadata.namespace == placeholder.metadata.namespace
            and (s.metadata.labels or {}) == (placeholder.metadata.labels or {})
            and owners(s) == owners(placeholder) and not s.endpoints and not s.ports
            and s.address_type == placeholder.address_type)


def plan_slices(svc: Service, pods: Iterable[Pod], existing: Iterable[EndpointSlice], *,
                max_per_slice: int = MAX_ENDPOINTS_PER_SLICE,
                controller_name: str = wk.ENDPOINTSLICE_CONTROLLER_NAME) -> SlicePlan:
    """Reconcile + reconcileByAddressType + finalize's create/delete pairing, without
    the writes: what to create, update and delete so that ``existing`` (the slices this
    controller manages for ``svc``) hold every pod that belongs in them (terminating
    ones too, with their conditions), grouped by port list, at most ``max_per_slice``
    per slice, changing as few slices as it can. A Service with no endpoints keeps one
    empty placeholder slice. Slices not owned by this Service (a namesake's leftovers)
    and of address types the Service no longer has are deleted."""
    pods = list(pods)
    types = address_types_for_service(svc)
    plan = SlicePlan()
    by_type: dict[str, list[EndpointSlice]] = {}
    for s in existing:
        if s.address_type not in types:
            plan.to_delete.append(s)
        else:
            by_type.setdefault(s.address_type, []).append(s)
    for address_type in types:
        sub = _plan_address_type(svc, pods, by_type.get(address_type, []), address_type,
                                 max_per_slice, controller_name)
        plan.to_create += sub.to_create
        plan.to_update += sub.to_update
        plan.to_delete += sub.to_delete
        plan.added += sub.added
        plan.removed += sub.removed
    return plan


def _plan_address_type(svc: Service, pods: list[Pod], existing: list[EndpointSlice],
                       address_type: str, max_per_slice: int, controller_name: str
                       ) -> SlicePlan:
    to_delete: list[EndpointSlice] = []
    existing_by_ports: dict[PortMapKey, list[EndpointSlice]] = {}
    for s in existing:
        if owned_by(s, svc):
            existing_by_ports.setdefault(port_map_key(s.ports), []).append(s)
        else:
            to_delete.append(s)

    desired_ports: dict[PortMapKey, list[EndpointSlicePort]] = {}
    desired_eps: dict[PortMapKey, dict[EndpointKey, Endpoint]] = {}
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, True):
            continue
        ports = endpoint_ports(svc, pod)
        key = port_map_key(ports)
        desired_ports.setdefault(key, ports)
        eps = desired_eps.setdefault(key, {})
        ep = pod_to_endpoint(pod, svc, address_type)
        if ep.addresses:
            eps[endpoint_key(ep)] = ep

    plan = SlicePlan()
    for key, eps in desired_eps.items():
        sub = _reconcile_by_port_mapping(svc, existing_by_ports.get(key, []), eps,
                                         desired_ports[key], address_type, max_per_slice,
                                         controller_name)
        plan.to_create += sub.to_create
        plan.to_update += sub.to_update
        to_delete += sub.to_delete
        plan.added += sub.added
        plan.removed += sub.removed
    for key, slices in existing_by_ports.items():
        if key not in desired_eps:
            to_delete += slices
            plan.removed += sum(len(s.endpoints) for s in slices)

    if len(existing) == len(to_delete) and not plan.to_create:
        placeholder = new_endpoint_slice(svc, [], address_type, controller_name)
        if len(to_delete) == 1 and _is_placeholder_of(to_delete[0], placeholder):
            to_delete = []
        else:
            plan.to_create.append(placeholder)

    # finalize: rather than create one slice and delete another, update the latter
    i = 0
    while i < len(to_delete) and plan.to_create:
        doomed = to_delete[i]
        new = plan.to_create[-1]
        if doomed.address_type == new.address_type and owned_by(doomed, svc):
            new.metadata.name = doomed.metadata.name
            new.metadata.generate_name = None
            new.metadata.resource_version = doomed.metadata.resource_version
            new.metadata.annotations = doomed.metadata.annotations
            plan.to_create.pop()
            plan.to_update.append(new)
            to_delete.pop(i)
        else:
            i += 1
    plan.to_delete = to_delete
    return plan
