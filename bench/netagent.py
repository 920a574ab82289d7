"""The network agent: from creating (or deleting) a Node to the route for its podCIDR
appearing (or going) in another node, against a same-run baseline.

    .venv/bin/python bench/netagent.py [--peers 200] [--concurrency 8]

Needs root. Starts its own etcd and API server, builds a "host" network namespace with a
bridge and one "node" namespace on it (``mk8s-nb-*``, removed at the end), and runs
minik8s-netagent for that node (``--netns``, resync 30 s so that only Node events drive it).
Creates ``--peers`` Nodes, ``--concurrency`` at a time, each with a podCIDR and an
InternalIP on the node's subnet, and times from sending each create:

- ``watch`` (baseline): its ADDED event reaching a plain Node watcher here,
- ``route``: ``ip monitor route`` in the node's namespace printing the route to its podCIDR
  (the agent saw the Node, rewrote its guard chain with the new peer, installed the route).

Then deletes them all and times the same for the routes' removal. Prints one JSON document
with p50/p99 and the ratios of ``route`` to ``watch``. No packet is sent anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.models import Node
from bench.stats import gather_limited, latency_summary, pct
from client.rest import AsyncClient
from testing.support import ApiServer, Etcd, Process, service

CLUSTER = "10.200.0.0/13"  # 2,048 /24s
HOST_NS, NODE_NS, BRIDGE = "mk8s-nb-h", "mk8s-nb-1", "mk8snb0"
NODE_NET = ipaddress.ip_network("10.252.0.0/21")  # the nodes' addresses: 2,000 and more


def now() -> float:
    return time.perf_counter()


def sh(*argv: str, check: bool = True) -> None:
    subprocess.run(argv, check=check, capture_output=True, timeout=30)


def teardown() -> None:
    for ns in (NODE_NS, HOST_NS):
        sh("ip", "netns", "del", ns, check=False)


def setup() -> str:
    teardown()
    sh("ip", "netns", "add", HOST_NS)
    sh("ip", "netns", "add", NODE_NS)
    sh("ip", "-n", HOST_NS, "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "-n", HOST_NS, "link", "set", BRIDGE, "up")
    sh("ip", "-n", HOST_NS, "link", "add", "mk8snb-v1", "type", "veth", "peer", "name", "eth0",
       "netns", NODE_NS)
    sh("ip", "-n", HOST_NS, "link", "set", "mk8snb-v1", "master", BRIDGE, "up")
    ip = str(NODE_NET.network_address + 1)
    sh("ip", "-n", NODE_NS, "addr", "add", f"{ip}/{NODE_NET.prefixlen}", "dev", "eth0")
    sh("ip", "-n", NODE_NS, "link", "set", "eth0", "up")
    sh("ip", "-n", NODE_NS, "link", "set", "lo", "up")
    return ip


def node(name: str, index: int, ip: str) -> Node:
    cidr = str(list(ipaddress.ip_network(CLUSTER).subnets(new_prefix=24))[index])
    return Node.model_validate({
        "metadata": {"name": name}, "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}]}})


async def run(args: argparse.Namespace) -> dict[str, Any]:
    own_ip = setup()
    etcd = Etcd().start()
    api = ApiServer(etcd.url).start()
    procs: list[Process] = []
    client = AsyncClient(api.url)
    added: dict[str, float] = {}
    deleted: dict[str, float] = {}
    routed: dict[str, float] = {}
    unrouted: dict[str, float] = {}
    monitor = await asyncio.create_subprocess_exec(
        "ip", "-n", NODE_NS, "monitor", "route", stdout=asyncio.subprocess.PIPE)
    try:
        with tempfile.TemporaryDirectory() as conf_dir:
            await client.create(node("nb-1", 0, own_ip))
            procs.append(service("netagent", "netagent", [
                "--server", api.url, "--node-name", "nb-1", "--cluster-cidr", CLUSTER,
                "--netns", NODE_NS, "--cni-conf-dir", conf_dir, "--resync-period", "30s",
                "--healthz-bind-address", "127.0.0.1:0"]))
            rv = (await client.list(Node)).resource_version

            async def watch() -> None:
                nonlocal rv
                while True:
                    async for ev in client.watch(Node, resource_version=rv,
                                                 timeout_seconds=300):
                        t = now()
                        rv = ev.object.metadata.resource_version or rv
                        name = ev.object.metadata.name or ""
                        if ev.type == "ADDED":
                            added.setdefault(name, t)
                        elif ev.type == "DELETED":
                            deleted.setdefault(name, t)

            by_cidr: dict[str, str] = {}

            async def read_monitor() -> None:
                assert monitor.stdout is not None
                while line := (await monitor.stdout.readline()).decode():
                    t = now()
                    words = line.split()
                    gone = words[:1] == ["Deleted"]
                    dst = words[1] if gone and len(words) > 1 else words[0] if words else ""
                    name = by_cidr.get(dst)
                    if name is not None:
                        (unrouted if gone else routed).setdefault(name, t)

            tasks = [asyncio.create_task(watch()), asyncio.create_task(read_monitor())]
            # warm-up: the agent is running once a first peer's route is there
            warm = node("warm-up", 1, str(NODE_NET.network_address + 2))
            assert warm.spec is not None
            by_cidr[str(warm.spec.pod_cidr)] = "warm-up"
            await client.create(warm)
            deadline = now() + 120
            while "warm-up" not in routed and now() < deadline:
                await asyncio.sleep(0.01)
            sent: dict[str, float] = {}
            peers = [node(f"peer-{i}", i + 2, str(NODE_NET.network_address + 3 + i))
                     for i in range(args.peers)]
            for p in peers:
                assert p.spec is not None
                by_cidr[str(p.spec.pod_cidr)] = p.metadata.name or ""

            async def create(p: Node) -> None:
                sent[p.metadata.name or ""] = now()
                await client.create(p)

            t0 = now()
            await gather_limited(args.concurrency, [create(p) for p in peers])
            deadline = now() + 120
            while len(routed) < args.peers + 1 and now() < deadline:
                await asyncio.sleep(0.01)
            all_routed = now() - t0
            names = list(sent)
            del_sent: dict[str, float] = {}

            async def delete(name: str) -> None:
                del_sent[name] = now()
                await client.delete(Node, name)

            t1 = now()
            await gather_limited(args.concurrency, [delete(n) for n in names])
            deadline = now() + 120
            while len(unrouted) < args.peers and now() < deadline:
                await asyncio.sleep(0.01)
            all_unrouted = now() - t1
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            w = [added[n] - sent[n] for n in names if n in added]
            r = [routed[n] - sent[n] for n in names if n in routed]
            wd = [deleted[n] - del_sent[n] for n in names if n in deleted]
            rd = [unrouted[n] - del_sent[n] for n in names if n in unrouted]
            return {
                "peers": args.peers, "concurrency": args.concurrency,
                "baseline_watch_added": latency_summary(w), "route_added": latency_summary(r),
                "ratio_added_p50": round(pct(r, 50) / pct(w, 50), 2) if r and w else None,
                "baseline_watch_deleted": latency_summary(wd), "route_removed": latency_summary(rd),
                "ratio_removed_p50": round(pct(rd, 50) / pct(wd, 50), 2) if rd and wd
                else None,
                "all_routed_s": round(all_routed, 3), "all_removed_s": round(all_unrouted, 3),
            }
    finally:
        monitor.kill()
        await monitor.wait()
        await client.close()
        for proc in reversed(procs):
            proc.stop()
        api.stop()
        etcd.stop()
        teardown()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peers", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=8)
    print(json.dumps(asyncio.run(run(p.parse_args())), indent=2))


if __name__ == "__main__":
    main()
