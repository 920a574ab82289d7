"""``minik8s-netagent``: the pod network between real nodes (flannel's host-gw backend).

    minik8s-netagent --kubeconfig FILE --node-name NAME [--cluster-cidr 10.244.0.0/16]
                     [--cni-conf-dir /etc/cni/net.d] [--iface IFACE]
                     [--resync-period 10s] [--healthz-bind-address 0.0.0.0:10266]
    minik8s-netagent --host-guard --cluster-cidr CIDR --node-bridge BRIDGE   # once, on the host
    minik8s-netagent --cleanup [--host-guard]   # remove what it added, then exit

One per node, as root in the node's network namespace. It installs the leak guard before
anything else, then watches the Nodes: the CNI config from this node's podCIDR, a route
to each other node's podCIDR via its InternalIP, the masquerade of this node's pods toward
non-cluster addresses (see netagent/rules.py for why each rule is there).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import time
from collections.abc import Sequence

from api.models import Node
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
from netagent import agent as agentmod
from netagent import rules
from netagent.runner import CommandError, Runner

log = logging.getLogger("netagent")

DEFAULT_CLUSTER_CIDR = "10.244.0.0/16"
DEFAULT_HEALTHZ = ("0.0.0.0", 10266)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="minik8s-netagent",
        description="Write the node's CNI config from its podCIDR, route the other nodes' "
                    "podCIDRs through their addresses (host-gw), and keep cluster-CIDR "
                    "traffic from leaving the machine.")
    p.add_argument("--server", help="API server URL (else $MINIK8S_SERVER, ~/.minik8s/config)")
    p.add_argument("--kubeconfig", help=KUBECONFIG_FLAG_HELP)
    p.add_argument("--node-name", default=socket.gethostname(),
                   help="this node's Node name (default: the hostname)")
    p.add_argument("--cluster-cidr", type=cidr_flag, default=DEFAULT_CLUSTER_CIDR,
                   help="the pods' range, cut into the Nodes' podCIDRs")
    p.add_argument("--cni-conf-dir", default="/etc/cni/net.d", metavar="DIR",
                   help=f"where {rules.CONFLIST_NAME} is written")
    p.add_argument("--cni-bridge", default=rules.DEFAULT_BRIDGE, metavar="NAME",
                   help="the bridge the CNI bridge plugin makes for the pods")
    p.add_argument("--ipam-data-dir", default="", metavar="DIR",
                   help="host-local's dataDir in the CNI config (default: the plugin's, "
                        "/var/lib/cni/networks)")
    p.add_argument("--iface", default=None, metavar="IFACE",
                   help="the interface toward the other nodes (default: the one holding "
                        "the Node's InternalIP)")
    p.add_argument("--resync-period", type=duration_flag, default=10.0, metavar="D",
                   help="how often everything is checked again even without a Node change")
    p.add_argument("--healthz-bind-address", type=bind_address_flag, default=DEFAULT_HEALTHZ,
                   metavar="HOST:PORT", help="serve /healthz and /metrics here (port 0: off)")
    p.add_argument("--netns", default=None, metavar="NAME",
                   help="work on this named network namespace (ip netns exec) instead of "
                        "the agent's own: for tests")
    p.add_argument("--host-guard", action="store_true",
                   help="install the Docker host's guard for the cluster CIDR (with "
                        "--node-bridge) and exit; with --cleanup remove it")
    p.add_argument("--node-bridge", default="", metavar="BRIDGE",
                   help="with --host-guard: the bridge of the network the node containers "
                        "are on (their traffic to each other passes the host's FORWARD)")
    p.add_argument("--cleanup", action="store_true",
                   help="remove the chains, routes and CNI config the agent added, then exit")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def render_metrics(a: agentmod.NetAgent) -> str:
    st = a.stats
    return "\n".join([
        "# HELP minik8s_netagent_syncs_total Syncs done.",
        "# TYPE minik8s_netagent_syncs_total counter",
        f"minik8s_netagent_syncs_total {st.syncs}",
        "# HELP minik8s_netagent_sync_failures_total Syncs that failed.",
        "# TYPE minik8s_netagent_sync_failures_total counter",
        f"minik8s_netagent_sync_failures_total {st.failures}",
        "# HELP minik8s_netagent_repairs_total Rules, routes or files (re)written.",
        "# TYPE minik8s_netagent_repairs_total counter",
        f"minik8s_netagent_repairs_total {st.repairs}",
        "# HELP minik8s_netagent_routes Routes to other nodes' pod CIDRs.",
        "# TYPE minik8s_netagent_routes gauge",
        f"minik8s_netagent_routes {len(st.routes)}",
        "# HELP minik8s_netagent_last_sync_timestamp_seconds The last successful sync.",
        "# TYPE minik8s_netagent_last_sync_timestamp_seconds gauge",
        f"minik8s_netagent_last_sync_timestamp_seconds {st.last_synced:.3f}",
    ]) + "\n"


async def serve_health(host: str, port: int, a: agentmod.NetAgent) -> asyncio.Server:
    def health() -> Reply:
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        body: dict[str, object] = {"lastUpdated": time.strftime(fmt, time.gmtime(a.stats.last_synced)),
                "currentTime": time.strftime(fmt, time.gmtime()),
                "podCIDR": a.own_cidr or "", "iface": a.iface or "",
                "routes": sorted(a.stats.routes)}
        if a.stats.last_error:
            body["error"] = a.stats.last_error
        if a.stats.route_errors:
            body["routeErrors"] = dict(sorted(a.stats.route_errors.items()))
        return (200 if a.healthy() else 503), "application/json", json.dumps(body).encode()

    return await serve_http(host, port, {
        "/metrics": lambda: (200, PROMETHEUS, render_metrics(a).encode()),
        "/healthz": health, "/livez": health})


async def serve(args: argparse.Namespace) -> int:
    runner = Runner(args.netns)
    if args.cleanup:
        n = await agentmod.cleanup(runner, host=args.host_guard,
                                   cni_conf_dir=None if args.host_guard else args.cni_conf_dir)
        log.info("cleanup: %d chains deleted%s", n, "" if args.host_guard else
                 ", routes and CNI config removed")
        return 0
    if args.host_guard:
        if not args.node_bridge:
            log.error("--host-guard needs --node-bridge (the node containers' bridge)")
            return 2
        n = await agentmod.install_host_guard(runner, args.cluster_cidr, args.node_bridge)
        log.info("host guard for %s (bridge %s): %d written", args.cluster_cidr,
                 args.node_bridge, n)
        return 0
    client = AsyncClient(config=config_from_flags(args.server, args.kubeconfig,
                                                  "minik8s-netagent"))
    factory = SharedInformerFactory(client)
    nodes = factory.informer(Node)
    config = agentmod.Config(node_name=args.node_name, cluster_cidr=args.cluster_cidr,
                             cni_conf_dir=args.cni_conf_dir, bridge=args.cni_bridge,
                             iface=args.iface, ipam_data_dir=args.ipam_data_dir,
                             resync_period=args.resync_period)
    agent = agentmod.NetAgent(runner, config, nodes.store.list)
    # The guard first: from here on nothing addressed to the cluster CIDR leaves the node.
    try:
        await agent.install_guard()
    except CommandError as exc:
        log.error("cannot install the leak guard: %s", exc)
        await client.close()
        return 1
    log.info("cluster CIDR %s guarded (chain %s from filter OUTPUT and FORWARD, "
             "unreachable route)", args.cluster_cidr, rules.CHAIN)
    nodes.add_handler(agent.kick, agent.on_update, agent.kick)
    stop = stop_on_signals()
    server = None
    host, port = args.healthz_bind_address
    try:
        if port:
            server = await serve_health(host, port, agent)
        await factory.start_all()
        while not await factory.wait_for_sync(timeout=5):
            if stop.is_set():
                return 0
            log.info("waiting for the Node cache to sync")
        log.info("node %s: syncing every %ss", args.node_name, args.resync_period)
        await agent.run(stop)
    finally:
        if server is not None:
            server.close()
        await factory.stop_all()
        await client.close()
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    run_and_exit(serve(args))


if __name__ == "__main__":
    main()
