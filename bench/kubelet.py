"""Kubelet benchmark on the real Docker daemon; prints one JSON document.

(a) pod start-up latency, create -> phase Running seen by a watcher, for 30 pods
    created one per second and for 30 created at once, on one node; side by side in
    the same run with starting the same pause + app containers straight through the
    Docker SDK (the same calls a kubelet has to make), and the ratio;
(b) kubelet idle CPU (% of one core) and RSS with 20 pods running;
(c) RSS of 100 hollow nodes (fake runtime) in one process, one pod each.

It starts its own etcd, API server and kubelets (testing/support.py) on free ports.
Usage: python bench/kubelet.py [--pods 30] [--idle-pods 20] [--idle-seconds 30]
                               [--hollow 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.models import Node, Pod  # noqa: E402
from bench.stats import pct  # noqa: E402
from client.rest import AsyncClient, Client  # noqa: E402
from testing.support import ApiServer, Etcd, build_images, free_port, service  # noqa: E402

NS = "default"
APP_CMD = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]


def summary(xs: list[float]) -> dict[str, float]:
    return {"n": len(xs), "p50_s": round(pct(xs, 50), 3), "p99_s": round(pct(xs, 99), 3),
            "max_s": round(max(xs) if xs else float("nan"), 3)}


def pod(name: str, node: str) -> Pod:
    return Pod.from_dict({
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "bench"}},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 2, "containers": [{
            "name": "app", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
            "command": APP_CMD}]}})


class Watcher:
    """Records when each pod is first seen Running."""

    def __init__(self, client: AsyncClient, node: str) -> None:
        self.client = client
        self.node = node
        self.running: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        lst = await self.client.list(Pod, NS, field_selector=f"spec.nodeName={self.node}")
        self._task = asyncio.create_task(self._run(lst.resource_version))

    async def _run(self, rv: str) -> None:
        while True:
            try:
                async for ev in self.client.watch(Pod, NS, resource_version=rv,
                                                  field_selector=f"spec.nodeName={self.node}",
                                                  timeout_seconds=600):
                    rv = ev.object.metadata.resource_version or rv
                    name = ev.object.metadata.name or ""
                    st = ev.object.status
                    if st is not None and st.phase == "Running" and name not in self.running:
                        self.running[name] = time.monotonic()
                        self.waiters.setdefault(name, asyncio.Event()).set()
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.2)

    async def wait(self, name: str, timeout: float = 60) -> float:
        ev = self.waiters.setdefault(name, asyncio.Event())
        await asyncio.wait_for(ev.wait(), timeout)
        return self.running[name]

    def stop(self) -> None:
        if self._task:
            self._task.cancel()


async def kubelet_latencies(client: AsyncClient, w: Watcher, node: str, n: int,
                            at_once: bool, tag: str) -> list[float]:
    names = [f"bench-{tag}-{i}-{uuid.uuid4().hex[:6]}" for i in range(n)]
    created: dict[str, float] = {}

    async def create(name: str) -> None:
        created[name] = time.monotonic()
        await client.create(pod(name, node))

    if at_once:
        await asyncio.gather(*(create(x) for x in names))
    else:
        t0 = time.monotonic()
        for i, x in enumerate(names):
            await asyncio.sleep(max(0.0, t0 + i - time.monotonic()))
            await create(x)
    seen = await asyncio.gather(*(w.wait(x, 120) for x in names))
    return [s - created[x] for s, x in zip(seen, names, strict=True)]


async def delete_all(client: AsyncClient, node: str) -> None:
    lst = await client.list(Pod, NS, field_selector=f"spec.nodeName={node}")
    await asyncio.gather(*(client.delete(Pod, p.metadata.name or "", NS) for p in lst.items),
                         return_exceptions=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if not (await client.list(Pod, NS, field_selector=f"spec.nodeName={node}")).items:
            return
        await asyncio.sleep(0.5)


def raw_docker_pod(dk: docker.DockerClient, tag: str, i: int) -> float:
    """What a kubelet must do for one pod, without the kubelet: the same Docker calls
    (create + start the pause container, read its IP, create + start the app in it)."""
    label = {"minik8s.bench": tag}
    t0 = time.monotonic()
    pause = dk.containers.create("minik8s/pause:3.9", name=f"bench-raw-{tag}-{i}-pause",
                                 labels=label, network="minik8s-pods", ipc_mode="shareable",
                                 detach=True)
    pause.start()
    pause.reload()  # the pod IP, as the kubelet reads it
    ns = f"container:{pause.id}"
    app = dk.containers.create("busybox:latest", APP_CMD, name=f"bench-raw-{tag}-{i}-app",
                               labels=label, network_mode=ns, ipc_mode=ns, detach=True)
    app.start()
    return time.monotonic() - t0


def raw_latencies(dk: docker.DockerClient, n: int, at_once: bool, tag: str) -> list[float]:
    if at_once:
        # All requested at t0; latency = finish - t0, as for the kubelet's burst.
        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            ends = list(pool.map(lambda i: (raw_docker_pod(dk, tag, i), time.monotonic())[1],
                                 range(n)))
        return [e - t0 for e in ends]
    out = []
    t0 = time.monotonic()
    for i in range(n):
        time.sleep(max(0.0, t0 + i - time.monotonic()))
        out.append(raw_docker_pod(dk, tag, i))
    return out


def raw_cleanup(dk: docker.DockerClient) -> None:
    for c in dk.containers.list(all=True, filters={"label": "minik8s.bench"}):
        c.remove(force=True)


def process_usage(pid: int, seconds: float) -> dict[str, float]:
    p = psutil.Process(pid)
    procs = [p, *p.children(recursive=True)]
    t0 = sum(sum(x.cpu_times()[:2]) for x in procs)
    time.sleep(seconds)
    t1 = sum(sum(x.cpu_times()[:2]) for x in procs)
    rss = sum(x.memory_info().rss for x in procs)
    return {"cpu_percent_of_core": round(100 * (t1 - t0) / seconds, 2),
            "rss_mb": round(rss / 2**20, 1)}


ALL_PARTS = {"seq", "burst", "idle", "hollow"}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    parts = set(args.parts.split(","))
    dk = docker.from_env()
    etcd = Etcd().start()
    api = ApiServer(etcd.url).start()
    node = f"bench-{uuid.uuid4().hex[:6]}"
    root = tempfile.mkdtemp(prefix="minik8s-bench-")
    kport = free_port()
    kubelet = service("bench-kubelet", "kubelet", [
        "--server", api.url, "--node-name", node, "--port", str(kport), "--address",
        "127.0.0.1", "--root-dir", root])
    client = AsyncClient(api.url)
    result: dict[str, Any] = {"node": node}
    hollow = None
    try:
        async def registered() -> bool:
            try:
                await client.get(Node, node)
                return True
            except Exception:
                return False
        deadline = time.monotonic() + 30
        while not await registered():
            if time.monotonic() > deadline:
                raise RuntimeError("kubelet did not register:\n" + kubelet.log_tail())
            await asyncio.sleep(0.2)
        # warm-up: the network and the first-run costs are not what we measure
        w = Watcher(client, node)
        await w.start()
        await kubelet_latencies(client, w, node, 2, True, "warm")
        await delete_all(client, node)
        raw_latencies(dk, 2, False, "warm")
        raw_cleanup(dk)

        lat: dict[str, Any] = {}
        for key, at_once, tag in (("one_per_second", False, "seq"), ("all_at_once", True, "burst")):
            if tag not in parts:
                continue
            k = await kubelet_latencies(client, w, node, args.pods, at_once, tag)
            await delete_all(client, node)
            r = await asyncio.to_thread(raw_latencies, dk, args.pods, at_once, tag)
            raw_cleanup(dk)
            ks, rs = summary(k), summary(r)
            lat[key] = {"kubelet": ks, "raw_docker": rs,
                        "ratio_p50": round(ks["p50_s"] / rs["p50_s"], 2),
                        "ratio_p99": round(ks["p99_s"] / rs["p99_s"], 2)}
        result["startup_latency"] = lat

        if "idle" in parts:
            await kubelet_latencies(client, w, node, args.idle_pods, True, "idle")
            await asyncio.sleep(5)  # let the start-up settle (status writes, events)
            assert kubelet.proc is not None
            result["idle_with_pods"] = {"pods": args.idle_pods, **await asyncio.to_thread(
                process_usage, kubelet.proc.pid, args.idle_seconds)}
            await delete_all(client, node)
        w.stop()
        if "hollow" not in parts:
            return result

        # hollow nodes (a fresh client: the cancelled watch above may hold a connection)
        await client.close()
        client = AsyncClient(api.url)
        base = f"hollow-{uuid.uuid4().hex[:4]}"
        hollow = service("bench-hollow", "kubelet", [
            "--server", api.url, "--node-name", base, "--fake-nodes", str(args.hollow),
            "--no-http"])
        t0 = time.monotonic()

        async def all_registered() -> bool:
            names = {n.metadata.name for n in (await client.list(Node)).items}
            return sum(1 for x in names if x and x.startswith(base + "-")) >= args.hollow
        while not await all_registered():
            if time.monotonic() - t0 > 120:
                raise RuntimeError("hollow nodes did not register:\n" + hollow.log_tail())
            await asyncio.sleep(0.5)
        reg_s = time.monotonic() - t0
        await asyncio.gather(*(client.create(pod(f"hp-{i}-{uuid.uuid4().hex[:4]}",
                                                 f"{base}-{i}")) for i in range(args.hollow)))

        def hollow_running() -> float:
            # Polled from a thread with its own client: the clock must not depend on
            # this process's event loop.
            with Client(api.url) as sc:
                t1 = time.monotonic()
                while True:
                    lst = sc.list(Pod, NS)
                    n = sum(1 for p in lst.items if p.metadata.name and p.metadata.name.startswith(
                        "hp-") and p.status and p.status.phase == "Running")
                    if n >= args.hollow:
                        return time.monotonic() - t1
                    if time.monotonic() - t1 > 120:
                        raise RuntimeError("hollow pods did not run:\n" + hollow.log_tail())
                    time.sleep(0.1)
        running_s = await asyncio.to_thread(hollow_running)
        assert hollow.proc is not None
        usage = await asyncio.to_thread(process_usage, hollow.proc.pid, 10)
        result["hollow"] = {"nodes": args.hollow, "pods": args.hollow,
                            "register_all_s": round(reg_s, 2),
                            "pods_running_s": round(running_s, 2), **usage}
    finally:
        if hollow is not None:
            hollow.stop()
        try:
            await delete_all(client, node)
        except Exception:
            pass
        await client.close()
        kubelet.stop()
        for c in dk.containers.list(all=True, filters={"label": f"minik8s.node={node}"}):
            c.remove(force=True)
        raw_cleanup(dk)
        api.stop()
        etcd.stop()
        import shutil
        shutil.rmtree(root, ignore_errors=True)
    if parts == ALL_PARTS:
        result["goals_met"] = {
            "p99_one_per_second_le_2s": result["startup_latency"]["one_per_second"]["kubelet"][
                "p99_s"] <= 2.0,
            "overhead_le_1_5x_p50": result["startup_latency"]["one_per_second"][
                "ratio_p50"] <= 1.5,
            "idle_cpu_le_1pct": result["idle_with_pods"]["cpu_percent_of_core"] <= 1.0,
            "idle_rss_le_80mb": result["idle_with_pods"]["rss_mb"] <= 80,
            "hollow_100_le_300mb": result["hollow"]["rss_mb"] <= 300,
        }
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=30)
    ap.add_argument("--idle-pods", type=int, default=20)
    ap.add_argument("--idle-seconds", type=float, default=30)
    ap.add_argument("--hollow", type=int, default=100)
    ap.add_argument("--parts", default="seq,burst,idle,hollow",
                    help="which measurements: seq,burst,idle,hollow")
    args = ap.parse_args()
    build_images()
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
