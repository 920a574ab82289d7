"""Durations and ages the way kubectl prints them (``5s``, ``3m2s``, ``4h``, ``2d``)."""

from __future__ import annotations

from datetime import UTC, datetime

from api.timeutil import parse_time


def human_duration(seconds: float) -> str:
    """kubectl's ``duration.HumanDuration``: precise when recent, coarser as it grows."""
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


def since(timestamp: str | None, now: datetime | None = None) -> str:
    """The AGE column: time since ``timestamp``; ``<unknown>`` when there is none."""
    if not timestamp:
        return "<unknown>"
    try:
        t = parse_time(timestamp)
    except ValueError:
        return "<unknown>"
    return human_duration(((now or datetime.now(UTC)) - t).total_seconds())


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return (parse_time(end) - parse_time(start)).total_seconds()
    except ValueError:
        return None
