"""HPA reaction benchmark: from a change of the metrics to the scale write.

    python bench/hpa.py [--pods 10] [--rounds 10] [--sync-period 1.0]

Starts its own etcd and API server; the HPA controller runs in this process with a fake
metrics source (behind its MetricsClient protocol), over a Deployment whose ``--pods``
pods this script creates Running and Ready (no controller-manager: only the scale write is
timed). Each round flips every pod's CPU usage between 100% and 25% of its request against
a 50% target (minReplicas = pods, maxReplicas = 2 x pods, no downscale window), so each
flip wants a rescale; a Deployment informer here notes when spec.replicas changes.

Metrics changes make no API event, so the controller sees them at its next periodic sync:
the baseline is the sync period itself (a uniform wait in [0, period), mean period / 2).
Prints one JSON document: reaction p50/p99/max, their ratio to the sync period, and the
controller's own time per sync (reaction minus the wait for the sync, at the floor).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.models import Deployment, Namespace, ObjectMeta, Pod, PodStatus
from api.models.autoscaling import HorizontalPodAutoscaler
from api.timeutil import now as now_rfc3339
from bench.stats import pct
from client.events import EventRecorder
from client.informer import Informer, SharedInformerFactory
from client.rest import AsyncClient
from controllers import podautoscaler_util as hu
from controllers.context import ControllerContext
from controllers.podautoscaler import HorizontalPodAutoscalerController
from testing.objects import deployment
from testing.support import ApiServer, Etcd


class FakeMetrics:
    """Every pod of the namespace uses ``usage`` milli-cpu (it reads the controller's own
    pod cache, so a sync costs no extra request)."""

    def __init__(self, pods: Any) -> None:
        self.pods = pods
        self.usage = 100

    async def pod_metrics(self, resource: str, namespace: str, selector: str,
                          container: str = "") -> hu.PodMetricsInfo:
        t = time.time() + 3600
        return {p.metadata.name or "": hu.PodMetric(self.usage, t - 5, 30.0)
                for p in self.pods.list() if p.metadata.namespace == namespace}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    etcd = Etcd().start()
    api = ApiServer(etcd.url).start()
    try:
        async with AsyncClient(api.url, timeout=60) as client:
            ns = "bench"
            await client.create(Namespace(metadata=ObjectMeta(name=ns)))
            d = deployment("web", args.pods).to_dict()
            d["spec"]["template"]["spec"]["containers"][0]["resources"] = {
                "requests": {"cpu": "100m"}}
            await client.create(Deployment.from_dict(d), ns)
            labels = {"app": "web"}
            for i in range(args.pods):
                pod = Pod.from_dict({"metadata": {"name": f"web-{i}", "labels": labels},
                                     "spec": d["spec"]["template"]["spec"]})
                created = await client.create(pod, ns)
                ts = now_rfc3339()
                created.status = PodStatus.from_dict({
                    "phase": "Running", "startTime": ts, "conditions": [
                        {"type": "Ready", "status": "True", "lastTransitionTime": ts}]})
                await client.update_status(created)

            recorder = EventRecorder(client, component="horizontal-pod-autoscaler")
            ctx = ControllerContext(client, SharedInformerFactory(client), recorder)
            ctl = HorizontalPodAutoscalerController(
                ctx, None, lambda: time.time() + 3600, sync_period=args.sync_period)
            metrics = FakeMetrics(ctl.pod_store)
            ctl.metrics = metrics
            syncs: list[float] = []
            inner = ctl.reconcile

            async def timed(key: str) -> Any:
                t = time.perf_counter()
                try:
                    return await inner(key)
                finally:
                    syncs.append(time.perf_counter() - t)

            ctl.controller.reconcile = timed  # type: ignore[method-assign]
            recorder.start()
            await ctx.factory.start_all()
            await ctx.factory.wait_for_sync(timeout=30)

            changed = asyncio.Event()
            seen: dict[str, float] = {}

            def on_update(old: Deployment, new: Deployment) -> None:
                if old.spec.replicas != new.spec.replicas:
                    seen["t"] = time.perf_counter()
                    changed.set()

            dep_inf: Informer[Deployment] = Informer(client, Deployment, ns)
            dep_inf.add_handler(None, on_update, None)
            await dep_inf.start()
            await dep_inf.wait_for_sync(10)

            stop = asyncio.Event()
            task = asyncio.create_task(ctl.controller.run(stop))
            await client.create(HorizontalPodAutoscaler.from_dict({
                "metadata": {"name": "web"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": "web"},
                         "minReplicas": args.pods, "maxReplicas": 2 * args.pods,
                         "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                      "target": {"type": "Utilization",
                                                 "averageUtilization": 50}}}],
                         "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}}}}), ns)
            # the first sync (on the HPA's ADDED event) already sees 100%: wait it out
            await asyncio.wait_for(changed.wait(), 30 + 2 * args.sync_period)
            reactions: list[float] = []
            rng = random.Random(1)
            for r in range(args.rounds):
                # land anywhere in the period, as a real load change would
                await asyncio.sleep(rng.uniform(0, args.sync_period))
                changed.clear()
                metrics.usage = 25 if r % 2 == 0 else 100
                t0 = time.perf_counter()
                await asyncio.wait_for(changed.wait(), 30 + 2 * args.sync_period)
                reactions.append(seen["t"] - t0)
            stop.set()
            await asyncio.wait_for(task, 10)
            await dep_inf.stop()
            await ctx.factory.stop_all()
            await recorder.close()
            period = args.sync_period
            return {
                "pods": args.pods, "rounds": args.rounds,
                "sync_period_seconds": period,
                "reaction_seconds": {"p50": round(pct(reactions, 50), 3),
                                     "p99": round(pct(reactions, 99), 3),
                                     "max": round(max(reactions), 3),
                                     "min": round(min(reactions), 3)},
                "baseline_expected_wait_for_the_sync_seconds": {"mean": period / 2,
                                                                "max": period},
                "ratio_p50_to_sync_period": round(pct(reactions, 50) / period, 3),
                "ratio_max_to_sync_period": round(max(reactions) / period, 3),
                "controller_seconds_per_sync": {"p50": round(pct(syncs, 50), 4),
                                                "p99": round(pct(syncs, 99), 4),
                                                "syncs": len(syncs)},
            }
    finally:
        api.stop()
        etcd.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pods", type=int, default=10)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--sync-period", type=float, default=1.0)
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
