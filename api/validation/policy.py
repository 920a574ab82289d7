"""PodDisruptionBudgets: ValidatePodDisruptionBudget from pkg/apis/policy/validation."""

from __future__ import annotations

from typing import Any

from api.names import is_valid_percent
from api.validation.field import (
    JSON,
    NON_NEGATIVE,
    Errs,
    as_dict,
    invalid,
    non_negative,
    not_supported,
)
from api.validation.meta import validate_label_selector

UNHEALTHY_POD_EVICTION_POLICIES = ["AlwaysAllow", "IfHealthyBudget"]


def _positive_int_or_percent(errs: Errs, v: Any, path: str) -> None:
    """ValidatePositiveIntOrPercent + IsNotMoreThan100Percent."""
    if isinstance(v, str):
        msgs = is_valid_percent(v)
        for m in msgs:
            errs.append(invalid(path, v, m))
        if not msgs and int(v[:-1]) > 100:
            errs.append(invalid(path, v, "must not be greater than 100%"))
        return
    if isinstance(v, int) and not isinstance(v, bool):
        if v < 0:
            errs.append(invalid(path, v, NON_NEGATIVE))
        return
    errs.append(invalid(path, v, "must be an integer or a percentage"))


def validate_pod_disruption_budget(obj: JSON) -> Errs:
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    mn, mx = spec.get("minAvailable"), spec.get("maxUnavailable")
    if mn is not None and mx is not None:
        errs.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    if mn is not None:
        _positive_int_or_percent(errs, mn, "spec.minAvailable")
    if mx is not None:
        _positive_int_or_percent(errs, mx, "spec.maxUnavailable")
    if spec.get("selector") is not None:
        errs += validate_label_selector(spec.get("selector"), "spec.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in UNHEALTHY_POD_EVICTION_POLICIES:
        errs.append(not_supported("spec.unhealthyPodEvictionPolicy", policy,
                                  UNHEALTHY_POD_EVICTION_POLICIES))
    # ValidatePodDisruptionBudgetStatusUpdate: the counts are never negative (the eviction
    # subresource and the controller read them as numbers).
    status = obj.get("status")
    if status is not None:
        st = as_dict(errs, status, "status")
        for f in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods",
                  "observedGeneration"):
            if st.get(f) is not None:
                non_negative(errs, st.get(f), f"status.{f}")
        disrupted = st.get("disruptedPods")
        if disrupted is not None and (not isinstance(disrupted, dict) or not all(
                isinstance(v, str) for v in disrupted.values())):
            errs.append(invalid("status.disruptedPods", disrupted,
                                "must be a map of pod names to times"))
    return errs
