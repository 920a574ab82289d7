"""Helpers for the controller-manager tests: a fake kubelet that makes pods ready, a
binder, object builders, and starting the controller-manager process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from api import wellknown as wk
from api.models import Pod, PodStatus
from api.timeutil import format_time
from client import AsyncClient, Conflict, NotFound
from client.events import EventRecorder
from client.informer import Informer, SharedInformerFactory
from controllers.context import ControllerContext
from controllers.manager import Part
from testing.support import Process, service

P = TypeVar("P", bound=Part)


def start_controller_manager(server: str, *extra: str, name: str = "controller-manager"
                             ) -> Process:
    return service(name, "controllers", ["--server", server, *extra])


@contextlib.asynccontextmanager
async def in_process(client: AsyncClient, component: str,
                     make: Callable[[ControllerContext], P]) -> AsyncIterator[P]:
    """The controller ``make(ctx)`` builds, running in this process on informers and an event
    recorder (``component``) of its own, once the caches synced; stopped on exit."""
    recorder = EventRecorder(client, component=component)
    ctx = ControllerContext(client, SharedInformerFactory(client), recorder)
    ctl = make(ctx)
    recorder.start()
    await ctx.factory.start_all()
    assert await ctx.factory.wait_for_sync(timeout=10)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(stop)) for c in ctl.controllers]
    try:
        yield ctl
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        await ctx.factory.stop_all()
        await recorder.close()


def ready_status(pod: Pod) -> dict[str, Any]:
    now = format_time(datetime.now(UTC))
    return {
        "phase": "Running", "startTime": now, "podIP": "10.0.0.1",
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
            {"type": "Ready", "status": "True", "lastTransitionTime": now},
        ],
        "containerStatuses": [
            {"name": c.name, "ready": True, "restartCount": 0, "image": c.image,
             "started": True, "state": {"running": {"startedAt": now}}}
            for c in pod.spec.containers],
    }


def is_ready(pod: Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True"
               for c in (pod.status.conditions if pod.status else None) or [])


class FakeKubelet:
    """Marks every pod of a namespace Running and Ready (through pods/status) after
    ``delay`` seconds, and optionally binds unbound pods to a node chosen by ``node_for``.
    It runs no containers: the controllers under test only look at the API."""

    def __init__(self, client: AsyncClient, namespace: str, *, delay: float = 0.0,
                 node_for: Callable[[Pod], str | None] | None = None,
                 ready: Callable[[Pod], bool] | None = None) -> None:
        self.client = client
        self.namespace = namespace
        self.delay = delay
        self.node_for = node_for
        self.should_ready = ready or (lambda _p: True)
        self.informer: Informer[Pod] = Informer(client, Pod, namespace)
        self.informer.add_handler(self._seen, lambda _o, n: self._seen(n), None)
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()
        self.paused = False

    async def __aenter__(self) -> FakeKubelet:
        await self.informer.start()
        await self.informer.wait_for_sync(10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.informer.stop()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _seen(self, pod: Pod) -> None:
        uid = pod.metadata.uid or ""
        if pod.metadata.deletion_timestamp is not None or uid in self._busy or self.paused:
            return
        needs_bind = self.node_for is not None and not pod.spec.node_name
        if not needs_bind and (is_ready(pod) or not self.should_ready(pod)):
            return
        self._busy.add(uid)
        task = asyncio.create_task(self._handle(pod, needs_bind))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, pod: Pod, bind: bool) -> None:
        name, ns = pod.metadata.name or "", pod.metadata.namespace or ""
        try:
            if bind and self.node_for is not None:
                node = self.node_for(pod)
                if node is None:
                    return
                with contextlib.suppress(Conflict, NotFound):
                    await self.client.bind(name, ns, node, pod.metadata.uid)
                pod = pod.copy_deep()
                pod.spec.node_name = node
            if not self.should_ready(pod):
                return
            if self.delay:
                await asyncio.sleep(self.delay)
            for _ in range(5):
                try:
                    fresh = await self.client.get(Pod, name, ns)
                    if fresh.metadata.deletion_timestamp is not None or is_ready(fresh):
                        return
                    fresh.status = PodStatus.from_dict(ready_status(fresh))
                    await self.client.update_status(fresh)
                    return
                except Conflict:
                    continue
                except NotFound:
                    return
        finally:
            self._busy.discard(pod.metadata.uid or "")


class PodWatch:
    """Checks an invariant over the namespace's pods after every watch event."""

    def __init__(self, client: AsyncClient, ns: str) -> None:
        self.informer: Informer[Pod] = Informer(client, Pod, ns)
        self.informer.add_handler(self._check, lambda _o, _n: self._check(None),
                                  lambda _o: self._check(None))
        self.samples: list[tuple[int, int, set[str]]] = []

    def _check(self, _obj: Any) -> None:
        live = [p for p in self.informer.store.list() if p.metadata.deletion_timestamp is None]
        hashes = {(p.metadata.labels or {}).get(wk.POD_TEMPLATE_HASH_LABEL, "") for p in live}
        self.samples.append((len(live), sum(1 for p in live if is_ready(p)), hashes))

    async def __aenter__(self) -> PodWatch:
        await self.informer.start()
        await self.informer.wait_for_sync(10)
        self.samples.clear()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.informer.stop()
