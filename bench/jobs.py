"""Job controller benchmark: 1,000 Jobs of one pod each on 100 hollow nodes.

    .venv/bin/python bench/jobs.py [--jobs 1000] [--nodes 100] [--concurrency 32]

Starts its own etcd, API server, one hollow-kubelet process (``--fake-nodes``, the fake
runtime: a container whose command is ``true`` exits 0 at once) and the controller-manager
with the Job controller only. Every pod names its node (round robin), so no scheduler
is involved on either side.

Baseline first, in the same run: the same number of bare pods (restartPolicy Never,
``true``) created by this script, timed until every one is Succeeded. Then the Jobs,
timed until every one has its Complete condition. An informer in this script watches
each side. API writes are counted from the API server's /metrics
(apiserver_request_total, write verbs) minus this script's own creates, per Job and per
bare pod, and each process's CPU seconds per side (what bounds it). Prints one JSON
document; the goal is Jobs/s >= 0.5 x bare pods/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.models import Namespace, Node, ObjectMeta, Pod
from api.models.batch import Job
from bench.controllers import scrape_writes
from bench.stats import gather_limited
from client.informer import Informer
from client.rest import AsyncClient
from testing.support import ApiServer, Etcd, service


def log(msg: str) -> None:
    print(f"[bench/jobs] {msg}", file=sys.stderr, flush=True)


def pod_spec(node: str) -> dict[str, Any]:
    return {"nodeName": node, "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}


# The hollow nodes' heartbeats (Lease renewals, node status) go on all the time and are
# neither side's work.
HEARTBEATS = ("leases", "nodes", "nodes/status")


def workload_writes(url: str) -> dict[str, int]:
    return {k: v for k, v in scrape_writes(url).items() if k not in HEARTBEATS}


async def quiet(url: str, settle: float, limit: float = 60.0) -> dict[str, int]:
    """The write counters once nothing has been written for ``settle`` seconds (or after
    ``limit`` seconds)."""
    last = workload_writes(url)
    start = since = time.perf_counter()
    while time.perf_counter() - since < settle and time.perf_counter() - start < limit:
        await asyncio.sleep(0.25)
        now = workload_writes(url)
        if now != last:
            last, since = now, time.perf_counter()
    return last


def delta(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: b.get(k, 0) - a.get(k, 0) for k in sorted(set(a) | set(b))
            if b.get(k, 0) != a.get(k, 0)}


def cpu_seconds(pids: dict[str, int | None]) -> dict[str, float]:
    """User + system CPU seconds so far of each named process (this one for None)."""
    out = {}
    for name, pid in pids.items():
        t = psutil.Process(pid).cpu_times()
        out[name] = t.user + t.system
    return out


async def side(client: AsyncClient, url: str, ns: str, n: int, nodes: list[str],
               concurrency: int, timeout: float, settle: float, jobs: bool,
               pids: dict[str, int | None]) -> dict[str, Any]:
    """Create ``n`` pods or Jobs in ``ns``; time until all finished; count the writes."""
    await client.create(Namespace(metadata=ObjectMeta(name=ns)))
    model: Any = Job if jobs else Pod
    inf: Informer[Any] = Informer(client, model, ns)
    done = asyncio.Event()
    finished: set[str] = set()

    def check(*objs: Any) -> None:
        obj = objs[-1]
        if jobs:
            conds = (obj.status.conditions if obj.status else None) or []
            ok = any(c.type == "Complete" and c.status == "True" for c in conds)
        else:
            ok = obj.status is not None and obj.status.phase == "Succeeded"
        if ok:
            finished.add(obj.metadata.name or "")
            if len(finished) >= n:
                done.set()

    inf.add_handler(check, check, None)
    await inf.start()
    await inf.wait_for_sync(10)
    before = await quiet(url, settle)
    log(f"{ns}: creating {n}")

    def body(i: int) -> Any:
        node = nodes[i % len(nodes)]
        if jobs:
            return Job.from_dict({"metadata": {"name": f"j{i:05d}"},
                                  "spec": {"template": {"spec": pod_spec(node)}}})
        return Pod.from_dict({"metadata": {"name": f"p{i:05d}"}, "spec": pod_spec(node)})

    cpu0 = cpu_seconds(pids)
    t0 = time.perf_counter()
    await gather_limited(concurrency, (client.create(body(i), ns) for i in range(n)))
    posted = time.perf_counter() - t0
    log(f"{ns}: posted in {posted:.1f}s")
    await asyncio.wait_for(done.wait(), timeout)
    took = time.perf_counter() - t0
    cpu1 = cpu_seconds(pids)
    log(f"{ns}: all finished in {took:.1f}s")
    after = await quiet(url, settle)
    await inf.stop()
    writes = delta(before, after)
    own = "jobs" if jobs else "pods"
    writes[own] = writes.get(own, 0) - n  # this script's creates
    writes = {k: v for k, v in writes.items() if v}
    total = sum(writes.values())
    return {"count": n, "seconds_to_post": round(posted, 2), "seconds": round(took, 2),
            "per_second": round(n / took, 1), "writes": writes,
            "writes_per_item": round(total / n, 2),
            "writes_per_item_without_events": round((total - writes.get("events", 0)) / n, 2),
            # from the first create to the last finished item (bench = this process: the
            # creates and an informer)
            "cpu_seconds": {k: round(cpu1[k] - cpu0[k], 2) for k in pids}}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    etcd = Etcd().start()
    api = ApiServer(etcd.url).start()
    hollow = cm = None
    try:
        async with AsyncClient(api.url, timeout=60) as client:
            base = f"hj-{uuid.uuid4().hex[:4]}"
            hollow = service("bench-hollow", "kubelet", [
                "--server", api.url, "--node-name", base, "--fake-nodes", str(args.nodes),
                "--no-http"])
            t0 = time.monotonic()
            while True:
                names = [x.metadata.name or "" for x in (await client.list(Node)).items]
                nodes = sorted(x for x in names if x.startswith(base + "-"))
                if len(nodes) >= args.nodes:
                    break
                if time.monotonic() - t0 > 120:
                    raise RuntimeError("hollow nodes did not register:\n" + hollow.log_tail())
                await asyncio.sleep(0.5)
            log(f"{len(nodes)} hollow nodes registered")
            pids: dict[str, int | None] = {
                "apiserver": api.proc.pid if api.proc else None,
                "hollow_kubelet": hollow.proc.pid if hollow.proc else None, "bench": None}
            bare = await side(client, api.url, "bench-pods", args.jobs, nodes,
                              args.concurrency, args.timeout, args.settle, jobs=False,
                              pids=pids)
            cm = service("controller-manager", "controllers",
                         ["--server", api.url, "--controllers=job", *args.cm_args])
            await asyncio.sleep(args.settle)  # its caches fill before the clock starts
            pids["controller_manager"] = cm.proc.pid if cm.proc else None
            jobs = await side(client, api.url, "bench-jobs", args.jobs, nodes,
                              args.concurrency, args.timeout, args.settle, jobs=True,
                              pids=pids)
            ratio = jobs["per_second"] / bare["per_second"]
            return {"jobs": args.jobs, "hollow_nodes": args.nodes,
                    "bare_pods": bare, "jobs_of_one_pod": jobs,
                    "jobs_per_second_vs_bare_pods": round(ratio, 2),
                    "goal_jobs_ge_half_of_bare_pods": ratio >= 0.5}
    finally:
        for p in (cm, hollow):
            if p is not None:
                p.stop()
        api.stop()
        etcd.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--jobs", type=int, default=1000)
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--settle", type=float, default=2.0)
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--cm-arg", dest="cm_args", action="append", default=[],
                   help="extra controller-manager flag (repeatable)")
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
