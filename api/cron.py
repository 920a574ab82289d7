"""Cron schedules as Kubernetes reads them: robfig/cron's ``ParseStandard``.

Five fields (minute, hour, day of month, month, day of week), the descriptors
(``@yearly``, ``@annually``, ``@monthly``, ``@weekly``, ``@daily``, ``@midnight``,
``@hourly``), ``@every <duration>``, and an optional ``TZ=<zone>``/``CRON_TZ=<zone>``
prefix; the field arithmetic is croniter's (a maintained cron library), the messages of
the errors are robfig's where Kubernetes users see them (a CronJob's validation quotes
them). ``load_location`` is Go's time.LoadLocation over zoneinfo. The CronJob validation
(api.validation.batch) and the CronJob controller share this module.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

from api.timeutil import parse_duration

# robfig/cron parser.go: the descriptors ParseStandard knows
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
UTC_ZONE = ZoneInfo("UTC")


class ScheduleError(ValueError):
    """A schedule robfig/cron's ParseStandard refuses (the message is its error)."""


_MEMO_SIZE = 1024


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: ``next(t)`` is the first activation strictly after ``t``
    (None when the fields can never match, as ``59 23 31 2 *``)."""

    expr: str  # five fields, or "" for @every
    location: ZoneInfo
    every: float = 0.0
    # one croniter, moved to each start time: building one parses the expression again,
    # 15 times the cost of a step (callers run on one event loop, never two at a time)
    _iter: list[croniter] = field(default_factory=list, compare=False, repr=False)
    # next() of recent instants: CronJobs that share a schedule (one parsed Schedule) ask
    # for the same times (their creation second, their last schedule time) at each sync
    _memo: dict[datetime, datetime | None] = field(default_factory=dict, compare=False,
                                                   repr=False)

    def next(self, t: datetime) -> datetime | None:
        try:
            return self._memo[t]
        except KeyError:
            pass
        nxt = self._next(t)
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()
        self._memo[t] = nxt
        return nxt

    def _next(self, t: datetime) -> datetime | None:
        if self.every:
            # ConstantDelaySchedule.Next: whole seconds, ``every`` after t
            base = t.replace(microsecond=0)
            return (base + timedelta(seconds=self.every)).astimezone(UTC)
        local = t.astimezone(self.location)
        try:
            if not self._iter:
                self._iter.append(croniter(self.expr, local))
            it = self._iter[0]
            it.set_current(local, force=True)
            nxt = it.get_next(datetime)
        except CroniterError:
            return None
        if not isinstance(nxt, datetime):
            return None
        return nxt.astimezone(UTC)


def load_location(name: str) -> ZoneInfo:
    """time.LoadLocation: "" and "UTC" are UTC; an unknown zone raises ScheduleError with
    Go's message."""
    if name in ("", "UTC"):
        return UTC_ZONE
    if name == "Local" or name.startswith("/") or ".." in name.split("/"):
        raise ScheduleError(f"unknown time zone {name}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"unknown time zone {name}") from None


def _go_fields(fields: list[str]) -> str:
    return "[" + " ".join(fields) + "]"


def _check_field(text: str, lo: int, hi: int) -> None:
    """robfig's getRange bounds messages for the common cases croniter words otherwise."""
    for part in text.split(","):
        rng = part.split("/", 1)[0]
        if rng in ("*", "?") or not rng:
            continue
        ends = rng.split("-", 1)
        if not all(e.isdigit() for e in ends):
            continue  # names (JAN, MON): croniter judges them
        start, end = int(ends[0]), int(ends[-1])
        if start < lo:
            raise ScheduleError(f"beginning of range ({start}) below minimum ({lo}): {part}")
        if end > hi:
            raise ScheduleError(f"end of range ({end}) above maximum ({hi}): {part}")
        if start > end:
            raise ScheduleError(
                f"beginning of range ({start}) beyond end of range ({end}): {part}")


@functools.lru_cache(maxsize=4096)
def parse_standard(spec: str) -> Schedule:
    """cron.ParseStandard: the schedule a CronJob's ``spec.schedule`` (and timeZone, as
    the controller's formatSchedule prefixes it) means."""
    if not spec:
        raise ScheduleError("empty spec string")
    location = UTC_ZONE
    if spec.startswith(("TZ=", "CRON_TZ=")):
        i = spec.find(" ")
        eq = spec.find("=")
        zone = spec[eq + 1:i] if i > 0 else spec[eq + 1:]
        try:
            location = load_location(zone)
        except ScheduleError as exc:
            raise ScheduleError(f"provided bad location {zone}: {exc}") from None
        spec = spec[i:].strip() if i > 0 else ""
    if spec.startswith("@"):
        if spec.startswith("@every "):
            text = spec[len("@every "):].strip()
            try:
                every = parse_duration(text)
            except ValueError as exc:
                raise ScheduleError(f"failed to parse duration {spec}: {exc}") from None
            return Schedule("", location, every=max(1.0, float(int(every))))
        expr = _DESCRIPTORS.get(spec)
        if expr is None:
            raise ScheduleError(f"unrecognized descriptor: {spec}")
        return Schedule(expr, location)
    fields = spec.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: "
                            f"{_go_fields(fields)}")
    for text, (lo, hi) in zip(fields, _FIELD_RANGES, strict=True):
        _check_field(text, lo, hi)
    expr = " ".join(fields)
    try:
        croniter(expr)
    except CroniterError as exc:
        raise ScheduleError(str(exc)) from None
    return Schedule(expr, location)



_ZONE_NAME = re.compile(r"^[A-Za-z.\-_0-9+]{1,14}$")


def valid_zone_part(part: str) -> bool:
    return part not in (".", "..") and not part.startswith("-") and bool(_ZONE_NAME.match(part))


