"""Scheduler benchmark: 5,000 nodes, 30,000 pending pods, end to end through the API server,
beside the same run at 500 nodes.

    .venv/bin/python bench/scheduler.py [--nodes 5000] [--pods 30000] [--pre 10000]
                                        [--compare-nodes 500]

For each size (``--compare-nodes`` first, 0 to skip it) it starts its own etcd and API
server, creates the nodes, measures the floor (the rate at which the same client binds
pods with no scheduling logic at all), creates ``--pre`` pending pods, starts ``python -m
scheduler`` and creates the rest while it runs. A watch in this process times every pod
from its creation (the POST's return) to the moment its spec.nodeName shows up, and counts
nodes used and pods whose node changed (bound twice); then the floor is measured again (the
scheduler idle) and the ratio is to the mean of the two. Prints one JSON document: each run,
and the goals: steady-state rate / floor, pods/s, the scheduler's CPU per pod at the big
size / the small one (whole process, and the scheduling cycles alone), every node used, no
pod bound twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
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
                   concurrency: int, ns: str = "baseline") -> dict[str, float]:
    """Bindings/s with no scheduling logic: pods the scheduler ignores, bound round-robin."""
    await client.create(Namespace.from_dict({"metadata": {"name": ns}}))
    await gather_limited(32, (client.create(bench_pod(i, ns, "nobody")) for i in range(n_pods)))
    t0 = time.perf_counter()
    await gather_limited(concurrency, (client.bind(f"pod-{i:05d}", ns, f"node-{i % n_nodes:04d}")
                                       for i in range(n_pods)))
    dt = time.perf_counter() - t0
    return {"pods": n_pods, "seconds": round(dt, 3), "binds_per_second": round(n_pods / dt, 1)}


CYCLE_LOG = re.compile(r"(\d+) attempts, (\d+) bound, (\d+) unschedulable, "
                       r"(\d+) binding errors, ([\d.]+) ms CPU per cycle")


async def run(args: argparse.Namespace, n_nodes: int) -> dict[str, Any]:
    args = argparse.Namespace(**{**vars(args), "nodes": n_nodes})
    etcd = Etcd().start()
    api = ApiServer(etcd.url).start()
    sched = None
    out: dict[str, Any] = {"nodes": args.nodes, "pods": args.pods,
                           "pods_created_before_scheduler": args.pre,
                           "machine_load_average_1m_at_start": round(os.getloadavg()[0], 2)}
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
            # the backlog: the pods created before the scheduler, bound while the rest
            # are still being created (the later ones can go no faster than their creation)
            if n > args.pre > 10:
                b0, b1 = times[args.pre // 10], times[(args.pre * 9) // 10]
                out["result"]["pods_per_second_first_pre_pods"] = \
                    round(0.8 * args.pre / (b1 - b0), 1) if b1 > b0 else None
            out["creates_per_second_while_scheduling"] = round(
                (args.pods - args.pre) / out["during_create_seconds"], 1) \
                if out["during_create_seconds"] else None
            out["scheduler_process"] = {
                "cpu_seconds": round(cpu.user + cpu.system, 2),
                "cpu_percent_of_one_core": round(100 * (cpu.user + cpu.system)
                                                 / (t_end - t_start), 1),
                "rss_max_mb": round(rss_max / 2**20, 1),
            }
            out["same_window_cpu_percent_of_one_core"] = {
                k: round(100 * v / (t_end - t_start), 1) for k, v in others_cpu.items()}
            out["scheduler_process"]["cpu_ms_per_pod"] = round(
                1000 * (cpu.user + cpu.system) / max(n, 1), 3)
            out["machine_load_average_1m"] = round(psutil.getloadavg()[0], 2)
            # the floor again, now (the scheduler idle): the machine's load moves a lot
            # in minutes, so the ratio is to the mean of the floor before and after
            out["baseline_after"] = await baseline(client, args.baseline_pods, args.nodes,
                                                   args.bind_concurrency, "baseline-after")
            base = round((out["baseline"]["binds_per_second"]
                          + out["baseline_after"]["binds_per_second"]) / 2, 1)
            out["floor_binds_per_second"] = base
            r = out["result"]["pods_per_second_steady_state"]
            out["ratio_steady_state_to_baseline"] = round(r / base, 3) if base else None
    finally:
        if sched is not None:
            sched.stop()
            tail = sched.log_tail(20)
            out["scheduler_log_tail"] = tail.splitlines()[-5:]
            m = CYCLE_LOG.search(tail)
            if m is not None:
                sp = out.setdefault("scheduler_process", {})
                sp["attempts"] = int(m[1])
                sp["binding_errors"] = int(m[4])
                sp["cycle_ms_per_pod"] = float(m[5])
        api.stop()
        etcd.stop()
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [n for n in (args.compare_nodes, args.nodes) if n]
    runs = [await run(args, n) for n in sizes]
    big = runs[-1]
    res, proc = big.get("result", {}), big.get("scheduler_process", {})
    floor = big.get("floor_binds_per_second")
    doc: dict[str, Any] = {
        "nodes": args.nodes, "pods": args.pods, "pods_created_before_scheduler": args.pre,
        "cpus": os.cpu_count(),
        "floor_binds_per_second": floor,
        "floor_before_and_after": [big["baseline"]["binds_per_second"],
                                   big.get("baseline_after", {}).get("binds_per_second")],
        "pods_per_second_steady_state": res.get("pods_per_second_steady_state"),
        "pods_per_second_end_to_end": res.get("pods_per_second_end_to_end"),
        "ratio_to_floor": big.get("ratio_steady_state_to_baseline"),
        "pods_per_second_first_pre_pods": res.get("pods_per_second_first_pre_pods"),
        "ratio_first_pre_pods_to_floor": _ratio(res.get("pods_per_second_first_pre_pods"),
                                                floor),
        "creates_per_second_while_scheduling": big.get(
            "creates_per_second_while_scheduling"),
        "cpu_ms_per_pod": {str(r["nodes"]): r.get("scheduler_process", {}).get(
            "cpu_ms_per_pod") for r in runs},
        "cycle_ms_per_pod": {str(r["nodes"]): r.get("scheduler_process", {}).get(
            "cycle_ms_per_pod") for r in runs},
        "nodes_used": res.get("nodes_used"),
        "all_nodes_used": res.get("nodes_used") == args.nodes,
        "pods_bound_twice": res.get("rebinds"),
        "binding_errors": proc.get("binding_errors"),
        "machine_load_average_1m": [r.get("machine_load_average_1m_at_start") for r in runs]
        + [big.get("machine_load_average_1m")],
        "goals": {"ratio_to_floor": 0.8, "pods_per_second": 1000,
                  "cpu_per_pod_big_vs_small": 1.2},
        "runs": runs,
    }
    if len(runs) == 2:
        small = runs[0].get("scheduler_process", {})
        doc["cpu_per_pod_big_vs_small"] = _ratio(proc.get("cpu_ms_per_pod"),
                                                 small.get("cpu_ms_per_pod"))
        doc["cycle_per_pod_big_vs_small"] = _ratio(proc.get("cycle_ms_per_pod"),
                                                   small.get("cycle_ms_per_pod"))
    return doc


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=5000)
    p.add_argument("--compare-nodes", type=int, default=500,
                   help="the same run at this many nodes first, for the CPU per pod (0: skip)")
    p.add_argument("--pods", type=int, default=30000)
    p.add_argument("--pre", type=int, default=10000, help="pods created before the scheduler")
    p.add_argument("--baseline-pods", type=int, default=3000)
    p.add_argument("--bind-concurrency", type=int, default=64)
    p.add_argument("--timeout", type=float, default=600)
    args = p.parse_args()
    print(json.dumps(asyncio.run(run_all(args)), indent=2))


if __name__ == "__main__":
    main()
