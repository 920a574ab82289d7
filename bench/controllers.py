"""Controller-manager benchmark: 100 Deployments x 10 replicas created at once.

    /work/venv/bin/python bench/controllers.py [--deployments 100] [--replicas 10]

Starts its own etcd and API server. First a baseline: the same number of pods created
directly by this script (``--concurrency`` requests in flight). Then the
controller-manager starts (ready once its serviceaccounts controller has written the
bench namespace's ``default`` ServiceAccount), the Deployments are created together, and a
ReplicaSet informer here notes when every ReplicaSet exists and when every one reports all
its pods created (status.replicas == spec.replicas). Writes are counted from the API
server's /metrics (apiserver_request_total, write verbs, minus this script's own), by
resource and by verb (events: POSTs of new Events, PATCHes of their counts), CPU and RSS
of the controller-manager with psutil. Prints one JSON document.

With ``--replicas 100`` (and fewer Deployments) the event correlator shows: past ten
similar events about one ReplicaSet they aggregate, and past 25 the spam filter drops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.models import (
    Deployment,
    Event,
    Namespace,
    ObjectMeta,
    Pod,
    ReplicaSet,
)
from api.models.serviceaccount import ServiceAccount
from bench.stats import gather_limited
from client.errors import NotFound
from client.informer import Informer
from client.rest import AsyncClient
from testing.objects import deployment
from testing.support import ApiServer, Etcd, service

WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE", "create", "update", "patch", "delete",
               "deletecollection"}
_LINE = re.compile(r'^apiserver_request_total\{([^}]*)\}\s+([0-9.e+]+)$')


def scrape_writes(url: str) -> Counter[str]:
    """Write requests so far, keyed ``resource[/subresource] VERB``."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out: Counter[str] = Counter()
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("verb") not in WRITE_VERBS:
            continue
        key = labels.get("resource", "?") + (f"/{labels['subresource']}"
                                             if labels.get("subresource") else "")
        out[f"{key} {labels['verb']}"] += int(float(m.group(2)))
    return out


def by_resource(writes: Counter[str]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for key, n in writes.items():
        out[key.split(" ")[0]] += n
    return dict(sorted(out.items()))


async def controllers_ready(client: AsyncClient, ns: str, timeout: float) -> None:
    """The controller-manager runs its controllers once its caches synced: its
    serviceaccounts controller writing ``default`` in ``ns`` says it got there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            await client.get(ServiceAccount, "default", ns)
            return
        except NotFound:
            await asyncio.sleep(0.1)
    raise TimeoutError(f"the controller-manager did not start within {timeout:.0f}s")


async def baseline(client: AsyncClient, n: int, concurrency: int,
                   api_proc: psutil.Process) -> dict[str, Any]:
    ns = "bench-baseline"
    await client.create(Namespace(metadata=ObjectMeta(name=ns)))
    tpl = deployment("base", 1).spec.template

    async def one(i: int) -> None:
        await client.create(Pod(metadata=ObjectMeta(name=f"base-{i:05d}", labels={"b": "1"}),
                                spec=tpl.spec.copy_deep()), ns)

    c0 = api_proc.cpu_times()
    t0 = time.perf_counter()
    await gather_limited(concurrency, (one(i) for i in range(n)))
    dt = time.perf_counter() - t0
    c1 = api_proc.cpu_times()
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    return {"pods": n, "concurrency": concurrency, "seconds": round(dt, 3),
            "pods_per_second": round(n / dt, 1), "apiserver_cpu_seconds": round(cpu, 2),
            "apiserver_busy": round(cpu / dt, 2)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    etcd = Etcd().start()
    api = ApiServer(etcd.url).start()
    cm = None
    try:
        async with AsyncClient(api.url, timeout=60) as client:
            total = args.deployments * args.replicas
            base = await baseline(client, total, args.concurrency,
                                  psutil.Process(api.proc.pid if api.proc else 0))
            cm = service("controller-manager", args.cm_module,
                         ["--server", api.url, "--controllers=*,-nodelifecycle", *args.cm_args])
            proc = psutil.Process(cm.proc.pid if cm.proc else 0)
            ns = "bench"
            await client.create(Namespace(metadata=ObjectMeta(name=ns)))
            rs_inf: Informer[ReplicaSet] = Informer(client, ReplicaSet, ns)
            done = asyncio.Event()
            t_rs: list[float] = []

            def check(*_: Any) -> None:
                items = rs_inf.store.list()
                if len(items) == args.deployments and not t_rs:
                    t_rs.append(time.perf_counter())
                if len(items) == args.deployments and all(
                        (r.status.replicas if r.status else 0) == args.replicas
                        and r.spec.replicas == args.replicas for r in items):
                    done.set()

            rs_inf.add_handler(check, check, None)
            await rs_inf.start()
            await rs_inf.wait_for_sync(10)
            await controllers_ready(client, ns, args.timeout)
            await asyncio.sleep(args.settle)
            cpu0 = proc.cpu_times()
            api_proc = psutil.Process(api.proc.pid if api.proc else 0)
            api_cpu0 = api_proc.cpu_times()
            writes0 = scrape_writes(api.url)
            peak_rss = proc.memory_info().rss

            async def sample() -> None:
                nonlocal peak_rss
                while True:
                    peak_rss = max(peak_rss, proc.memory_info().rss)
                    await asyncio.sleep(0.2)

            sampler = asyncio.create_task(sample())
            t0 = time.perf_counter()
            await gather_limited(args.concurrency, (
                client.create(deployment(f"d{i:03d}", args.replicas), ns)
                for i in range(args.deployments)))
            t_created = time.perf_counter() - t0
            await asyncio.wait_for(done.wait(), args.timeout)
            t_pods = time.perf_counter() - t0
            api_cpu1 = api_proc.cpu_times()
            api_cpu = (api_cpu1.user - api_cpu0.user) + (api_cpu1.system - api_cpu0.system)

            async def deployments_done() -> bool:
                ds = (await client.list(Deployment, ns)).items
                return all(d.status is not None and d.status.replicas == args.replicas
                           and d.status.updated_replicas == args.replicas for d in ds)

            while not await deployments_done():
                await asyncio.sleep(0.1)
            t_status = time.perf_counter() - t0
            # writes that trail the last pod (statuses, events) belong to this run too:
            # wait until the controller-manager has been quiet for ``settle`` seconds
            writes1 = scrape_writes(api.url)
            quiet_since = time.perf_counter()
            while time.perf_counter() - quiet_since < args.settle:
                await asyncio.sleep(0.5)
                now = scrape_writes(api.url)
                if now != writes1:
                    writes1, quiet_since = now, time.perf_counter()
            cpu1 = proc.cpu_times()
            sampler.cancel()
            await rs_inf.stop()
            rss = proc.memory_info().rss
            delta = writes1 - writes0
            delta["deployments POST"] -= args.deployments  # our own creates
            delta = +delta
            cm_writes = sum(delta.values())
            resources = by_resource(delta)
            events = resources.get("events", 0)
            cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
            pods = len((await client.list(Pod, ns)).items)
            events_stored = len((await client.list(Event, ns)).items)
            return {
                "deployments": args.deployments, "replicas": args.replicas,
                "pods_created": pods,
                "seconds_until_all_deployments_posted": round(t_created, 3),
                "seconds_until_every_replicaset_created": round(t_rs[0] - t0, 3),
                "seconds_until_every_replicaset_reports_all_pods_created": round(t_pods, 3),
                "seconds_until_every_deployment_status_updated": round(t_status, 3),
                "pods_per_second_through_controllers": round(pods / t_pods, 1),
                "controller_manager_writes": resources,
                "controller_manager_writes_by_verb": dict(sorted(delta.items())),
                "events_stored": events_stored,
                "writes_per_pod": round(cm_writes / max(pods, 1), 3),
                "writes_per_pod_without_events": round((cm_writes - events) / max(pods, 1), 3),
                "controller_manager_cpu_seconds": round(cpu, 2),
                "controller_manager_cpu_ms_per_pod": round(1000 * cpu / max(pods, 1), 2),
                "controller_manager_rss_mb_end": round(rss / 2**20, 1),
                "controller_manager_rss_mb_peak": round(peak_rss / 2**20, 1),
                # near 1.0: the API server's CPU bounds the run, not the controllers' latency
                "apiserver_cpu_seconds_until_reported": round(api_cpu, 2),
                "apiserver_busy_until_reported": round(api_cpu / t_pods, 2),
                "baseline_direct_pod_creates": base,
                "slowdown_vs_baseline": round(t_pods / base["seconds"], 2),
                "goals_met": {
                    "writes_per_pod_le_2": cm_writes / max(pods, 1) <= 2.0,
                    "pods_reported_created_le_1s": t_pods <= 1.0,
                },
            }
    finally:
        if cm is not None:
            cm.stop()
        api.stop()
        etcd.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--deployments", type=int, default=100)
    p.add_argument("--replicas", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--settle", type=float, default=2.0)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--cm-module", default="controllers", help=argparse.SUPPRESS)
    p.add_argument("--cm-arg", dest="cm_args", action="append", default=[],
                   help="extra controller-manager flag (repeatable)")
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
