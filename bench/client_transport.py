"""Request rate of the async HTTP options for the client, side by side (JSON on stdout).

A small aiohttp server in a child process answers POSTs with a pod-sized JSON body;
each option sends the same N POSTs with C in flight. ``--server URL`` instead targets a
running minik8s API server with GET /api (discovery: cheap, writes nothing).

    python bench/client_transport.py [--requests 3000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "bench", "namespace": "default", "resourceVersion": "1",
                 "labels": {"app": "bench"}},
    "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]},
}


def _serve(port: int) -> None:
    from aiohttp import web

    body = json.dumps(POD).encode()

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, status=201, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _drive(n: int, conc: int, one: Callable[[], Awaitable[Any]]) -> float:
    for _ in range(20):  # warm up connections
        await one()
    sem = asyncio.Semaphore(conc)

    async def run() -> None:
        async with sem:
            await one()

    t0 = time.perf_counter()
    await asyncio.gather(*(run() for _ in range(n)))
    return n / (time.perf_counter() - t0)


async def bench(url: str, path: str, method: str, n: int, conc: int) -> dict[str, float]:
    import aiohttp
    import httpx
    from httpx_aiohttp import AiohttpTransport

    payload = json.dumps(POD).encode()
    body = payload if method == "POST" else None
    headers = {"Content-Type": "application/json"} if body else {}
    limits = httpx.Limits(max_connections=conc * 2, max_keepalive_connections=conc * 2)
    out: dict[str, float] = {}

    async with httpx.AsyncClient(base_url=url, limits=limits, trust_env=False) as c:
        out["httpx_default_transport"] = await _drive(
            n, conc, lambda: c.request(method, path, content=body, headers=headers))
    async with httpx.AsyncClient(base_url=url, trust_env=False,
                                 transport=AiohttpTransport(limits=limits)) as c:
        out["httpx_over_aiohttp_transport"] = await _drive(
            n, conc, lambda: c.request(method, path, content=body, headers=headers))

    async with aiohttp.ClientSession(url) as s:
        async def raw() -> bytes:
            async with s.request(method, path, data=body, headers=headers) as r:
                return await r.read()
        out["raw_aiohttp"] = await _drive(n, conc, raw)

    # the full client stack (request building, decode into a typed Pod) on the default
    from api.models import Pod
    from client.rest import AsyncClient, Req, decode_object

    async with AsyncClient(url) as ac:
        async def typed() -> Pod:
            data = await ac._execute(Req(method, path, body=body,
                                         content_type="application/json" if body else None,
                                         idempotent=method != "POST"))
            return decode_object(Pod, data) if method == "POST" else data
        out["minik8s_AsyncClient_default"] = await _drive(n, conc, typed)
    return {k: round(v, 1) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--server", help="a running minik8s API server instead of the stub")
    args = ap.parse_args()
    proc = None
    if args.server:
        url, path, method = args.server, "/api", "GET"
    else:
        port = _free_port()
        proc = multiprocessing.Process(target=_serve, args=(port,), daemon=True)
        proc.start()
        url, path, method = f"http://127.0.0.1:{port}", "/api/v1/namespaces/default/pods", "POST"
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    try:
        res = asyncio.run(bench(url, path, method, args.requests, args.concurrency))
    finally:
        if proc is not None:
            proc.terminate()
            proc.join(5)
    base = res["httpx_default_transport"]
    print(json.dumps({
        "target": "stub aiohttp server (child process)" if proc else args.server,
        "method": method, "requests": args.requests, "concurrency": args.concurrency,
        "req_per_s": res,
        "speedup_vs_httpx_default": {k: round(v / base, 2) for k, v in res.items()},
        "chosen_async_transport": "httpx_aiohttp.AiohttpTransport",
    }, indent=2))


if __name__ == "__main__":
    main()
