"""One worker per pod: brings the runtime's containers in line with the pod's spec.

A worker wakes up when its pod changes, when the runtime reports an event for one of
its containers, when a probe verdict flips, when a back-off expires, or on the
periodic relist; each wake-up runs one ``sync``. Workers are independent asyncio
tasks, so a slow pull or a long grace period holds up only its own pod. A worker sees
its kubelet only through ``PodHost`` (the runtime, shared back-offs, status and event
writes), and what it asks the runtime to create comes from kubelet/containerconfig.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

from api.models import Container, Pod
from api.podutil import qos_class
from api.timeutil import now
from client.backoff import KeyedBackoff, exponential
from client.tasks import cancel_and_wait
from kubelet import tokens
from kubelet.configsources import ConfigError, ConfigSource
from kubelet.configvolumes import MountError, is_config_volume, setup_volumes
from kubelet.containerconfig import container_config, sandbox_config
from kubelet.dns import MISSING_CLUSTER_DNS, ClusterDNSSettings, pod_dns
from kubelet.images import ImageManager
from kubelet.metrics import KubeletMetrics
from kubelet.prober import ProbeWorker
from kubelet.runtime.base import (
    ContainerCreateError,
    ContainerInfo,
    ContainerRuntime,
    ImagePullError,
    RuntimeUnavailable,
    SandboxInfo,
    normalize_image,
)
from kubelet.status import ContainerView, build_status, comparable, container_status

log = logging.getLogger(__name__)

T = TypeVar("T")

NORMAL = "Normal"
WARNING = "Warning"
RESET_AFTER_RUNNING = 600.0  # a container that ran this long restarts without back-off
CONFIG_RETRY_SECONDS = 2.0  # a missing ConfigMap/Secret is looked for again this often


def pull_policy(c: Container) -> str:
    if c.image_pull_policy:
        return c.image_pull_policy
    image = c.image or ""
    last = image.rsplit("/", 1)[-1]
    if "@" in image:
        return "IfNotPresent"
    return "Always" if ":" not in last or last.endswith(":latest") else "IfNotPresent"


def display_image(image: str) -> str:
    return normalize_image(image)


# MissingClusterDNS is logged once per process (see kubelet/dns.py).
_missing_dns_logged: list[bool] = []


class WorkerConfig(Protocol):
    """The kubelet settings a pod worker reads (KubeletConfig has them)."""

    @property
    def resync_seconds(self) -> float: ...

    @property
    def backoff_base(self) -> float: ...

    @property
    def root_dir(self) -> str: ...

    @property
    def dns(self) -> ClusterDNSSettings: ...


class PodHost(Protocol):
    """What a pod worker needs from its kubelet, and nothing more: Kubelet implements it.

    The runtime, the node's names, the back-offs and caches shared by the node's pods,
    the gate of parallel pod starts, and the kubelet's writes (status, events, the final
    delete). A worker never sees the other workers or the kubelet's loops.
    """

    @property
    def config(self) -> WorkerConfig: ...

    @property
    def node_name(self) -> str: ...

    @property
    def node_ip(self) -> str: ...

    @property
    def runtime(self) -> ContainerRuntime: ...

    @property
    def metrics(self) -> KubeletMetrics | None: ...

    @property
    def crash_backoff(self) -> KeyedBackoff: ...

    @property
    def images(self) -> ImageManager:
        """The node's image pull manager."""
        ...

    @property
    def start_gate(self) -> asyncio.Semaphore: ...

    def config_source(self, namespace: str) -> ConfigSource:
        """ConfigMaps and Secrets of ``namespace``, read through the API server."""
        ...

    async def runtime_containers(self, pod_uid: str) -> list[ContainerInfo]: ...

    def record_event(self, pod: Pod, type_: str, reason: str, message: str,
                     field_path: str | None = None) -> None: ...

    async def patch_status(self, pod: Pod, patch: dict[str, Any]) -> None: ...

    async def delete_pod(self, pod: Pod) -> None: ...

    def forget_pod(self, pod: Pod) -> None:
        """Drop the back-off state of a pod that is gone."""
        ...

    def worker_done(self, worker: PodWorker) -> None: ...


class PodTerminating(Exception):
    """The pod began terminating while a sync waited on something slow."""


def _same_desired_state(old: Pod, new: Pod) -> bool:
    """Nothing a sync acts on differs between two versions of a pod, only its status. Each
    status write comes back as an update: waking the worker for it would sync every pod
    once more per write (on a node flooded with failing pulls, a storm of useless syncs)."""
    a, b = old.metadata, new.metadata
    return (a.deletion_timestamp == b.deletion_timestamp
            and a.deletion_grace_period_seconds == b.deletion_grace_period_seconds
            and a.labels == b.labels and a.annotations == b.annotations
            and old.spec == new.spec)


def _newest_first(containers: list[ContainerInfo], name: str) -> list[ContainerInfo]:
    return sorted((c for c in containers if c.container_name == name),
                  key=lambda c: (c.restart_count, c.created_at), reverse=True)


class PodWorker:
    def __init__(self, host: PodHost, pod: Pod) -> None:
        self.host = host
        self.pod = pod
        self.uid = pod.metadata.uid or ""
        self.deleted = False  # the pod object is gone from the API server
        self.done = False
        self._wake = asyncio.Event()
        self._terminating = asyncio.Event()
        self._wake_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._probes: dict[tuple[str, str], ProbeWorker] = {}  # (container, kind)
        self._create_errors: dict[str, tuple[str, float]] = {}  # container -> (msg, at)
        self._backoff_reported: dict[str, float] = {}
        # images made present (or failed) before a first start, within one sync
        self._prefetched: dict[str, ImagePullError | None] = {}
        # The last sync found no container and made none, for want of an image: the pod
        # still has none (only this worker makes them), so the next sync need not ask the
        # runtime (a node flooded with such pods would list containers for each, each step).
        self._none_for_images = False
        self._last_status: dict[str, Any] | None = None
        self._ephemeral_written: list[dict[str, Any]] | None = None
        self._start_time: str | None = (pod.status.start_time if pod.status else None)
        self._sandbox_ip: str | None = (pod.status.pod_ip if pod.status else None)
        self.last_sync_error: str | None = None
        # when this worker began, for the start-up latency metric (None once observed, or
        # for pods that were already running when the kubelet started)
        self._born: float | None = (time.monotonic() if not (pod.status and pod.status.phase)
                                       or pod.status.phase == "Pending" else None)

    # ---- lifecycle -------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"pod-{self.key}")

    @property
    def key(self) -> str:
        return f"{self.pod.metadata.namespace}/{self.pod.metadata.name}"

    def update(self, pod: Pod) -> None:
        old, self.pod = self.pod, pod
        if self.terminating():
            self._terminating.set()
        if _same_desired_state(old, pod):
            return  # only the status moved: most often the write this worker just made
        self.wake()

    def mark_deleted(self) -> None:
        self.deleted = True
        self._terminating.set()
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def wake_after(self, seconds: float) -> None:
        at = time.monotonic() + max(0.0, seconds)
        if self._wake_at is None or at < self._wake_at:
            self._wake_at = at

    async def stop(self) -> None:
        """Stop the worker without touching its containers (kubelet shutdown)."""
        for p in self._probes.values():
            p.stop()
        self._probes.clear()
        await cancel_and_wait([self._task])

    async def _run(self) -> None:
        failures = 0
        while not self.done:
            self._wake.clear()
            self._wake_at = None
            try:
                self.done = await self.sync()
                failures = 0
                self.last_sync_error = None
            except asyncio.CancelledError:
                raise
            except PodTerminating:
                continue  # straight to a sync that terminates the pod
            except Exception as exc:
                failures += 1
                if self.host.metrics is not None:
                    self.host.metrics.sync_errors.labels(self.host.node_name).inc()
                self.last_sync_error = str(exc)
                if isinstance(exc, RuntimeUnavailable):
                    log.warning("pod %s: %s", self.key, exc)
                else:
                    log.exception("pod %s: sync failed", self.key)
                self.wake_after(exponential(failures, 0.5, 10.0))
            if self.done:
                break
            timeout = self.host.config.resync_seconds
            if self._wake_at is not None:
                timeout = min(timeout, max(0.0, self._wake_at - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        for p in self._probes.values():
            p.stop()
        self._probes.clear()
        self.host.worker_done(self)

    # ---- events ----------------------------------------------------------

    def event(self, type_: str, reason: str, message: str, field_path: str | None = None) -> None:
        self.host.record_event(self.pod, type_, reason, message, field_path)

    # ---- sync ------------------------------------------------------------

    @property
    def phase(self) -> str | None:
        if self._last_status is not None:
            return str(self._last_status.get("phase") or "") or None
        return self.pod.status.phase if self.pod.status else None

    def reported_status(self) -> dict[str, Any]:
        """The pod's status as this kubelet last wrote it (the API's before its first write):
        what the status manager answers for logs."""
        st = self._last_status if self._last_status is not None else (
            self.pod.status.to_dict() if self.pod.status else {})
        if self._ephemeral_written is not None:  # written by a patch of their own
            st = {**st, "ephemeralContainerStatuses": self._ephemeral_written}
        return st

    def terminating(self) -> bool:
        return self.deleted or self.pod.metadata.deletion_timestamp is not None

    async def sync(self) -> bool:
        """One pass; returns True when the pod is gone and the worker should end."""
        containers = ([] if self._none_for_images
                      else await self.host.runtime_containers(self.uid))
        self._none_for_images = False
        if self.terminating():
            await self.terminate(containers)
            return True
        restart_policy = self.pod.spec.restart_policy or "Always"
        terminal = (self._last_status is not None and self._last_status.get("phase") in (
            "Succeeded", "Failed")) or (self.pod.status is not None and self.pod.status.phase in (
                "Succeeded", "Failed"))

        sandboxes = sorted((c for c in containers if c.is_sandbox),
                           key=lambda c: (c.restart_count, c.created_at), reverse=True)
        apps = [c for c in containers if not c.is_sandbox]
        sandbox = sandboxes[0] if sandboxes else None
        if terminal:
            # Nothing will run again: let the sandbox go (its IP stays in the status).
            await self._stop_all(containers, apps_grace=0, remove=False)
            await self._write_status(apps, {}, None)
            return False

        if not await self._mount_config_volumes(sandbox is None or not sandbox.running, apps):
            return False
        if sandbox is None or not sandbox.running:
            # Pods starting at once go through a gate: each gets its sandbox and its
            # containers in one go, so the first pods run early instead of all of them
            # waiting behind every sandbox the daemon is setting up.
            # Images come first, outside the gate: a slow pull holds up only its own pod.
            await self._prefetch_images()
            blocked = self._image_blocked()
            if blocked is not None:
                self._prefetched.clear()
                await self._write_status(apps, blocked, None)
                self._none_for_images = not containers
                return False
            try:
                async with self.host.start_gate:
                    return await self._start_pod(sandbox, sandboxes, apps, restart_policy)
            finally:
                self._prefetched.clear()
        return await self._sync_running(sandbox, sandboxes, apps, restart_policy)

    async def _mount_config_volumes(self, starting: bool, apps: list[ContainerInfo]) -> bool:
        """Write or refresh the configMap/secret volumes; False when a pod that is not
        running yet must wait for one (ContainerCreating, FailedMount, retried)."""
        if not any(is_config_volume(v) for v in self.pod.spec.volumes or []):
            return True
        source = self.host.config_source(self.pod.metadata.namespace or "default")
        try:
            await setup_volumes(source, self.pod, self.host.config.root_dir)
            refresh = tokens.next_refresh(self.uid)
            if refresh is not None:
                # Projected tokens are renewed at 80% of their lifetime.
                self.wake_after(refresh + 0.01)
        except MountError as exc:
            self.event(WARNING, "FailedMount", str(exc))
            self.wake_after(CONFIG_RETRY_SECONDS)
            if not starting:
                return True  # running containers keep the files they have, as in Kubernetes
            await self._write_status(apps, {
                c.name: ("ContainerCreating", "") for c in self.pod.spec.containers}, None)
            return False
        return True

    async def _prefetch_images(self) -> None:
        for spec in [*(self.pod.spec.init_containers or []), *self.pod.spec.containers]:
            image = spec.image or ""
            if image in self._prefetched:
                if self._prefetched[image] is None:
                    # Pulled once for the pod; each container still gets its Pulled, as
                    # in Kubernetes, so that every container's events tell the story.
                    self.event(NORMAL, "Pulled", f'Container image "{image}" '
                               "already present on machine", self._field(spec))
                continue
            try:
                await self._ensure_image(spec)
                self._prefetched[image] = None
            except ImagePullError as exc:
                self._prefetched[image] = exc

    def _image_blocked(self) -> dict[str, tuple[str, str]] | None:
        """The containers' waiting states when no container of a starting pod can run for
        want of its image (the first init container's, else every app container's); None
        when one can start. Kubernetes makes the sandbox before pulling; here a pod that
        cannot run gets none until its image is there, so that a node flooded with pods
        of an unpullable image keeps its daemon for the pods that can run, and deleting
        such a pod has nothing to stop."""
        inits = self.pod.spec.init_containers or []
        first = inits[:1] or self.pod.spec.containers
        errors = {c.name: self._prefetched.get(c.image or "") for c in first}
        if not all(errors.values()):
            return None
        waiting = {c.name: ("PodInitializing", "") for c in self.pod.spec.containers}
        for name, exc in errors.items():
            if exc is not None:
                waiting[name] = (exc.reason, str(exc))
        return waiting

    async def _start_pod(self, sandbox: ContainerInfo | None, sandboxes: list[ContainerInfo],
                         apps: list[ContainerInfo], restart_policy: str) -> bool:
        sandbox = await self._new_sandbox(sandbox, apps)
        if sandbox is None:
            return False
        containers = await self.host.runtime_containers(self.uid)
        apps = [c for c in containers if not c.is_sandbox]
        return await self._sync_running(sandbox, sandboxes, apps, restart_policy)

    async def _sync_running(self, sandbox: ContainerInfo, sandboxes: list[ContainerInfo],
                            apps: list[ContainerInfo], restart_policy: str) -> bool:
        for old in sandboxes[1:]:
            if not old.running:
                await self.host.runtime.remove_container(old.id)
        sb = SandboxInfo(id=sandbox.id, ip=self._pod_ip(sandbox.ip) or "")
        self._sandbox_ip = self._pod_ip(sandbox.ip)
        if self._start_time is None:
            self._start_time = now()

        waiting: dict[str, tuple[str, str]] = {}
        if await self._sync_init(apps, sb, restart_policy, waiting):
            for spec in self.pod.spec.containers:
                w = await self._sync_container(spec, _newest_first(apps, spec.name), sb,
                                               restart_policy)
                if w is not None:
                    waiting[spec.name] = w
        else:
            for spec in self.pod.spec.containers:
                waiting[spec.name] = ("PodInitializing", "")
        containers = await self.host.runtime_containers(self.uid)
        apps = [c for c in containers if not c.is_sandbox]
        await self._write_status(apps, waiting, self._sandbox_ip)
        await self._sync_ephemeral(sb)
        return False

    async def _sync_init(self, apps: list[ContainerInfo], sb: SandboxInfo, restart_policy: str,
                         waiting: dict[str, tuple[str, str]]) -> bool:
        """Run init containers one at a time; True once all of them have succeeded."""
        for spec in self.pod.spec.init_containers or []:
            mine = _newest_first(apps, spec.name)
            latest = mine[0] if mine else None
            if latest is not None and latest.exited and latest.exit_code == 0:
                continue
            if latest is not None and latest.running:
                return False
            if latest is not None and restart_policy == "Never":
                return False  # failed for good: the pod is Failed
            # Init containers restart on failure whatever the pod's policy (but Never).
            w = await self._sync_container(spec, mine, sb, "OnFailure")
            if w is not None:
                waiting[spec.name] = w
            return False
        return True

    async def _new_sandbox(self, old: ContainerInfo | None,
                           apps: list[ContainerInfo]) -> ContainerInfo | None:
        """(Re)create the sandbox; the app containers of a dead one are restarted in the new."""
        if old is not None:
            self.event(NORMAL, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
            for c in apps:
                if c.running:
                    await self.host.runtime.stop_container(c.id, 0)
        attempt = (old.restart_count + 1) if old is not None else 0
        settings = self.host.config.dns
        dns, warnings = pod_dns(self.pod, settings)
        for reason, message in warnings:
            if reason != MISSING_CLUSTER_DNS:
                self.event(WARNING, reason, message)
            elif not _missing_dns_logged:
                _missing_dns_logged.append(True)
                log.warning("%s (logged once; no event per pod)", message)
        try:
            info = await self.host.runtime.run_sandbox(
                sandbox_config(self.pod, self.host.node_name, attempt, dns,
                               settings.cluster_domain))
        except ContainerCreateError as exc:
            self.event(WARNING, "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}")
            self.wake_after(self.host.config.backoff_base)
            await self._write_status(apps, {
                c.name: ("ContainerCreating", "") for c in self.pod.spec.containers}, None)
            return None
        if old is not None:
            await self.host.runtime.remove_container(old.id)
        self._sandbox_ip = self._pod_ip(info.ip)
        got = await self.host.runtime.inspect(info.id)
        return got

    def _pod_ip(self, sandbox_ip: str | None) -> str | None:
        if self.pod.spec.host_network:
            return self.host.node_ip
        return sandbox_ip or self._sandbox_ip

    async def _sync_container(self, spec: Container, mine: list[ContainerInfo], sb: SandboxInfo,
                              restart_policy: str) -> tuple[str, str] | None:
        """Start/restart/kill one container; returns a waiting (reason, message) if any."""
        latest = mine[0] if mine else None
        bkey = f"{self.uid}/{spec.name}"
        if latest is not None and latest.running:
            self._ensure_probes(spec, latest)
            failed = next((kind for kind in ("Startup", "Liveness")
                           if (w := self._probes.get((spec.name, kind))) is not None
                           and w.result is False), None)
            if failed is None:
                return None
            self.event(NORMAL, "Killing",
                       f"Container {spec.name} failed {failed.lower()} probe, will be restarted",
                       self._field(spec))
            self._stop_probes(spec.name)
            await self.host.runtime.stop_container(latest.id, self._grace())
            got = await self.host.runtime.inspect(latest.id)
            if got is None:
                return None
            latest = got
            mine[0] = got
        if latest is not None:
            self._stop_probes(spec.name)
            code = latest.exit_code or 0
            if latest.state == "created":
                code = code or 128
            restart = restart_policy == "Always" or (restart_policy == "OnFailure" and code != 0)
            if not restart:
                return None
            if latest.started_ts and latest.finished_ts - latest.started_ts >= RESET_AFTER_RUNNING:
                self.host.crash_backoff.reset(bkey)
            # A container that never started has no finish time: count from its creation.
            since = latest.finished_ts or latest.created_at or time.time()
            left = self.host.crash_backoff.remaining(bkey, since)
            if left > 0:
                delay = self.host.crash_backoff.current(bkey)
                msg = (f"back-off {delay:g}s restarting failed container={spec.name} "
                       f"pod={self.pod.metadata.name}_{self.pod.metadata.namespace}({self.uid})")
                if self._backoff_reported.get(spec.name) != since:
                    self._backoff_reported[spec.name] = since
                    self.event(WARNING, "BackOff", "Back-off restarting failed container "
                               f"{spec.name} in pod {self.pod.metadata.name}_"
                               f"{self.pod.metadata.namespace}({self.uid})", self._field(spec))
                self.wake_after(left + 0.01)
                return ("CrashLoopBackOff", msg)
            self.host.crash_backoff.next(bkey)
        else:
            err = self._create_errors.get(spec.name)
            if err is not None:
                left = self.host.crash_backoff.remaining(bkey, err[1])
                if left > 0:
                    self.wake_after(left + 0.01)
                    return ("CreateContainerError", err[0])

        restart_count = latest.restart_count + 1 if latest is not None else 0
        if latest is not None and self.host.metrics is not None:
            self.host.metrics.restarts.labels(self.host.node_name).inc()
        return await self._start(spec, sb, restart_count, mine)

    async def _start(self, spec: Container, sb: SandboxInfo, restart_count: int,
                     previous: list[ContainerInfo]) -> tuple[str, str] | None:
        image = spec.image or ""
        try:
            if image in self._prefetched:
                err = self._prefetched[image]
                if err is not None:
                    raise err
            else:
                await self._ensure_image(spec)
        except ImagePullError as exc:
            return (exc.reason, str(exc))
        try:
            config = await container_config(
                self.pod, spec, sb.ip, self.host.node_name, restart_count,
                self.host.config.root_dir,
                self.host.config_source(self.pod.metadata.namespace or "default"))
            await self.host.runtime.start_container(config, sb)
        except ConfigError as exc:
            # As Kubernetes: the container waits, and a later sync looks again.
            self.event(WARNING, "Failed", f"Error: {exc}", self._field(spec))
            self.wake_after(CONFIG_RETRY_SECONDS)
            return ("CreateContainerConfigError", str(exc))
        except ContainerCreateError as exc:
            self.event(WARNING, "Failed", f"Error: {exc}", self._field(spec))
            if await self._created(spec.name, restart_count):
                # Created but not started: listed as a terminated container from now on,
                # so the next sync backs off and restarts it like a crash.
                self.wake()
                return None
            key = f"{self.uid}/{spec.name}"
            self._create_errors[spec.name] = (str(exc), time.time())
            self.host.crash_backoff.next(key)
            self.wake_after(self.host.crash_backoff.current(key))
            return ("CreateContainerError", str(exc))
        self._create_errors.pop(spec.name, None)
        self.event(NORMAL, "Created", f"Created container {spec.name}", self._field(spec))
        self.event(NORMAL, "Started", f"Started container {spec.name}", self._field(spec))
        # Keep the newest exited container (for lastState and logs --previous), drop older.
        for old in previous[1:]:
            await self.host.runtime.remove_container(old.id)
        return None

    async def _created(self, name: str, restart_count: int) -> bool:
        for c in await self.host.runtime_containers(self.uid):
            if c.container_name == name and c.restart_count == restart_count:
                return True
        return False

    async def _ensure_image(self, spec: Container) -> None:
        """The container's image through the node's pull manager (kubelet/images.py: policy,
        single-flight pulls, the back-off shared by the image's pods, the events). A pod
        that starts terminating stops waiting at once; a pull no pod waits for any more is
        abandoned. At the end of a back-off the worker wakes up to try again."""
        field = self._field(spec)

        def event(type_: str, reason: str, message: str) -> None:
            self.event(type_, reason, message, field)
        try:
            await self._unless_terminating(
                lambda: self.host.images.ensure(spec.image or "", pull_policy(spec), event))
        except ImagePullError as exc:
            if exc.reason == "ErrImagePull":
                self.wake()  # the next sync reports the back-off (ImagePullBackOff)
            elif exc.retry_after > 0:
                self.wake_after(exc.retry_after + 0.01)
            raise

    async def _unless_terminating(self, start: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``start()`` unless the pod starts terminating first (a pull can take minutes;
        a delete should not wait for it): then the call is cancelled and PodTerminating
        raised. The coroutine is made only once it is sure to be awaited."""
        if self.terminating():
            raise PodTerminating()
        task = asyncio.create_task(start())
        stop = asyncio.create_task(self._terminating.wait())
        finished = False
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Nothing outlives the call: the waiter always, the call unless it finished
            # (also when this worker itself is being cancelled).
            finished = task.done()
            await cancel_and_wait([stop] if finished else [stop, task])
        if not finished:
            raise PodTerminating()
        return task.result()

    def _field(self, spec: Container) -> str:
        return self._field_of(spec.name)

    def _field_of(self, name: str) -> str:
        """involvedObject.fieldPath of a container, as Kubernetes' kubelet spells it."""
        if any(c.name == name for c in self.pod.spec.init_containers or []):
            return f"spec.initContainers{{{name}}}"
        if any(c.name == name for c in self.pod.spec.ephemeral_containers or []):
            return f"spec.ephemeralContainers{{{name}}}"
        return f"spec.containers{{{name}}}"

    def _grace(self) -> int:
        g = self.pod.metadata.deletion_grace_period_seconds
        if g is None:
            g = self.pod.spec.termination_grace_period_seconds
        return 30 if g is None else max(0, int(g))

    # ---- probes ----------------------------------------------------------

    def _started(self, spec: Container) -> bool:
        """No startup probe, or it has succeeded for the current container."""
        if spec.startup_probe is None:
            return True
        w = self._probes.get((spec.name, "Startup"))
        return w is not None and w.result is True

    def _ensure_probes(self, spec: Container, c: ContainerInfo) -> None:
        for kind, probe in (("Startup", spec.startup_probe), ("Liveness", spec.liveness_probe),
                            ("Readiness", spec.readiness_probe)):
            if probe is None:
                continue
            cur = self._probes.get((spec.name, kind))
            if cur is not None and cur.container_id == c.id:
                continue
            if kind != "Startup" and not self._started(spec):
                continue  # liveness and readiness wait for the startup probe
            if cur is not None:
                cur.stop()
            w = ProbeWorker(kind, probe, spec, c.id, self._sandbox_ip or "", self.host.runtime,
                            self.wake, self._probe_failed(spec))
            self._probes[(spec.name, kind)] = w
            w.start()

    def _probe_failed(self, spec: Container) -> Callable[[str, str], None]:
        def failed(kind: str, message: str) -> None:
            self.event(WARNING, "Unhealthy", f"{kind} probe failed: {message}", self._field(spec))
        return failed

    def _stop_probes(self, name: str) -> None:
        for kind in ("Startup", "Liveness", "Readiness"):
            w = self._probes.pop((name, kind), None)
            if w is not None:
                w.stop()

    # ---- ephemeral containers --------------------------------------------

    async def _sync_ephemeral(self, sb: SandboxInfo) -> None:
        """Start each ephemeral container once, in the pod's network and IPC namespaces
        (and its target's processes with targetContainerName), even before the init
        containers are done; one that exits is never restarted. Their statuses go in a
        status patch of their own, when they change."""
        specs: list[Container] = list(self.pod.spec.ephemeral_containers or [])
        if not specs:
            return
        apps = [c for c in await self.host.runtime_containers(self.uid) if not c.is_sandbox]
        waiting: dict[str, tuple[str, str]] = {}
        started = False
        for spec in specs:
            if not _newest_first(apps, spec.name):
                w = await self._start_ephemeral(spec, apps, sb)
                if w is None:
                    started = True
                else:
                    waiting[spec.name] = w
        if started:
            apps = [c for c in await self.host.runtime_containers(self.uid)
                    if not c.is_sandbox]
        statuses = []
        for v in self._views(specs, apps, waiting):
            st = container_status(v, self.host.runtime.name)
            st["ready"] = False  # never ready: an ephemeral container serves nothing
            statuses.append(st)
        if statuses != self._ephemeral_written and not self.deleted:
            await self.host.patch_status(
                self.pod, {"status": {"ephemeralContainerStatuses": statuses}})
            self._ephemeral_written = statuses

    async def _start_ephemeral(self, spec: Container, apps: list[ContainerInfo],
                               sb: SandboxInfo) -> tuple[str, str] | None:
        target_id = ""
        target = getattr(spec, "target_container_name", None)
        if target:
            mine = _newest_first(apps, target)
            if not mine or not mine[0].running:
                self.wake_after(self.host.config.backoff_base)
                return ("ContainerCreating", f'target container "{target}" is not running')
            target_id = mine[0].id
        try:
            await self._ensure_image(spec)
        except ImagePullError as exc:
            return (exc.reason, str(exc))
        try:
            config = await container_config(
                self.pod, spec, sb.ip, self.host.node_name, 0, self.host.config.root_dir,
                self.host.config_source(self.pod.metadata.namespace or "default"),
                pid_target=target_id)
            await self.host.runtime.start_container(config, sb)
        except ConfigError as exc:
            self.event(WARNING, "Failed", f"Error: {exc}", self._field(spec))
            self.wake_after(CONFIG_RETRY_SECONDS)
            return ("CreateContainerConfigError", str(exc))
        except ContainerCreateError as exc:
            self.event(WARNING, "Failed", f"Error: {exc}", self._field(spec))
            if await self._created(spec.name, 0):
                return None  # created, not started: reported as terminated, not retried
            self.wake_after(self.host.config.backoff_base)
            return ("CreateContainerError", str(exc))
        self.event(NORMAL, "Created", f"Created container {spec.name}", self._field(spec))
        self.event(NORMAL, "Started", f"Started container {spec.name}", self._field(spec))
        return None

    # ---- status ----------------------------------------------------------

    def _views(self, specs: list[Container], apps: list[ContainerInfo],
               waiting: dict[str, tuple[str, str]], init: bool = False,
               stopping: bool = False, terminal: bool = False) -> list[ContainerView]:
        views = []
        for spec in specs:
            mine = _newest_first(apps, spec.name)
            v = ContainerView(name=spec.name, image=display_image(spec.image or ""),
                              resources=spec.resources.to_dict() if spec.resources else None,
                              volume_mounts=[m.to_dict() for m in spec.volume_mounts or []],
                              gone=terminal and not init)
            if mine:
                v.current = mine[0]
                v.restart_count = mine[0].restart_count
                older = [c for c in mine[1:] if not c.running]
                if mine[0].running or spec.name in waiting:
                    v.last_terminated = older[0] if older else None
                    if spec.name in waiting and not mine[0].running:
                        v.last_terminated = mine[0]
                else:
                    v.last_terminated = older[0] if older else None
                if init:
                    v.ready = mine[0].exited and mine[0].exit_code == 0
                elif mine[0].running:
                    ready_probe = self._probes.get((spec.name, "Readiness"))
                    v.started = self._started(spec)
                    if not v.started:
                        v.ready = False
                    elif spec.readiness_probe is None:
                        v.ready = True
                    else:
                        v.ready = ready_probe is not None and ready_probe.result is True
            if spec.name in waiting:
                v.waiting_reason, v.waiting_message = waiting[spec.name]
            if stopping and not init:
                v.ready = False  # terminating: no container serves any more
            views.append(v)
        return views

    async def _write_status(self, apps: list[ContainerInfo], waiting: dict[str, tuple[str, str]],
                            pod_ip: str | None, stopping: bool = False,
                            terminal: bool = False) -> None:
        """``stopping``: the pod is terminating (not ready); ``terminal``: its containers
        are stopped for good (a terminal phase, their terminated states)."""
        if self.deleted:
            return
        started = not self.pod.spec.init_containers or any(
            c.container_name in {s.name for s in self.pod.spec.containers} for c in apps)
        views = self._views(self.pod.spec.containers, apps, waiting, stopping=stopping,
                            terminal=terminal and started)
        init_views = self._views(self.pod.spec.init_containers or [], apps, waiting, init=True)
        prev = self.pod.status.to_dict() if self.pod.status else {}
        status = build_status(self.pod.spec.restart_policy or "Always", views,
                              self.host.runtime.name, pod_ip or self._sandbox_ip, self.host.node_ip,
                              self._start_time, qos_class(self.pod),
                              self._last_status or prev, init_views, terminal=terminal)
        new = comparable(status)
        if self._last_status is not None and comparable(self._last_status) == new:
            return
        if self._last_status is None and comparable(prev) == new:
            self._last_status = status
            return
        patch = {"status": {k: status.get(k) for k in new}}
        await self.host.patch_status(self.pod, patch)
        if (status.get("phase") == "Running" and self._born is not None
                and self.host.metrics is not None):
            self.host.metrics.pod_start.labels(self.host.node_name).observe(
                time.monotonic() - self._born)
            self._born = None
        self._last_status = status

    # ---- termination -----------------------------------------------------

    async def _stop_all(self, containers: list[ContainerInfo], apps_grace: int,
                        remove: bool) -> None:
        for p in self._probes.values():
            p.stop()
        self._probes.clear()
        apps = [c for c in containers if not c.is_sandbox and c.running]
        for c in apps:
            if remove:
                self.event(NORMAL, "Killing", f"Stopping container {c.container_name}",
                           self._field_of(c.container_name))
        await asyncio.gather(*(self.host.runtime.stop_container(c.id, apps_grace) for c in apps))
        sandboxes = [c for c in containers if c.is_sandbox and c.running]
        await asyncio.gather(*(self.host.runtime.stop_container(c.id, 1) for c in sandboxes))
        if remove:
            await asyncio.gather(*(self.host.runtime.remove_container(c.id) for c in containers))

    async def _report(self, write: Coroutine[Any, Any, None]) -> None:
        """A status write of the termination path: one that fails (the API server away) is
        logged, never a reason to keep the pod's containers running."""
        try:
            await write
        except Exception as exc:
            log.warning("pod %s: status while terminating: %s", self.key, exc)

    async def terminate(self, containers: list[ContainerInfo]) -> None:
        """Kill (SIGTERM, grace, SIGKILL), remove everything, then let the API server forget it.

        As SyncTerminatingPod: the status says Ready=False as soon as termination starts,
        and the containers' terminated states (a terminal phase) once they are stopped,
        before the containers and then the object go."""
        waiting = {str(st.get("name")): (str(w.get("reason") or ""), str(w.get("message") or ""))
                   for st in (self._last_status or {}).get("containerStatuses") or []
                   if (w := (st.get("state") or {}).get("waiting")) is not None}
        await self._report(self._write_status(
            [c for c in containers if not c.is_sandbox], waiting, None, stopping=True))
        for c in containers:
            if not c.is_sandbox and c.running:
                self.event(NORMAL, "Killing", f"Stopping container {c.container_name}",
                           self._field_of(c.container_name))
        await self._stop_all(containers, self._grace(), remove=False)
        if not self.deleted:
            stopped = await self.host.runtime_containers(self.uid)
            await self._report(self._write_status(
                [c for c in stopped if not c.is_sandbox], {}, None, stopping=True,
                terminal=True))
        await asyncio.gather(*(self.host.runtime.remove_container(c.id) for c in containers))
        # A container may have been created concurrently by an earlier sync: sweep again.
        for c in await self.host.runtime_containers(self.uid):
            await self.host.runtime.stop_container(c.id, 0)
            await self.host.runtime.remove_container(c.id)
        await self.host.runtime.remove_pod_dirs(self.uid)
        self.host.forget_pod(self.pod)
        if not self.deleted:
            await self.host.delete_pod(self.pod)
