"""The kubelet under pressure, on real Docker: a flood of pods whose image cannot be pulled
(from a registry stub on loopback, tests/kubelet/registry_stub.py: no pull leaves the
machine) never starves the pods that can run, costs one pull attempt per back-off step,
and never holds up a delete.

Figures (printed with ``-s``) on the 2-core test machine are in the module's report; the
bounds asserted here are generous multiples of them (the machine is shared).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from api.models import Event, Pod
from client.errors import NotFound
from client.rest import AsyncClient
from kubelet.runtime.base import LABEL_POD_UID
from testing.kubectl import Kubectl
from testing.registry_stub import StubRegistry
from testing.support import async_wait_for, unique
from tests.kubelet.helpers import KubeletProc, kubelet_on_docker

pytest.importorskip("docker")
pytestmark = [pytest.mark.docker, pytest.mark.slow]

FLOOD = 300  # pods of the unpullable image on one node
BACKOFF_BASE = 1.0  # the test kubelet's --backoff-base (KubeletProc)
DEADLINE = 2.0  # --image-pull-progress-deadline: a hanging pull is cancelled after it
NGINX_GRACE = 5
# DELETE -> containers gone, beyond the grace period: the bound this module asserts (the
# figures measured are 0.2-2.5 s; the test machine is shared by many runs at once)
DELETE_BOUND = 8.0


def _pod(node: str, name: str, image: str, labels: dict[str, str] | None = None,
         grace: int = 30, policy: str = "IfNotPresent", probe: bool = False) -> Pod:
    c: dict[str, Any] = {"name": "app", "image": image, "imagePullPolicy": policy}
    if probe:
        c["readinessProbe"] = {"tcpSocket": {"port": 80}, "periodSeconds": 1}
    return Pod.from_dict({
        "metadata": {"name": name, "namespace": "default", "labels": labels or {}},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": grace, "containers": [c]}})


async def _bounded(n: int, fns: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    sem = asyncio.Semaphore(n)

    async def one(fn: Callable[[], Awaitable[Any]]) -> Any:
        async with sem:
            return await fn()
    return await asyncio.gather(*(one(f) for f in fns))


def _ready(p: Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True"
               for c in (p.status.conditions or [] if p.status else []))


def _waiting(p: Pod) -> tuple[str, str] | None:
    if p.status is None or not p.status.container_statuses:
        return None
    w = (p.status.container_statuses[0].to_dict().get("state") or {}).get("waiting") or {}
    return (w["reason"], w.get("message", "")) if w.get("reason") else None


async def _gone(client: AsyncClient, name: str) -> bool:
    try:
        await client.get(Pod, name, "default")
    except NotFound:
        return True
    return False


class Nginx:
    """3 nginx pods (the local image, a readiness probe): time to Ready, DELETE to gone."""

    def __init__(self, client: AsyncClient, dk: Any, node: str) -> None:
        self.client, self.dk, self.node = client, dk, node
        self.app = unique("web")
        self.names = [f"{self.app}-{i}" for i in range(3)]

    async def start(self, timeout: float) -> float:
        t0 = time.monotonic()
        await asyncio.gather(*(self.client.create(
            _pod(self.node, n, "nginx:latest", {"app": self.app}, grace=NGINX_GRACE, probe=True))
            for n in self.names))

        async def ready() -> bool:
            pods = await self.client.list(Pod, "default", label_selector=f"app={self.app}")
            return len(pods.items) == 3 and all(_ready(p) for p in pods.items)
        await async_wait_for(ready, timeout=timeout, interval=0.1, message="nginx pods Ready")
        return time.monotonic() - t0

    async def delete(self, timeout: float) -> float:
        """DELETE all three (grace 5 s); seconds until their containers are gone."""
        pods = await self.client.list(Pod, "default", label_selector=f"app={self.app}")
        uids = [p.metadata.uid or "" for p in pods.items]
        t0 = time.monotonic()
        await asyncio.gather(*(self.client.delete(Pod, n, "default") for n in self.names))

        def containers() -> int:
            # the low-level list: no inspect of a container being removed meanwhile
            return sum(len(self.dk.api.containers(
                all=True, filters={"label": f"{LABEL_POD_UID}={u}"})) for u in uids)

        async def gone() -> bool:
            return await asyncio.to_thread(containers) == 0
        await async_wait_for(gone, timeout=timeout, interval=0.1, message="nginx containers gone")
        return time.monotonic() - t0


def _check_backoff_steps(attempts: list[float], base: float) -> None:
    """Pull attempts at most once per back-off step: each gap is at least the back-off
    that the previous failure started (base, 2 base, 4 base, ...)."""
    assert attempts, "no pull attempt reached the registry"
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    for i, gap in enumerate(gaps):
        assert gap >= 0.9 * base * 2 ** i, f"attempt {i + 2} came {gap:.2f}s after the " \
            f"previous one (back-off {base * 2 ** i:g}s): {gaps}"


@pytest.mark.timeout(240)
async def test_flood_of_unpullable_pods_never_starves_or_delays_the_node(
        server_url: str, dk: Any, kubectl: Kubectl) -> None:
    with StubRegistry("hang") as reg, StubRegistry("hang") as solo_reg, kubelet_on_docker(
            server_url, dk, "kp", "--image-pull-progress-deadline", f"{DEADLINE:g}s",
            "--backoff-max", "60") as k:
        client = AsyncClient(server_url)
        try:
            await _flood(client, dk, k, reg, solo_reg, kubectl)
        finally:
            await client.close()


async def _flood(client: AsyncClient, dk: Any, k: KubeletProc, reg: StubRegistry,
                 solo_reg: StubRegistry, kubectl: Kubectl) -> None:
    node = k.node
    # Baseline on a quiet node, in this test.
    quiet = Nginx(client, dk, node)
    quiet_ready = await quiet.start(timeout=60)
    quiet_delete = await quiet.delete(timeout=NGINX_GRACE + 30)

    # The flood: FLOOD pods of an image the registry never serves, then 3 nginx pods.
    image = reg.image("flood:1")
    flood = [f"{unique('flood')}-{i}" for i in range(FLOOD)]
    t0 = time.monotonic()
    creates = asyncio.ensure_future(_bounded(16, [
        lambda n=n: client.create(_pod(node, n, image)) for n in flood]))
    await async_wait_for(lambda: len(reg.attempts) >= 1, timeout=30, message="first pull")
    busy = Nginx(client, dk, node)
    busy_ready = await busy.start(timeout=120)
    await creates
    created = time.monotonic() - t0

    # Every flood pod reports the pull failure, with Kubernetes' reasons and messages.
    async def all_failing() -> list[Pod] | None:
        pods = [p for p in (await client.list(Pod, "default")).items
                if (p.metadata.name or "") in set(flood)]
        ok = [p for p in pods if (_waiting(p) or ("",))[0] in ("ErrImagePull", "ImagePullBackOff")]
        return ok if len(ok) == FLOOD else None
    failing = await async_wait_for(all_failing, timeout=90, interval=0.5,
                                   message="every flood pod in ErrImagePull/ImagePullBackOff")
    reasons = {(_waiting(p) or ("", ""))[0] for p in failing}
    backoff = [w for p in failing if (w := _waiting(p)) and w[0] == "ImagePullBackOff"]
    if backoff:
        assert backoff[0][1].startswith(f'Back-off pulling image "{image}": ErrImagePull: ')
    assert all(p.status is not None and p.status.phase == "Pending" and not p.status.pod_ip
               for p in failing)
    # kubectl shows the waiting reason as the pod's STATUS, and the pull events
    out = (await asyncio.to_thread(kubectl, "get", "pod", flood[0], "--no-headers")).stdout
    assert out.split()[2] in ("ErrImagePull", "ImagePullBackOff"), out

    # Kubernetes' events for the flood's pods (written in the background: waited for)
    names = set(flood)

    async def events() -> set[tuple[str | None, str | None]] | None:
        got = {(e.reason, e.message) for e in (await client.list(Event, "default")).items
               if e.involved_object.name in names}
        failed = any(r == "Failed" and (m or "").startswith(f'Failed to pull image "{image}": ')
                     for r, m in got)
        want = {("Pulling", f'Pulling image "{image}"'), ("Failed", "Error: ErrImagePull"),
                ("BackOff", f'Back-off pulling image "{image}"'),
                ("Failed", "Error: ImagePullBackOff")}
        return got if failed and want <= got else None
    await async_wait_for(events, timeout=60, interval=1.0, message="the flood's pull events")

    # A pod deleted mid-pull terminates at once (grace 30 s notwithstanding).
    solo = unique("solo")
    await client.create(_pod(node, solo, solo_reg.image("solo:1")))
    await async_wait_for(lambda: solo_reg.open_connections() >= 1, timeout=60,
                         interval=0.05, message="the solo pod's pull in flight")
    t1 = time.monotonic()
    await client.delete(Pod, solo, "default")
    await async_wait_for(lambda: _gone(client, solo), timeout=30, interval=0.05,
                         message="pod deleted mid-pull gone")
    mid_pull_delete = time.monotonic() - t1

    # Delete everything during the flood: nginx (grace 5 s) and the FLOOD pods (grace 30 s).
    flood_deleted = time.monotonic()
    deletes = asyncio.ensure_future(_bounded(16, [
        lambda n=n: client.delete(Pod, n, "default") for n in flood]))
    busy_delete = await busy.delete(timeout=NGINX_GRACE + 60)
    await deletes

    async def flood_gone() -> bool:
        pods = (await client.list(Pod, "default")).items
        return not any((p.metadata.name or "") in set(flood) for p in pods)
    await async_wait_for(flood_gone, timeout=120, interval=0.25, message="flood pods gone")
    flood_delete = time.monotonic() - flood_deleted
    attempts = list(reg.attempts)

    span = attempts[-1] - attempts[0] if attempts else 0.0
    print(f"\nflood of {FLOOD} pods created in {created:.1f}s; nginx Ready: quiet "
          f"{quiet_ready:.2f}s, flooded {busy_ready:.2f}s (x{busy_ready / quiet_ready:.2f}); "
          f"nginx DELETE->gone (grace {NGINX_GRACE}s): quiet {quiet_delete:.2f}s, flooded "
          f"{busy_delete:.2f}s; mid-pull delete {mid_pull_delete:.2f}s; {FLOOD} flood pods "
          f"gone {flood_delete:.1f}s after their DELETEs; {len(attempts)} pull attempts in "
          f"{span:.1f}s; reasons {sorted(reasons)}")

    # Bounds (the figures above are typically far below them).
    # measured x1.2-1.5 on a quieter machine, up to x4.3 with the test machine at load 13 (the
    # API server itself then takes 18 s for the flood's creates); before the pull manager,
    # pods waited minutes behind the flood's pulls
    assert busy_ready <= max(5 * quiet_ready, quiet_ready + 20), (busy_ready, quiet_ready)
    assert busy_delete <= NGINX_GRACE + DELETE_BOUND, busy_delete
    # at once: no grace period (30 s) waited, only the node's own latency (0.2-1.5 s
    # measured; up to 7.4 s with the test machine at load 15)
    assert mid_pull_delete <= DELETE_BOUND, mid_pull_delete
    assert flood_delete <= 30 + DELETE_BOUND, flood_delete
    _check_backoff_steps(attempts, BACKOFF_BASE)
    assert k.proc is not None
    log = k.proc.log_path.read_text(errors="replace")
    assert "Connection pool is full" not in log
    k.assert_no_runtime_warning()
