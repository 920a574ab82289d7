"""The HorizontalPodAutoscaler controller (pkg/controller/podautoscaler/horizontal.go).

Every HPA is reconciled when it changes and again each sync period (15 s, the
``--horizontal-pod-autoscaler-sync-period`` flag): read the target's scale subresource,
compute a replica count from each metric (resource metrics from metrics.k8s.io/v1beta1
PodMetrics, read through a ``MetricsClient`` so tests can feed their own numbers), keep the
count within min/max and the behavior's windows and policies, write the scale when it
changes, then the HPA's status and conditions. The decisions are the pure functions of
``podautoscaler_util``; recommendations and scale events live in memory, as in Kubernetes.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from api import resources
from api.labels import SelectorError, parse_selector
from api.models import Pod, TypedObject
from api.models.autoscaling import HorizontalPodAutoscaler
from api.quantity import parse_quantity
from api.timeutil import format_time, parse_duration
from client import AsyncClient, NotFound
from client.cache import NAMESPACE_INDEX, meta_key, split_key
from client.controller import Controller, Result
from client.errors import ApiError
from controllers import podautoscaler_util as hu
from controllers.context import ControllerContext, retry_conflicts

log = logging.getLogger(__name__)

METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"


class MetricsClient(Protocol):
    """Where resource metrics come from (metrics.k8s.io in a cluster, a fake in tests)."""

    async def pod_metrics(self, resource: str, namespace: str, selector: str,
                          container: str = "") -> hu.PodMetricsInfo:
        """Each selected pod's usage of ``resource`` in milli-units (summed over its
        containers, or of ``container`` only); raise ``MetricsError`` when unavailable."""
        ...


def _milli(q: Any) -> int:
    return int(parse_quantity(str(q)) * 1000)


def _ts(value: Any) -> float:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


class ApiMetricsClient:
    """Resource metrics from the API server's metrics.k8s.io/v1beta1 PodMetrics
    (the resource metrics client of pkg/controller/podautoscaler/metrics/client.go)."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def pod_metrics(self, resource: str, namespace: str, selector: str,
                          container: str = "") -> hu.PodMetricsInfo:
        try:
            body = await self.client.request("GET", METRICS_PATH.format(namespace=namespace),
                                             params={"labelSelector": selector})
        except ApiError as exc:
            raise hu.MetricsError(f"unable to fetch metrics from resource metrics API: "
                                  f"{exc.message or exc}") from None
        items = body.get("items") if isinstance(body, dict) else None
        if not items:
            raise hu.MetricsError("no metrics returned from resource metrics API")
        out: hu.PodMetricsInfo = {}
        for item in items:
            total, found = 0, False
            for c in item.get("containers") or []:
                if container and c.get("name") != container:
                    continue
                usage = (c.get("usage") or {}).get(resource)
                if usage is not None:
                    total += _milli(usage)
                    found = True
            if not found:
                continue  # a pod without the resource's samples counts as missing
            window = item.get("window") or "30s"
            try:
                win = parse_duration(str(window))
            except ValueError:
                win = 30.0
            out[(item.get("metadata") or {}).get("name", "")] = hu.PodMetric(
                total, _ts(item.get("timestamp")), win)
        return out


def _quantity(milli: int) -> str:
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


class _Failed(Exception):
    """The metrics gave no replica count (the conditions and events are already set)."""


class HorizontalPodAutoscalerController:
    name = "horizontalpodautoscaling"

    def __init__(self, ctx: ControllerContext, metrics: MetricsClient | None = None,
                 clock: Callable[[], float] | None = None, *, workers: int = 5,
                 sync_period: float | None = None,
                 downscale_stabilization: float | None = None,
                 tolerance: float = hu.TOLERANCE) -> None:
        self.client: AsyncClient = ctx.client
        self.recorder = ctx.recorder
        self.metrics: MetricsClient = metrics or ApiMetricsClient(ctx.client)
        self.clock = clock or time.time
        opts = ctx.options
        self.sync_period = opts.horizontal_pod_autoscaler_sync_period \
            if sync_period is None else sync_period
        self.downscale_window = opts.horizontal_pod_autoscaler_downscale_stabilization \
            if downscale_stabilization is None else downscale_stabilization
        self.tolerance = tolerance
        self.hpa_informer = ctx.factory.informer(HorizontalPodAutoscaler)
        self.pod_informer = ctx.factory.informer(Pod)
        self.hpa_store = self.hpa_informer.store
        self.pod_store = self.pod_informer.store
        self.state: dict[str, hu.HPAState] = {}
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=opts.workers.get(self.name, workers))
        self.hpa_informer.add_handler(self._added, self._updated, self._deleted)

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    def _added(self, hpa: HorizontalPodAutoscaler) -> None:
        self.controller.enqueue(meta_key(hpa))

    def _updated(self, old: HorizontalPodAutoscaler, new: HorizontalPodAutoscaler) -> None:
        # Our own status writes come back here too; only a spec change needs a sync now
        # (the periodic requeue covers the rest), as the informer's resync does upstream.
        if old.spec != new.spec:
            self.controller.enqueue(meta_key(new))

    def _deleted(self, hpa: Any) -> None:
        key = meta_key(hpa)
        self.state.pop(key, None)
        self.controller.enqueue(key)

    # ---- reconcile ----------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        cached = self.hpa_store.get(key)
        if cached is None:
            self.state.pop(key, None)
            return None
        await self.reconcile_autoscaler(cached, key)
        return Result(requeue_after=self.sync_period)

    def _now(self) -> tuple[float, str]:
        t = self.clock()
        return t, format_time(datetime.fromtimestamp(t, UTC))

    async def reconcile_autoscaler(self, cached: HorizontalPodAutoscaler, key: str) -> None:
        hpa = cached.to_dict()
        ns, _ = split_key(key)
        ns = ns or "default"
        spec = hpa["spec"]
        old_status = hpa.get("status") or {}
        status: dict[str, Any] = copy.deepcopy(old_status)
        conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
        now, now_s = self._now()
        ref = spec.get("scaleTargetRef") or {}
        state = self.state.setdefault(key, hu.HPAState())

        def condition(type_: str, st: str, reason: str, message: str) -> None:
            hu.set_condition(conditions, type_, st, reason, message, now_s)

        info = next((r for r in resources.ALL
                     if r.kind == ref.get("kind") and "scale" in r.subresources), None)
        try:
            if info is None:
                group = (ref.get("apiVersion") or "").rpartition("/")[0]
                raise LookupError(f'no matches for kind "{ref.get("kind", "")}" in group '
                                  f'"{group}"')
            scale = await self.client.get_scale(info.model, ref.get("name", ""), ns)
        except (ApiError, LookupError) as exc:
            msg = exc.message if isinstance(exc, ApiError) else str(exc)
            condition("AbleToScale", "False", "FailedGetScale",
                      f"the HPA controller was unable to get the target's current scale: {msg}")
            self.recorder.event(cached, "Warning", "FailedGetScale", msg)
            await self._write_status(cached, old_status, status)
            return
        condition("AbleToScale", "True", "SucceededGetScale",
                  "the HPA controller was able to get the target's current scale")
        current = scale.spec.replicas or 0
        min_replicas = int(spec.get("minReplicas") or 1)
        max_replicas = int(spec.get("maxReplicas") or 0)
        metric_statuses = status.get("currentMetrics") or []
        desired = 0
        reason = ""
        rescale = True
        if current == 0 and min_replicas != 0:
            desired = 0
            rescale = False
            condition("ScalingActive", "False", "ScalingDisabled",
                      "scaling is disabled since the replica count of the target is zero")
        elif current > max_replicas:
            reason = "Current number of replicas above Spec.MaxReplicas"
            desired = max_replicas
        elif current < min_replicas:
            reason = "Current number of replicas below Spec.MinReplicas"
            desired = min_replicas
        else:
            try:
                metric_desired, metric_name, metric_statuses = await self._compute_replicas(
                    cached, spec, (scale.status.selector if scale.status else None) or "", ns, current, conditions, now_s)
            except _Failed:
                status["currentReplicas"] = current
                await self._write_status(cached, old_status, status)
                return
            desired = max(desired, metric_desired)
            if desired > current:
                reason = f"{metric_name} above target"
            if desired < current:
                reason = "All metrics below target"
            desired = self._normalize(spec, key, state, current, desired, min_replicas,
                                      max_replicas, now, condition)
            rescale = desired != current
        if rescale:
            scale.spec.replicas = desired
            try:
                await self.client.update_scale(info.model, scale, ns)
            except ApiError as exc:
                self.recorder.event(cached, "Warning", "FailedRescale",
                                    f"New size: {desired}; reason: {reason}; "
                                    f"error: {exc.message}")
                condition("AbleToScale", "False", "FailedUpdateScale",
                          f"the HPA controller was unable to update the target scale: "
                          f"{exc.message}")
                status["currentReplicas"] = current
                status["currentMetrics"] = metric_statuses or None
                await self._write_status(cached, old_status, status)
                return
            condition("AbleToScale", "True", "SucceededRescale",
                      f"the HPA controller was able to update the target scale to {desired}")
            self.recorder.event(cached, "Normal", "SuccessfulRescale",
                                f"New size: {desired}; reason: {reason}")
            hu.store_scale_event(state, spec.get("behavior"), current, desired, now)
            log.info("successful rescale of %s, old size: %d, new size: %d, reason: %s",
                     key, current, desired, reason)
        else:
            desired = current
        status["currentReplicas"] = current
        status["desiredReplicas"] = desired
        status["currentMetrics"] = metric_statuses or None
        if rescale:
            status["lastScaleTime"] = now_s
        await self._write_status(cached, old_status, status)

    def _normalize(self, spec: dict[str, Any], key: str, state: hu.HPAState, current: int,
                   desired: int, min_replicas: int, max_replicas: int, now: float,
                   condition: Callable[[str, str, str, str], None]) -> int:
        behavior = spec.get("behavior")
        if behavior is None:
            # normalizeDesiredReplicas
            stabilized = hu.stabilize_recommendation(state.recommendations, desired, now,
                                                     self.downscale_window)
            if stabilized != desired:
                condition("AbleToScale", "True", "ScaleDownStabilized",
                          "recent recommendations were higher than current one, applying "
                          "the highest recent recommendation")
            else:
                condition("AbleToScale", "True", "ReadyForNewScale",
                          "recommended size matches current size")
            out, reason, message = hu.convert_desired_replicas_with_rules(
                current, stabilized, min_replicas, max_replicas)
        else:
            # normalizeDesiredReplicasWithBehaviors
            up = behavior.get("scaleUp") or {}
            down = behavior.get("scaleDown") or {}
            down_window = down.get("stabilizationWindowSeconds")
            stabilized, reason, message = hu.stabilize_recommendation_with_behaviors(
                state.recommendations, current, desired,
                float(up.get("stabilizationWindowSeconds") or 0),
                float(self.downscale_window if down_window is None else down_window), now)
            if stabilized != desired:
                condition("AbleToScale", "True", reason, message)
            else:
                condition("AbleToScale", "True", "ReadyForNewScale",
                          "recommended size matches current size")
            out, reason, message = hu.convert_desired_replicas_with_behavior_rate(
                current, stabilized, min_replicas, max_replicas, state, up, down, now)
        condition("ScalingLimited", "False" if out == stabilized else "True", reason, message)
        return out

    async def _compute_replicas(self, hpa: HorizontalPodAutoscaler, spec: dict[str, Any],
                                selector: str, ns: str, current: int,
                                conditions: list[dict[str, Any]], now_s: str
                                ) -> tuple[int, str, list[dict[str, Any]]]:
        """computeReplicasForMetrics: the largest proposal over the metrics that work."""
        if not selector:
            self.recorder.event(hpa, "Warning", "SelectorRequired", "selector is required")
            hu.set_condition(conditions, "ScalingActive", "False", "InvalidSelector",
                             "the HPA target's scale is missing a selector", now_s)
            raise _Failed
        try:
            parsed = parse_selector(selector)
        except SelectorError as exc:
            msg = f"couldn't convert selector into a corresponding internal selector object: " \
                  f"{exc}"
            self.recorder.event(hpa, "Warning", "InvalidSelector", msg)
            hu.set_condition(conditions, "ScalingActive", "False", "InvalidSelector", msg, now_s)
            raise _Failed from None
        pods = [p for p in self.pod_store.by_index(NAMESPACE_INDEX, ns)
                if p.metadata.namespace == ns and parsed.matches(p.metadata.labels)]
        specs = spec.get("metrics") or []
        # Aligned with the specs (a failed metric keeps an empty entry), as kubectl's
        # TARGETS pairs them by index.
        statuses: list[dict[str, Any]] = [{"type": ""} for _ in specs]
        replicas, metric = 0, ""
        first_failure: tuple[str, str] | None = None
        for i, m in enumerate(specs):
            try:
                r, name, st = await self._compute_for_metric(m, selector, ns, current, pods)
            except hu.MetricsError as exc:
                reason = str(exc.args[1]) if len(exc.args) > 1 else "FailedGetResourceMetric"
                self.recorder.event(hpa, "Warning", reason, str(exc.args[0]))
                if first_failure is None:
                    first_failure = (reason, f"the HPA was unable to compute the replica "
                                             f"count: {exc.args[0]}")
                continue
            statuses[i] = st
            if replicas == 0 or r > replicas:
                replicas, metric = r, name
        # All metrics failed, or some did and the others would scale down: no decision.
        if first_failure is not None and (metric == "" or replicas < current):
            hu.set_condition(conditions, "ScalingActive", "False", *first_failure, now_s)
            raise _Failed
        hu.set_condition(conditions, "ScalingActive", "True", "ValidMetricFound",
                         f"the HPA was able to successfully calculate a replica count from "
                         f"{metric}", now_s)
        return replicas, metric, statuses

    async def _compute_for_metric(self, m: dict[str, Any], selector: str, ns: str,
                                  current: int, pods: list[Pod]
                                  ) -> tuple[int, str, dict[str, Any]]:
        t = m.get("type")
        if t not in ("Resource", "ContainerResource"):
            # Pods, Object and External metrics need the custom/external metrics APIs.
            reason = {"Pods": "FailedGetPodsMetric", "Object": "FailedGetObjectMetric",
                      "External": "FailedGetExternalMetric"}.get(str(t),
                                                                 "InvalidMetricSourceType")
            msg = (f"unknown metric source type {t!r}" if reason == "InvalidMetricSourceType"
                   else f"unable to get metric: the server could not find the requested "
                        f"resource ({str(t).lower()} metrics are not served)")
            raise hu.MetricsError(msg, reason)
        field = "resource" if t == "Resource" else "containerResource"
        src = m.get(field) or {}
        resource = src.get("name", "")
        container = src.get("container", "") if t == "ContainerResource" else ""
        target = src.get("target") or {}
        kind = "container resource" if container else "resource"
        reason = "FailedGetResourceMetric" if not container else \
            "FailedGetContainerResourceMetric"
        now = self.clock()
        try:
            try:
                samples = await self.metrics.pod_metrics(resource, ns, selector, container)
            except hu.MetricsError as exc:
                raise hu.MetricsError(f"unable to get metrics for resource {resource}: "
                                      f"{exc}") from None
            if target.get("averageValue") is not None:
                r, usage = hu.plain_metric_replicas(
                    current, _milli(target["averageValue"]), resource, pods, samples, now,
                    tolerance=self.tolerance)
                st = {"type": t, field: {"name": resource,
                                         "current": {"averageValue": _quantity(usage)}}}
                name = f"{resource} {kind}"
            else:
                if target.get("averageUtilization") is None:
                    raise hu.MetricsError("invalid resource metric source: neither a "
                                          "utilization target nor a value target was set")
                r, util, raw = hu.resource_replicas(
                    current, int(target["averageUtilization"]), resource, pods, samples, now,
                    tolerance=self.tolerance, container=container)
                st = {"type": t, field: {"name": resource, "current": {
                    "averageUtilization": util, "averageValue": _quantity(raw)}}}
                name = f"{resource} {kind} utilization (percentage of request)"
        except hu.MetricsError as exc:
            raise hu.MetricsError(f"failed to get {resource} utilization: {exc}",
                                  reason) from None
        if container:
            st[field]["container"] = container
        return r, name, st

    async def _write_status(self, cached: TypedObject, old: dict[str, Any],
                            new: dict[str, Any]) -> None:
        """updateStatusIfNeeded: one write, only when something changed."""
        new = {k: v for k, v in new.items() if v is not None}
        if not new.get("conditions"):
            new.pop("conditions", None)
        new.setdefault("desiredReplicas", old.get("desiredReplicas", 0))
        gen = cached.metadata.generation
        if gen is not None:
            new["observedGeneration"] = gen
        if new == old:
            return
        obj = cached.to_dict()
        obj["status"] = new
        try:
            await self.client.update_status(HorizontalPodAutoscaler.from_dict(obj))
        except NotFound:
            pass
