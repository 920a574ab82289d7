"""The HorizontalPodAutoscaler controller against a real API server: the Deployment and
ReplicaSet controllers run as the controller-manager process, a FakeKubelet makes pods
ready, and the HPA controller runs here with a fake metrics source (behind its
MetricsClient protocol) and an injected clock, so the 5-minute stabilization window
passes in an instant."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from api.models import Deployment, Event, Pod
from api.models.autoscaling import HorizontalPodAutoscaler
from client import AsyncClient
from controllers import podautoscaler_util as hu
from controllers.podautoscaler import HorizontalPodAutoscalerController
from testing.objects import deployment, new_namespace
from testing.support import Process, async_wait_for
from tests.controllers.helpers import FakeKubelet, in_process, start_controller_manager

pytestmark = pytest.mark.timeout(90)


class Clock:
    """Real time plus an offset the test moves forward (pods look long started)."""

    def __init__(self) -> None:
        self.offset = 3600.0

    def __call__(self) -> float:
        return time.time() + self.offset


class FakeMetrics:
    """Every selected pod uses ``usage`` milli-cpu (None: the metrics API has nothing)."""

    def __init__(self, client: AsyncClient, clock: Clock) -> None:
        self.client = client
        self.clock = clock
        self.usage: dict[str, int | None] = {}

    async def pod_metrics(self, resource: str, namespace: str, selector: str,
                          container: str = "") -> hu.PodMetricsInfo:
        usage = self.usage.get(namespace)
        if usage is None:
            raise hu.MetricsError("no metrics returned from resource metrics API")
        pods = (await self.client.list(Pod, namespace, label_selector=selector)).items
        return {p.metadata.name or "": hu.PodMetric(usage, self.clock() - 5, 30.0)
                for p in pods}


@pytest.fixture(scope="module")
def cm(server_url: str) -> Iterator[Process]:
    p = start_controller_manager(server_url, "--controllers=deployment,replicaset",
                                 name="controller-manager-hpa")
    yield p
    p.stop()


@pytest.fixture
async def client(server_url: str, cm: Process) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server_url) as c:
        yield c
    assert cm.alive(), cm.log_tail()


@pytest.fixture
async def hpa_controller(client: AsyncClient
                         ) -> AsyncIterator[tuple[HorizontalPodAutoscalerController, FakeMetrics,
                                                  Clock]]:
    clock = Clock()
    metrics = FakeMetrics(client, clock)
    async with in_process(client, "horizontal-pod-autoscaler",
                          lambda ctx: HorizontalPodAutoscalerController(
                              ctx, metrics, clock, sync_period=0.3)) as ctl:
        yield ctl, metrics, clock


def new_hpa(name: str, target: str, *, min_replicas: int = 1, max_replicas: int = 4,
            cpu: int = 50, **spec: Any) -> HorizontalPodAutoscaler:
    return HorizontalPodAutoscaler.from_dict({
        "metadata": {"name": name},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": target},
                 "minReplicas": min_replicas, "maxReplicas": max_replicas,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                     "type": "Utilization", "averageUtilization": cpu}}}], **spec}})


def web(name: str, replicas: int = 1) -> Deployment:
    d = deployment(name, replicas).to_dict()
    d["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "100m"}}
    return Deployment.from_dict(d)


def condition(h: HorizontalPodAutoscaler, type_: str) -> tuple[str, str]:
    for c in (h.status.conditions if h.status else None) or []:
        if c.type == type_:
            return c.status, c.reason or ""
    return "", ""


async def replicas(client: AsyncClient, ns: str, name: str) -> int:
    return (await client.get(Deployment, name, ns)).spec.replicas or 0


async def test_scales_up_and_down_within_limits_after_the_window(
        client: AsyncClient, hpa_controller: Any) -> None:
    _ctl, metrics, clock = hpa_controller
    ns = await new_namespace(client, "hpa")
    async with FakeKubelet(client, ns):
        await client.create(web("web"), ns)
        metrics.usage[ns] = 200  # 200% of the 100m request against a 50% target
        await client.create(new_hpa("web", "web"), ns)
        # ceil(1 * 200/50) = 4, and 4 is both the first step's limit and maxReplicas
        await async_wait_for(lambda: _at(client, ns, 4), timeout=20)
        h = await client.get(HorizontalPodAutoscaler, "web", ns)
        assert h.status is not None and h.status.desired_replicas == 4
        assert h.status.last_scale_time
        assert condition(h, "AbleToScale") == ("True", "SucceededRescale")
        assert condition(h, "ScalingActive") == ("True", "ValidMetricFound")
        evs = [e for e in (await client.list(Event, ns)).items
               if e.reason == "SuccessfulRescale"]
        assert any(e.message == "New size: 4; reason: cpu resource utilization (percentage "
                   "of request) above target" for e in evs), [e.message for e in evs]

        # more load: held at maxReplicas, ScalingLimited says why
        metrics.usage[ns] = 400

        async def limited() -> bool:
            h = await client.get(HorizontalPodAutoscaler, "web", ns)
            return condition(h, "ScalingLimited") == ("True", "TooManyReplicas") and \
                h.status is not None and h.status.current_replicas == 4
        await async_wait_for(limited, timeout=20)

        # the load goes: the 5-minute downscale window holds the highest recommendation
        metrics.usage[ns] = 0  # recommends 0 replicas, below minReplicas

        async def stabilized() -> bool:
            h = await client.get(HorizontalPodAutoscaler, "web", ns)
            return condition(h, "AbleToScale") == ("True", "ScaleDownStabilized")
        await async_wait_for(stabilized, timeout=20)
        for _ in range(3):  # a few more syncs change nothing
            await asyncio.sleep(0.4)
            assert await replicas(client, ns, "web") == 4
        clock.offset += 301  # past the window: down to minReplicas
        await async_wait_for(lambda: _at(client, ns, 1), timeout=20)
        h = await client.get(HorizontalPodAutoscaler, "web", ns)
        assert condition(h, "ScalingLimited") == ("True", "TooFewReplicas")
        evs = [e for e in (await client.list(Event, ns)).items
               if e.reason == "SuccessfulRescale"]
        assert any(e.message == "New size: 1; reason: All metrics below target"
                   for e in evs), [e.message for e in evs]


async def _at(client: AsyncClient, ns: str, n: int) -> bool:
    h = await client.get(HorizontalPodAutoscaler, "web", ns)
    return await replicas(client, ns, "web") == n and h.status is not None and \
        h.status.desired_replicas == n


async def test_behavior_policies_limit_the_rate(client: AsyncClient,
                                                hpa_controller: Any) -> None:
    _ctl, metrics, clock = hpa_controller
    ns = await new_namespace(client, "hpa")
    async with FakeKubelet(client, ns):
        await client.create(web("web", 2), ns)
        metrics.usage[ns] = 500
        behavior = {"scaleUp": {"policies": [{"type": "Pods", "value": 1,
                                              "periodSeconds": 60}]}}
        await client.create(new_hpa("web", "web", max_replicas=10, behavior=behavior), ns)
        await async_wait_for(lambda: _replicas_is(client, ns, 3), timeout=20)
        h = await client.get(HorizontalPodAutoscaler, "web", ns)
        assert condition(h, "ScalingLimited") == ("True", "ScaleUpLimit")
        # stored with the defaults filled in (scaleDown untouched but defaulted)
        assert h.spec.behavior is not None and h.spec.behavior.scale_down is not None
        assert h.spec.behavior.scale_down.select_policy == "Max"
        for _ in range(3):
            await asyncio.sleep(0.4)
            assert await replicas(client, ns, "web") == 3
        clock.offset += 61  # the next period allows one more pod
        await async_wait_for(lambda: _replicas_is(client, ns, 4), timeout=20)


async def _replicas_is(client: AsyncClient, ns: str, n: int) -> bool:
    return await replicas(client, ns, "web") == n


async def test_conditions_when_it_cannot_scale(client: AsyncClient,
                                               hpa_controller: Any) -> None:
    _ctl, metrics, _clock = hpa_controller
    ns = await new_namespace(client, "hpa")
    async with FakeKubelet(client, ns):
        await client.create(new_hpa("ghost", "nothing-here"), ns)
        await client.create(web("web"), ns)
        await client.create(new_hpa("web", "web"), ns)  # no metrics for this namespace

        async def both() -> bool:
            g = await client.get(HorizontalPodAutoscaler, "ghost", ns)
            w = await client.get(HorizontalPodAutoscaler, "web", ns)
            return condition(g, "AbleToScale") == ("False", "FailedGetScale") and \
                condition(w, "ScalingActive") == ("False", "FailedGetResourceMetric")
        await async_wait_for(both, timeout=20)
        g = await client.get(HorizontalPodAutoscaler, "ghost", ns)
        msg = next(c.message for c in g.status.conditions or [] if c.type == "AbleToScale")
        assert msg == ("the HPA controller was unable to get the target's current scale: "
                       'deployments.apps "nothing-here" not found')
        w = await client.get(HorizontalPodAutoscaler, "web", ns)
        msg = next(c.message for c in w.status.conditions or [] if c.type == "ScalingActive")
        assert msg.startswith("the HPA was unable to compute the replica count: failed to "
                              "get cpu utilization: unable to get metrics for resource cpu")
        assert await replicas(client, ns, "web") == 1
        # a Deployment scaled to zero disables autoscaling
        await client.patch_scale(Deployment, "web", 0, ns)

        async def disabled() -> bool:
            w = await client.get(HorizontalPodAutoscaler, "web", ns)
            return condition(w, "ScalingActive") == ("False", "ScalingDisabled")
        await async_wait_for(disabled, timeout=20)
        metrics.usage[ns] = 500
        await asyncio.sleep(1)
        assert await replicas(client, ns, "web") == 0
