"""The controller loop: N workers take keys from a rate-limited queue and reconcile them.

A reconcile that raises is logged with its key and retried with per-key backoff; no
error ever ends the loop. Informer handlers only enqueue keys (``enqueue_handlers`` for
the controller's own kind, ``enqueue_owner`` for the kinds it owns): the reconcile
function reads the current state from the cache, so a burst of events for one object
collapses into a single reconcile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from api.models import TypedObject
from api.podutil import controller_ref
from client.cache import Store, meta_key
from client.errors import ApiError
from client.tasks import cancel_and_wait
from client.workqueue import RateLimitingQueue, ShutDown

log = logging.getLogger(__name__)

T = TypeVar("T", bound=TypedObject)


@dataclass(frozen=True)
class Result:
    """What a reconcile asks for next: nothing, a rate-limited retry, or a retry after
    a fixed delay (``requeue_after`` wins when both are set)."""

    requeue: bool = False
    requeue_after: float | None = None


Reconcile = Callable[[str], Awaitable[Result | None]]


class Handlers(NamedTuple):
    """Positional order matches ``Informer.add_handler(on_add, on_update, on_delete)``."""

    on_add: Callable[[Any], object]
    on_update: Callable[[Any, Any], object]
    on_delete: Callable[[Any], object]


def owner_key(dependent: TypedObject, kind: str, owners: Store[T]) -> str | None:
    """The store key of the ``kind`` owner that ``dependent``'s controllerRef names, when the
    cache holds that owner with the referenced uid (a namesake made after the owner was
    deleted owns nothing; k8s resolveControllerRef)."""
    ref = controller_ref(dependent)
    if ref is None or ref.kind != kind:
        return None
    key = f"{dependent.metadata.namespace}/{ref.name}"
    owner = owners.get(key)
    return key if owner is not None and owner.metadata.uid == ref.uid else None


class EnqueueRequestForOwner:
    """Informer handlers for a kind the controller owns: each event enqueues the key of
    the owner, of kind ``kind``, that the object's controllerRef names
    (controller-runtime pkg/handler/enqueue_owner.go EnqueueRequestForOwner with
    OnlyControllerOwner; the owner is resolved against the ``owners`` cache as
    kube-controller-manager's resolveControllerRef does). ``only_controller=False``
    enqueues the other owners of that kind as well (EnqueueRequestForOwner without
    OnlyControllerOwner).

    An update whose controllerRef changed enqueues the old owner too. With
    ``orphan_owners``, an orphan (no controllerRef) enqueues every owner that might adopt
    it (the ReplicaSet and Deployment controllers' getPodReplicaSets /
    getDeploymentsForReplicaSet): when it is added and not being deleted, and when an
    update changed its labels or released it. A delete of something that is not an
    object (a tombstone) is ignored.

    Each handler returns the owner key it enqueued (None when there was none), for a
    controller that wraps them to keep its expectations; they only enqueue keys.
    """

    __slots__ = ("_owners", "_queue", "kind", "only_controller", "orphan_owners")

    def __init__(self, controller: Controller, kind: str, owners: Store[Any], *,
                 only_controller: bool = True,
                 orphan_owners: Callable[[Any], Iterable[TypedObject]] | None = None) -> None:
        self._queue = controller.queue
        self._owners = owners
        self.kind = kind
        self.only_controller = only_controller
        self.orphan_owners = orphan_owners

    def _enqueue_other_owners(self, obj: TypedObject) -> None:
        ns = obj.metadata.namespace
        for ref in obj.metadata.owner_references or ():
            if ref.kind == self.kind and not ref.controller:
                key = f"{ns}/{ref.name}"
                owner = self._owners.get(key)
                if owner is not None and owner.metadata.uid == ref.uid:
                    self._queue.add(key)

    def _enqueue_orphan(self, obj: TypedObject) -> None:
        if self.orphan_owners is not None:
            for owner in self.orphan_owners(obj):
                self._queue.add(meta_key(owner))

    def on_add(self, obj: Any) -> str | None:
        key = owner_key(obj, self.kind, self._owners)
        if key is not None:
            self._queue.add(key)
        elif controller_ref(obj) is None and obj.metadata.deletion_timestamp is None:
            self._enqueue_orphan(obj)
        if not self.only_controller:
            self._enqueue_other_owners(obj)
        return key

    def on_update(self, old: Any, new: Any) -> str | None:
        old_ref, new_ref = controller_ref(old), controller_ref(new)
        if old_ref is not None and (new_ref is None or new_ref.uid != old_ref.uid):
            old_key = owner_key(old, self.kind, self._owners)
            if old_key:
                self._queue.add(old_key)
        key = owner_key(new, self.kind, self._owners)
        if key is not None:
            self._queue.add(key)
        elif new_ref is None and (old.metadata.labels != new.metadata.labels or old_ref):
            self._enqueue_orphan(new)
        if not self.only_controller:
            self._enqueue_other_owners(old)
            self._enqueue_other_owners(new)
        return key

    def on_delete(self, obj: Any) -> str | None:
        if not isinstance(obj, TypedObject):
            return None
        key = owner_key(obj, self.kind, self._owners)
        if key is not None:
            self._queue.add(key)
        if not self.only_controller:
            self._enqueue_other_owners(obj)
        return key

    @property
    def handlers(self) -> Handlers:
        return Handlers(self.on_add, self.on_update, self.on_delete)


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

    def enqueue_owner(self, kind: str, owners: Store[Any], *, only_controller: bool = True,
                      orphan_owners: Callable[[Any], Iterable[TypedObject]] | None = None
                      ) -> EnqueueRequestForOwner:
        """Handlers for a kind this controller owns: events enqueue the owning ``kind``
        (see ``EnqueueRequestForOwner``)."""
        return EnqueueRequestForOwner(self, kind, owners, only_controller=only_controller,
                                      orphan_owners=orphan_owners)

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
        except ApiError as exc:
            # The API server's answer (a refused create, a conflict): one line, as client-go's
            # HandleError logs "error syncing KEY: ERR"; the retry comes rate-limited.
            self.errors += 1
            log.warning("%s: error reconciling %r (retry %d): %s", self.name, key,
                        self.queue.num_requeues(key) + 1, exc)
            self.queue.add_rate_limited(key)
            return
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
