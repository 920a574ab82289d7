"""The kubelet under pressure, on the real Docker daemon; prints one JSON document.

(a) pod start-up latency (create -> phase Running seen by a watcher) of ``--pods`` busybox
    pods created one every ``--interval`` seconds on one node: on the quiet node, then
    while ``--flood`` pods of an image that cannot be pulled keep failing in the
    background (their registry is a stub on loopback that accepts and never answers:
    testing/registry_stub.py; nothing leaves the machine), side by side with the ratio
    (goal: p50 and p99 <= 1.5x);
(b) DELETE -> containers stopped, and gone (removed), for ``--delete-pods`` pods whose app ignores SIGTERM (so
    the stop lasts the whole grace period, ``--grace`` s), on the quiet node and during
    the flood (goal: <= grace + 2 s);
(c) the flood's own cost: daemon pull attempts (counted by the registry stub) and the
    time until all flood pods are gone after their DELETEs.

It starts its own etcd, API server and kubelet (the kubelet's default image flags:
serialized pulls, back-off 10 s doubling to 5 min) on free ports.
Usage: python bench/kubelet_pressure.py [--flood 300] [--pods 20] [--interval 0.5]
                                        [--delete-pods 5] [--grace 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.models import Node, Pod  # noqa: E402
from bench.kubelet import NS, Watcher, summary  # noqa: E402
from client.errors import NotFound  # noqa: E402
from client.rest import AsyncClient  # noqa: E402
from testing.registry_stub import StubRegistry  # noqa: E402
from testing.support import ApiServer, Etcd, build_images, free_port, service  # noqa: E402

LABEL_POD_UID = "io.kubernetes.pod.uid"
RUN = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
IGNORE_TERM = ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]


def pod(name: str, node: str, image: str = "busybox:latest", command: list[str] | None = None,
        grace: int = 2, group: str = "bench") -> Pod:
    c: dict[str, Any] = {"name": "app", "image": image, "imagePullPolicy": "IfNotPresent"}
    if command:
        c["command"] = command
    return Pod.from_dict({
        "metadata": {"name": name, "namespace": NS, "labels": {"bench": group}},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": grace, "containers": [c]}})


async def bounded(n: int, coros: list[Any]) -> None:
    sem = asyncio.Semaphore(n)

    async def one(c: Any) -> None:
        async with sem:
            await c
    await asyncio.gather(*(one(c) for c in coros))


async def startups(client: AsyncClient, w: Watcher, node: str, n: int, interval: float,
                   tag: str) -> list[float]:
    names = [f"kp-{tag}-{i}-{uuid.uuid4().hex[:5]}" for i in range(n)]
    created: dict[str, float] = {}
    t0 = time.monotonic()
    for i, x in enumerate(names):
        await asyncio.sleep(max(0.0, t0 + i * interval - time.monotonic()))
        created[x] = time.monotonic()
        await client.create(pod(x, node, command=RUN, group=tag))
    seen = await asyncio.gather(*(w.wait(x, 180) for x in names))
    return [s - created[x] for s, x in zip(seen, names, strict=True)]


async def delete_group(client: AsyncClient, group: str, timeout: float = 180) -> float:
    """DELETE every pod of the group; seconds until the API has none left."""
    lst = await client.list(Pod, NS, label_selector=f"bench={group}")
    t0 = time.monotonic()

    async def delete(name: str) -> None:
        with contextlib.suppress(NotFound):
            await client.delete(Pod, name, NS)
    await bounded(16, [delete(p.metadata.name or "") for p in lst.items])
    while time.monotonic() - t0 < timeout:
        if not (await client.list(Pod, NS, label_selector=f"bench={group}")).items:
            return time.monotonic() - t0
        await asyncio.sleep(0.2)
    raise RuntimeError(f"pods of {group} still there after {timeout}s")


async def delete_to_gone(client: AsyncClient, w: Watcher, dk: docker.DockerClient, node: str,
                         n: int, grace: int, tag: str) -> tuple[list[float], list[float]]:
    """n running pods that ignore SIGTERM; DELETE each: seconds until none of its containers
    runs (stopped), and until they are gone (removed)."""
    names = [f"kp-{tag}-{i}-{uuid.uuid4().hex[:5]}" for i in range(n)]
    await asyncio.gather(*(client.create(pod(x, node, command=IGNORE_TERM, grace=grace,
                                              group=tag)) for x in names))
    await asyncio.gather(*(w.wait(x, 180) for x in names))
    uids = {x: (await client.get(Pod, x, NS)).metadata.uid or "" for x in names}

    def containers(uid: str) -> tuple[int, int]:
        cs = dk.api.containers(all=True, filters={"label": f"{LABEL_POD_UID}={uid}"})
        return sum(1 for c in cs if c.get("State") == "running"), len(cs)

    async def one(x: str) -> tuple[float, float]:
        t0 = time.monotonic()
        stopped: float | None = None
        await client.delete(Pod, x, NS)
        while time.monotonic() - t0 < grace + 120:
            running, present = await asyncio.to_thread(containers, uids[x])
            if running == 0 and stopped is None:
                stopped = time.monotonic() - t0
            if present == 0:
                return stopped or 0.0, time.monotonic() - t0
            await asyncio.sleep(0.05)
        raise RuntimeError(f"containers of {x} still there")
    out = await asyncio.gather(*(one(x) for x in names))
    await delete_group(client, tag)
    return [a for a, _ in out], [b for _, b in out]


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    dk = docker.from_env()
    etcd = Etcd().start()
    api = ApiServer(etcd.url).start()
    node = f"kp-bench-{uuid.uuid4().hex[:6]}"
    root = tempfile.mkdtemp(prefix="minik8s-bench-")
    kubelet = service("bench-kubelet-pressure", "kubelet", [
        "--server", api.url, "--node-name", node, "--port", str(free_port()), "--address",
        "127.0.0.1", "--node-ip", "127.0.0.1", "--root-dir", root, "--max-pods", "1000"])
    client = AsyncClient(api.url)
    result: dict[str, Any] = {"node": node, "flood_pods": args.flood, "pods": args.pods,
                              "interval_s": args.interval, "grace_s": args.grace}
    w: Watcher | None = None
    try:
        with StubRegistry("hang") as reg:
            deadline = time.monotonic() + 30
            while True:
                try:
                    await client.get(Node, node)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise RuntimeError("kubelet did not register:\n"
                                           + kubelet.log_tail()) from None
                    await asyncio.sleep(0.2)
            w = Watcher(client, node)
            await w.start()
            await startups(client, w, node, 2, 0.0, "warm")  # first-run costs
            await delete_group(client, "warm")

            quiet = await startups(client, w, node, args.pods, args.interval, "quiet")
            await delete_group(client, "quiet")
            quiet_del = await delete_to_gone(client, w, dk, node, args.delete_pods, args.grace,
                                             "qdel")

            image = reg.image("flood:1")
            t0 = time.monotonic()
            await bounded(16, [client.create(pod(f"kp-flood-{i}-{uuid.uuid4().hex[:5]}", node,
                                                 image=image, grace=30, group="flood"))
                               for i in range(args.flood)])
            created_s = time.monotonic() - t0
            while not reg.attempts and time.monotonic() - t0 < 60:
                await asyncio.sleep(0.1)
            busy = await startups(client, w, node, args.pods, args.interval, "busy")
            await delete_group(client, "busy")
            busy_del = await delete_to_gone(client, w, dk, node, args.delete_pods, args.grace,
                                            "bdel")
            flood_gone_s = await delete_group(client, "flood")
            attempts = len(reg.attempts)
            flood_s = time.monotonic() - t0

        q, b = summary(quiet), summary(busy)
        qs, qd = summary(quiet_del[0]), summary(quiet_del[1])
        bs, bd = summary(busy_del[0]), summary(busy_del[1])
        result["startup"] = {"quiet": q, "flooded": b,
                             "ratio_p50": round(b["p50_s"] / q["p50_s"], 2),
                             "ratio_p99": round(b["p99_s"] / q["p99_s"], 2)}
        result["delete_to_stopped"] = {"quiet": qs, "flooded": bs}
        result["delete_to_gone"] = {"quiet": qd, "flooded": bd,
                                    "flooded_max_minus_grace_s": round(bd["max_s"] - args.grace,
                                                                       3)}
        result["flood"] = {"created_s": round(created_s, 2), "lasted_s": round(flood_s, 1),
                           "daemon_pull_attempts": attempts,
                           "all_gone_after_delete_s": round(flood_gone_s, 2)}
        result["goals_met"] = {
            "startup_p50_le_1_5x": result["startup"]["ratio_p50"] <= 1.5,
            "startup_p99_le_1_5x": result["startup"]["ratio_p99"] <= 1.5,
            "delete_le_grace_plus_2s": bd["max_s"] <= args.grace + 2,
        }
    finally:
        if w is not None:
            w.stop()
        await client.close()
        kubelet.stop()
        for c in dk.containers.list(all=True, filters={"label": f"minik8s.node={node}"}):
            c.remove(force=True)
        api.stop()
        etcd.stop()
        shutil.rmtree(root, ignore_errors=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flood", type=int, default=300, help="pods of the unpullable image")
    ap.add_argument("--pods", type=int, default=20, help="pods whose start-up is timed")
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between their creates")
    ap.add_argument("--delete-pods", type=int, default=5)
    ap.add_argument("--grace", type=int, default=2)
    args = ap.parse_args()
    build_images()
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
