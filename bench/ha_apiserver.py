"""Several API servers over one 3-member etcd; prints one JSON document.

Starts three etcd members on loopback ports (one cluster) and two API servers on it.

(a) creates/s: ``--creates`` ConfigMap creates at concurrency ``--concurrency`` through
    one API server (the same-run baseline), then the same number spread over both,
    each worker keeping to one server (bench/httpload.py's lean keep-alive client);
    the ratio two/one. On 2 shared cores the servers compete for the same CPU, so the
    ratio says what a second server costs or buys on this machine, not on two hosts.
(b) the cost of consistent reads: p50/p99 of a small list (``--list-items`` objects) with
    resourceVersion unset (etcd's current revision by a quorum read, then the watch cache
    once caught up) against resourceVersion=0 (the cache as is) on the same server, in
    the same run, and a GET without resourceVersion (read from etcd, as Kubernetes)
    against one with resourceVersion=0; the ratios.
(c) ``--watchers`` watches (one asyncio process, one connection each, aiohttp) on the
    first server; it is stopped with SIGTERM (--shutdown-delay-duration 1s); each stream
    that ends resumes on the second server from its last resourceVersion, and re-lists
    only on 410. Reported: seconds from SIGTERM until every watcher has seen an object
    written through the second server, the number of re-lists and 410s (goal: 0).

    python bench/ha_apiserver.py [--creates 2000] [--watchers 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import httpx
import orjson

from bench.httpload import Connection
from bench.stats import pct
from testing.support import ApiServer, Process, etcd_binary, free_port, http_ok, wait_for


def ms(x: float) -> float:
    return round(x * 1000, 2)


class EtcdCluster:
    """Three etcd members on loopback ports, one cluster."""

    def __init__(self, members: int = 3) -> None:
        self.dirs = [tempfile.mkdtemp(prefix="minik8s-ha-etcd-") for _ in range(members)]
        self.client = [free_port() for _ in range(members)]
        self.peer = [free_port() for _ in range(members)]
        initial = ",".join(f"m{i}=http://127.0.0.1:{p}" for i, p in enumerate(self.peer))
        self.procs = [Process(f"etcd-m{i}", [
            etcd_binary(), "--name", f"m{i}", "--data-dir", self.dirs[i],
            "--listen-client-urls", f"http://127.0.0.1:{self.client[i]}",
            "--advertise-client-urls", f"http://127.0.0.1:{self.client[i]}",
            "--listen-peer-urls", f"http://127.0.0.1:{self.peer[i]}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer[i]}",
            "--initial-cluster", initial, "--initial-cluster-state", "new",
            "--log-level", "warn"], env={"ETCD_UNSUPPORTED_ARCH":
                                         os.environ.get("ETCD_UNSUPPORTED_ARCH", "")})
            for i in range(members)]

    @property
    def urls(self) -> str:
        return ",".join(f"http://127.0.0.1:{p}" for p in self.client)

    def start(self) -> EtcdCluster:
        for p in self.procs:
            p.start()
        for port in self.client:
            url = f"http://127.0.0.1:{port}/health"
            wait_for(lambda url=url: http_ok(url),  # type: ignore[misc]
                     timeout=30, message=f"etcd member on {port}")
        return self

    def stop(self) -> None:
        for p in self.procs:
            p.stop()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


async def creates(urls: list[str], ns: str, n: int, concurrency: int, prefix: str
                  ) -> dict[str, Any]:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    bodies = [orjson.dumps({"metadata": {"name": f"{prefix}-{i}"}, "data": {"k": "v" * 64}})
              for i in range(n)]
    conns = []
    for w in range(concurrency):
        host, port = urls[w % len(urls)].rsplit("//", 1)[1].split(":")
        conns.append(await Connection(host, int(port)).open())
    lat: list[float] = []
    errors = 0
    it = iter(range(n))

    async def worker(conn: Connection) -> None:
        nonlocal errors
        for i in it:
            t0 = time.perf_counter()
            status, _ = await conn.post(path, bodies[i])
            lat.append(time.perf_counter() - t0)
            errors += status != 201

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - start
    for c in conns:
        c.close()
    return {"servers": len(urls), "ops": n, "errors": errors,
            "per_second": round(n / elapsed, 1), "p50_ms": ms(pct(lat, 50)),
            "p99_ms": ms(pct(lat, 99))}


async def read_cost(url: str, ns: str, items: int, reps: int) -> dict[str, Any]:
    host, port = url.rsplit("//", 1)[1].split(":")
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        for i in range(items):
            (await c.post(f"/api/v1/namespaces/{ns}/configmaps",
                          json={"metadata": {"name": f"r-{i}"}})).raise_for_status()
    conn = await Connection(host, int(port)).open()
    base = f"/api/v1/namespaces/{ns}/configmaps"
    paths = {"list_consistent": base, "list_rv0": base + "?resourceVersion=0",
             "get_consistent": base + "/r-0", "get_rv0": base + "/r-0?resourceVersion=0"}
    lat: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(reps):
        for k, p in paths.items():  # interleaved, so that load drifts hit all alike
            t0 = time.perf_counter()
            status, _ = await conn.get(p)
            lat[k].append(time.perf_counter() - t0)
            assert status == 200, (k, status)
    conn.close()
    out: dict[str, Any] = {"items": items, "requests_each": reps}
    for k, xs in lat.items():
        out[k] = {"p50_ms": ms(pct(xs, 50)), "p99_ms": ms(pct(xs, 99))}
    out["list_consistent_over_rv0_p50"] = round(
        pct(lat["list_consistent"], 50) / pct(lat["list_rv0"], 50), 2)
    out["get_consistent_over_rv0_p50"] = round(
        pct(lat["get_consistent"], 50) / pct(lat["get_rv0"], 50), 2)
    return out


class Watchers:
    """``n`` watches that resume on the next server from their last resourceVersion
    when a stream ends (re-listing only after a 410)."""

    def __init__(self, urls: list[str], ns: str, n: int) -> None:
        self.urls = urls
        self.path = f"/api/v1/namespaces/{ns}/configmaps"
        self.n = n
        self.rv = [""] * n
        self.server = [0] * n
        self.lists = 0
        self.gone = 0
        self.resumes = 0
        self.errors: dict[str, int] = {}  # broken streams and refused connections, by type
        self.marker = ""
        self.seen: list[float | None] = [None] * n
        self.open = [False] * n
        self.all_seen = asyncio.Event()
        self.stopping = False

    async def _list(self, s: aiohttp.ClientSession, i: int) -> str:
        async with s.get(self.urls[self.server[i]] + self.path) as r:
            body = await r.read()
            if r.status != 200:
                raise aiohttp.ClientError(f"list: {r.status}")
        self.lists += 1
        return str(orjson.loads(body)["metadata"]["resourceVersion"])

    async def run(self, i: int, s: aiohttp.ClientSession) -> None:
        while not self.stopping:
            try:
                if not self.rv[i]:
                    self.rv[i] = await self._list(s, i)
                params = {"watch": "1", "resourceVersion": self.rv[i],
                          "allowWatchBookmarks": "true", "timeoutSeconds": "3600"}
                async with s.get(self.urls[self.server[i]] + self.path, params=params) as r:
                    if r.status != 200:
                        raise aiohttp.ClientError(f"watch: {r.status}")
                    self.open[i] = True
                    while line := await r.content.readline():
                        ev = orjson.loads(line)
                        obj = ev["object"]
                        if ev["type"] == "ERROR":
                            if obj.get("code") == 410:
                                self.gone += 1
                                self.rv[i] = ""
                            break
                        self.rv[i] = obj["metadata"]["resourceVersion"]
                        if obj["metadata"].get("name") == self.marker and \
                                self.seen[i] is None:
                            self.seen[i] = time.monotonic()
                            if all(x is not None for x in self.seen):
                                self.all_seen.set()
                self.open[i] = False
                # the stream ended (the server is going away): the next server
                self.server[i] = (self.server[i] + 1) % len(self.urls)
                self.resumes += 1
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as e:
                self.errors[type(e).__name__] = self.errors.get(type(e).__name__, 0) + 1
                self.open[i] = False
                self.server[i] = (self.server[i] + 1) % len(self.urls)
                await asyncio.sleep(0.05 + random.random() * 0.1)


async def failover(a: ApiServer, b: ApiServer, ns: str, n: int, timeout: float
                   ) -> dict[str, Any]:
    w = Watchers([a.url, b.url], ns, n)
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=30)) as s:
        tasks = [asyncio.create_task(w.run(i, s)) for i in range(n)]
        try:
            deadline = time.monotonic() + timeout
            while not all(w.open) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            opened = sum(w.open)
            lists0 = w.lists
            assert a.proc is not None
            t0 = time.monotonic()
            a.proc.send_signal(signal.SIGTERM)
            # every watch open on the other server again
            while not (all(w.open) and all(x == 1 for x in w.server)) and \
                    time.monotonic() < deadline + timeout:
                await asyncio.sleep(0.02)
            t_moved = time.monotonic()
            moved_all = all(w.open) and all(x == 1 for x in w.server)
            code = await asyncio.to_thread(a.proc.wait, 60)
            # ...and live there: a write after the first server exited reaches them all
            w.marker = "marker"
            t_write = time.monotonic()
            async with httpx.AsyncClient(timeout=30) as c:
                (await c.post(b.url + w.path, json={"metadata": {"name": "marker"}})
                 ).raise_for_status()
            try:
                await asyncio.wait_for(w.all_seen.wait(), timeout)
                done = True
            except TimeoutError:
                done = False
            seen = [x for x in w.seen if x is not None]
        finally:
            w.stopping = True
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return {"watchers": n, "open_before": opened, "shutdown_delay_s": 1.0,
            "all_moved": moved_all,
            "seconds_from_sigterm_until_all_watching_the_other": round(t_moved - t0, 3),
            "seconds_after_the_delay": round(t_moved - t0 - 1.0, 3),
            "all_saw_a_later_write": done, "saw": len(seen),
            "write_to_all_seen_s": round(max(seen) - t_write, 3) if done else None,
            "relists": w.lists - lists0, "gone_410": w.gone,
            "stream_ends_resumed": w.resumes, "errors_resumed": w.errors, "exit_code": code}


async def _main(a: argparse.Namespace) -> dict[str, Any]:
    etcd = EtcdCluster().start()
    flags = ["--shutdown-delay-duration", "1s", "--shutdown-timeout", "20"]
    servers = [ApiServer(etcd.urls, flags), ApiServer(etcd.urls, flags)]
    try:
        for s in servers:
            await asyncio.to_thread(s.start)
        # a namespace per phase: the reads and the watchers' lists see only their own
        stamp = int(time.time())
        ns, ns_reads, ns_watch = f"ha-{stamp}", f"ha-reads-{stamp}", f"ha-watch-{stamp}"
        async with httpx.AsyncClient(timeout=30) as c:
            for name in (ns, ns_reads, ns_watch):
                (await c.post(servers[0].url + "/api/v1/namespaces",
                              json={"metadata": {"name": name}})).raise_for_status()
        urls = [s.url for s in servers]
        out: dict[str, Any] = {"etcd_members": 3, "load": os.getloadavg()}
        one = await creates(urls[:1], ns, a.creates, a.concurrency, "one")
        two = await creates(urls, ns, a.creates, a.concurrency, "two")
        out["creates_one_server"] = one
        out["creates_two_servers"] = two
        out["creates_ratio_two_over_one"] = round(two["per_second"] / one["per_second"], 2)
        out["consistent_reads"] = await read_cost(urls[0], ns_reads, a.list_items, a.reads)
        out["graceful_failover"] = await failover(servers[0], servers[1], ns_watch,
                                                  a.watchers, a.timeout)
        out["load_after"] = os.getloadavg()
        return out
    finally:
        for s in servers:
            s.stop()
        etcd.stop()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--creates", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--list-items", type=int, default=20)
    p.add_argument("--reads", type=int, default=300)
    p.add_argument("--watchers", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=120.0)
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # unwind: stop the processes started
    return asyncio.run(_main(args))


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
