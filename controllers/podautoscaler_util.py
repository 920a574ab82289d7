"""The HorizontalPodAutoscaler's decisions, as pure functions of pods, metrics and time.

Ported from kubernetes/kubernetes pkg/controller/podautoscaler:
- replica_calculator.go: groupPods, calculatePodRequests, GetResourceReplicas,
  GetRawResourceReplicas / calcPlainMetricReplicas (tolerance, unready and missing pods);
- metrics/utilization.go: GetResourceUtilizationRatio, GetMetricUsageRatio;
- horizontal.go: stabilizeRecommendation, normalizeDesiredReplicas(WithBehaviors),
  stabilizeRecommendationWithBehaviors, convertDesiredReplicasWithBehaviorRate,
  convertDesiredReplicasWithRules, calculateScaleUpLimit(WithScalingRules),
  calculateScaleDownLimitWithBehaviors, getReplicasChangePerPeriod, storeScaleEvent,
  setCondition.
Times are seconds since the epoch (the controller's injectable clock), quantities milli-units.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from api.models import Pod
from api.quantity import parse_quantity
from api.timeutil import parse_time

TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD = 300.0  # --horizontal-pod-autoscaler-cpu-initialization-period
DELAY_OF_INITIAL_READINESS_STATUS = 30.0  # --horizontal-pod-autoscaler-initial-readiness-delay
DOWNSCALE_STABILIZATION_WINDOW = 300.0  # --horizontal-pod-autoscaler-downscale-stabilization
SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0
INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)


class MetricsError(Exception):
    """The replica count cannot be computed from this metric (ScalingActive False)."""


@dataclass
class PodMetric:
    """One pod's sample: the summed usage of its containers in milli-units."""

    value: int
    timestamp: float
    window: float = 30.0


PodMetricsInfo = dict[str, PodMetric]


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parse_time(value).timestamp()
    except ValueError:
        return None


def _ready_condition(pod: Pod) -> tuple[str, float] | None:
    for c in (pod.status.conditions if pod.status else None) or []:
        if c.type == "Ready":
            return c.status, _ts(c.last_transition_time) or 0.0
    return None


def group_pods(pods: Iterable[Pod], metrics: PodMetricsInfo, resource: str, now: float,
               cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD,
               delay_of_initial_readiness_status: float = DELAY_OF_INITIAL_READINESS_STATUS,
               ) -> tuple[int, set[str], set[str], set[str]]:
    """groupPods: (ready count, unready, missing, ignored) pod names. Deleted and failed pods
    are ignored; pending pods are unready; for cpu, a pod in its initialization period
    counts as unready while not ready or before one full metric window since it became
    ready, and later only when it has never been ready since its start."""
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        name = pod.metadata.name or ""
        phase = pod.status.phase if pod.status else None
        if pod.metadata.deletion_timestamp is not None or phase == "Failed":
            ignored.add(name)
            continue
        if phase == "Pending":
            unready.add(name)
            continue
        metric = metrics.get(name)
        if metric is None:
            missing.add(name)
            continue
        if resource == "cpu":
            cond = _ready_condition(pod)
            start = _ts(pod.status.start_time if pod.status else None)
            if cond is None or start is None:
                is_unready = True
            else:
                status, transition = cond
                if start + cpu_initialization_period > now:
                    is_unready = status == "False" or \
                        metric.timestamp < transition + metric.window
                else:
                    is_unready = status == "False" and \
                        start + delay_of_initial_readiness_status > transition
            if is_unready:
                unready.add(name)
                continue
        ready += 1
    return ready, unready, missing, ignored


def pod_requests(pods: Iterable[Pod], resource: str, container: str = "") -> dict[str, int]:
    """calculatePodRequests: each pod's summed container requests in milli-units; a
    container without a request for the resource is an error."""
    out: dict[str, int] = {}
    for pod in pods:
        total = 0
        for c in pod.spec.containers:
            if container and c.name != container:
                continue
            req = (c.resources.requests if c.resources else None) or {}
            if resource not in req:
                raise MetricsError(f"missing request for {resource} in container {c.name} "
                                   f"of Pod {pod.metadata.name}")
            total += math.ceil(parse_quantity(req[resource]) * 1000)
        out[pod.metadata.name or ""] = total
    return out


def resource_utilization_ratio(metrics: PodMetricsInfo, requests: dict[str, int],
                               target_utilization: int) -> tuple[float, int, int]:
    """GetResourceUtilizationRatio: (usage ratio, utilization %, raw average milli-value)."""
    metrics_total = 0
    requests_total = 0
    entries = 0
    for name, m in metrics.items():
        if name not in requests:
            continue
        metrics_total += m.value
        requests_total += requests[name]
        entries += 1
    if requests_total == 0:
        raise MetricsError("no metrics returned matched known pods")
    utilization = (metrics_total * 100) // requests_total
    return utilization / target_utilization, utilization, metrics_total // entries


def metric_usage_ratio(metrics: PodMetricsInfo, target_usage: int) -> tuple[float, int]:
    """GetMetricUsageRatio: (usage ratio, average usage)."""
    total = sum(m.value for m in metrics.values())
    usage = total // len(metrics)
    return usage / target_usage, usage


def _with_missing_and_unready(metrics: PodMetricsInfo, missing: set[str], unready: set[str],
                              scale_up_with_unready: bool, usage_ratio: float,
                              down_value: dict[str, int]) -> PodMetricsInfo:
    out = dict(metrics)
    if missing:
        for name in missing:
            if usage_ratio < 1.0:
                # on a scale-down, treat missing pods as using 100% of the target
                out[name] = PodMetric(down_value[name], 0.0)
            elif usage_ratio > 1.0:
                # on a scale-up, treat missing pods as using 0%
                out[name] = PodMetric(0, 0.0)
    if scale_up_with_unready:
        for name in unready:
            out[name] = PodMetric(0, 0.0)
    return out


def resource_replicas(current_replicas: int, target_utilization: int, resource: str,
                      pods: list[Pod], metrics: PodMetricsInfo, now: float, *,
                      tolerance: float = TOLERANCE, container: str = "",
                      cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD,
                      delay_of_initial_readiness_status: float =
                      DELAY_OF_INITIAL_READINESS_STATUS) -> tuple[int, int, int]:
    """GetResourceReplicas: (replicas, utilization %, raw average milli-value) for a
    Utilization target."""
    if not pods:
        raise MetricsError("no pods returned by selector while calculating replica count")
    ready, unready, missing, ignored = group_pods(
        pods, metrics, resource, now, cpu_initialization_period,
        delay_of_initial_readiness_status)
    metrics = {k: v for k, v in metrics.items() if k not in ignored and k not in unready}
    requests = pod_requests(pods, resource, container)
    if not metrics:
        raise MetricsError("did not receive metrics for targeted pods (pods might be unready)")
    usage_ratio, utilization, raw = resource_utilization_ratio(metrics, requests,
                                                               target_utilization)
    scale_up_with_unready = bool(unready) and usage_ratio > 1.0
    if not scale_up_with_unready and not missing:
        if abs(1.0 - usage_ratio) <= tolerance:
            return current_replicas, utilization, raw
        return math.ceil(usage_ratio * ready), utilization, raw
    metrics = _with_missing_and_unready(metrics, missing, unready, scale_up_with_unready,
                                        usage_ratio, requests)
    new_ratio, _, _ = resource_utilization_ratio(metrics, requests, target_utilization)
    if abs(1.0 - new_ratio) <= tolerance or (usage_ratio < 1.0 < new_ratio) or \
            (usage_ratio > 1.0 > new_ratio):
        return current_replicas, utilization, raw
    new_replicas = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and new_replicas > current_replicas) or \
            (new_ratio > 1.0 and new_replicas < current_replicas):
        return current_replicas, utilization, raw
    return new_replicas, utilization, raw


def plain_metric_replicas(current_replicas: int, target_usage: int, resource: str,
                          pods: list[Pod], metrics: PodMetricsInfo, now: float, *,
                          tolerance: float = TOLERANCE,
                          cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD,
                          delay_of_initial_readiness_status: float =
                          DELAY_OF_INITIAL_READINESS_STATUS) -> tuple[int, int]:
    """calcPlainMetricReplicas (GetRawResourceReplicas): (replicas, average milli-value) for
    an AverageValue target."""
    if not pods:
        raise MetricsError("no pods returned by selector while calculating replica count")
    ready, unready, missing, ignored = group_pods(
        pods, metrics, resource, now, cpu_initialization_period,
        delay_of_initial_readiness_status)
    metrics = {k: v for k, v in metrics.items() if k not in ignored and k not in unready}
    if not metrics:
        raise MetricsError("did not receive metrics for targeted pods (pods might be unready)")
    usage_ratio, usage = metric_usage_ratio(metrics, target_usage)
    scale_up_with_unready = bool(unready) and usage_ratio > 1.0
    if not scale_up_with_unready and not missing:
        if abs(1.0 - usage_ratio) <= tolerance:
            return current_replicas, usage
        return math.ceil(usage_ratio * ready), usage
    metrics = _with_missing_and_unready(metrics, missing, unready, scale_up_with_unready,
                                        usage_ratio, dict.fromkeys(missing, target_usage))
    new_ratio, _ = metric_usage_ratio(metrics, target_usage)
    if abs(1.0 - new_ratio) <= tolerance or (usage_ratio < 1.0 < new_ratio) or \
            (usage_ratio > 1.0 > new_ratio):
        return current_replicas, usage
    new_replicas = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and new_replicas > current_replicas) or \
            (new_ratio > 1.0 and new_replicas < current_replicas):
        return current_replicas, usage
    return new_replicas, usage


# ---- normalization: min/max, rate limits and stabilization (horizontal.go) ------------


@dataclass
class Recommendation:
    replicas: int
    timestamp: float


@dataclass
class ScaleEvent:
    change: int
    timestamp: float
    outdated: bool = False


@dataclass
class HPAState:
    """What the controller remembers per HPA between syncs (in memory, as Kubernetes)."""

    recommendations: list[Recommendation] = field(default_factory=list)
    scale_up_events: list[ScaleEvent] = field(default_factory=list)
    scale_down_events: list[ScaleEvent] = field(default_factory=list)


def _record(recs: list[Recommendation], replicas: int, now: float,
            old_index: int | None) -> None:
    if old_index is not None:
        recs[old_index] = Recommendation(replicas, now)
    else:
        recs.append(Recommendation(replicas, now))


def stabilize_recommendation(recs: list[Recommendation], desired: int, now: float,
                             window: float = DOWNSCALE_STABILIZATION_WINDOW) -> int:
    """stabilizeRecommendation (no behavior): the highest recommendation of the window."""
    best = desired
    old: int | None = None
    cutoff = now - window
    for i, rec in enumerate(recs):
        if rec.timestamp < cutoff:
            old = i
        elif rec.replicas > best:
            best = rec.replicas
    _record(recs, desired, now, old)
    return best


def scale_up_limit(current_replicas: int) -> int:
    """calculateScaleUpLimit: at most double, or 4, per sync without a behavior."""
    return int(max(SCALE_UP_LIMIT_FACTOR * current_replicas, SCALE_UP_LIMIT_MINIMUM))


def convert_desired_replicas_with_rules(current: int, desired: int, min_replicas: int,
                                        max_replicas: int) -> tuple[int, str, str]:
    """convertDesiredReplicasWithRules: (replicas, ScalingLimited reason, message)."""
    limit = scale_up_limit(current)
    if max_replicas > limit:
        maximum = limit
        reason = "ScaleUpLimit"
        message = "the desired replica count is increasing faster than the maximum scale rate"
    else:
        maximum = max_replicas
        reason = "TooManyReplicas"
        message = "the desired replica count is more than the maximum replica count"
    if desired < min_replicas:
        return (min_replicas, "TooFewReplicas",
                "the desired replica count is less than the minimum replica count")
    if desired > maximum:
        return maximum, reason, message
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


def replicas_change_per_period(period_seconds: int, events: list[ScaleEvent],
                               now: float) -> int:
    """getReplicasChangePerPeriod."""
    cutoff = now - period_seconds
    return sum(e.change for e in events if e.timestamp > cutoff)


def _policies(rules: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in rules.get("policies") or [] if isinstance(p, dict)]


def scale_up_limit_with_rules(current: int, up_events: list[ScaleEvent],
                              down_events: list[ScaleEvent], rules: dict[str, Any],
                              now: float) -> int:
    """calculateScaleUpLimitWithScalingRules: the most replicas the policies allow now."""
    select = rules.get("selectPolicy")
    if select == "Disabled":
        return current
    pick = min if select == "Min" else max
    result = INT32_MAX if select == "Min" else INT32_MIN
    for p in _policies(rules):
        period = int(p.get("periodSeconds") or 0)
        start = current - replicas_change_per_period(period, up_events, now) + \
            replicas_change_per_period(period, down_events, now)
        value = int(p.get("value") or 0)
        if p.get("type") == "Pods":
            proposed = start + value
        else:
            proposed = math.ceil(start * (1 + value / 100))
        result = pick(result, proposed)
    return result


def scale_down_limit_with_rules(current: int, up_events: list[ScaleEvent],
                                down_events: list[ScaleEvent], rules: dict[str, Any],
                                now: float) -> int:
    """calculateScaleDownLimitWithBehaviors: the fewest replicas the policies allow now."""
    select = rules.get("selectPolicy")
    if select == "Disabled":
        return current
    pick = max if select == "Min" else min
    result = INT32_MIN if select == "Min" else INT32_MAX
    for p in _policies(rules):
        period = int(p.get("periodSeconds") or 0)
        start = current - replicas_change_per_period(period, up_events, now) + \
            replicas_change_per_period(period, down_events, now)
        value = int(p.get("value") or 0)
        if p.get("type") == "Pods":
            proposed = start - value
        else:
            proposed = int(start * (1 - value / 100))
        result = pick(result, proposed)
    return result


def stabilize_recommendation_with_behaviors(
        recs: list[Recommendation], current: int, desired: int, up_window: float,
        down_window: float, now: float) -> tuple[int, str, str]:
    """stabilizeRecommendationWithBehaviors: the recommendation kept within the lowest of
    the scale-up window and the highest of the scale-down window."""
    up_rec = desired
    down_rec = desired
    up_cutoff = now - up_window
    down_cutoff = now - down_window
    old: int | None = None
    for i, rec in enumerate(recs):
        if rec.timestamp > up_cutoff:
            up_rec = min(rec.replicas, up_rec)
        if rec.timestamp > down_cutoff:
            down_rec = max(rec.replicas, down_rec)
        if rec.timestamp < up_cutoff and rec.timestamp < down_cutoff:
            old = i
    recommendation = current
    if recommendation < up_rec:
        recommendation = up_rec
    if recommendation > down_rec:
        recommendation = down_rec
    _record(recs, desired, now, old)
    if desired >= current:
        return (recommendation, "ScaleUpStabilized", "recent recommendations were lower than "
                "current one, applying the lowest recent recommendation")
    return (recommendation, "ScaleDownStabilized", "recent recommendations were higher than "
            "current one, applying the highest recent recommendation")


def convert_desired_replicas_with_behavior_rate(
        current: int, desired: int, min_replicas: int, max_replicas: int,
        state: HPAState, up_rules: dict[str, Any], down_rules: dict[str, Any],
        now: float) -> tuple[int, str, str]:
    """convertDesiredReplicasWithBehaviorRate: (replicas, ScalingLimited reason, message)."""
    if desired > current:
        limit = scale_up_limit_with_rules(current, state.scale_up_events,
                                          state.scale_down_events, up_rules, now)
        limit = max(limit, current)
        if max_replicas > limit:
            maximum, reason, message = limit, "ScaleUpLimit", (
                "the desired replica count is increasing faster than the maximum scale rate")
        else:
            maximum, reason, message = max_replicas, "TooManyReplicas", (
                "the desired replica count is more than the maximum replica count")
        if desired > maximum:
            return maximum, reason, message
    elif desired < current:
        limit = scale_down_limit_with_rules(current, state.scale_up_events,
                                            state.scale_down_events, down_rules, now)
        limit = min(limit, current)
        if min_replicas < limit:
            minimum, reason, message = limit, "ScaleDownLimit", (
                "the desired replica count is decreasing faster than the maximum scale rate")
        else:
            minimum, reason, message = min_replicas, "TooFewReplicas", (
                "the desired replica count is less than the minimum replica count")
        if desired < minimum:
            return minimum, reason, message
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


def _longest_period(rules: dict[str, Any]) -> int:
    return max((int(p.get("periodSeconds") or 0) for p in _policies(rules)), default=0)


def store_scale_event(state: HPAState, behavior: dict[str, Any] | None, prev: int, new: int,
                      now: float) -> None:
    """storeScaleEvent: remember a rescale for the rate policies, reusing an outdated slot."""
    if behavior is None:
        return
    if new > prev:
        events, rules, change = state.scale_up_events, behavior.get("scaleUp") or {}, new - prev
    else:
        events, rules, change = state.scale_down_events, behavior.get("scaleDown") or {}, \
            prev - new
    cutoff = now - _longest_period(rules)
    old: int | None = None
    for i, e in enumerate(events):
        if e.timestamp < cutoff:
            e.outdated = True
        if e.outdated:
            old = i
    event = ScaleEvent(change, now)
    if old is not None:
        events[old] = event
    else:
        events.append(event)


# ---- conditions ------------------------------------------------------------------------


def set_condition(conditions: list[dict[str, Any]], type_: str, status: str, reason: str,
                  message: str, now_rfc3339: str) -> None:
    """setCondition: the transition time moves only when the status changes."""
    for c in conditions:
        if c.get("type") == type_:
            if c.get("status") != status:
                c["lastTransitionTime"] = now_rfc3339
            c.update(status=status, reason=reason, message=message)
            return
    conditions.append({"type": type_, "status": status, "lastTransitionTime": now_rfc3339,
                       "reason": reason, "message": message})
