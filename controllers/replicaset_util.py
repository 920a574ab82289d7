"""The ReplicaSet controller's decisions, as pure functions of desired and observed state.

Kept apart from the controller so that each rule (which pods count, which go first,
how fast to create, what the status says) is tested without a cluster.
"""

from __future__ import annotations

import re
from datetime import datetime

from api.labels import selector_from_set
from api.models import Condition, Pod, ReplicaSet, ReplicaSetStatus
from api.podutil import is_pod_active, is_pod_available, is_pod_ready
from api.timeutil import parse_time

SLOW_START_INITIAL_BATCH = 1
# One sync never creates or deletes more than this; the rest waits for the next sync.
BURST_REPLICAS = 500
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_DELETION_COST = re.compile(r"-[0-9]+|0|[1-9][0-9]*")


def pod_key(pod: Pod) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


def slow_start_batches(count: int, initial: int = SLOW_START_INITIAL_BATCH) -> list[int]:
    """Batch sizes 1, 2, 4, ... summing to ``count``: a template the API rejects fails
    after one request, not after ``count`` of them."""
    out: list[int] = []
    remaining = count
    size = min(remaining, initial)
    while size > 0:
        out.append(size)
        remaining -= size
        size = min(2 * size, remaining)
    return out


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}
_FAR_FUTURE = 1e18


def _ts(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return parse_time(value).timestamp()
    except ValueError:
        return 0.0


def _ready_since(pod: Pod) -> float:
    for c in (pod.status.conditions if pod.status else None) or []:
        if c.type == "Ready" and c.status == "True":
            return _ts(c.last_transition_time)
    return 0.0


def _restarts(pod: Pod) -> int:
    return max((cs.restart_count for cs in (pod.status.container_statuses if pod.status else None)
                or []), default=0)


def deletion_cost(pod: Pod) -> tuple[int, int, int, float, int, float]:
    """Sort key, least valuable first (controller.ActivePods): unscheduled, then pending,
    then not ready, then ready for less time, then more restarts, then newer."""
    phase = (pod.status.phase if pod.status else None) or "Pending"
    ready = is_pod_ready(pod)
    return (
        1 if pod.spec.node_name else 0,
        _PHASE_RANK.get(phase, 0),
        1 if ready else 0,
        # more recently ready is less valuable: negate so that later sorts first
        -_ready_since(pod) if ready else 0.0,
        -_restarts(pod),
        -_ts(pod.metadata.creation_timestamp) or -_FAR_FUTURE,
    )


def pod_deletion_cost(pod: Pod) -> int:
    """The pod's ``controller.kubernetes.io/pod-deletion-cost`` (an int32; 0 when absent
    or not one, as GetDeletionCostFromPodAnnotations' error is taken)."""
    raw = (pod.metadata.annotations or {}).get(POD_DELETION_COST)
    if raw is None or not _DELETION_COST.fullmatch(raw):
        return 0  # "+10" and "008" are not valid either
    value = int(raw)
    return value if -(2**31) <= value < 2**31 else 0


def pods_to_delete(pods: list[Pod], count: int, related: list[Pod] | None = None) -> list[Pod]:
    """getPodsToDelete: ``count`` of ``pods`` in ActivePodsWithRanks' order, where after
    the unscheduled, pending and not-ready pods come the lower pod-deletion-costs, then
    the pods sharing their node with more active ``related`` pods (those of every
    ReplicaSet of the same owner), then ready for less time, more restarts, newer."""
    if count >= len(pods):
        return pods[:count]
    on_node: dict[str, int] = {}
    for p in related or []:
        if is_pod_active(p):
            node = p.spec.node_name or ""
            on_node[node] = on_node.get(node, 0) + 1

    def key(pod: Pod) -> tuple[int, int, int, int, int, float, int, float]:
        assigned, phase, ready, ready_since, restarts, created = deletion_cost(pod)
        return (assigned, phase, ready, pod_deletion_cost(pod),
                -on_node.get(pod.spec.node_name or "", 0), ready_since, restarts, created)

    return sorted(pods, key=key)[:count]


def replicas_diff(rs: ReplicaSet, active: int) -> int:
    """Positive: pods to create; negative: pods to delete; capped at BURST_REPLICAS."""
    want = rs.spec.replicas if rs.spec.replicas is not None else 1
    diff = want - active
    return max(-BURST_REPLICAS, min(BURST_REPLICAS, diff))


def calculate_status(rs: ReplicaSet, pods: list[Pod], now: datetime,
                     manage_error: str | None = None, failure_reason: str = "") -> ReplicaSetStatus:
    """The status ``rs`` should report given its claimed active pods."""
    template_labels = (rs.spec.template.metadata.labels
                       if rs.spec.template and rs.spec.template.metadata else None)
    template_sel = selector_from_set(template_labels)
    min_ready = rs.spec.min_ready_seconds or 0
    fully = ready = available = 0
    for pod in pods:
        if template_sel.matches(pod.metadata.labels):
            fully += 1
        if is_pod_ready(pod):
            ready += 1
            if is_pod_available(pod, min_ready, now):
                available += 1
    old = rs.status or ReplicaSetStatus()
    conditions = [c.copy_deep() for c in old.conditions or []]
    failure = next((c for c in conditions if c.type == "ReplicaFailure"), None)
    if manage_error and failure is None:
        conditions.append(Condition(type="ReplicaFailure", status="True", reason=failure_reason,
                                    message=manage_error,
                                    last_transition_time=now.strftime("%Y-%m-%dT%H:%M:%SZ")))
    elif not manage_error and failure is not None:
        conditions = [c for c in conditions if c.type != "ReplicaFailure"]
    return ReplicaSetStatus(
        replicas=len(pods),
        fully_labeled_replicas=fully,
        ready_replicas=ready,
        available_replicas=available,
        observed_generation=rs.metadata.generation,
        conditions=conditions or None,
    )


def status_equal(a: ReplicaSetStatus | None, b: ReplicaSetStatus) -> bool:
    """Compare as on the wire, so that 0 and an omitted field are the same."""
    def norm(s: ReplicaSetStatus | None) -> dict[str, object]:
        d = s.to_dict() if s else {}
        for k in ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
            d.setdefault(k, 0)
        return d
    return norm(a) == norm(b)


def minready_requeue(rs: ReplicaSet, status: ReplicaSetStatus) -> float | None:
    """Pods ready but not yet available become available after minReadySeconds with no
    event announcing it: look again then."""
    want = rs.spec.replicas if rs.spec.replicas is not None else 1
    mrs = rs.spec.min_ready_seconds or 0
    if mrs > 0 and (status.ready_replicas or 0) == want and (status.available_replicas or 0) != want:
        return float(mrs)
    return None
