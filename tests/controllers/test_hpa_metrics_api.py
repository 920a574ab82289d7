"""The HPA controller reading the real metrics.k8s.io/v1beta1 PodMetrics: a fake-runtime
kubelet process runs the Deployment's pods with synthetic CPU usage
(MINIK8S_FAKE_CPU_MILLICORES), the API server serves it from the kubelet's /stats/summary,
and the controller's default MetricsClient (ApiMetricsClient) turns it into a scale write."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import pytest

from api.models import Deployment
from api.models.autoscaling import HorizontalPodAutoscaler
from client import AsyncClient
from controllers.podautoscaler import ApiMetricsClient, HorizontalPodAutoscalerController
from testing.objects import new_namespace
from testing.support import Process, async_wait_for, free_port, http_ok, service, unique, wait_for
from tests.controllers.helpers import in_process, start_controller_manager

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def node(server_url: str) -> Iterator[str]:
    name = unique("hpanode")
    port = free_port()
    proc: Process = service(f"kubelet-{name}", "kubelet", [
        "--server", server_url, "--node-name", name, "--runtime", "fake", "--port", str(port),
        "--address", "127.0.0.1", "--node-ip", "127.0.0.1", "--cpu", "4", "--memory", "4Gi",
        "--relist-seconds", "1", "--heartbeat-seconds", "1"])
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), timeout=20,
                 message=f"kubelet healthz:\n{proc.log_tail()}")
        yield name
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def cm(server_url: str) -> Iterator[Process]:
    p = start_controller_manager(server_url, "--controllers=deployment,replicaset",
                                 name="controller-manager-hpa-metrics")
    yield p
    p.stop()


@pytest.fixture
async def client(server_url: str, cm: Process) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server_url) as c:
        yield c
    assert cm.alive(), cm.log_tail()


async def test_scales_from_the_metrics_api(client: AsyncClient, node: str) -> None:
    ns = await new_namespace(client, "hpam")
    labels = {"app": "burn"}
    await client.create(Deployment.from_dict({
        "metadata": {"name": "burn"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"nodeName": node, "containers": [{
                "name": "c", "image": "busybox",
                "resources": {"requests": {"cpu": "100m"}},
                "env": [{"name": "MINIK8S_FAKE_CPU_MILLICORES", "value": "200"}]}]}}}}), ns)
    await client.create(HorizontalPodAutoscaler.from_dict({
        "metadata": {"name": "burn"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": "burn"},
                 "minReplicas": 1, "maxReplicas": 3, "metrics": [
                     {"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": 50}}}]}}), ns)
    # pods look long started (past the cpu initialization period): only the numbers count
    async with in_process(client, "horizontal-pod-autoscaler",
                          lambda ctx: HorizontalPodAutoscalerController(
                              ctx, clock=lambda: time.time() + 3600, sync_period=0.5)
                          ) as ctl:
        assert isinstance(ctl.metrics, ApiMetricsClient)
        # 200m used of a 100m request is 200% of a 50% target: 4 wanted, 3 allowed
        async def scaled() -> bool:
            d = await client.get(Deployment, "burn", ns)
            return d.spec.replicas == 3
        await async_wait_for(scaled, timeout=100)  # loaded CI: pods, two samples, 5 s cache

        # New pods have no rate for a sync or two (a loaded CI run read such a status once).
        async def measured() -> bool:
            s = (await client.get(HorizontalPodAutoscaler, "burn", ns)).status
            return s is not None and bool(s.current_metrics)
        await async_wait_for(measured, timeout=30)
        h = await client.get(HorizontalPodAutoscaler, "burn", ns)
        assert h.status is not None and h.status.current_metrics
        cur = h.status.current_metrics[0].resource
        assert cur is not None and cur.name == "cpu"
        assert cur.current.average_utilization is not None
        assert 150 <= cur.current.average_utilization <= 250, cur
