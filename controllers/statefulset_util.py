"""The StatefulSet controller's decisions as pure functions, ported from
pkg/controller/statefulset (stateful_set_utils.go, stateful_set_control.go).

A StatefulSet's pods have stable identities: ``<set>-<ordinal>`` for ordinals from
``spec.ordinals.start``, hostname the pod's name, subdomain the governing Service
(``spec.serviceName``), the labels statefulset.kubernetes.io/pod-name and
apps.kubernetes.io/pod-index, and one PersistentVolumeClaim per volumeClaimTemplate named
``<template>-<set>-<ordinal>``. ``plan`` is updateStatefulSet's walk over the replicas
(create the missing, replace the failed), the condemned (delete from the highest ordinal)
and the rolling update (from the highest ordinal down to the partition), one step at a
time under OrderedReady, all at once under Parallel. No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from api.intstr import IntOrStringError, scaled_value
from api.models import ObjectMeta, Pod, PodTemplateSpec
from api.models.apps import ControllerRevision, StatefulSet, StatefulSetStatus
from api.podutil import is_pod_available, is_pod_ready
from controllers.daemonset_util import HASH_LABEL

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"  # apps.StatefulSetPodNameLabel
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"  # apps.PodIndexLabel

_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


def parent_and_ordinal(pod: Pod) -> tuple[str, int]:
    """getParentNameAndOrdinal: ("", -1) for a name that is not ``<parent>-<ordinal>``."""
    m = _ORDINAL.match(pod.metadata.name or "")
    if not m:
        return "", -1
    return m.group(1), int(m.group(2))


def ordinal_of(pod: Pod) -> int:
    return parent_and_ordinal(pod)[1]


def is_member_of(sts: StatefulSet, pod: Pod) -> bool:
    return parent_and_ordinal(pod)[0] == sts.metadata.name


def start_ordinal(sts: StatefulSet) -> int:
    return sts.spec.ordinals.start if sts.spec.ordinals is not None else 0


def replicas_of(sts: StatefulSet) -> int:
    return sts.spec.replicas if sts.spec.replicas is not None else 1


def pod_name(sts: StatefulSet, ordinal: int) -> str:
    return f"{sts.metadata.name}-{ordinal}"


def claim_name(template_name: str, sts: StatefulSet, ordinal: int) -> str:
    """getPersistentVolumeClaimName."""
    return f"{template_name}-{sts.metadata.name}-{ordinal}"


def claim_templates(sts: StatefulSet) -> list[dict[str, Any]]:
    return [t for t in sts.spec.volume_claim_templates or [] if isinstance(t, dict)]


def template_name(t: Mapping[str, Any]) -> str:
    md = t.get("metadata")
    return str(md.get("name") or "") if isinstance(md, Mapping) else ""


def new_claim(sts: StatefulSet, t: Mapping[str, Any], ordinal: int) -> dict[str, Any]:
    """getPersistentVolumeClaims: the claim of template ``t`` for ``ordinal``, with the
    set's selector labels added (the owner references are the retention policy's)."""
    md = dict(t.get("metadata") or {})
    labels = dict(md.get("labels") or {})
    labels.update(sts.spec.selector.match_labels or {})
    out: dict[str, Any] = {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {k: v for k, v in {
            "name": claim_name(template_name(t), sts, ordinal),
            "namespace": sts.metadata.namespace,
            "labels": labels or None,
            "annotations": md.get("annotations")}.items() if v is not None},
        "spec": dict(t.get("spec") or {}),
    }
    return out


def template_from_revision(sts: StatefulSet, rev: ControllerRevision | None) -> PodTemplateSpec:
    """ApplyRevision: the pod template a revision holds (its data is getPatch's
    ``{"spec": {"template": {..., "$patch": "replace"}}}``)."""
    data = rev.data if rev is not None else None
    spec = data.get("spec") if isinstance(data, dict) else None
    tmpl = spec.get("template") if isinstance(spec, dict) else None
    if not isinstance(tmpl, dict):
        return sts.spec.template.copy_deep()
    return PodTemplateSpec.model_validate({k: v for k, v in tmpl.items() if k != "$patch"})


def new_pod(sts: StatefulSet, template: PodTemplateSpec, ordinal: int,
            revision_name: str) -> Pod:
    """newStatefulSetPod + updateIdentity + updateStorage + setPodRevision."""
    tmpl = template.copy_deep()
    name = pod_name(sts, ordinal)
    labels = dict(tmpl.metadata.labels or {}) if tmpl.metadata else {}
    labels[POD_NAME_LABEL] = name
    labels[POD_INDEX_LABEL] = str(ordinal)
    labels[HASH_LABEL] = revision_name
    annotations = dict(tmpl.metadata.annotations or {}) if tmpl.metadata else {}
    spec = tmpl.spec.to_dict() if tmpl.spec else {}
    spec["hostname"] = name
    if sts.spec.service_name:
        spec["subdomain"] = sts.spec.service_name
    claims = {template_name(t): claim_name(template_name(t), sts, ordinal)
              for t in claim_templates(sts)}
    if claims:
        volumes = [v for v in spec.get("volumes") or [] if v.get("name") not in claims]
        for vname, cname in claims.items():
            volumes.append({"name": vname, "persistentVolumeClaim": {"claimName": cname}})
        spec["volumes"] = volumes
    return Pod.model_validate({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": ObjectMeta(name=name, namespace=sts.metadata.namespace, labels=labels,
                               annotations=annotations or None).to_dict(),
        "spec": spec})


def revision_of(pod: Pod) -> str:
    return (pod.metadata.labels or {}).get(HASH_LABEL, "")


def is_created(pod: Pod) -> bool:
    return bool(pod.status and pod.status.phase)


def is_failed(pod: Pod) -> bool:
    return bool(pod.status and pod.status.phase == "Failed")


def is_succeeded(pod: Pod) -> bool:
    return bool(pod.status and pod.status.phase == "Succeeded")


def is_terminating(pod: Pod) -> bool:
    return pod.metadata.deletion_timestamp is not None


def is_running_and_ready(pod: Pod) -> bool:
    return bool(pod.status and pod.status.phase == "Running") and is_pod_ready(pod)


def is_running_and_available(pod: Pod, min_ready_seconds: int, now: datetime) -> bool:
    return bool(pod.status and pod.status.phase == "Running") and \
        is_pod_available(pod, min_ready_seconds, now)


def is_healthy(pod: Pod, min_ready_seconds: int, now: datetime) -> bool:
    """isHealthy: running, available and not terminating."""
    return is_running_and_available(pod, min_ready_seconds, now) and not is_terminating(pod)


def max_unavailable(sts: StatefulSet) -> int:
    """getStatefulSetMaxUnavailable: maxUnavailable scaled against replicas (rounded down),
    at least 1; 1 when not set."""
    ru = sts.spec.update_strategy.rolling_update if sts.spec.update_strategy else None
    if ru is None or ru.max_unavailable is None:
        return 1
    try:
        n = scaled_value(ru.max_unavailable, replicas_of(sts), round_up=False)
    except IntOrStringError:
        return 1
    return max(n, 1)


def partition_of(sts: StatefulSet) -> int:
    ru = sts.spec.update_strategy.rolling_update if sts.spec.update_strategy else None
    return ru.partition or 0 if ru is not None and ru.partition is not None else 0


def strategy_type(sts: StatefulSet) -> str:
    st = sts.spec.update_strategy
    return (st.type if st is not None and st.type else "RollingUpdate")


def monotonic(sts: StatefulSet) -> bool:
    return sts.spec.pod_management_policy != "Parallel"


@dataclass
class Plan:
    """What one updateStatefulSet round does: pods to create (ordinal, use the update
    revision?), pods to delete, and whether it is waiting on a pod."""

    create: list[int] = field(default_factory=list)
    delete: list[Pod] = field(default_factory=list)
    # condemned pods deleted by a scale-down (their claims follow whenScaled)
    condemned_deleted: list[Pod] = field(default_factory=list)
    waiting: bool = False


def split_pods(sts: StatefulSet, pods: Iterable[Pod]
               ) -> tuple[dict[int, Pod], list[Pod]]:
    """(the pods within [start, start+replicas) by ordinal, the condemned ones by ordinal,
    descending)."""
    start, n = start_ordinal(sts), replicas_of(sts)
    replicas: dict[int, Pod] = {}
    condemned: list[Pod] = []
    for p in pods:
        if not is_member_of(sts, p):
            continue
        o = ordinal_of(p)
        if start <= o < start + n:
            replicas[o] = p
        else:
            condemned.append(p)
    condemned.sort(key=ordinal_of, reverse=True)
    return replicas, condemned


def plan(sts: StatefulSet, pods: Sequence[Pod], update_revision: str, now: datetime) -> Plan:
    """updateStatefulSet (stateful_set_control.go) for one round."""
    out = Plan()
    mono = monotonic(sts)
    mrs = sts.spec.min_ready_seconds or 0
    start, n = start_ordinal(sts), replicas_of(sts)
    replicas, condemned = split_pods(sts, pods)
    first_unhealthy: Pod | None = None
    for o in range(start, start + n):
        p = replicas.get(o)
        if p is not None and not is_healthy(p, mrs, now) and first_unhealthy is None:
            first_unhealthy = p
    for p in condemned:
        if not is_healthy(p, mrs, now) and first_unhealthy is None:
            first_unhealthy = p
    # the replicas, lowest ordinal first
    for o in range(start, start + n):
        p = replicas.get(o)
        if p is not None and (is_failed(p) or is_succeeded(p)) and not is_terminating(p):
            out.delete.append(p)  # recreated in a later round
            if mono:
                out.waiting = True
                return out
            continue
        if p is None:
            out.create.append(o)
            if mono:
                out.waiting = True
                return out
            continue
        if is_terminating(p):
            if mono:
                out.waiting = True
                return out
            continue
        if not is_running_and_available(p, mrs, now) and mono:
            out.waiting = True
            return out
    # the condemned, highest ordinal first
    for p in condemned:
        if is_terminating(p):
            if mono:
                out.waiting = True
                return out
            continue
        if not is_running_and_ready(p) and mono and p is not first_unhealthy:
            out.waiting = True
            return out
        out.delete.append(p)
        out.condemned_deleted.append(p)
        if mono:
            out.waiting = True
            return out
    if out.create or out.delete:
        return out
    if strategy_type(sts) != "RollingUpdate":
        return out
    # the rolling update, from the highest ordinal down to the partition
    update_min = start + partition_of(sts)
    budget = max_unavailable(sts)
    unavailable = sum(1 for o in range(update_min, start + n)
                      if (p := replicas.get(o)) is None or not is_healthy(p, mrs, now))
    for o in range(start + n - 1, update_min - 1, -1):
        p = replicas.get(o)
        if p is None:
            continue
        if revision_of(p) != update_revision and not is_terminating(p):
            if unavailable >= budget and is_healthy(p, mrs, now):
                out.waiting = True
                return out
            out.delete.append(p)
            if is_healthy(p, mrs, now):
                unavailable += 1
            continue
        if not is_healthy(p, mrs, now) and unavailable >= budget:
            out.waiting = True
            return out
    return out


def use_current_revision(sts: StatefulSet, ordinal: int) -> bool:
    """newVersionedStatefulSetPod: under RollingUpdate, an ordinal below the partition is
    created at the current revision; every other at the update revision."""
    if strategy_type(sts) != "RollingUpdate":
        return False
    return ordinal < start_ordinal(sts) + partition_of(sts)


def compute_status(sts: StatefulSet, pods: Iterable[Pod], current_revision: str,
                   update_revision: str, now: datetime) -> StatefulSetStatus:
    """computeReplicaStatus + completeRollingUpdate."""
    mrs = sts.spec.min_ready_seconds or 0
    st = StatefulSetStatus(
        observed_generation=sts.metadata.generation, replicas=0, ready_replicas=0,
        current_replicas=0, updated_replicas=0, available_replicas=0,
        current_revision=current_revision, update_revision=update_revision,
        collision_count=sts.status.collision_count if sts.status else None,
        conditions=sts.status.conditions if sts.status else None)
    for p in pods:
        if not is_member_of(sts, p):
            continue
        if is_created(p):
            st.replicas += 1
        if is_running_and_ready(p):
            st.ready_replicas = (st.ready_replicas or 0) + 1
            if is_running_and_available(p, mrs, now):
                st.available_replicas = (st.available_replicas or 0) + 1
        if is_created(p) and not is_terminating(p):
            rev = revision_of(p)
            if rev == current_revision:
                st.current_replicas = (st.current_replicas or 0) + 1
            if rev == update_revision:
                st.updated_replicas = (st.updated_replicas or 0) + 1
    if strategy_type(sts) == "RollingUpdate" and st.updated_replicas == st.replicas and \
            st.ready_replicas == st.replicas:
        st.current_replicas = st.updated_replicas
        st.current_revision = update_revision
    return st


def status_equal(a: StatefulSetStatus | None, b: StatefulSetStatus) -> bool:
    return a is not None and a.to_dict() == b.to_dict()
