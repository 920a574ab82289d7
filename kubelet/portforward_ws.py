"""Port-forward over the WebSocket channel protocol (``v4.channel.k8s.io``), as the
official clients speak it (the Python client's ``kubernetes.stream.portforward``).

A port of the kubelet's cri/streaming/portforward/websocket.go: the ports come from the
``port`` query parameter (comma-separated, repeatable: the API server's PortForwardLocation
writes them there); each port gets two channels, data ``2*i`` and error ``2*i+1``, and the
first message on each carries the port number as two little-endian bytes. Each port is
one TCP connection to the pod, opened at once; a failure is written to the port's error
channel ("error forwarding port P to pod SANDBOX, uid : ..."). The WebSocket closes when
every port's connection has ended (the handler's WaitGroup), which the client sees as the
end of its sockets; the client closing the WebSocket ends every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0


class _Port:
    def __init__(self, index: int, port: int) -> None:
        self.index, self.port = index, port
        self.writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()


async def serve_channels(ws: web.WebSocketResponse, sandbox: str, ip: str,
                         ports: list[int],
                         dial_error: Callable[[str, int, BaseException], str]) -> None:
    """Forward ``ports`` of the pod at ``ip`` over the prepared WebSocket ``ws``."""
    send_lock = asyncio.Lock()

    async def send(channel: int, data: bytes) -> None:
        async with send_lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_bytes(bytes([channel]) + data)

    slots = [_Port(i, p) for i, p in enumerate(ports)]
    for s in slots:
        head = s.port.to_bytes(2, "little")
        await send(2 * s.index, head)
        await send(2 * s.index + 1, head)

    async def forward(s: _Port) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(ip, s.port), CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            msg = (f"error forwarding port {s.port} to pod {sandbox}, uid : "
                   f"{dial_error(ip, s.port, e)}")
            log.info("%s", msg)
            await send(2 * s.index + 1, msg.encode())
            return
        s.writer = writer
        s.connected.set()
        try:
            while chunk := await reader.read(65536):
                await send(2 * s.index, chunk)
        except OSError:
            pass
        finally:
            s.writer = None
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()

    async def from_client() -> None:
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                data: bytes = msg.data
            elif msg.type == WSMsgType.TEXT:
                data = msg.data.encode()
            else:
                continue
            if len(data) < 2 or data[0] % 2 or data[0] // 2 >= len(slots):
                continue  # empty, on an error channel, or for no port: dropped
            s = slots[data[0] // 2]
            if s.writer is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(s.connected.wait(), CONNECT_TIMEOUT)
            w = s.writer
            if w is not None:
                with contextlib.suppress(OSError, ConnectionError):
                    w.write(data[1:])
                    await w.drain()

    async def forward_all() -> None:
        await asyncio.gather(*(forward(s) for s in slots))

    forwards = asyncio.create_task(forward_all())
    reading = asyncio.create_task(from_client())
    try:
        await asyncio.wait({forwards, reading}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        reading.cancel()
        forwards.cancel()
        await asyncio.gather(reading, forwards, return_exceptions=True)
        for s in slots:
            if s.writer is not None:
                s.writer.close()
