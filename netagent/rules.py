"""What the network agent writes, as data: the CNI config, the leak guard's chains, the
masquerade rule, the routes. Pure (no I/O), so that tests can read every rule.

The leak guard (DESIGN "Address ranges", ENVIRONMENT.md 11): in each node, a chain jumped
to from the top of filter OUTPUT and FORWARD lets through loopback, the node's own pod CIDR
on the CNI bridge, each peer's pod CIDR through the node interface, and the node's own pods
talking to non-cluster addresses (masqueraded on the way out), then REJECTs anything else
to or from the cluster CIDR; ``unreachable <cluster-cidr>`` in the routing table makes a
peer whose route is not there yet fail locally instead of following the default route. The
chain RETURNs rather than ACCEPTs: what follows in OUTPUT and FORWARD (the proxy's and the
network policy agent's chains) still applies to what the guard lets through.

On the Docker host (``--host-guard``), bridged traffic between node containers passes the
host's FORWARD chain too (bridge-nf-call-iptables): one chain there, from the top of FORWARD
and OUTPUT, lets through what goes out onto the nodes' bridge and REJECTs any other packet to
or from the cluster CIDR, so that nothing with a pod address is routed out of the machine
(a node whose own guard is missing included).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CHAIN = "MINIK8S-PODNET"
MASQ_CHAIN = "MINIK8S-PODNET-MASQ"
HOST_CHAIN = "MINIK8S-PODNET-HOST"
JUMP_COMMENT = "minik8s-netagent: pod network leak guard"
MASQ_COMMENT = "minik8s-netagent: pods to non-cluster addresses"
HOST_COMMENT = "minik8s-netagent: nothing with a pod address leaves the machine"
REJECT = "-j REJECT --reject-with icmp-port-unreachable"
# the routing protocol number the agent's routes carry (ip route ... proto 77), so that it
# finds its own routes again and never touches another's
ROUTE_PROTO = "77"

CNI_NETWORK = "minik8s"
CNI_VERSION = "0.4.0"  # spoken by the Debian plugins (1.1.1) and containerd 1.6's libcni
CONFLIST_NAME = "10-minik8s.conflist"
LOOPBACK_NAME = "99-loopback.conf"
DEFAULT_BRIDGE = "cni0"


@dataclass(frozen=True)
class Jump:
    table: str
    chain: str
    target: str
    comment: str

    def args(self) -> list[str]:
        return ["-m", "comment", "--comment", self.comment, "-j", self.target]


NODE_JUMPS = (Jump("filter", "OUTPUT", CHAIN, JUMP_COMMENT),
              Jump("filter", "FORWARD", CHAIN, JUMP_COMMENT),
              Jump("nat", "POSTROUTING", MASQ_CHAIN, MASQ_COMMENT))
HOST_JUMPS = (Jump("filter", "OUTPUT", HOST_CHAIN, HOST_COMMENT),
              Jump("filter", "FORWARD", HOST_CHAIN, HOST_COMMENT))


def cidr(text: str) -> str:
    return str(ipaddress.ip_network(text.strip(), strict=False))


def gateway_of(pod_cidr: str) -> str:
    """The bridge's address: the first host of the pod CIDR (10.244.1.0/24 -> 10.244.1.1)."""
    return str(ipaddress.ip_network(pod_cidr, strict=False).network_address + 1)


# ---- CNI -------------------------------------------------------------------------------

def conflist(pod_cidr: str, bridge: str = DEFAULT_BRIDGE, *,
             ipam_data_dir: str = "") -> dict[str, Any]:
    """The node's pod network: bridge + host-local over the node's pod CIDR (gateway .1 on
    the bridge, ipMasq off so that a pod's address survives the way to another node), then
    portmap for hostPort."""
    ipam: dict[str, Any] = {
        "type": "host-local",
        "ranges": [[{"subnet": cidr(pod_cidr), "gateway": gateway_of(pod_cidr)}]],
        "routes": [{"dst": "0.0.0.0/0"}],
    }
    if ipam_data_dir:
        ipam["dataDir"] = ipam_data_dir
    return {
        "cniVersion": CNI_VERSION,
        "name": CNI_NETWORK,
        "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
             "hairpinMode": True, "ipam": ipam},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def loopback_conf() -> dict[str, Any]:
    return {"cniVersion": CNI_VERSION, "name": "lo", "type": "loopback"}


def dumps(conf: Mapping[str, Any]) -> str:
    return json.dumps(conf, indent=2, sort_keys=False) + "\n"


# ---- the node's guard and masquerade ----------------------------------------------------

def guard_rules(cluster_cidr: str, own_cidr: str | None, bridge: str, iface: str | None,
                peers: Iterable[str]) -> list[str]:
    """The guard chain's rules, each exactly as ``iptables-save`` prints it."""
    out = [f"-A {CHAIN} -o lo -j RETURN"]
    if own_cidr:
        out.append(f"-A {CHAIN} -d {own_cidr} -o {bridge} -j RETURN")
        out.append(f"-A {CHAIN} -s {own_cidr} ! -d {cluster_cidr} -i {bridge} -j RETURN")
    if iface:
        for peer in sorted(set(peers)):
            out.append(f"-A {CHAIN} -d {peer} -o {iface} -j RETURN")
    out.append(f"-A {CHAIN} -d {cluster_cidr} {REJECT}")
    out.append(f"-A {CHAIN} -s {cluster_cidr} {REJECT}")
    return out


def masq_rules(cluster_cidr: str, own_cidr: str | None) -> list[str]:
    """The node's pods talking to a non-cluster address (the API server, the host, a
    Service whose endpoint is on the host network) leave with the node's address: the far
    end has no route back to a pod CIDR, and its replies would follow its default route."""
    if not own_cidr:
        return []
    return [f"-A {MASQ_CHAIN} -s {own_cidr} ! -d {cluster_cidr} -j MASQUERADE"]


def host_rules(cluster_cidr: str, node_bridge: str) -> list[str]:
    """What goes out onto the nodes' bridge stays on the machine (node to node, bridged,
    and the host's own packets to pods if it has routes to them); any other packet to or
    from the cluster CIDR is refused."""
    return [f"-A {HOST_CHAIN} -o {node_bridge} -j RETURN",
            f"-A {HOST_CHAIN} -d {cluster_cidr} {REJECT}",
            f"-A {HOST_CHAIN} -s {cluster_cidr} {REJECT}"]


def restore_text(tables: Mapping[str, Mapping[str, list[str]]]) -> str:
    """``iptables-restore --noflush`` input that rewrites exactly these chains (a ``:CHAIN``
    line flushes the chain), atomically per table."""
    lines: list[str] = []
    for table, chains in tables.items():
        lines.append(f"*{table}")
        lines.extend(f":{c} - [0:0]" for c in chains)
        for rules in chains.values():
            lines.extend(rules)
        lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def chain_rules(saved: str, chain: str) -> list[str]:
    """The ``-A chain`` lines of one table's ``iptables-save`` output (counters stripped)."""
    out = []
    prefix = f"-A {chain} "
    for line in saved.splitlines():
        if line.startswith("["):  # iptables-save -c
            line = line.split("] ", 1)[-1]
        if line.startswith(prefix):
            out.append(line)
    return out


def counters(saved_c: str, rule: str) -> tuple[int, int] | None:
    """(packets, bytes) of ``rule`` in ``iptables-save -c`` output."""
    for line in saved_c.splitlines():
        if line.startswith("[") and line.split("] ", 1)[-1] == rule:
            pk, by = line[1:].split("]", 1)[0].split(":")
            return int(pk), int(by)
    return None


# ---- routes ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    dst: str
    via: str
    dev: str

    def argv(self) -> list[str]:
        return [self.dst, "via", self.via, "dev", self.dev, "proto", ROUTE_PROTO]


def peer_routes(peers: Mapping[str, tuple[str, str]], iface: str) -> dict[str, Route]:
    """podCIDR -> its route, from node name -> (podCIDR, InternalIP) of every other node."""
    out: dict[str, Route] = {}
    for _name, (pod_cidr, ip) in sorted(peers.items()):
        out[pod_cidr] = Route(pod_cidr, ip, iface)
    return out
