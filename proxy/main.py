"""``minik8s-proxy``: the kube-proxy of minik8s (iptables or nftables mode).

    minik8s-proxy --server URL --node-name NAME [--proxy-mode iptables|nftables]
                  [--cluster-cidr CIDR]
                  [--service-cluster-ip-range 10.96.0.0/12] [--nodeport-addresses CIDR,...]
                  [--sync-period 30s] [--min-sync-period 1s] [--healthz-bind-address 0.0.0.0:10256]
    minik8s-proxy --cleanup      # remove every chain and rule the proxy made, then exit

It runs as root in the network namespace the node's pods use (here the host's, where the
``minik8s-pods`` bridge lives). Before anything else it installs the service-range REJECT
guards; it then waits for the Service, EndpointSlice and Node informers to sync (rules
written from a half-filled cache would drop live Services), and keeps the kernel's rules in
step with them. Like kube-proxy it first removes what the other mode left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Sequence

import psutil

from api.models import Node, Service
from api.models.discovery import EndpointSlice
from api.timeutil import duration_flag
from client.config import KUBECONFIG_FLAG_HELP, config_from_flags
from client.httpserve import PROMETHEUS, Reply, serve_http
from client.informer import SharedInformerFactory
from client.rest import AsyncClient
from client.service import (
    bind_address_flag,
    cidr_flag,
    run_and_exit,
    setup_logging,
    stop_on_signals,
)
from proxy import iptables, nftables, rules
from proxy.proxier import Proxier

log = logging.getLogger("proxy")

def cidr(text: str) -> str:
    """A CIDR flag that may be left empty (no cluster CIDR)."""
    return cidr_flag(text) if text else ""


bind_address = bind_address_flag


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="minik8s-proxy",
        description="Program NAT rules for Services from their EndpointSlices "
                    "(kube-proxy, iptables or nftables mode).")
    p.add_argument("--server", help="API server URL (else $MINIK8S_SERVER, ~/.minik8s/config)")
    p.add_argument("--kubeconfig", help=KUBECONFIG_FLAG_HELP)
    p.add_argument("--node-name", default=socket.gethostname(),
                   help="the node this proxy serves (default: the hostname); several, "
                        "comma-separated, when their pods share this network namespace: "
                        "their endpoints are the local ones of externalTrafficPolicy Local")
    p.add_argument("--proxy-mode", choices=("iptables", "nftables"), default="iptables",
                   help="iptables: iptables-restore of KUBE-* chains (the default); "
                        "nftables: one nft transaction into table ip kube-proxy")
    p.add_argument("--netns", default=None, metavar="NAME",
                   help="program the rules of this named network namespace (ip netns "
                        "exec) instead of the proxy's own: for tests and benchmarks")
    p.add_argument("--cluster-cidr", type=cidr, default="",
                   help="the pods' range: traffic to a cluster IP from outside it is "
                        "masqueraded (empty: no such masquerade, as kube-proxy)")
    p.add_argument("--service-cluster-ip-range", type=cidr, default="10.96.0.0/12",
                   help="the Service range that the REJECT guards close")
    p.add_argument("--nodeport-addresses", default="",
                   help="comma-separated CIDRs: node ports answer only on this host's "
                        "addresses inside them (default: every local address but 127/8)")
    p.add_argument("--masquerade-all", action="store_true",
                   help="masquerade every packet sent to a cluster IP")
    p.add_argument("--sync-period", type=duration_flag, default=30.0, metavar="D",
                   help="the longest time between full syncs")
    p.add_argument("--min-sync-period", type=duration_flag, default=1.0, metavar="D",
                   help="the shortest time between syncs after the first two of a burst")
    p.add_argument("--healthz-bind-address", type=bind_address, default=("0.0.0.0", 10256),
                   metavar="HOST:PORT",
                   help="serve /healthz and /metrics here (port 0: off)")
    p.add_argument("--cleanup", action="store_true",
                   help="remove every chain and rule the proxy made, then exit")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def local_addresses_in(cidrs: Sequence[str]) -> tuple[str, ...]:
    """This host's IPv4 addresses inside the CIDRs (kube-proxy's NodePortAddresses)."""
    nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    out: list[str] = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family != socket.AF_INET:
                continue
            ip = ipaddress.ip_address(a.address)
            if any(ip in n for n in nets) and a.address not in out:
                out.append(a.address)
    return tuple(sorted(out))


def render_metrics(px: Proxier) -> str:
    st = px.stats
    lines = [
        "# HELP kubeproxy_sync_proxy_rules_duration_seconds_last The last sync's duration.",
        "# TYPE kubeproxy_sync_proxy_rules_duration_seconds_last gauge",
        f"kubeproxy_sync_proxy_rules_duration_seconds_last {st.last_duration:.6f}",
        "# HELP kubeproxy_sync_proxy_rules_total Syncs done.",
        "# TYPE kubeproxy_sync_proxy_rules_total counter",
        f'kubeproxy_sync_proxy_rules_total{{kind="any"}} {st.syncs}',
        f'kubeproxy_sync_proxy_rules_total{{kind="full"}} {st.full_syncs}',
        "# HELP kubeproxy_sync_proxy_rules_iptables_restore_failures_total Failed restores.",
        "# TYPE kubeproxy_sync_proxy_rules_iptables_restore_failures_total counter",
        f"kubeproxy_sync_proxy_rules_iptables_restore_failures_total {st.failures}",
        "# HELP kubeproxy_sync_proxy_rules_last_timestamp_seconds The last successful sync.",
        "# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge",
        f"kubeproxy_sync_proxy_rules_last_timestamp_seconds {st.last_synced:.3f}",
        "# HELP kubeproxy_sync_proxy_rules_iptables_total Rules in the last restore input.",
        "# TYPE kubeproxy_sync_proxy_rules_iptables_total gauge",
        f"kubeproxy_sync_proxy_rules_iptables_total {st.last_ruleset_rules}",
        "# HELP minik8s_proxy_guards_reinserted_total Service-range guards found missing.",
        "# TYPE minik8s_proxy_guards_reinserted_total counter",
        f"minik8s_proxy_guards_reinserted_total {st.guards_reinserted}",
        "# HELP minik8s_proxy_guard_checks_total Checks of the service-range guards.",
        "# TYPE minik8s_proxy_guard_checks_total counter",
        f"minik8s_proxy_guard_checks_total {st.guard_checks}",
    ]
    return "\n".join(lines) + "\n"


async def serve_health(host: str, port: int, px: Proxier) -> asyncio.Server:
    """kube-proxy's healthz server (/healthz, /livez with lastUpdated/currentTime) plus
    its /metrics, from the event loop that runs the syncs."""
    def health() -> Reply:
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        body = json.dumps({"lastUpdated": time.strftime(fmt, time.gmtime(px.stats.last_synced)),
                           "currentTime": time.strftime(fmt, time.gmtime())}).encode()
        return (200 if px.healthy() else 503), "application/json", body

    return await serve_http(host, port, {
        "/metrics": lambda: (200, PROMETHEUS, render_metrics(px).encode()),
        "/healthz": health, "/livez": health})


async def serve(args: argparse.Namespace) -> int:
    ipt = iptables.Iptables(netns=args.netns)
    if args.cleanup:  # both modes, as kube-proxy --cleanup
        n = await iptables.cleanup(ipt, args.service_cluster_ip_range)
        table = await nftables.cleanup(ipt)
        log.info("cleanup: %d chains deleted%s", n,
                 f"; nftables table {nftables.T} deleted" if table else "")
        return 0
    nodeport_ips = None
    if args.nodeport_addresses:
        cidrs = [cidr(c) for c in args.nodeport_addresses.split(",") if c.strip()]
        nodeport_ips = local_addresses_in(cidrs)
    config = rules.ProxyConfig(cluster_cidr=args.cluster_cidr,
                               masquerade_all=args.masquerade_all, nodeport_ips=nodeport_ips)
    local_nodes = tuple(n.strip() for n in args.node_name.split(",") if n.strip())
    px = Proxier(ipt, config, args.service_cluster_ip_range, mode=args.proxy_mode,
                 min_sync_period=args.min_sync_period, sync_period=args.sync_period,
                 local_nodes=local_nodes,
                 health_host=nodeport_ips[0] if nodeport_ips and len(nodeport_ips) == 1
                 else "0.0.0.0")
    # The guards first: from here on nothing addressed to the range leaves the host.
    await iptables.ensure_guards(ipt, args.service_cluster_ip_range)
    log.info("service range %s guarded (REJECT in filter OUTPUT and FORWARD)",
             args.service_cluster_ip_range)
    # Loopback load-balancer addresses DNATed to pods need 127/8 routable; what comes
    # from elsewhere to 127/8 stays dropped (the localnet guard).
    await iptables.ensure_localnet_guard(ipt)
    px.localnet = True
    try:
        await iptables.enable_route_localnet(ipt)
    except OSError as exc:
        log.warning("cannot set net.ipv4.conf.all.route_localnet=1 (%s): load-balancer "
                    "addresses in 127.0.0.0/8 will not reach pods", exc)
    # what the other mode left (kube-proxy's CleanupLeftovers); the guards stay
    if args.proxy_mode == "nftables":
        if n := await iptables.cleanup(ipt, guards=False):
            log.info("removed %d chains of the iptables mode", n)
    elif await nftables.cleanup(ipt):
        log.info("removed the nftables mode's table %s", nftables.T)
    if not ipt.has_conntrack:
        log.warning("no conntrack tool: stale UDP conntrack entries are not cleared")
    client = AsyncClient(config=config_from_flags(args.server, args.kubeconfig,
                                                  "minik8s-proxy"))
    factory = SharedInformerFactory(client)
    svc_inf = factory.informer(Service)
    slice_inf = factory.informer(EndpointSlice)
    svc_inf.add_handler(px.on_service, px.on_service, px.on_service_delete)
    slice_inf.add_handler(px.on_slice, px.on_slice, px.on_slice_delete)
    node_inf = factory.informer(Node)
    node_inf.add_handler(px.on_node, px.on_node, px.on_node_delete)
    stop = stop_on_signals()
    server = None
    host, port = args.healthz_bind_address
    try:
        if port:
            server = await serve_health(host, port, px)
        await factory.start_all()
        while not await factory.wait_for_sync(timeout=5):
            if stop.is_set():
                return 0
            log.info("waiting for the Service, EndpointSlice and Node caches to sync")
        log.info("caches synced; node %s; %s mode; syncing every %ss (min %ss)",
                 args.node_name, args.proxy_mode, args.sync_period, args.min_sync_period)
        await px.run(stop)
    finally:
        if server is not None:
            server.close()
        if px.health is not None:
            px.health.close()
        await factory.stop_all()
        await client.close()
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    run_and_exit(serve(args))


if __name__ == "__main__":
    main()
