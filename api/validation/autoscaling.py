"""HorizontalPodAutoscalers: ValidateHorizontalPodAutoscaler and its update/status checks from
pkg/apis/autoscaling/validation/validation.go (the autoscaling/v2 form, after defaulting)."""

from __future__ import annotations

from typing import Any

from api.quantity import parse_quantity
from api.validation.field import (
    JSON,
    Errs,
    as_dict,
    as_int,
    as_list,
    child,
    forbidden,
    invalid,
    non_negative,
    not_supported,
    required,
)

MAX_PERIOD_SECONDS = 1800
MAX_STABILIZATION_WINDOW_SECONDS = 3600
METRIC_SOURCE_TYPES = ["ContainerResource", "External", "Object", "Pods", "Resource"]
SELECT_POLICIES = ["Disabled", "Max", "Min"]
POLICY_TYPES = ["Percent", "Pods"]
_SOURCE_FIELD = {"Resource": "resource", "ContainerResource": "containerResource",
                 "Pods": "pods", "Object": "object", "External": "external"}


def _path_segment(errs: Errs, value: str, path: str) -> None:
    """path.ValidatePathSegmentName."""
    if value in (".", ".."):
        errs.append(invalid(path, value, f"may not be '{value}'"))
    for bad in ("/", "%"):
        if bad in value:
            errs.append(invalid(path, value, f"may not contain '{bad}'"))


def validate_cross_version_ref(errs: Errs, ref: JSON, path: str) -> None:
    for key in ("kind", "name"):
        v = ref.get(key)
        if not v:
            errs.append(required(child(path, key), ""))
        elif not isinstance(v, str):
            errs.append(invalid(child(path, key), v, "must be a string"))
        else:
            _path_segment(errs, v, child(path, key))


def _positive_quantity(errs: Errs, value: Any, path: str) -> None:
    if value is None:
        return
    try:
        q = parse_quantity(value)
    except (ValueError, TypeError):
        errs.append(invalid(path, value, "must be a quantity"))
        return
    if q <= 0:
        errs.append(invalid(path, value, "must be positive"))


def validate_metric_target(errs: Errs, mt: JSON, path: str) -> None:
    t = mt.get("type")
    if not t:
        errs.append(required(child(path, "type"), "must specify a metric target type"))
    if t not in ("Utilization", "Value", "AverageValue"):
        errs.append(invalid(child(path, "type"), t or "",
                            "must be either Utilization, Value, or AverageValue"))
    _positive_quantity(errs, mt.get("value"), child(path, "value"))
    _positive_quantity(errs, mt.get("averageValue"), child(path, "averageValue"))
    u = as_int(errs, mt.get("averageUtilization"), child(path, "averageUtilization"))
    if u is not None and u < 1:
        errs.append(invalid(child(path, "averageUtilization"), u, "must be greater than 0"))


def _validate_resource_source(errs: Errs, src: JSON, path: str, container: bool) -> None:
    if not src.get("name"):
        errs.append(required(child(path, "name"), "must specify a resource name"))
    if container and not src.get("container"):
        errs.append(required(child(path, "container"), "must specify a container"))
    tpath = child(path, "target")
    target = as_dict(errs, src.get("target"), tpath)
    validate_metric_target(errs, target, tpath)
    if target.get("averageUtilization") is None and target.get("averageValue") is None:
        errs.append(required(child(tpath, "averageUtilization"),
                             "must set either a target raw value or a target utilization"))
    if target.get("averageUtilization") is not None and target.get("averageValue") is not None:
        errs.append(forbidden(child(tpath, "averageValue"),
                              "may not set both a target raw value and a target utilization"))


def validate_metric_spec(errs: Errs, spec: JSON, path: str) -> None:
    t = spec.get("type")
    if not t:
        errs.append(required(child(path, "type"), "must specify a metric source type"))
    if t not in METRIC_SOURCE_TYPES:
        errs.append(not_supported(child(path, "type"), t or "", METRIC_SOURCE_TYPES))
    present = [f for f in ("object", "pods", "resource", "containerResource", "external")
               if spec.get(f) is not None]
    if len(present) == 1:
        if present[0] == "resource":
            _validate_resource_source(errs, as_dict(errs, spec["resource"],
                                                    child(path, "resource")),
                                      child(path, "resource"), False)
        elif present[0] == "containerResource":
            _validate_resource_source(errs, as_dict(errs, spec["containerResource"],
                                                    child(path, "containerResource")),
                                      child(path, "containerResource"), True)
    expected = _SOURCE_FIELD.get(t) if isinstance(t, str) else None
    if expected is not None and spec.get(expected) is None:
        errs.append(required(child(path, expected),
                             "must populate information for the given metric source"))
    if len(present) != 1:
        for f in present:
            if f != expected:
                errs.append(forbidden(child(path, f),
                                      "must populate the given metric source only"))


def validate_scaling_rules(errs: Errs, rules: JSON, path: str) -> None:
    w = as_int(errs, rules.get("stabilizationWindowSeconds"),
               child(path, "stabilizationWindowSeconds"))
    if w is not None and w < 0:
        errs.append(invalid(child(path, "stabilizationWindowSeconds"), w,
                            "must be greater than or equal to zero"))
    if w is not None and w > MAX_STABILIZATION_WINDOW_SECONDS:
        errs.append(invalid(child(path, "stabilizationWindowSeconds"), w,
                            f"must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"))
    sp = rules.get("selectPolicy")
    if sp is not None and sp not in SELECT_POLICIES:
        errs.append(not_supported(child(path, "selectPolicy"), sp, SELECT_POLICIES))
    ppath = child(path, "policies")
    policies = as_list(errs, rules.get("policies"), ppath)
    if not policies:
        errs.append(required(ppath, "must specify at least one Policy"))
    for i, p in enumerate(policies):
        ip = f"{ppath}[{i}]"
        pol = as_dict(errs, p, ip)
        if pol.get("type") not in POLICY_TYPES:
            errs.append(not_supported(child(ip, "type"), pol.get("type") or "", POLICY_TYPES))
        v = as_int(errs, pol.get("value"), child(ip, "value"))
        if v is None or v <= 0:
            errs.append(invalid(child(ip, "value"), v or 0, "must be greater than zero"))
        ps = as_int(errs, pol.get("periodSeconds"), child(ip, "periodSeconds"))
        if ps is None or ps <= 0:
            errs.append(invalid(child(ip, "periodSeconds"), ps or 0,
                                "must be greater than zero"))
        elif ps > MAX_PERIOD_SECONDS:
            errs.append(invalid(child(ip, "periodSeconds"), ps,
                                f"must be less than or equal to {MAX_PERIOD_SECONDS}"))


def validate_hpa(obj: JSON) -> Errs:
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    mn = as_int(errs, spec.get("minReplicas"), "spec.minReplicas")
    if mn is not None and mn < 1:
        errs.append(invalid("spec.minReplicas", mn, "must be greater than or equal to 1"))
    mx = as_int(errs, spec.get("maxReplicas"), "spec.maxReplicas")
    if mx is None:
        if spec.get("maxReplicas") is None:
            errs.append(invalid("spec.maxReplicas", 0, "must be greater than 0"))
    elif mx < 1:
        errs.append(invalid("spec.maxReplicas", mx, "must be greater than 0"))
    if mn is not None and mx is not None and mx < mn:
        errs.append(invalid("spec.maxReplicas", mx,
                            "must be greater than or equal to `minReplicas`"))
    validate_cross_version_ref(errs, as_dict(errs, spec.get("scaleTargetRef"),
                                             "spec.scaleTargetRef"), "spec.scaleTargetRef")
    for i, m in enumerate(as_list(errs, spec.get("metrics"), "spec.metrics")):
        validate_metric_spec(errs, as_dict(errs, m, f"spec.metrics[{i}]"), f"spec.metrics[{i}]")
    behavior = as_dict(errs, spec.get("behavior"), "spec.behavior")
    for key in ("scaleUp", "scaleDown"):
        if behavior.get(key) is not None:
            p = child("spec.behavior", key)
            validate_scaling_rules(errs, as_dict(errs, behavior[key], p), p)
    status = as_dict(errs, obj.get("status"), "status")
    non_negative(errs, status.get("currentReplicas"), "status.currentReplicas")
    non_negative(errs, status.get("desiredReplicas"), "status.desiredReplicas")
    return errs
