"""The scheduling queue: active, backoff and unschedulable sub-queues (kube-scheduler's
PriorityQueue).

- active: a heap ordered by priority (high first), then creation time, then arrival.
- backoff: pods that failed recently wait 1 s, doubling per attempt up to 10 s.
- unschedulable: pods that fit nowhere wait for a cluster event that could change that
  (``move_all``: a node added or changed, a pod deleted or finished), plus a periodic
  flush after ``unschedulable_timeout`` in case an event was missed.

A cluster event that arrives while a pod is being scheduled (between ``pop`` and
``add_unschedulable``) sends that pod to backoff instead of unschedulable, so that it
is not parked forever on the strength of a snapshot that was already stale.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from client.backoff import exponential
from scheduler.framework import PodInfo

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
UNSCHEDULABLE_TIMEOUT = 60.0


@dataclass(slots=True, eq=False)
class QueuedPod:
    info: PodInfo
    attempts: int = 0
    timestamp: float = 0.0  # when it last entered a queue or failed
    initial_attempt: float | None = None
    cycle: int = 0  # the scheduling cycle that popped it
    seq: int = 0  # heap generation: stale heap entries are skipped
    unschedulable_reasons: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        return self.info.key


class SchedulingQueue:
    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 initial_backoff: float = INITIAL_BACKOFF, max_backoff: float = MAX_BACKOFF,
                 unschedulable_timeout: float = UNSCHEDULABLE_TIMEOUT) -> None:
        self._clock = clock
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.unschedulable_timeout = unschedulable_timeout
        self._active_heap: list[tuple[int, str, int, str]] = []
        self._active: dict[str, QueuedPod] = {}
        self._backoff_heap: list[tuple[float, int, str]] = []
        self._backoff: dict[str, QueuedPod] = {}
        self._unschedulable: dict[str, QueuedPod] = {}
        self._in_flight: dict[str, QueuedPod] = {}
        self._seq = 0
        self.scheduling_cycle = 0
        self._move_request_cycle = -1
        self._has_active = asyncio.Event()
        self._timer_changed = asyncio.Event()
        self._closed = False
        self._unschedulable_due: float | None = None  # no parked pod is stale before this

    # ---- sizes, for metrics and tests ----------------------------------------

    def counts(self) -> dict[str, int]:
        return {"active": len(self._active), "backoff": len(self._backoff),
                "unschedulable": len(self._unschedulable), "in_flight": len(self._in_flight)}

    def __len__(self) -> int:
        return len(self._active) + len(self._backoff) + len(self._unschedulable)

    def __contains__(self, key: str) -> bool:
        return key in self._active or key in self._backoff or key in self._unschedulable \
            or key in self._in_flight

    def where(self, key: str) -> str | None:
        for name, d in (("active", self._active), ("backoff", self._backoff),
                        ("unschedulable", self._unschedulable),
                        ("in_flight", self._in_flight)):
            if key in d:
                return name
        return None

    # ---- internal moves --------------------------------------------------------

    def _push_active(self, qp: QueuedPod) -> None:
        self._seq += 1
        qp.seq = self._seq
        self._active[qp.key] = qp
        heapq.heappush(self._active_heap,
                       (-qp.info.priority, qp.info.created, qp.seq, qp.key))
        self._has_active.set()

    def backoff_duration(self, qp: QueuedPod) -> float:
        """The initial back-off, doubled per attempt after the first, at most the maximum
        (kube-scheduler calculateBackoffDuration)."""
        return exponential(max(qp.attempts - 1, 0), self.initial_backoff, self.max_backoff)

    def _backoff_expiry(self, qp: QueuedPod) -> float:
        return qp.timestamp + self.backoff_duration(qp)

    def _push_backoff(self, qp: QueuedPod) -> None:
        expiry = self._backoff_expiry(qp)
        if expiry <= self._clock():
            self._push_active(qp)
            return
        self._seq += 1
        qp.seq = self._seq
        self._backoff[qp.key] = qp
        heapq.heappush(self._backoff_heap, (expiry, qp.seq, qp.key))
        self._timer_changed.set()

    def _remove(self, key: str) -> QueuedPod | None:
        # heap entries of removed pods stay behind and are skipped by their seq
        return self._active.pop(key, None) or self._backoff.pop(key, None) \
            or self._unschedulable.pop(key, None)

    # ---- the informer's side -----------------------------------------------------

    def add(self, info: PodInfo) -> None:
        """A pending pod was added or changed."""
        key = info.key
        if key in self._in_flight:
            self._in_flight[key].info = info
            return
        qp = self._active.get(key)
        if qp is not None:
            if (qp.info.priority, qp.info.created) != (info.priority, info.created):
                del self._active[key]
                qp.info = info
                self._push_active(qp)
            else:
                qp.info = info
            return
        qp = self._backoff.get(key)
        if qp is not None:
            qp.info = info
            return
        qp = self._unschedulable.pop(key, None)
        if qp is not None:
            # The pod itself changed (labels, tolerations, requests...): worth a new try.
            qp.info = info
            self._push_backoff(qp)
            return
        self._push_active(QueuedPod(info, timestamp=self._clock()))

    def delete(self, key: str) -> None:
        self._remove(key)
        self._in_flight.pop(key, None)

    def move_all(self, event: str = "") -> int:
        """A cluster event that may make unschedulable pods fit: retry them (after backoff)."""
        self._move_request_cycle = self.scheduling_cycle
        moved = list(self._unschedulable.values())
        self._unschedulable.clear()
        for qp in moved:
            self._push_backoff(qp)
        return len(moved)

    # ---- the scheduler's side ----------------------------------------------------

    async def pop(self) -> QueuedPod:
        while True:
            qp = self.pop_nowait()
            if qp is not None:
                return qp
            if self._closed:
                raise asyncio.CancelledError("queue closed")
            self._has_active.clear()
            await self._has_active.wait()

    def pop_nowait(self) -> QueuedPod | None:
        heap = self._active_heap
        while heap:
            _, _, seq, key = heapq.heappop(heap)
            qp = self._active.get(key)
            if qp is None or qp.seq != seq:
                continue
            del self._active[key]
            self.scheduling_cycle += 1
            qp.cycle = self.scheduling_cycle
            qp.attempts += 1
            if qp.initial_attempt is None:
                qp.initial_attempt = self._clock()
            self._in_flight[key] = qp
            return qp
        return None

    def done(self, key: str) -> None:
        """The cycle for ``key`` ended with a decision (assumed on a node)."""
        self._in_flight.pop(key, None)

    def add_unschedulable(self, qp: QueuedPod) -> None:
        """The pod fit nowhere: park it until a cluster event, or retry if one already came."""
        if self._in_flight.pop(qp.key, None) is None:
            return  # deleted while in flight
        qp.timestamp = self._clock()
        if self._move_request_cycle >= qp.cycle:
            self._push_backoff(qp)
        else:
            self._unschedulable[qp.key] = qp
            due = qp.timestamp + self.unschedulable_timeout
            if self._unschedulable_due is None or due < self._unschedulable_due:
                self._unschedulable_due = due
                self._timer_changed.set()

    def add_backoff(self, qp: QueuedPod) -> None:
        """An error (a failed binding...): retry after the pod's backoff."""
        self._in_flight.pop(qp.key, None)
        if qp.key in self:
            return
        qp.timestamp = self._clock()
        self._push_backoff(qp)

    # ---- timers --------------------------------------------------------------------

    def flush(self) -> float | None:
        """Move due backoff pods to active and stale unschedulable pods to active/backoff.

        Returns the delay until the next thing falls due (None: nothing pending).
        """
        now = self._clock()
        heap = self._backoff_heap
        while heap and heap[0][0] <= now:
            _, seq, key = heapq.heappop(heap)
            qp = self._backoff.get(key)
            if qp is not None and qp.seq == seq:
                del self._backoff[key]
                self._push_active(qp)
        next_due = heap[0][0] - now if heap else None
        if self._unschedulable_due is not None and self._unschedulable_due <= now:
            stale = [qp for qp in self._unschedulable.values()
                     if now - qp.timestamp >= self.unschedulable_timeout]
            for qp in stale:
                del self._unschedulable[qp.key]
                self._push_backoff(qp)
            self._unschedulable_due = None
            if self._unschedulable:
                self._unschedulable_due = min(qp.timestamp for qp in
                                              self._unschedulable.values()) \
                    + self.unschedulable_timeout
        if self._unschedulable_due is not None:
            due = self._unschedulable_due - now
            next_due = due if next_due is None else min(next_due, due)
        return next_due

    async def run(self) -> None:
        """Keep the timers going until cancelled."""
        while not self._closed:
            delay = self.flush()
            self._timer_changed.clear()
            try:
                await asyncio.wait_for(self._timer_changed.wait(),
                                       timeout=None if delay is None else max(delay, 0.001))
            except TimeoutError:
                pass

    def close(self) -> None:
        self._closed = True
        self._has_active.set()
        self._timer_changed.set()
