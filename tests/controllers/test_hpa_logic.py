"""The HorizontalPodAutoscaler as pure functions: the replica calculator (cases modelled on
pkg/controller/podautoscaler/replica_calculator_test.go), behavior rate limits and
stabilization (horizontal_test.go's normalization cases), conditions, and the API side
(defaults, validation messages, v1 <-> v2 conversion, kubectl's TARGETS column)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from api import validation
from api.models import Pod
from api.models.autoscaling import default_hpa, v1_to_v2, v2_to_v1
from api.timeutil import format_time
from apiserver.strategies.autoscaling import format_hpa_metrics
from controllers import podautoscaler_util as hu

NOW = 1_800_000_000.0


def _t(offset: float) -> str:
    return format_time(datetime.fromtimestamp(NOW + offset, UTC))


def pod(name: str, cpu: str = "1", *, phase: str = "Running", ready: str = "True",
        started: float = -600, transition: float = -590, deleted: bool = False,
        memory: str | None = None) -> Pod:
    req: dict[str, str] = {"cpu": cpu}
    if memory is not None:
        req["memory"] = memory
    md: dict[str, Any] = {"name": name, "namespace": "default"}
    if deleted:
        md["deletionTimestamp"] = _t(-1)
    return Pod.from_dict({
        "metadata": md,
        "spec": {"containers": [{"name": "c", "image": "i", "resources": {"requests": req}}]},
        "status": {"phase": phase, "startTime": _t(started), "conditions": [
            {"type": "Ready", "status": ready, "lastTransitionTime": _t(transition)}]}})


def samples(**values: int) -> hu.PodMetricsInfo:
    return {k: hu.PodMetric(v, NOW - 10, 30.0) for k, v in values.items()}


# ---- replica calculator -------------------------------------------------------------


def test_scale_up() -> None:
    pods = [pod("a"), pod("b"), pod("c")]
    assert hu.resource_replicas(3, 30, "cpu", pods, samples(a=300, b=500, c=700), NOW) == \
        (5, 50, 500)


def test_scale_down() -> None:
    pods = [pod(n) for n in "abcde"]
    r, util, _ = hu.resource_replicas(5, 50, "cpu", pods,
                                      samples(a=100, b=300, c=500, d=250, e=250), NOW)
    assert (r, util) == (3, 28)


def test_within_tolerance_keeps_the_count() -> None:
    pods = [pod(n) for n in "abc"]
    assert hu.resource_replicas(3, 100, "cpu", pods, samples(a=1010, b=1030, c=1020),
                                NOW)[0] == 3
    # 109% of a 100% target is within the 0.1 tolerance; 120% is not
    assert hu.resource_replicas(3, 100, "cpu", pods, samples(a=1090, b=1090, c=1090),
                                NOW)[0] == 3
    assert hu.resource_replicas(3, 100, "cpu", pods, samples(a=1200, b=1200, c=1200),
                                NOW)[0] == 4


def test_unready_pod_counts_as_zero_on_scale_up() -> None:
    # pod a started 20 s ago and is not ready: within cpu initialization, ignored, then
    # counted at 0% because the others would scale up
    pods = [pod("a", ready="False", started=-20, transition=-20), pod("b"), pod("c")]
    r, util, _ = hu.resource_replicas(3, 30, "cpu", pods, samples(a=300, b=500, c=700), NOW)
    assert (r, util) == (4, 60)


def test_ready_pod_sampled_before_a_full_window_is_unready() -> None:
    # started 60 s ago, ready for 10 s: the 30 s sample window predates readiness
    pods = [pod("a", started=-60, transition=-5), pod("b"), pod("c")]
    ready, unready, missing, ignored = hu.group_pods(pods, samples(a=1, b=1, c=1), "cpu", NOW)
    assert (ready, unready, missing, ignored) == (2, {"a"}, set(), set())
    # memory ignores readiness
    assert hu.group_pods(pods, samples(a=1, b=1, c=1), "memory", NOW)[0] == 3


def test_pending_failed_and_deleted_pods() -> None:
    pods = [pod("a", phase="Pending"), pod("b", phase="Failed"), pod("c", deleted=True),
            pod("d")]
    assert hu.group_pods(pods, samples(d=5), "cpu", NOW) == (1, {"a"}, set(), {"b", "c"})


def test_missing_metrics_on_scale_up_count_as_zero() -> None:
    pods = [pod("a"), pod("b")]
    # a alone is at 200% of 50%: b counts as 0, (2000 + 0) / 2000 = 100% -> ratio 2 -> 4
    assert hu.resource_replicas(2, 50, "cpu", pods, samples(a=2000), NOW)[0] == 4


def test_missing_metrics_on_scale_down_count_as_full_request() -> None:
    pods = [pod(n) for n in "abcd"]
    # 10% of a 50% target would mean 1 replica; the missing pod at 100% makes it 3
    assert hu.resource_replicas(4, 50, "cpu", pods, samples(a=100, b=100, c=100), NOW)[0] == 3


def test_missing_metrics_that_flip_the_direction_keep_the_count() -> None:
    pods = [pod("a"), pod("b")]
    # 40% of 50% says down; the missing pod at 100% says up: no change
    assert hu.resource_replicas(2, 50, "cpu", pods, samples(a=400), NOW)[0] == 2


def test_errors() -> None:
    with pytest.raises(hu.MetricsError, match="no pods returned"):
        hu.resource_replicas(1, 50, "cpu", [], samples(a=1), NOW)
    with pytest.raises(hu.MetricsError, match="did not receive metrics"):
        hu.resource_replicas(1, 50, "cpu", [pod("a", phase="Pending")], samples(a=1), NOW)
    with pytest.raises(hu.MetricsError, match="missing request for memory"):
        hu.resource_replicas(1, 50, "memory", [pod("a")], samples(a=1), NOW)


def test_average_value_target() -> None:
    pods = [pod(n, memory="100Mi") for n in "abc"]
    mi = 1024 * 1024 * 1000  # 1Mi in milli-units
    assert hu.plain_metric_replicas(3, 50 * mi, "memory", pods,
                                    samples(a=100 * mi, b=100 * mi, c=100 * mi), NOW) == \
        (6, 100 * mi)
    assert hu.plain_metric_replicas(3, 100 * mi, "memory", pods,
                                    samples(a=104 * mi, b=100 * mi, c=96 * mi), NOW)[0] == 3


# ---- normalization ------------------------------------------------------------------


def test_rules_without_behavior() -> None:
    assert hu.convert_desired_replicas_with_rules(2, 10, 1, 20) == (
        4, "ScaleUpLimit",
        "the desired replica count is increasing faster than the maximum scale rate")
    assert hu.convert_desired_replicas_with_rules(2, 10, 1, 3)[:2] == (3, "TooManyReplicas")
    assert hu.convert_desired_replicas_with_rules(2, 0, 1, 3)[:2] == (1, "TooFewReplicas")
    assert hu.convert_desired_replicas_with_rules(2, 3, 1, 5)[:2] == (3, "DesiredWithinRange")


def test_downscale_stabilization_without_behavior() -> None:
    recs: list[hu.Recommendation] = []
    assert hu.stabilize_recommendation(recs, 10, NOW, 300) == 10
    assert hu.stabilize_recommendation(recs, 3, NOW + 100, 300) == 10
    assert hu.stabilize_recommendation(recs, 3, NOW + 301, 300) == 3
    assert len(recs) == 2  # the outdated sample's slot was reused


UP = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
    {"type": "Pods", "value": 4, "periodSeconds": 15},
    {"type": "Percent", "value": 100, "periodSeconds": 15}]}
DOWN = {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100,
                                             "periodSeconds": 15}]}


def test_scale_up_limit_policies() -> None:
    assert hu.scale_up_limit_with_rules(1, [], [], UP, NOW) == 5  # Pods 4 beats 100%
    assert hu.scale_up_limit_with_rules(10, [], [], UP, NOW) == 20  # 100% beats 4 pods
    assert hu.scale_up_limit_with_rules(10, [], [], {**UP, "selectPolicy": "Min"}, NOW) == 14
    assert hu.scale_up_limit_with_rules(10, [], [], {**UP, "selectPolicy": "Disabled"},
                                        NOW) == 10
    # 6 were added 5 s ago: the period started at 4 replicas
    events = [hu.ScaleEvent(6, NOW - 5)]
    assert hu.scale_up_limit_with_rules(10, events, [], UP, NOW) == 8
    assert hu.scale_up_limit_with_rules(10, events, [], UP, NOW + 11) == 20


def test_scale_down_limit_policies() -> None:
    assert hu.scale_down_limit_with_rules(10, [], [], DOWN, NOW) == 0
    rules = {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60},
                          {"type": "Percent", "value": 10, "periodSeconds": 60}]}
    assert hu.scale_down_limit_with_rules(10, [], [], rules, NOW) == 9
    assert hu.scale_down_limit_with_rules(10, [hu.ScaleEvent(1, NOW - 30)], [], rules,
                                          NOW) == 8
    assert hu.scale_down_limit_with_rules(10, [], [], {**rules, "selectPolicy": "Min"},
                                          NOW) == 9


def test_behavior_rate_and_limits() -> None:
    state = hu.HPAState()
    assert hu.convert_desired_replicas_with_behavior_rate(2, 10, 1, 20, state, UP, DOWN,
                                                          NOW)[:2] == (6, "ScaleUpLimit")
    assert hu.convert_desired_replicas_with_behavior_rate(2, 10, 1, 5, state, UP, DOWN,
                                                          NOW)[:2] == (5, "TooManyReplicas")
    assert hu.convert_desired_replicas_with_behavior_rate(5, 0, 2, 10, state, UP, DOWN,
                                                          NOW)[:2] == (2, "TooFewReplicas")
    slow = {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}
    assert hu.convert_desired_replicas_with_behavior_rate(5, 1, 1, 10, state, UP, slow,
                                                          NOW)[:2] == (4, "ScaleDownLimit")
    hu.store_scale_event(state, {"scaleUp": UP, "scaleDown": slow}, 5, 4, NOW)
    # one pod already went within the minute: no more until it has passed
    assert hu.convert_desired_replicas_with_behavior_rate(4, 1, 1, 10, state, UP, slow,
                                                          NOW + 30)[0] == 4
    assert hu.convert_desired_replicas_with_behavior_rate(4, 1, 1, 10, state, UP, slow,
                                                          NOW + 61)[0] == 3


def test_store_scale_event_reuses_outdated_slots() -> None:
    state = hu.HPAState()
    behavior = {"scaleUp": UP, "scaleDown": DOWN}
    hu.store_scale_event(state, behavior, 1, 3, NOW)
    hu.store_scale_event(state, behavior, 3, 5, NOW + 5)
    assert [e.change for e in state.scale_up_events] == [2, 2]
    hu.store_scale_event(state, behavior, 5, 9, NOW + 100)
    assert len(state.scale_up_events) == 2
    hu.store_scale_event(state, None, 9, 1, NOW + 100)
    assert state.scale_down_events == []


def test_stabilization_with_behaviors() -> None:
    recs: list[hu.Recommendation] = []
    assert hu.stabilize_recommendation_with_behaviors(recs, 4, 10, 0, 300, NOW)[0] == 10
    r, reason, _ = hu.stabilize_recommendation_with_behaviors(recs, 10, 3, 0, 300, NOW + 60)
    assert (r, reason) == (10, "ScaleDownStabilized")
    assert hu.stabilize_recommendation_with_behaviors(recs, 10, 3, 0, 300, NOW + 301)[0] == 3
    # a scale-up window keeps the lowest recent recommendation
    recs = []
    hu.stabilize_recommendation_with_behaviors(recs, 2, 2, 60, 0, NOW)
    r, reason, _ = hu.stabilize_recommendation_with_behaviors(recs, 2, 8, 60, 0, NOW + 10)
    assert (r, reason) == (2, "ScaleUpStabilized")
    assert hu.stabilize_recommendation_with_behaviors(recs, 2, 8, 60, 0, NOW + 75)[0] == 8


def test_set_condition_keeps_the_transition_time() -> None:
    conds: list[dict[str, Any]] = []
    hu.set_condition(conds, "AbleToScale", "True", "SucceededGetScale", "m", "t1")
    hu.set_condition(conds, "AbleToScale", "True", "ReadyForNewScale", "m2", "t2")
    assert conds == [{"type": "AbleToScale", "status": "True", "lastTransitionTime": "t1",
                      "reason": "ReadyForNewScale", "message": "m2"}]
    hu.set_condition(conds, "AbleToScale", "False", "FailedGetScale", "m3", "t3")
    assert conds[0]["lastTransitionTime"] == "t3"


# ---- the API side ---------------------------------------------------------------------


def hpa(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                               "name": "web"}, "maxReplicas": 5}
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"}, "spec": {**base, **spec}}


def test_defaults() -> None:
    obj = hpa()
    default_hpa(obj)
    assert obj["spec"]["minReplicas"] == 1
    assert obj["spec"]["metrics"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 80}}}]
    assert "behavior" not in obj["spec"]
    obj = hpa(behavior={"scaleDown": {"stabilizationWindowSeconds": 60}})
    default_hpa(obj)
    assert obj["spec"]["behavior"]["scaleUp"] == UP
    assert obj["spec"]["behavior"]["scaleDown"] == {"stabilizationWindowSeconds": 60, **DOWN}


def _errors(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validation.validate("HorizontalPodAutoscaler", obj)]


def test_validation_messages() -> None:
    assert _errors(hpa(minReplicas=1)) == []
    assert _errors(hpa(minReplicas=0)) == [
        "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"]
    assert _errors(hpa(minReplicas=6)) == [
        "spec.maxReplicas: Invalid value: 5: must be greater than or equal to `minReplicas`"]
    assert _errors(hpa(scaleTargetRef={"name": "x"})) == [
        "spec.scaleTargetRef.kind: Required value"]
    assert _errors(hpa(metrics=[{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 0}}}])) == [
        "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: "
        "must be greater than 0"]
    assert _errors(hpa(metrics=[{"type": "Foo"}])) == [
        'spec.metrics[0].type: Unsupported value: "Foo": supported values: '
        '"ContainerResource", "External", "Object", "Pods", "Resource"']
    assert _errors(hpa(behavior={"scaleUp": {"stabilizationWindowSeconds": 4000, "policies": [
        {"type": "Pods", "value": 0, "periodSeconds": 15}]}})) == [
        "spec.behavior.scaleUp.stabilizationWindowSeconds: Invalid value: 4000: "
        "must be less than or equal to 3600",
        "spec.behavior.scaleUp.policies[0].value: Invalid value: 0: must be greater than zero"]


def test_v1_v2_conversion_round_trip() -> None:
    v2 = hpa(minReplicas=2, metrics=[
        {"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": 70}}},
        {"type": "Resource", "resource": {"name": "memory", "target": {
            "type": "AverageValue", "averageValue": "100Mi"}}}],
        behavior={"scaleDown": {"stabilizationWindowSeconds": 10}})
    v2["status"] = {"currentReplicas": 2, "desiredReplicas": 3, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": 90}}}], "conditions": [
        {"type": "AbleToScale", "status": "True", "reason": "SucceededRescale"}]}
    v1 = v2_to_v1(v2)
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"] == {"scaleTargetRef": v2["spec"]["scaleTargetRef"], "minReplicas": 2,
                          "maxReplicas": 5, "targetCPUUtilizationPercentage": 70}
    assert v1["status"]["currentCPUUtilizationPercentage"] == 90
    ann = v1["metadata"]["annotations"]
    assert set(ann) == {"autoscaling.alpha.kubernetes.io/metrics",
                        "autoscaling.alpha.kubernetes.io/conditions",
                        "autoscaling.alpha.kubernetes.io/behavior"}
    back = v1_to_v2(v1)
    assert back["spec"] == v2["spec"]
    assert back["status"] == v2["status"]
    assert "annotations" not in back["metadata"]


def test_targets_column() -> None:
    specs = hpa()
    default_hpa(specs)
    metrics = specs["spec"]["metrics"]
    assert format_hpa_metrics(metrics, []) == "cpu: <unknown>/80%"
    assert format_hpa_metrics(metrics, [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageUtilization": 50}}}]) == "cpu: 50%/80%"
    mem = {"type": "Resource", "resource": {"name": "memory", "target": {
        "type": "AverageValue", "averageValue": "100Mi"}}}
    assert format_hpa_metrics([*metrics, mem, mem], []) == \
        "cpu: <unknown>/80%, memory: <unknown>/100Mi + 1 more..."
    assert format_hpa_metrics([], []) == "<none>"
