"""Rewriting a watch stream line by line, as the middlewares that convert answers do.

A streamed body arrives in chunks that need not end at a line; ``Lines`` gives back the
whole lines (the last one, unterminated, when the body ends), and ``event_of`` a line's
watch event. Imports nothing of ours.
"""

from __future__ import annotations

from typing import Any

import orjson


class Lines:
    """The whole lines of a body fed chunk by chunk."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, body: bytes, more: bool) -> list[bytes]:
        """The lines ``body`` completes, without their newlines; when there is no
        ``more`` body, the unterminated rest too."""
        *lines, self._pending = (self._pending + body).split(b"\n")
        if not more and self._pending:
            lines.append(self._pending)
            self._pending = b""
        return lines


def event_of(line: bytes) -> dict[str, Any] | None:
    """The JSON object on ``line``; None for a blank line, one that is not JSON, or JSON
    that is not an object (such lines are passed on as they are)."""
    if not line.strip():
        return None
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None
