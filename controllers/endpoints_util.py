"""Pure functions of the Endpoints and EndpointSlice controllers: which pods belong in a
Service's endpoints, which port a ``targetPort`` names in each pod, the Endpoints
subsets (repacked as Kubernetes does), and which Services a pod change concerns.

Ported from Kubernetes: ``staging/src/k8s.io/endpointslice/util/controller_utils.go``
(ShouldPodBeInEndpoints, ShouldSetHostname, podEndpointsChanged,
GetPodUpdateProjectionKey/GetServicesToUpdate), ``staging/src/k8s.io/endpointslice/utils.go``
(FindPort), ``pkg/controller/endpoint/endpoints_controller.go`` (syncService's subset
building, addEndpointSubset, truncateEndpoints) and ``pkg/api/v1/endpoints/util.go``
(RepackSubsets, SortSubsets). Nothing here does I/O.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.models import Pod, Service, TypedObject
from api.models.core import (
    EndpointAddress,
    EndpointPort,
    EndpointSubset,
    ObjectReference,
    ServicePort,
)
from api.podutil import get_condition, is_pod_ready, is_terminal
from api.timeutil import format_time, parse_time_or_none
from client.cache import LABEL_INDEX, NAMESPACE_INDEX, IndexFunc, Store, meta_key

__all__ = [
    "MAX_CAPACITY",
    "SELECTOR_INDEX",
    "PortNotFound",
    "compute_subsets",
    "find_port",
    "is_service_ip_set",
    "pod_endpoints_changed",
    "pod_ips",
    "repack_subsets",
    "selector_index",
    "selector_index_keys_for_pod",
    "selects",
    "services_to_update",
    "should_pod_be_in_endpoints",
    "should_set_hostname",
    "subsets_equal",
    "truncate_subsets",
]

#: At most this many addresses in one Endpoints object (endpoints_controller.go maxCapacity);
#: beyond it the controller truncates and annotates ``endpoints.kubernetes.io/over-capacity``.
MAX_CAPACITY = 1000


class PortNotFound(LookupError):
    pass


# ---- services ---------------------------------------------------------------


def is_service_ip_set(svc: Service) -> bool:
    """helper.IsServiceIPSet: a ClusterIP that is neither empty nor ``None`` (headless)."""
    ip = svc.spec.cluster_ip
    return bool(ip) and ip != "None"


def selects(svc: Service, labels: Mapping[str, str] | None) -> bool:
    """labels.ValidatedSetSelector(spec.selector).Matches: a nil selector selects nothing,
    an empty one everything."""
    sel = svc.spec.selector
    if sel is None:
        return False
    have = labels or {}
    return all(have.get(k) == v for k, v in sel.items())


# The Service informer's index for "which Services may select this pod": a Service is
# filed under ``<ns>/<k>=<v>`` for the first key of its selector (every selected pod
# carries that label), or under ``<ns>/`` when its selector is empty (selects all).
# A pod event then looks at the Services filed under its own labels only, instead of
# every Service of the namespace as getServicesForPod does.
SELECTOR_INDEX = "spec.selector"


def selector_index(obj: TypedObject) -> list[str]:
    spec = getattr(obj, "spec", None)
    sel = getattr(spec, "selector", None)
    if not isinstance(sel, dict):
        return []
    ns = obj.metadata.namespace or ""
    if not sel:
        return [f"{ns}/"]
    k = min(sel)
    return [f"{ns}/{k}={sel[k]}"]


def selector_index_keys_for_pod(namespace: str, labels: Mapping[str, str] | None) -> list[str]:
    return [f"{namespace}/", *(f"{namespace}/{k}={v}" for k, v in (labels or {}).items())]


# ---- pods -------------------------------------------------------------------


def pod_ips(pod: Pod) -> list[str]:
    st = pod.status
    if st is None:
        return []
    ips = [p.ip for p in st.pod_ips or () if getattr(p, "ip", None)]
    if not ips and st.pod_ip:
        ips = [st.pod_ip]
    return ips


def should_pod_be_in_endpoints(pod: Pod, include_terminating: bool) -> bool:
    """ShouldPodBeInEndpoints: not terminal (Succeeded/Failed), has an IP, and is not
    being deleted unless ``include_terminating``."""
    if is_terminal(pod):
        return False
    if not pod_ips(pod):
        return False
    return include_terminating or pod.metadata.deletion_timestamp is None


def should_set_hostname(pod: Pod, svc: Service) -> bool:
    """ShouldSetHostname: the pod has a hostname and its subdomain is this Service."""
    return (bool(pod.spec.hostname) and pod.spec.subdomain == svc.metadata.name
            and svc.metadata.namespace == pod.metadata.namespace)


def find_port(pod: Pod, svc_port: ServicePort) -> int:
    """FindPort: a numeric targetPort as is (unset: the port itself, as defaulting does);
    a name is looked up among the pod's containers' ports (and its sidecars', init
    containers with restartPolicy Always) with the same protocol."""
    target = svc_port.target_port
    if target is None:
        return svc_port.port
    if isinstance(target, int):
        return target
    if target.isdigit():  # an IntOrString that arrived as a numeric string
        return int(target)
    proto = svc_port.protocol or "TCP"
    containers = [*pod.spec.containers,
                  *(c for c in pod.spec.init_containers or () if c.restart_policy == "Always")]
    for c in containers:
        for p in c.ports or ():
            if p.name == target and (p.protocol or "TCP") == proto:
                return p.container_port
    raise PortNotFound(f"no suitable port for manifest: {pod.metadata.uid}")


def _ready(pod: Pod) -> bool:
    return is_pod_ready(pod)


def pod_endpoints_changed(old: Pod, new: Pod) -> tuple[bool, bool]:
    """podEndpointsChanged: (the pod changed in a way that changes its endpoint,
    its labels/hostname/subdomain changed so that its Services may differ)."""
    labels_changed = (old.metadata.labels or {}) != (new.metadata.labels or {}) or \
        old.spec.hostname != new.spec.hostname or old.spec.subdomain != new.spec.subdomain
    if old.metadata.deletion_timestamp != new.metadata.deletion_timestamp:
        return True, labels_changed
    if _ready(old) != _ready(new):
        return True, labels_changed
    if pod_ips(old) != pod_ips(new):
        return True, labels_changed
    # not in Kubernetes' list (there a terminal pod also turns unready): a pod that
    # finishes leaves even a publishNotReadyAddresses Service
    if is_terminal(old) != is_terminal(new):
        return True, labels_changed
    return False, labels_changed


ServicesFor = Callable[[str, Mapping[str, str] | None], set[str]]


def services_to_update(services_for: ServicesFor, old: Pod | None, new: Pod | None
                       ) -> set[str]:
    """GetPodUpdateProjectionKey + GetServicesToUpdate: the keys of the Services whose
    endpoints a pod event may change. ``services_for(namespace, labels)`` returns the
    keys of the Services selecting such a pod. An add or a delete concerns the pod's
    Services; an update only when something endpoints show changed; a label change
    concerns the old Services too (all of them when the pod also changed, else only
    those it joined or left)."""
    if new is None and old is None:
        return set()
    if old is None or new is None:
        pod = new if new is not None else old
        assert pod is not None
        return services_for(pod.metadata.namespace or "", pod.metadata.labels)
    if old.metadata.resource_version == new.metadata.resource_version:
        return set()  # a resync: the Service informer's resync covers the Services
    pod_changed, labels_changed = pod_endpoints_changed(old, new)
    if not pod_changed and not labels_changed:
        return set()
    ns = new.metadata.namespace or ""
    now = services_for(ns, new.metadata.labels)
    if not labels_changed:
        return now
    before = services_for(ns, old.metadata.labels)
    if pod_changed:
        return now | before
    return now ^ before


# ---- Endpoints (core/v1) ----------------------------------------------------


def _ip_family(svc: Service, pod: Pod) -> int:
    fams = svc.spec.ip_families or []
    if fams:
        return 6 if fams[0] == "IPv6" else 4
    ip = svc.spec.cluster_ip if is_service_ip_set(svc) else (pod.status.pod_ip
                                                             if pod.status else None)
    try:
        return ipaddress.ip_address(ip or "").version
    except ValueError:
        return 4


def pod_to_endpoint_address(svc: Service, pod: Pod) -> EndpointAddress | None:
    """podToEndpointAddressForService: the pod's IP of the Service's family, its node and
    a targetRef; None when the pod has no IP of that family."""
    family = _ip_family(svc, pod)
    ip = None
    for cand in pod_ips(pod):
        try:
            if ipaddress.ip_address(cand).version == family:
                ip = cand
                break
        except ValueError:
            continue
    if ip is None:
        return None
    return EndpointAddress(
        ip=ip, node_name=pod.spec.node_name or None,
        hostname=pod.spec.hostname if should_set_hostname(pod, svc) else None,
        target_ref=ObjectReference(kind="Pod", namespace=pod.metadata.namespace,
                                   name=pod.metadata.name, uid=pod.metadata.uid))


@dataclass
class SubsetCounts:
    ready: int = 0
    not_ready: int = 0


def compute_subsets(svc: Service, pods: Iterable[Pod]) -> tuple[list[EndpointSubset],
                                                                  SubsetCounts]:
    """syncService's loop: one single-address subset per (pod, service port) (ready or
    not ready by the pod's Ready condition, everything ready with
    publishNotReadyAddresses; terminating pods only with publishNotReadyAddresses),
    named targetPorts resolved per pod (a port the pod lacks is skipped), then
    RepackSubsets. A headless Service without ports gets port-less subsets."""
    publish = bool(svc.spec.publish_not_ready_addresses)
    subsets: list[EndpointSubset] = []
    counts = SubsetCounts()
    ports = svc.spec.ports or []
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, publish):
            continue
        epa = pod_to_endpoint_address(svc, pod)
        if epa is None:
            continue
        ready = publish or is_pod_ready(pod)
        if not ports:
            if svc.spec.cluster_ip == "None":
                subsets.append(_one(epa, None, ready))
                counts.ready += ready
                counts.not_ready += not ready
            continue
        for sp in ports:
            try:
                num = find_port(pod, sp)
            except PortNotFound:
                continue
            epp = EndpointPort(name=sp.name, port=num, protocol=sp.protocol,
                               app_protocol=sp.app_protocol)
            subsets.append(_one(epa, epp, ready))
            counts.ready += ready
            counts.not_ready += not ready
    return repack_subsets(subsets), counts


def _one(epa: EndpointAddress, epp: EndpointPort | None, ready: bool) -> EndpointSubset:
    ports = [epp] if epp is not None else []
    if ready:
        return EndpointSubset(addresses=[epa], ports=ports)
    return EndpointSubset(not_ready_addresses=[epa], ports=ports)


_PortKey = tuple[str, int, str, str]


def _port_key(p: EndpointPort) -> _PortKey:
    return (p.name or "", p.port, p.protocol or "", p.app_protocol or "")


def _addr_key(a: EndpointAddress) -> tuple[str, str]:
    return (a.ip, (a.target_ref.uid or "") if a.target_ref else "")


def _ip_sort_key(a: EndpointAddress) -> tuple[int, int, str]:
    try:
        ip = ipaddress.ip_address(a.ip)
        return (ip.version, int(ip), _addr_key(a)[1])
    except ValueError:
        return (9, 0, a.ip)


def repack_subsets(subsets: Iterable[EndpointSubset]) -> list[EndpointSubset]:
    """endpoints.RepackSubsets: group addresses by the exact set of ports they serve, so
    that N pods x M ports become one subset per distinct port set. An address that is
    not ready for some port is not ready for all of them ("not ready always trumps
    ready"). Addresses with no ports keep a sentinel port set of their own.

    Sorting (SortSubsets) is by address IP and uid, ports by (name, port, protocol)
    and subsets by their first address: Kubernetes sorts by hashes of the Go values,
    an order nobody can rely on; ours is deterministic, which is all that matters
    for comparing the result with what is stored."""
    all_addrs: dict[tuple[str, str], EndpointAddress] = {}
    # port (None: the no-port sentinel) -> address key -> ready
    port_to_addrs: dict[_PortKey | None, dict[tuple[str, str], bool]] = {}
    port_obj: dict[_PortKey, EndpointPort] = {}

    def map_addr(addr: EndpointAddress, port: _PortKey | None, ready: bool) -> None:
        key = _addr_key(addr)
        all_addrs.setdefault(key, addr)
        seen = port_to_addrs.setdefault(port, {})
        if seen.get(key, True):
            seen[key] = ready

    for ss in subsets:
        ports: list[_PortKey | None] = []
        for p in ss.ports or ():
            key = _port_key(p)
            port_obj.setdefault(key, p)
            ports.append(key)
        if not ports:
            ports = [None]
        for port in ports:
            for a in ss.addresses or ():
                map_addr(a, port, True)
            for a in ss.not_ready_addresses or ():
                map_addr(a, port, False)

    # address sets -> the ports they serve
    groups: dict[frozenset[tuple[tuple[str, str], bool]], list[_PortKey]] = {}
    for maybe_port, addrs in port_to_addrs.items():
        group = groups.setdefault(frozenset(addrs.items()), [])
        if maybe_port is not None:
            group.append(maybe_port)
    final: list[EndpointSubset] = []
    for addrset, pks in groups.items():
        ready = sorted((all_addrs[k] for k, r in addrset if r), key=_ip_sort_key)
        not_ready = sorted((all_addrs[k] for k, r in addrset if not r), key=_ip_sort_key)
        final.append(EndpointSubset(
            addresses=ready or None, not_ready_addresses=not_ready or None,
            ports=[port_obj[pk] for pk in sorted(pks)] or None))
    final.sort(key=_subset_sort_key)
    return final


def _subset_sort_key(ss: EndpointSubset) -> tuple[tuple[int, int, str], list[_PortKey]]:
    addrs = ss.addresses or ss.not_ready_addresses
    return (_ip_sort_key(addrs[0]) if addrs else (0, 0, ""),
            [_port_key(p) for p in ss.ports or ()])


def _norm_ref(a: EndpointAddress) -> dict[str, object]:
    d = a.to_dict()
    ref = d.get("targetRef")
    if isinstance(ref, dict):
        ref.pop("resourceVersion", None)
    return d


def subsets_equal(a: Iterable[EndpointSubset] | None, b: Iterable[EndpointSubset] | None
                  ) -> bool:
    """endpointSubsetsEqualIgnoreResourceVersion: equal but for the targetRefs'
    resourceVersions (so that a pod update nobody sees in the endpoints writes nothing)."""
    def norm(ss: Iterable[EndpointSubset] | None) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for s in ss or ():
            out.append({
                "addresses": [_norm_ref(x) for x in s.addresses or ()],
                "notReadyAddresses": [_norm_ref(x) for x in s.not_ready_addresses or ()],
                "ports": [p.to_dict() for p in s.ports or ()],
            })
        return out
    return norm(a) == norm(b)


def count_addresses(subsets: Iterable[EndpointSubset] | None) -> int:
    return sum(len(s.addresses or ()) + len(s.not_ready_addresses or ()) for s in subsets or ())


def truncate_subsets(subsets: list[EndpointSubset]) -> bool:
    """truncateEndpoints: keep at most MAX_CAPACITY addresses, ready ones first, each
    subset keeping its share (rounded up); True when something was cut."""
    total_ready = sum(len(s.addresses or ()) for s in subsets)
    total_not_ready = sum(len(s.not_ready_addresses or ()) for s in subsets)
    if total_ready + total_not_ready <= MAX_CAPACITY:
        return False
    truncate_ready = total_ready > MAX_CAPACITY
    limit = MAX_CAPACITY if truncate_ready else MAX_CAPACITY - total_ready
    num_total = total_ready if truncate_ready else total_not_ready
    can_add = limit
    for s in subsets:
        n = len(s.addresses or ()) if truncate_ready else len(s.not_ready_addresses or ())
        to_add = min(math.ceil(n / num_total * limit), can_add) if num_total else 0
        if truncate_ready:
            s.addresses = (s.addresses or [])[:to_add] or None
            s.not_ready_addresses = None
            can_add -= len(s.addresses or ())
        else:
            s.not_ready_addresses = (s.not_ready_addresses or [])[:to_add] or None
            can_add -= len(s.not_ready_addresses or ())
    return True


# ---- cache helpers (no I/O: they read the informers' stores) -----------------


def services_for_pod(services: Store[Service], namespace: str,
                     labels: Mapping[str, str] | None) -> set[str]:
    """The keys of the Services in ``namespace`` selecting a pod with ``labels``, through
    the SELECTOR_INDEX (getServicesForPod without the scan of the namespace)."""
    out: set[str] = set()
    for k in selector_index_keys_for_pod(namespace, labels):
        for s in services.by_index(SELECTOR_INDEX, k):
            if selects(s, labels):
                out.add(meta_key(s))
    return out


def pods_for_service(pods: Store[Pod], svc: Service) -> list[Pod]:
    """The cached pods of the Service's namespace that its selector matches, through the
    label index on one of its pairs (the podLister's List(selector))."""
    sel = svc.spec.selector
    if sel is None:
        return []
    ns = svc.metadata.namespace or ""
    if sel:
        k = min(sel)
        pool = pods.by_index(LABEL_INDEX, f"{k}={sel[k]}")
    else:
        pool = pods.by_index(NAMESPACE_INDEX, ns)
    return sorted((p for p in pool if p.metadata.namespace == ns and selects(svc, p.metadata.labels)),
                  key=lambda p: p.metadata.name or "")


def ensure_index(store: Store[Any], name: str, fn: IndexFunc) -> None:
    """Add an index to a shared informer's store unless another controller did."""
    try:
        store.add_index(name, fn)
    except ValueError:
        pass


class WriteTracker:
    """What this controller wrote and has not seen back in its cache yet, per Service
    (the EndpointSliceTracker and staleEndpointsTracker of Kubernetes' controllers).

    After a write, the informer's cache is behind until the watch brings the write
    back; a reconcile that ran on it would undo or repeat the write (a second slice
    made with generateName, for one). So each write is recorded as (object name, the
    resourceVersion written, or DELETED), cleared when the cache shows it
    (``observed``), and ``stale(service key)`` says to retry later while any write of
    the Service is unseen. Entries also expire after ``ttl`` seconds, so that a watch
    that skipped past our write (a re-list after a newer write) cannot block a Service
    for ever. ``ours`` tells an informer event caused by our own write (no need to
    sync again) from someone else's change."""

    DELETED = ""

    def __init__(self, ttl: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        # service key -> object name -> (resourceVersion or DELETED, when)
        self._writes: dict[str, dict[str, tuple[str, float]]] = {}

    def wrote(self, service_key: str, name: str, rv: str | None, cached: TypedObject | None
              ) -> None:
        """Record a create/update (``rv`` from the answer) or a delete (``rv`` None);
        ``cached`` is what the cache holds for that name now (the watch may have been
        faster than the answer)."""
        rv = rv or self.DELETED
        if rv == self.DELETED and cached is None:
            return
        if rv != self.DELETED and cached is not None and cached.metadata.resource_version == rv:
            return
        self._writes.setdefault(service_key, {})[name] = (rv, self.clock())

    def observed(self, service_key: str | None, name: str, rv: str | None, deleted: bool
                 ) -> bool:
        """An informer event for ``name``; True when it was our own write."""
        if service_key is None:
            return False
        writes = self._writes.get(service_key)
        entry = writes.get(name) if writes else None
        if writes is None or entry is None:
            return False
        ours = entry[0] == (self.DELETED if deleted else rv)
        if ours or deleted:
            del writes[name]
            if not writes:
                del self._writes[service_key]
        return ours

    def stale(self, service_key: str) -> bool:
        writes = self._writes.get(service_key)
        if not writes:
            return False
        now = self.clock()
        for name, (_, when) in list(writes.items()):
            if now - when > self.ttl:
                del writes[name]
        if not writes:
            del self._writes[service_key]
            return False
        return True

    def forget(self, service_key: str) -> None:
        self._writes.pop(service_key, None)


class TriggerTimeTracker:
    """endpointsliceutil.TriggerTimeTracker: the time of the earliest change that the
    next Endpoints/EndpointSlice write reflects, for the
    ``endpoints.kubernetes.io/last-change-trigger-time`` annotation: a pod's is its
    Ready condition's lastTransitionTime, a Service's its creationTimestamp; a
    Service seen for the first time reports its creation. None: nothing new (the
    annotation is then removed)."""

    def __init__(self) -> None:
        self._pods: dict[str, dict[str, datetime]] = {}
        self._svc: dict[str, datetime | None] = {}

    def compute(self, key: str, svc: Service, pods: Iterable[Pod]) -> str | None:
        known = key in self._svc
        last_pods = self._pods.get(key, {})
        now_pods: dict[str, datetime] = {}
        earliest: datetime | None = None
        for p in pods:
            cond = get_condition(p.status.conditions if p.status else None, "Ready")
            t = parse_time_or_none(cond.last_transition_time if cond else None)
            if t is None:
                continue
            now_pods[p.metadata.name or ""] = t
            prev = last_pods.get(p.metadata.name or "")
            if prev is None or t > prev:
                earliest = t if earliest is None else min(earliest, t)
        created = parse_time_or_none(svc.metadata.creation_timestamp)
        prev_svc = self._svc.get(key)
        if created is not None and (prev_svc is None or created > prev_svc):
            earliest = created if earliest is None else min(earliest, created)
        self._pods[key] = now_pods
        self._svc[key] = created
        if not known:
            return svc.metadata.creation_timestamp
        return format_time(earliest) if earliest is not None else None

    def delete(self, key: str) -> None:
        self._pods.pop(key, None)
        self._svc.pop(key, None)
