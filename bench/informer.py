"""Informer benchmark: sync 10,000 pods, then absorb a stream of updates (JSON on stdout).

Starts its own etcd + API server (testing/support.py) unless ``--server`` is given, creates
the pods through the API, then measures side by side with baselines in the same run:

- sync: ``Informer.start() -> wait_for_sync()`` vs. a raw GET of the list + orjson decode
  (the floor: the server's work and the transfer) and raw + pydantic validation (what a
  typed cache pays up front).
- memory per cached object: tracemalloc over filling the informer's store from the
  decoded list (what its re-list does), vs. the same objects as typed models in an indexed
  store (how the cache kept them before), as plain dicts, and their JSON size.
- events/s: (a) live, while a writer PATCHes every pod (bounded by the server's write
  rate, reported with the informer's lag); (b) replay, a watch from the resourceVersion
  before the updates, so the server sends them as fast as it can, decoded and applied
  by the informer's own watch path with a handler enqueuing into a WorkQueue, vs. the
  raw stream read with aiohttp + orjson; (c) the informer's own CPU cost per event on one
  core, feeding the recorded stream bytes to the decoder + store + handler without any
  I/O, vs. orjson alone and vs. decoding each event into a typed model (the old path).
- big sync (``--big``, default 100,000 pods): one informer process lists every pod from a
  canned server (a subprocess serving a prepared paginated list, so neither etcd nor the
  API server is in the figure), reporting the time to synced and the process's RSS
  before, after and at its peak; baseline: the same pages read and decoded with aiohttp +
  orjson in a process of its own.

    python bench/informer.py [--pods 10000] [--big 100000] [--server URL]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import subprocess
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
from client.informer import Informer, WatchLines
from client.lazy import made as lazy_made
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


def enqueuing_informer(c: AsyncClient, ns: str | None, name: str) -> tuple[Informer[Pod],
                                                                             WorkQueue]:
    """An informer whose handler enqueues each object's key, as a controller's does."""
    inf = Informer(c, Pod, ns)
    q = WorkQueue(name)
    inf.add_handler(lambda o: q.add(meta_key(o)), lambda o, n_: q.add(meta_key(n_)),
                    lambda o: q.add(meta_key(o)))
    return inf, q


def traced(fn: Any) -> tuple[int, Any]:
    """(bytes still allocated after ``fn()``, its result), by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    res = fn()
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return used, res


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
        del pods, data, items
        inf, _q1 = enqueuing_informer(c, ns, "bench")
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
            "ratio_informer_to_raw_get_plus_orjson": round(t_raw / t_sync, 2),
            "list_bytes": len(body),
        }

        # ---- memory per cached object ----------------------------------------------------
        def compact() -> Store[Pod]:
            store: Store[Pod] = Store(model_cls=Pod)
            for d in orjson.loads(body)["items"]:
                store.put_wire(d)
            return store

        def typed() -> Store[Pod]:
            store: Store[Pod] = Store()
            for d in orjson.loads(body)["items"]:
                store.put(Pod.model_validate(d))
            return store

        compact_bytes, st = traced(compact)
        del st
        typed_bytes, st = traced(typed)
        del st
        dict_bytes, dicts = traced(lambda: orjson.loads(body)["items"])
        del dicts
        out["memory_per_object_bytes"] = {
            "informer_compact_indexed": round(compact_bytes / n),
            "baseline_typed_indexed": round(typed_bytes / n),
            "baseline_plain_dict": round(dict_bytes / n),
            "wire_json": round(len(body) / n),
            "goal": 3000,
        }

        # Two more informers holding the same pods, for the replay measurements below:
        # they absorb updates to cached objects (a steady heap), as in a real run.
        replay, _q2 = enqueuing_informer(c, ns, "replay")
        cpu, _q3 = enqueuing_informer(c, ns, "cpu")
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
        params = {"watch": "true", "resourceVersion": rv_before, "timeoutSeconds": "60"}
        async with aiohttp.ClientSession(server) as s:
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

        # the informer's own watch path: the client's raw watch, then Informer._apply
        got = 0
        t0 = time.perf_counter()
        async for ev, obj_raw in replay.events_from(path, {"resourceVersion": rv_before,
                                                          "timeoutSeconds": 60}):
            await replay._apply(ev, obj_raw)
            if ev["type"] != "BOOKMARK":
                got += 1
                if got >= n:
                    break
        t_replay = time.perf_counter() - t0
        out["events_replay"] = {
            "events": n,
            "informer_events_per_s": round(n / t_replay, 1),
            "baseline_raw_aiohttp_orjson_per_s": round(n / t_raw_replay, 1),
            "ratio_informer_to_raw": round(t_raw_replay / t_replay, 2),
            "goal_per_s": 25000,
            "goal_ratio": 0.5,
        }

        # ---- events: informer CPU only (recorded bytes, no I/O) ------------------------
        raw = bytes(recorded)
        dec = WatchLines()
        t0 = time.perf_counter()
        cnt = 0
        for i in range(0, len(raw), 65536):
            for ev, obj_raw in dec.feed(raw[i:i + 65536]):
                await cpu._apply(ev, obj_raw)
                cnt += 1
        t_cpu = time.perf_counter() - t0
        t0 = time.perf_counter()
        for ln in raw.split(b"\n"):
            if ln:
                orjson.loads(ln)
        t_cpu_raw = time.perf_counter() - t0
        typed_dec = WatchDecoder(Pod)
        t0 = time.perf_counter()
        for i in range(0, len(raw), 65536):
            for _ in typed_dec.feed(raw[i:i + 65536]):
                pass
        t_cpu_typed = time.perf_counter() - t0
        out["events_cpu_only"] = {
            "events": cnt,
            "informer_decode_store_handler_per_s": round(cnt / t_cpu, 1),
            "baseline_orjson_only_per_s": round(cnt / t_cpu_raw, 1),
            "baseline_typed_decode_only_per_s": round(cnt / t_cpu_typed, 1),
        }

        out["handlers_cpu_only"] = await handler_costs(c, ns, raw)

        t0 = time.perf_counter()
        await c.delete_collection(Pod, ns)
        await c.delete(Namespace, ns)
        out["cleanup_s"] = round(time.perf_counter() - t0, 2)
    return out


async def feed(inf: Informer[Pod], raw: bytes) -> dict[str, Any]:
    """The recorded stream through ``inf`` (decoder, store, its handlers), on one core:
    events/s and how many objects the handlers made typed, per event."""
    dec = WatchLines()
    before = dict(lazy_made)
    cnt = 0
    t0 = time.perf_counter()
    for i in range(0, len(raw), 65536):
        for ev, obj_raw in dec.feed(raw[i:i + 65536]):
            await inf._apply(ev, obj_raw)
            cnt += 1
    t = time.perf_counter() - t0
    return {"events_per_s": round(cnt / t, 1),
            "validated_whole_per_event": round((lazy_made["object"] - before["object"])
                                               / max(cnt, 1), 2),
            "fields_validated_alone_per_event": round((lazy_made["field"] - before["field"])
                                                      / max(cnt, 1), 2)}


async def handler_costs(c: AsyncClient, ns: str, raw: bytes) -> dict[str, Any]:
    """The pod handlers of the controller-manager (every controller) and of the scheduler
    on the same recorded updates (their queues fill; nothing reconciles or schedules)."""
    out: dict[str, Any] = {}
    try:
        from client.events import EventRecorder
        from client.informer import SharedInformerFactory
        from controllers.context import ControllerContext
        from controllers.manager import ControllerManager, enabled_controllers

        ctx = ControllerContext(c, SharedInformerFactory(c), EventRecorder(c, component="b"))
        ControllerManager(ctx, enabled_controllers("*"))
        pods = ctx.factory.informer(Pod)
        await pods._list()
        out["controller_manager"] = await feed(pods, raw)
    except Exception as exc:  # another component's API moved: say so, measure the rest
        out["controller_manager"] = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        from scheduler.plugins import default_framework
        from scheduler.service import Scheduler

        sched = Scheduler(c, default_framework())
        inf = Informer(c, Pod, ns)
        inf.add_handler(sched.on_pod_add, sched.on_pod_update, sched.on_pod_delete)
        await inf._list()
        out["scheduler"] = await feed(inf, raw)
    except Exception as exc:
        out["scheduler"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


# ---- big sync: a canned paginated list served by a subprocess ------------------------


def canned_pod(i: int) -> dict[str, Any]:
    """A pod as the API server returns one (defaults, managedFields, status)."""
    name, ts = f"big-{i:06d}", "2026-01-01T00:00:00Z"
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": name, "namespace": f"ns-{i % 20}", "uid": f"00000000-0000-4000-8000-{i:012d}",
            "resourceVersion": str(1000 + i), "generation": 1, "creationTimestamp": ts,
            "labels": {"app": "big", "shard": str(i % 16)},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                 "name": f"rs-{i // 10}", "uid": f"rs-uid-{i // 10}",
                                 "controller": True, "blockOwnerDeletion": True}],
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update",
                               "apiVersion": "v1", "time": ts, "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:metadata": {"f:labels": {
                                   ".": {}, "f:app": {}, "f:shard": {}}},
                                   "f:spec": {"f:containers": {'k:{"name":"c"}': {
                                       ".": {}, "f:image": {}, "f:name": {},
                                       "f:resources": {}}}}}}]},
        "spec": {
            "containers": [{"name": "c", "image": "nginx:1.25",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                            "imagePullPolicy": "IfNotPresent",
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File"}],
            "nodeName": f"node-{i % 5000}", "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler", "securityContext": {},
            "enableServiceLinks": True,
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                             "effect": "NoExecute", "tolerationSeconds": 300}]},
        "status": {"phase": "Running", "qosClass": "Burstable", "podIP": f"10.{i >> 16 & 255}."
                   f"{i >> 8 & 255}.{i & 255}", "hostIP": "172.18.0.2",
                   "startTime": ts},
    }


def serve_canned(n: int, port: int) -> None:
    """Serve ``GET /api/v1/pods`` (limit/continue pages) over ``n`` canned pods."""
    from aiohttp import web

    pods = [orjson.dumps(canned_pod(i)) for i in range(n)]
    rv = str(1000 + n)

    async def pods_list(req: web.Request) -> web.Response:
        if req.query.get("watch") == "true":  # a watch with nothing in it, ended cleanly
            await asyncio.sleep(min(5.0, float(req.query.get("timeoutSeconds", "1"))))
            return web.Response(body=b"", content_type="application/json")
        limit = int(req.query.get("limit") or n)
        start = int(req.query.get("continue") or 0)
        end = min(n, start + limit)
        meta: dict[str, Any] = {"resourceVersion": rv}
        if end < n:
            meta["continue"] = str(end)
        body = (b'{"kind":"PodList","apiVersion":"v1","metadata":' + orjson.dumps(meta)
                + b',"items":[' + b",".join(pods[start:end]) + b"]}")
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v1/pods", pods_list)
    print("ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


async def big_client(url: str, n: int, mode: str) -> dict[str, Any]:
    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    if mode == "informer":
        async with AsyncClient(url, timeout=120) as c:
            inf, _q = enqueuing_informer(c, None, "big")
            await inf.start()
            await inf.wait_for_sync()
            t = time.perf_counter() - t0
            assert len(inf.store) == n, len(inf.store)
            gc.collect()
            after = rss_mb()
            await inf.stop()
    else:  # the floor: the same pages read and decoded, nothing kept
        got = 0
        async with aiohttp.ClientSession(url) as s:
            cont = ""
            while True:
                params = {"limit": "500", **({"continue": cont} if cont else {})}
                async with s.get("/api/v1/pods", params=params) as r:
                    data = orjson.loads(await r.read())
                got += len(data["items"])
                cont = data["metadata"].get("continue") or ""
                del data
                if not cont:
                    break
        assert got == n, got
        t = time.perf_counter() - t0
        after = rss_mb()
    return {"sync_s": round(t, 3), "rss_before_mb": before, "rss_after_mb": after,
            "rss_peak_mb": rss_mb("VmHWM")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def big_sync(n: int) -> dict[str, Any]:
    port = free_port()
    me = str(Path(__file__).resolve())
    srv = subprocess.Popen([sys.executable, me, "--serve-canned", str(n), "--port", str(port)],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout is not None and srv.stdout.readline().strip() == "ready"
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):  # bounded wait for the listener
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        res: dict[str, Any] = {"pods": n, "server": "canned list (bench/informer.py "
                                                    "--serve-canned), 500 per page"}
        for mode in ("raw", "informer"):
            out = subprocess.run([sys.executable, me, "--big-client", url, "--big-mode", mode,
                                  "--big", str(n)], capture_output=True, text=True,
                                 timeout=600, check=True)
            res["baseline_raw_aiohttp_orjson" if mode == "raw" else "informer"] = \
                json.loads(out.stdout)
        inf = res["informer"]
        res["informer_rss_growth_mb"] = round(inf["rss_after_mb"] - inf["rss_before_mb"], 1)
        res["ratio_informer_to_raw"] = round(
            res["baseline_raw_aiohttp_orjson"]["sync_s"] / inf["sync_s"], 2)
        res["goal"] = {"sync_s": 3.0, "rss_mb": 400}
        return res
    finally:
        srv.kill()
        srv.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=10_000)
    ap.add_argument("--big", type=int, default=100_000,
                    help="pods of the big sync from a canned server (0: skip it)")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--server", help="a running API server (default: start etcd + one)")
    ap.add_argument("--serve-canned", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--big-client", help=argparse.SUPPRESS)
    ap.add_argument("--big-mode", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_canned:
        serve_canned(args.serve_canned, args.port)
        return
    if args.big_client:
        print(json.dumps(asyncio.run(big_client(args.big_client, args.big, args.big_mode))))
        return
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
    if args.big:
        res["big_sync"] = big_sync(args.big)
    res["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
