"""What the policy agent programs, as pure functions of the cluster's pods, namespaces and
NetworkPolicies (no I/O): ipsets of addresses and iptables chains in the filter table.

One jump at the top of FORWARD leads to MK8S-NP-FORWARD. Replies of allowed connections
(conntrack ESTABLISHED,RELATED) return at once; a new connection goes through the egress
check of its source pod, then the ingress check of its destination pod. A check applies
only to pods that some policy of that direction selects (the ISO sets); for those, each
selecting policy's chain may set the allow bit of the packet mark, and a packet without
it is rejected. The chains only ever RETURN or REJECT, so traffic that is not to or from
a selected pod of this cluster is left to the rules after them (Docker's, kube-proxy's).

A policy's chains depend on its spec alone (peers and named ports are ipsets, named by
their content and shared by the policies that use the same peers), so a pod or namespace
change adds and deletes set members only; a policy change rewrites its own chains.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from api.labels import EVERYTHING, NOTHING, Selector, SelectorError, from_label_selector

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


@dataclass(frozen=True)
class SetDef:
    """What one ipset holds, named by its content so that policies with the same peers
    share it. ``kind``: ``pods`` (addresses of pods matching ``pod_sel`` in ``namespace``,
    or in the namespaces matching ``ns_sel`` when ``all_ns``), ``block`` (a CIDR with its
    excepts as nomatch entries) or ``named`` (address,protocol:port of the pods so selected
    that have a container port of that name)."""

    kind: str
    namespace: str = ""
    all_ns: bool = False
    pod_sel: str = ""  # the selector as canonical JSON ("" = every pod)
    ns_sel: str = ""
    cidr: str = ""
    excepts: tuple[str, ...] = ()
    port_name: str = ""
    protocol: str = ""
    pod_selector: Selector = field(default=EVERYTHING, compare=False, hash=False)
    ns_selector: Selector = field(default=EVERYTHING, compare=False, hash=False)

    @property
    def ipset_type(self) -> str:
        return {"pods": HASH_IP, "block": HASH_NET, "named": HASH_IP_PORT}[self.kind]

    @cached_property
    def name(self) -> str:
        tag = {"pods": "S", "block": "B", "named": "N"}[self.kind]
        ident = (self.kind, self.namespace, self.all_ns, self.pod_sel, self.ns_sel, self.cidr,
                 self.excepts, self.port_name, self.protocol)
        return f"{PREFIX}{tag}-{short_hash(repr(ident), 16)}"

    def selects(self, pod: PodInfo, ns_labels: Mapping[str, Mapping[str, str]]) -> bool:
        if self.all_ns:
            if not self.ns_selector.matches(ns_labels.get(pod.namespace, {})):
                return False
        elif pod.namespace != self.namespace:
            return False
        return self.pod_selector.matches(pod.labels)

    def entries(self, pod: PodInfo | None,
                ns_labels: Mapping[str, Mapping[str, str]]) -> frozenset[str]:
        """The entries ``pod`` puts in the set."""
        if pod is None or self.kind == "block" or not self.selects(pod, ns_labels):
            return frozenset()
        if self.kind == "pods":
            return frozenset((pod.ip,))
        return frozenset(f"{pod.ip},{self.protocol.lower()}:{num}"
                         for (n, pr, num) in pod.ports
                         if n == self.port_name and pr == self.protocol)


def _canon(raw: Any) -> str:
    return json.dumps(raw if raw is not None else {}, sort_keys=True)


def pods_set(namespace: str, pod_sel: Any, ns_sel: Any = None, all_ns: bool = False,
             kind: str = "pods", port_name: str = "", protocol: str = "") -> SetDef:
    return SetDef(kind, "" if all_ns else namespace, all_ns, _canon(pod_sel),
                  _canon(ns_sel) if all_ns else "", port_name=port_name, protocol=protocol,
                  pod_selector=_selector(pod_sel), ns_selector=_selector(ns_sel))


@dataclass
class Peer:
    set: SetDef


@dataclass
class PortMatch:
    protocol: str
    port: int | None = None
    end_port: int | None = None
    set: SetDef | None = None  # a named port: its (ip, proto:port) set


@dataclass
class Rule:
    peers: list[Peer]
    ports: list[PortMatch]


@dataclass
class Policy:
    """A NetworkPolicy parsed once per change of its spec."""

    namespace: str
    name: str
    target: SetDef
    ingress: list[Rule] | None  # None: not an Ingress policy
    egress: list[Rule] | None
    in_chain: str
    out_chain: str
    sets: dict[str, SetDef] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def _selector(raw: Any) -> Selector:
    try:
        return from_label_selector(raw if raw is not None else {})
    except SelectorError:
        return NOTHING


def _peers(pol: Policy, raw: Any) -> list[Peer]:
    out: list[Peer] = []
    for p in raw or []:
        if not isinstance(p, Mapping):
            continue
        block = p.get("ipBlock")
        if isinstance(block, Mapping):
            sd = SetDef("block", cidr=str(block.get("cidr") or ""),
                        excepts=tuple(sorted(str(e) for e in block.get("except") or ())))
        else:
            ps, nss = p.get("podSelector"), p.get("namespaceSelector")
            sd = pods_set(pol.namespace, ps, nss, all_ns=nss is not None)
        pol.sets[sd.name] = sd
        out.append(Peer(sd))
    return out


def _ports(pol: Policy, raw: Any, spec: Mapping[str, Any], egress: bool) -> list[PortMatch]:
    out: list[PortMatch] = []
    for p in raw or []:
        if not isinstance(p, Mapping):
            continue
        proto = str(p.get("protocol") or "TCP")
        port = p.get("port")
        if isinstance(port, str):
            # resolved on the destination: any pod for egress, the targets for ingress
            sd = (pods_set("", {}, {}, all_ns=True, kind="named", port_name=port,
                           protocol=proto) if egress else
                  pods_set(pol.namespace, spec.get("podSelector"), kind="named",
                           port_name=port, protocol=proto))
            pol.sets[sd.name] = sd
            pm = PortMatch(proto, set=sd)
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
    h = short_hash(f"{ns}/{name}")
    types = spec.get("policyTypes") or (
        ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"])
    target = pods_set(ns, spec.get("podSelector"))
    pol = Policy(ns, name, target, None, None, in_chain=f"{PREFIX}-I-{h}",
                 out_chain=f"{PREFIX}-E-{h}")
    pol.sets[target.name] = target
    if "Ingress" in types:
        pol.ingress = [Rule(_peers(pol, r.get("from")), _ports(pol, r.get("ports"), spec, False))
                       for r in spec.get("ingress") or [] if isinstance(r, Mapping)]
    if "Egress" in types:
        pol.egress = [Rule(_peers(pol, r.get("to")), _ports(pol, r.get("ports"), spec, True))
                      for r in spec.get("egress") or [] if isinstance(r, Mapping)]
    return pol


def _port_args(pm: PortMatch, peer_dir: str) -> str:
    proto = pm.protocol.lower()
    if pm.set is not None:
        return f"-p {proto} -m set --match-set {pm.set.name} dst,dst"
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
            peers = [f"-m set --match-set {p.set.name} {peer_dir}" for p in rule.peers] or [""]
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
                lines.append(f"-A {chain} -m set --match-set {p.target.name} {peer_dir} "
                             f"-j {sub}")
        # TCP gets a reset: ICMP errors are rate-limited per host (net.ipv4.icmp_ratelimit),
        # so a burst of refused connects would otherwise wait for SYN retransmissions
        comment = f'-m comment --comment "{attr} {what} a pod that no NetworkPolicy allows"'
        lines += [f"-A {chain} -m mark --mark {ALLOW_MARK} -j RETURN",
                  f"-A {chain} -p tcp {comment} -j REJECT --reject-with tcp-reset",
                  f"-A {chain} {comment} -j REJECT"]
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

    def members(self, sd: SetDef) -> set[str]:
        """Every entry of the set now (a scan of the pods it may select)."""
        if sd.kind == "block":
            return set(_block_entries(sd))
        if sd.all_ns:
            nss = [ns for ns in self.pods
                   if sd.ns_selector.matches(self.ns_labels.get(ns, {}))]
        else:
            nss = [sd.namespace]
        out: set[str] = set()
        for ns in nss:
            for p in self.pods.get(ns, {}).values():
                if sd.pod_selector.matches(p.labels):
                    if sd.kind == "pods":
                        out.add(p.ip)
                    else:
                        out |= sd.entries(p, self.ns_labels)
        return out


def _block_entries(sd: SetDef) -> frozenset[str]:
    try:
        net = ipaddress.ip_network(sd.cidr, strict=False)
    except ValueError:
        return frozenset()
    if net.version != 4:
        return frozenset()
    # hash:net takes no /0: two halves instead
    nets = list(net.subnets(1)) if net.prefixlen == 0 else [net]
    out = {str(n) for n in nets}
    for ex in sd.excepts:
        try:
            e = ipaddress.ip_network(ex, strict=False)
        except ValueError:
            continue
        if e.version == 4 and e.prefixlen > 0:
            out.add(f"{e} nomatch")
    return frozenset(out)


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
