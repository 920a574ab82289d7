"""API server benchmark; prints one JSON document.

(a) pod creates/s and p50/p99 at concurrency 32, next to raw etcd puts of the same
    bytes at the same concurrency from Python (aetcd), with the ratio. Beside them,
    to show where the limit lies on this machine: the create-if-absent transaction
    alone (what a create must do in etcd), and bench/floor_server.py, a server that
    does nothing but that transaction per POST. Creates go through bench/httpload.py
    (a lean keep-alive client, so the load generator takes little of the CPU the
    server needs) and once more through aiohttp. Each phase reports the CPU time per
    operation of etcd, the server and the load generator.
(b) watch fan-out: 200 watchers on pods while 2,000 pods are created as fast as the
    server takes them (and, with --watch-rate, once more paced): does every watcher
    get every event, p99 delivery latency, API server RSS;
(c) LIST of 10,000 pods: p50/p99 over repeated lists.

It starts its own etcds and API server (testing/support.py), on free ports.
Usage: python bench/apiserver.py [--creates 5000] [--watchers 200] [--watch-pods 2000]
                                 [--list-pods 10000] [--lists 20] [--only abc]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import aetcd
import aiohttp
import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.httpload import Connection  # noqa: E402
from bench.stats import pct  # noqa: E402
from testing.support import (  # noqa: E402
    ApiServer,
    Etcd,
    Process,
    async_wait_for,
    free_port,
    http_ok,
)


def ms(x: float) -> float:
    return round(x * 1000, 2)


def pod(name: str, ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "bench", "tier": "web"}},
        "spec": {"containers": [{
            "name": "app", "image": "nginx:1.25",
            "ports": [{"containerPort": 80}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
            "env": [{"name": "MODE", "value": "bench"}],
        }]},
    }


async def run_pool(n: int, concurrency: int, op: Any) -> tuple[float, list[float]]:
    lat: list[float] = []
    it = iter(range(n))

    async def worker() -> None:
        for i in it:
            t0 = time.perf_counter()
            started = await op(i)  # an op that waits first says when it really began
            lat.append(time.perf_counter() - (started if started else t0))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, lat


class CpuMeter:
    """CPU time of several processes over one phase, per operation: on 2 shared cores
    the load generator and etcd compete with the server, so each phase says who
    spent what."""

    def __init__(self, **procs: psutil.Process) -> None:
        self.procs = procs
        self.c0: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {k: sum(p.cpu_times()[:2]) for k, p in self.procs.items()}

    def start(self) -> None:
        self.c0 = self._now()

    def per_op_us(self, n: int) -> dict[str, float]:
        c1 = self._now()
        return {k: round((c1[k] - self.c0[k]) / n * 1e6) for k in c1}


async def raw_etcd(etcd_url: str, n: int, concurrency: int, etcd_pid: int,
                   txn: bool = False) -> dict[str, Any]:
    """``n`` puts of a pod's bytes from Python; with ``txn``, each put is the
    create-if-absent transaction a create makes (what the API server must do)."""
    host, port = etcd_url.rsplit("//", 1)[1].split(":")
    value = orjson.dumps(pod("raw", "bench"))
    meter = CpuMeter(etcd=psutil.Process(etcd_pid), bench_client=psutil.Process())
    async with aetcd.Client(host=host, port=int(port), timeout=10) as c:
        async def op(i: int) -> None:
            key = f"/bench-raw/{i}".encode()
            if txn:
                await c.transaction(compare=[c.transactions.create(key) == 0],
                                    success=[c.transactions.put(key, value)], failure=[])
            else:
                await c.put(key, value)

        meter.start()
        elapsed, lat = await run_pool(n, concurrency, op)
        cpu = meter.per_op_us(n)
        await c.delete_prefix(b"/bench-raw/")
    return {"ops": n, "per_second": round(n / elapsed, 1), "p50_ms": ms(pct(lat, 50)),
            "p99_ms": ms(pct(lat, 99)), "cpu_us_per_op": cpu}


async def lean_creates(url: str, ns: str, n: int, concurrency: int, prefix: str,
                       meter: CpuMeter | None = None, done_at: dict[str, float] | None = None,
                       rate: float = 0.0) -> dict[str, Any]:
    """``n`` pod creates through bench/httpload.py's lean client, one keep-alive
    connection per concurrent worker; with ``rate``, paced to that many a second;
    ``done_at`` gets each pod's time of answer."""
    host, port = url.rsplit("//", 1)[1].split(":")
    path = f"/api/v1/namespaces/{ns}/pods"
    bodies = [orjson.dumps(pod(f"{prefix}-{i}", ns)) for i in range(n)]
    conns = [await Connection(host, int(port)).open() for _ in range(concurrency)]
    lat: list[float] = []
    errors = 0
    it = iter(range(n))

    async def worker(conn: Connection) -> None:
        nonlocal errors
        for i in it:
            if rate > 0:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            t0 = time.perf_counter()
            status, _ = await conn.post(path, bodies[i])
            t1 = time.perf_counter()
            lat.append(t1 - t0)
            if done_at is not None:
                done_at[f"{prefix}-{i}"] = t1
            if status != 201:
                errors += 1

    if meter is not None:
        meter.start()
    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - start
    out: dict[str, Any] = {"ops": n, "errors": errors, "per_second": round(n / elapsed, 1),
                           "p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99))}
    if meter is not None:
        out["cpu_us_per_op"] = meter.per_op_us(n)
    for c in conns:
        c.close()
    return out


async def floor_creates(n: int, concurrency: int, watch: bool = False) -> dict[str, Any]:
    """The same creates against bench/floor_server.py on a fresh etcd of its own
    (with ``watch``, the floor server also keeps a watch-fed cache of the pods)."""
    etcd = Etcd().start()
    port = free_port()
    server = Process("floor-server", [
        sys.executable, "-m", "uvicorn", "bench.floor_server:app", "--loop", "uvloop",
        "--http", "httptools", "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning", "--no-access-log"],
        env={"MINIK8S_FLOOR_ETCD": etcd.url.split("//", 1)[1],
             "MINIK8S_FLOOR_WATCH": "1" if watch else ""}).start()
    try:
        url = f"http://127.0.0.1:{port}"
        await async_wait_for(lambda: http_ok(url + "/"), timeout=20,
                             message="the floor server did not start")
        assert server.proc is not None and etcd.proc is not None
        meter = CpuMeter(etcd=psutil.Process(etcd.proc.pid),
                         server=psutil.Process(server.proc.pid), bench_client=psutil.Process())
        return await lean_creates(url, "bench-a", n, concurrency, "f", meter)
    finally:
        server.stop()
        etcd.stop()


async def fresh_etcd_raw(n: int, concurrency: int, txn: bool) -> dict[str, Any]:
    """Raw etcd writes on a fresh etcd of their own. Run on the API server's etcd,
    the baseline's deletes left etcd spending about twice the CPU on each later create
    transaction until the next compaction (150 -> 320 us, measured: 5,000 puts alone
    changed nothing, puts + delete did, a compaction after them undid it), which would
    have charged the baseline's leftovers to the server."""
    etcd = Etcd().start()
    try:
        return await raw_etcd(etcd.url, n, concurrency, etcd.proc.pid, txn)
    finally:
        etcd.stop()


async def ensure_ns(s: aiohttp.ClientSession, url: str, ns: str) -> None:
    async with s.post(f"{url}/api/v1/namespaces",
                      data=orjson.dumps({"metadata": {"name": ns}}),
                      headers={"Content-Type": "application/json"}) as r:
        assert r.status in (201, 409), await r.text()


async def api_creates(s: aiohttp.ClientSession, url: str, ns: str, n: int, concurrency: int,
                      prefix: str, done_at: dict[str, float] | None = None,
                      rate: float = 0.0) -> dict[str, Any]:
    """``n`` pod creates, ``concurrency`` at a time; with ``rate``, paced to that many
    per second (so latency shows delivery cost rather than saturation queueing)."""
    await ensure_ns(s, url, ns)
    t_start = time.perf_counter()
    path = f"{url}/api/v1/namespaces/{ns}/pods"
    bodies = [orjson.dumps(pod(f"{prefix}-{i}", ns)) for i in range(n)]
    errors = 0

    async def op(i: int) -> float:
        nonlocal errors
        if rate > 0:
            delay = t_start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        started = time.perf_counter()
        async with s.post(path, data=bodies[i],
                          headers={"Content-Type": "application/json"}) as r:
            await r.read()
            if r.status != 201:
                errors += 1
        if done_at is not None:
            done_at[f"{prefix}-{i}"] = time.perf_counter()
        return started

    elapsed, lat = await run_pool(n, concurrency, op)
    return {"ops": n, "errors": errors, "per_second": round(n / elapsed, 1),
            "p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99))}


async def watch_fanout(url: str, ns: str, watchers: int, pods: int, server_pid: int,
                       rate: float = 0.0) -> dict[str, Any]:
    conn = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as s:
        await ensure_ns(s, url, ns)
        async with s.get(f"{url}/api/v1/namespaces/{ns}/pods") as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        received: list[dict[str, float]] = [{} for _ in range(watchers)]
        ready = 0
        all_ready = asyncio.Event()

        async def watcher(k: int) -> None:
            nonlocal ready
            q = f"{url}/api/v1/namespaces/{ns}/pods?watch=1&resourceVersion={rv}"
            async with s.get(q) as r:
                ready += 1
                if ready == watchers:
                    all_ready.set()
                got = received[k]
                buf = b""
                async for chunk in r.content.iter_any():
                    now = time.perf_counter()
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        # Cheap: find the name without parsing the whole event.
                        i = line.find(b'"name":"')
                        j = line.find(b'"', i + 8)
                        if line.startswith(b'{"type":"ADDED"'):
                            got[line[i + 8:j].decode()] = now
                    if len(got) >= pods:
                        return

        tasks = [asyncio.create_task(watcher(k)) for k in range(watchers)]
        await asyncio.wait_for(all_ready.wait(), 60)
        await asyncio.sleep(0.5)  # let the server register every watcher
        done_at: dict[str, float] = {}
        rss_samples: list[int] = []
        proc = psutil.Process(server_pid)

        async def sample() -> None:
            while True:
                rss_samples.append(proc.memory_info().rss)
                await asyncio.sleep(0.2)

        sampler = asyncio.create_task(sample())
        me = psutil.Process()
        cpu0 = (sum(proc.cpu_times()[:2]), sum(me.cpu_times()[:2]), time.perf_counter())
        creates = await lean_creates(url, ns, pods, 32, "w", done_at=done_at, rate=rate)
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), 120)
        except TimeoutError:
            for t in tasks:
                t.cancel()
        sampler.cancel()
        cpu1 = (sum(proc.cpu_times()[:2]), sum(me.cpu_times()[:2]), time.perf_counter())
        lat: list[float] = []
        complete = 0
        for got in received:
            if len(got) >= pods:
                complete += 1
            for name, t in got.items():
                if name in done_at:
                    lat.append(max(0.0, t - done_at[name]))
        return {
            "watchers": watchers, "pods": pods, "create_rate_limit_per_s": rate or None,
            "creates": creates,
            "watchers_with_every_event": complete,
            "events_delivered": sum(len(g) for g in received),
            "events_expected": watchers * pods,
            "delivery_latency_after_create_response_p50_ms": ms(pct(lat, 50)),
            "delivery_latency_after_create_response_p99_ms": ms(pct(lat, 99)),
            "apiserver_rss_mb_max": round(max(rss_samples) / 2**20, 1) if rss_samples else None,
            "wall_s": round(cpu1[2] - cpu0[2], 2),
            "apiserver_cpu_s": round(cpu1[0] - cpu0[0], 2),
            "bench_client_cpu_s": round(cpu1[1] - cpu0[1], 2),
        }


async def list_bench(s: aiohttp.ClientSession, url: str, ns: str, want: int, lists: int
                     ) -> dict[str, Any]:
    async with s.get(f"{url}/api/v1/namespaces/{ns}/pods?limit=1") as r:
        await r.read()
    have_body = await (await s.get(f"{url}/api/v1/namespaces/{ns}/pods")).read()
    have = len(orjson.loads(have_body)["items"])
    if have < want:
        await api_creates(s, url, ns, want - have, 32, "l")
    lat: list[float] = []
    size = 0
    count = 0
    for _ in range(lists):
        t0 = time.perf_counter()
        async with s.get(f"{url}/api/v1/namespaces/{ns}/pods") as r:
            body = await r.read()
        lat.append(time.perf_counter() - t0)
        size = len(body)
    count = len(orjson.loads(body)["items"])
    lat0: list[float] = []
    for _ in range(lists):
        t0 = time.perf_counter()
        async with s.get(f"{url}/api/v1/namespaces/{ns}/pods?resourceVersion=0") as r:
            await r.read()
        lat0.append(time.perf_counter() - t0)
    latl: list[float] = []
    for _ in range(max(3, lists // 4)):
        t0 = time.perf_counter()
        cont = ""
        while True:
            async with s.get(f"{url}/api/v1/namespaces/{ns}/pods?limit=500"
                             + (f"&continue={cont}" if cont else "")) as r:
                page = orjson.loads(await r.read())
            cont = page["metadata"].get("continue") or ""
            if not cont:
                break
        latl.append(time.perf_counter() - t0)
    return {"items": count, "bytes": size, "lists": lists,
            "p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99)),
            "rv0_p50_ms": ms(pct(lat0, 50)), "rv0_p99_ms": ms(pct(lat0, 99)),
            "paged_500_total_p50_ms": ms(pct(latl, 50))}


async def main_async(args: argparse.Namespace, etcd: Etcd, server: ApiServer) -> dict[str, Any]:
    out: dict[str, Any] = {}
    assert server.proc is not None
    if "a" in args.only:
        n = args.creates
        api_meter = CpuMeter(etcd=psutil.Process(etcd.proc.pid), apiserver=psutil.Process(
            server.proc.pid), bench_client=psutil.Process())
        async with aiohttp.ClientSession() as s:
            await ensure_ns(s, server.url, "bench-a")
        api = await lean_creates(server.url, "bench-a", n, 32, "p", api_meter)
        raw = await fresh_etcd_raw(n, 32, txn=False)
        raw_txn = await fresh_etcd_raw(n, 32, txn=True)
        floor = await floor_creates(n, 32)
        floor_watch = await floor_creates(n, 32, watch=True)
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as s:
            api_meter.start()
            api_aiohttp = await api_creates(s, server.url, "bench-a", n, 32, "q")
            api_aiohttp["cpu_us_per_op"] = api_meter.per_op_us(n)
        out["a_creates"] = {
            "raw_etcd_put": raw,
            "raw_etcd_create_txn": raw_txn,
            "floor_server_create": floor,
            "floor_server_with_watch_create": floor_watch,
            "apiserver_pod_create": api,
            "apiserver_pod_create_aiohttp_client": api_aiohttp,
            "ratio_api_to_raw": round(api["per_second"] / raw["per_second"], 3),
            "ratio_floor_to_raw": round(floor["per_second"] / raw["per_second"], 3),
            "ratio_floor_with_watch_to_raw": round(floor_watch["per_second"]
                                                   / raw["per_second"], 3),
            "ratio_api_to_floor": round(api["per_second"] / floor["per_second"], 3),
            "goal": "ratio_api_to_raw >= 0.5 and p99 <= 50 ms",
        }
    if "b" in args.only:
        out["b_watch_fanout"] = await watch_fanout(server.url, "bench-b", args.watchers,
                                                   args.watch_pods, server.proc.pid)
        out["b_watch_fanout"]["goal"] = "every watcher gets every event, p99 <= 100 ms"
        if args.watch_rate > 0:
            out["b_watch_fanout_paced"] = await watch_fanout(
                server.url, "bench-b2", args.watchers, args.watch_pods, server.proc.pid,
                args.watch_rate)
    if "c" in args.only:
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as s:
            out["c_list"] = await list_bench(s, server.url, "bench-c", args.list_pods,
                                             args.lists)
        out["c_list"]["goal"] = "p99 <= 1000 ms"
    out["apiserver_rss_mb_end"] = round(psutil.Process(server.proc.pid).memory_info().rss
                                        / 2**20, 1)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--creates", type=int, default=5000)
    p.add_argument("--watchers", type=int, default=200)
    p.add_argument("--watch-pods", type=int, default=2000)
    p.add_argument("--list-pods", type=int, default=10000)
    p.add_argument("--lists", type=int, default=20)
    p.add_argument("--only", default="abc", help="which parts to run: a, b, c")
    p.add_argument("--watch-rate", type=float, default=200.0,
                   help="creates/s of a second, paced fan-out run (0: skip it)")
    args = p.parse_args()
    etcd = Etcd().start()
    try:
        server = ApiServer(etcd.url, ["--log-level", "warning"]).start()
        try:
            result = asyncio.run(main_async(args, etcd, server))
            result["machine"] = {"cpus": psutil.cpu_count(), "python": sys.version.split()[0],
                                 "load_average_1m_at_end": round(os.getloadavg()[0], 2)}
            print(json.dumps(result, indent=2))
        finally:
            server.stop()
    finally:
        etcd.stop()


if __name__ == "__main__":
    main()
