"""Pod start-up through the CRI (containerd) against the Docker runtime, in the same run;
prints one JSON document.

Two kubelets on one API server: one on a private containerd (testing/containerd.py: its
CRI plugin, the CNI bridge and host-local plugins), one on the host's Docker. Latency is
create -> phase Running seen by a watcher, for pods created one at a time (each waits
for the previous one, the runtimes taking turns, so that noise on a shared machine hits
both alike) and for a burst created at once on each node. The issue's goal: a real
node's start-up <= 1.3x the shared-Docker mode's (``ratio_p50`` = cri / docker).

Usage: python bench/cri.py [--pods 20] [--burst 10] [--repeats 1] [--warmup 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.models import Node, Pod  # noqa: E402
from bench.kubelet import Watcher, delete_all, summary  # noqa: E402
from client.rest import AsyncClient  # noqa: E402
from kubelet.runtime.cri import remove_all_sandboxes  # noqa: E402
from testing import containerd as private  # noqa: E402
from testing.support import ApiServer, Etcd, Process, free_port, service  # noqa: E402

NS = "default"
IMAGE = "minik8s/busybox:latest"
APP_CMD = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]


def pod(name: str, node: str) -> Pod:
    return Pod.from_dict({
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "bench-cri"}},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1, "containers": [{
            "name": "app", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
            "command": APP_CMD}]}})


async def one(client: AsyncClient, w: Watcher, node: str, tag: str) -> float:
    name = f"bc-{tag}-{uuid.uuid4().hex[:8]}"
    t0 = time.monotonic()
    await client.create(pod(name, node))
    return await w.wait(name, 120) - t0


async def burst(client: AsyncClient, w: Watcher, node: str, n: int, tag: str) -> list[float]:
    names = [f"bb-{tag}-{i}-{uuid.uuid4().hex[:6]}" for i in range(n)]
    created: dict[str, float] = {}

    async def create(name: str) -> None:
        created[name] = time.monotonic()
        await client.create(pod(name, node))
    await asyncio.gather(*(create(x) for x in names))
    seen = await asyncio.gather(*(w.wait(x, 180) for x in names))
    return [s - created[x] for s, x in zip(seen, names, strict=True)]


def start_kubelet(api_url: str, node: str, root: str, *runtime: str) -> Process:
    port = free_port()
    return service(f"bench-{node}", "kubelet", [
        "--server", api_url, "--node-name", node, "--port", str(port), "--address",
        "127.0.0.1", "--node-ip", "127.0.0.1", "--root-dir", root, "--healthz-port", "0",
        *runtime])


async def registered(client: AsyncClient, node: str, proc: Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            n = await client.get(Node, node)
            conds = {c.type: c.status for c in (n.status.conditions if n.status else None) or []}
            if conds.get("Ready") == "True":
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"kubelet {node} did not become Ready:\n{proc.log_tail()}")
        await asyncio.sleep(0.2)


def ratio(a: dict[str, float], b: dict[str, float], key: str) -> float:
    return round(a[key] / b[key], 2) if b[key] else float("nan")


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    why = private.missing()
    if why:
        raise SystemExit(f"bench/cri.py: {why}")
    etcd = Etcd().start()
    api = ApiServer(etcd.url).start()
    cd = private.PrivateContainerd()
    cd.before_stop.append(lambda: remove_all_sandboxes(cd.endpoint))
    t0 = time.monotonic()
    cd.start()
    containerd_start_s = time.monotonic() - t0
    tag = uuid.uuid4().hex[:6]
    nodes = {"cri": f"bench-cri-{tag}", "docker": f"bench-docker-{tag}"}
    roots = {k: tempfile.mkdtemp(prefix=f"minik8s-bench-{k}-") for k in nodes}
    procs = {
        "cri": start_kubelet(api.url, nodes["cri"], roots["cri"], "--runtime", "cri",
                             "--container-runtime-endpoint", cd.endpoint,
                             "--pod-logs-dir", str(cd.root / "pod-logs")),
        "docker": start_kubelet(api.url, nodes["docker"], roots["docker"], "--runtime", "docker"),
    }
    client = AsyncClient(api.url)
    watchers: dict[str, Watcher] = {}
    result: dict[str, Any] = {"pods": args.pods, "burst_pods": args.burst, "repeats": args.repeats,
                              "containerd_start_and_image_import_s": round(containerd_start_s, 2)}
    try:
        for k in nodes:
            await registered(client, nodes[k], procs[k])
            watchers[k] = Watcher(client, nodes[k])
            await watchers[k].start()
        # Warm-up: first-run costs (the network, image metadata, the shims) are not measured.
        for k in nodes if args.warmup else ():
            await asyncio.gather(*(one(client, watchers[k], nodes[k], "warm")
                                   for _ in range(args.warmup)))
            await delete_all(client, nodes[k])
        seq: dict[str, list[float]] = {"cri": [], "docker": []}
        bursts: dict[str, list[float]] = {"cri": [], "docker": []}
        runs: list[dict[str, Any]] = []
        for r in range(args.repeats):
            run: dict[str, list[float]] = {"cri": [], "docker": []}
            for i in range(args.pods):
                order = ("cri", "docker") if (i + r) % 2 == 0 else ("docker", "cri")
                for k in order:
                    run[k].append(await one(client, watchers[k], nodes[k], "seq"))
            for k in nodes:
                seq[k] += run[k]
                await delete_all(client, nodes[k])
            runs.append({k: summary(v)["p50_s"] for k, v in run.items()})
            if args.burst:
                for k in ("docker", "cri") if r % 2 else ("cri", "docker"):
                    bursts[k] += await burst(client, watchers[k], nodes[k], args.burst, "b")
                    await delete_all(client, nodes[k])
        s = {k: summary(v) for k, v in seq.items()}
        result["one_at_a_time"] = {
            "cri": s["cri"], "docker": s["docker"],
            "ratio_p50": ratio(s["cri"], s["docker"], "p50_s"),
            "ratio_p99": ratio(s["cri"], s["docker"], "p99_s"),
            "p50_per_repeat": runs}
        if args.burst:
            b = {k: summary(v) for k, v in bursts.items()}
            result["burst"] = {"cri": b["cri"], "docker": b["docker"],
                               "ratio_p50": ratio(b["cri"], b["docker"], "p50_s"),
                               "ratio_p99": ratio(b["cri"], b["docker"], "p99_s")}
        result["goal"] = "cri p50 <= 1.3x docker p50 (one at a time)"
        result["goal_met"] = result["one_at_a_time"]["ratio_p50"] <= 1.3
        result["load_average"] = [round(x, 2) for x in os.getloadavg()]
        return result
    finally:
        for w in watchers.values():
            w.stop()
        for k in nodes:
            try:
                await delete_all(client, nodes[k])
            except Exception:
                pass
        await client.close()
        for p in procs.values():
            p.stop()
        await asyncio.to_thread(cd.stop)  # its clean-up runs a loop of its own
        api.stop()
        etcd.stop()
        for d in roots.values():
            shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pods", type=int, default=20, help="pods per runtime, one at a time")
    p.add_argument("--burst", type=int, default=10, help="pods per runtime created at once")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--warmup", type=int, default=2, help="pods per runtime before measuring")
    args = p.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
