"""The node's image pull manager: every image a pod needs goes through it.

A port of Kubernetes' pkg/kubelet/images (image_manager.go ``EnsureImageExists``,
puller.go's serial and parallel pullers), with the kubelet's flags:

- The pull policy decides first (``Never``, ``IfNotPresent`` with the image present:
  no pull), with Kubernetes' events (``Pulled`` 'Container image "x" already present on
  machine', ``ErrImageNeverPull``).
- ``--serialize-image-pulls`` (default true): one pull at a time on the node, as
  ``serialImagePuller``; false: at most ``--max-parallel-image-pulls`` at once (no limit
  when unset), as ``parallelImagePuller``.
- Single flight: the pods waiting on one image share one pull (Kubernetes pulls once per
  pod and relies on the runtime to merge them; here the node does it, so 300 pods of one
  image are one daemon request).
- The back-off after a failed pull is Kubernetes' flowcontrol.Backoff (10 s doubling to
  5 min, forgotten after twice the cap without a failure), BUT keyed by the image alone:
  Kubernetes keys it by pod UID and image (``<uid>_<image>``), so that N pods of an
  unpullable image cost N pulls per back-off step; here the back-off is SHARED by all the
  pods of that image on the node, so they cost one pull attempt per back-off step in all.
  While it lasts every pod reports ``ImagePullBackOff`` with Kubernetes' message
  ('Back-off pulling image "x": ErrImagePull: <the last pull error>') and a ``BackOff``
  event, and is woken when it ends.
- A pull whose waiting pods are all gone (deleted, or the kubelet stopping) is abandoned:
  its task is cancelled, which closes the daemon's request, and the daemon stops pulling.
- ``--image-pull-progress-deadline`` is the runtime's (a pull that reports no progress for
  that long is cancelled).

Events per container, with Kubernetes' reasons and texts: ``Pulling`` 'Pulling image "x"',
``Pulled`` 'Successfully pulled image "x" in 1.2s (1.5s including waiting). Image size: N
bytes.', ``Failed`` 'Failed to pull image "x": <error>', ``BackOff`` 'Back-off pulling image
"x"', then ``Failed`` 'Error: ErrImagePull' / 'Error: ImagePullBackOff' as kuberuntime's
startContainer records for any failure of EnsureImageExists.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from api.timeutil import go_duration_ms
from client.backoff import KeyedBackoff
from client.tasks import cancel_and_wait
from kubelet.runtime.base import ContainerRuntime, ImagePullError, normalize_image

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"
# A present image whose registry just failed is used as it is for this long, rather
# than make every start of every pod wait for the same failure again.
LOCAL_FALLBACK_SECONDS = 60.0

# (type, reason, message): an event about the container that needs the image
EventFn = Callable[[str, str, str], None]


@dataclass(frozen=True)
class PullSettings:
    """The kubelet's image flags (KubeletConfiguration names in comments)."""

    serialize: bool = True  # serializeImagePulls
    max_parallel: int | None = None  # maxParallelImagePulls (None: no limit)
    progress_deadline: float = 60.0  # --image-pull-progress-deadline, seconds
    backoff_base: float = 10.0
    backoff_cap: float = 300.0

    def validate(self) -> list[str]:
        """KubeletConfiguration validation's messages for these fields."""
        errs = []
        if self.max_parallel is not None and self.max_parallel < 1:
            errs.append(f"invalid configuration: maxParallelImagePulls {self.max_parallel} "
                        "must be a positive number")
        if self.serialize and self.max_parallel is not None and self.max_parallel > 1:
            errs.append("invalid configuration: maxParallelImagePulls cannot be larger than 1 "
                        "unless SerializeImagePulls (--serialize-image-pulls) is set to false")
        if self.progress_deadline <= 0:
            errs.append("invalid configuration: imagePullProgressDeadline must be positive")
        return errs


@dataclass
class _Pull:
    """One pull in flight and the number of callers waiting on it."""

    task: asyncio.Task[tuple[str, float]]
    waiters: int = 0


@dataclass
class PullStats:
    """Counters for tests and metrics: daemon pull requests made and abandoned."""

    attempts: dict[str, int] = field(default_factory=dict)
    abandoned: int = 0


class ImageManager:
    def __init__(self, runtime: ContainerRuntime, settings: PullSettings | None = None) -> None:
        self.runtime = runtime
        self.settings = settings or PullSettings()
        s = self.settings
        limit = 1 if s.serialize else s.max_parallel
        self._limit = asyncio.Semaphore(limit) if limit else None
        self.backoff = KeyedBackoff(s.backoff_base, s.backoff_cap)
        # image -> (wall time of the last failure, "ErrImagePull: <message>")
        self._failures: dict[str, tuple[float, str]] = {}
        # image -> monotonic time a pull failed while a local copy existed
        self._fallback: dict[str, float] = {}
        self._pulls: dict[str, _Pull] = {}
        self.stats = PullStats()
        self._closed = False

    # ---- back-off ----------------------------------------------------------

    def backoff_left(self, image: str) -> float:
        """Seconds until the image may be pulled again (0: now)."""
        ref = normalize_image(image)
        failed = self._failures.get(ref)
        if failed is None:
            return 0.0
        return self.backoff.remaining(ref, failed[0])

    # ---- EnsureImageExists -----------------------------------------------------

    async def ensure(self, image: str, policy: str, event: EventFn) -> str:
        """Make ``image`` present as ``policy`` asks; its id. Raises ImagePullError with
        Kubernetes' reason (ErrImageNeverPull, ErrImagePull, ImagePullBackOff) and message;
        ``retry_after`` says when the back-off ends."""
        ref = normalize_image(image)
        present = await self.runtime.image_id(image)
        if policy == "Never" and present is None:
            msg = f'Container image "{image}" is not present with pull policy of Never'
            event(WARNING, "ErrImageNeverPull", msg)
            event(WARNING, "Failed", "Error: ErrImageNeverPull")
            raise ImagePullError(msg, "ErrImageNeverPull")
        if present is not None and (policy != "Always" or self._use_local(ref)):
            event(NORMAL, "Pulled", f'Container image "{image}" already present on machine')
            return present
        left = self.backoff_left(ref)
        if left > 0 and ref not in self._pulls:
            msg = f'Back-off pulling image "{image}"'
            event(NORMAL, "BackOff", msg)
            event(WARNING, "Failed", "Error: ImagePullBackOff")
            failed = self._failures.get(ref)
            raise ImagePullError(f"{msg}: {failed[1]}" if failed else msg, "ImagePullBackOff",
                                 retry_after=left)
        event(NORMAL, "Pulling", f'Pulling image "{image}"')
        t0 = time.monotonic()
        try:
            image_id, pull_seconds = await self._join(ref)
        except ImagePullError as exc:
            if present is not None:
                # No registry (or it is down) but the image is here: run what we have
                # rather than refuse a pod that would work.
                event(NORMAL, "Pulled", f'Container image "{image}" already present on '
                      f"machine (pull failed: {exc})")
                return present
            event(WARNING, "Failed", f'Failed to pull image "{image}": {exc}')
            event(WARNING, "Failed", "Error: ErrImagePull")
            raise ImagePullError(str(exc), "ErrImagePull",
                                 retry_after=self.backoff_left(ref)) from None
        size = await self.runtime.image_size(image_id)
        event(NORMAL, "Pulled", f'Successfully pulled image "{image}" in '
              f"{go_duration_ms(pull_seconds)} ({go_duration_ms(time.monotonic() - t0)} including "
              f"waiting). Image size: {size} bytes.")
        return image_id

    def _use_local(self, ref: str) -> bool:
        at = self._fallback.get(ref)
        return at is not None and time.monotonic() - at < LOCAL_FALLBACK_SECONDS

    # ---- single flight ---------------------------------------------------------

    async def _join(self, ref: str) -> tuple[str, float]:
        """Wait for the pull of ``ref`` (starting it if none is in flight); a caller that
        is cancelled leaves, and the last one to leave abandons the pull."""
        if self._closed:
            raise ImagePullError("the kubelet is shutting down")
        p = self._pulls.get(ref)
        if p is None:
            p = _Pull(asyncio.create_task(self._pull(ref), name=f"pull-{ref}"))
            self._pulls[ref] = p
        p.waiters += 1
        try:
            return await asyncio.shield(p.task)
        finally:
            p.waiters -= 1
            if p.waiters == 0 and not p.task.done():
                log.info("image %s: no pod waits for it any more; pull abandoned", ref)
                self.stats.abandoned += 1
                p.task.cancel()
                if self._pulls.get(ref) is p:
                    del self._pulls[ref]

    async def _pull(self, ref: str) -> tuple[str, float]:
        try:
            if self._limit is not None:
                async with self._limit:
                    return await self._pull_now(ref)
            return await self._pull_now(ref)
        finally:
            p = self._pulls.get(ref)
            if p is not None and p.task is asyncio.current_task():
                del self._pulls[ref]

    async def _pull_now(self, ref: str) -> tuple[str, float]:
        self.stats.attempts[ref] = self.stats.attempts.get(ref, 0) + 1
        t0 = time.monotonic()
        try:
            image_id = await self.runtime.pull_image(
                ref, progress_deadline=self.settings.progress_deadline)
        except ImagePullError as exc:
            # One failure of one attempt: one back-off step for every pod of the image.
            now = time.time()
            self.backoff.next(ref, now)
            self._failures[ref] = (now, f"ErrImagePull: {exc}")
            self._fallback[ref] = time.monotonic()
            log.info("pull of %s failed (next attempt in %gs): %s", ref,
                     self.backoff.current(ref), exc)
            raise
        self.backoff.reset(ref)
        self._failures.pop(ref, None)
        self._fallback.pop(ref, None)
        return image_id, time.monotonic() - t0

    # ---- shutdown ----------------------------------------------------------------

    def in_flight(self) -> list[str]:
        return sorted(self._pulls)

    async def close(self) -> None:
        """Abandon every pull in flight (the kubelet is stopping)."""
        self._closed = True
        tasks = [p.task for p in self._pulls.values()]
        self._pulls.clear()
        await cancel_and_wait(tasks)
