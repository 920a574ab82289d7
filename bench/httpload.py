"""A lean HTTP/1.1 load generator: keep-alive connections driven by asyncio Protocols.

The API server benchmark compares the server with raw etcd puts made through gRPC's
C core. On a 2-core machine the load generator shares the CPU with what it measures,
and a general-purpose client (aiohttp: ~120 us per request here) would cost the API
side more than the server's own work leaves over. This client only writes prepared
request bytes and reads ``Content-Length`` framed answers (~20-30 us per request), so
the comparison measures the server rather than the client. It does not handle chunked
bodies or redirects: it is for the benchmarks' creates and simple GETs.
"""

from __future__ import annotations

import asyncio


class _Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.need = -1  # bytes of the current answer, once its head is read
        self.status = 0
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        w = self.waiter
        if w is not None and not w.done():
            w.set_exception(ConnectionError(f"connection lost: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.need < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            self.status = int(head[9:12])
            i = head.find(b"content-length:")
            if i < 0:
                raise ConnectionError("answer without Content-Length")
            j = head.find(b"\r\n", i)
            self.need = end + 4 + int(head[i + 15:j if j > 0 else None])
        if len(self.buf) >= self.need:
            body = bytes(self.buf[self.buf.find(b"\r\n\r\n") + 4:self.need])
            del self.buf[:self.need]
            self.need = -1
            w, self.waiter = self.waiter, None
            if w is not None and not w.done():
                w.set_result((self.status, body))

    def request(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        if self.lost:  # closed by the server between answers (nginx's keepalive_requests)
            raise ConnectionError("connection lost")
        fut: asyncio.Future[tuple[int, bytes]] = \
            asyncio.get_running_loop().create_future()
        self.waiter = fut
        self.transport.write(data)
        return fut


class Connection:
    """One keep-alive connection; one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._proto: _Conn | None = None

    async def open(self) -> Connection:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(_Conn, self.host, self.port)
        self._proto = proto
        return self

    def close(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()

    async def post(self, path: str, body: bytes,
                   content_type: str = "application/json") -> tuple[int, bytes]:
        assert self._proto is not None
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n")
        return await self._proto.request(head.encode() + body)

    async def get(self, path: str) -> tuple[int, bytes]:
        assert self._proto is not None
        head = f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n"
        return await self._proto.request(head.encode())
