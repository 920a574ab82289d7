"""The event recorder: core/v1 Events written in the background, repeats aggregated.

``event()`` never blocks and never fails: it folds the event into a bounded pending
map keyed by (object, fieldPath, type, reason, message) and returns. A background task writes
them: the first occurrence is a new Event, later ones PATCH its count and
lastTimestamp. While the API server is unreachable the pending map stops growing at
``max_pending`` and the oldest entries are dropped, so a long outage costs bounded memory.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from api import timeutil
from api.models import Event, EventSource, ObjectMeta, ObjectReference, TypedObject
from client.backoff import Backoff
from client.errors import ApiError, NotFound, ServerError, ServerUnavailable, TooManyRequests
from client.rest import AsyncClient
from client.tasks import cancel_and_wait

log = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]
# (kind, namespace, name, uid, fieldPath, type, reason, message)
_Key = tuple[str | None, str | None, str | None, str | None, str | None, str, str, str]
_RETRYABLE = (ServerUnavailable, ServerError, TooManyRequests)


@dataclass
class _Pending:
    ref: ObjectReference
    type: str
    reason: str
    message: str
    count: int
    first: str
    last: str


@dataclass
class _Written:
    name: str
    namespace: str
    count: int


class EventRecorder:
    def __init__(self, client: AsyncClient, component: str, host: str | None = None, *,
                 max_pending: int = 1000, max_known: int = 4096) -> None:
        self.client = client
        self.component = component
        self.host = host if host is not None else socket.gethostname()
        self.max_pending = max_pending
        self.max_known = max_known
        self._pending: OrderedDict[_Key, _Pending] = OrderedDict()
        self._known: OrderedDict[_Key, _Written] = OrderedDict()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._backoff = Backoff(0.2, 5.0)
        self.dropped = 0
        self.created = 0
        self.patched = 0

    # ---- the caller's side -----------------------------------------------------------

    def event(self, obj: TypedObject, type: EventType | str, reason: str, message: str, *,
              field_path: str | None = None) -> None:
        """Record an event about ``obj``; ``field_path`` names a part of it (the
        kubelet's ``spec.containers{name}``) as ``involvedObject.fieldPath``."""
        m = obj.metadata
        ref = ObjectReference(api_version=obj.api_version, kind=obj.kind, name=m.name,
                              namespace=m.namespace, uid=m.uid,
                              resource_version=m.resource_version, field_path=field_path)
        # Events about different parts of one object are different events (a Started of
        # container a is not a repeat of a Started of container b).
        key: _Key = (ref.kind, ref.namespace, ref.name, ref.uid, field_path, type, reason,
                     message)
        now = timeutil.now()
        p = self._pending.get(key)
        if p is not None:
            p.count += 1
            p.last = now
        else:
            while len(self._pending) >= self.max_pending:
                self._pending.popitem(last=False)
                self.dropped += 1
            self._pending[key] = _Pending(ref, type, reason, message, 1, now, now)
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
                await self._write(key, p)
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
                log.warning("events: dropping %s %s for %s/%s: %s", p.type, p.reason,
                            p.ref.namespace, p.ref.name, exc)
            except Exception:
                log.exception("events: dropping %s %s", p.type, p.reason)

    def _requeue(self, key: _Key, p: _Pending) -> None:
        """Put an unwritten event back at the front, merged with newer repeats."""
        newer = self._pending.pop(key, None)
        if newer is not None:
            p.count += newer.count
            p.last = newer.last
        if len(self._pending) >= self.max_pending:
            self.dropped += 1
            return  # it is the oldest
        self._pending[key] = p
        self._pending.move_to_end(key, last=False)

    async def _write(self, key: _Key, p: _Pending) -> None:
        known = self._known.get(key)
        if known is not None:
            count = known.count + p.count
            try:
                await self.client.patch(Event, known.name,
                                        {"count": count, "lastTimestamp": p.last},
                                        known.namespace)
            except NotFound:
                pass  # expired or deleted: start a new Event
            else:
                known.count = count
                self._known.move_to_end(key)
                self.patched += 1
                return
        ns = p.ref.namespace or "default"
        name = f"{p.ref.name or 'unknown'}.{time.time_ns():x}"
        ev = Event(
            metadata=ObjectMeta(name=name, namespace=ns), involved_object=p.ref,
            reason=p.reason, message=p.message, type=p.type, count=p.count,
            first_timestamp=p.first, last_timestamp=p.last,
            source=EventSource(component=self.component, host=self.host),
            reporting_component=self.component, reporting_instance=self.host,
        )
        await self.client.create(ev)
        self.created += 1
        self._known[key] = _Written(name, ns, p.count)
        while len(self._known) > self.max_known:
            self._known.popitem(last=False)
