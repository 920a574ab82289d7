"""Rollout arithmetic of the Deployment controller (k8s pkg/controller/deployment/util).

Pure functions over Deployments and ReplicaSets: which ReplicaSet is new, how far
each may be scaled, the annotations that carry revisions and sizes, and the status
and conditions a Deployment should report. The controller only turns their answers
into API writes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

import orjson

from api.intstr import scaled_value
from api.models import (
    Condition,
    Deployment,
    DeploymentStatus,
    LabelSelector,
    PodTemplateSpec,
    ReplicaSet,
)
from api.timeutil import format_time, parse_time
from api.wellknown import (
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    POD_TEMPLATE_HASH_LABEL,
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    ROLLOUT_ANNOTATIONS,
    revision_of,
)

# Condition reasons, as kubectl and users know them.
NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
RS_UPDATED_REASON = "ReplicaSetUpdated"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"
PAUSED_REASON = "DeploymentPaused"
RESUMED_REASON = "DeploymentResumed"
MIN_AVAILABLE_REASON = "MinimumReplicasAvailable"
MIN_UNAVAILABLE_REASON = "MinimumReplicasUnavailable"

DEFAULT_REVISION_HISTORY_LIMIT = 10

# ---- hashing ----------------------------------------------------------------

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # no vowels: no words in names


def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def compute_hash(template: PodTemplateSpec, collision_count: int | None = None) -> str:
    """The pod-template-hash: FNV-1a of the template, encoded as Kubernetes encodes it
    (rand.SafeEncodeString of the decimal hash), so names look like ``nginx-7d5c9b8f6``."""
    data = orjson.dumps(_without_hash(template), option=orjson.OPT_SORT_KEYS)
    if collision_count:
        data += str(collision_count).encode()
    return "".join(_SAFE_ALPHABET[b % len(_SAFE_ALPHABET)] for b in str(_fnv32a(data)).encode())


def _without_hash(template: PodTemplateSpec | None) -> dict[str, object]:
    d = template.to_dict() if template else {}
    meta = d.get("metadata")
    if isinstance(meta, dict):
        labels = meta.get("labels")
        if isinstance(labels, dict):
            labels = {k: v for k, v in labels.items() if k != POD_TEMPLATE_HASH_LABEL}
            if labels:
                meta["labels"] = labels
            else:
                meta.pop("labels")
        for k in ("name", "namespace", "creationTimestamp"):
            meta.pop(k, None)
        if not meta:
            d.pop("metadata")
    return d


def equal_ignore_hash(a: PodTemplateSpec | None, b: PodTemplateSpec | None) -> bool:
    return _without_hash(a) == _without_hash(b)


def with_hash_label(labels: dict[str, str] | None, h: str) -> dict[str, str]:
    return {**(labels or {}), POD_TEMPLATE_HASH_LABEL: h}


def selector_with_hash(sel: LabelSelector, h: str) -> LabelSelector:
    out = sel.copy_deep()
    out.match_labels = with_hash_label(out.match_labels, h)
    return out


# ---- sizes ------------------------------------------------------------------

def replicas_of(obj: Deployment | ReplicaSet | None) -> int:
    if obj is None:
        return 0
    r = obj.spec.replicas
    return 1 if r is None else r


def is_rolling(d: Deployment) -> bool:
    s = d.spec.strategy
    return s is None or s.type in (None, "RollingUpdate")


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None,
                       desired: int) -> tuple[int, int]:
    """(surge, unavailable): surge rounds up, unavailable down; never both zero."""
    surge = scaled_value("25%" if max_surge is None else max_surge, desired, True)
    unavailable = scaled_value("25%" if max_unavailable is None else max_unavailable,
                               desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _fenceposts(d: Deployment) -> tuple[int, int]:
    ru = d.spec.strategy.rolling_update if d.spec.strategy else None
    return resolve_fenceposts(ru.max_surge if ru else None, ru.max_unavailable if ru else None,
                              replicas_of(d))


def max_surge(d: Deployment) -> int:
    if not is_rolling(d):
        return 0
    return _fenceposts(d)[0]


def max_unavailable(d: Deployment) -> int:
    if not is_rolling(d) or replicas_of(d) == 0:
        return 0
    return min(_fenceposts(d)[1], replicas_of(d))


def count_spec(rss: Iterable[ReplicaSet | None]) -> int:
    return sum(replicas_of(rs) for rs in rss if rs is not None)


def count_actual(rss: Iterable[ReplicaSet | None]) -> int:
    return sum((rs.status.replicas if rs.status else 0) for rs in rss if rs is not None)


def count_ready(rss: Iterable[ReplicaSet | None]) -> int:
    return sum((rs.status.ready_replicas or 0) if rs.status else 0 for rs in rss if rs is not None)


def count_available(rss: Iterable[ReplicaSet | None]) -> int:
    return sum((rs.status.available_replicas or 0) if rs.status else 0
               for rs in rss if rs is not None)


def available_of(rs: ReplicaSet | None) -> int:
    return count_available([rs])


def surely_available(rs: ReplicaSet | None) -> int:
    """Available pods that will still be there: a ReplicaSet just scaled below its
    reported availability is about to delete some of them (its status lags its spec),
    so it counts for no more than its new size."""
    return min(available_of(rs), replicas_of(rs)) if rs is not None else 0


def active(rss: Iterable[ReplicaSet | None]) -> list[ReplicaSet]:
    return [rs for rs in rss if rs is not None and replicas_of(rs) > 0]


def _created(rs: ReplicaSet) -> tuple[float, str]:
    ts = rs.metadata.creation_timestamp
    return (parse_time(ts).timestamp() if ts else 0.0, rs.metadata.name or "")


def by_creation(rss: Iterable[ReplicaSet]) -> list[ReplicaSet]:
    return sorted(rss, key=_created)


def max_revision(rss: Iterable[ReplicaSet]) -> int:
    return max((revision_of(rs) for rs in rss), default=0)


# ---- which ReplicaSet is new -----------------------------------------------

def find_new_rs(d: Deployment, rss: Iterable[ReplicaSet]) -> ReplicaSet | None:
    """The oldest ReplicaSet whose template equals the Deployment's (hash label aside):
    after a rollback the old ReplicaSet with that template becomes new again."""
    ordered = by_creation(rss)
    for rs in ordered:
        if equal_ignore_hash(rs.spec.template, d.spec.template):
            return rs
    # The same template, defaulted differently by the server on the two kinds, must not
    # start an endless rollout: the hash label records what the template was.
    h = compute_hash(d.spec.template, d.status.collision_count if d.status else None)
    for rs in ordered:
        if (rs.metadata.labels or {}).get(POD_TEMPLATE_HASH_LABEL) == h and \
                rs.metadata.name == f"{d.metadata.name}-{h}":
            return rs
    return None


def split_new_old(d: Deployment, rss: list[ReplicaSet]) -> tuple[ReplicaSet | None,
                                                                   list[ReplicaSet]]:
    new = find_new_rs(d, rss)
    return new, [rs for rs in rss if new is None or rs.metadata.uid != new.metadata.uid]


def new_rs_new_replicas(d: Deployment, all_rss: list[ReplicaSet], new_rs: ReplicaSet) -> int:
    """How big the new ReplicaSet may be now (NewRSNewReplicas)."""
    desired = replicas_of(d)
    if not is_rolling(d):
        return desired
    current = replicas_of(new_rs)
    if current >= desired:
        return desired
    max_total = desired + max_surge(d)
    # Pods a scaled-down ReplicaSet has not yet deleted still exist: count them, so that
    # maxSurge holds for pods and not only for the ReplicaSets' sizes.
    total = sum(max(replicas_of(rs), rs.status.replicas if rs.status else 0) for rs in all_rss)
    if total >= max_total:
        return current
    return current + min(max_total - total, desired - current)


def plan_old_scale_down(d: Deployment, all_rss: list[ReplicaSet], old_rss: list[ReplicaSet],
                        new_rs: ReplicaSet | None) -> dict[str, int]:
    """New sizes of old ReplicaSets in a rolling update (reconcileOldReplicaSets): first
    unhealthy replicas, which cost no availability, then healthy ones down to
    ``replicas - maxUnavailable`` available in total."""
    sizes: dict[str, int] = {}
    old_active = active(old_rss)
    if count_spec(old_active) == 0:
        return sizes
    all_count = count_spec(all_rss)
    min_available = replicas_of(d) - max_unavailable(d)
    new_unavailable = replicas_of(new_rs) - surely_available(new_rs) if new_rs else 0
    max_scaled_down = all_count - min_available - new_unavailable
    if max_scaled_down <= 0:
        return sizes
    ordered = by_creation(old_active)
    size = {rs.metadata.name or "": replicas_of(rs) for rs in ordered}
    cleaned = 0
    for rs in ordered:
        name = rs.metadata.name or ""
        if cleaned >= max_scaled_down:
            break
        unhealthy = size[name] - surely_available(rs)
        if size[name] == 0 or unhealthy <= 0:
            continue
        down = min(max_scaled_down - cleaned, unhealthy)
        size[name] -= down
        sizes[name] = size[name]
        cleaned += down
    available = sum(surely_available(rs) for rs in all_rss)
    if available > min_available:
        budget = available - min_available
        done = 0
        for rs in ordered:
            name = rs.metadata.name or ""
            if done >= budget:
                break
            if size[name] == 0:
                continue
            down = min(size[name], budget - done)
            size[name] -= down
            sizes[name] = size[name]
            done += down
    original = {rs.metadata.name or "": replicas_of(rs) for rs in ordered}
    return {n: s for n, s in sizes.items() if s != original[n]}


def is_saturated(d: Deployment, rs: ReplicaSet | None) -> bool:
    if rs is None:
        return False
    desired = (rs.metadata.annotations or {}).get(DESIRED_REPLICAS_ANNOTATION)
    return (replicas_of(rs) == replicas_of(d) and desired == str(replicas_of(d))
            and available_of(rs) == replicas_of(d))


def find_active_or_latest(new_rs: ReplicaSet | None,
                          old_rss: list[ReplicaSet]) -> ReplicaSet | None:
    if new_rs is None and not old_rss:
        return None
    olds = sorted(old_rss, key=_created, reverse=True)
    act = active([*olds, new_rs])
    if not act:
        return new_rs if new_rs is not None else olds[0]
    if len(act) == 1:
        return act[0]
    return None


def _round_half_away(x: float) -> int:
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def _fraction(rs: ReplicaSet, d: Deployment) -> int:
    if replicas_of(d) == 0:
        return -replicas_of(rs)
    d_max = replicas_of(d) + max_surge(d)
    try:
        before = int((rs.metadata.annotations or {}).get(MAX_REPLICAS_ANNOTATION, "0"))
    except ValueError:
        before = 0
    if before == 0:
        before = d.status.replicas or 0 if d.status else 0
        if before == 0:
            return 0
    return _round_half_away(replicas_of(rs) * d_max / before) - replicas_of(rs)


def _proportion(rs: ReplicaSet, d: Deployment, to_add: int, added: int) -> int:
    if replicas_of(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    frac = _fraction(rs, d)
    allowed = to_add - added
    return min(frac, allowed) if to_add > 0 else max(frac, allowed)


def plan_scale(d: Deployment, new_rs: ReplicaSet | None,
               old_rss: list[ReplicaSet]) -> dict[str, int]:
    """New sizes after the Deployment's replicas changed (dc.scale): all to the one
    active ReplicaSet, or, mid-rollout, spread in proportion to the current sizes so
    that a scale-up does not all land on the new (maybe broken) template."""
    target = find_active_or_latest(new_rs, old_rss)
    if target is not None:
        if replicas_of(target) == replicas_of(d):
            return {}
        return {target.metadata.name or "": replicas_of(d)}
    if is_saturated(d, new_rs):
        return {rs.metadata.name or "": 0 for rs in active(old_rss)}
    if not is_rolling(d):
        return {}
    all_rss = active([*old_rss, new_rs])
    allowed = replicas_of(d) + max_surge(d) if replicas_of(d) > 0 else 0
    to_add = allowed - count_spec(all_rss)
    if to_add > 0:  # larger first; newer first among equals
        all_rss.sort(key=lambda rs: (-replicas_of(rs), -_created(rs)[0]))
    elif to_add < 0:  # larger first; older first among equals
        all_rss.sort(key=lambda rs: (-replicas_of(rs), _created(rs)))
    added = 0
    size: dict[str, int] = {}
    for rs in all_rss:
        p = _proportion(rs, d, to_add, added) if to_add else 0
        size[rs.metadata.name or ""] = replicas_of(rs) + p
        added += p
    if all_rss and to_add:
        first = all_rss[0].metadata.name or ""
        size[first] = max(0, size[first] + to_add - added)
    # annotations may need an update even with the same size: keep every entry
    return size


# ---- annotations ------------------------------------------------------------

def replicas_annotations_need_update(rs: ReplicaSet, desired: int, max_replicas: int) -> bool:
    ann = rs.metadata.annotations or {}
    return (ann.get(DESIRED_REPLICAS_ANNOTATION) != str(desired)
            or ann.get(MAX_REPLICAS_ANNOTATION) != str(max_replicas))


def set_replicas_annotations(rs: ReplicaSet, desired: int, max_replicas: int) -> bool:
    if not replicas_annotations_need_update(rs, desired, max_replicas):
        return False
    ann = dict(rs.metadata.annotations or {})
    ann[DESIRED_REPLICAS_ANNOTATION] = str(desired)
    ann[MAX_REPLICAS_ANNOTATION] = str(max_replicas)
    rs.metadata.annotations = ann
    return True


def set_new_rs_annotations(d: Deployment, rs: ReplicaSet, new_revision: int,
                           exists: bool) -> bool:
    """Copy the Deployment's annotations, raise the revision (keeping the old ones in
    revision-history, as a rollback does), and on creation the size annotations.
    ``rs`` must be a copy; returns whether anything changed."""
    ann = dict(rs.metadata.annotations or {})
    changed = False
    for k, v in (d.metadata.annotations or {}).items():
        if k in ROLLOUT_ANNOTATIONS:
            continue
        if ann.get(k) != v:
            ann[k] = v
            changed = True
    old = ann.get(REVISION_ANNOTATION)
    try:
        old_int = int(old) if old else 0
    except ValueError:
        return changed
    if old_int < new_revision:
        ann[REVISION_ANNOTATION] = str(new_revision)
        changed = True
        if old:
            hist = ann.get(REVISION_HISTORY_ANNOTATION)
            ann[REVISION_HISTORY_ANNOTATION] = f"{hist},{old}" if hist else old
    rs.metadata.annotations = ann
    if not exists and set_replicas_annotations(rs, replicas_of(d),
                                               replicas_of(d) + max_surge(d)):
        changed = True
    return changed


# ---- status and conditions --------------------------------------------------

def get_condition(status: DeploymentStatus | None, ctype: str) -> Condition | None:
    for c in (status.conditions if status else None) or []:
        if c.type == ctype:
            return c
    return None


def new_condition(ctype: str, status: str, reason: str, message: str, now: datetime) -> Condition:
    t = format_time(now)
    return Condition(type=ctype, status=status, reason=reason, message=message,
                     last_update_time=t, last_transition_time=t)


def set_condition(status: DeploymentStatus, cond: Condition) -> None:
    """SetDeploymentCondition: same status and reason is no change; same status keeps
    its lastTransitionTime."""
    current = get_condition(status, cond.type)
    if current is not None and current.status == cond.status and current.reason == cond.reason:
        return
    if current is not None and current.status == cond.status:
        cond.last_transition_time = current.last_transition_time
    status.conditions = [c for c in status.conditions or [] if c.type != cond.type] + [cond]


def remove_condition(status: DeploymentStatus, ctype: str) -> None:
    status.conditions = [c for c in status.conditions or [] if c.type != ctype] or None


def has_progress_deadline(d: Deployment) -> bool:
    p = d.spec.progress_deadline_seconds
    return p is not None and p < 2**31 - 1


def calculate_status(all_rss: list[ReplicaSet], new_rs: ReplicaSet | None, d: Deployment,
                     now: datetime) -> DeploymentStatus:
    available = count_available(all_rss)
    total = count_spec(all_rss)
    old = d.status or DeploymentStatus()
    status = DeploymentStatus(
        observed_generation=d.metadata.generation,
        replicas=count_actual(all_rss),
        updated_replicas=count_actual([new_rs]),
        ready_replicas=count_ready(all_rss),
        available_replicas=available,
        unavailable_replicas=max(0, total - available),
        collision_count=old.collision_count,
        conditions=[c.copy_deep() for c in old.conditions or []] or None,
    )
    if available >= replicas_of(d) - max_unavailable(d):
        set_condition(status, new_condition("Available", "True", MIN_AVAILABLE_REASON,
                                            "Deployment has minimum availability.", now))
    else:
        set_condition(status, new_condition("Available", "False", MIN_UNAVAILABLE_REASON,
                                            "Deployment does not have minimum availability.",
                                            now))
    return status


def _copy_replica_failure(status: DeploymentStatus, all_rss: list[ReplicaSet],
                          new_rs: ReplicaSet | None, now: datetime) -> None:
    """A ReplicaSet that cannot create its pods says so on the Deployment too."""
    ordered = ([new_rs] if new_rs is not None else []) + [
        r for r in all_rss if new_rs is None or r.metadata.uid != new_rs.metadata.uid]
    for rs in ordered:
        for c in (rs.status.conditions if rs.status else None) or []:
            if c.type == "ReplicaFailure" and c.status == "True":
                set_condition(status, new_condition("ReplicaFailure", "True", c.reason or "",
                                                    c.message or "", now))
                return
    if get_condition(status, "ReplicaFailure") is not None:
        remove_condition(status, "ReplicaFailure")


def deployment_complete(d: Deployment, status: DeploymentStatus) -> bool:
    r = replicas_of(d)
    return ((status.updated_replicas or 0) == r and (status.replicas or 0) == r
            and (status.available_replicas or 0) == r
            and (status.observed_generation or 0) >= (d.metadata.generation or 0))


def deployment_progressing(d: Deployment, new: DeploymentStatus) -> bool:
    old = d.status or DeploymentStatus()
    old_old = (old.replicas or 0) - (old.updated_replicas or 0)
    new_old = (new.replicas or 0) - (new.updated_replicas or 0)
    return ((new.updated_replicas or 0) > (old.updated_replicas or 0)
            or (new.ready_replicas or 0) > (old.ready_replicas or 0)
            or new_old < old_old
            or (new.available_replicas or 0) > (old.available_replicas or 0))


def deployment_timed_out(d: Deployment, status: DeploymentStatus, now: datetime) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, "Progressing")
    if cond is None:
        return False
    if cond.reason == NEW_RS_AVAILABLE_REASON:
        return False
    if cond.reason == TIMED_OUT_REASON:
        return True
    if not cond.last_update_time:
        return False
    deadline = parse_time(cond.last_update_time) + timedelta(
        seconds=d.spec.progress_deadline_seconds or 0)
    return deadline < now


def rollout_status(d: Deployment, all_rss: list[ReplicaSet], new_rs: ReplicaSet | None,
                   now: datetime) -> DeploymentStatus:
    """calculateStatus plus the Progressing condition (syncRolloutStatus)."""
    status = calculate_status(all_rss, new_rs, d, now)
    _copy_replica_failure(status, all_rss, new_rs, now)
    if not has_progress_deadline(d):
        remove_condition(status, "Progressing")
        return status
    current = get_condition(d.status, "Progressing")
    complete = (status.replicas == status.updated_replicas and current is not None
                and current.reason == NEW_RS_AVAILABLE_REASON)
    if complete:
        return status
    rs_name = f'ReplicaSet "{new_rs.metadata.name}"' if new_rs else f'Deployment "{d.metadata.name}"'
    if deployment_complete(d, status):
        set_condition(status, new_condition("Progressing", "True", NEW_RS_AVAILABLE_REASON,
                                            f"{rs_name} has successfully progressed.", now))
    elif deployment_progressing(d, status):
        cond = new_condition("Progressing", "True", RS_UPDATED_REASON,
                             f"{rs_name} is progressing.", now)
        if current is not None:
            if current.status == "True":
                cond.last_transition_time = current.last_transition_time
            remove_condition(status, "Progressing")
        status.conditions = [*(status.conditions or []), cond]
    elif deployment_timed_out(d, status, now):
        set_condition(status, new_condition("Progressing", "False", TIMED_OUT_REASON,
                                            f"{rs_name} has timed out progressing.", now))
    return status


def progress_requeue_after(d: Deployment, status: DeploymentStatus, now: datetime) -> float | None:
    """When to look again so that ProgressDeadlineExceeded is noticed with no event."""
    cond = get_condition(status, "Progressing")
    if (not has_progress_deadline(d) or cond is None or deployment_complete(d, status)
            or cond.reason in (NEW_RS_AVAILABLE_REASON, TIMED_OUT_REASON)
            or not cond.last_update_time):
        return None
    deadline = parse_time(cond.last_update_time) + timedelta(
        seconds=d.spec.progress_deadline_seconds or 0)
    return max(1.0, (deadline - now).total_seconds() + 1.0)


def status_equal(a: DeploymentStatus | None, b: DeploymentStatus) -> bool:
    def norm(s: DeploymentStatus | None) -> dict[str, object]:
        d = s.to_dict() if s else {}
        for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                  "unavailableReplicas"):
            d.setdefault(k, 0)
        return d
    return norm(a) == norm(b)


def rs_to_cleanup(d: Deployment, old_rss: list[ReplicaSet]) -> list[ReplicaSet]:
    """Old ReplicaSets past revisionHistoryLimit that are scaled to zero, oldest first."""
    limit = d.spec.revision_history_limit
    if limit is None:
        limit = DEFAULT_REVISION_HISTORY_LIMIT
    alive = [rs for rs in old_rss if rs.metadata.deletion_timestamp is None]
    diff = len(alive) - limit
    if diff <= 0:
        return []
    out = []
    for rs in sorted(alive, key=lambda r: (revision_of(r), _created(r)))[:diff]:
        status_replicas = rs.status.replicas if rs.status else 0
        observed = (rs.status.observed_generation or 0) if rs.status else 0
        if status_replicas != 0 or replicas_of(rs) != 0 or (rs.metadata.generation or 0) > observed:
            continue
        out.append(rs)
    return out
