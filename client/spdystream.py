"""SPDY/3.1 streams over any byte transport, on asyncio (moby/spdystream's Connection and
Stream, as Kubernetes' httpstream/spdy drives them for port-forward).

The owner feeds the bytes it reads (``Connection.feed``) and gives a ``send`` coroutine
for the bytes to write; here the transport is a WebSocket carrying SPDY in binary
messages (client-go's TunnelingConnection). A client opens streams (odd ids) and waits
for their SYN_REPLY; a server (even ids) gets each peer stream through ``on_stream``,
which accepts it (``reply``) or refuses it (``reset``), as httpstream's
``newStreamHandler`` does. PINGs from the peer are echoed. ``Stream.read`` returns b""
once the peer has half-closed (FIN) or reset the stream, or the connection is gone;
``Stream.write`` after a reset drops the data, as a write to a reset Go stream fails.
Inbound data is queued per stream without a bound: like spdystream, no SPDY flow
control is done (kubectl sends no WINDOW_UPDATE either).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from api import spdy

Send = Callable[[bytes], Awaitable[None]]


class StreamError(Exception):
    """A stream was reset by the peer or its connection closed before it was replied."""


class Stream:
    def __init__(self, conn: Connection, stream_id: int, headers: spdy.Headers) -> None:
        self.conn = conn
        self.id = stream_id
        self.headers = headers
        self.replied = asyncio.Event()
        self.was_reset = False
        self.local_closed = False
        self.remote_closed = False
        self._data: asyncio.Queue[bytes | None] = asyncio.Queue()

    def header(self, name: str) -> str:
        return spdy.header(self.headers, name)

    async def read(self) -> bytes:
        """The next chunk from the peer; b"" at the end of the stream."""
        if self.remote_closed and self._data.empty():
            return b""
        chunk = await self._data.get()
        if chunk is None:
            self._data.put_nowait(None)  # later reads see the end too
            return b""
        return chunk

    async def read_all(self) -> bytes:
        out = bytearray()
        while chunk := await self.read():
            out += chunk
        return bytes(out)

    async def write(self, data: bytes) -> None:
        if self.was_reset or self.local_closed or self.conn.closed.is_set():
            return
        for i in range(0, len(data), 1 << 16):
            await self.conn.send_frame(spdy.Data(self.id, data[i:i + (1 << 16)]))

    async def close(self) -> None:
        """Half-close: tell the peer this side sends nothing more (DATA with FIN)."""
        if self.local_closed or self.was_reset:
            return
        self.local_closed = True
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.conn.send_frame(spdy.Data(self.id, b"", spdy.FLAG_FIN))
        self.conn._maybe_forget(self)

    async def reset(self, status: int = spdy.CANCEL) -> None:
        """Abort the stream both ways (RST_STREAM)."""
        if self.was_reset:
            return
        self._end(reset=True)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.conn.send_frame(spdy.RstStream(self.id, status))
        self.conn.streams.pop(self.id, None)

    def _remote_fin(self) -> None:
        if not self.remote_closed:
            self.remote_closed = True
            self._data.put_nowait(None)
        self.conn._maybe_forget(self)

    def _end(self, reset: bool) -> None:
        self.was_reset = self.was_reset or reset
        if not self.remote_closed:
            self.remote_closed = True
            self._data.put_nowait(None)
        self.replied.set()


class Connection:
    """One SPDY connection. ``server`` picks the stream and ping id parity."""

    def __init__(self, send: Send, server: bool,
                 on_stream: Callable[[Stream], Coroutine[Any, Any, None]] | None = None) -> None:
        self._send = send
        self._framer = spdy.Framer()
        self._lock = asyncio.Lock()
        self._next_id = 2 if server else 1
        self._ping_parity = 0 if server else 1
        self._on_stream = on_stream
        self._tasks: set[asyncio.Task[None]] = set()
        self.streams: dict[int, Stream] = {}
        self.closed = asyncio.Event()
        self.went_away = False

    async def send_frame(self, frame: spdy.Frame) -> None:
        if self.closed.is_set():
            raise ConnectionError("the SPDY connection is closed")
        # Header blocks share one zlib stream: encode and send in one order.
        async with self._lock:
            await self._send(self._framer.encode(frame))

    async def feed(self, data: bytes) -> None:
        """Handle the bytes read from the transport. Raises spdy.ProtocolError."""
        for frame in self._framer.feed(data):
            await self._handle(frame)

    async def _handle(self, frame: spdy.Frame) -> None:
        if isinstance(frame, spdy.Data):
            s = self.streams.get(frame.stream_id)
            if s is None:
                return
            if frame.data:
                s._data.put_nowait(frame.data)
            if frame.fin:
                s._remote_fin()
        elif isinstance(frame, spdy.SynStream):
            s = Stream(self, frame.stream_id, frame.headers)
            self.streams[s.id] = s
            if frame.flags & spdy.FLAG_FIN:
                s._remote_fin()
            if self._on_stream is None:
                await s.reset(spdy.REFUSED_STREAM)
            else:
                task = asyncio.create_task(self._on_stream(s))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        elif isinstance(frame, spdy.SynReply):
            s = self.streams.get(frame.stream_id)
            if s is not None:
                s.replied.set()
                if frame.flags & spdy.FLAG_FIN:
                    s._remote_fin()
        elif isinstance(frame, spdy.RstStream):
            s = self.streams.pop(frame.stream_id, None)
            if s is not None:
                s._end(reset=True)
        elif isinstance(frame, spdy.Ping):
            if frame.id & 1 != self._ping_parity:  # the peer's ping: echo it
                await self.send_frame(frame)
        elif isinstance(frame, spdy.GoAway):
            self.went_away = True
        elif isinstance(frame, spdy.HeadersFrame):
            s = self.streams.get(frame.stream_id)
            if s is not None and frame.flags & spdy.FLAG_FIN:
                s._remote_fin()
        # SETTINGS and WINDOW_UPDATE: no flow control, as in spdystream.

    async def create_stream(self, headers: spdy.Headers, timeout: float = 30) -> Stream:
        """Open a stream and wait for the peer's SYN_REPLY (StreamError on a reset)."""
        s = Stream(self, self._next_id, headers)
        self._next_id += 2
        self.streams[s.id] = s
        await self.send_frame(spdy.SynStream(s.id, headers))
        try:
            await asyncio.wait_for(s.replied.wait(), timeout)
        except TimeoutError:
            await s.reset()
            raise StreamError(f"timed out waiting for the reply to stream {s.id}") from None
        if s.was_reset:
            raise StreamError(f"stream {s.id} was reset")
        return s

    async def reply(self, s: Stream) -> None:
        """Accept a stream the peer opened (SYN_REPLY with no headers, as httpstream)."""
        s.replied.set()
        await self.send_frame(spdy.SynReply(s.id, {}))

    def _maybe_forget(self, s: Stream) -> None:
        if s.local_closed and s.remote_closed:
            self.streams.pop(s.id, None)

    async def go_away(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.send_frame(spdy.GoAway(0, 0))

    def connection_lost(self) -> None:
        """The transport is gone: every stream ends, and stream handlers are cancelled."""
        self.closed.set()
        for s in list(self.streams.values()):
            s._end(reset=False)
        self.streams.clear()
        for t in list(self._tasks):
            t.cancel()

    async def wait_handlers(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
