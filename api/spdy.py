"""SPDY/3.1 framing, the stream protocol under kubectl port-forward (pure, no I/O).

A port of moby/spdystream's ``spdy`` package (types.go, read.go, write.go), which
Kubernetes' httpstream/spdy uses: every frame starts with 8 bytes; a control frame has
the high bit set, the version (3) and its type, then flags and a 24-bit length; a data
frame has the 31-bit stream id, then flags and length. Header blocks (SYN_STREAM,
SYN_REPLY, HEADERS) are ``count, (len, name, len, value)*`` with 32-bit lengths,
multiple values joined by NUL, compressed with ONE zlib stream per direction for the
whole connection, primed with SPDY/3's dictionary and sync-flushed after each block
(so a ``Framer`` must see every frame of its connection, in order).

``Framer.feed(bytes)`` takes bytes as they arrive (a WebSocket message of kubectl's
tunnel need not hold a whole frame, nor only one) and returns the complete frames;
``Framer.encode(frame)`` gives the bytes of one frame. Like spdystream, no flow control
is done: WINDOW_UPDATE and SETTINGS are parsed and left to the caller to ignore.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS = 1, 2, 3, 4
PING, GOAWAY, HEADERS, WINDOW_UPDATE = 6, 7, 8, 9

FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02

# RST_STREAM status codes.
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, UNSUPPORTED_VERSION, CANCEL = 1, 2, 3, 4, 5
INTERNAL_ERROR, FLOW_CONTROL_ERROR, STREAM_IN_USE, STREAM_ALREADY_CLOSED = 6, 7, 8, 9

MAX_DATA_LENGTH = (1 << 24) - 1

# SPDY/3's header compression dictionary (draft 3, section 2.6.10.1), 1423 bytes, as
# spdystream's headerDictionary (no trailing NUL).
DICTIONARY = (
    b"\x00\x00\x00\x07options\x00\x00\x00\x04head\x00\x00\x00\x04post"
    b"\x00\x00\x00\x03put\x00\x00\x00\x06delete\x00\x00\x00\x05trace"
    b"\x00\x00\x00\x06accept\x00\x00\x00\x0eaccept-charset\x00\x00\x00"
    b"\x0faccept-encoding\x00\x00\x00\x0faccept-language\x00\x00\x00\raccept-ranges"
    b"\x00\x00\x00\x03age\x00\x00\x00\x05allow\x00\x00\x00\rauthorization"
    b"\x00\x00\x00\rcache-control\x00\x00\x00\nconnection\x00\x00\x00\x0ccontent-base"
    b"\x00\x00\x00\x10content-encoding\x00\x00\x00\x10content-language"
    b"\x00\x00\x00\x0econtent-length\x00\x00\x00\x10content-location"
    b"\x00\x00\x00\x0bcontent-md5\x00\x00\x00\rcontent-range\x00\x00\x00\x0ccontent-type"
    b"\x00\x00\x00\x04date\x00\x00\x00\x04etag\x00\x00\x00\x06expect"
    b"\x00\x00\x00\x07expires\x00\x00\x00\x04from\x00\x00\x00\x04host"
    b"\x00\x00\x00\x08if-match\x00\x00\x00\x11if-modified-since"
    b"\x00\x00\x00\rif-none-match\x00\x00\x00\x08if-range\x00\x00\x00"
    b"\x13if-unmodified-since\x00\x00\x00\rlast-modified\x00\x00\x00"
    b"\x08location\x00\x00\x00\x0cmax-forwards\x00\x00\x00\x06pragma\x00"
    b"\x00\x00\x12proxy-authenticate\x00\x00\x00\x13proxy-authorization"
    b"\x00\x00\x00\x05range\x00\x00\x00\x07referer\x00\x00\x00\x0bretry-after"
    b"\x00\x00\x00\x06server\x00\x00\x00\x02te\x00\x00\x00\x07trailer"
    b"\x00\x00\x00\x11transfer-encoding\x00\x00\x00\x07upgrade"
    b"\x00\x00\x00\nuser-agent\x00\x00\x00\x04vary\x00\x00\x00\x03via"
    b"\x00\x00\x00\x07warning\x00\x00\x00\x10www-authenticate\x00\x00"
    b"\x00\x06method\x00\x00\x00\x03get\x00\x00\x00\x06status"
    b"\x00\x00\x00\x06200 OK\x00\x00\x00\x07version\x00\x00\x00\x08HTTP/1.1"
    b"\x00\x00\x00\x03url\x00\x00\x00\x06public\x00\x00\x00\nset-cookie"
    b"\x00\x00\x00\nkeep-alive\x00\x00\x00\x06origin100101201202205"
    b"2063003023033043053063074024054064074084094104114124134144154164"
    b"17502504505203 Non-Authoritative Information204 No Content301 Mo"
    b"ved Permanently400 Bad Request401 Unauthorized403 Forbidden404 N"
    b"ot Found500 Internal Server Error501 Not Implemented503 Service "
    b"UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:0"
    b"0:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,ima"
    b"ge/png,image/jpg,image/gif,application/xml,application/xhtml+xml"
    b",text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sd"
    b"chcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)

Headers = dict[str, list[str]]


class ProtocolError(Exception):
    """The peer sent bytes that are not SPDY/3 (the connection cannot go on)."""


@dataclass
class SynStream:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0
    associated_to: int = 0
    priority: int = 0


@dataclass
class SynReply:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0


@dataclass
class HeadersFrame:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0


@dataclass
class RstStream:
    stream_id: int
    status: int = CANCEL


@dataclass
class Settings:
    values: list[tuple[int, int, int]] = field(default_factory=list)  # (flag, id, value)
    flags: int = 0


@dataclass
class Ping:
    id: int


@dataclass
class GoAway:
    last_good_stream_id: int = 0
    status: int = 0


@dataclass
class WindowUpdate:
    stream_id: int
    delta: int


@dataclass
class Data:
    stream_id: int
    data: bytes = b""
    flags: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


Frame = SynStream | SynReply | HeadersFrame | RstStream | Settings | Ping | GoAway | \
    WindowUpdate | Data


def encode_header_block(headers: Headers) -> bytes:
    """The uncompressed name/value block: names lower-cased, values joined by NUL."""
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        n = name.lower().encode()
        v = "\x00".join(values).encode()
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


def decode_header_block(block: bytes) -> Headers:
    """parseHeaderValueBlock: raises ProtocolError on a short block, a duplicate name."""
    try:
        (count,) = struct.unpack_from(">I", block, 0)
        pos = 4
        headers: Headers = {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", block, pos)
            if len(block) < pos + 4 + n:
                raise ProtocolError("header block too short")
            name = block[pos + 4:pos + 4 + n].decode().lower()
            pos += 4 + n
            (m,) = struct.unpack_from(">I", block, pos)
            if len(block) < pos + 4 + m:
                raise ProtocolError("header block too short")
            value = block[pos + 4:pos + 4 + m].decode()
            pos += 4 + m
            if name in headers:
                raise ProtocolError(f"multiple headers with same name: {name}")
            headers[name] = value.split("\x00")
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed header block: {exc}") from exc
    return headers


def header(headers: Headers, name: str) -> str:
    """The first value of ``name`` (Go's http.Header.Get), "" when absent."""
    values = headers.get(name.lower())
    return values[0] if values else ""


class Framer:
    """One side of a SPDY/3 connection's framing: its own compressor for the header
    blocks it sends and decompressor for those it receives."""

    def __init__(self) -> None:
        self._compress = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)
        self._decompress = zlib.decompressobj(zdict=DICTIONARY)
        self._buf = bytearray()

    # ---- writing -------------------------------------------------------------------

    def _block(self, headers: Headers) -> bytes:
        raw = encode_header_block(headers)
        return self._compress.compress(raw) + self._compress.flush(zlib.Z_SYNC_FLUSH)

    @staticmethod
    def _control(kind: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload

    def encode(self, frame: Frame) -> bytes:
        if isinstance(frame, Data):
            if not 0 < frame.stream_id < 1 << 31 or len(frame.data) > MAX_DATA_LENGTH:
                raise ValueError("invalid data frame")
            return struct.pack(">II", frame.stream_id,
                               (frame.flags << 24) | len(frame.data)) + frame.data
        if isinstance(frame, SynStream):
            payload = struct.pack(">IIBB", frame.stream_id, frame.associated_to,
                                  (frame.priority & 7) << 5, 0) + self._block(frame.headers)
            return self._control(SYN_STREAM, frame.flags, payload)
        if isinstance(frame, SynReply):
            return self._control(SYN_REPLY, frame.flags, struct.pack(">I", frame.stream_id)
                                 + self._block(frame.headers))
        if isinstance(frame, HeadersFrame):
            return self._control(HEADERS, frame.flags, struct.pack(">I", frame.stream_id)
                                 + self._block(frame.headers))
        if isinstance(frame, RstStream):
            return self._control(RST_STREAM, 0, struct.pack(">II", frame.stream_id, frame.status))
        if isinstance(frame, Settings):
            body = struct.pack(">I", len(frame.values)) + b"".join(
                struct.pack(">II", (f << 24) | i, v) for f, i, v in frame.values)
            return self._control(SETTINGS, frame.flags, body)
        if isinstance(frame, Ping):
            return self._control(PING, 0, struct.pack(">I", frame.id))
        if isinstance(frame, GoAway):
            return self._control(GOAWAY, 0, struct.pack(">II", frame.last_good_stream_id,
                                                         frame.status))
        return self._control(WINDOW_UPDATE, 0, struct.pack(">II", frame.stream_id, frame.delta))

    # ---- reading -------------------------------------------------------------------

    def _headers(self, data: bytes) -> Headers:
        try:
            raw = self._decompress.decompress(data)
        except zlib.error as exc:
            raise ProtocolError(f"header block does not decompress: {exc}") from exc
        return decode_header_block(raw)

    def feed(self, data: bytes) -> list[Frame]:
        """The frames that ``data`` completes, in order; incomplete bytes are kept."""
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= 8:
            first, second = struct.unpack_from(">II", self._buf, 0)
            length = second & 0xFFFFFF
            if len(self._buf) < 8 + length:
                break
            payload = bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            flags = second >> 24
            if first & 0x80000000:
                frames.append(self._control_frame((first >> 16) & 0x7FFF, first & 0xFFFF,
                                                  flags, payload))
            else:
                if first == 0:
                    raise ProtocolError("stream id zero is disallowed")
                frames.append(Data(first & 0x7FFFFFFF, payload, flags))
        return frames

    def _control_frame(self, version: int, kind: int, flags: int, p: bytes) -> Frame:
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        try:
            if kind == SYN_STREAM:
                sid, assoc, prio, _slot = struct.unpack_from(">IIBB", p, 0)
                return SynStream(sid & 0x7FFFFFFF, self._headers(p[10:]), flags,
                                 assoc & 0x7FFFFFFF, prio >> 5)
            if kind in (SYN_REPLY, HEADERS):
                (sid,) = struct.unpack_from(">I", p, 0)
                cls = SynReply if kind == SYN_REPLY else HeadersFrame
                return cls(sid & 0x7FFFFFFF, self._headers(p[4:]), flags)
            if kind == RST_STREAM:
                sid, status = struct.unpack_from(">II", p, 0)
                return RstStream(sid & 0x7FFFFFFF, status)
            if kind == SETTINGS:
                (n,) = struct.unpack_from(">I", p, 0)
                values = []
                for i in range(n):
                    fid, v = struct.unpack_from(">II", p, 4 + 8 * i)
                    values.append((fid >> 24, fid & 0xFFFFFF, v))
                return Settings(values, flags)
            if kind == PING:
                return Ping(struct.unpack_from(">I", p, 0)[0])
            if kind == GOAWAY:
                last, status = struct.unpack_from(">II", p, 0)
                return GoAway(last & 0x7FFFFFFF, status)
            if kind == WINDOW_UPDATE:
                sid, delta = struct.unpack_from(">II", p, 0)
                return WindowUpdate(sid & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        except struct.error as exc:
            raise ProtocolError(f"short control frame of type {kind}") from exc
        raise ProtocolError(f"unknown control frame type {kind}")
