"""The TTL-after-finished controller: deletes a finished Job ``ttlSecondsAfterFinished``
after it finished (pkg/controller/ttlafterfinished/ttlafterfinished_controller.go).

A Job that has a TTL and a Complete or Failed condition is enqueued; ``reconcile`` works
out when it expires (the condition's lastTransitionTime plus the TTL) and either requeues
it for then, through the controller's clock, or, after checking the TTL again on a fresh
read from the server (the TTL may have been changed), deletes it with propagationPolicy
Foreground and a uid precondition, so the garbage collector removes its pods before the
Job goes.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from api.models.batch import JOB_COMPLETE, JOB_FAILED, Job
from api.timeutil import parse_time_or_none
from client import AsyncClient, NotFound
from client.cache import meta_key, split_key
from client.controller import Controller, Result
from controllers.clock import Clock, RealClock
from controllers.context import ControllerContext, retry_conflicts

log = logging.getLogger(__name__)


def needs_cleanup(job: Job) -> bool:
    """needsCleanup: a TTL is set and the Job has finished."""
    return job.spec.ttl_seconds_after_finished is not None and finish_time(job) is not None


def finish_time(job: Job) -> datetime | None:
    """jobFinishTime: the lastTransitionTime of the Complete or Failed condition."""
    for c in (job.status.conditions if job.status else None) or ():
        if c.type in (JOB_COMPLETE, JOB_FAILED) and c.status == "True":
            return parse_time_or_none(c.last_transition_time)
    return None


def expire_time(job: Job) -> datetime | None:
    """getFinishAndExpireTime's expiry: finish time plus the TTL (None: not to clean up)."""
    ttl = job.spec.ttl_seconds_after_finished
    done = finish_time(job)
    if ttl is None or done is None:
        return None
    return done + timedelta(seconds=ttl)


class TTLAfterFinishedController:
    name = "ttl-after-finished"

    def __init__(self, ctx: ControllerContext, workers: int = 5,
                 clock: Clock | None = None) -> None:
        self.client: AsyncClient = ctx.client
        self.clock: Clock = clock or RealClock()
        self.informer = ctx.factory.informer(Job)
        self.store = self.informer.store
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.informer.add_handler(self._job_seen, lambda _old, new: self._job_seen(new), None)
        self.deleted = 0

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    def _job_seen(self, job: Any) -> None:
        if job.metadata.deletion_timestamp is None and needs_cleanup(job):
            self.controller.enqueue(meta_key(job))

    def _time_left(self, job: Job) -> float | None:
        """processTTL: None when the Job is not to be cleaned up (being deleted, no TTL,
        not finished); otherwise the seconds until it expires (<= 0: now)."""
        if job.metadata.deletion_timestamp is not None:
            return None
        expires = expire_time(job)
        if expires is None:
            return None
        return (expires - self.clock.now()).total_seconds()

    async def reconcile(self, key: str) -> Result | None:
        job = self.store.get(key)
        if job is None:
            return None
        left = self._time_left(job)
        if left is None:
            return None
        if left > 0:
            self.clock.add_after(self.controller.queue, key, left)
            return None
        ns, name = split_key(key)
        # the TTL may have changed since the cache saw it: decide on a fresh read
        try:
            fresh = await self.client.get(Job, name, ns)
        except NotFound:
            return None
        left = self._time_left(fresh)
        if left is None:
            return None
        if left > 0:
            self.clock.add_after(self.controller.queue, key, left)
            return None
        log.info("cleaning up job %s (ttlSecondsAfterFinished %s)", key,
                 fresh.spec.ttl_seconds_after_finished)
        try:
            await self.client.delete(Job, name, ns, propagation_policy="Foreground",
                                     preconditions_uid=fresh.metadata.uid)
        except NotFound:
            return None
        self.deleted += 1
        return None
