"""StatefulSet benchmark: an OrderedReady StatefulSet of N replicas on hollow nodes until all
its pods are Ready (each pod created only once the previous one is Running and Ready: N
strictly sequential round trips through the controller, the scheduler and a kubelet),
against a Parallel StatefulSet of N on the same nodes (the baseline, in the same run).

    .venv/bin/python bench/statefulset.py [--replicas 100] [--nodes 10] [--timeout 600]

Starts its own etcd, API server, one hollow-kubelet process (``--fake-nodes``), the
scheduler and the controller-manager (statefulset only). Each side is timed from its create
until status.readyReplicas is N; API writes are counted from the API server's /metrics
(write verbs, the nodes' heartbeats left out) per pod. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.models.apps import StatefulSet
from bench.daemonset import hollow_cluster, template, timed_create
from client.rest import AsyncClient


async def side(client: AsyncClient, url: str, ns: str, n: int, timeout: float,
               settle: float, policy: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": n, "serviceName": ns, "podManagementPolicy": policy,
                            "selector": {"matchLabels": {"app": ns}}, "template": template(ns)}
    took, writes = await timed_create(client, url, ns, StatefulSet, spec, "ready_replicas", n,
                                      timeout, settle)
    return {"pods": n, "policy": policy, "seconds": round(took, 2),
            "seconds_per_pod": round(took / n, 3), **writes}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with hollow_cluster(args.nodes, "statefulset", "hs", args.settle,
                              120) as (client, url):
        parallel = await side(client, url, "bench-par", args.replicas, args.timeout,
                              args.settle, "Parallel")
        ordered = await side(client, url, "bench-ord", args.replicas, args.timeout,
                             args.settle, "OrderedReady")
        return {"hollow_nodes": args.nodes, "parallel": parallel, "ordered_ready": ordered,
                "ordered_seconds_vs_parallel": round(ordered["seconds"]
                                                     / parallel["seconds"], 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--replicas", type=int, default=100)
    p.add_argument("--nodes", type=int, default=10)
    p.add_argument("--settle", type=float, default=2.0)
    p.add_argument("--timeout", type=float, default=600.0)
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
