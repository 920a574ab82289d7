"""Graceful termination of one of two API servers over one etcd: on SIGTERM /readyz
fails at once while requests are still served for --shutdown-delay-duration; then new
connections are refused, a request in flight completes, open watches end cleanly with a
last BOOKMARK, and the process exits 0. An informer behind a TCP balancer moves to the
other server without a re-list."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from api.models import ConfigMap
from client.backoff import Backoff
from client.informer import Informer
from client.rest import AsyncClient, RetryPolicy
from testing.apiclient import Api, Watch
from testing.support import ApiServer, Etcd, async_wait_for, unique, wait_for

DELAY = 1.5


@pytest.fixture(scope="module")
def etcd() -> Iterator[Etcd]:
    e = Etcd().start()
    try:
        yield e
    finally:
        e.stop()


@pytest.fixture(scope="module")
def other(etcd: Etcd) -> Iterator[ApiServer]:
    s = ApiServer(etcd.url).start()
    try:
        yield s
    finally:
        s.stop()


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_sigterm_drains_then_stops(etcd: Etcd, other: ApiServer) -> None:
    a = ApiServer(etcd.url, ["--shutdown-delay-duration", f"{DELAY}s",
                             "--shutdown-timeout", "20"]).start()
    api_a, api_b = Api(a.url), Api(other.url)
    try:
        ns = api_a.namespace()
        path = f"/api/v1/namespaces/{ns}/configmaps"
        w = Watch(a.url, path, allowWatchBookmarks="true")
        # A request in flight across the SIGTERM, the delay and the listener's close:
        # a create whose body is only half sent yet.
        body = json.dumps({"metadata": {"name": "slow"}}).encode()
        slow = socket.create_connection(("127.0.0.1", a.port), timeout=30)
        slow.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
        assert a.proc is not None
        sigterm = time.monotonic()
        a.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: status(a.url + "/readyz") != 200, timeout=2,
                 message="/readyz failing at once")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(a.url + "/readyz?verbose", timeout=5)
        assert "[-]shutdown failed" in e.value.read().decode()
        # still served during the delay, on new connections too
        assert status(f"{a.url}{path}") == 200
        assert status(a.url + "/livez") == 200
        assert not w.closed(timeout=0.2)
        # after the delay: no new connection, the watch ended cleanly with a BOOKMARK
        wait_for(lambda: refused(a.port), timeout=DELAY + 3, message="listener closed")
        assert time.monotonic() - sigterm >= DELAY - 0.1
        events = []
        while True:
            ev = w.events.get(timeout=5)
            if ev is None:
                break
            events.append(ev)
        assert events and events[-1]["type"] == "BOOKMARK", events
        # the request in flight completes once its body is all there
        slow.sendall(body[10:])
        answer = slow.recv(65536).decode(errors="replace")
        slow.close()
        assert answer.startswith("HTTP/1.1 201"), answer[:300]
        assert api_b.ok("GET", f"{path}/slow")["metadata"]["name"] == "slow"
        assert a.proc.wait(20) == 0
    finally:
        api_a.close()
        api_b.close()
        a.stop()


class Balancer:
    """A TCP balancer for the test: each new connection goes to the first backend
    that accepts it (a stopped server refuses, so the next one gets it)."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.server: asyncio.Server | None = None
        self.port = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        for port in self.backends:
            try:
                br, bw = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue
        else:
            w.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    dst.close()

        await asyncio.gather(pipe(r, bw), pipe(br, w))

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def test_informer_moves_to_the_other_server_without_relist(
        etcd: Etcd, other: ApiServer) -> None:
    a = ApiServer(etcd.url, ["--shutdown-delay-duration", "0.5s"])
    await asyncio.to_thread(a.start)
    lb = Balancer([a.port, other.port])
    await lb.start()
    try:
        async with AsyncClient(f"http://127.0.0.1:{lb.port}",
                               retry=RetryPolicy(retries=3, base=0.05, cap=0.2)) as c:
            ns = unique("ha")
            await c.request("POST", "/api/v1/namespaces", json={"metadata": {"name": ns}})
            inf = Informer(c, ConfigMap, ns, backoff=Backoff(0.1, 0.5))
            await inf.start()
            assert await inf.wait_for_sync(10)
            path = f"/api/v1/namespaces/{ns}/configmaps"
            await c.request("POST", path, json={"metadata": {"name": "before"}})
            await async_wait_for(lambda: f"{ns}/before" in inf.store.keys(), timeout=10)
            assert a.proc is not None
            a.proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(a.proc.wait, 20) == 0
            # a write through the remaining server reaches the informer, which resumed
            # its watch there from its last resourceVersion: no second list, no 410
            async with AsyncClient(other.url) as cb:
                await cb.request("POST", path, json={"metadata": {"name": "after"}})
            await async_wait_for(lambda: f"{ns}/after" in inf.store.keys(), timeout=15,
                                 message="the write on the other server")
            assert inf.lists == 1 and inf.gone == 0 and inf.errors == 0, \
                (inf.lists, inf.gone, inf.errors)
            assert inf.watches >= 2
            await inf.stop()
    finally:
        await lb.close()
        await asyncio.to_thread(a.stop)
