"""Node IPAM: from creating a Node to its ``spec.podCIDR`` (the controller-manager's nodeipam
controller), against a same-run baseline, and after a restart.

    .venv/bin/python bench/nodeipam.py [--nodes 500] [--concurrency 16]

Starts its own etcd, API server and controller-manager (``--controllers=nodeipam
--allocate-node-cidrs``, cluster CIDR 10.64.0.0/12 cut in /24s: 4,096 of them); sends no packet
anywhere. Creates ``--nodes`` Nodes, ``--concurrency`` at a time, and times from sending each
create:

- ``watch`` (baseline): its ADDED event reaching a plain Node watcher here (what any watcher
  of the write pays),
- ``cidr``: the MODIFIED event carrying its podCIDR (the controller saw it, took the next free
  subnet, patched the Node).

Then stops the controller-manager, creates one more Node, starts a new one and times until
that Node has its podCIDR (process start, the Node cache of every Node filled, the bitmap
rebuilt, one allocation), and checks that no CIDR was given twice. Prints one JSON document
with p50/p99 and the ratio of ``cidr`` to ``watch``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.models import Node
from bench.stats import gather_limited, latency_summary, pct
from client.rest import AsyncClient
from testing.support import ApiServer, Etcd, Process, service

CLUSTER = "10.64.0.0/12"


def now() -> float:
    return time.perf_counter()


def ipam(server: str) -> Process:
    return service("controller-manager", "controllers", [
        "--server", server, "--controllers", "nodeipam", "--allocate-node-cidrs",
        "--cluster-cidr", CLUSTER, "--node-cidr-mask-size", "24"])


async def run(args: argparse.Namespace) -> dict[str, Any]:
    etcd = Etcd().start()
    api = ApiServer(etcd.url).start()
    procs: list[Process] = []
    client = AsyncClient(api.url)
    added: dict[str, float] = {}
    cidrs: dict[str, tuple[float, str]] = {}
    try:
        procs.append(ipam(api.url))
        rv = (await client.list(Node)).resource_version

        async def watch() -> None:
            nonlocal rv
            while True:
                async for ev in client.watch(Node, resource_version=rv, timeout_seconds=300):
                    t = now()
                    rv = ev.object.metadata.resource_version or rv
                    name = ev.object.metadata.name or ""
                    if ev.type == "ADDED":
                        added.setdefault(name, t)
                    spec = ev.object.spec
                    if spec is not None and spec.pod_cidr and name not in cidrs:
                        cidrs[name] = (t, spec.pod_cidr)

        async def wait_cidr(name: str, timeout: float = 120) -> bool:
            deadline = now() + timeout
            while name not in cidrs and now() < deadline:
                await asyncio.sleep(0.01)
            return name in cidrs

        watcher = asyncio.create_task(watch())
        # warm-up: the controller is running once a first Node has its CIDR
        await client.create(Node.model_validate({"metadata": {"name": "warm-up"}}))
        await wait_cidr("warm-up")
        sent: dict[str, float] = {}

        async def create(i: int) -> None:
            name = f"node-{i}"
            sent[name] = now()
            await client.create(Node.model_validate({"metadata": {"name": name}}))

        t0 = now()
        await gather_limited(args.concurrency, [create(i) for i in range(args.nodes)])
        deadline = now() + 120
        while len(cidrs) < args.nodes + 1 and now() < deadline:  # + the warm-up
            await asyncio.sleep(0.01)
        all_allocated = now() - t0
        names = list(sent)
        # a restart: the bitmap is rebuilt from the Nodes, the newcomer gets a free one
        procs.pop().stop()
        await client.create(Node.model_validate({"metadata": {"name": "after-restart"}}))
        t1 = now()
        procs.append(ipam(api.url))
        restarted = await wait_cidr("after-restart")
        restart_s = now() - t1
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        given = [c for _, c in cidrs.values()]
        w = [added[n] - sent[n] for n in names if n in added]
        c = [cidrs[n][0] - sent[n] for n in names if n in cidrs]
        return {
            "nodes": args.nodes, "concurrency": args.concurrency,
            "baseline_watch": latency_summary(w), "cidr": latency_summary(c),
            "ratio_p50": round(pct(c, 50) / pct(w, 50), 2) if c and w else None,
            "all_allocated_s": round(all_allocated, 3),
            "allocated_per_s": round(len(c) / all_allocated, 1) if all_allocated else None,
            "distinct_cidrs": len(set(given)), "cidrs_given": len(given),
            "restart_to_new_node_cidr_s": round(restart_s, 3) if restarted else None,
        }
    finally:
        await client.close()
        for p in reversed(procs):
            p.stop()
        api.stop()
        etcd.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=500)
    p.add_argument("--concurrency", type=int, default=16)
    print(json.dumps(asyncio.run(run(p.parse_args())), indent=2))


if __name__ == "__main__":
    main()
