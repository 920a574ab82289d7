"""What the policy agent programs, as pure functions of the cluster's pods, namespaces and
NetworkPolicies (no I/O): ipsets of addresses and iptables chains in the filter table.

One jump at the top of FORWARD leads to MK8S-NP-FORWARD. Replies of allowed connections
(conntrack ESTABLISHED,RELATED) return at once; a new connection goes through the egress
check of its source pod, then the ingress check of its destination pod. A check applies
only to pods that some policy of that direction selects (the ISO sets); for those, each
selecting policy's chain may set the allow bit of the packet mark, and a packet without
it is rejected. The chains only ever RETURN or REJECT, so traffic that is not to or from
a selected pod of this cluster is left to the rules after them (Docker's, kube-proxy's).

A policy's chains depend on its spec alone (peers and named ports are ipsets), so a pod
or namespace change rewrites set members only; a policy change rewrites its own chains.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from api.labels import EVERYTHING, Selector, SelectorError, from_label_selector

PREFIX = "MK8S-NP"
TOP_CHAIN = "MK8S-NP-FORWARD"
INGRESS_CHAIN = "MK8S-NP-INGRESS"
EGRESS_CHAIN = "MK8S-NP-EGRESS"
ISO_IN = "MK8S-NP-ISO-IN"  # pods some ingress policy selects
ISO_OUT = "MK8S-NP-ISO-OUT"  # pods some egress policy selects
ALLOW_BIT = "0x10000"
ALLOW_MARK = f"{ALLOW_BIT}/{ALLOW_BIT}"
JUMP_COMMENT = "minik8s network policies"
JUMP_ARGS = ("-m", "comment", "--comment", JUMP_COMMENT, "-j", TOP_CHAIN)
HASH_IP = "hash:ip"
HASH_NET = "hash:net"
HASH_IP_PORT = "hash:ip,port"
PROTOCOLS = ("TCP", "UDP", "SCTP")


def short_hash(text: str, n: int = 12) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:n]


@dataclass(frozen=True)
class PodInfo:
    """What policies look at in a pod: where it is, its labels, its named ports."""

    namespace: str
    name: str
    ip: str
    labels: Mapping[str, str]
    # (name, protocol, number) of every named container port
    ports: tuple[tuple[str, str, int], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class Peer:
    kind: str  # "pods" or "block"
    set_name: str
    pod_selector: Selector | None = None  # None: every pod of the namespaces
    ns_selector: Selector | None = None  # None: the policy's own namespace
    cidr: str = ""
    excepts: tuple[str, ...] = ()


@dataclass
class PortMatch:
    protocol: str
    port: int | None = None
    end_port: int | None = None
    name: str = ""  # a named port: its (ip, proto:port) set
    set_name: str = ""


@dataclass
class Rule:
    peers: list[Peer]
    ports: list[PortMatch]


@dataclass
class Policy:
    """A NetworkPolicy parsed once per change of its spec."""

    namespace: str
    name: str
    selector: Selector
    ingress: list[Rule] | None  # None: not an Ingress policy
    egress: list[Rule] | None
    target_set: str
    in_chain: str
    out_chain: str
    uses_ns_selector: bool = False
    egress_named: bool = False
    sets: dict[str, tuple[str, Any]] = field(default_factory=dict)  # name -> (type, source)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def _selector(raw: Any) -> Selector:
    try:
        return from_label_selector(raw if raw is not None else {})
    except SelectorError:
        from api.labels import NOTHING
        return NOTHING


def _peers(pol_key: str, where: str, raw: Any, policy: Policy) -> list[Peer]:
    out: list[Peer] = []
    for j, p in enumerate(raw or []):
        if not isinstance(p, Mapping):
            continue
        h = short_hash(f"{pol_key}/{where}/{j}")
        name = f"{PREFIX}S-{h}"
        block = p.get("ipBlock")
        if isinstance(block, Mapping):
            name = f"{PREFIX}B-{h}"
            peer = Peer("block", name, cidr=str(block.get("cidr") or ""),
                        excepts=tuple(str(e) for e in block.get("except") or ()))
            policy.sets[name] = (HASH_NET, peer)
        else:
            ps, nss = p.get("podSelector"), p.get("namespaceSelector")
            peer = Peer("pods", name,
                        pod_selector=None if ps is None else _selector(ps),
                        ns_selector=None if nss is None else _selector(nss))
            policy.uses_ns_selector |= nss is not None
            policy.sets[name] = (HASH_IP, peer)
        out.append(peer)
    return out


def _ports(pol_key: str, where: str, raw: Any, policy: Policy, egress: bool) -> list[PortMatch]:
    out: list[PortMatch] = []
    for j, p in enumerate(raw or []):
        if not isinstance(p, Mapping):
            continue
        proto = str(p.get("protocol") or "TCP")
        port = p.get("port")
        if isinstance(port, str):
            name = f"{PREFIX}N-{short_hash(f'{pol_key}/{where}/port/{j}')}"
            pm = PortMatch(proto, name=port, set_name=name)
            policy.sets[name] = (HASH_IP_PORT, (pm, egress))
            policy.egress_named |= egress
        elif isinstance(port, int):
            end = p.get("endPort")
            pm = PortMatch(proto, port, end if isinstance(end, int) and end > port else None)
        else:
            pm = PortMatch(proto)
        out.append(pm)
    return out


def parse_policy(obj: Mapping[str, Any]) -> Policy:
    """A NetworkPolicy (wire dict) in the terms the rules are written in."""
    md = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    ns, name = str(md.get("namespace") or ""), str(md.get("name") or "")
    key = f"{ns}/{name}"
    h = short_hash(key)
    types = spec.get("policyTypes") or (
        ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"])
    pol = Policy(ns, name, _selector(spec.get("podSelector")), None, None,
                 target_set=f"{PREFIX}T-{h}", in_chain=f"{PREFIX}-I-{h}",
                 out_chain=f"{PREFIX}-E-{h}")
    if "Ingress" in types:
        pol.ingress = [Rule(_peers(key, f"in/{i}", r.get("from"), pol),
                            _ports(key, f"in/{i}", r.get("ports"), pol, False))
                       for i, r in enumerate(spec.get("ingress") or [])
                       if isinstance(r, Mapping)]
    if "Egress" in types:
        pol.egress = [Rule(_peers(key, f"out/{i}", r.get("to"), pol),
                           _ports(key, f"out/{i}", r.get("ports"), pol, True))
                      for i, r in enumerate(spec.get("egress") or [])
                      if isinstance(r, Mapping)]
    pol.sets[pol.target_set] = (HASH_IP, None)
    return pol


def _port_args(pm: PortMatch, peer_dir: str) -> str:
    proto = pm.protocol.lower()
    if pm.set_name:
        return f"-p {proto} -m set --match-set {pm.set_name} dst,dst"
    if pm.port is None:
        return f"-p {proto}"
    rng = f"{pm.port}:{pm.end_port}" if pm.end_port else str(pm.port)
    return f"-p {proto} -m {proto} --dport {rng}"


def policy_chains(pol: Policy) -> dict[str, list[str]]:
    """The chains of one policy: each rule's peers x ports set the allow bit."""
    out: dict[str, list[str]] = {}
    for rules, chain, direction, peer_dir in ((pol.ingress, pol.in_chain, "ingress", "src"),
                                              (pol.egress, pol.out_chain, "egress", "dst")):
        if rules is None:
            continue
        lines: list[str] = []
        for i, rule in enumerate(rules):
            comment = f'-m comment --comment "{pol.key} {direction}[{i}]"'
            peers = [f"-m set --match-set {p.set_name} {peer_dir}" for p in rule.peers] or [""]
            ports = [_port_args(pm, peer_dir) for pm in rule.ports] or [""]
            for peer in peers:
                for port in ports:
                    parts = [f"-A {chain}", comment, peer, port,
                             f"-j MARK --set-xmark {ALLOW_MARK}"]
                    lines.append(" ".join(x for x in parts if x))
        out[chain] = lines
    return out


def dispatch_chains(policies: Iterable[Policy]) -> dict[str, list[str]]:
    """MK8S-NP-FORWARD, MK8S-NP-INGRESS and MK8S-NP-EGRESS over the given policies."""
    ps = sorted(policies, key=lambda p: p.key)
    top = [f"-A {TOP_CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
           f"-A {TOP_CHAIN} -j {EGRESS_CHAIN}", f"-A {TOP_CHAIN} -j {INGRESS_CHAIN}"]
    out = {TOP_CHAIN: top}
    for chain, iso, peer_dir, attr, what in (
            (INGRESS_CHAIN, ISO_IN, "dst", "ingress", "to"),
            (EGRESS_CHAIN, ISO_OUT, "src", "egress", "from")):
        lines = [f"-A {chain} -m set ! --match-set {iso} {peer_dir} -j RETURN",
                 f"-A {chain} -j MARK --set-xmark 0x0/{ALLOW_BIT}"]
        for p in ps:
            if getattr(p, attr) is not None:
                sub = p.in_chain if attr == "ingress" else p.out_chain
                lines.append(f"-A {chain} -m set --match-set {p.target_set} {peer_dir} "
                             f"-j {sub}")
        lines += [f"-A {chain} -m mark --mark {ALLOW_MARK} -j RETURN",
                  f'-A {chain} -m comment --comment "{attr} {what} a pod that no '
                  f'NetworkPolicy allows" -j REJECT']
        out[chain] = lines
    return out


# ---- set members ----------------------------------------------------------------------


class Cluster:
    """The pods (by namespace) and namespaces' labels the agent keeps."""

    def __init__(self) -> None:
        self.pods: dict[str, dict[str, PodInfo]] = {}
        self.ns_labels: dict[str, Mapping[str, str]] = {}

    def set_pod(self, pod: PodInfo) -> PodInfo | None:
        """Store ``pod``; the previous version, if any."""
        bucket = self.pods.setdefault(pod.namespace, {})
        old = bucket.get(pod.name)
        bucket[pod.name] = pod
        return old

    def delete_pod(self, namespace: str, name: str) -> PodInfo | None:
        bucket = self.pods.get(namespace)
        if not bucket:
            return None
        old = bucket.pop(name, None)
        if not bucket:
            del self.pods[namespace]
        return old

    def namespaces_matching(self, sel: Selector) -> list[str]:
        if sel is EVERYTHING:
            return list(self.pods)
        return [ns for ns in self.pods if sel.matches(self.ns_labels.get(ns, {}))]

    def all_pods(self) -> Iterable[PodInfo]:
        for bucket in self.pods.values():
            yield from bucket.values()


def _matching(pods: Iterable[PodInfo], sel: Selector | None) -> Iterable[PodInfo]:
    if sel is None or sel is EVERYTHING:
        return pods
    return (p for p in pods if sel.matches(p.labels))


def targets(pol: Policy, cluster: Cluster) -> list[PodInfo]:
    return list(_matching(cluster.pods.get(pol.namespace, {}).values(), pol.selector))


def _block_entries(peer: Peer) -> frozenset[str]:
    try:
        net = ipaddress.ip_network(peer.cidr, strict=False)
    except ValueError:
        return frozenset()
    if net.version != 4:
        return frozenset()
    # hash:net takes no /0: two halves instead
    nets = list(net.subnets(1)) if net.prefixlen == 0 else [net]
    out = {str(n) for n in nets}
    for ex in peer.excepts:
        try:
            e = ipaddress.ip_network(ex, strict=False)
        except ValueError:
            continue
        if e.version == 4 and e.prefixlen > 0:
            out.add(f"{e} nomatch")
    return frozenset(out)


def set_members(pol: Policy, cluster: Cluster,
                tgts: list[PodInfo] | None = None) -> dict[str, tuple[str, frozenset[str]]]:
    """Every set of ``pol`` with its entries now."""
    if tgts is None:
        tgts = targets(pol, cluster)
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for name, (typ, src) in pol.sets.items():
        entries: frozenset[str]
        if src is None:
            entries = frozenset(p.ip for p in tgts)
        elif isinstance(src, Peer):
            if src.kind == "block":
                entries = _block_entries(src)
            else:
                nss = ([pol.namespace] if src.ns_selector is None
                       else cluster.namespaces_matching(src.ns_selector))
                entries = frozenset(
                    p.ip for ns in nss
                    for p in _matching(cluster.pods.get(ns, {}).values(), src.pod_selector))
        else:
            pm, egress = src
            pool = cluster.all_pods() if egress else tgts
            proto = pm.protocol
            entries = frozenset(f"{p.ip},{proto.lower()}:{num}" for p in pool
                                for (n, pr, num) in p.ports if n == pm.name and pr == proto)
        out[name] = (typ, entries)
    return out


def affected_by_pod(pol: Policy, namespace: str) -> bool:
    """Whether a pod change in ``namespace`` may change the policy's sets."""
    return pol.namespace == namespace or pol.uses_ns_selector or pol.egress_named


def pod_info(obj: Any) -> PodInfo | None:
    """A Pod model's PodInfo, None while it has no address of its own (host network,
    not started, finished)."""
    md, spec, st = obj.metadata, obj.spec, obj.status
    if st is None or not st.pod_ip or (spec is not None and spec.host_network):
        return None
    if st.phase in ("Succeeded", "Failed"):
        return None
    try:
        ipaddress.IPv4Address(st.pod_ip)
    except ValueError:
        return None
    ports: list[tuple[str, str, int]] = []
    for c in (spec.containers if spec is not None else None) or []:
        for p in c.ports or []:
            if p.name:
                ports.append((p.name, p.protocol or "TCP", p.container_port))
    return PodInfo(md.namespace or "", md.name or "", st.pod_ip, dict(md.labels or {}),
                   tuple(ports))
