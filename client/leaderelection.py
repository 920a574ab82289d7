"""Leader election on a coordination.k8s.io/v1 Lease, after client-go's leaderelection.

Every candidate polls the Lease every ``retry_period``. A lease counts as expired when
its record (holder, renewTime, resourceVersion) has not changed for its
leaseDurationSeconds *as observed locally*, so clock skew between hosts cannot make two
leaders. Writes are compare-and-swap on resourceVersion (a PUT carrying the version we
read), so of two candidates racing for an expired lease exactly one wins.

A leader that has not renewed successfully for ``renew_deadline`` stops acting at once
(its ``on_started_leading`` task is cancelled); since renew_deadline < lease_duration,
it has stopped before anyone else can consider the lease expired. Its deadline counts from
the moment it SENT its last successful acquire or renew, not from the answer: a slow or
delayed connection makes it step down sooner, never later than the others' clock allows.

A candidate waiting for someone else's lease polls every ``retry_period`` and, when the
lease would expire (as observed locally) before its next poll, polls at that moment
instead: a crashed leader's lease is taken over about lease_duration after its last
renewal, not up to a retry period later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable

from api import timeutil
from api.models import Lease, LeaseSpec, ObjectMeta
from client.errors import AlreadyExists, ApiError, Conflict, NotFound
from client.rest import AsyncClient

log = logging.getLogger(__name__)


class LeaderElector:
    def __init__(self, client: AsyncClient, *, namespace: str = "kube-system", name: str,
                 identity: str, lease_duration: float = 15, renew_deadline: float = 10,
                 retry_period: float = 2,
                 on_started_leading: Callable[[], Awaitable[None]],
                 on_stopped_leading: Callable[[], None] | None = None,
                 release_on_cancel: bool = True) -> None:
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.release_on_cancel = release_on_cancel
        self._leader = False
        self._observed: tuple[str | None, str | None, str | None] | None = None
        self._observed_at = 0.0
        self._observed_duration = lease_duration
        self.observed_holder: str | None = None
        self.transitions = 0  # times this elector became leader

    @property
    def is_leader(self) -> bool:
        return self._leader

    def __repr__(self) -> str:
        return f"LeaderElector({self.namespace}/{self.name}, identity={self.identity!r})"

    async def run(self) -> None:
        """Campaign, lead, and campaign again after losing the lease, until cancelled or
        until ``on_started_leading`` returns (then the lease is released and run returns;
        if it raised, run re-raises)."""
        while True:
            acquired_at = await self._acquire()
            finished = await self._lead(acquired_at)
            if finished:
                return

    # ---- campaign --------------------------------------------------------------------

    async def _acquire(self) -> float:
        """Campaign until the lease is ours: the monotonic time the winning request was
        sent (the lease's renewal happened after it)."""
        while True:
            attempt_at = time.monotonic()
            try:
                if await asyncio.wait_for(self._try_acquire_or_renew(), self.renew_deadline):
                    log.info("%r: acquired the lease", self)
                    return attempt_at
            except asyncio.CancelledError:
                raise
            except (ApiError, TimeoutError) as exc:
                log.info("%r: acquire attempt failed: %s", self, exc)
            await asyncio.sleep(self._next_poll())

    def _next_poll(self) -> float:
        delay = self.retry_period * random.uniform(1.0, 1.2)
        if self.observed_holder not in (None, "", self.identity):
            # a little after the lease expires as we saw it, if that comes first
            # (not when it has expired already: then the attempt failed, retry as usual)
            until_expiry = self._observed_at + self._observed_duration - time.monotonic()
            if 0 < until_expiry < delay:
                delay = until_expiry + 0.01
        return delay

    async def _lead(self, acquired_at: float) -> bool:
        """Act as leader until the lease is lost (False) or the work ended (True)."""
        self._leader = True
        self.transitions += 1
        last_renew = acquired_at
        work: asyncio.Future[None] = asyncio.ensure_future(self.on_started_leading())
        finished = False
        try:
            while True:
                deadline = last_renew + self.renew_deadline
                wait = min(self.retry_period, max(0.0, deadline - time.monotonic()))
                done, _ = await asyncio.wait({work}, timeout=wait)
                if done:
                    finished = True
                    break
                attempt_at = time.monotonic()
                remaining = deadline - attempt_at
                ok = False
                if remaining > 0:
                    try:
                        ok = await asyncio.wait_for(self._try_acquire_or_renew(), remaining)
                    except (ApiError, TimeoutError) as exc:
                        log.info("%r: renew failed: %s", self, exc)
                if ok:
                    # measured from before the request: the write happened after this
                    last_renew = attempt_at
                    continue
                if self.observed_holder not in (None, "", self.identity):
                    log.warning("%r: lease taken by %s", self, self.observed_holder)
                    break
                if time.monotonic() >= deadline:
                    log.warning("%r: failed to renew within %.1fs; stepping down", self,
                                self.renew_deadline)
                    break
        except asyncio.CancelledError:
            await self._step_down(work)
            if self.release_on_cancel:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._release(), self.retry_period)
            raise
        await self._step_down(work)
        if finished:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._release(), self.retry_period)
            failure = work.exception() if not work.cancelled() else None
            if failure is not None:
                raise failure
        return finished

    async def _step_down(self, work: asyncio.Future[None]) -> None:
        # Stop acting first (synchronously), then tell the owner.
        self._leader = False
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(work), self.retry_period)
        if self.on_stopped_leading is not None:
            try:
                self.on_stopped_leading()
            except Exception:
                log.exception("%r: on_stopped_leading failed", self)

    # ---- the CAS ---------------------------------------------------------------------

    def _observe(self, lease: Lease) -> None:
        spec = lease.spec
        record = (spec.holder_identity, spec.renew_time, lease.metadata.resource_version)
        if record != self._observed:
            self._observed = record
            self._observed_at = time.monotonic()
        self._observed_duration = float(spec.lease_duration_seconds or self.lease_duration)
        self.observed_holder = spec.holder_identity

    def _expired(self) -> bool:
        return time.monotonic() >= self._observed_at + self._observed_duration

    def _spec(self, now: str, acquire_time: str | None, transitions: int) -> LeaseSpec:
        return LeaseSpec(holder_identity=self.identity,
                         lease_duration_seconds=max(1, math.ceil(self.lease_duration)),
                         acquire_time=acquire_time, renew_time=now,
                         lease_transitions=transitions)

    async def _try_acquire_or_renew(self) -> bool:
        now = timeutil.now_micro()
        try:
            lease = await self.client.get(Lease, self.name, self.namespace)
        except NotFound:
            new = Lease(metadata=ObjectMeta(name=self.name, namespace=self.namespace),
                        spec=self._spec(now, now, 0))
            try:
                created = await self.client.create(new)
            except (AlreadyExists, Conflict):
                return False
            self._observe(created)
            return True
        self._observe(lease)
        holder = lease.spec.holder_identity
        if holder and holder != self.identity and not self._expired():
            return False
        new = lease.copy_deep()
        if holder == self.identity:
            new.spec = self._spec(now, lease.spec.acquire_time or now,
                                  lease.spec.lease_transitions or 0)
        else:
            new.spec = self._spec(now, now, (lease.spec.lease_transitions or 0) + 1)
        try:
            updated = await self.client.update(new)
        except Conflict:
            return False
        self._observe(updated)
        return True

    async def _release(self) -> None:
        """Hand the lease back so that a successor need not wait for it to expire."""
        lease = await self.client.get(Lease, self.name, self.namespace)
        if lease.spec.holder_identity != self.identity:
            return
        new = lease.copy_deep()
        new.spec.holder_identity = None
        new.spec.lease_duration_seconds = 1
        new.spec.renew_time = timeutil.now_micro()
        await self.client.update(new)
        log.info("%r: released the lease", self)
