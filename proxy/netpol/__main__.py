"""``python -m proxy.netpol``: the network policy agent.

    python -m proxy.netpol --server URL [--kubeconfig FILE] [--netns NAME]
                           [--min-sync-period 0s] [--sync-period 30s]
                           [--healthz-bind-address 0.0.0.0:10257]
    python -m proxy.netpol --cleanup   # remove every chain, rule and set it made, then exit

Stopped (SIGTERM), it removes its rules unless --keep-rules-on-exit: no one would keep the
addresses in its sets current, and a new pod may reuse one of them.

It runs as root in the network namespace of the pods' bridge, next to minik8s-proxy.
At start it makes sure bridged packets pass through iptables
(net.bridge.bridge-nf-call-iptables = 1), then waits for the Pod, Namespace and
NetworkPolicy caches to sync before its first (full) sync.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from api.models import Namespace, Pod
from api.models.networkpolicy import NetworkPolicy
from api.timeutil import duration_flag
from client.config import KUBECONFIG_FLAG_HELP, config_from_flags
from client.httpserve import PROMETHEUS, Reply, serve_http
from client.informer import SharedInformerFactory
from client.rest import AsyncClient
from client.service import run_and_exit, setup_logging, stop_on_signals
from proxy.iptables import Iptables
from proxy.main import bind_address
from proxy.netpol.agent import Agent, cleanup

log = logging.getLogger("netpol")

BRIDGE_SYSCTL = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="minik8s-netpol",
        description="Enforce NetworkPolicies with iptables and ipsets on this node's pods.")
    p.add_argument("--server", help="API server URL (else $MINIK8S_SERVER, ~/.minik8s/config)")
    p.add_argument("--kubeconfig", help=KUBECONFIG_FLAG_HELP)
    p.add_argument("--netns", default=None, metavar="NAME",
                   help="program this named network namespace (ip netns exec): for tests "
                        "and benchmarks")
    p.add_argument("--sync-period", type=duration_flag, default=30.0, metavar="D",
                   help="the longest time between full syncs")
    p.add_argument("--min-sync-period", type=duration_flag, default=0.0, metavar="D",
                   help="the shortest time between syncs")
    p.add_argument("--healthz-bind-address", type=bind_address, default=("0.0.0.0", 10257),
                   metavar="HOST:PORT", help="serve /healthz and /metrics here (port 0: off)")
    p.add_argument("--cleanup", action="store_true",
                   help="remove every chain, rule and set the agent made, then exit")
    p.add_argument("--keep-rules-on-exit", action="store_true",
                   help="leave the rules in place when stopped (by default they go: nothing "
                        "would keep their addresses current, and a new pod may reuse one)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def ensure_bridge_netfilter(path: Path = BRIDGE_SYSCTL) -> bool:
    """Bridged packets must cross iptables for pods on one bridge to be filtered at all:
    net.bridge.bridge-nf-call-iptables set to 1 (False when it cannot be)."""
    try:
        if path.read_text().strip() == "1":
            return True
        path.write_text("1\n")
        log.info("set net.bridge.bridge-nf-call-iptables = 1")
        return path.read_text().strip() == "1"
    except OSError as exc:
        log.error("net.bridge.bridge-nf-call-iptables: %s (is br_netfilter loaded?)", exc)
        return False


def render_metrics(agent: Agent) -> str:
    st = agent.stats
    return "".join(f"{k} {v}\n" for k, v in (
        ("minik8s_netpol_syncs_total", st.syncs),
        ("minik8s_netpol_full_syncs_total", st.full_syncs),
        ("minik8s_netpol_sync_failures_total", st.failures),
        ("minik8s_netpol_last_sync_seconds", f"{st.last_duration:.6f}"),
        ("minik8s_netpol_policies", len(agent.policies)),
        ("minik8s_netpol_ipsets", len(agent.sets)),
        ("minik8s_netpol_chains", len(agent.chains)),
    ))


async def serve(args: argparse.Namespace) -> int:
    missing = [t for t in ("ipset", "iptables-restore") if shutil.which(t) is None]
    if missing:
        print(f"minik8s-netpol: {', '.join(missing)} not found (apt-get install ipset "
              "iptables)", file=sys.stderr)
        return 1
    ipt = Iptables(netns=args.netns)
    if args.cleanup:
        chains, sets = await cleanup(ipt)
        log.info("cleanup: %d chains and %d sets removed", chains, sets)
        return 0
    if args.netns is None and not ensure_bridge_netfilter():
        log.warning("pods on one bridge are not filtered")
    agent = Agent(ipt, min_sync_period=args.min_sync_period, resync_period=args.sync_period)
    client = AsyncClient(config=config_from_flags(args.server, args.kubeconfig,
                                                  "minik8s-netpol"))
    factory = SharedInformerFactory(client)
    factory.informer(Pod).add_handler(agent.on_pod, agent.on_pod, agent.on_pod_delete)
    factory.informer(Namespace).add_handler(agent.on_namespace, agent.on_namespace,
                                            agent.on_namespace_delete)
    factory.informer(NetworkPolicy).add_handler(agent.on_policy, agent.on_policy,
                                                agent.on_policy_delete)
    stop = stop_on_signals()

    def health() -> Reply:
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        body = json.dumps({"lastUpdated": time.strftime(fmt, time.gmtime(
            agent.stats.last_synced)), "currentTime": time.strftime(fmt, time.gmtime())})
        return (200 if agent.synced_once.is_set() else 503), "application/json", body.encode()

    server = None
    host, port = args.healthz_bind_address
    try:
        if port:
            server = await serve_http(host, port, {
                "/metrics": lambda: (200, PROMETHEUS, render_metrics(agent).encode()),
                "/healthz": health})
        await factory.start_all()
        while not await factory.wait_for_sync(timeout=5):
            if stop.is_set():
                return 0
            log.info("waiting for the Pod, Namespace and NetworkPolicy caches to sync")
        log.info("caches synced: %d policies", len(agent.policies))
        await agent.run(stop)
    finally:
        if server is not None:
            server.close()
        await factory.stop_all()
        await client.close()
        if not args.keep_rules_on_exit:
            chains, sets = await cleanup(ipt)
            log.info("stopped: %d chains and %d sets removed", chains, sets)
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    run_and_exit(serve(args))


if __name__ == "__main__":
    main()
