"""RFC 3339 timestamps as Kubernetes writes them (UTC, whole seconds, with a ``Z``), and
durations as Kubernetes' flags take them (Go's time.ParseDuration units)."""

from __future__ import annotations

import argparse
import re
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


def parse_time_or_none(s: str | None) -> datetime | None:
    """``parse_time``, or None for a missing or malformed timestamp."""
    if not s:
        return None
    try:
        return parse_time(s)
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """apimachinery's ``duration.HumanDuration`` (kubectl's AGE): precise when recent,
    coarser as it grows. Shared by the server's Table printing and minictl's own."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def go_duration(seconds: float) -> str:
    """Go's time.Duration String() for whole seconds (``1m0s``, ``1h2m3s``), ``0s`` for none:
    how kubectl prints a duration in a message (drain's timeout, top's pod age)."""
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{h}h{m}m{sec}s"
    if m:
        return f"{m}m{sec}s"
    return f"{sec}s"


def go_duration_ms(seconds: float) -> str:
    """Go's time.Duration String() of ``seconds`` truncated to milliseconds (``250ms``,
    ``1.234s``, ``1m2.5s``): how the kubelet prints a pull's duration."""
    ms = int(seconds * 1000)
    if ms <= 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    minutes, rest = divmod(ms, 60_000)
    hours, minutes = divmod(minutes, 60)
    secs = f"{rest // 1000}.{rest % 1000:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{secs}"
    return f"{minutes}m{secs}" if minutes else secs


def since(timestamp: str | None, now: datetime | None = None) -> str:
    """The AGE column: time since ``timestamp``; ``<unknown>`` when there is none."""
    if not timestamp:
        return "<unknown>"
    try:
        t = parse_time(timestamp)
    except ValueError:
        return "<unknown>"
    return human_duration(((now or datetime.now(UTC)) - t).total_seconds())


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_SECONDS = re.compile(r"\d+(?:\.\d+)?")


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration (``40s``, ``1m30s``, ``250ms``, ``1h``: the units of
    time.ParseDuration that flags use) or in a bare number of seconds (``2.5``); ValueError
    ``invalid duration "..."`` otherwise."""
    t = text.strip()
    if _SECONDS.fullmatch(t):
        return float(t)
    parts = _DURATION_PART.findall(t)
    if not parts or "".join(n + u for n, u in parts) != t:
        raise ValueError(f'invalid duration "{text}"')
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def duration_flag(text: str) -> float:
    """``parse_duration`` as an argparse type (the services' duration flags)."""
    try:
        return parse_duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r} (e.g. 30s, 1m30s, 500ms)") from None
