"""RFC 3339 timestamps as Kubernetes writes them: UTC, whole seconds, with a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> str:
    return format_time(datetime.now(UTC))


def format_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    """MicroTime (Lease renewTime, Event eventTime)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))
