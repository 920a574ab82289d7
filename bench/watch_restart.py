"""Reconnecting watchers after an API server restart (JSON on stdout).

Starts its own etcd and API server, creates ``--objects`` ConfigMaps in one namespace and
opens ``--watchers`` watches on them (one connection each, as that many informers would).
Every watcher keeps the resourceVersion of the last event it saw; writes to other kinds
then move etcd's revision past it, so a restarted server's watch cache starts after it.
Then the server is restarted twice on the same etcd and port, and each time every watcher
reconnects:

- ``relist`` (the same-run baseline: what clients did when every resuming watch got 410
  Gone): each watcher LISTs, then watches from the list's resourceVersion;
- ``resume``: each watcher watches from its last resourceVersion, and LISTs only if it
  gets 410 (goal: never, since etcd still has that history).

For each: LIST calls made (counted by the clients and by the server's
apiserver_request_total), 410s received, and the time from the new server being ready
until every watcher has seen a marker object written at that moment (all live again).

    python bench/watch_restart.py [--watchers 1000] [--objects 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import httpx
import orjson

from testing.support import ApiServer, Etcd


class Watchers:
    def __init__(self, url: str, ns: str, n: int) -> None:
        self.base = f"{url}/api/v1/namespaces/{ns}/configmaps"
        self.n = n
        self.rv = [""] * n
        self.mode = "resume"
        self.lists = 0
        self.gone = 0
        self.marker = ""
        self.seen: list[float | None] = [None] * n
        self.all_seen = asyncio.Event()
        self.connected: list[float | None] = [None] * n
        self.stopping = False

    def expect(self, marker: str) -> None:
        self.marker = marker
        self.seen = [None] * self.n
        self.all_seen.clear()

    async def _list(self, session: aiohttp.ClientSession) -> str:
        async with session.get(self.base) as r:
            body = await r.read()
            if r.status != 200:
                raise aiohttp.ClientError(f"list: {r.status}")
        self.lists += 1
        rv: str = orjson.loads(body)["metadata"]["resourceVersion"]
        return rv

    async def run(self, i: int, session: aiohttp.ClientSession) -> None:
        fresh = True  # the first connection, and each one after a lost stream
        while not self.stopping:
            try:
                if fresh and (self.mode == "relist" or not self.rv[i]):
                    self.rv[i] = await self._list(session)
                fresh = False
                params = {"watch": "1", "resourceVersion": self.rv[i],
                          "timeoutSeconds": "3600"}
                async with session.get(self.base, params=params) as r:
                    if r.status != 200:
                        raise aiohttp.ClientError(f"watch: {r.status}")
                    self.connected[i] = time.monotonic()
                    while line := await r.content.readline():
                        ev = orjson.loads(line)
                        obj = ev["object"]
                        if ev["type"] == "ERROR":
                            if obj.get("code") == 410:
                                self.gone += 1
                                self.rv[i] = await self._list(session)
                            break
                        self.rv[i] = obj["metadata"]["resourceVersion"]
                        if obj["metadata"].get("name") == self.marker and \
                                self.seen[i] is None:
                            self.seen[i] = time.monotonic()
                            if all(s is not None for s in self.seen):
                                self.all_seen.set()
                fresh = True
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
                fresh = True
                await asyncio.sleep(0.05 + random.random() * 0.1)


def _count_lists(text: str) -> int:
    total = 0
    for m in re.finditer(r"^apiserver_request_total\{([^}]*)\} (\S+)$", text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("verb") == "LIST" and labels.get("resource") == "configmaps":
            total += int(float(m.group(2)))
    return total


async def _phase(w: Watchers, etcd: Etcd, server: ApiServer, mode: str,
                 timeout: float) -> tuple[ApiServer, dict[str, Any]]:
    loop = asyncio.get_running_loop()
    w.mode = mode
    lists0, gone0 = w.lists, w.gone
    w.connected = [None] * w.n  # set again as each watch is answered by the new server
    await loop.run_in_executor(None, server.stop)
    t_start = time.monotonic()
    server = ApiServer(etcd.url, port=server.port)
    await loop.run_in_executor(None, server.start)
    t_ready = time.monotonic()
    marker = f"marker-{mode}"
    w.expect(marker)
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(w.base, json={"metadata": {"name": marker}})
        assert r.status_code == 201, r.text
    try:
        await asyncio.wait_for(w.all_seen.wait(), timeout)
        done = True
    except TimeoutError:
        done = False
    seen = [s for s in w.seen if s is not None]
    connected = [c for c in w.connected if c is not None]
    async with httpx.AsyncClient(timeout=30) as c:
        server_lists = _count_lists((await c.get(server.url + "/metrics")).text)
    return server, {
        "server_start_to_ready_s": round(t_ready - t_start, 3),
        # From the new server's start: every watcher's watch answered (200) again, after
        # its LIST if it made one; then every watcher saw the marker written once ready.
        "all_live": done and len(connected) == w.n, "live": len(seen),
        "seconds_until_all_watching": round(max(connected) - t_start, 3)
        if len(connected) == w.n else None,
        "median_seconds_until_watching": round(
            sorted(connected)[len(connected) // 2] - t_start, 3) if connected else None,
        "seconds_until_all_saw_marker": round(max(seen) - t_start, 3) if done else None,
        "list_calls_by_clients": w.lists - lists0,
        "list_calls_on_server": server_lists,
        "gone_410": w.gone - gone0,
    }


async def _run(url: str, etcd: Etcd, server: ApiServer, n: int, objects: int,
               timeout: float) -> tuple[ApiServer, dict[str, Any]]:
    ns = f"wr-{int(time.time())}"
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        (await c.post("/api/v1/namespaces", json={"metadata": {"name": ns}})).raise_for_status()
        for i in range(objects):
            (await c.post(f"/api/v1/namespaces/{ns}/configmaps",
                          json={"metadata": {"name": f"cm-{i}"}, "data": {"i": str(i)}})
             ).raise_for_status()
    w = Watchers(url, ns, n)
    conn = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=30)) as session:
        tasks = [asyncio.create_task(w.run(i, session)) for i in range(n)]
        try:
            # All connected and current: each sees one more write (written once every
            # watch is open, so that no watcher's list already holds it).
            deadline = time.monotonic() + timeout
            while any(c is None for c in w.connected) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            w.expect("warm")
            async with httpx.AsyncClient(base_url=url, timeout=30) as c:
                (await c.post(f"/api/v1/namespaces/{ns}/configmaps",
                              json={"metadata": {"name": "warm"}})).raise_for_status()
                await asyncio.wait_for(w.all_seen.wait(), timeout)
                # Other kinds move etcd's revision past every watcher's last event.
                for i in range(5):
                    (await c.post(f"/api/v1/namespaces/{ns}/secrets",
                                  json={"metadata": {"name": f"s{i}"}})).raise_for_status()
            phases = {}
            for mode in ("relist", "resume"):
                server, phases[mode] = await _phase(w, etcd, server, mode, timeout)
                async with httpx.AsyncClient(base_url=url, timeout=30) as c:
                    for i in range(5):
                        (await c.post(f"/api/v1/namespaces/{ns}/secrets", json={
                            "metadata": {"name": f"s-{mode}-{i}"}})).raise_for_status()
        finally:
            w.stopping = True
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    base, res = phases["relist"], phases["resume"]
    out: dict[str, Any] = {
        "watchers": n, "objects": objects, "baseline_relist": base, "resume": res,
        "list_calls_saved": base["list_calls_by_clients"] - res["list_calls_by_clients"],
    }
    if base["seconds_until_all_saw_marker"] and res["seconds_until_all_saw_marker"]:
        out["time_until_all_live_ratio_relist_over_resume"] = round(
            base["seconds_until_all_saw_marker"] / res["seconds_until_all_saw_marker"], 2)
    return server, out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser()
    p.add_argument("--watchers", type=int, default=1000)
    p.add_argument("--objects", type=int, default=50)
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds each phase may take before it is reported as not live")
    a = p.parse_args(argv)
    etcd = Etcd().start()
    try:
        server = ApiServer(etcd.url).start()
        try:
            server, out = asyncio.run(_run(server.url, etcd, server, a.watchers, a.objects,
                                           a.timeout))
        finally:
            server.stop()
    finally:
        etcd.stop()
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
