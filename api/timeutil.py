"""RFC 3339 timestamps as Kubernetes writes them: UTC, whole seconds, with a ``Z``."""

from __future__ import annotations

import time
from datetime import UTC, datetime

_last: tuple[int, str] = (-1, "")


def now() -> str:
    # Whole seconds: the string changes once a second, so it is formatted once a
    # second (every create stamps creationTimestamp; strftime is the costly part).
    global _last
    sec = int(time.time())
    last = _last
    if last[0] == sec:
        return last[1]
    out = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sec))
    _last = (sec, out)
    return out


def format_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    """MicroTime (Lease renewTime, Event eventTime)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))
