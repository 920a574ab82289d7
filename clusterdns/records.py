"""What the cluster's names stand for: CoreDNS's kubernetes plugin, ported.

The store keeps the Services, EndpointSlices and Namespaces the informers deliver, and
``records(name)`` answers with the plugin's ``msg.Service`` items, as
coredns plugin/kubernetes/kubernetes.go ``Records``/``findServices``/``findPods`` and
parse.go ``parseRequest`` do:

- ``<svc>.<ns>.svc.<zone>``: the ClusterIP (one item per port, deduplicated into one A
  later); a headless Service's ready endpoints; an ExternalName Service's CNAME target.
- ``<endpoint>.<svc>.<ns>.svc.<zone>``: the endpoint whose hostname (or dashed IP, as
  ``endpointHostname``) is ``<endpoint>``: the name of a pod with ``hostname`` and
  ``subdomain`` behind a headless Service.
- ``_<port>._<proto>.<svc>.<ns>.svc.<zone>``: the named port (SRV).
- ``<a-b-c-d>.<ns>.pod.<zone>``: the IP itself (``pods insecure``, kubeadm's Corefile).

The plugin's errors are kept apart: ``NameError`` is its errNoItems / errNsNotExposed /
errInvalidRequest (the server answers NXDOMAIN), an empty list is NODATA (NOERROR with
the zone's SOA). EndpointSlices become the plugin's Endpoints as object/endpoint.go
``endpointSliceToEndpoints`` makes them: only endpoints whose ``ready`` is unset or
true, and a port -1 sentinel for a slice without ports (an A record but no SRV).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field

from api.models import Namespace
from api.models.core import Service
from api.models.discovery import EndpointSlice

SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # discovery.LabelServiceName
NO_PORT = -1


class NameError_(Exception):
    """The name does not exist (the plugin's IsNameError): NXDOMAIN."""


@dataclass(frozen=True)
class Item:
    """One answer item (coredns msg.Service): ``host`` is an IP or, for an ExternalName
    Service, the name a CNAME points at; ``name`` is the DNS name the item stands for
    (the SRV target and the owner of the additional A record)."""

    host: str
    port: int
    name: str
    protocol: str = ""

    @property
    def is_ip(self) -> bool:
        return _ip(self.host) is not None


@dataclass(frozen=True)
class _Port:
    name: str
    protocol: str
    port: int


@dataclass(frozen=True)
class _Address:
    ip: str
    hostname: str  # set, or ""


@dataclass
class _Slice:
    service: str  # the kubernetes.io/service-name label
    ports: tuple[_Port, ...]
    addresses: tuple[_Address, ...]


@dataclass
class _Svc:
    namespace: str
    name: str
    type: str
    cluster_ips: tuple[str, ...]  # () for headless and ExternalName
    headless: bool
    external_name: str
    ports: tuple[_Port, ...]


@dataclass
class _Request:
    """parse.go recordRequest."""

    pod_or_svc: str = ""
    namespace: str = ""
    service: str = ""
    endpoint: str = ""
    port: str = ""
    protocol: str = ""


def _ip(s: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(s)
    except ValueError:
        return None


def endpoint_hostname(addr: _Address) -> str:
    """kubernetes.go endpointHostname: the hostname, else the IP with dashes."""
    if addr.hostname:
        return addr.hostname
    if "." in addr.ip:
        return addr.ip.replace(".", "-")
    h = addr.ip.replace(":", "-")
    return h + "0" if h.endswith("-") else h


def _match_port(want_port: str, port: str, want_proto: str, proto: str) -> bool:
    """matchPortAndProtocol: an empty wanted value matches anything, case-insensitively."""
    return ((not want_port or want_port.lower() == port.lower())
            and (not want_proto or want_proto.lower() == proto.lower()))


def _strip_underscore(s: str) -> str:
    return s[1:] if s.startswith("_") else s


def _ports(ports: list[object] | None, default_proto: str) -> tuple[_Port, ...]:
    out = []
    for p in ports or []:
        port = getattr(p, "port", None)
        out.append(_Port(name=getattr(p, "name", None) or "",
                         protocol=getattr(p, "protocol", None) or default_proto,
                         port=port if isinstance(port, int) else NO_PORT))
    return tuple(out)


@dataclass
class ClusterRecords:
    """The plugin's view of the cluster, fed by informer handlers (all synchronous)."""

    zone: str = "cluster.local"
    namespaces: set[str] = field(default_factory=set)
    services: dict[tuple[str, str], _Svc] = field(default_factory=dict)
    # (namespace, service) -> slice name -> slice
    slices: dict[tuple[str, str], dict[str, _Slice]] = field(default_factory=dict)
    _slice_owner: dict[tuple[str, str], str] = field(default_factory=dict)
    _by_cluster_ip: dict[str, tuple[str, str]] = field(default_factory=dict)  # SvcIndexReverse
    generation: int = 0  # bumped on every change: a cache of answers keys on it
    serial: int = 0  # the SOA serial: unix time of the last change, as the plugin

    def __post_init__(self) -> None:
        self.zone = self.zone.strip(".").lower()

    # ---- feeding ----------------------------------------------------------------

    def _changed(self) -> None:
        self.generation += 1
        self.serial = int(time.time())

    def set_namespace(self, ns: Namespace) -> None:
        if ns.metadata.name:
            self.namespaces.add(ns.metadata.name)
            self._changed()

    def delete_namespace(self, ns: Namespace) -> None:
        self.namespaces.discard(ns.metadata.name or "")
        self._changed()

    def set_service(self, svc: Service) -> None:
        m, spec = svc.metadata, svc.spec
        ns, name = m.namespace or "default", m.name or ""
        type_ = spec.type or "ClusterIP"
        ips = [ip for ip in (spec.cluster_ips or ([spec.cluster_ip] if spec.cluster_ip else []))
               if ip and ip != "None"]
        headless = type_ != "ExternalName" and (spec.cluster_ip == "None" or not ips)
        self._unindex((ns, name))
        svc_ = self.services[(ns, name)] = _Svc(
            namespace=ns, name=name, type=type_,
            cluster_ips=() if type_ == "ExternalName" else tuple(ips), headless=headless,
            external_name=(spec.external_name or "").rstrip("."),
            ports=_ports(list(spec.ports or []), "TCP"))
        for ip in svc_.cluster_ips:
            self._by_cluster_ip[ip] = (ns, name)
        self._changed()

    def _unindex(self, key: tuple[str, str]) -> None:
        old = self.services.get(key)
        for ip in old.cluster_ips if old else ():
            if self._by_cluster_ip.get(ip) == key:
                del self._by_cluster_ip[ip]

    def delete_service(self, svc: Service) -> None:
        key = (svc.metadata.namespace or "default", svc.metadata.name or "")
        self._unindex(key)
        self.services.pop(key, None)
        self._changed()

    def set_slice(self, es: EndpointSlice) -> None:
        m = es.metadata
        ns, name = m.namespace or "default", m.name or ""
        svc = (m.labels or {}).get(SERVICE_NAME_LABEL, "")
        old = self._slice_owner.get((ns, name))
        if old is not None and old != svc:
            self.slices.get((ns, old), {}).pop(name, None)
        addrs = tuple(_Address(ip=a, hostname=e.hostname or "")
                      for e in es.endpoints
                      if e.conditions is None or e.conditions.ready is not False
                      for a in e.addresses)
        ports = _ports(list(es.ports or []), "TCP") or (_Port("", "", NO_PORT),)
        self.slices.setdefault((ns, svc), {})[name] = _Slice(svc, ports, addrs)
        self._slice_owner[(ns, name)] = svc
        self._changed()

    def delete_slice(self, es: EndpointSlice) -> None:
        ns, name = es.metadata.namespace or "default", es.metadata.name or ""
        svc = self._slice_owner.pop((ns, name), None)
        if svc is not None:
            group = self.slices.get((ns, svc), {})
            group.pop(name, None)
            if not group:
                self.slices.pop((ns, svc), None)
        self._changed()

    # ---- lookups ----------------------------------------------------------------

    def in_zone(self, name: str) -> bool:
        n = name.rstrip(".").lower()
        return n == self.zone or n.endswith("." + self.zone)

    def parse(self, name: str) -> _Request:
        """parse.go parseRequest (without the multicluster and zonal forms)."""
        n = name.rstrip(".").lower()
        base = "" if n == self.zone else n[:-(len(self.zone) + 1)]
        r = _Request()
        if base in ("", "svc", "pod"):
            return r
        segs = base.split(".")
        last = len(segs) - 1
        r.pod_or_svc = segs[last]
        if r.pod_or_svc not in ("pod", "svc"):
            raise NameError_(name)
        last -= 1
        if last < 0:
            return r
        r.namespace = segs[last]
        last -= 1
        if last < 0:
            return r
        r.service = segs[last]
        last -= 1
        if last < 0:
            return r
        if last == 0:
            r.endpoint = segs[0]
        elif last == 1:
            r.protocol = _strip_underscore(segs[1])
            r.port = _strip_underscore(segs[0])
        else:
            raise NameError_(name)
        return r

    def records(self, name: str) -> list[Item]:
        """kubernetes.go Records: the items ``name`` stands for; [] is NODATA; raises
        NameError_ for NXDOMAIN."""
        r = self.parse(name)
        if not r.pod_or_svc:
            return []
        if r.namespace not in self.namespaces:
            raise NameError_(name)
        if r.pod_or_svc == "pod":
            return self._pods(r)
        return self._services(r)

    def _pods(self, r: _Request) -> list[Item]:
        """findPods in ``pods insecure`` mode: the name's dashed IP, when it is one."""
        if not r.service:
            return []
        pod = r.service
        if pod.count("-") == 3 and "--" not in pod:
            ip = pod.replace("-", ".")
        else:
            ip = pod.replace("-", ":")
        if _ip(ip) is None or r.endpoint or r.port:
            raise NameError_(pod)
        return [Item(host=ip, port=NO_PORT,
                     name=f"{pod}.{r.namespace}.pod.{self.zone}")]

    def _services(self, r: _Request) -> list[Item]:
        """findServices."""
        if not r.service:
            return []
        svc = self.services.get((r.namespace, r.service))
        if svc is None:
            raise NameError_(r.service)
        base = f"{svc.name}.{svc.namespace}.svc.{self.zone}"
        out: list[Item] = []
        if svc.type == "ExternalName":
            # No endpoints, no port/protocol labels; an IP as externalName is no CNAME.
            if r.endpoint or r.port or r.protocol or not svc.external_name \
                    or _ip(svc.external_name) is not None:
                raise NameError_(r.service)
            return [Item(host=svc.external_name, port=NO_PORT, name=base)]
        if svc.headless or r.endpoint:
            for sl in self.slices.get((svc.namespace, svc.name), {}).values():
                for addr in sl.addresses:
                    host = endpoint_hostname(addr)
                    if r.endpoint and r.endpoint != host.lower():
                        continue
                    for p in sl.ports:
                        if not _match_port(r.port, p.name, r.protocol, p.protocol):
                            continue
                        out.append(Item(host=addr.ip, port=p.port, name=f"{host}.{base}",
                                        protocol=p.protocol))
            if not out:
                raise NameError_(r.service)
            return out
        for p in svc.ports:
            if not _match_port(r.port, p.name, r.protocol, p.protocol):
                continue
            for ip in svc.cluster_ips:
                out.append(Item(host=ip, port=p.port, name=base, protocol=p.protocol))
        if not out:
            raise NameError_(r.service)
        return out

    def reverse(self, ip: str) -> list[str]:
        """reverse.go serviceRecordForIP: the Service whose ClusterIP is ``ip``, else each
        ready endpoint with that IP as ``<hostname>.<svc>.<ns>.svc.<zone>``."""
        key = self._by_cluster_ip.get(ip)
        if key is not None:
            return [f"{key[1]}.{key[0]}.svc.{self.zone}"]
        out = []
        for (ns, svc_name), group in self.slices.items():
            for sl in group.values():
                for addr in sl.addresses:
                    if addr.ip == ip:
                        out.append(f"{endpoint_hostname(addr)}.{svc_name}.{ns}.svc.{self.zone}")
        return out
