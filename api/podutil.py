"""Pod and object helpers that the scheduler, controllers and kubelet share.

Functions accept a model or its wire dict, so callers that keep either can use them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from api import timeutil
from api.models.core import Container, Pod, TypedObject
from api.models.meta import Condition, OwnerReference
from api.quantity import add_resources, max_resources, parse_quantity, parse_resources

__all__ = [
    "DEFAULT_MILLI_CPU_REQUEST",
    "DEFAULT_MEMORY_REQUEST",
    "controller_ref",
    "get_condition",
    "is_pod_active",
    "is_pod_available",
    "is_pod_ready",
    "is_terminal",
    "meta_key",
    "pod_limits",
    "pod_requests",
    "pod_requests_non_zero",
    "qos_class",
    "remove_condition",
    "set_condition",
]

PodLike = Pod | Mapping[str, Any]
ObjectLike = TypedObject | Mapping[str, Any]

# The scheduler's stand-ins for a container that requests nothing, when scoring
# (pkg/scheduler/util/pod_resources.go), so BestEffort pods still spread.
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024


def _pod(pod: PodLike) -> Pod:
    return pod if isinstance(pod, Pod) else Pod.from_dict(dict(pod))


def _conditions(pod: Pod) -> list[Condition]:
    return (pod.status.conditions if pod.status else None) or []


# ---- conditions -------------------------------------------------------------


def get_condition(conditions: Iterable[Condition] | None, type_: str) -> Condition | None:
    for c in conditions or ():
        if c.type == type_:
            return c
    return None


def set_condition(
    conditions: Iterable[Condition] | None, new: Condition, now: str | None = None
) -> list[Condition]:
    """A new list with ``new`` in place of the condition of its type.

    lastTransitionTime moves only when the status changes (Kubernetes' rule, which
    minReadySeconds and progress deadlines depend on); when it does and ``new``
    has none, it becomes ``now`` (default: the current time).
    """
    out: list[Condition] = []
    replaced = False
    for c in conditions or ():
        if c.type != new.type:
            out.append(c)
            continue
        replaced = True
        merged = new.model_copy()
        if c.status == new.status:
            merged.last_transition_time = c.last_transition_time or new.last_transition_time
        elif merged.last_transition_time is None:
            merged.last_transition_time = now or timeutil.now()
        out.append(merged)
    if not replaced:
        merged = new.model_copy()
        if merged.last_transition_time is None:
            merged.last_transition_time = now or timeutil.now()
        out.append(merged)
    return out


def remove_condition(conditions: Iterable[Condition] | None, type_: str) -> list[Condition]:
    return [c for c in conditions or () if c.type != type_]


# ---- pod state --------------------------------------------------------------


def is_terminal(pod: PodLike) -> bool:
    p = _pod(pod)
    return p.status is not None and p.status.phase in ("Succeeded", "Failed")


def is_pod_active(pod: PodLike) -> bool:
    """Counts toward a ReplicaSet's replicas: not terminal and not being deleted."""
    p = _pod(pod)
    return not is_terminal(p) and p.metadata.deletion_timestamp is None


def is_pod_ready(pod: PodLike) -> bool:
    c = get_condition(_conditions(_pod(pod)), "Ready")
    return c is not None and c.status == "True"


def is_pod_available(pod: PodLike, min_ready_seconds: int, now: datetime | None = None) -> bool:
    """Ready for at least ``min_ready_seconds`` (measured from the Ready transition)."""
    c = get_condition(_conditions(_pod(pod)), "Ready")
    if c is None or c.status != "True":
        return False
    if min_ready_seconds <= 0:
        return True
    if not c.last_transition_time:
        return False
    since = timeutil.parse_time(c.last_transition_time)
    return since + timedelta(seconds=min_ready_seconds) < (now or datetime.now(UTC))


# ---- resources --------------------------------------------------------------


def _resources_of(c: Container, which: str) -> dict[str, str]:
    res = c.resources
    vals = (res.requests if which == "requests" else res.limits) if res else None
    return dict(vals or {})


def _effective(pod: Pod, which: str) -> dict[str, Fraction]:
    """What the scheduler charges (resource helpers' PodRequests): the sum of the
    containers, at least the largest init container, plus overhead.  Sidecars (init
    containers with restartPolicy Always) keep running, so they add to the sum and to
    every init container started after them."""
    total: dict[str, Fraction] = {}
    for c in pod.spec.containers:
        total = add_resources(total, _resources_of(c, which))
    sidecars: dict[str, Fraction] = {}
    init_peak: dict[str, Fraction] = {}
    for c in pod.spec.init_containers or ():
        own = _resources_of(c, which)
        if c.restart_policy == "Always":
            total = add_resources(total, own)
            sidecars = add_resources(sidecars, own)
            during = sidecars
        else:
            during = add_resources(own, sidecars)
        init_peak = max_resources(init_peak, during)
    total = max_resources(total, init_peak)
    if pod.spec.overhead:
        total = add_resources(total, pod.spec.overhead)
    return total


def pod_requests(pod: PodLike) -> dict[str, Fraction]:
    """What the scheduler charges a node for the pod (resource -> exact amount)."""
    return _effective(_pod(pod), "requests")


def pod_limits(pod: PodLike) -> dict[str, Fraction]:
    return _effective(_pod(pod), "limits")


def pod_requests_non_zero(pod: PodLike) -> dict[str, Fraction]:
    """Requests with the scheduler's defaults for containers that set no cpu/memory (for scoring)."""
    p = _pod(pod)
    total: dict[str, Fraction] = {}
    for c in p.spec.containers:
        filled = parse_resources(_resources_of(c, "requests"))
        filled.setdefault("cpu", Fraction(DEFAULT_MILLI_CPU_REQUEST, 1000))
        filled.setdefault("memory", Fraction(DEFAULT_MEMORY_REQUEST))
        total = add_resources(total, filled)
    for c in p.spec.init_containers or ():
        total = max_resources(total, _resources_of(c, "requests"))
    return total


def qos_class(pod: PodLike) -> str:
    """Guaranteed, Burstable or BestEffort, by Kubernetes' rules (GetPodQOS)."""
    p = _pod(pod)
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    guaranteed = True
    for c in [*(p.spec.init_containers or []), *p.spec.containers]:
        res = c.resources
        for name, v in ((res.requests if res else None) or {}).items():
            if name in ("cpu", "memory"):
                q = parse_quantity(v)
                if q > 0:
                    requests[name] = requests.get(name, Fraction(0)) + q
        found: set[str] = set()
        for name, v in ((res.limits if res else None) or {}).items():
            if name in ("cpu", "memory"):
                q = parse_quantity(v)
                if q > 0:
                    found.add(name)
                    limits[name] = limits.get(name, Fraction(0)) + q
        if found != {"cpu", "memory"}:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed:
        for name, req in requests.items():
            if limits.get(name) != req:
                guaranteed = False
                break
    if guaranteed and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


# ---- ownership and keys -----------------------------------------------------


def controller_ref(obj: ObjectLike) -> OwnerReference | None:
    """The owner reference with ``controller: true``, if any (metav1.GetControllerOf).
    Models take the short path first: the informers' controller-uid index calls this on
    every object they store."""
    if isinstance(obj, TypedObject):
        for r in obj.metadata.owner_references or ():
            if r.controller:
                return r
        return None
    for raw in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if raw.get("controller"):
            return OwnerReference.from_dict(raw)
    return None


def meta_key(obj: ObjectLike) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects), the workqueue key."""
    if isinstance(obj, TypedObject):
        ns, name = obj.metadata.namespace, obj.metadata.name
    else:
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace"), meta.get("name")
    return f"{ns}/{name}" if ns else str(name or "")
