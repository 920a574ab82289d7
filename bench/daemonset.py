"""DaemonSet benchmark: a DaemonSet on N hollow nodes until all its pods are Ready, against
a Deployment of N replicas on the same nodes (the baseline, in the same run).

    .venv/bin/python bench/daemonset.py [--nodes 1000] [--timeout 900]

Starts its own etcd, API server, one hollow-kubelet process (``--fake-nodes``), the
scheduler and the controller-manager (deployment, replicaset, daemonset). Both sides go
through the scheduler: the Deployment's pods are placed freely, the daemon pods each
carry a node affinity on metadata.name. The Deployment is timed from its create until
status.readyReplicas is N, then deleted (its pods stay until the garbage collector, which
is not running, would take them: they only cost the nodes a pod slot each); the DaemonSet
from its create until status.numberReady is N. API writes are counted from the API
server's /metrics (write verbs, the nodes' heartbeats left out) per pod. Prints one JSON document; the goal is the
DaemonSet within 1.5x of the Deployment's time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.models import Deployment, Namespace, Node, ObjectMeta
from api.models.apps import DaemonSet
from bench.controllers import scrape_writes
from client.informer import Informer
from client.rest import AsyncClient
from testing.support import ApiServer, Etcd, Process, service


def template(app: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": "nginx:1"}]}}


# The hollow nodes' own heartbeats: never quiet, and not the workloads' doing.
_HEARTBEATS = ("leases", "nodes", "nodes/status")


def _writes(url: str) -> dict[str, int]:
    return {k: v for k, v in scrape_writes(url).items() if k not in _HEARTBEATS}


async def quiet(url: str, settle: float, limit: float = 60.0) -> dict[str, int]:
    """The write counters once nothing (but heartbeats) was written for ``settle`` s."""
    last = _writes(url)
    start = since = time.perf_counter()
    while time.perf_counter() - since < settle and time.perf_counter() - start < limit:
        await asyncio.sleep(0.25)
        now = _writes(url)
        if now != last:
            last, since = now, time.perf_counter()
    return last


def writes_per_pod(before: dict[str, int], after: dict[str, int], n: int) -> dict[str, Any]:
    """The API writes between two ``quiet`` readings (this script's one create left out),
    by resource and per pod, with and without events."""
    writes = {k: after.get(k, 0) - before.get(k, 0) for k in sorted(set(after) | set(before))}
    writes = {k: v for k, v in writes.items() if v}
    total = sum(writes.values()) - 1  # this script's create
    return {"writes": writes, "writes_per_pod": round(total / n, 2),
            "writes_per_pod_without_events": round((total - writes.get("events", 0)) / n, 2)}


@contextlib.asynccontextmanager
async def hollow_cluster(nodes: int, controllers: str, prefix: str, settle: float,
                         register_limit: float) -> AsyncIterator[tuple[AsyncClient, str]]:
    """etcd, an API server, one hollow-kubelet process with ``nodes`` fake nodes
    ``<prefix>-xxxx-<i>`` (registered within ``register_limit`` s), the scheduler and the
    controller-manager running ``controllers``: yields a client and the server's URL once
    the caches had ``settle`` s to fill; everything is stopped after."""
    etcd = Etcd().start()
    api = ApiServer(etcd.url).start()
    procs: list[Process] = []
    try:
        async with AsyncClient(api.url, timeout=60) as client:
            base = f"{prefix}-{uuid.uuid4().hex[:4]}"
            hollow = service("bench-hollow", "kubelet", [
                "--server", api.url, "--node-name", base, "--fake-nodes", str(nodes),
                "--no-http", "--max-pods", "110"])
            procs.append(hollow)
            t0 = time.monotonic()
            while True:
                names = [x.metadata.name or "" for x in (await client.list(Node)).items]
                if sum(x.startswith(base + "-") for x in names) >= nodes:
                    break
                if time.monotonic() - t0 > register_limit:
                    raise RuntimeError("hollow nodes did not register:\n" + hollow.log_tail())
                await asyncio.sleep(0.5)
            procs.append(service("scheduler", "scheduler", ["--server", api.url]))
            procs.append(service("controller-manager", "controllers", [
                "--server", api.url, f"--controllers={controllers}"]))
            await asyncio.sleep(settle)  # caches fill before the clock starts
            yield client, api.url
    finally:
        for p in reversed(procs):
            p.stop()
        api.stop()
        etcd.stop()


async def timed_create(client: AsyncClient, url: str, ns: str, model: Any,
                       spec: dict[str, Any], ready: str, n: int, timeout: float,
                       settle: float) -> tuple[float, dict[str, Any]]:
    """Create a ``model`` named ``ns`` with ``spec`` in a new namespace ``ns`` and time it
    until its status field ``ready`` reaches ``n``; with the API writes it caused
    (``writes_per_pod``), counted between quiet moments before and after."""
    await client.create(Namespace(metadata=ObjectMeta(name=ns)))
    inf: Informer[Any] = Informer(client, model, ns)
    done = asyncio.Event()

    def check(*objs: Any) -> None:
        st = objs[-1].status
        if st is not None and (getattr(st, ready) or 0) >= n:
            done.set()

    inf.add_handler(check, check, None)
    await inf.start()
    await inf.wait_for_sync(10)
    before = await quiet(url, settle)
    t0 = time.perf_counter()
    await client.create(model.from_dict({"metadata": {"name": ns}, "spec": spec}), ns)
    await asyncio.wait_for(done.wait(), timeout)
    took = time.perf_counter() - t0
    after = await quiet(url, settle)
    await inf.stop()
    return took, writes_per_pod(before, after, n)


async def side(client: AsyncClient, url: str, ns: str, n: int, timeout: float,
               settle: float, daemon: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": ns}}, "template": template(ns)}
    if not daemon:
        spec["replicas"] = n
    took, writes = await timed_create(
        client, url, ns, DaemonSet if daemon else Deployment, spec,
        "number_ready" if daemon else "ready_replicas", n, timeout, settle)
    return {"pods": n, "seconds": round(took, 2), "pods_per_second": round(n / took, 1),
            **writes}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with hollow_cluster(args.nodes, "deployment,replicaset,daemonset", "hd",
                              args.settle, 300) as (client, url):
        dep = await side(client, url, "bench-deploy", args.nodes, args.timeout,
                         args.settle, daemon=False)
        ds = await side(client, url, "bench-ds", args.nodes, args.timeout,
                        args.settle, daemon=True)
        ratio = ds["seconds"] / dep["seconds"]
        return {"hollow_nodes": args.nodes, "deployment": dep, "daemonset": ds,
                "daemonset_seconds_vs_deployment": round(ratio, 2),
                "goal_within_1_5x": ratio <= 1.5}


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--settle", type=float, default=2.0)
    p.add_argument("--timeout", type=float, default=900.0)
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
