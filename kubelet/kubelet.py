"""The kubelet of one node: pod workers, runtime observation, cleanup and API writes.

Desired state comes in through ``on_pod`` / ``on_pod_deleted`` (fed by an informer
on pods with ``spec.nodeName=<node>``); actual state comes from the runtime, which is
listed by label, so everything can be rebuilt after a restart of the kubelet or of
the daemon. The runtime's event stream wakes the worker of the pod concerned; a
periodic relist catches anything the stream missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from api.models import Pod
from client.backoff import KeyedBackoff
from client.errors import Conflict, NotFound
from client.rest import AsyncClient
from client.tasks import cancel_and_wait
from kubelet import tokens
from kubelet.configsources import ConfigSource
from kubelet.dns import ClusterDNSSettings
from kubelet.images import ImageManager, PullSettings
from kubelet.metrics import KubeletMetrics
from kubelet.podworker import PodWorker
from kubelet.runtime.base import LABEL_GRACE, ContainerInfo, ContainerRuntime, RuntimeUnavailable

log = logging.getLogger(__name__)

EventFn = Callable[[Pod, str, str, str, str | None], None]

# Runtime events that change what a pod worker sees (exec_* from probes do not).
_WAKING_ACTIONS = {"start", "die", "oom", "destroy", "kill", "stop", "create"}


@dataclass
class KubeletConfig:
    node_name: str
    node_ip: str = "127.0.0.1"
    port: int = 10250
    backoff_base: float = 10.0
    backoff_cap: float = 300.0
    resync_seconds: float = 60.0  # a worker's own safety-net resync
    relist_seconds: float = 5.0  # the runtime relist that catches missed events
    cpu: str | None = None
    memory: str | None = None
    max_pods: int = 110
    root_dir: str = "/var/lib/minik8s"
    lease_seconds: int = 40
    heartbeat_seconds: float = 10.0  # Lease renewal (and runtime health check) period
    parallel_pod_starts: int = 8
    watch_runtime_events: bool = True
    # --cluster-dns, --cluster-domain, --resolv-conf (KubeletConfiguration clusterDNS,
    # clusterDomain, resolvConf): the pods' resolv.conf, kubelet/dns.py
    dns: ClusterDNSSettings = field(default_factory=ClusterDNSSettings)
    # --serialize-image-pulls, --max-parallel-image-pulls, --image-pull-progress-deadline
    # (kubelet/images.py); the image back-off is backoff_base doubling to backoff_cap.
    serialize_image_pulls: bool = True
    max_parallel_image_pulls: int | None = None
    image_pull_progress_deadline: float = 60.0


class Kubelet:
    def __init__(self, client: AsyncClient, runtime: ContainerRuntime, config: KubeletConfig,
                 event_fn: EventFn | None = None, metrics: KubeletMetrics | None = None) -> None:
        self.client = client
        self.runtime = runtime
        self.config = config
        self.node_name = config.node_name
        self.node_ip = config.node_ip
        self.crash_backoff = KeyedBackoff(config.backoff_base, config.backoff_cap)
        # One pull manager for the node's pods: single-flight pulls, a back-off per image.
        self.images = ImageManager(runtime, PullSettings(
            serialize=config.serialize_image_pulls, max_parallel=config.max_parallel_image_pulls,
            progress_deadline=config.image_pull_progress_deadline,
            backoff_base=config.backoff_base, backoff_cap=config.backoff_cap))
        self.workers: dict[str, PodWorker] = {}
        self.metrics = metrics
        self.start_gate = asyncio.Semaphore(max(1, config.parallel_pod_starts))
        # Pods whose worker finished (terminated and deleted): a late update must not
        # bring them back. uid -> monotonic time of finishing.
        self._finished: dict[str, float] = {}
        self._event_fn = event_fn
        self._synced = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._fingerprints: dict[str, tuple[tuple[str, str], ...]] = {}
        self.runtime_ready = True
        self._relist_now = asyncio.Event()

    # ---- desired state ---------------------------------------------------

    def on_pod(self, pod: Pod) -> None:
        if pod.spec.node_name != self.node_name:
            return
        uid = pod.metadata.uid or ""
        w = self.workers.get(uid)
        if w is not None:
            w.update(pod)
            return
        if uid in self._finished:
            return
        w = PodWorker(self, pod)
        self.workers[uid] = w
        w.start()

    def on_pod_deleted(self, pod: Pod) -> None:
        uid = pod.metadata.uid or ""
        w = self.workers.get(uid)
        if w is not None:
            w.mark_deleted()
        else:
            self._relist_now.set()  # its containers (if any) are orphans now

    def mark_synced(self) -> None:
        """The informer has listed: containers of pods it does not know are orphans."""
        self._synced = True
        self._relist_now.set()

    def worker_done(self, w: PodWorker) -> None:
        if self.workers.get(w.uid) is w:
            del self.workers[w.uid]
        self._finished[w.uid] = time.monotonic()
        cutoff = time.monotonic() - 600
        for uid, t in list(self._finished.items()):
            if t < cutoff:
                del self._finished[uid]

    # ---- the pod workers' host (podworker.PodHost) --------------------------

    @property
    def pull_backoff(self) -> KeyedBackoff:
        """The image pull back-off, one entry per image (shared by the node's pods)."""
        return self.images.backoff

    def config_source(self, namespace: str) -> ConfigSource:
        return ConfigSource(self.client, namespace)

    async def runtime_containers(self, pod_uid: str) -> list[ContainerInfo]:
        return await self.runtime.list_containers(self.node_name, pod_uid)

    def record_event(self, pod: Pod, type_: str, reason: str, message: str,
                     field_path: str | None = None) -> None:
        if self._event_fn is not None:
            try:
                self._event_fn(pod, type_, reason, message, field_path)
            except Exception:
                log.exception("recording event %s", reason)

    def forget_pod(self, pod: Pod) -> None:
        """Drop the back-off state of a pod that is gone."""
        uid = pod.metadata.uid or ""
        tokens.forget(uid)
        for c in [*(pod.spec.init_containers or []), *pod.spec.containers,
                  *(pod.spec.ephemeral_containers or [])]:
            self.crash_backoff.reset(f"{uid}/{c.name}")

    async def patch_status(self, pod: Pod, patch: dict[str, Any]) -> None:
        try:
            await self.client.patch(Pod, pod.metadata.name or "", patch, pod.metadata.namespace,
                                    subresource="status")
        except NotFound:
            w = self.workers.get(pod.metadata.uid or "")
            if w is not None:
                w.mark_deleted()

    async def delete_pod(self, pod: Pod) -> None:
        """The final delete: the containers are gone, so the object may go at once."""
        try:
            await self.client.delete(Pod, pod.metadata.name or "", pod.metadata.namespace,
                                     grace_period_seconds=0, preconditions_uid=pod.metadata.uid)
        except (NotFound, Conflict):
            pass

    # ---- actual state ----------------------------------------------------

    async def relist(self) -> None:
        """List the node's containers: wake workers whose containers changed, remove orphans."""
        try:
            containers = await self.runtime.list_containers(self.node_name)
        except RuntimeUnavailable:
            self.runtime_ready = False
            raise
        self.runtime_ready = True
        by_pod: dict[str, list[ContainerInfo]] = {}
        for c in containers:
            by_pod.setdefault(c.pod_uid, []).append(c)
        fps: dict[str, tuple[tuple[str, str], ...]] = {}
        for uid, cs in by_pod.items():
            fps[uid] = tuple(sorted((c.id, c.state) for c in cs))
        for uid, w in self.workers.items():
            if fps.get(uid) != self._fingerprints.get(uid):
                w.wake()
        self._fingerprints = fps
        if not self._synced:
            return
        for uid, cs in by_pod.items():
            if uid in self.workers:
                continue
            await self._remove_orphan(uid, cs)

    async def _remove_orphan(self, uid: str, cs: list[ContainerInfo]) -> None:
        """Containers of a pod this node no longer has (deleted while the kubelet was down)."""
        log.info("removing %d containers of deleted pod %s", len(cs), uid)
        running = [c for c in cs if c.running and not c.is_sandbox]
        await asyncio.gather(*(self.runtime.stop_container(c.id, _grace(c)) for c in running),
                             return_exceptions=True)
        for c in cs:
            with contextlib.suppress(Exception):
                await self.runtime.stop_container(c.id, 0)
                await self.runtime.remove_container(c.id)
        await self.runtime.remove_pod_dirs(uid)

    async def _relist_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._relist_now.wait(), self.config.relist_seconds)
            self._relist_now.clear()
            try:
                await self.relist()
            except RuntimeUnavailable as exc:
                log.warning("relist: %s", exc)
            except Exception:
                log.exception("relist failed")

    async def _event_loop(self) -> None:
        while True:
            try:
                async for uid, action in self.runtime.watch_events(self.node_name):
                    if not uid:
                        # (Re)connected or lost: what happened meanwhile comes from a relist.
                        self.runtime_ready = action == "reconnected"
                        self._relist_now.set()
                        continue
                    if action.split(":")[0] in _WAKING_ACTIONS:
                        w = self.workers.get(uid)
                        if w is not None:
                            w.wake()
                        else:
                            self._relist_now.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("runtime event stream failed; restarting it")
                await asyncio.sleep(1)

    # ---- run -------------------------------------------------------------

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._relist_loop(), name=f"relist-{self.node_name}"))
        if self.config.watch_runtime_events:
            self._tasks.append(asyncio.create_task(self._event_loop(),
                                                   name=f"rt-events-{self.node_name}"))

    async def stop(self) -> None:
        """Stop the kubelet's own tasks; containers keep running (a restart adopts them)."""
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        await asyncio.gather(*(w.stop() for w in list(self.workers.values())))
        self.workers.clear()
        await self.images.close()

    def pods(self) -> list[Pod]:
        return [w.pod for w in self.workers.values()]

    def phase_counts(self) -> dict[str, int]:
        """Pods of this node by the phase last written (workers not yet synced: Pending)."""
        out: dict[str, int] = {}
        for w in self.workers.values():
            phase = w.phase or "Pending"
            out[phase] = out.get(phase, 0) + 1
        return out


def _grace(c: ContainerInfo) -> int:
    try:
        return int(c.labels.get(LABEL_GRACE, "30"))
    except ValueError:
        return 30
