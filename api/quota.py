"""Quota usage, as pkg/quota/v1 (evaluator/core/pods.go, generic object counts) and the
ResourceQuota admission's checks (plugin/pkg/admission/resourcequota/controller.go) compute
it; shared by the ResourceQuota admission plugin and the resourcequota controller.

Usage maps resource names ("pods", "requests.cpu", "count/deployments.apps") to exact
amounts (Fractions); ``format_usage`` prints them as the quota's hard values are written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from api.podutil import pod_limits, pod_requests, qos_class
from api.quantity import (
    QuantityError,
    QuantityFormat,
    format_quantity,
    parse_quantity,
    quantity_format,
)

JSON = Mapping[str, Any]
Usage = dict[str, Fraction]

# Resources a pod's compute usage is charged as (podComputeUsageHelper), and those whose
# presence on every container a quota tracking them demands (the "must specify" set).
_COMPUTE = ("cpu", "memory", "ephemeral-storage")
VALIDATION_SET = frozenset({"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu",
                            "limits.memory"})
# Object counts with legacy names (core/v1): resource plural -> quota resource name.
LEGACY_COUNTS = {"pods": "pods", "services": "services", "configmaps": "configmaps",
                 "secrets": "secrets", "persistentvolumeclaims": "persistentvolumeclaims",
                 "replicationcontrollers": "replicationcontrollers",
                 "resourcequotas": "resourcequotas"}
POD_SCOPES = frozenset({"Terminating", "NotTerminating", "BestEffort", "NotBestEffort"})


def count_name(plural: str, group: str) -> str:
    """``count/<resource>.<group>`` (``count/<resource>`` for the core group)."""
    return f"count/{plural}.{group}" if group else f"count/{plural}"


def _compute_usage(requests: Mapping[str, Fraction], limits: Mapping[str, Fraction]) -> Usage:
    out: Usage = {}
    for r in _COMPUTE:
        if r in requests:
            out[r] = requests[r]
            out[f"requests.{r}"] = requests[r]
        if r in limits:
            out[f"limits.{r}"] = limits[r]
    for r, q in requests.items():  # hugepages and extended resources
        if r not in _COMPUTE:
            out[f"requests.{r}"] = q
    return out


def pod_charged(pod: JSON) -> bool:
    """QuotaV1Pod: a pod stops counting once it has finished."""
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def pod_usage(pod: JSON) -> Usage:
    if not pod_charged(pod):
        return {}
    out: Usage = {"pods": Fraction(1), "count/pods": Fraction(1)}
    try:
        out.update(_compute_usage(pod_requests(dict(pod)), pod_limits(dict(pod))))
    except (ValueError, TypeError, QuantityError):
        pass
    return out


def object_usage(plural: str, group: str, obj: JSON) -> Usage:
    """What one object of a resource adds to a quota's usage."""
    if plural == "pods" and not group:
        return pod_usage(obj)
    out: Usage = {count_name(plural, group): Fraction(1)}
    if not group and plural in LEGACY_COUNTS:
        out[LEGACY_COUNTS[plural]] = Fraction(1)
    if plural == "services" and not group:
        spec = obj.get("spec") or {}
        t = spec.get("type")
        if t in ("NodePort", "LoadBalancer"):
            out["services.nodeports"] = Fraction(len(spec.get("ports") or []))
        if t == "LoadBalancer":
            out["services.loadbalancers"] = Fraction(1)
    return out


def matching_resources(plural: str, group: str, names: Iterable[str]) -> list[str]:
    """The quota resources among ``names`` an object of the resource is charged to."""
    if plural == "pods" and not group:
        return [n for n in names if n in ("pods", "count/pods") or n.startswith("requests.")
                or n.startswith("limits.") or n in _COMPUTE]
    own = {count_name(plural, group)}
    if not group and plural in LEGACY_COUNTS:
        own.add(LEGACY_COUNTS[plural])
    if plural == "services" and not group:
        own |= {"services.nodeports", "services.loadbalancers"}
    return [n for n in names if n in own]


def _scope_matches(scope: str, pod: JSON) -> bool:
    spec = pod.get("spec") or {}
    if scope in ("Terminating", "NotTerminating"):
        ads = spec.get("activeDeadlineSeconds")
        terminating = isinstance(ads, int) and ads >= 0
        return terminating if scope == "Terminating" else not terminating
    if scope in ("BestEffort", "NotBestEffort"):
        try:
            best = qos_class(dict(pod)) == "BestEffort"
        except (ValueError, TypeError):
            best = False
        return best if scope == "BestEffort" else not best
    return False


def _scopes(quota: JSON) -> list[tuple[str, str, list[str]]]:
    spec = quota.get("spec") or {}
    out: list[tuple[str, str, list[str]]] = [(str(s), "Exists", [])
                                             for s in spec.get("scopes") or []]
    for e in (spec.get("scopeSelector") or {}).get("matchExpressions") or []:
        if isinstance(e, dict):
            out.append((str(e.get("scopeName")), str(e.get("operator")),
                        [str(v) for v in e.get("values") or []]))
    return out


def quota_matches(quota: JSON, plural: str, group: str, obj: JSON) -> bool:
    """Whether the quota's scopes select the object (only pods match scoped quotas)."""
    scopes = _scopes(quota)
    if not scopes:
        return True
    if plural != "pods" or group:
        return False
    for scope, op, values in scopes:
        if scope == "PriorityClass":
            pc = (obj.get("spec") or {}).get("priorityClassName") or ""
            ok = {"In": pc in values, "NotIn": pc not in values, "Exists": bool(pc),
                  "DoesNotExist": not pc}.get(op, False)
        else:
            ok = _scope_matches(scope, obj)
            if op == "DoesNotExist":
                ok = not ok
        if not ok:
            return False
    return True


def parse_usage(m: Mapping[str, Any] | None) -> Usage:
    out: Usage = {}
    for k, v in (m or {}).items():
        try:
            out[str(k)] = parse_quantity(v)
        except (QuantityError, TypeError, ValueError):
            continue
    return out


def add(a: Mapping[str, Fraction], b: Mapping[str, Fraction]) -> Usage:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, Fraction(0)) + v
    return out


def format_usage(usage: Mapping[str, Fraction], like: Mapping[str, Any] | None) -> dict[str, str]:
    """Each amount in the format of the same resource's value in ``like`` (the hard
    limits), DecimalSI otherwise; sorted by name."""
    out: dict[str, str] = {}
    for k in sorted(usage):
        fmt: QuantityFormat = "DecimalSI"
        ref = (like or {}).get(k)
        if isinstance(ref, str):
            try:
                fmt = quantity_format(ref)
            except (QuantityError, ValueError):
                pass
        out[k] = format_quantity(usage[k], fmt)
    return out


def pretty(usage: Mapping[str, Fraction], like: Mapping[str, Any] | None) -> str:
    """prettyPrint: ``name=value`` pairs sorted by name, comma separated."""
    return ",".join(f"{k}={v}" for k, v in format_usage(usage, like).items())


def missing_requirements(required: Iterable[str], pod: JSON) -> str | None:
    """The pod evaluator's Constraints: with a quota on cpu or memory, every container
    states it; the error text (``must specify ...``) or None."""
    req = set(required) & VALIDATION_SET
    if not req:
        return None
    spec = pod.get("spec") or {}
    missing: dict[str, set[str]] = {}
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if not isinstance(c, dict):
            continue
        res = c.get("resources") or {}
        have = _compute_usage(parse_usage(res.get("requests")), parse_usage(res.get("limits")))
        for r in req - set(have):
            missing.setdefault(r, set()).add(str(c.get("name")))
    if not missing:
        return None
    return "must specify " + "; ".join(
        f"{r} for: {','.join(sorted(missing[r]))}" for r in sorted(missing))
