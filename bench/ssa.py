"""Server-side apply against strategic merge patch: the same change (one container's
image in a 10-container Deployment) sent as an apply of the whole configuration by a
field manager (application/apply-patch+yaml, what ``kubectl apply --server-side``
sends) and as a strategic merge patch of just the change (what client-side
``kubectl apply`` sends), on one API server; rounds alternate so a busy machine hurts
both alike. Prints one JSON document: patches/s per side (median of the rounds), the
ratio apply/SMP, and the size of the Deployment's managedFields.

Usage: python bench/ssa.py [--patches 300] [--concurrency 4] [--rounds 3]
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

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.apiserver import ensure_ns  # noqa: E402
from testing.support import ApiServer, Etcd  # noqa: E402

APPLY = "application/apply-patch+yaml"
SMP = "application/strategic-merge-patch+json"


def deployment(name: str, tag: int) -> dict[str, Any]:
    containers = [{"name": f"c{i}", "image": f"nginx:1.{tag if i == 0 else 0}",
                   "ports": [{"containerPort": 8000 + i}],
                   "env": [{"name": "A", "value": str(i)}, {"name": "B", "value": "x"}],
                   "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}
                  for i in range(10)]
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": containers}}}}


def change(side: str, name: str, tag: int) -> tuple[bytes, str]:
    if side == "apply":
        return orjson.dumps(deployment(name, tag)), APPLY
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "c0", "image": f"nginx:1.{tag}"}]}}}}
    return orjson.dumps(patch), SMP


async def setup(url: str, ns: str, names: list[str]) -> int:
    async with aiohttp.ClientSession() as s:
        await ensure_ns(s, url, ns)
        size = 0
        for n in names:
            async with s.patch(f"{url}/apis/apps/v1/namespaces/{ns}/deployments/{n}"
                               f"?fieldManager=bench", data=orjson.dumps(deployment(n, 0)),
                               headers={"Content-Type": APPLY}) as r:
                assert r.status in (200, 201), await r.text()
                size = len(orjson.dumps((await r.json())["metadata"].get("managedFields")))
        return size


async def round_(url: str, ns: str, side: str, names: list[str], n: int) -> float:
    per = max(1, n // len(names))

    async def worker(s: aiohttp.ClientSession, name: str) -> None:
        for i in range(per):
            body, ct = change(side, name, 1 + i % 50)
            async with s.patch(f"{url}/apis/apps/v1/namespaces/{ns}/deployments/{name}"
                               f"?fieldManager=bench", data=body,
                               headers={"Content-Type": ct}) as r:
                assert r.status == 200, await r.text()
                await r.read()

    async with aiohttp.ClientSession() as s:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(s, name) for name in names))
        return per * len(names) / (time.perf_counter() - t0)


def run(patches: int, concurrency: int, rounds: int) -> dict[str, Any]:
    etcd = Etcd().start()
    try:
        server = ApiServer(etcd.url).start()
        try:
            names = {side: [f"{side}-{i}" for i in range(concurrency)]
                     for side in ("apply", "smp")}
            mf = 0
            for side in names:
                mf = max(mf, asyncio.run(setup(server.url, "bench-ssa", names[side])))
            rates: dict[str, list[float]] = {"apply": [], "smp": []}
            for _ in range(rounds):
                for side in ("smp", "apply"):
                    rates[side].append(asyncio.run(round_(server.url, "bench-ssa", side,
                                                          names[side], patches)))
        finally:
            server.stop()
    finally:
        etcd.stop()
    med = {k: round(statistics.median(v), 1) for k, v in rates.items()}
    return {"patches": patches, "concurrency": concurrency, "containers": 10,
            "per_second": rates, "median": med,
            "apply_vs_smp": round(med["apply"] / med["smp"], 3),
            "managed_fields_bytes": mf}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser()
    p.add_argument("--patches", type=int, default=300)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args(argv)
    out = run(a.patches, a.concurrency, a.rounds)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
