"""The controller loop: N workers take keys from a rate-limited queue and reconcile them.

A reconcile that raises is logged with its key and retried with per-key backoff; no
error ever ends the loop. Informer handlers only enqueue keys (``enqueue_handlers``):
the reconcile function reads the current state from the cache, so a burst of events
for one object collapses into a single reconcile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from api.models import TypedObject
from client.cache import meta_key
from client.tasks import cancel_and_wait
from client.workqueue import RateLimitingQueue, ShutDown

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """What a reconcile asks for next: nothing, a rate-limited retry, or a retry after
    a fixed delay (``requeue_after`` wins when both are set)."""

    requeue: bool = False
    requeue_after: float | None = None


Reconcile = Callable[[str], Awaitable[Result | None]]


class Handlers(NamedTuple):
    """Positional order matches ``Informer.add_handler(on_add, on_update, on_delete)``."""

    on_add: Callable[[Any], None]
    on_update: Callable[[Any, Any], None]
    on_delete: Callable[[Any], None]


class Controller:
    def __init__(self, name: str, reconcile: Reconcile, *, workers: int = 2,
                 queue: RateLimitingQueue | None = None) -> None:
        self.name = name
        self.reconcile = reconcile
        self.workers = workers
        self.queue = queue or RateLimitingQueue(name)
        self.errors = 0
        self.reconciles = 0
        self._stopping = False

    def enqueue(self, key: str) -> None:
        self.queue.add(key)

    def enqueue_after(self, key: str, seconds: float) -> None:
        self.queue.add_after(key, seconds)

    def enqueue_object(self, obj: TypedObject) -> None:
        self.queue.add(meta_key(obj))

    def enqueue_handlers(self) -> Handlers:
        def on_add(obj: Any) -> None:
            self.queue.add(meta_key(obj))

        def on_update(old: Any, new: Any) -> None:
            self.queue.add(meta_key(new))

        def on_delete(obj: Any) -> None:
            self.queue.add(meta_key(obj))

        return Handlers(on_add, on_update, on_delete)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run the workers until ``stop`` is set (or forever); then let in-flight
        reconciles finish and return. Cancelling ``run`` cancels the workers at once."""
        self._stopping = False
        tasks = [asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}")
                 for i in range(self.workers)]
        cancelled = False
        try:
            if stop is None:
                await asyncio.gather(*tasks)
            else:
                await stop.wait()
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            # keys still queued are dropped: on restart the informers list again anyway
            self._stopping = True
            self.queue.shutdown()
            if cancelled:
                await cancel_and_wait(tasks)
            else:  # stop was set: in-flight reconciles finish first
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _worker(self) -> None:
        while not self._stopping:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                await self._process(key)
            finally:
                self.queue.done(key)

    async def _process(self, key: str) -> None:
        self.reconciles += 1
        try:
            result = await self.reconcile(key)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.errors += 1
            log.exception("%s: error reconciling %r (retry %d)", self.name, key,
                          self.queue.num_requeues(key) + 1)
            self.queue.add_rate_limited(key)
            return
        if result is None or (not result.requeue and result.requeue_after is None):
            self.queue.forget(key)
        elif result.requeue_after is not None:
            self.queue.forget(key)
            self.queue.add_after(key, result.requeue_after)
        else:
            self.queue.add_rate_limited(key)
