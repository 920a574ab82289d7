"""Scheduler benchmark: 1,000 nodes, 10,000 pending pods, end to end through the API server.

    /work/venv/bin/python bench/scheduler.py [--nodes 1000] [--pods 10000] [--pre 5000]

Starts its own etcd and API server, creates the nodes, measures a baseline (the rate at
which the same client binds pods with no scheduling logic at all), creates ``--pre``
pending pods, starts ``python -m scheduler`` and creates the rest while it runs. A watch
in this process times every pod from its creation (the POST's return) to the moment its
spec.nodeName shows up. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.models import Namespace, Pod
from bench.stats import gather_limited
from client.rest import AsyncClient
from testing.objects import make_node, make_pod
from testing.support import ApiServer, Etcd, service


def percentile(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * p))]


async def create_nodes(client: AsyncClient, n: int) -> None:
    async def one(i: int) -> None:
        node = make_node(f"node-{i:04d}", cpu="32", memory="128Gi", pods="110",
                         labels={"zone": f"z{i % 3}"})
        created = await client.create(node)
        if not (created.status and created.status.conditions):
            created.status = node.status
            await client.update_status(created)
    await gather_limited(32, (one(i) for i in range(n)))


def bench_pod(i: int, ns: str, scheduler_name: str | None = None) -> Pod:
    return make_pod(f"pod-{i:05d}", ns, cpu="100m", memory="128Mi",
                    owner_uid=f"rs-{i % 20}", scheduler_name=scheduler_name)


async def baseline(client: AsyncClient, n_pods: int, n_nodes: int,
                   concurrency: int) -> dict[str, float]:
    """Bindings/s with no scheduling logic: pods the scheduler ignores, bound round-robin."""
    ns = "baseline"
    await client.create(Namespace.from_dict({"metadata": {"name": ns}}))
    await gather_limited(32, (client.create(bench_pod(i, ns, "nobody")) for i in range(n_pods)))
    t0 = time.perf_counter()
    await gather_limited(concurrency, (client.bind(f"pod-{i:05d}", ns, f"node-{i % n_nodes:04d}")
                                       for i in range(n_pods)))
    dt = time.perf_counter() - t0
    return {"pods": n_pods, "seconds": round(dt, 3), "binds_per_second": round(n_pods / dt, 1)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    etcd = Etcd().start()
    api = ApiServer(etcd.url).start()
    sched = None
    out: dict[str, Any] = {"nodes": args.nodes, "pods": args.pods,
                           "pods_created_before_scheduler": args.pre}
    try:
        async with AsyncClient(api.url, timeout=120) as client:
            t = time.perf_counter()
            await create_nodes(client, args.nodes)
            out["node_create_seconds"] = round(time.perf_counter() - t, 2)
            out["baseline"] = await baseline(client, args.baseline_pods, args.nodes,
                                             args.bind_concurrency)

            ns = "bench"
            await client.create(Namespace.from_dict({"metadata": {"name": ns}}))
            created: dict[str, float] = {}
            bound_at: dict[str, float] = {}
            node_of: dict[str, str] = {}
            all_bound = asyncio.Event()

            async def watch() -> None:
                rv = (await client.list(Pod, ns, limit=1)).resource_version
                while not all_bound.is_set():
                    async for ev in client.watch(Pod, ns, resource_version=rv,
                                                 timeout_seconds=600):
                        rv = ev.object.metadata.resource_version or rv
                        if ev.type == "BOOKMARK":
                            continue
                        name = ev.object.metadata.name or ""
                        node = ev.object.spec.node_name
                        if node and name not in bound_at:
                            bound_at[name] = time.perf_counter()
                            node_of[name] = node
                            if len(bound_at) >= args.pods:
                                all_bound.set()
                                return
                        elif node and node_of.get(name) != node:
                            out.setdefault("rebinds", 0)
                            out["rebinds"] += 1

            watcher = asyncio.create_task(watch())
            await asyncio.sleep(0.2)

            async def create(i: int) -> None:
                pod = bench_pod(i, ns)
                await client.create(pod)
                created[pod.metadata.name or ""] = time.perf_counter()

            t = time.perf_counter()
            await gather_limited(32, (create(i) for i in range(args.pre)))
            out["pre_create_seconds"] = round(time.perf_counter() - t, 2)

            sched_args = ["--server", api.url, "--bind-concurrency", str(args.bind_concurrency)]
            t_start = time.perf_counter()
            sched = service("scheduler", "scheduler", sched_args)
            proc = psutil.Process(sched.proc.pid)  # type: ignore[union-attr]
            others = {"apiserver": psutil.Process(api.proc.pid),  # type: ignore[union-attr]
                      "etcd": psutil.Process(etcd.proc.pid)}  # type: ignore[union-attr]
            others_cpu0 = {k: sum(p.cpu_times()[:2]) for k, p in others.items()}
            rss_max = 0

            async def sample() -> None:
                nonlocal rss_max
                while True:
                    try:
                        rss_max = max(rss_max, proc.memory_info().rss)
                    except psutil.Error:
                        return
                    await asyncio.sleep(0.2)

            sampler = asyncio.create_task(sample())
            t = time.perf_counter()
            await gather_limited(32, (create(i) for i in range(args.pre, args.pods)))
            out["during_create_seconds"] = round(time.perf_counter() - t, 2)
            try:
                await asyncio.wait_for(all_bound.wait(), args.timeout)
            except TimeoutError:
                out["timed_out"] = True
            t_end = time.perf_counter()
            cpu = proc.cpu_times()
            others_cpu = {k: sum(p.cpu_times()[:2]) - others_cpu0[k] for k, p in others.items()}
            sampler.cancel()
            watcher.cancel()

            times = sorted(bound_at.values())
            first = times[0] if times else t_end
            last = times[-1] if times else t_end
            n = len(times)
            lat_all = [bound_at[k] - created[k] for k in bound_at if k in created]
            lat_live = [bound_at[k] - created[k] for k in bound_at if k in created
                        and created[k] >= t_start]
            # steady state: the middle 80 % of the bindings
            lo, hi = times[n // 10] if n > 10 else first, times[(n * 9) // 10] if n > 10 else last
            steady = (0.8 * n) / (hi - lo) if hi > lo else float("nan")
            wall = last - t_start
            per_node: dict[str, int] = {}
            for node in node_of.values():
                per_node[node] = per_node.get(node, 0) + 1
            out["result"] = {
                "pods_bound": n,
                "seconds_from_scheduler_start_to_last_binding": round(wall, 2),
                "pods_per_second_end_to_end": round(n / wall, 1) if wall > 0 else None,
                "pods_per_second_steady_state": round(steady, 1),
                "first_binding_after_start_s": round(first - t_start, 2),
                "latency_p50_s": round(statistics.median(lat_live), 3) if lat_live else None,
                "latency_p99_s": round(percentile(lat_live, 0.99), 3),
                "latency_p99_incl_precreated_s": round(percentile(lat_all, 0.99), 3),
                "max_pods_per_node": max(per_node.values(), default=0),
                "min_pods_per_node": min(per_node.values(), default=0),
                "nodes_used": len(per_node),
                "rebinds": out.pop("rebinds", 0),
            }
            out["scheduler_process"] = {
                "cpu_seconds": round(cpu.user + cpu.system, 2),
                "cpu_percent_of_one_core": round(100 * (cpu.user + cpu.system)
                                                 / (t_end - t_start), 1),
                "rss_max_mb": round(rss_max / 2**20, 1),
            }
            out["same_window_cpu_percent_of_one_core"] = {
                k: round(100 * v / (t_end - t_start), 1) for k, v in others_cpu.items()}
            out["machine_load_average_1m"] = round(psutil.getloadavg()[0], 2)
            base = out["baseline"]["binds_per_second"]
            r = out["result"]["pods_per_second_steady_state"]
            out["ratio_steady_state_to_baseline"] = round(r / base, 3) if base else None
            out["goal_pods_per_second"] = 300
    finally:
        if sched is not None:
            sched.stop()
            out["scheduler_log_tail"] = sched.log_tail(5).splitlines()
        api.stop()
        etcd.stop()
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--pods", type=int, default=10000)
    p.add_argument("--pre", type=int, default=5000, help="pods created before the scheduler")
    p.add_argument("--baseline-pods", type=int, default=2000)
    p.add_argument("--bind-concurrency", type=int, default=64)
    p.add_argument("--timeout", type=float, default=600)
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
