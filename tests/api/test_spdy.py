"""api.spdy: SPDY/3.1 frames encode and decode as spdystream's Framer does."""

from __future__ import annotations

import struct
import zlib

import pytest

from api import spdy


def roundtrip(frames: list[spdy.Frame], chunk: int | None = None) -> list[spdy.Frame]:
    w, r = spdy.Framer(), spdy.Framer()
    wire = b"".join(w.encode(f) for f in frames)
    if chunk is None:
        return r.feed(wire)
    out: list[spdy.Frame] = []
    for i in range(0, len(wire), chunk):
        out += r.feed(wire[i:i + chunk])
    return out


FRAMES: list[spdy.Frame] = [
    spdy.SynStream(1, {"streamtype": ["error"], "port": ["80"], "requestid": ["0"]}),
    spdy.SynReply(1, {}),
    spdy.SynStream(3, {"streamtype": ["data"], "port": ["80"], "requestid": ["0"]},
                   flags=spdy.FLAG_FIN, priority=2),
    spdy.Data(3, b"GET / HTTP/1.1\r\n\r\n"),
    spdy.Data(1, b"", spdy.FLAG_FIN),
    spdy.HeadersFrame(3, {"x": ["a", "b"]}),
    spdy.RstStream(3, spdy.CANCEL),
    spdy.Settings([(0, 4, 100), (1, 7, 65536)]),
    spdy.Ping(7),
    spdy.WindowUpdate(3, 1000),
    spdy.GoAway(5, 0),
]


def test_every_frame_round_trips_whole_and_byte_by_byte() -> None:
    assert roundtrip(FRAMES) == FRAMES
    # kubectl's tunnel splits and joins frames freely across WebSocket messages.
    assert roundtrip(FRAMES, chunk=1) == FRAMES
    assert roundtrip(FRAMES, chunk=7) == FRAMES


def test_wire_layout() -> None:
    w = spdy.Framer()
    # Data: stream id, then flags << 24 | length.
    assert w.encode(spdy.Data(5, b"hi", spdy.FLAG_FIN)) == b"\x00\x00\x00\x05\x01\x00\x00\x02hi"
    # Control: 0x8000 | version 3, type, flags << 24 | length.
    assert w.encode(spdy.Ping(1)) == b"\x80\x03\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01"
    assert w.encode(spdy.RstStream(3, spdy.CANCEL)) == \
        b"\x80\x03\x00\x03\x00\x00\x00\x08\x00\x00\x00\x03\x00\x00\x00\x05"
    assert w.encode(spdy.GoAway(0, 0)) == b"\x80\x03\x00\x07\x00\x00\x00\x08" + bytes(8)
    syn = w.encode(spdy.SynStream(1, {"Port": ["80"]}, priority=0))
    assert syn[:4] == b"\x80\x03\x00\x01"
    assert struct.unpack(">I", syn[4:8])[0] == len(syn) - 8
    assert syn[8:18] == b"\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"


def test_header_blocks_use_one_zlib_stream_with_the_spdy3_dictionary() -> None:
    assert len(spdy.DICTIONARY) == 1423
    w = spdy.Framer()
    first = w.encode(spdy.SynStream(1, {"port": ["8080"]}))
    second = w.encode(spdy.SynStream(3, {"port": ["8080"]}))
    # The stream is primed with the dictionary (zlib's FDICT, adler32 of it) ...
    block = first[18:]
    assert block[1] & 0x20 and struct.unpack(">I", block[2:6])[0] == \
        zlib.adler32(spdy.DICTIONARY)
    # ... and continues across frames: the repeated block costs a few bytes.
    assert len(second) < len(first)
    d = zlib.decompressobj(zdict=spdy.DICTIONARY)
    raw = d.decompress(block)
    assert spdy.decode_header_block(raw) == {"port": ["8080"]}
    assert raw == struct.pack(">II", 1, 4) + b"port" + struct.pack(">I", 4) + b"8080"
    # A reader that missed the first block cannot read the second.
    with pytest.raises(spdy.ProtocolError):
        spdy.Framer().feed(second)


def test_header_names_lowercased_values_joined_by_nul() -> None:
    raw = spdy.encode_header_block({"StreamType": ["data"], "v": ["a", "b"]})
    assert b"streamtype" in raw and b"a\x00b" in raw
    assert spdy.decode_header_block(raw) == {"streamtype": ["data"], "v": ["a", "b"]}
    assert spdy.header({"port": ["80", "81"]}, "Port") == "80"
    assert spdy.header({}, "port") == ""


@pytest.mark.parametrize("wire, message", [
    (b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01", "unsupported SPDY version 2"),
    (b"\x80\x03\x00\x05\x00\x00\x00\x00", "unknown control frame type 5"),
    (b"\x80\x03\x00\x06\x00\x00\x00\x00", "short control frame"),
    (b"\x00\x00\x00\x00\x00\x00\x00\x00", "stream id zero"),
    (b"\x80\x03\x00\x02\x00\x00\x00\x06\x00\x00\x00\x01xx", "does not decompress"),
])
def test_malformed_input_is_a_protocol_error(wire: bytes, message: str) -> None:
    with pytest.raises(spdy.ProtocolError, match=message):
        spdy.Framer().feed(wire)


def test_incomplete_frames_wait_for_more_bytes() -> None:
    r = spdy.Framer()
    wire = spdy.Framer().encode(spdy.Data(1, b"x" * 100))
    assert r.feed(wire[:50]) == []
    assert r.feed(wire[50:]) == [spdy.Data(1, b"x" * 100)]
    with pytest.raises(ValueError):
        spdy.Framer().encode(spdy.Data(0, b""))
    with pytest.raises(spdy.ProtocolError, match="too short"):
        spdy.decode_header_block(struct.pack(">II", 1, 10) + b"abc")
