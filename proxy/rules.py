"""The iptables rules of the proxy, as text for ``iptables-restore`` (pure: no I/O).

A port of kube-proxy's ``syncProxyRules`` (kubernetes/kubernetes
pkg/proxy/iptables/proxier.go) for the nat and filter tables:

nat:
- ``KUBE-SERVICES`` (jumped to from PREROUTING and OUTPUT): one rule per service port and
  destination (cluster IP, external IPs, load-balancer IPs) to the port's chain, and last
  the jump to ``KUBE-NODEPORTS`` for local destinations.
- ``KUBE-SVC-<hash>``: the cluster policy chain; masquerades traffic from outside the
  cluster CIDR (when one is given), then ClientIP affinity (``-m recent --rcheck``), then
  picks an endpoint with ``-m statistic --mode random --probability 1/(n-i)``.
- ``KUBE-EXT-<hash>``: NodePort / external traffic: masquerade, then ``KUBE-SVC-<hash>``.
- ``KUBE-SEP-<hash>``: one per endpoint: masquerade hairpin traffic (a pod reaching itself
  through its Service), record affinity (``-m recent --set``), DNAT.
- ``KUBE-MARK-MASQ`` sets the mark, ``KUBE-POSTROUTING`` (from POSTROUTING) masquerades
  marked packets.

filter:
- ``KUBE-SERVICES`` (from OUTPUT and FORWARD, new connections): REJECT for service ports
  with no endpoints, so clients fail at once with "connection refused".
- ``KUBE-EXTERNAL-SERVICES`` (from INPUT and FORWARD): the same for node ports and external IPs.
- ``KUBE-FORWARD`` (from FORWARD): accept marked and established traffic, whatever the
  FORWARD policy (Docker sets it to DROP).

Chain names are kube-proxy's: ``KUBE-SVC-`` + the first 16 characters of
base32(sha256(``ns/name:port`` + protocol)), ``KUBE-SEP-`` the same over the endpoint too.

Partial sync (kube-proxy's ``tryPartialSync``): the top-level chains are rewritten every
time; the per-service chains only for the services in ``changed``. Unchanged service
chains are left as they are in the kernel (``iptables-restore --noflush`` does not touch
chains the input does not name). Chains no longer wanted are flushed and deleted.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from api.models import Service
from api.models.discovery import EndpointSlice

# chain names (pkg/proxy/iptables/proxier.go)
KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_FORWARD = "KUBE-FORWARD"
SVC_PREFIX = "KUBE-SVC-"
SVL_PREFIX = "KUBE-SVL-"
EXT_PREFIX = "KUBE-EXT-"
SEP_PREFIX = "KUBE-SEP-"
SERVICE_CHAIN_PREFIXES = (SVC_PREFIX, EXT_PREFIX, SEP_PREFIX, SVL_PREFIX, "KUBE-FW-")

NAT_TOP_CHAINS = (KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ)
FILTER_TOP_CHAINS = (KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD)

# kube-proxy's --iptables-masquerade-bit default 14
MASQUERADE_MARK = "0x4000"
# v1.DefaultClientIPServiceAffinitySeconds
DEFAULT_AFFINITY_SECONDS = 10800
NODEPORTS_COMMENT = '"kubernetes service nodeports; NOTE: this must be the last rule in this chain"'


@dataclass(frozen=True)
class JumpRule:
    """A rule in a built-in chain that sends traffic to ours (kube-proxy's iptablesJumpChains)."""

    table: str
    chain: str  # built-in: PREROUTING, OUTPUT, POSTROUTING, INPUT, FORWARD
    target: str
    comment: str
    extra: tuple[str, ...] = ()

    def args(self) -> list[str]:
        return ["-m", "comment", "--comment", self.comment, *self.extra, "-j", self.target]


_NEW = ("-m", "conntrack", "--ctstate", "NEW")
JUMP_RULES: tuple[JumpRule, ...] = (
    JumpRule("filter", "INPUT", KUBE_EXTERNAL_SERVICES,
             "kubernetes externally-visible service portals", _NEW),
    JumpRule("filter", "FORWARD", KUBE_EXTERNAL_SERVICES,
             "kubernetes externally-visible service portals", _NEW),
    JumpRule("filter", "FORWARD", KUBE_SERVICES, "kubernetes service portals", _NEW),
    JumpRule("filter", "OUTPUT", KUBE_SERVICES, "kubernetes service portals", _NEW),
    JumpRule("filter", "FORWARD", KUBE_FORWARD, "kubernetes forwarding rules"),
    JumpRule("nat", "OUTPUT", KUBE_SERVICES, "kubernetes service portals"),
    JumpRule("nat", "PREROUTING", KUBE_SERVICES, "kubernetes service portals"),
    JumpRule("nat", "POSTROUTING", KUBE_POSTROUTING, "kubernetes postrouting rules"),
)

GUARD_COMMENT = "minik8s-proxy: nothing addressed to the service range leaves this host"


LOCALNET_COMMENT = "block incoming localnet connections"
# kube-proxy's KUBE-FIREWALL rule for route_localnet: with 127/8 routable (so that a
# loopback load-balancer address can be DNATed to a pod), a packet from elsewhere
# addressed to 127/8 is still dropped, unless it is a reply or was DNATed by a rule.
LOCALNET_GUARD = ["!", "-s", "127.0.0.0/8", "-d", "127.0.0.0/8", "-m", "comment",
                  "--comment", LOCALNET_COMMENT, "-m", "conntrack", "!", "--ctstate",
                  "RELATED,ESTABLISHED,DNAT", "-j", "DROP"]


def guard_rules(service_cidr: str) -> list[tuple[str, list[str]]]:
    """The REJECT rules for the service range in filter OUTPUT and FORWARD (DESIGN.md
    "Address ranges"): the filter table sees packets after nat's DNAT, so what a Service
    rule translated no longer matches, and whatever is still addressed to the range (no
    Service, no port, or a rule missing) is refused at once instead of being routed out."""
    args = ["-d", service_cidr, "-m", "comment", "--comment", GUARD_COMMENT, "-j", "REJECT"]
    return [("OUTPUT", list(args)), ("FORWARD", list(args))]


@functools.lru_cache(maxsize=65536)
def _hash16(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def service_chain(port_name: str, protocol: str) -> str:
    """servicePortPolicyClusterChain: KUBE-SVC-<portProtoHash>."""
    return SVC_PREFIX + _hash16(port_name + protocol)


def local_chain(port_name: str, protocol: str) -> str:
    """servicePortPolicyLocalChainName: KUBE-SVL-<portProtoHash>."""
    return SVL_PREFIX + _hash16(port_name + protocol)


def external_chain(port_name: str, protocol: str) -> str:
    """serviceExternalChainName: KUBE-EXT-<portProtoHash>."""
    return EXT_PREFIX + _hash16(port_name + protocol)


def endpoint_chain(port_name: str, protocol: str, endpoint: str) -> str:
    """servicePortEndpointChainName: KUBE-SEP-<hash of port name, protocol, ip:port>."""
    return SEP_PREFIX + _hash16(port_name + protocol + endpoint)


def is_service_chain(name: str) -> bool:
    return name.startswith(SERVICE_CHAIN_PREFIXES)


@dataclass(frozen=True)
class ServicePortInfo:
    """One port of a proxied Service (kube-proxy's BaseServicePortInfo)."""

    namespace: str
    name: str
    port_name: str
    protocol: str  # TCP, UDP, SCTP
    cluster_ip: str
    port: int
    node_port: int = 0
    affinity_seconds: int = 0  # > 0: ClientIP session affinity
    external_ips: tuple[str, ...] = ()
    load_balancer_ips: tuple[str, ...] = ()
    external_local: bool = False  # externalTrafficPolicy Local
    health_check_node_port: int = 0

    @property
    def service_key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def name_string(self) -> str:
        """ServicePortName.String(): ``ns/name`` or ``ns/name:port``."""
        return self.service_key + (f":{self.port_name}" if self.port_name else "")

    @property
    def proto(self) -> str:
        return self.protocol.lower()

    @property
    def svc_chain(self) -> str:
        return service_chain(self.name_string, self.proto)

    @property
    def ext_chain(self) -> str:
        return external_chain(self.name_string, self.proto)

    @property
    def svl_chain(self) -> str:
        return local_chain(self.name_string, self.proto)

    @property
    def uses_external(self) -> bool:
        return bool(self.node_port or self.external_ips or self.load_balancer_ips)


@dataclass(frozen=True, order=True)
class EndpointInfo:
    ip: str
    port: int
    local: bool = False  # on a node this proxy serves (kube-proxy's IsLocal)

    def __str__(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


def service_ports(svc: Service) -> list[ServicePortInfo]:
    """The proxied ports of a Service; none for headless and ExternalName Services and for
    those without a cluster IP yet (kube-proxy's ServiceChangeTracker skips them)."""
    spec = svc.spec
    if spec.type == "ExternalName":
        return []
    cluster_ip = spec.cluster_ip or ""
    if not cluster_ip or cluster_ip == "None":
        return []
    try:
        if ipaddress.ip_address(cluster_ip).version != 4:
            return []
    except ValueError:
        return []
    affinity = 0
    if spec.session_affinity == "ClientIP":
        cfg = spec.session_affinity_config
        timeout = cfg.client_ip.timeout_seconds if cfg and cfg.client_ip else None
        affinity = timeout or DEFAULT_AFFINITY_SECONDS
    lb_ips: tuple[str, ...] = ()
    if spec.type == "LoadBalancer" and svc.status and svc.status.load_balancer:
        # an ingress point with ipMode Proxy is the load balancer's own (kube-proxy
        # leaves it alone: traffic reaches the node from the load balancer)
        lb_ips = tuple(i.ip for i in svc.status.load_balancer.ingress or []
                       if i.ip and i.ip_mode in (None, "VIP"))
    external = spec.type in ("NodePort", "LoadBalancer") or bool(spec.external_ips)
    external_local = external and spec.external_traffic_policy == "Local"
    hc_port = (spec.health_check_node_port or 0) if spec.type == "LoadBalancer" and \
        external_local else 0
    out = []
    for p in spec.ports or []:
        node_port = (p.node_port or 0) if spec.type in ("NodePort", "LoadBalancer") else 0
        out.append(ServicePortInfo(
            namespace=svc.metadata.namespace or "default", name=svc.metadata.name or "",
            port_name=p.name or "", protocol=(p.protocol or "TCP").upper(),
            cluster_ip=cluster_ip, port=p.port, node_port=node_port,
            affinity_seconds=affinity, external_ips=tuple(spec.external_ips or ()),
            load_balancer_ips=lb_ips, external_local=external_local,
            health_check_node_port=hc_port))
    return out


def slice_endpoints(slices: Iterable[EndpointSlice], port_name: str,
                    protocol: str, local_nodes: Iterable[str] = ()) -> list[EndpointInfo]:
    """The endpoints of one service port from its EndpointSlices (kube-proxy's
    EndpointSliceCache): ready endpoints; when none is ready, the serving terminating ones
    (ProxyTerminatingEndpoints); one per ip:port, sorted. Those whose nodeName is one of
    ``local_nodes`` are local."""
    local_nodes = frozenset(local_nodes)
    ready: set[EndpointInfo] = set()
    terminating: set[EndpointInfo] = set()
    for sl in slices:
        if sl.address_type != "IPv4":
            continue
        for sp in sl.ports or []:
            if (sp.name or "") != port_name or (sp.protocol or "TCP").upper() != protocol:
                continue
            if not sp.port:
                continue
            for ep in sl.endpoints:
                if not ep.addresses:
                    continue
                cond = ep.conditions
                is_ready = cond is None or cond.ready is None or cond.ready
                serving = cond is None or (cond.serving if cond.serving is not None
                                           else is_ready)
                info = EndpointInfo(ep.addresses[0], sp.port,
                                    bool(ep.node_name) and ep.node_name in local_nodes)
                if is_ready and not (cond and cond.terminating):
                    ready.add(info)
                elif serving and cond and cond.terminating:
                    terminating.add(info)
    return sorted(ready or terminating)


@dataclass
class ProxyConfig:
    cluster_cidr: str = ""  # empty: no local-traffic detection (kube-proxy's default)
    masquerade_all: bool = False
    # None: node ports on every local address except 127.0.0.0/8 (addrtype LOCAL);
    # else only these addresses (kube-proxy's --nodeport-addresses, resolved to local IPs)
    nodeport_ips: tuple[str, ...] | None = None


@dataclass
class Ruleset:
    """One sync's ``iptables-restore`` input and what it leaves in the kernel."""

    text: str
    active_nat_chains: set[str]
    written_service_chains: int = 0  # KUBE-SVC/EXT/SEP chains in the text
    deleted_chains: int = 0
    rules: int = 0
    services_written: set[str] = field(default_factory=set)
    top: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)



@dataclass
class PortRules:
    """What one service port contributes to a sync (memoized: unchanged ports cost a lookup)."""

    nat_svcs: list[str] = field(default_factory=list)
    nat_nodeports: list[str] = field(default_factory=list)
    filter_svcs: list[str] = field(default_factory=list)
    filter_ext: list[str] = field(default_factory=list)
    chains: list[str] = field(default_factory=list)  # its own chains' lines
    rules: list[str] = field(default_factory=list)  # their rules
    active: set[str] = field(default_factory=set)


@functools.lru_cache(maxsize=16384)
def port_rules(sp: ServicePortInfo, eps: tuple[EndpointInfo, ...], cluster_cidr: str,
               masquerade_all: bool) -> PortRules:
    """One port's rules (the loop body of kube-proxy's syncProxyRules). Callers must not
    change the result."""
    out = PortRules()
    name = sp.name_string
    proto = sp.proto
    match = f"-m {proto} -p {proto}"
    svc_chain = sp.svc_chain
    ext_chain = sp.ext_chain
    ep_chains = [endpoint_chain(name, proto, str(ep)) for ep in eps]
    # externalTrafficPolicy Local: external traffic from elsewhere goes to this node's
    # endpoints only (KUBE-SVL), and is dropped when it has none
    local = [(ep, c) for ep, c in zip(eps, ep_chains, strict=True) if ep.local] \
        if sp.external_local else []
    svl_chain = sp.svl_chain
    no_external = sp.external_local and bool(eps) and not local
    if eps:
        out.active.add(svc_chain)
        out.active.update(ep_chains)
        if sp.uses_external:
            out.active.add(ext_chain)
        if local:
            out.active.add(svl_chain)
    cluster_ip = " ".join(_comment(f"{name} cluster IP"))
    no_eps = " ".join(_comment(f"{name} has no endpoints"))
    no_local = " ".join(_comment(f"{name} has no local endpoints"))

    # ---- top-level chains
    if eps:
        out.nat_svcs.append(f"-A {KUBE_SERVICES} {cluster_ip} {match} -d {sp.cluster_ip} "
                            f"--dport {sp.port} -j {svc_chain}")
    else:
        out.filter_svcs.append(f"-A {KUBE_SERVICES} {no_eps} {match} -d {sp.cluster_ip} "
                               f"--dport {sp.port} -j REJECT")
    for kind, ips in (("external IP", sp.external_ips),
                      ("loadbalancer IP", sp.load_balancer_ips)):
        for ip in ips:
            if eps:
                c = " ".join(_comment(f"{name} {kind}"))
                out.nat_svcs.append(f"-A {KUBE_SERVICES} {c} {match} -d {ip} "
                                    f"--dport {sp.port} -j {ext_chain}")
            if not eps or no_external:
                out.filter_ext.append(f"-A {KUBE_EXTERNAL_SERVICES} "
                                      f"{no_local if eps else no_eps} {match} -d {ip} "
                                      f"--dport {sp.port} -j {'DROP' if eps else 'REJECT'}")
    if sp.node_port:
        if eps:
            out.nat_nodeports.append(f"-A {KUBE_NODEPORTS} {' '.join(_comment(name))} "
                                     f"{match} --dport {sp.node_port} -j {ext_chain}")
        if not eps or no_external:
            out.filter_ext.append(f"-A {KUBE_EXTERNAL_SERVICES} "
                                  f"{no_local if eps else no_eps} -m addrtype "
                                  f"--dst-type LOCAL {match} --dport {sp.node_port} "
                                  f"-j {'DROP' if eps else 'REJECT'}")

    if not eps:
        return out

    # ---- the service's own chains (partial sync: only when it changed)
    out.chains.append(f":{svc_chain} - [0:0]")
    args = f"{cluster_ip} {match} -d {sp.cluster_ip} --dport {sp.port}"
    if masquerade_all:
        out.rules.append(f"-A {svc_chain} {args} -j {KUBE_MARK_MASQ}")
    elif cluster_cidr:
        out.rules.append(f"-A {svc_chain} {args} ! -s {cluster_cidr} -j {KUBE_MARK_MASQ}")
    if sp.uses_external:
        out.chains.append(f":{ext_chain} - [0:0]")
        if not sp.external_local:
            c = " ".join(_comment(f"masquerade traffic for {name} external destinations"))
            out.rules.append(f"-A {ext_chain} {c} -j {KUBE_MARK_MASQ}")
            out.rules.append(f"-A {ext_chain} -j {svc_chain}")
        else:
            # pods and this host reach it as through the cluster policy (up to an
            # external load balancer and back in); the host's traffic masqueraded, as
            # its source is a local address (a loopback one for a loopback LB address)
            if cluster_cidr:
                c = " ".join(_comment(f"pod traffic for {name} external destinations"))
                out.rules.append(f"-A {ext_chain} {c} -s {cluster_cidr} -j {svc_chain}")
            c = " ".join(_comment(f"masquerade LOCAL traffic for {name} external "
                                  "destinations"))
            out.rules.append(f"-A {ext_chain} {c} -m addrtype --src-type LOCAL "
                             f"-j {KUBE_MARK_MASQ}")
            c = " ".join(_comment(f"route LOCAL traffic for {name} external destinations"))
            out.rules.append(f"-A {ext_chain} {c} -m addrtype --src-type LOCAL "
                             f"-j {svc_chain}")
            if local:
                out.rules.append(f"-A {ext_chain} -j {svl_chain}")
    # writeServiceToEndpointRules
    _to_endpoints(out.rules, name, svc_chain, list(zip(eps, ep_chains, strict=True)),
                  sp.affinity_seconds)
    if local:
        out.chains.append(f":{svl_chain} - [0:0]")
        _to_endpoints(out.rules, name, svl_chain, local, sp.affinity_seconds)
    short = " ".join(_comment(name))
    for ep, ep_chain in zip(eps, ep_chains, strict=True):
        out.chains.append(f":{ep_chain} - [0:0]")
        out.rules.append(f"-A {ep_chain} {short} -s {ep.ip} -j {KUBE_MARK_MASQ}")
        recent = (f" -m recent --name {ep_chain} --set" if sp.affinity_seconds else "")
        out.rules.append(f"-A {ep_chain} {short}{recent} {match} -j DNAT "
                         f"--to-destination {ep}")
    return out

def _to_endpoints(rules: list[str], name: str, chain: str,
                  eps: list[tuple[EndpointInfo, str]], affinity_seconds: int) -> None:
    """writeServiceToEndpointRules: affinity first, then a random pick of the endpoints."""
    comments = [" ".join(_comment(f"{name} -> {ep}")) for ep, _ in eps]
    if affinity_seconds:
        for (_, ep_chain), c in zip(eps, comments, strict=True):
            rules.append(f"-A {chain} {c} -m recent --name {ep_chain} --rcheck "
                         f"--seconds {affinity_seconds} --reap -j {ep_chain}")
    n = len(eps)
    for i, ((_, ep_chain), c) in enumerate(zip(eps, comments, strict=True)):
        if i < n - 1:
            rules.append(f"-A {chain} {c} -m statistic --mode random "
                         f"--probability {1.0 / (n - i):0.10f} -j {ep_chain}")
        else:
            rules.append(f"-A {chain} {c} -j {ep_chain}")


def _comment(text: str) -> list[str]:
    return ["-m", "comment", "--comment", f'"{text}"' if " " in text else text]


def build(ports: Sequence[ServicePortInfo], endpoints: Mapping[str, list[EndpointInfo]],
          config: ProxyConfig, *, changed: set[str] | None = None,
          stale_chains: Iterable[str] = (),
          previous_top: Mapping[tuple[str, str], tuple[str, ...]] | None = None,
          node_ips: Sequence[str] = ()) -> Ruleset:
    """The whole restore input for one sync.

    ``ports``: every proxied service port; ``endpoints``: by ``name_string``;
    ``changed``: the ``ns/name`` of the services whose chains must be rewritten (None: all,
    a full sync); ``stale_chains``: chains that exist in the kernel (or that an earlier
    sync made) and are deleted unless still wanted; ``previous_top``: the last sync's
    ``top``, so that a partial sync leaves alone the top-level chains whose rules did not
    change (kube-proxy rewrites them on every sync; its nftables mode does not);
    ``node_ips``: the Nodes' InternalIPs, where node ports answer too (besides this host's
    local addresses or ``--nodeport-addresses``).
    """
    nat_chains: list[str] = []
    nat_rules: list[str] = []
    # the top-level chains' rules, per chain: written when they differ from ``previous_top``
    top: dict[tuple[str, str], list[str]] = {
        **{("filter", c): [] for c in FILTER_TOP_CHAINS},
        **{("nat", c): [] for c in NAT_TOP_CHAINS}}
    nat_svcs = top["nat", KUBE_SERVICES]
    nat_nodeports = top["nat", KUBE_NODEPORTS]
    filter_svcs = top["filter", KUBE_SERVICES]
    filter_ext = top["filter", KUBE_EXTERNAL_SERVICES]
    active: set[str] = set(NAT_TOP_CHAINS)
    written: set[str] = set()
    svc_chains_written = 0
    mark = f"{MASQUERADE_MARK}/{MASQUERADE_MARK}"

    # KUBE-POSTROUTING: masquerade what KUBE-MARK-MASQ marked, once
    top["nat", KUBE_POSTROUTING] += [
        f"-A {KUBE_POSTROUTING} -m mark ! --mark {mark} -j RETURN",
        f"-A {KUBE_POSTROUTING} -j MARK --xor-mark {MASQUERADE_MARK}",
        f'-A {KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring '
        f'SNAT" -j MASQUERADE --random-fully',
    ]
    top["nat", KUBE_MARK_MASQ].append(f"-A {KUBE_MARK_MASQ} -j MARK --or-mark {MASQUERADE_MARK}")
    top["filter", KUBE_FORWARD] += [
        f'-A {KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" '
        f"-m mark --mark {mark} -j ACCEPT",
        f'-A {KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" '
        f"-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ]

    for sp in sorted(ports, key=lambda p: (p.service_key, p.port_name, p.protocol)):
        pr = port_rules(sp, tuple(endpoints.get(sp.name_string, ())), config.cluster_cidr,
                        config.masquerade_all)
        nat_svcs += pr.nat_svcs
        nat_nodeports += pr.nat_nodeports
        filter_svcs += pr.filter_svcs
        filter_ext += pr.filter_ext
        active |= pr.active
        if changed is None or sp.service_key in changed:
            written.add(sp.service_key)
            nat_chains += pr.chains
            nat_rules += pr.rules
            svc_chains_written += len(pr.chains)

    # the node ports, last in KUBE-SERVICES: the Nodes' addresses, then the local ones
    for ip in node_ips:
        if ip not in (config.nodeport_ips or ()):
            nat_svcs.append(f"-A {KUBE_SERVICES} -m comment --comment {NODEPORTS_COMMENT} "
                            f"-d {ip} -j {KUBE_NODEPORTS}")
    if config.nodeport_ips is None:
        nat_svcs.append(f"-A {KUBE_SERVICES} -m comment --comment {NODEPORTS_COMMENT} "
                        f"-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j {KUBE_NODEPORTS}")
    else:
        for ip in config.nodeport_ips:
            nat_svcs.append(f"-A {KUBE_SERVICES} -m comment --comment {NODEPORTS_COMMENT} "
                            f"-d {ip} -j {KUBE_NODEPORTS}")

    # top-level chains: always on a full sync; on a partial one only those whose rules
    # changed (rewriting a 1,000-rule KUBE-SERVICES that did not change costs ~100 ms)
    filter_chains: list[str] = []
    filter_rules: list[str] = []
    top_chains: list[str] = []
    top_rules: list[str] = []
    n_rules = len(nat_rules)
    for (table, chain), lines in top.items():
        n_rules += len(lines)
        if changed is not None and previous_top is not None and \
                previous_top.get((table, chain)) == tuple(lines):
            continue
        if table == "filter":
            filter_chains.append(f":{chain} - [0:0]")
            filter_rules += lines
        else:
            top_chains.append(f":{chain} - [0:0]")
            top_rules += lines
    nat_chains = top_chains + nat_chains
    nat_rules = top_rules + nat_rules

    deleted = 0
    for chain in sorted(set(stale_chains)):
        if chain in active or not is_service_chain(chain):
            continue
        nat_chains.append(f":{chain} - [0:0]")
        nat_rules.append(f"-X {chain}")
        deleted += 1

    # a table with nothing to write is left out (iptables-restore would still load it)
    flt = ["*filter", *filter_chains, *filter_rules, "COMMIT"] if filter_chains else []
    nat = ["*nat", *nat_chains, *nat_rules, "COMMIT"] if nat_chains or nat_rules else []
    text = "\n".join([*flt, *nat, ""])
    return Ruleset(text=text, active_nat_chains=active,
                   written_service_chains=svc_chains_written, deleted_chains=deleted,
                   rules=n_rules, services_written=written,
                   top={k: tuple(v) for k, v in top.items()})
