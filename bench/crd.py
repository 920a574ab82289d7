"""Custom resources against built-in Pods of the same size, on one API server in one run.

A CRD whose structural schema describes a Pod-like spec (containers with env list-maps,
ports, resources) is created; then, per round and per side (pods, then the custom kind,
alternating so a busy machine hurts both alike): n creates at a concurrency, lists of
the whole collection, and a watch that sees n creates go by (the time until the last
event arrives). Objects of both sides have the same JSON size (±5%). Prints one JSON
document: rates per side (median of the rounds) and the ratios custom/pods (goal >= 0.8).

Usage: python bench/crd.py [--n 500] [--concurrency 8] [--lists 20] [--rounds 3]
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

GROUP = "bench.example.com"
NS = "bench-crd"

_STR = {"type": "string"}
_CONTAINER = {"type": "object", "required": ["name", "image"], "properties": {
    "name": _STR, "image": _STR, "imagePullPolicy": _STR,
    "command": {"type": "array", "items": _STR},
    "env": {"type": "array", "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "required": ["name"],
                      "properties": {"name": _STR, "value": _STR}}},
    "ports": {"type": "array", "items": {"type": "object", "properties": {
        "containerPort": {"type": "integer", "minimum": 1, "maximum": 65535},
        "protocol": _STR}}},
    "resources": {"type": "object", "properties": {
        "requests": {"type": "object", "additionalProperties": {
            "x-kubernetes-int-or-string": True}}}}}}
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": f"apps.{GROUP}"},
    "spec": {"group": GROUP, "scope": "Namespaced",
             "names": {"plural": "apps", "singular": "app", "kind": "App"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "properties": {
                                   "restartPolicy": _STR, "nodeName": _STR,
                                   "containers": {"type": "array", "items": _CONTAINER}}},
                               "status": {"type": "object",
                                          "x-kubernetes-preserve-unknown-fields": True}}}}}]}}


def spec() -> dict[str, Any]:
    return {"restartPolicy": "Always", "nodeName": "bench-node", "containers": [
        {"name": f"c{i}", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
         "command": ["sleep", "3600"],
         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "two"}],
         "ports": [{"containerPort": 8000 + i, "protocol": "TCP"}],
         "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}} for i in range(3)]}


def body(side: str, name: str) -> dict[str, Any]:
    if side == "pods":
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "labels": {"app": "bench"}}, "spec": spec()}
    return {"apiVersion": f"{GROUP}/v1", "kind": "App",
            "metadata": {"name": name, "labels": {"app": "bench"}}, "spec": spec()}


def path(url: str, side: str) -> str:
    if side == "pods":
        return f"{url}/api/v1/namespaces/{NS}/pods"
    return f"{url}/apis/{GROUP}/v1/namespaces/{NS}/apps"


async def creates(s: aiohttp.ClientSession, url: str, side: str, prefix: str, n: int,
                  concurrency: int) -> float:
    it = iter(range(n))

    async def worker() -> None:
        for i in it:
            async with s.post(path(url, side), data=orjson.dumps(body(side, f"{prefix}-{i}")),
                              headers={"Content-Type": "application/json"}) as r:
                assert r.status == 201, await r.text()
                await r.read()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - t0)


async def lists(s: aiohttp.ClientSession, url: str, side: str, k: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    count = 0
    for _ in range(k):
        async with s.get(path(url, side)) as r:
            assert r.status == 200
            count = len((await r.json(loads=orjson.loads))["items"])
    return k / (time.perf_counter() - t0), count


async def watched(s: aiohttp.ClientSession, url: str, side: str, prefix: str, n: int,
                  concurrency: int) -> float:
    """Events/s a watcher receives while n objects are created."""
    async with s.get(path(url, side)) as r:
        rv = (await r.json(loads=orjson.loads))["metadata"]["resourceVersion"]
    seen = 0
    async with s.get(path(url, side), params={"watch": "true", "resourceVersion": rv,
                                              "timeoutSeconds": "120"}) as w:
        t0 = time.perf_counter()
        task = asyncio.create_task(creates(s, url, side, prefix, n, concurrency))
        async for line in w.content:
            if line.strip() and orjson.loads(line)["type"] == "ADDED":
                seen += 1
                if seen == n:
                    break
        elapsed = time.perf_counter() - t0
        await task
    return n / elapsed


async def setup(url: str) -> int:
    async with aiohttp.ClientSession() as s:
        await ensure_ns(s, url, NS)
        async with s.post(f"{url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                          data=orjson.dumps(CRD),
                          headers={"Content-Type": "application/json"}) as r:
            assert r.status == 201, await r.text()
        sizes = {side: len(orjson.dumps(body(side, "x-0"))) for side in ("pods", "custom")}
        return max(sizes.values()) - min(sizes.values())


async def round_(url: str, side: str, r: int, n: int, concurrency: int, k: int
                 ) -> dict[str, float]:
    conn = aiohttp.TCPConnector(limit=concurrency + 2)
    async with aiohttp.ClientSession(connector=conn) as s:
        c = await creates(s, url, side, f"r{r}", n, concurrency)
        lst, _ = await lists(s, url, side, k)
        w = await watched(s, url, side, f"w{r}", n, concurrency)
    return {"create_per_s": c, "list_per_s": lst, "watch_events_per_s": w}


def run(n: int, concurrency: int, k: int, rounds: int) -> dict[str, Any]:
    etcd = Etcd().start()
    try:
        server = ApiServer(etcd.url).start()
        try:
            size_gap = asyncio.run(setup(server.url))
            res: dict[str, list[dict[str, float]]] = {"pods": [], "custom": []}
            for r in range(rounds):
                for side in ("pods", "custom"):
                    res[side].append(asyncio.run(round_(server.url, side, r, n, concurrency,
                                                        k)))
        finally:
            server.stop()
    finally:
        etcd.stop()
    med = {side: {m: round(statistics.median(x[m] for x in rs), 1) for m in rs[0]}
           for side, rs in res.items()}
    return {"objects_per_round": n, "concurrency": concurrency, "lists_per_round": k,
            "rounds": rounds, "object_bytes": len(orjson.dumps(body("pods", "x-0"))),
            "size_gap_bytes": size_gap, "median": med,
            "custom_vs_pods": {m: round(med["custom"][m] / med["pods"][m], 3)
                               for m in med["pods"]}}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--lists", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args(argv)
    out = run(a.n, a.concurrency, a.lists, a.rounds)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
