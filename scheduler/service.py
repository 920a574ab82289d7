"""The scheduler service: informers feed the cache and the queue; one loop decides; bindings
go out asynchronously.

Flow for one pod: the pod informer sees it pending -> ``SchedulingQueue`` -> the loop pops
it and runs the framework's cycle over the cache's live NodeInfos (synchronous, well
under a millisecond, so it never holds the event loop for long) -> the pod is assumed on
the chosen node -> a task POSTs pods/<name>/binding (many in flight at once) -> the pod
informer sees spec.nodeName and the assumption becomes a confirmed pod.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from api.models import Node, Pod
from api.timeutil import now
from client.errors import Conflict, NotFound
from client.rest import AsyncClient
from scheduler.cache import SchedulerCache
from scheduler.framework import Framework, NodeInfo, PodInfo
from scheduler.queue import QueuedPod, SchedulingQueue

log = logging.getLogger(__name__)

DEFAULT_SCHEDULER_NAME = "default-scheduler"
COMPONENT = "default-scheduler"  # events' source.component, as kube-scheduler writes it
TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


class EventSink(Protocol):
    """What the scheduler needs of an event recorder: fire and forget."""

    def __call__(self, obj: Pod, type_: str, reason: str, message: str, /) -> None: ...


def _terminal(pod: Pod) -> bool:
    return pod.status is not None and pod.status.phase in TERMINAL_PHASES


def _gated(pod: Pod) -> bool:
    """spec.schedulingGates (not modelled: kept as an extra field) hold a pod back."""
    extra = pod.spec.model_extra or {}
    return bool(extra.get("schedulingGates"))


def _key(pod: Pod) -> str:
    return f"{pod.metadata.namespace or 'default'}/{pod.metadata.name}"


def _scheduling_view(pod: Pod) -> tuple[Any, ...]:
    """What an update must change to be worth a new try (k8s ignores status-only updates)."""
    m = pod.metadata
    return (pod.spec, pod.spec.model_extra, m.labels, m.owner_references, m.deletion_timestamp)


def _node_view(ni: NodeInfo) -> tuple[Any, ...]:
    return (ni.labels, ni.alloc_cpu, ni.alloc_memory, ni.alloc_pods, ni.unschedulable,
            ni.ready, ni.hard_taints)


@dataclass
class Stats:
    attempts: int = 0
    scheduled: int = 0
    unschedulable: int = 0
    bind_errors: int = 0
    bound: int = 0
    cycle_seconds: float = 0.0  # CPU time spent in the framework's cycles
    extra: dict[str, int] = field(default_factory=dict)


class Scheduler:
    def __init__(self, client: AsyncClient, framework: Framework, *,
                 scheduler_name: str = DEFAULT_SCHEDULER_NAME,
                 events: EventSink | None = None, bind_concurrency: int = 64,
                 queue: SchedulingQueue | None = None) -> None:
        self.client = client
        self.framework = framework
        self.scheduler_name = scheduler_name
        self.events = events
        self.cache = SchedulerCache()
        self.queue = queue or SchedulingQueue()
        self.stats = Stats()
        self._bind_slots = asyncio.Semaphore(bind_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: dict[str, Pod] = {}  # unassigned pods this scheduler is responsible for
        self.active = False  # True while this replica leads and makes decisions

    # ---- informer handlers: they only update the cache and the queue ---------------

    def responsible_for(self, pod: Pod) -> bool:
        name = pod.spec.scheduler_name
        return not name or name == self.scheduler_name

    def on_pod_add(self, pod: Pod) -> None:
        key = _key(pod)
        if pod.spec.node_name:
            self._pending.pop(key, None)
            self.queue.delete(key)
            if _terminal(pod):
                if self.cache.remove_pod(key):
                    self.queue.move_all("AssignedPodTerminated")
            else:
                self.cache.add_pod(PodInfo(pod), pod.spec.node_name)
            return
        if not self.responsible_for(pod) or _terminal(pod) or pod.metadata.deletion_timestamp:
            self._pending.pop(key, None)
            self.queue.delete(key)
            return
        self._pending[key] = pod
        if self.cache.is_assumed(key):
            return  # its binding is in flight; the informer will confirm it
        if _gated(pod):
            self.queue.delete(key)  # until its last gate is removed (an update)
            return
        self.queue.add(PodInfo(pod))

    def on_pod_update(self, old: Pod, new: Pod) -> None:
        key = _key(new)
        if not new.spec.node_name and self.queue.where(key) == "unschedulable" \
                and _scheduling_view(old) == _scheduling_view(new):
            self._pending[key] = new  # e.g. our own PodScheduled=False status: not a reason
            return
        self.on_pod_add(new)

    def on_pod_delete(self, pod: Pod) -> None:
        key = _key(pod)
        self._pending.pop(key, None)
        self.queue.delete(key)
        if self.cache.remove_pod(key):
            self.queue.move_all("AssignedPodDelete")

    def on_node_add(self, node: Node) -> None:
        self.cache.add_node(node)
        self.queue.move_all("NodeAdd")

    def on_node_update(self, old: Node, new: Node) -> None:
        before = self.cache.nodes.get(new.metadata.name or "")
        view = _node_view(before) if before is not None and before.node is not None else None
        ni = self.cache.update_node(new)
        if _node_view(ni) != view:
            self.queue.move_all("NodeUpdate")

    def on_node_delete(self, node: Node) -> None:
        self.cache.remove_node(node.metadata.name or "")

    # ---- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        """Decide until cancelled (the caller cancels on lost leadership)."""
        self.active = True
        log.info("scheduling: %d nodes, %d pods counted, %d pending", self.cache.node_count(),
                 self.cache.pod_count(), len(self.queue))
        timers = asyncio.create_task(self.queue.run(), name="scheduling-queue-timers")
        try:
            while True:
                qp = await self.queue.pop()
                self.schedule_one(qp)
                await asyncio.sleep(0)  # let watch events and bindings through between cycles
        finally:
            # Stop acting at once (lost leadership, shutdown): no binding of ours may
            # land after another replica has started deciding.
            self.active = False
            timers.cancel()
            for task in list(self._tasks):
                task.cancel()

    def schedule_one(self, qp: QueuedPod) -> None:
        info = qp.info
        key = info.key
        if key not in self._pending or self.cache.is_assumed(key) \
                or self.cache.node_of(key) is not None:
            self.queue.done(key)  # deleted, bound, or already on its way
            return
        self.stats.attempts += 1
        t0 = time.thread_time()  # CPU, not wall time: the same on a busy machine
        result = self.framework.schedule(info, self.cache.snapshot)
        self.stats.cycle_seconds += time.thread_time() - t0
        if result.node is None:
            self.stats.unschedulable += 1
            self.queue.add_unschedulable(qp)
            log.info("pod %s unschedulable: %s", key, result.message)
            self._spawn(self._record_failure(info.pod, result.message))
            return
        self.cache.assume(info, result.node)
        self.queue.done(key)
        self.stats.scheduled += 1
        self._spawn(self._bind(qp, result.node))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bind(self, qp: QueuedPod, node: str) -> None:
        info = qp.info
        key = info.key
        async with self._bind_slots:
            try:
                for f in self.framework.filters:
                    pre_bind = getattr(f, "pre_bind", None)  # VolumeBinding's PreBind
                    if pre_bind is not None and f.relevant(info):
                        await pre_bind(self.client, info, node)
                await self.client.bind(info.name, info.namespace, node, info.pod.metadata.uid)
            except asyncio.CancelledError:
                self.cache.forget(key, info.uid)
                pending = self._pending.get(key)
                if pending is not None:
                    self.queue.add(PodInfo(pending))  # for the next leader term
                raise
            except Exception as exc:
                self.cache.forget(key, info.uid)
                # What the assumption held is free again: parked pods may fit now.
                self.queue.move_all("AssumedPodForgotten")
                self.stats.bind_errors += 1
                # NotFound / Conflict: gone, re-created, or bound meanwhile (by another
                # replica around a leadership change); anything else: a failure to retry.
                refused = isinstance(exc, (NotFound, Conflict))
                log.log(logging.INFO if refused else logging.WARNING,
                        "binding %s to %s failed: %s", key, node, exc)
                pending = self._pending.get(key)
                if pending is not None and not pending.spec.node_name and self.active:
                    # Still waiting for a node as far as we know: try again after backoff
                    # (if it was bound elsewhere, the informer soon removes it).
                    qp.info = PodInfo(pending)
                    self.queue.add_backoff(qp)
                if not refused:
                    self._emit(info.pod, "Warning", "FailedScheduling",
                               f"Binding rejected: {exc}")
                return
        self.cache.finish_binding(key)
        self.stats.bound += 1
        self._emit(info.pod, "Normal", "Scheduled",
                   f"Successfully assigned {key} to {node}")

    def _emit(self, pod: Pod, type_: str, reason: str, message: str) -> None:
        if self.events is not None:
            try:
                self.events(pod, type_, reason, message)
            except Exception:  # events are best effort; never let one break a decision
                log.exception("recording event %s for %s", reason, _key(pod))

    async def _record_failure(self, pod: Pod, message: str) -> None:
        """Warning event, and PodScheduled=False (Unschedulable) with the message.

        The status write carries the resourceVersion we last saw, so it can never land on
        a pod that was bound (or otherwise changed) meanwhile; on a conflict it re-reads
        the pod and tries again while the pod is still waiting for a node.
        """
        self._emit(pod, "Warning", "FailedScheduling", message)
        key = _key(pod)
        current: Pod | None = self._pending.get(key, pod)
        for _ in range(3):
            if current is None or current.spec.node_name or key not in self._pending \
                    or self.cache.is_assumed(key) or not self.active:
                return
            conditions = list(current.status.conditions or ()) if current.status else []
            for c in conditions:
                if c.type == "PodScheduled" and c.status == "False" and \
                        c.reason == "Unschedulable" and c.message == message:
                    return  # already says so: don't rewrite the pod on every retry
            new = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                   "message": message, "lastTransitionTime": now(), "lastProbeTime": None}
            kept = [c.to_dict() for c in conditions if c.type != "PodScheduled"]
            patch = {"metadata": {"resourceVersion": current.metadata.resource_version},
                     "status": {"conditions": [*kept, new]}}
            try:
                await self.client.patch(Pod, pod.metadata.name or "", patch,
                                        pod.metadata.namespace, subresource="status")
                return
            except NotFound:
                return
            except Conflict:
                try:
                    current = await self.client.get(Pod, pod.metadata.name or "",
                                                    pod.metadata.namespace)
                except NotFound:
                    return
                if current.metadata.uid != pod.metadata.uid:
                    return
            except Exception as exc:
                log.warning("updating status of %s: %s", key, exc)
                return

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for in-flight bindings and status updates (shutdown, tests)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)


