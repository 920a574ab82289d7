"""autoscaling/v2 HorizontalPodAutoscaler (k8s.io/api/autoscaling/v2/types.go), and the
autoscaling/v1 view of it with Kubernetes' conversion
(pkg/apis/autoscaling/v1/conversion.go).

v2 is the stored version. v1 has only ``targetCPUUtilizationPercentage`` and
``currentCPUUtilizationPercentage``: converting v2 -> v1 keeps a cpu Utilization
Resource metric there and puts the other metrics, the current metrics, the
conditions and the behavior into the annotations
``autoscaling.alpha.kubernetes.io/{metrics,current-metrics,conditions,behavior}``,
and v1 -> v2 reads them back, as kube-apiserver does.
"""

from __future__ import annotations

import json
from typing import Any

from api.base import Int32, Model
from api.models.core import Quantity, TypedObject

# ---- autoscaling/v2 --------------------------------------------------------------


class CrossVersionObjectReference(Model):
    kind: str
    name: str
    api_version: str | None = None


class MetricTarget(Model):
    type: str
    value: Quantity | None = None
    average_value: Quantity | None = None
    average_utilization: Int32 | None = None


class MetricValueStatus(Model):
    value: Quantity | None = None
    average_value: Quantity | None = None
    average_utilization: Int32 | None = None


class ResourceMetricSource(Model):
    name: str
    target: MetricTarget


class ContainerResourceMetricSource(Model):
    name: str
    target: MetricTarget
    container: str


class MetricSpec(Model):
    type: str
    resource: ResourceMetricSource | None = None
    container_resource: ContainerResourceMetricSource | None = None
    # Pods, Object and External metrics come from the custom and external metrics APIs,
    # which minik8s does not serve: kept as sent, reported as not supported.
    pods: dict[str, Any] | None = None
    object: dict[str, Any] | None = None
    external: dict[str, Any] | None = None


class ResourceMetricStatus(Model):
    name: str
    current: MetricValueStatus


class ContainerResourceMetricStatus(Model):
    name: str
    current: MetricValueStatus
    container: str


class MetricStatus(Model):
    type: str
    resource: ResourceMetricStatus | None = None
    container_resource: ContainerResourceMetricStatus | None = None
    pods: dict[str, Any] | None = None
    object: dict[str, Any] | None = None
    external: dict[str, Any] | None = None


class HPAScalingPolicy(Model):
    type: str
    value: Int32
    period_seconds: Int32


class HPAScalingRules(Model):
    stabilization_window_seconds: Int32 | None = None
    select_policy: str | None = None
    policies: list[HPAScalingPolicy] | None = None
    tolerance: Quantity | None = None


class HorizontalPodAutoscalerBehavior(Model):
    scale_up: HPAScalingRules | None = None
    scale_down: HPAScalingRules | None = None


class HorizontalPodAutoscalerSpec(Model):
    scale_target_ref: CrossVersionObjectReference
    min_replicas: Int32 | None = None
    max_replicas: Int32
    metrics: list[MetricSpec] | None = None
    behavior: HorizontalPodAutoscalerBehavior | None = None


class HorizontalPodAutoscalerCondition(Model):
    type: str
    status: str
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class HorizontalPodAutoscalerStatus(Model):
    observed_generation: int | None = None
    last_scale_time: str | None = None
    current_replicas: Int32 | None = None
    desired_replicas: Int32 = 0
    current_metrics: list[MetricStatus] | None = None
    conditions: list[HorizontalPodAutoscalerCondition] | None = None


class HorizontalPodAutoscaler(TypedObject):
    api_version: str | None = "autoscaling/v2"
    kind: str | None = "HorizontalPodAutoscaler"
    spec: HorizontalPodAutoscalerSpec
    status: HorizontalPodAutoscalerStatus | None = None


# ---- autoscaling/v1 --------------------------------------------------------------


class HorizontalPodAutoscalerSpecV1(Model):
    scale_target_ref: CrossVersionObjectReference
    min_replicas: Int32 | None = None
    max_replicas: Int32
    target_cpu_utilization_percentage: Int32 | None = None


class HorizontalPodAutoscalerStatusV1(Model):
    observed_generation: int | None = None
    last_scale_time: str | None = None
    current_replicas: Int32 = 0
    desired_replicas: Int32 = 0
    current_cpu_utilization_percentage: Int32 | None = None


class HorizontalPodAutoscalerV1(TypedObject):
    api_version: str | None = "autoscaling/v1"
    kind: str | None = "HorizontalPodAutoscaler"
    spec: HorizontalPodAutoscalerSpecV1
    status: HorizontalPodAutoscalerStatusV1 | None = None


# ---- conversion (pkg/apis/autoscaling/v1/conversion.go) ---------------------------

METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
_ANNOTATIONS = (METRICS_ANNOTATION, CURRENT_METRICS_ANNOTATION, CONDITIONS_ANNOTATION,
                BEHAVIOR_ANNOTATION)

JSONDict = dict[str, Any]


def _is_cpu_utilization(m: Any) -> bool:
    return (isinstance(m, dict) and m.get("type") == "Resource"
            and (m.get("resource") or {}).get("name") == "cpu"
            and ((m.get("resource") or {}).get("target") or {}).get("type") == "Utilization"
            and ((m.get("resource") or {}).get("target") or {}).get("averageUtilization")
            is not None)


def _dumps(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"))


def v2_to_v1(obj: JSONDict) -> JSONDict:
    """An autoscaling/v2 wire dict as autoscaling/v1 (Convert_autoscaling_
    HorizontalPodAutoscaler_To_v1_HorizontalPodAutoscaler)."""
    spec = obj.get("spec") or {}
    status = obj.get("status")
    md = dict(obj.get("metadata") or {})
    ann = {k: v for k, v in (md.get("annotations") or {}).items() if k not in _ANNOTATIONS}
    v1spec: JSONDict = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas")
                        if k in spec}
    others = []
    for m in spec.get("metrics") or []:
        if _is_cpu_utilization(m) and "targetCPUUtilizationPercentage" not in v1spec:
            v1spec["targetCPUUtilizationPercentage"] = m["resource"]["target"][
                "averageUtilization"]
        else:
            others.append(m)
    if others:
        ann[METRICS_ANNOTATION] = _dumps(others)
    if spec.get("behavior"):
        ann[BEHAVIOR_ANNOTATION] = _dumps(spec["behavior"])
    out: JSONDict = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                     "metadata": md, "spec": v1spec}
    if isinstance(status, dict):
        v1status: JSONDict = {k: status[k] for k in (
            "observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas")
            if k in status}
        v1status.setdefault("currentReplicas", 0)
        v1status.setdefault("desiredReplicas", 0)
        cur_others = []
        for m in status.get("currentMetrics") or []:
            res = m.get("resource") or {} if isinstance(m, dict) else {}
            if (m.get("type") == "Resource" and res.get("name") == "cpu"
                    and (res.get("current") or {}).get("averageUtilization") is not None
                    and "currentCPUUtilizationPercentage" not in v1status):
                v1status["currentCPUUtilizationPercentage"] = \
                    res["current"]["averageUtilization"]
            else:
                cur_others.append(m)
        if cur_others:
            ann[CURRENT_METRICS_ANNOTATION] = _dumps(cur_others)
        if status.get("conditions"):
            ann[CONDITIONS_ANNOTATION] = _dumps(status["conditions"])
        out["status"] = v1status
    if ann:
        md["annotations"] = ann
    else:
        md.pop("annotations", None)
    return out


def _loads_list(ann: dict[str, Any], key: str) -> list[Any]:
    try:
        v = json.loads(ann[key])
    except (KeyError, TypeError, ValueError):
        return []
    return v if isinstance(v, list) else []


def v1_to_v2(obj: JSONDict) -> JSONDict:
    """An autoscaling/v1 wire dict as autoscaling/v2 (Convert_v1_HorizontalPodAutoscaler_
    To_autoscaling_HorizontalPodAutoscaler); the annotations it reads are dropped."""
    spec = obj.get("spec") or {}
    status = obj.get("status")
    md = dict(obj.get("metadata") or {})
    raw_ann = md.get("annotations") or {}
    ann = dict(raw_ann) if isinstance(raw_ann, dict) else {}
    v2spec: JSONDict = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas")
                        if k in spec}
    metrics: list[Any] = []
    target = spec.get("targetCPUUtilizationPercentage")
    if target is not None:
        metrics.append({"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}})
    metrics += _loads_list(ann, METRICS_ANNOTATION)
    if metrics:
        v2spec["metrics"] = metrics
    try:
        behavior = json.loads(ann[BEHAVIOR_ANNOTATION])
        if isinstance(behavior, dict):
            v2spec["behavior"] = behavior
    except (KeyError, TypeError, ValueError):
        pass
    out: JSONDict = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                     "metadata": md, "spec": v2spec}
    if isinstance(status, dict):
        v2status: JSONDict = {k: status[k] for k in (
            "observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas")
            if k in status}
        current: list[Any] = []
        cur = status.get("currentCPUUtilizationPercentage")
        if cur is not None:
            current.append({"type": "Resource", "resource": {
                "name": "cpu", "current": {"averageUtilization": cur}}})
        current += _loads_list(ann, CURRENT_METRICS_ANNOTATION)
        if current:
            v2status["currentMetrics"] = current
        conditions = _loads_list(ann, CONDITIONS_ANNOTATION)
        if conditions:
            v2status["conditions"] = conditions
        out["status"] = v2status
    for k in _ANNOTATIONS:
        ann.pop(k, None)
    if ann:
        md["annotations"] = ann
    else:
        md.pop("annotations", None)
    return out


# ---- defaults (pkg/apis/autoscaling/v2/defaults.go) --------------------------------

DEFAULT_CPU_UTILIZATION = 80


def default_scale_up_rules() -> JSONDict:
    """GenerateHPAScaleUpRules' defaults: no window, 4 pods or 100% per 15 s, Max."""
    return {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15}]}


def default_scale_down_rules() -> JSONDict:
    """GenerateHPAScaleDownRules' defaults: 100% per 15 s, Max. The window stays unset as in
    Kubernetes: the controller's --horizontal-pod-autoscaler-downscale-stabilization (5 min)
    fills it in."""
    return {"selectPolicy": "Max", "policies": [
        {"type": "Percent", "value": 100, "periodSeconds": 15}]}


def _fill_rules(rules: Any, defaults: JSONDict) -> JSONDict:
    if not isinstance(rules, dict):
        return defaults
    for k in ("stabilizationWindowSeconds", "selectPolicy", "policies"):
        if rules.get(k) is None and k in defaults:
            rules[k] = defaults[k]
    return rules


def default_hpa(obj: JSONDict) -> None:
    """SetDefaults_HorizontalPodAutoscaler: minReplicas 1, a cpu 80% Utilization metric when
    none is given, and the behavior's unset fields when a behavior is given."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if spec.get("minReplicas") is None:
        spec["minReplicas"] = 1
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = _fill_rules(behavior.get("scaleUp"), default_scale_up_rules())
        behavior["scaleDown"] = _fill_rules(behavior.get("scaleDown"),
                                            default_scale_down_rules())
