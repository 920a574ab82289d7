"""api.timeutil: RFC 3339 UTC stamps with whole seconds and a Z."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from api.timeutil import format_time, now, parse_time


def test_now_is_whole_seconds_utc_and_current() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    a, b = now(), now()  # the second from the per-second memo
    after = datetime.now(UTC)
    for s in (a, b):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s), s
        assert before <= parse_time(s) <= after
    assert format_time(parse_time(a)) == a
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    assert parse_time(a) - before < timedelta(seconds=2)
