"""ResourceQuota and LimitRange: ValidateResourceQuota and ValidateLimitRange
(pkg/apis/core/validation/validation.go), the checks kubectl users meet."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from api.quantity import QuantityError, parse_quantity
from api.validation.field import (
    JSON,
    Errs,
    as_dict,
    as_list,
    at_index,
    at_key,
    child,
    invalid,
    not_supported,
    required,
)

# ResourceQuotaScope values.
SCOPES = ["Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass",
          "CrossNamespacePodAffinity", "VolumeAttributesClass"]
LIMIT_TYPES = ["Pod", "Container", "PersistentVolumeClaim"]
_COMPUTE = {"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory",
            "ephemeral-storage", "requests.ephemeral-storage", "limits.ephemeral-storage"}


def _resource_list(errs: Errs, value: Any, path: str) -> dict[str, Fraction]:
    """A map of resource name to a non-negative quantity (ValidateResourceQuantityValue)."""
    out: dict[str, Fraction] = {}
    for name, raw in as_dict(errs, value, path).items():
        p = at_key(path, str(name))
        try:
            q = parse_quantity(raw)
        except (QuantityError, TypeError, ValueError):
            errs.append(invalid(p, raw, "must be a valid quantity"))
            continue
        if q < 0:
            errs.append(invalid(p, raw, "must be greater than or equal to 0"))
            continue
        out[str(name)] = q
    return out


def validate_resource_quota(obj: JSON) -> Errs:
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec") or {}, "spec")
    _resource_list(errs, spec.get("hard") or {}, child("spec", "hard"))
    scopes = as_list(errs, spec.get("scopes") or [], child("spec", "scopes"))
    for i, s in enumerate(scopes):
        if s not in SCOPES:
            errs.append(not_supported(at_index(child("spec", "scopes"), i), s, SCOPES))
    if ("Terminating" in scopes and "NotTerminating" in scopes) or \
            ("BestEffort" in scopes and "NotBestEffort" in scopes):
        errs.append(invalid(child("spec", "scopes"), scopes, "conflicting scopes"))
    if "BestEffort" in scopes:
        hard = spec.get("hard") or {}
        bad = sorted(k for k in hard if k in _COMPUTE)
        for k in bad:
            errs.append(invalid(at_key(child("spec", "hard"), k), k,
                                "unsupported scope applied to resource"))
    status = obj.get("status")
    if isinstance(status, dict):
        _resource_list(errs, status.get("hard") or {}, child("status", "hard"))
        _resource_list(errs, status.get("used") or {}, child("status", "used"))
    return errs


# validateLimitRangeTypes' comparisons, in its order: (field, the field it may not exceed,
# where the error is reported, the message's names for the two)
_LIMIT_ORDER = (
    ("min", "max", "min", "min value", "max value"),
    ("defaultRequest", "max", "defaultRequest", "default request value", "max value"),
    ("defaultRequest", "default", "defaultRequest", "default request value",
     "default limit value"),
    ("default", "max", "default", "default value", "max value"),
    ("min", "default", "default", "min value", "default value"),
)


def _raw(item: JSON, field: str, key: str) -> Any:
    """The quantity as written in the LimitRangeItem's ``field`` for ``key``."""
    return (item.get(field) or {}).get(key)


def validate_limit_range(obj: JSON) -> Errs:
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    path = child("spec", "limits")
    if "limits" not in spec:
        errs.append(required(path))
    for i, item in enumerate(as_list(errs, spec.get("limits") or [], path)):
        ip = at_index(path, i)
        item = as_dict(errs, item, ip)
        t = item.get("type")
        if t not in LIMIT_TYPES:
            if t in (None, ""):
                errs.append(required(child(ip, "type")))
            else:
                errs.append(not_supported(child(ip, "type"), t, LIMIT_TYPES))
        mx = _resource_list(errs, item.get("max") or {}, child(ip, "max"))
        mn = _resource_list(errs, item.get("min") or {}, child(ip, "min"))
        dflt = _resource_list(errs, item.get("default") or {}, child(ip, "default"))
        dreq = _resource_list(errs, item.get("defaultRequest") or {},
                              child(ip, "defaultRequest"))
        ratio = _resource_list(errs, item.get("maxLimitRequestRatio") or {},
                               child(ip, "maxLimitRequestRatio"))
        if t == "Pod" and (dflt or dreq):
            if dflt:
                errs.append(invalid(child(ip, "default"), item.get("default"),
                                    "may not be specified when `type` is 'Pod'"))
            if dreq:
                errs.append(invalid(child(ip, "defaultRequest"), item.get("defaultRequest"),
                                    "may not be specified when `type` is 'Pod'"))
        bounds = {"max": mx, "min": mn, "default": dflt, "defaultRequest": dreq}
        for k in sorted(set(mx) | set(mn) | set(dflt) | set(dreq)):
            for low, high, where, low_name, high_name in _LIMIT_ORDER:
                if k in bounds[low] and k in bounds[high] and bounds[low][k] > bounds[high][k]:
                    errs.append(invalid(at_key(child(ip, where), k), _raw(item, where, k),
                                        f"{low_name} {_raw(item, low, k)} is greater than "
                                        f"{high_name} {_raw(item, high, k)}"))
        for k, r in ratio.items():
            if r < 1:
                errs.append(invalid(at_key(child(ip, "maxLimitRequestRatio"), k),
                                    (item.get("maxLimitRequestRatio") or {}).get(k),
                                    "ratio must be greater than or equal to 1"))
    return errs
