"""LoadBalancer addresses: from creating a ``type: LoadBalancer`` Service to its address in
``status.loadBalancer`` (the servicelb controller), against a same-run baseline.

    .venv/bin/python bench/servicelb.py [--services 200] [--concurrency 16]

Starts its own etcd, API server and controller-manager (``--controllers=servicelb``, range
127.0.240.0/20); sends no packet anywhere. Creates ``--services`` LoadBalancer Services,
``--concurrency`` at a time, and times from sending each create:

- ``watch`` (baseline): its ADDED event reaching a plain Service watcher here (what any
  watcher of the write pays),
- ``address``: the MODIFIED event carrying its ``status.loadBalancer.ingress[0].ip`` (the
  controller saw it, added its finalizer, chose the address, wrote the status).

Then deletes them all and times until the last address is free again (every Service gone:
the controller removed its finalizer). Prints one JSON document with p50/p99 and the ratio
of ``address`` to ``watch``.
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

from api.models import Namespace, ObjectMeta, Service
from bench.stats import gather_limited, latency_summary, pct
from client.rest import AsyncClient
from testing.support import ApiServer, Etcd, Process, service

NS = "bench-servicelb"


def now() -> float:
    return time.perf_counter()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    etcd = Etcd().start()
    api = ApiServer(etcd.url).start()
    procs: list[Process] = []
    client = AsyncClient(api.url)
    added: dict[str, float] = {}
    addressed: dict[str, tuple[float, str]] = {}
    gone: dict[str, float] = {}
    try:
        procs.append(service("controller-manager", "controllers", [
            "--server", api.url, "--controllers", "servicelb"]))
        await client.create(Namespace(metadata=ObjectMeta(name=NS)))
        rv = (await client.list(Service, NS)).resource_version

        async def watch() -> None:
            nonlocal rv
            while True:
                async for ev in client.watch(Service, NS, resource_version=rv,
                                             timeout_seconds=300):
                    t = now()
                    rv = ev.object.metadata.resource_version or rv
                    name = ev.object.metadata.name or ""
                    if ev.type == "ADDED":
                        added.setdefault(name, t)
                    elif ev.type == "DELETED":
                        gone.setdefault(name, t)
                    st = ev.object.status
                    ing = st.load_balancer.ingress if st and st.load_balancer else None
                    if ing and ing[0].ip and name not in addressed:
                        addressed[name] = (t, ing[0].ip)

        watcher = asyncio.create_task(watch())
        # warm-up: the controller is running once a first Service has its address
        await client.create(Service.model_validate({
            "metadata": {"name": "warm-up", "namespace": NS},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}), NS)
        deadline = now() + 120
        while "warm-up" not in addressed and now() < deadline:
            await asyncio.sleep(0.02)
        sent: dict[str, float] = {}

        async def create(i: int) -> None:
            name = f"lb-{i}"
            sent[name] = now()
            await client.create(Service.model_validate({
                "metadata": {"name": name, "namespace": NS},
                "spec": {"type": "LoadBalancer",
                         "ports": [{"port": 80, "targetPort": 8080}]}}), NS)

        t0 = now()
        await gather_limited(args.concurrency, [create(i) for i in range(args.services)])
        deadline = now() + 120
        while len(addressed) < args.services + 1 and now() < deadline:  # + the warm-up
            await asyncio.sleep(0.01)
        all_addressed = now() - t0
        names = list(sent)
        ips = {addressed[n][1] for n in names if n in addressed}
        t1 = now()
        await gather_limited(args.concurrency,
                             [client.delete(Service, n, NS) for n in names])
        while len(gone) < len(names) and now() < deadline + 60:
            await asyncio.sleep(0.01)
        all_freed = now() - t1
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        w = [added[n] - sent[n] for n in names if n in added]
        a = [addressed[n][0] - sent[n] for n in names if n in addressed]
        return {
            "services": args.services, "concurrency": args.concurrency,
            "baseline_watch": latency_summary(w), "address": latency_summary(a),
            "ratio_p50": round(pct(a, 50) / pct(w, 50), 2) if a and w else None,
            "distinct_addresses": len(ips), "all_addressed_s": round(all_addressed, 3),
            "all_deleted_s": round(all_freed, 3),
        }
    finally:
        await client.close()
        for p in reversed(procs):
            p.stop()
        api.stop()
        etcd.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--services", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=16)
    print(json.dumps(asyncio.run(run(p.parse_args())), indent=2))


if __name__ == "__main__":
    main()
