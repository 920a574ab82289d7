"""The event recorder: core/v1 Events, correlated as client-go's EventCorrelator does
(tools/record/events_cache.go) and written in the background.

``event()`` never blocks and never fails. It runs the event through the correlator:

- the aggregator: events from this source about one object with the same type and reason
  but different messages are *similar*; once 10 distinct messages were seen, each less than
  10 minutes after the previous similar one, the next ones are recorded as one aggregate
  Event whose message is ``(combined from similar events): `` and the latest message;
- the logger: an event seen before (same object, fieldPath, type, reason and message, or
  the same aggregate) is a repeat, written as a PATCH of its Event's count, lastTimestamp
  and message rather than as a new Event;
- the spam filter: a token bucket per source and object (25 events, refilled at one every
  5 minutes) drops what goes beyond it, so an object that is always unhealthy costs a
  bounded number of writes.

Each remembers at most 4,096 keys, the least recently used going first. What passes is
folded into a bounded pending map under the logger's key, so repeats that arrive before
the previous write went out cost no write of their own; a background task writes them in
order. While the API server is unreachable the pending map stops growing at
``max_pending`` and the oldest entries are dropped, so a long outage costs bounded memory.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from api import timeutil
from api.models import Event, EventSource, ObjectMeta, ObjectReference, TypedObject
from client.backoff import Backoff
from client.errors import (
    AlreadyExists,
    ApiError,
    NotFound,
    ServerError,
    ServerUnavailable,
    TooManyRequests,
)
from client.rest import AsyncClient
from client.tasks import cancel_and_wait

log = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]

LRU_CACHE_SIZE = 4096
# a similar event (same object, type and reason, another message) seen this many times
# within AGGREGATE_INTERVAL of the previous one is aggregated
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL = 600.0
# per source and object: a burst of 25 events, then one every 5 minutes
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300.0
COMBINED_PREFIX = "(combined from similar events): "

# (kind, namespace, name, uid, apiVersion): the object an event is about
_Obj = tuple[str | None, str | None, str | None, str | None, str | None]
# the logger's key: an event's (_Obj + fieldPath, type, reason, message), or an
# aggregate's (_Obj + type, reason)
_Key = tuple[str | None, ...]
_RETRYABLE = (ServerUnavailable, ServerError, TooManyRequests)

K = TypeVar("K")
V = TypeVar("V")


class _LRU(Generic[K, V]):
    """A bounded map that forgets the least recently used key (groupcache's lru)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._d.get(key)
        if value is not None:
            self._d.move_to_end(key)
        return value

    def add(self, key: K, value: V) -> None:
        self._d[key] = value
        self._d.move_to_end(key)
        if len(self._d) > self.size:
            self._d.popitem(last=False)

    def __len__(self) -> int:
        return len(self._d)


@dataclass
class _Aggregate:
    messages: set[str]
    last: float


@dataclass
class _Log:
    count: int
    first: str
    name: str


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class Correlated:
    """One event as the correlator lets it through: the Event to create, or the new
    count, lastTimestamp and message of the Event named ``name``."""

    key: _Key
    name: str
    type: str
    reason: str
    message: str
    count: int
    first: str
    last: str
    aggregate: bool


class EventCorrelator:
    """Aggregation, counting and spam filtering of one source's events, as client-go's
    EventCorrelator with its defaults; ``clock`` (seconds) paces the 10-minute window and
    the token buckets."""

    def __init__(self, *, cache_size: int = LRU_CACHE_SIZE,
                 max_events: int = AGGREGATE_MAX_EVENTS,
                 max_interval: float = AGGREGATE_INTERVAL, burst: int = SPAM_BURST,
                 qps: float = SPAM_QPS, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_events = max_events
        self.max_interval = max_interval
        self.burst = burst
        self.qps = qps
        self.clock = clock
        self._aggregates: _LRU[_Key, _Aggregate] = _LRU(cache_size)
        self._logs: _LRU[_Key, _Log] = _LRU(cache_size)
        self._spam: _LRU[_Obj, _Bucket] = _LRU(cache_size)

    def correlate(self, obj: _Obj, field_path: str | None, type: str, reason: str,
                  message: str, now: str) -> Correlated | None:
        """The event to write, or None when the spam filter drops it."""
        t = self.clock()
        # the aggregator
        agg_key: _Key = (*obj, type, reason)
        rec = self._aggregates.get(agg_key)
        if rec is None or t - rec.last > self.max_interval:
            rec = _Aggregate(set(), t)
        rec.messages.add(message)
        rec.last = t
        self._aggregates.add(agg_key, rec)
        aggregate = len(rec.messages) >= self.max_events
        if aggregate:
            rec.messages.pop()  # the set never grows beyond the threshold
            key = agg_key
            message = COMBINED_PREFIX + message
        else:
            key = (*obj, field_path, type, reason, message)
        # the logger
        seen = self._logs.get(key)
        if seen is not None:
            seen.count += 1
            observed = seen
        else:
            observed = _Log(1, now, f"{obj[2] or 'unknown'}.{time.time_ns():x}")
        self._logs.add(key, observed)
        # the spam filter, on what the two above made of the event
        bucket = self._spam.get(obj)
        if bucket is None:
            bucket = _Bucket(float(self.burst), t)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (t - bucket.at) * self.qps)
            bucket.at = t
        self._spam.add(obj, bucket)
        if bucket.tokens < 1.0:
            return None
        bucket.tokens -= 1.0
        return Correlated(key, observed.name, type, reason, message, observed.count,
                          observed.first, now, aggregate)


@dataclass
class _Pending:
    ev: Correlated
    ref: ObjectReference
    # no Event exists yet (the first occurrence, or one whose create failed and is retried)
    create: bool = False


class EventRecorder:
    def __init__(self, client: AsyncClient, component: str, host: str | None = None, *,
                 max_pending: int = 1000, correlator: EventCorrelator | None = None) -> None:
        self.client = client
        self.component = component
        self.host = host if host is not None else socket.gethostname()
        self.max_pending = max_pending
        self.correlator = correlator if correlator is not None else EventCorrelator()
        self._pending: OrderedDict[_Key, _Pending] = OrderedDict()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._backoff = Backoff(0.2, 5.0)
        self.dropped = 0  # lost to a full pending map or a rejected write
        self.filtered = 0  # dropped by the spam filter
        self.created = 0
        self.patched = 0

    # ---- the caller's side -----------------------------------------------------------

    def event(self, obj: TypedObject, type: EventType | str, reason: str, message: str, *,
              field_path: str | None = None) -> None:
        """Record an event about ``obj``; ``field_path`` names a part of it (the
        kubelet's ``spec.containers{name}``) as ``involvedObject.fieldPath``."""
        m = obj.metadata
        # Events about different parts of one object are different events (a Started of
        # container a is not a repeat of a Started of container b).
        ev = self.correlator.correlate((obj.kind, m.namespace, m.name, m.uid, obj.api_version),
                                       field_path, type, reason, message, timeutil.now())
        if ev is None:
            self.filtered += 1
            return
        p = self._pending.get(ev.key)
        if p is not None:
            p.ev = ev  # a repeat not written yet: one write carries both
        else:
            while len(self._pending) >= self.max_pending:
                self._pending.popitem(last=False)
                self.dropped += 1
            ref = ObjectReference(api_version=obj.api_version, kind=obj.kind, name=m.name,
                                  namespace=m.namespace, uid=m.uid,
                                  resource_version=m.resource_version, field_path=field_path)
            self._pending[ev.key] = _Pending(ev, ref, create=ev.count == 1)
        self._idle.clear()
        self._wake.set()
        self._ensure_started()

    def eventf(self, obj: TypedObject, type: EventType | str, reason: str, fmt: str,
               *args: object, field_path: str | None = None) -> None:
        self.event(obj, type, reason, fmt % args if args else fmt, field_path=field_path)

    @property
    def pending(self) -> int:
        return len(self._pending)

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._ensure_started()

    def _ensure_started(self) -> None:
        if self._task is not None and not self._task.done():
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: the events wait until start() runs inside one
        self._task = asyncio.create_task(self._run(), name=f"events-{self.component}")

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything recorded so far was written (or dropped)."""
        if self._idle.is_set():
            return True
        self._ensure_started()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 2.0) -> None:
        """Write what is pending (for at most ``timeout``), then stop."""
        await self.flush(timeout)
        task, self._task = self._task, None
        await cancel_and_wait([task])

    # ---- the writer ------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if not self._pending:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            key, p = self._pending.popitem(last=False)
            try:
                await self._write(p)
                self._backoff.reset()
            except asyncio.CancelledError:
                self._requeue(key, p)
                raise
            except _RETRYABLE as exc:
                self._requeue(key, p)
                delay = self._backoff.next()
                log.debug("events: API server unavailable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
            except ApiError as exc:
                self.dropped += 1
                log.warning("events: dropping %s %s for %s/%s: %s", p.ev.type, p.ev.reason,
                            p.ref.namespace, p.ref.name, exc)
            except Exception:
                self.dropped += 1
                log.exception("events: dropping %s %s", p.ev.type, p.ev.reason)

    def _requeue(self, key: _Key, p: _Pending) -> None:
        """Put an unwritten event back at the front, merged with newer repeats."""
        newer = self._pending.pop(key, None)
        if newer is not None:
            p.ev = newer.ev  # the newest count; still a create if this one was
        if len(self._pending) >= self.max_pending:
            self.dropped += 1
            return  # it is the oldest
        self._pending[key] = p
        self._pending.move_to_end(key, last=False)

    async def _write(self, p: _Pending) -> None:
        ev = p.ev
        ns = p.ref.namespace or "default"
        if not p.create:
            if await self._patch(ev, ns):
                return
            # expired or deleted: a new Event under the same name
        body = Event(
            metadata=ObjectMeta(name=ev.name, namespace=ns), involved_object=p.ref,
            reason=ev.reason, message=ev.message, type=ev.type, count=ev.count,
            first_timestamp=ev.first, last_timestamp=ev.last,
            source=EventSource(component=self.component, host=self.host),
        )
        if not ev.aggregate:  # client-go's aggregate copy leaves them out
            body.reporting_component = self.component
            body.reporting_instance = self.host
        try:
            await self.client.create(body)
        except AlreadyExists:
            # an earlier attempt went through after all: bring it up to date
            if not await self._patch(ev, ns):
                raise
            return
        self.created += 1

    async def _patch(self, ev: Correlated, ns: str) -> bool:
        try:
            await self.client.patch(Event, ev.name, {"count": ev.count, "lastTimestamp": ev.last,
                                                     "message": ev.message}, ns)
        except NotFound:
            return False
        self.patched += 1
        return True
