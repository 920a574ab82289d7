"""Informer benchmark: sync 10,000 pods, then absorb a stream of updates (JSON on stdout).

Starts its own etcd + API server (testing/support.py) unless ``--server`` is given, creates
the pods through the API, then measures side by side with baselines in the same run:

- sync: ``Informer.start() -> wait_for_sync()`` vs. a raw GET of the list + orjson decode
  (the floor: the server's work and the transfer) and raw + pydantic validation.
- memory per cached object: tracemalloc over building the typed, indexed store, vs. the
  same objects kept as plain dicts.
- events/s: (a) live, while a writer PATCHes every pod (bounded by the server's write
  rate, reported with the informer's lag); (b) replay, a watch from the resourceVersion
  before the updates, so the server sends them as fast as it can, decoded and applied
  by the informer with a handler enqueuing into a WorkQueue, vs. the raw stream read with
  aiohttp + orjson; (c) the informer's own CPU cost per event on one core, feeding the
  recorded stream bytes to the decoder + store + handler without any I/O.

    python bench/informer.py [--pods 10000] [--server URL]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import orjson

from api.models import Container, Namespace, ObjectMeta, Pod, PodSpec
from client.cache import Store, meta_key
from client.informer import Informer
from client.rest import AsyncClient, WatchDecoder
from client.workqueue import WorkQueue


def make_pod(i: int, ns: str) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=f"bench-{i:05d}", namespace=ns,
                            labels={"app": "bench", "shard": str(i % 16)}),
        spec=PodSpec(containers=[Container.model_validate({
            "name": "c", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}})],
            node_name=f"node-{i % 50}"),
    )


async def gather_limited(n: int, conc: int, fn: Any) -> None:
    sem = asyncio.Semaphore(conc)

    async def one(i: int) -> None:
        async with sem:
            await fn(i)

    await asyncio.gather(*(one(i) for i in range(n)))


async def run(server: str, n: int, conc: int) -> dict[str, Any]:
    out: dict[str, Any] = {"pods": n}
    ns = f"bench-{int(time.time())}"
    async with AsyncClient(server, timeout=120) as c:
        await c.create(Namespace(metadata=ObjectMeta(name=ns)))
        t0 = time.perf_counter()
        await gather_limited(n, conc, lambda i: c.create(make_pod(i, ns)))
        out["setup_create_per_s"] = round(n / (time.perf_counter() - t0), 1)
        path = f"/api/v1/namespaces/{ns}/pods"

        # ---- sync: baselines, then the informer ----------------------------------------
        async with aiohttp.ClientSession(server) as s:
            async with s.get(path) as r:  # warm the server's path once
                await r.read()
            t0 = time.perf_counter()
            async with s.get(path) as r:
                body = await r.read()
            t_get = time.perf_counter() - t0
            data = orjson.loads(body)
            t_raw = time.perf_counter() - t0
            items = data["items"]
            pods = [Pod.model_validate(d) for d in items]
            t_typed = time.perf_counter() - t0
        del pods
        inf = Informer(c, Pod, ns)
        queue = WorkQueue("bench")
        inf.add_handler(lambda o: queue.add(meta_key(o)),
                        lambda o, n_: queue.add(meta_key(n_)),
                        lambda o: queue.add(meta_key(o)))
        t0 = time.perf_counter()
        await inf.start()
        await inf.wait_for_sync()
        t_sync = time.perf_counter() - t0
        assert len(inf.store) == n, len(inf.store)
        out["sync"] = {
            "informer_sync_s": round(t_sync, 3),
            "baseline_raw_get_s": round(t_get, 3),
            "baseline_raw_get_plus_orjson_s": round(t_raw, 3),
            "baseline_raw_get_orjson_pydantic_s": round(t_typed, 3),
            "list_bytes": len(body),
            "goal_s": 2.0,
        }

        # ---- memory per cached object ----------------------------------------------------
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        store: Store[Pod] = Store()
        for d in items:
            store.put(Pod.model_validate(d))
        typed_bytes = tracemalloc.get_traced_memory()[0] - base
        del store
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        dicts = orjson.loads(body)["items"]
        dict_bytes = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        del dicts, data, items
        out["memory_per_object_bytes"] = {
            "informer_typed_indexed": round(typed_bytes / n),
            "baseline_plain_dict": round(dict_bytes / n),
            "wire_json": round(len(body) / n),
        }

        # Two more informers holding the same 10,000 pods, for the replay measurements
        # below: they absorb updates to cached objects (a steady heap), as in a real run.
        def quiet_informer(name: str) -> tuple[Informer[Pod], WorkQueue]:
            i = Informer(c, Pod, ns)
            q = WorkQueue(name)
            i.add_handler(lambda o: q.add(meta_key(o)), lambda o, n_: q.add(meta_key(n_)),
                          lambda o: q.add(meta_key(o)))
            return i, q

        replay, _q2 = quiet_informer("replay")
        cpu, _q3 = quiet_informer("cpu")
        await replay._list()
        await cpu._list()

        # ---- events: live stream of updates --------------------------------------------
        rv_before = inf.resource_version
        events_before = inf.events
        t0 = time.perf_counter()
        await gather_limited(n, conc, lambda i: c.patch(
            Pod, f"bench-{i:05d}", {"metadata": {"labels": {"round": "1"}}}, ns))
        t_write = time.perf_counter() - t0
        while inf.events - events_before < n:
            await asyncio.sleep(0.005)
        t_seen = time.perf_counter() - t0
        out["events_live"] = {
            "updates": n,
            "server_write_per_s": round(n / t_write, 1),
            "informer_events_per_s": round(n / t_seen, 1),
            "informer_lag_after_last_write_s": round(t_seen - t_write, 3),
        }
        await inf.stop()

        # ---- events: replay as fast as the server sends -------------------------------
        async with aiohttp.ClientSession(server) as s:
            params = {"watch": "true", "resourceVersion": rv_before, "timeoutSeconds": "60"}
            t0 = time.perf_counter()
            got = 0
            recorded = bytearray()
            buf = b""
            async with s.get(path, params=params) as r:
                async for chunk in r.content.iter_any():
                    recorded += chunk
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for ln in lines:
                        if ln and orjson.loads(ln)["type"] != "BOOKMARK":
                            got += 1
                    if got >= n:
                        break
            t_raw_replay = time.perf_counter() - t0

        got = 0
        t0 = time.perf_counter()
        async for ev in c.watch(Pod, ns, resource_version=rv_before, timeout_seconds=60):
            await replay._apply(ev)
            if ev.type != "BOOKMARK":
                got += 1
                if got >= n:
                    break
        t_replay = time.perf_counter() - t0
        out["events_replay"] = {
            "events": n,
            "informer_events_per_s": round(n / t_replay, 1),
            "baseline_raw_aiohttp_orjson_per_s": round(n / t_raw_replay, 1),
            "goal_per_s": 5000,
        }

        # ---- events: informer CPU only (recorded bytes, no I/O) ------------------------
        dec = WatchDecoder(Pod)
        raw = bytes(recorded)
        t0 = time.perf_counter()
        cnt = 0
        for i in range(0, len(raw), 65536):
            for ev in dec.feed(raw[i:i + 65536]):
                await cpu._apply(ev)
                cnt += 1
        t_cpu = time.perf_counter() - t0
        t0 = time.perf_counter()
        for ln in raw.split(b"\n"):
            if ln:
                orjson.loads(ln)
        t_cpu_raw = time.perf_counter() - t0
        out["events_cpu_only"] = {
            "events": cnt,
            "informer_decode_store_handler_per_s": round(cnt / t_cpu, 1),
            "baseline_orjson_only_per_s": round(cnt / t_cpu_raw, 1),
        }

        t0 = time.perf_counter()
        await c.delete_collection(Pod, ns)
        await c.delete(Namespace, ns)
        out["cleanup_s"] = round(time.perf_counter() - t0, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--server", help="a running API server (default: start etcd + one)")
    args = ap.parse_args()
    procs: list[Any] = []
    server = args.server
    if not server:
        from testing.support import ApiServer, Etcd

        etcd = Etcd().start()
        procs.append(etcd)
        api = ApiServer(etcd.url).start()
        procs.insert(0, api)
        server = api.url
    try:
        res = asyncio.run(run(server, args.pods, args.concurrency))
    finally:
        for p in procs:
            p.stop()
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
