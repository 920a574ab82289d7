"""The nftables mode of the proxy (``--proxy-mode nftables``): a port of kube-proxy's
nftables proxier (kubernetes/kubernetes pkg/proxy/nftables/proxier.go, beta in 1.31).

Everything lives in a table of our own, ``table ip kube-proxy``, written with one
``nft -f -`` transaction per sync (atomic: the kernel sees the whole sync or none of it):

- base chains hooked at kube-proxy's priorities: ``nat-prerouting`` / ``nat-output`` (dstnat)
  jump to ``services``; ``nat-postrouting`` to ``masquerading``; ``filter-input``,
  ``filter-forward``, ``filter-output`` (priority -110, before DNAT) to the no-endpoint
  checks; ``filter-forward`` and ``filter-output-post-dnat`` to ``cluster-ips-check``.
- verdict maps do the dispatch that iptables mode does with one rule per service port:
  ``service-ips`` (ip . proto . port -> goto the port's chain), ``service-nodeports``
  (proto . port -> goto its external chain, for destinations in ``nodeport-ips`` or, without
  ``--nodeport-addresses``, any local address but 127/8), ``no-endpoint-services`` and
  ``no-endpoint-nodeports`` (-> goto ``reject-chain``).
- per service port: ``service-<hash>-ns/name/proto/port`` (masquerade marking, then DNAT
  through ``numgen random mod N map { i : ip . port }``) and ``external-...`` (mark, then
  goto the service chain). kube-proxy also gives every endpoint a chain
  (``endpoint-...__ip/port``: hairpin mark, DNAT) reached through ``numgen ... vmap``; here
  only Services with ClientIP affinity have them (with their ``affinity-`` dynamic sets),
  because ``nft`` loads every chain and set of the table into its cache on each run: with
  1,000 Services x 10 endpoints (11,000 chains) a trivial transaction took 35-60 ms and a
  full one 1.1-2.7 s, against 15 ms and 0.45-0.6 s without endpoint chains. The hairpin
  masquerade is one rule in ``masquerading`` over the ``endpoint-hairpin`` set of
  ``ip . ip`` pairs (a pod reaching itself through its Service: saddr == daddr after DNAT).
- ``cluster-ips-check``: REJECT traffic to a cluster IP on a port no Service has, and to any
  unallocated address of the service range (kube-proxy drops the latter; DESIGN.md wants the
  range refused at once, so REJECT here as the iptables guards do).

Partial syncs (kube-proxy's): only the chains of the Services that changed are flushed and
rewritten, the maps get the difference of their elements, and chains nothing refers to any
more are deleted, after the elements and rules that referred to them. A full sync rewrites
every chain and map (affinity sets keep their entries) and deletes the chains of the table
that it does not want. ``--cleanup`` deletes the table.

The service-range guards of DESIGN.md stay the iptables ones in filter OUTPUT/FORWARD
(proxy/iptables.py), installed before the first sync in both modes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from proxy.iptables import Iptables
from proxy.rules import EndpointInfo, ProxyConfig, Ruleset, ServicePortInfo

TABLE = "kube-proxy"
FAMILY = "ip"
T = f"{FAMILY} {TABLE}"
MASQ = "0x4000"

# map / set name -> type (kube-proxy's names)
MAPS = {
    "service-ips": "ipv4_addr . inet_proto . inet_service : verdict",
    "service-nodeports": "inet_proto . inet_service : verdict",
    "no-endpoint-services": "ipv4_addr . inet_proto . inet_service : verdict",
    "no-endpoint-nodeports": "inet_proto . inet_service : verdict",
}
SETS = {"cluster-ips": "ipv4_addr", "nodeport-ips": "ipv4_addr",
        "endpoint-hairpin": "ipv4_addr . ipv4_addr"}

BASE_CHAINS = {
    "filter-input": "type filter hook input priority -110",
    "filter-forward": "type filter hook forward priority -110",
    "filter-output": "type filter hook output priority -110",
    "filter-output-post-dnat": "type filter hook output priority -90",
    "nat-prerouting": "type nat hook prerouting priority -100",
    "nat-output": "type nat hook output priority -100",
    "nat-postrouting": "type nat hook postrouting priority 100",
}
# externalTrafficPolicy Local without local endpoints: external traffic is dropped, this
# host's own goes on (to the cluster policy, as in the iptables mode)
NO_LOCAL_ENDPOINTS = "no-local-endpoints"
FIXED_CHAINS = ("cluster-ips-check", "mark-for-masquerade", "masquerading",
                "nodeport-endpoints-check", "service-endpoints-check", "services",
                "reject-chain", NO_LOCAL_ENDPOINTS)
SERVICE_CHAIN_PREFIXES = ("service-", "external-", "endpoint-", "local-")
AFFINITY_PREFIX = "affinity-"


@functools.lru_cache(maxsize=65536)
def _hash_and_truncate(name: str) -> str:
    """kube-proxy's hashAndTruncate: 8 base32 characters of sha256, then the name."""
    h = base64.b32encode(hashlib.sha256(name.encode()).digest()).decode()[:8]
    return (h + "-" + name)[:200]


def chain_base(sp: ServicePortInfo) -> str:
    """servicePortChainNameBase: ``ns/name/proto/port``."""
    return f"{sp.namespace}/{sp.name}/{sp.proto}/{sp.port_name}"


def service_chain(sp: ServicePortInfo) -> str:
    return "service-" + _hash_and_truncate(chain_base(sp))


def external_chain(sp: ServicePortInfo) -> str:
    return "external-" + _hash_and_truncate(chain_base(sp))


def local_chain(sp: ServicePortInfo) -> str:
    """servicePortPolicyLocalChainName: ``local-<hash>-ns/name/proto/port``."""
    return "local-" + _hash_and_truncate(chain_base(sp))


def endpoint_chain(sp: ServicePortInfo, ep: EndpointInfo) -> str:
    """servicePortEndpointChainName: ``endpoint-<hash>-ns/name/proto/port__ip/port``."""
    return "endpoint-" + _hash_and_truncate(f"{chain_base(sp)}__{ep.ip}/{ep.port}")


def affinity_set(ep_chain: str) -> str:
    return AFFINITY_PREFIX + ep_chain[len("endpoint-"):]


def is_service_chain(name: str) -> bool:
    """A per-service chain (``service-endpoints-check`` has the prefix but is a fixed one)."""
    return name.startswith(SERVICE_CHAIN_PREFIXES) and name not in FIXED_CHAINS


@dataclass
class PortChains:
    """What one service port contributes (memoized like rules.port_rules)."""

    chains: dict[str, list[str]] = field(default_factory=dict)  # chain -> its rules
    affinity_sets: dict[str, int] = field(default_factory=dict)  # set -> timeout seconds
    service_ips: dict[str, str] = field(default_factory=dict)  # element key -> verdict
    service_nodeports: dict[str, str] = field(default_factory=dict)
    no_endpoint_services: dict[str, str] = field(default_factory=dict)
    no_endpoint_nodeports: dict[str, str] = field(default_factory=dict)
    hairpin: set[str] = field(default_factory=set)  # "ip . ip" of each endpoint


@functools.lru_cache(maxsize=16384)
def port_chains(sp: ServicePortInfo, eps: tuple[EndpointInfo, ...], cluster_cidr: str,
                masquerade_all: bool) -> PortChains:
    out = PortChains()
    proto = sp.proto
    if not eps:
        for ip in (sp.cluster_ip, *sp.external_ips, *sp.load_balancer_ips):
            out.no_endpoint_services[f"{ip} . {proto} . {sp.port}"] = "goto reject-chain"
        if sp.node_port:
            out.no_endpoint_nodeports[f"{proto} . {sp.node_port}"] = "goto reject-chain"
        return out
    svc = service_chain(sp)
    ext = external_chain(sp)
    out.service_ips[f"{sp.cluster_ip} . {proto} . {sp.port}"] = f"goto {svc}"
    for ip in (*sp.external_ips, *sp.load_balancer_ips):
        out.service_ips[f"{ip} . {proto} . {sp.port}"] = f"goto {ext}"
    if sp.node_port:
        out.service_nodeports[f"{proto} . {sp.node_port}"] = f"goto {ext}"
    rules: list[str] = []
    match = f"ip daddr {sp.cluster_ip} {proto} dport {sp.port}"
    if masquerade_all:
        rules.append(f"{match} jump mark-for-masquerade")
    elif cluster_cidr:
        rules.append(f"{match} ip saddr != {cluster_cidr} jump mark-for-masquerade")
    for ep in eps:
        out.hairpin.add(f"{ep.ip} . {ep.ip}")
    _to_endpoints(out, sp, svc, eps, rules)
    local = [ep for ep in eps if ep.local] if sp.external_local else []
    if local:
        _to_endpoints(out, sp, local_chain(sp), local, [])
    if sp.uses_external:
        if not sp.external_local:
            out.chains[ext] = ["jump mark-for-masquerade", f"goto {svc}"]
        else:
            # as rules.port_rules: pods and this host through the cluster policy (the
            # host's traffic masqueraded), the rest to the local endpoints only
            ext_rules = [f"ip saddr {cluster_cidr} goto {svc}"] if cluster_cidr else []
            ext_rules += ["fib saddr type local jump mark-for-masquerade",
                          f"fib saddr type local goto {svc}"]
            if local:
                ext_rules.append(f"goto {local_chain(sp)}")
            else:
                for ip in (*sp.external_ips, *sp.load_balancer_ips):
                    out.no_endpoint_services[f"{ip} . {proto} . {sp.port}"] = \
                        f"goto {NO_LOCAL_ENDPOINTS}"
                if sp.node_port:
                    out.no_endpoint_nodeports[f"{proto} . {sp.node_port}"] = \
                        f"goto {NO_LOCAL_ENDPOINTS}"
            out.chains[ext] = ext_rules
    return out


def _to_endpoints(out: PortChains, sp: ServicePortInfo, chain: str,
                  eps: Sequence[EndpointInfo], rules: list[str]) -> None:
    """``chain``: ``rules``, then a random pick of ``eps`` (with ClientIP affinity through
    a chain and an affinity set per endpoint, kube-proxy's layout)."""
    proto = sp.proto
    if not sp.affinity_seconds:
        # the endpoints as an anonymous map in the chain: no chain per endpoint
        if len(eps) == 1:
            rules.append(f"meta l4proto {proto} dnat ip to {eps[0]}")
        else:
            dmap = " , ".join(f"{i} : {ep.ip} . {ep.port}" for i, ep in enumerate(eps))
            rules.append(f"meta l4proto {proto} dnat ip to numgen random mod {len(eps)} "
                         f"map {{ {dmap} }}")
        out.chains[chain] = rules
        return
    ep_chains = [endpoint_chain(sp, ep) for ep in eps]
    for c in ep_chains:
        rules.append(f"ip saddr @{affinity_set(c)} goto {c}")
    vmap = " , ".join(f"{i} : goto {c}" for i, c in enumerate(ep_chains))
    rules.append(f"numgen random mod {len(eps)} vmap {{ {vmap} }}")
    out.chains[chain] = rules
    for ep, c in zip(eps, ep_chains, strict=True):
        aset = affinity_set(c)
        out.affinity_sets[aset] = sp.affinity_seconds
        out.chains[c] = [f"update @{aset} {{ ip saddr }}",
                         f"meta l4proto {proto} dnat to {ep}"]


@dataclass
class NftState:
    """What the last successful sync left in the table."""

    chains: set[str] = field(default_factory=set)  # per-service chains
    affinity_sets: set[str] = field(default_factory=set)
    maps: dict[str, dict[str, str]] = field(default_factory=dict)
    sets: dict[str, set[str]] = field(default_factory=dict)


def _fixed_chain_rules(service_cidr: str, match_local: bool) -> dict[str, list[str]]:
    new = "ct state new"
    services = ["ip daddr . meta l4proto . th dport vmap @service-ips",
                "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports"]
    np_check = ["ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports"]
    if match_local:
        local = "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap"
        services.append(f"{local} @service-nodeports")
        np_check.append(f"{local} @no-endpoint-nodeports")
    return {
        "filter-input": [f"{new} jump nodeport-endpoints-check",
                         f"{new} jump service-endpoints-check"],
        "filter-forward": [f"{new} jump service-endpoints-check",
                           f"{new} jump cluster-ips-check"],
        "filter-output": [f"{new} jump service-endpoints-check"],
        "filter-output-post-dnat": [f"{new} jump cluster-ips-check"],
        "nat-prerouting": ["jump services"],
        "nat-output": ["jump services"],
        "nat-postrouting": ["jump masquerading"],
        "cluster-ips-check": [
            'ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of '
            'ClusterIPs"',
            f'ip daddr {service_cidr} reject comment "Reject traffic to unallocated '
            'ClusterIPs"'],
        "mark-for-masquerade": [f"meta mark set meta mark or {MASQ}"],
        "masquerading": ["ct status dnat ip saddr . ip daddr @endpoint-hairpin "
                         "masquerade fully-random",
                         f"meta mark & {MASQ} == 0 return",
                         f"meta mark set meta mark xor {MASQ}",
                         "masquerade fully-random"],
        "nodeport-endpoints-check": np_check,
        "service-endpoints-check": [
            "ip daddr . meta l4proto . th dport vmap @no-endpoint-services"],
        "services": services,
        "reject-chain": ["reject"],
        NO_LOCAL_ENDPOINTS: ["fib saddr type local return", "drop"],
    }


def _elements(name: str, items: Sequence[str], verb: str) -> list[str]:
    out = []
    for i in range(0, len(items), 2000):
        out.append(f"{verb} element {T} {name} {{ {' , '.join(items[i:i + 2000])} }}")
    return out


def build(ports: Sequence[ServicePortInfo], endpoints: Mapping[str, list[EndpointInfo]],
          config: ProxyConfig, service_cidr: str, *, node_ips: Sequence[str] = (),
          changed: set[str] | None = None, previous: NftState | None = None,
          existing_chains: set[str] | None = None,
          existing_sets: set[str] | None = None) -> tuple[Ruleset, NftState]:
    """One sync's ``nft -f`` input and the state it leaves.

    ``changed``: the ``ns/name`` of the Services whose chains are rewritten (None: a full
    sync, everything); ``previous``: the last sync's state (the partial sync's base);
    ``existing_chains`` / ``existing_sets``: what a full sync found in the table (deleted
    unless still wanted).
    """
    prev = previous or NftState()
    full = changed is None
    maps: dict[str, dict[str, str]] = {m: {} for m in MAPS}
    sets: dict[str, set[str]] = {
        "cluster-ips": set(),
        "nodeport-ips": set(node_ips) | set(config.nodeport_ips or ()),
        "endpoint-hairpin": set()}
    chains: set[str] = set()
    affinity: dict[str, int] = {}
    written: list[str] = []  # chain declarations (and flushes): before any rule names them
    written_rules: list[str] = []
    services_written: set[str] = set()
    n_rules = 0
    for sp in sorted(ports, key=lambda p: (p.service_key, p.port_name, p.protocol)):
        pc = port_chains(sp, tuple(endpoints.get(sp.name_string, ())), config.cluster_cidr,
                         config.masquerade_all)
        sets["cluster-ips"].add(sp.cluster_ip)
        sets["endpoint-hairpin"] |= pc.hairpin
        maps["service-ips"].update(pc.service_ips)
        maps["service-nodeports"].update(pc.service_nodeports)
        maps["no-endpoint-services"].update(pc.no_endpoint_services)
        maps["no-endpoint-nodeports"].update(pc.no_endpoint_nodeports)
        chains.update(pc.chains)
        affinity.update(pc.affinity_sets)
        n_rules += sum(len(r) for r in pc.chains.values())
        if full or sp.service_key in changed:  # type: ignore[operator]
            services_written.add(sp.service_key)
            for aset, timeout in pc.affinity_sets.items():
                if full or aset not in prev.affinity_sets:
                    written.append(f"add set {T} {aset} {{ type ipv4_addr ; flags dynamic,"
                                   f"timeout ; timeout {timeout}s ; }}")
            for c, rules in pc.chains.items():
                written.append(f"add chain {T} {c}")
                if c in prev.chains or full:
                    written.append(f"flush chain {T} {c}")
                written_rules += [f"add rule {T} {c} {r}" for r in rules]

    head: list[str] = []  # element deletions: before anything that could conflict
    body: list[str] = []
    tail: list[str] = []  # chain and set deletions: after everything that referred to them
    if full:
        head.append(f"add table {T} {{ comment \"rules for kube-proxy\" ; }}")
        for c, hook in BASE_CHAINS.items():
            head.append(f"add chain {T} {c} {{ {hook} ; }}")
        for c in FIXED_CHAINS:
            head.append(f"add chain {T} {c}")
        for name, typ in MAPS.items():
            head.append(f"add map {T} {name} {{ type {typ} ; }}")
            head.append(f"flush map {T} {name}")
        for name, typ in SETS.items():
            head.append(f"add set {T} {name} {{ type {typ} ; }}")
            head.append(f"flush set {T} {name}")
        fixed = _fixed_chain_rules(service_cidr, config.nodeport_ips is None)
        for c, rules in fixed.items():
            head.append(f"flush chain {T} {c}")
            head += [f"add rule {T} {c} {r}" for r in rules]
        for name, elems in maps.items():
            tail_elems = [f"{k} : {v}" for k, v in sorted(elems.items())]
            body += _elements(name, tail_elems, "add")
        for name, members in sets.items():
            body += _elements(name, sorted(members), "add")
        stale = (existing_chains or set()) | prev.chains
        stale_sets = (existing_sets or set()) | prev.affinity_sets
    else:
        for name, elems in maps.items():
            old = prev.maps.get(name, {})
            gone = [k for k, v in old.items() if elems.get(k) != v]
            new = [f"{k} : {v}" for k, v in elems.items() if old.get(k) != v]
            head += _elements(name, sorted(gone), "delete")
            body += _elements(name, sorted(new), "add")
        for name, members in sets.items():
            old_set = prev.sets.get(name, set())
            head += _elements(name, sorted(old_set - members), "delete")
            body += _elements(name, sorted(members - old_set), "add")
        stale = prev.chains
        stale_sets = prev.affinity_sets
    deleted = 0
    # chains first flushed (rules referring to other chains go), then deleted
    doomed = sorted(c for c in stale if is_service_chain(c) and c not in chains)
    for c in doomed:
        head.append(f"flush chain {T} {c}")
        tail.append(f"delete chain {T} {c}")
        deleted += 1
    for s in sorted(s for s in stale_sets if s.startswith(AFFINITY_PREFIX)
                    and s not in affinity):
        tail.append(f"delete set {T} {s}")
    lines = head + written + written_rules + body + tail
    text = "\n".join(lines) + "\n" if lines else ""
    n_rules += sum(len(r) for r in _fixed_chain_rules(service_cidr, True).values())
    state = NftState(chains=chains, affinity_sets=set(affinity), maps=maps, sets=sets)
    return Ruleset(text=text, active_nat_chains=chains,
                   written_service_chains=sum(1 for w in written
                                              if w.startswith("add chain")),
                   deleted_chains=deleted, rules=n_rules,
                   services_written=services_written), state


def parse_listing(listing: str) -> tuple[set[str], set[str]]:
    """The chain and set names in ``nft -j list ...`` JSON output."""
    chains: set[str] = set()
    sets: set[str] = set()
    if not listing.strip():
        return chains, sets
    for obj in json.loads(listing).get("nftables", []):
        for kind, names in (("chain", chains), ("set", sets), ("map", sets)):
            o = obj.get(kind)
            if o and o.get("table") == TABLE and o.get("family") == FAMILY:
                names.add(o["name"])
    return chains, sets


async def list_objects(runner: Iptables) -> tuple[set[str], set[str]]:
    """The chains and sets of our table now (a full sync deletes those it does not want)."""
    _, chains_out = await runner.run(["nft", "-j", "list", "chains", FAMILY])
    _, sets_out = await runner.run(["nft", "-t", "-j", "list", "sets", FAMILY])
    chains, _ = parse_listing(chains_out.decode())
    _, sets = parse_listing(sets_out.decode())
    return chains, sets


async def apply(runner: Iptables, text: str) -> None:
    """One ``nft -f -`` transaction: all of it or none of it."""
    await runner.run(["nft", "-f", "-"], stdin=text.encode())


async def cleanup(runner: Iptables) -> bool:
    """kube-proxy --cleanup for this mode: delete the table; True if there was one."""
    rc, _ = await runner.run(["nft", "delete", "table", FAMILY, TABLE], check=False)
    return rc == 0


class NftSyncer:
    """The nftables side of one proxier: the state the last sync left and the next sync."""

    def __init__(self, runner: Iptables, service_cidr: str) -> None:
        self.runner = runner
        self.service_cidr = service_cidr
        self.state: NftState | None = None

    async def sync(self, ports: Sequence[ServicePortInfo],
                   endpoints: Mapping[str, list[EndpointInfo]], config: ProxyConfig,
                   node_ips: Sequence[str], changed: set[str] | None) -> Ruleset:
        existing_chains: set[str] | None = None
        existing_sets: set[str] | None = None
        if changed is None or self.state is None:
            changed = None
            existing_chains, existing_sets = await list_objects(self.runner)
        ruleset, state = build(ports, endpoints, config, self.service_cidr,
                               node_ips=node_ips, changed=changed, previous=self.state,
                               existing_chains=existing_chains, existing_sets=existing_sets)
        if ruleset.text:
            try:
                await apply(self.runner, ruleset.text)
            except Exception:
                self.state = None  # unknown now: the next sync is a full one
                raise
        self.state = state
        return ruleset
