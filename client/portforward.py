"""Forward local TCP ports to a pod through pods/{name}/portforward, as client-go's
tools/portforward does (portforward.go), over kubectl 1.30+'s WebSocket tunnel.

One WebSocket (subprotocol ``SPDY/3.1+portforward.k8s.io``) carries one SPDY connection;
each accepted local connection gets a request id and a stream pair: ``error`` (closed at
once by this side, read to the end) and ``data`` (relayed both ways). A message on the
error stream, or the tunnel closing, ends the whole forward with ``LostConnection`` --
what kubectl reports as "error: lost connection to pod".
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from api import portforward as pf
from api import spdy
from client.errors import ApiError, error_from_response, unavailable
from client.spdystream import Connection, StreamError

Log = Callable[[str], None]


class LostConnection(Exception):
    """The tunnel ended, or the kubelet reported an error on a connection's error stream."""


@dataclass
class ForwardedPort:
    local: int
    remote: int


def parse_ports(specs: list[str]) -> list[ForwardedPort]:
    """parsePorts: ``5000``, ``8888:5000``, ``:5000`` / ``0:5000`` (a random local port)."""
    out = []
    for spec in specs:
        parts = spec.split(":")
        if len(parts) == 1:
            local_s = remote_s = parts[0]
        elif len(parts) == 2:
            local_s, remote_s = parts[0] or "0", parts[1]
        else:
            raise ValueError(f"invalid port format '{spec}'")
        local = _port(local_s, "local")
        remote = _port(remote_s, "remote")
        if remote == 0:
            raise ValueError("remote port must be > 0")
        out.append(ForwardedPort(local, remote))
    return out


def _port(s: str, which: str) -> int:
    try:
        n = int(s, 10)
        if not 0 <= n <= 65535:
            raise ValueError
        return n
    except ValueError:
        raise ValueError(f"error parsing {which} port '{s}': strconv.ParseUint: parsing "
                         f'"{s}": invalid syntax') from None


async def _refusal(session: aiohttp.ClientSession, url: str, headers: dict[str, str],
                   code: int) -> ApiError:
    try:  # the same checks answer a plain request with the Status
        async with session.post(url, headers=headers) as r:
            return error_from_response(r.status, await r.read())
    except aiohttp.ClientError:
        return error_from_response(code, None)


class PortForwarder:
    def __init__(self, server: str, namespace: str, pod: str, ports: list[ForwardedPort],
                 addresses: list[str], out: Log, err: Log, token: str | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.url = f"{server.rstrip('/')}/api/v1/namespaces/{namespace}/pods/{pod}/portforward"
        self.ports = ports
        self.addresses = addresses
        self.out, self.err = out, err
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self.ready = asyncio.Event()
        self._ids = itertools.count()
        self._lost: asyncio.Future[str] | None = None
        self._conn: Connection | None = None

    async def run(self) -> None:
        """Listen and forward until cancelled; raises ApiError (refused), OSError (no
        listener) or LostConnection."""
        self._lost = asyncio.get_running_loop().create_future()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.ssl),
                                         timeout=aiohttp.ClientTimeout(
                                             total=None, sock_connect=10)) as s:
            try:
                ws = await s.ws_connect(self.url, headers=self.headers,
                                        protocols=(pf.TUNNELING_PROTOCOL,), max_msg_size=0,
                                        autoping=True)
            except aiohttp.WSServerHandshakeError as e:
                raise await _refusal(s, self.url, self.headers, e.status) from None
            except (aiohttp.ClientError, OSError) as e:
                raise unavailable(self.url, e) from e
            async with ws:
                conn = self._conn = Connection(ws.send_bytes, server=False)
                servers = await self._listen()
                self.ready.set()
                reader = asyncio.create_task(self._read(ws, conn))
                try:
                    message = await self._lost
                finally:
                    reader.cancel()
                    for srv in servers:
                        srv.close()
                    conn.connection_lost()
                raise LostConnection(message)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, conn: Connection) -> None:
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    await conn.feed(msg.data)
        except spdy.ProtocolError as e:
            self._lose(str(e))
        self._lose("lost connection to pod")

    def _lose(self, message: str) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(message)

    async def _listen(self) -> list[asyncio.Server]:
        servers = []
        for port in self.ports:
            for address in self.addresses:
                hosts = [("127.0.0.1", "127.0.0.1"), ("::1", "[::1]")] \
                    if address == "localhost" else [(address, address)]
                for host, shown in hosts:
                    try:
                        srv = await asyncio.start_server(self._handler(port), host,
                                                         port.local)
                    except OSError as e:
                        if address == "localhost" and host == "::1":
                            continue  # the "all" failure mode: one of the two is enough
                        raise OSError(f"Unable to listen on port {port.local}: {e}") from e
                    port.local = srv.sockets[0].getsockname()[1]
                    servers.append(srv)
                    self.out(f"Forwarding from {shown}:{port.local} -> {port.remote}")
        return servers

    def _handler(self, port: ForwardedPort
                 ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._handle(reader, writer, port)
        return handle

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      port: ForwardedPort) -> None:
        assert self._conn is not None
        conn = self._conn
        self.out(f"Handling connection for {port.local}")
        rid = str(next(self._ids))
        headers: spdy.Headers = {pf.STREAM_TYPE: [pf.STREAM_TYPE_ERROR],
                                 pf.PORT: [str(port.remote)], pf.REQUEST_ID: [rid]}
        try:
            error = await conn.create_stream(headers)
            await error.close()
            data = await conn.create_stream({**headers, pf.STREAM_TYPE: [pf.STREAM_TYPE_DATA]})
        except (StreamError, ConnectionError) as e:
            self.err(f"error creating stream for port {port.local} -> {port.remote}: {e}")
            writer.close()
            return
        error_text = asyncio.create_task(error.read_all())

        async def up() -> None:
            while chunk := await reader.read(65536):
                await data.write(chunk)
            await data.close()

        async def down() -> None:
            while chunk := await data.read():
                writer.write(chunk)
                await writer.drain()

        uploader = asyncio.create_task(up())
        try:
            with contextlib.suppress(OSError, ConnectionError):
                await down()
        finally:
            uploader.cancel()
            await data.reset()
            writer.close()
        message = (await error_text).decode(errors="replace")
        if message:
            self.err(f"an error occurred forwarding {port.local} -> {port.remote}: {message}")
            self._lose("lost connection to pod")
