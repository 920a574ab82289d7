"""v1.PodLogOptions from a pods/log (or kubelet containerLogs) query, and their validation
(ValidatePodLogOptions), shared by the API server, the kubelet and minictl."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def parse_rfc3339(text: str) -> float:
    """Unix seconds of an RFC 3339 time (fractional seconds kept); ValueError otherwise."""
    m = _RFC3339.fullmatch(text.strip())
    if m is None:
        raise ValueError(f'parsing time "{text}" as RFC3339')
    day, clock, frac, zone = m.groups()
    zone = "+00:00" if zone in ("Z", "z") else zone
    t = datetime.fromisoformat(f"{day}T{clock}{zone}").astimezone(UTC).timestamp()
    return t + (float(frac) if frac else 0.0)


@dataclass
class LogOptions:
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    since_seconds: int | None = None
    since_time: float | None = None  # unix seconds
    since_time_text: str | None = None  # as given, to pass on
    limit_bytes: int | None = None


def _bool(v: str) -> bool:
    low = v.lower()
    if low in ("true", "1", "t", ""):
        return True
    if low in ("false", "0", "f"):
        return False
    raise ValueError(f"invalid boolean {v!r}")


def decode(query: Mapping[str, str]) -> LogOptions:
    """The options of a query; ValueError for a value that does not decode. The legacy
    ``tail`` parameter is ``tailLines`` (``all``: no limit), as the kubelet reads it."""
    q = dict(query)
    tail = q.pop("tail", None)
    if tail:
        if tail == "all":
            q.pop("tailLines", None)
        else:
            q["tailLines"] = tail
    o = LogOptions()
    for key, attr in (("follow", "follow"), ("previous", "previous"),
                      ("timestamps", "timestamps")):
        if key in q:
            setattr(o, attr, _bool(q[key]))
    if q.get("tailLines"):
        o.tail_lines = int(q["tailLines"])
    if q.get("sinceSeconds"):
        o.since_seconds = int(q["sinceSeconds"])
    if q.get("limitBytes"):
        o.limit_bytes = int(q["limitBytes"])
    if q.get("sinceTime"):
        o.since_time = parse_rfc3339(q["sinceTime"])
        o.since_time_text = q["sinceTime"]
    return o


def validate(o: LogOptions) -> list[tuple[str, str, object]]:
    """ValidatePodLogOptions: (field, message, value) per error; an empty field is the
    Forbidden one of sinceTime with sinceSeconds."""
    errs: list[tuple[str, str, object]] = []
    if o.tail_lines is not None and o.tail_lines < 0:
        errs.append(("tailLines", "must be greater than or equal to 0", o.tail_lines))
    if o.limit_bytes is not None and o.limit_bytes < 1:
        errs.append(("limitBytes", "must be greater than 0", o.limit_bytes))
    if o.since_seconds is not None and o.since_time is not None:
        errs.append(("", "at most one of `sinceTime` or `sinceSeconds` may be specified", None))
    elif o.since_seconds is not None and o.since_seconds < 1:
        errs.append(("sinceSeconds", "must be greater than 0", o.since_seconds))
    return errs
