"""On real Docker, the issue's story end to end: pods that burn CPU make the HPA scale their
Deployment up (a kubelet process on Docker, its /stats/summary, the API server's
metrics.k8s.io, the controller's ApiMetricsClient, real time throughout), and once the
burn stops it scales back down after the scale-down stabilization window."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from api.models import Deployment, Event
from api.models.autoscaling import HorizontalPodAutoscaler
from client import AsyncClient
from controllers.podautoscaler import HorizontalPodAutoscalerController
from testing.objects import new_namespace
from testing.support import Process, async_wait_for
from tests.controllers.helpers import in_process, start_controller_manager
from tests.kubelet.helpers import KubeletProc, kubelet_on_docker

pytest.importorskip("docker")

pytestmark = [pytest.mark.docker, pytest.mark.timeout(150)]

# busy for 12 s after the container starts, then idle until stopped
BURN = ("trap 'exit 0' TERM; end=$(( $(date +%s) + 12 )); "
        "while [ $(date +%s) -lt $end ]; do :; done; while true; do sleep 1; done")


@pytest.fixture(scope="module")
def kubelet(server_url: str, dk: Any) -> Iterator[KubeletProc]:
    with kubelet_on_docker(server_url, dk, "hpad") as k:
        yield k


@pytest.fixture(scope="module")
def cm(server_url: str) -> Iterator[Process]:
    p = start_controller_manager(server_url, "--controllers=deployment,replicaset",
                                 name="controller-manager-hpa-docker")
    yield p
    p.stop()


@pytest.fixture
async def client(server_url: str, cm: Process) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server_url) as c:
        yield c
    assert cm.alive(), cm.log_tail()


async def test_burning_pods_scale_up_then_down_after_the_window(
        client: AsyncClient, kubelet: KubeletProc) -> None:
    ns = await new_namespace(client, "hpad")
    labels = {"app": "burn"}
    await client.create(Deployment.from_dict({
        "metadata": {"name": "burn"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"nodeName": kubelet.node, "terminationGracePeriodSeconds": 2,
                     "containers": [{
                         "name": "c", "image": "busybox", "command": ["sh", "-c", BURN],
                         "resources": {"requests": {"cpu": "100m"}}}]}}}}), ns)
    await client.create(HorizontalPodAutoscaler.from_dict({
        "metadata": {"name": "burn"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": "burn"},
                 "minReplicas": 1, "maxReplicas": 3,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                     "type": "Utilization", "averageUtilization": 50}}}],
                 "behavior": {"scaleDown": {"stabilizationWindowSeconds": 8}}}}), ns)

    async def replicas() -> int:
        return (await client.get(Deployment, "burn", ns)).spec.replicas or 0

    async def rescales() -> list[str]:
        return [e.message or "" for e in (await client.list(Event, ns)).items
                if e.reason == "SuccessfulRescale"]
    try:
        async with in_process(client, "horizontal-pod-autoscaler",
                              lambda ctx: HorizontalPodAutoscalerController(
                                  ctx, sync_period=1.0)):
            # a busy loop is ~1000m of a 100m request: far above 50%
            await async_wait_for(lambda: _ge(replicas, 2), timeout=60, interval=0.5)
            # (the events follow the scale writes: the recorder sends them in the background)
            await async_wait_for(lambda: _rescaled(rescales, "reason: cpu resource utilization "
                                                   "(percentage of request) above target"),
                                 timeout=10, interval=0.2)
            # every pod stops burning 12 s after it started; down to 1 after the 8 s window
            await async_wait_for(lambda: _eq(replicas, 1), timeout=75, interval=0.5)
            await async_wait_for(lambda: _rescaled(
                rescales, "New size: 1; reason: All metrics below target"),
                timeout=10, interval=0.2)
            h = await client.get(HorizontalPodAutoscaler, "burn", ns)
            assert h.status is not None and h.status.current_metrics
            cur = h.status.current_metrics[0].resource
            assert cur is not None and (cur.current.average_utilization or 0) < 50
    finally:
        await client.delete(Deployment, "burn", ns)


async def _ge(f: Any, n: int) -> bool:
    return bool(await f() >= n)


async def _eq(f: Any, n: int) -> bool:
    return bool(await f() == n)


async def _rescaled(rescales: Any, ending: str) -> bool:
    return any(m.endswith(ending) for m in await rescales())
