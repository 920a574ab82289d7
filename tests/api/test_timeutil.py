"""api.timeutil: RFC 3339 UTC stamps with whole seconds and a Z."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from api.timeutil import format_time, go_duration, human_duration, now, parse_time, since


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


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (5, "5s"), (59, "59s"), (119, "119s"), (120, "2m"), (125, "2m5s"),
    (182, "3m2s"), (599, "9m59s"), (600, "10m"), (3 * 3600 - 1, "179m"), (3 * 3600, "3h"),
    (3 * 3600 + 60, "3h1m"), (4 * 3600 + 60 * 5, "4h5m"), (8 * 3600, "8h"), (9 * 3600, "9h"),
    (47 * 3600, "47h"), (48 * 3600, "2d"), (50 * 3600, "2d2h"),
    (2 * 86400 + 3 * 3600, "2d3h"), (8 * 86400, "8d"), (10 * 86400, "10d"),
    (400 * 86400, "400d"), (2 * 365 * 86400, "2y"), (3 * 365 * 86400, "3y"),
    (3 * 365 * 86400 + 86400 * 10, "3y10d"), (9 * 365 * 86400, "9y"), (-0.5, "0s"),
    (-5, "<invalid>"),
])
def test_human_duration_matches_kubectl(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (59.9, "59s"), (60, "1m0s"), (125, "2m5s"), (3600, "1h0m0s"),
    (3723, "1h2m3s"), (30 * 3600, "30h0m0s"),
])
def test_go_duration_is_time_duration_string(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_since() -> None:
    at = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert since((at - timedelta(seconds=42)).strftime("%Y-%m-%dT%H:%M:%SZ"), at) == "42s"
    assert since(None, at) == "<unknown>"
    assert since("garbage", at) == "<unknown>"
