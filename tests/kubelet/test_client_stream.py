"""The official Python client's own streaming API against the API server and a kubelet:
``kubernetes.stream.stream`` for exec (preloaded output, and ``_preload_content=False``
with ``write_stdin`` / ``update`` / ``close_channel``, the v5 close of stdin) and
``kubernetes.stream.portforward`` (the WebSocket channel protocol ``v4.channel.k8s.io``).

The client is synchronous (websocket-client), so each call runs in a thread while the
in-process kubelet (fake runtime; for port-forward its pods' IP is 127.0.0.1 and the "pod"
is an HTTP server of the test's own on loopback) serves it on the test's loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from kubernetes import client as kc
from kubernetes.stream import portforward, stream

from testing.support import free_port
from tests.kubelet.test_exec import FakeNode, node, running_pod
from tests.kubelet.test_portforward import LoopbackNode, web_port
from tests.kubelet.test_portforward import node as loopback_node

__all__ = ["loopback_node", "node", "web_port"]  # fixtures, used by name


def core(server: str) -> kc.CoreV1Api:
    cfg = kc.Configuration()
    cfg.host = server
    return kc.CoreV1Api(kc.ApiClient(cfg))


async def test_stream_exec_returns_the_commands_output(server_url: str,
                                                       node: FakeNode) -> None:
    pod = await running_pod(node)
    api = core(server_url)
    out = await asyncio.to_thread(
        stream, api.connect_get_namespaced_pod_exec, pod, "default",
        command=["sh", "-c", "echo hello; echo oops >&2"], stderr=True, stdin=False,
        stdout=True, tty=False)
    assert out == "hello\noops\n"  # stdout and stderr in the order received


async def test_stream_exec_interactive_stdin_and_its_close(server_url: str,
                                                           node: FakeNode) -> None:
    pod = await running_pod(node)
    api = core(server_url)

    def run() -> tuple[str, int | None, bool]:
        r = stream(api.connect_get_namespaced_pod_exec, pod, "default", command=["cat"],
                   stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False)
        assert r.subprotocol == "v5.channel.k8s.io"
        r.write_stdin("abc\n")  # a str: sent as a text frame
        r.write_stdin(b"def\n")  # bytes: a binary frame
        r.close_channel(0)  # v5: stdin closed, so cat ends
        r.run_forever(timeout=10)
        out = r.read_stdout(timeout=1)
        code, still_open = r.returncode, r.is_open()
        r.close()
        return out, code, still_open

    out, code, still_open = await asyncio.to_thread(run)
    assert out == "abc\ndef\n" and code == 0 and not still_open


async def test_stream_exec_exit_code(server_url: str, node: FakeNode) -> None:
    pod = await running_pod(node)
    api = core(server_url)

    def run() -> int | None:
        r = stream(api.connect_get_namespaced_pod_exec, pod, "default",
                   command=["sh", "-c", "exit 3"], stderr=True, stdin=False, stdout=True,
                   tty=False, _preload_content=False)
        r.run_forever(timeout=10)
        code: int | None = r.returncode
        r.close()
        return code

    assert await asyncio.to_thread(run) == 3


def http_get(sock: Any, path: str, timeout: float = 10) -> bytes:
    sock.setblocking(True)
    sock.settimeout(timeout)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


async def test_portforward_through_the_client(server_url: str, loopback_node: LoopbackNode,
                                              web_port: int) -> None:
    pod = await loopback_node.running_pod()
    api = core(server_url)
    closed = free_port()  # nothing listens there

    def run() -> tuple[bytes, bytes, str | None]:
        pf = portforward(api.connect_get_namespaced_pod_portforward, pod, "default",
                         ports=f"{web_port},{closed}")
        got = http_get(pf.socket(web_port), "/abc")
        # the closed port's error channel carries the kubelet's message; its socket ends
        s = pf.socket(closed)
        s.settimeout(10)
        end = s.recv(10)
        deadline = time.monotonic() + 10
        while pf.error(closed) is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the proxy thread records the error as it closes the socket
        pf.close()
        return got, end, pf.error(closed)

    got, end, err = await asyncio.to_thread(run)
    assert got.startswith(b"HTTP/1.1 200 OK") and got.endswith(b"hello abc")
    assert end == b""
    assert err is not None and err.startswith(f"error forwarding port {closed} to pod ")
    assert f"dial tcp 127.0.0.1:{closed}: connect: connection refused" in err


async def test_portforward_bad_ports_are_400(server_url: str,
                                             loopback_node: LoopbackNode) -> None:
    pod = await loopback_node.running_pod()
    # (the client refuses bad numbers itself; the server checks what reaches it raw)
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
               "Sec-WebSocket-Protocol": "v4.channel.k8s.io"}
    url = f"{server_url}/api/v1/namespaces/default/pods/{pod}/portforward"
    async with aiohttp.ClientSession() as s:
        for q, msg in (("x", 'unable to parse "x" as a port'),
                       ("80,0", 'port "80,0" must be > 0')):
            async with s.get(url, params={"ports": q}, headers=upgrade) as r:
                body = await r.json(content_type=None)
            assert r.status == 400, body
            assert body["kind"] == "Status" and body["reason"] == "BadRequest"
            assert body["message"].startswith(msg), body


async def test_portforward_relays_raw_bytes_both_ways(
        server_url: str, loopback_node: LoopbackNode) -> None:
    """A raw TCP echo "pod" sees the bytes the client writes, in both directions."""
    pod = await loopback_node.running_pod()
    port = free_port()
    received: list[bytes] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(65536)
        received.append(data)
        writer.write(data.upper())
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(echo, "127.0.0.1", port)
    api = core(server_url)

    def run() -> bytes:
        pf = portforward(api.connect_get_namespaced_pod_portforward, pod, "default",
                         ports=str(port))
        s = pf.socket(port)
        s.setblocking(True)
        s.settimeout(10)
        s.sendall(b"ping " * 1000)
        out = b""
        while len(out) < 5000:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        pf.close()
        return out

    try:
        out = await asyncio.to_thread(run)
    finally:
        srv.close()
        await srv.wait_closed()
    assert out == b"PING " * 1000
    assert b"".join(received) == b"ping " * 1000
