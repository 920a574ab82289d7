"""The controllers' clock: what the time-driven controllers (CronJob, TTL-after-finished)
read the time from and requeue through.

client-go's delaying queue takes a clock (``clock.WithTicker``) and kube-controller-manager's
tests pass a fake one; here ``RealClock`` reads the wall clock and requeues on the event
loop's timers (``RateLimitingQueue.add_after``), and ``FakeClock`` is moved by hand
(``step``/``set``), adding every key whose delay has passed in fake time. A controller
that takes a clock runs schedules of minutes in a test of seconds.
"""

from __future__ import annotations

import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import Protocol

from client.workqueue import RateLimitingQueue


class Clock(Protocol):
    def now(self) -> datetime: ...

    def add_after(self, queue: RateLimitingQueue, key: str, seconds: float) -> None:
        """Add ``key`` to ``queue`` once ``seconds`` have passed on this clock (one pending
        add per key and queue; the earliest wins, as the delaying queue does)."""
        ...


class RealClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def add_after(self, queue: RateLimitingQueue, key: str, seconds: float) -> None:
        queue.add_after(key, seconds)


class FakeClock:
    """A clock a test moves by hand (k8s.io/utils/clock/testing FakeClock)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)
        self._heap: list[tuple[datetime, int, int, str]] = []
        self._due: dict[tuple[int, str], datetime] = {}
        self._queues: dict[int, RateLimitingQueue] = {}
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._now

    def add_after(self, queue: RateLimitingQueue, key: str, seconds: float) -> None:
        if seconds <= 0:
            queue.add(key)
            return
        due = self._now + timedelta(seconds=seconds)
        k = (id(queue), key)
        prev = self._due.get(k)
        if prev is not None and prev <= due:
            return
        self._due[k] = due
        self._queues[id(queue)] = queue
        heapq.heappush(self._heap, (due, next(self._seq), id(queue), key))

    def set(self, t: datetime) -> None:
        """Move to ``t`` and add every key now due."""
        self._now = t
        while self._heap and self._heap[0][0] <= t:
            due, _, qid, key = heapq.heappop(self._heap)
            if self._due.get((qid, key)) != due:
                continue  # superseded by an earlier add
            del self._due[(qid, key)]
            self._queues[qid].add(key)

    def step(self, seconds: float) -> None:
        self.set(self._now + timedelta(seconds=seconds))

    @property
    def waiting(self) -> int:
        """Keys waiting for a later time."""
        return len(self._due)

    def due(self, key: str) -> datetime | None:
        """When ``key`` is due to be added (to whichever queue), or None."""
        return min((d for (_, k), d in self._due.items() if k == key), default=None)

    def next_due(self) -> datetime | None:
        """When the earliest waiting key is due."""
        return min(self._due.values(), default=None)
