"""api.cron: schedules as robfig/cron's ParseStandard reads them (the next activation,
descriptors, @every, TZ= prefixes) and its parse errors, word for word."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.cron import ScheduleError, load_location, parse_standard

T0 = datetime(2026, 5, 4, 10, 0, 0, tzinfo=UTC)  # a Monday, on the hour


# ---- the parser -------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "after", "want"), [
    ("*/1 * * * *", T0, T0 + timedelta(minutes=1)),
    ("*/15 * * * *", T0 + timedelta(minutes=1), T0 + timedelta(minutes=15)),
    ("@hourly", T0, T0 + timedelta(hours=1)),
    ("@daily", T0, datetime(2026, 5, 5, tzinfo=UTC)),
    ("@midnight", T0, datetime(2026, 5, 5, tzinfo=UTC)),
    ("@weekly", T0, datetime(2026, 5, 10, tzinfo=UTC)),
    ("@monthly", T0, datetime(2026, 6, 1, tzinfo=UTC)),
    ("@yearly", T0, datetime(2027, 1, 1, tzinfo=UTC)),
    ("@annually", T0, datetime(2027, 1, 1, tzinfo=UTC)),
    ("@every 90s", T0 + timedelta(seconds=30), T0 + timedelta(minutes=2)),
    ("0 9 * * MON-FRI", T0, datetime(2026, 5, 5, 9, tzinfo=UTC)),
    ("30 6-16/4 * * 1-5", T0, T0 + timedelta(minutes=30)),  # 10:30 is 6+4
    ("TZ=Asia/Tokyo 0 9 * * *", T0, datetime(2026, 5, 5, 0, tzinfo=UTC)),  # 09:00 JST
    ("CRON_TZ=America/New_York 0 9 * * *", T0, datetime(2026, 5, 4, 13, tzinfo=UTC)),
])
def test_next_activation(spec: str, after: datetime, want: datetime) -> None:
    assert parse_standard(spec).next(after) == want


@pytest.mark.parametrize(("spec", "message"), [
    ("", "empty spec string"),
    ("foo", "expected exactly 5 fields, found 1: [foo]"),
    ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
    ("61 * * * *", "end of range (61) above maximum (59): 61"),
    ("* 24 * * *", "end of range (24) above maximum (23): 24"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ("TZ=Mars/Olympus * * * * *", "provided bad location Mars/Olympus: "
                                  "unknown time zone Mars/Olympus"),
])
def test_parse_errors_as_robfig_words_them(spec: str, message: str) -> None:
    with pytest.raises(ScheduleError) as err:
        parse_standard(spec)
    assert str(err.value) == message


def test_load_location() -> None:
    assert load_location("") == load_location("UTC")
    assert str(load_location("Europe/Paris")) == "Europe/Paris"
    for bad in ("Local", "Nowhere/City", "../etc/passwd"):
        with pytest.raises(ScheduleError, match="unknown time zone"):
            load_location(bad)


