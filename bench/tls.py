"""TLS serving cost; prints one JSON document.

Against one API server (testing/secure.py: HTTPS with client certificates and static
tokens, authorization AlwaysAllow, and the plain-HTTP port beside it):
(a) a new connection per request: connect (+ TLS handshake with a client certificate, or
    with a bearer token and no certificate) and one GET /version, sequentially: ms per
    connection, and the server's CPU per connection;
(b) keep-alive GETs of one namespace on 8 connections, plain vs TLS (certificate, token):
    requests/s, p50/p99, server CPU per request;
(c) ConfigMap creates at concurrency 16, plain vs TLS with a certificate and with a token:
    creates/s and the ratio to plain.

Usage: python bench/tls.py [--connections 300] [--gets 4000] [--creates 3000]
``handshake_ms``, ``keepalive``, ``creates`` and ``post_concurrently`` are importable for
other benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.httpload import Connection, _Conn  # noqa: E402
from bench.stats import pct  # noqa: E402
from testing.secure import Credentials, SecureApiServer, ssl_client_context  # noqa: E402
from testing.support import Etcd, unique  # noqa: E402


class Conn(Connection):
    """bench.httpload's keep-alive connection, over TLS when ``ssl`` is given, with extra
    request headers (a bearer token)."""

    def __init__(self, host: str, port: int, ssl_ctx: ssl.SSLContext | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(host, port)
        self.ssl = ssl_ctx
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())

    async def open(self) -> Conn:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(
            _Conn, self.host, self.port, ssl=self.ssl,
            server_hostname=self.host if self.ssl else None)
        self._proto = proto
        return self

    async def post(self, path: str, body: bytes,
                   content_type: str = "application/json") -> tuple[int, bytes]:
        assert self._proto is not None
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.extra}"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n")
        return await self._proto.request(head.encode() + body)

    async def get(self, path: str) -> tuple[int, bytes]:
        assert self._proto is not None
        head = f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.extra}\r\n"
        return await self._proto.request(head.encode())


def endpoints(s: SecureApiServer) -> dict[str, Any]:
    """name -> (port, ssl context or None, headers) of the ways in."""
    token = s.tokens["admin-token"].token
    return {
        "plain": (s.port, None, {}),
        "tls-cert": (s.secure_port, ssl_client_context(s.ca_file, s.admin), {}),
        "tls-token": (s.secure_port, ssl_client_context(s.ca_file),
                      {"Authorization": f"Bearer {token}"}),
    }


def cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return float(t.user + t.system)


async def handshake_ms(port: int, ctx: ssl.SSLContext | None, headers: dict[str, str],
                       n: int, server: psutil.Process) -> dict[str, Any]:
    """(a): n sequential new connections, each with one GET /version."""
    lat = []
    c0 = cpu(server)
    for _ in range(n):
        t0 = time.perf_counter()
        c = await Conn("127.0.0.1", port, ctx, headers).open()
        status, _ = await c.get("/version")
        lat.append(time.perf_counter() - t0)
        c.close()
        assert status == 200, status
    used = cpu(server) - c0
    return {"p50_ms": round(pct(lat, 50) * 1000, 2), "p99_ms": round(pct(lat, 99) * 1000, 2),
            "server_cpu_ms_per_conn": round(used / n * 1000, 3)}


async def keepalive(port: int, ctx: ssl.SSLContext | None, headers: dict[str, str],
                    n: int, server: psutil.Process, conns: int = 8) -> dict[str, Any]:
    """(b): n GETs of a namespace over ``conns`` keep-alive connections."""
    cs = [await Conn("127.0.0.1", port, ctx, headers).open() for _ in range(conns)]
    for c in cs:  # warm
        await c.get("/api/v1/namespaces/default")
    lat: list[float] = []
    it = iter(range(n))

    async def worker(c: Conn) -> None:
        for _ in it:
            t0 = time.perf_counter()
            status, _ = await c.get("/api/v1/namespaces/default")
            lat.append(time.perf_counter() - t0)
            assert status == 200, status

    c0 = cpu(server)
    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in cs))
    wall = time.perf_counter() - start
    used = cpu(server) - c0
    for c in cs:
        c.close()
    return {"per_s": round(n / wall), "p50_ms": round(pct(lat, 50) * 1000, 2),
            "p99_ms": round(pct(lat, 99) * 1000, 2),
            "server_cpu_us_per_req": round(used / n * 1e6)}


async def post_concurrently(port: int, ctx: ssl.SSLContext | None, headers: dict[str, str],
                            path: str, body_of: Callable[[int], dict[str, Any]], n: int,
                            conns: int = 16, server: psutil.Process | None = None
                            ) -> dict[str, Any]:
    """n creates (POST ``path``, the i-th with ``body_of(i)``, each answered 201) over
    ``conns`` keep-alive connections at once: rate, latency and, given the server's
    process, its CPU per create."""
    cs = [await Conn("127.0.0.1", port, ctx, headers).open() for _ in range(conns)]
    it = iter(range(n))
    lat: list[float] = []

    async def worker(c: Conn) -> None:
        for i in it:
            body = json.dumps(body_of(i)).encode()
            t0 = time.perf_counter()
            status, out = await c.post(path, body)
            lat.append(time.perf_counter() - t0)
            assert status == 201, (status, out[:300])

    c0 = cpu(server) if server else 0.0
    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in cs))
    wall = time.perf_counter() - start
    used = cpu(server) - c0 if server else 0.0
    for c in cs:
        c.close()
    out = {"per_s": round(n / wall), "p50_ms": round(pct(lat, 50) * 1000, 2),
           "p99_ms": round(pct(lat, 99) * 1000, 2)}
    if server:
        out["server_cpu_us_per_create"] = round(used / n * 1e6)
    return out


async def creates(port: int, ctx: ssl.SSLContext | None, headers: dict[str, str],
                  n: int, ns: str, conns: int = 16,
                  server: psutil.Process | None = None) -> dict[str, Any]:
    """(c): n ConfigMap creates at concurrency ``conns``."""
    prefix = unique("cm")
    return await post_concurrently(
        port, ctx, headers, f"/api/v1/namespaces/{ns}/configmaps",
        lambda i: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{prefix}-{i}"},
                   "data": {"k": "v" * 64}}, n, conns, server)


async def run(args: argparse.Namespace, s: SecureApiServer) -> dict[str, Any]:
    assert s.proc is not None
    server = psutil.Process(s.proc.pid)
    ways = endpoints(s)
    out: dict[str, Any] = {"connections": {}, "keepalive": {}, "creates": {}}
    for name, (port, ctx, headers) in ways.items():
        out["connections"][name] = await handshake_ms(port, ctx, headers, args.connections,
                                                      server)
    for name, (port, ctx, headers) in ways.items():
        out["keepalive"][name] = await keepalive(port, ctx, headers, args.gets, server)
    for _ in range(args.rounds):  # alternated, so drift shows in both
        for name, (port, ctx, headers) in ways.items():
            r = await creates(port, ctx, headers, args.creates, "default", server=server)
            out["creates"].setdefault(name, []).append(r)
    best = {k: max(r["per_s"] for r in v) for k, v in out["creates"].items()}
    out["creates_best_per_s"] = best
    out["creates_ratio_to_plain"] = {k: round(v / best["plain"], 3) for k, v in best.items()}
    # The server's own cost, steadier than throughput on a shared machine (the load
    # generator's TLS runs on the same cores): the least CPU per create of the rounds.
    out["server_cpu_us_per_create"] = {
        k: min(r["server_cpu_us_per_create"] for r in v) for k, v in out["creates"].items()}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--connections", type=int, default=300)
    p.add_argument("--gets", type=int, default=4000)
    p.add_argument("--creates", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    e = Etcd().start()
    s = SecureApiServer(e.url)
    try:
        s.start()
        creds: Credentials = s.admin
        assert creds.cert is not None
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        result = asyncio.run(run(args, s))
        print(json.dumps(result, indent=2))
    finally:
        s.stop()
        e.stop()


if __name__ == "__main__":
    main()
