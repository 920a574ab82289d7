"""apiserver.watchlines: whole lines out of a body fed in chunks, and a line's event."""

from __future__ import annotations

from apiserver.watchlines import Lines, event_of


def test_lines_across_chunks_and_the_unterminated_rest() -> None:
    lines = Lines()
    assert lines.feed(b'{"a":', True) == []
    assert lines.feed(b'1}\n{"b":2}\n{"c"', True) == [b'{"a":1}', b'{"b":2}']
    assert lines.feed(b":3}", False) == [b'{"c":3}']
    assert lines.feed(b"", False) == []


def test_event_of() -> None:
    assert event_of(b'{"type":"ADDED"}') == {"type": "ADDED"}
    assert event_of(b"  ") is None
    assert event_of(b"not json") is None
    assert event_of(b"[1]") is None
