"""The API server's write path: CPU per request of pod creates, status patches (what a
kubelet sends) and label patches, optionally against another checkout of the server in
the same run (JSON on stdout).

For each tree (this one, and with ``--baseline-tree DIR`` the server code found there,
e.g. an older commit from ``git archive``), ``--reps`` times, alternating the trees: a
private etcd and an API server from that tree (cwd = the tree, so ``python -m apiserver``
runs its code), ``--pods`` pod creates, then one merge patch of pods/status per pod (phase,
conditions, podIP, containerStatuses), then one strategic merge patch of metadata.labels
per pod, ``--concurrency`` at a time through aiohttp. Per phase: requests/s and the API
server's CPU time per request (user + system, from /proc); with a baseline, the ratio
current/baseline of each, from the medians over the repetitions.

    python bench/writepath.py [--pods 2000] [--reps 3] [--baseline-tree DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from bench.stats import gather_limited  # noqa: E402
from testing.support import Etcd, free_port, harness_args, http_ok, wait_for  # noqa: E402

NS = "bench"
PHASES = ("create", "status_patch", "label_patch")
WARMUP = 100


def _pod(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"w-{i:06d}", "labels": {"app": "bench"}},
            "spec": {"nodeName": f"node-{i % 100}", "containers": [{
                "name": "c", "image": "nginx:latest",
                "ports": [{"containerPort": 80}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}


def _status(i: int) -> dict[str, Any]:
    t = "2026-12-07T20:00:02Z"
    return {"status": {
        "phase": "Running", "podIP": f"10.244.{i // 250 % 250}.{i % 250}",
        "hostIP": "172.18.0.3", "startTime": t,
        "conditions": [{"type": c, "status": "True", "lastTransitionTime": t}
                       for c in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
        "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0,
                               "image": "nginx:latest", "imageID": "", "started": True,
                               "containerID": f"docker://{i:064d}",
                               "state": {"running": {"startedAt": t}}}]}}


async def _phases(url: str, n: int, conc: int, cpu: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    base = f"/api/v1/namespaces/{NS}/pods"
    async with aiohttp.ClientSession(url) as s:
        async with s.post("/api/v1/namespaces", json={"metadata": {"name": NS}}) as r:
            assert r.status == 201, await r.text()

        async def create(i: int) -> None:
            async with s.post(base, json=_pod(i)) as r:
                assert r.status == 201, await r.text()

        async def status(i: int) -> None:
            async with s.patch(f"{base}/w-{i:06d}/status", json=_status(i), headers={
                    "Content-Type": "application/merge-patch+json"}) as r:
                assert r.status == 200, await r.text()

        async def labels(i: int) -> None:
            async with s.patch(f"{base}/w-{i:06d}", json={
                    "metadata": {"labels": {"shard": str(i % 16)}}}, headers={
                    "Content-Type": "application/strategic-merge-patch+json"}) as r:
                assert r.status == 200, await r.text()

        # Warm-up (first requests of a kind fill the server's caches), not measured.
        for fn in (create, status, labels):
            await gather_limited(conc, (fn(i) for i in range(n, n + min(n, WARMUP))))
        for name, fn in zip(PHASES, (create, status, labels), strict=True):
            c0, t0 = cpu(), time.perf_counter()
            await gather_limited(conc, (fn(i) for i in range(n)))
            wall, used = time.perf_counter() - t0, cpu() - c0
            out[name] = {"per_s": round(n / wall, 1), "server_cpu_us": round(used / n * 1e6)}
    return out


def one_run(tree: Path, n: int, conc: int) -> dict[str, Any]:
    etcd = Etcd().start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(os.devnull, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "apiserver", "--etcd-servers", etcd.url, "--bind-address",
         "127.0.0.1", "--port", str(port), *harness_args([])],
        cwd=tree, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(tree)})
    try:
        wait_for(lambda: http_ok(url + "/readyz") or proc.poll() is not None, timeout=60,
                 message=f"API server from {tree}")
        if proc.poll() is not None:
            raise RuntimeError(f"the API server from {tree} exited")
        p = psutil.Process(proc.pid)

        def cpu() -> float:
            t = p.cpu_times()
            return float(t.user + t.system)
        return asyncio.run(_phases(url, n, conc, cpu))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        etcd.stop()


def _median(runs: list[dict[str, Any]], phase: str, field: str) -> float:
    return float(statistics.median(r[phase][field] for r in runs))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pods", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--baseline-tree", type=Path, default=None,
                    help="a checkout whose API server is the same-run baseline")
    a = ap.parse_args(argv)
    trees = {"current": ROOT}
    if a.baseline_tree is not None:
        trees["baseline"] = a.baseline_tree.resolve()
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in trees}
    out: dict[str, Any] = {"pods": a.pods, "reps": a.reps, "concurrency": a.concurrency,
                           "load_average_before": [round(x, 2) for x in os.getloadavg()]}
    for _ in range(a.reps):
        for name, tree in trees.items():
            runs[name].append(one_run(tree, a.pods, a.concurrency))
    for name in trees:
        out[name] = {ph: {f: _median(runs[name], ph, f) for f in ("per_s", "server_cpu_us")}
                     for ph in PHASES}
        out[name]["runs"] = runs[name]
    if "baseline" in trees:
        out["ratio_current_to_baseline"] = {ph: {
            f: round(out["current"][ph][f] / out["baseline"][ph][f], 3)
            for f in ("per_s", "server_cpu_us")} for ph in PHASES}
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
