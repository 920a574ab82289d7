"""Work queues for controllers (asyncio), after client-go's workqueue.

A key waits in the queue at most once (dedup), and is never handed to two workers
at once: a key added while it is being processed is parked in ``dirty`` and goes
back in the queue only when the worker calls ``done``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from client.backoff import exponential


class ShutDown(Exception):
    """Raised by ``get()`` once the queue is shut down and drained."""


class WorkQueue:
    def __init__(self, name: str = "") -> None:
        self.name = name
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        # metrics
        self.adds = 0
        self.retries = 0
        self._added_at: dict[str, float] = {}
        self._started_at: dict[str, float] = {}
        self.queue_latency_total = 0.0
        self.work_duration_total = 0.0
        self.work_count = 0
        self.max_work_duration = 0.0

    # ---- producer side -------------------------------------------------------------

    def add(self, key: str) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self.adds += 1
        self._dirty.add(key)
        self._added_at.setdefault(key, time.monotonic())
        if key in self._processing:
            return  # re-queued by done()
        self._queue.append(key)
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(None)
                return

    # ---- consumer side -------------------------------------------------------------

    async def get(self) -> str:
        """The next key; the caller must call ``done(key)`` when finished with it."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                # pass the wake-up on, or it would be lost with this waiter
                if fut.done() and not fut.cancelled():
                    self._wake()
                raise
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        now = time.monotonic()
        added = self._added_at.pop(key, None)
        if added is not None:
            self.queue_latency_total += now - added
        self._started_at[key] = now
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        started = self._started_at.pop(key, None)
        if started is not None:
            d = time.monotonic() - started
            self.work_duration_total += d
            self.work_count += 1
            self.max_work_duration = max(self.max_work_duration, d)
        if key in self._dirty:
            self._queue.append(key)
            self._wake()

    def shutdown(self) -> None:
        """Stop accepting keys; ``get`` raises ShutDown once the queue is empty."""
        self._shutting_down = True
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(None)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def depth(self) -> int:
        return len(self._queue)

    def is_processing(self, key: str) -> bool:
        return key in self._processing

    @property
    def metrics(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "depth": self.depth,
            "adds": self.adds,
            "retries": self.retries,
            "processing": len(self._processing),
            "work_count": self.work_count,
            "work_duration_seconds_total": self.work_duration_total,
            "work_duration_seconds_max": self.max_work_duration,
            "queue_latency_seconds_total": self.queue_latency_total,
        }


class RateLimitingQueue(WorkQueue):
    """A WorkQueue with delayed adds and client-go's default controller rate limiter:
    the larger of a per-key exponential backoff (5 ms doubling, capped at 1000 s) and
    an overall token bucket (10 per second, burst 100)."""

    def __init__(self, name: str = "", *, base_delay: float = 0.005, max_delay: float = 1000.0,
                 qps: float = 10.0, burst: int = 100) -> None:
        super().__init__(name)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.qps = qps
        self.burst = burst
        self._failures: dict[str, int] = {}
        self._tokens = float(burst)
        self._last_refill = time.monotonic()
        # key -> (due time, timer): one pending delayed add per key, the earliest wins
        self._waiting: dict[str, tuple[float, asyncio.TimerHandle]] = {}

    def add_after(self, key: str, seconds: float) -> None:
        if self._shutting_down:
            return
        if seconds <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + seconds
        prev = self._waiting.get(key)
        if prev is not None:
            if prev[0] <= due:
                return
            prev[1].cancel()
        self._waiting[key] = (due, loop.call_at(due, self._fire, key))

    def _fire(self, key: str) -> None:
        self._waiting.pop(key, None)
        self.add(key)

    def when(self, key: str) -> float:
        """The delay the rate limiter assigns to the next retry of ``key``."""
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        return max(exponential(n, self.base_delay, self.max_delay), self._bucket_delay())

    def _bucket_delay(self) -> float:
        now = time.monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last_refill) * self.qps)
        self._last_refill = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def add_rate_limited(self, key: str) -> None:
        self.retries += 1
        self.add_after(key, self.when(key))

    def forget(self, key: str) -> None:
        """Stop tracking retries of ``key`` (after it was processed successfully)."""
        self._failures.pop(key, None)

    def num_requeues(self, key: str) -> int:
        return self._failures.get(key, 0)

    def shutdown(self) -> None:
        for _, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        super().shutdown()

    @property
    def metrics(self) -> dict[str, Any]:
        return {**super().metrics, "waiting": len(self._waiting)}
