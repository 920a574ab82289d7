"""The DaemonSet controller's decisions as pure functions, ported from
pkg/controller/daemon (daemon_controller.go, update.go, util/daemonset_util.go).

Which nodes should run a daemon pod (NodeShouldRunDaemonPod: nodeName, nodeSelector,
required node affinity, taints against the template's tolerations plus the default
daemon tolerations), what to create and delete on each node (podsShouldBeOnNode), which
old pods a rolling update may replace (rollingUpdate with maxUnavailable or maxSurge),
the history (getPatch, Match, the revision numbers, cleanupHistory) and the status
(updateDaemonSetStatus). No I/O: the controller feeds them its caches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from api.intstr import IntOrStringError, scaled_value
from api.models import (
    Affinity,
    Node,
    NodeAffinity,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    Pod,
    PodSpec,
    PodTemplateSpec,
    Taint,
    Toleration,
)
from api.models.apps import ControllerRevision, DaemonSet, DaemonSetStatus, StatefulSet
from api.nodeaffinity import OBJECT_NAME_FIELD, term_matches
from api.podutil import is_pod_available, is_pod_ready
from api.timeutil import parse_time
from controllers.deployment_util import compute_hash

# apps.DefaultDaemonSetUniqueLabelKey / ControllerRevisionHashLabelKey
HASH_LABEL = "controller-revision-hash"
# extensions.DaemonSetTemplateGenerationKey
TEMPLATE_GENERATION_LABEL = "pod-template-generation"
# apps.DeprecatedTemplateGeneration
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"

FAILED_DAEMON_POD = "FailedDaemonPod"

# AddOrUpdateDaemonPodTolerations: (key, effect), operator Exists; the last one only for
# hostNetwork pods.
DAEMON_TOLERATIONS: tuple[tuple[str, str], ...] = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)
NETWORK_UNAVAILABLE_TOLERATION = ("node.kubernetes.io/network-unavailable", "NoSchedule")


# ---- tolerations and the daemon pod -----------------------------------------------


def _add_or_update_toleration(spec: PodSpec, t: Toleration) -> None:
    """v1helper.AddOrUpdateTolerationInPodSpec: replace a toleration with the same key,
    operator, value and effect, else append."""
    tolerations = list(spec.tolerations or [])
    for i, old in enumerate(tolerations):
        if (old.key, old.operator or "Equal", old.value or "", old.effect or "") == \
                (t.key, t.operator or "Equal", t.value or "", t.effect or ""):
            tolerations[i] = t
            spec.tolerations = tolerations
            return
    tolerations.append(t)
    spec.tolerations = tolerations


def add_daemon_tolerations(spec: PodSpec) -> None:
    """AddOrUpdateDaemonPodTolerations, in place."""
    wanted = list(DAEMON_TOLERATIONS)
    if spec.host_network:
        wanted.append(NETWORK_UNAVAILABLE_TOLERATION)
    for key, effect in wanted:
        _add_or_update_toleration(spec, Toleration(key=key, operator="Exists", effect=effect))


def new_pod(ds: DaemonSet, node_name: str) -> Pod:
    """NewPod: the daemon pod as the predicates see it on ``node_name``."""
    tmpl = ds.spec.template
    pod = Pod(metadata=tmpl.metadata.copy_deep(), spec=tmpl.spec.copy_deep())
    pod.metadata.namespace = ds.metadata.namespace
    pod.spec.node_name = node_name
    add_daemon_tolerations(pod.spec)
    return pod


def tolerates_taint(t: Toleration, taint: Taint) -> bool:
    """Toleration.ToleratesTaint."""
    if t.effect and t.effect != taint.effect:
        return False
    if t.key and t.key != taint.key:
        return False
    op = t.operator or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return (t.value or "") == (taint.value or "")
    return False


def untolerated_taint(taints: Iterable[Taint], tolerations: Sequence[Toleration],
                      effects: Iterable[str]) -> Taint | None:
    """FindMatchingUntoleratedTaint restricted to ``effects``."""
    wanted = set(effects)
    for taint in taints:
        if taint.effect not in wanted:
            continue
        if not any(tolerates_taint(t, taint) for t in tolerations):
            return taint
    return None


# ---- node affinity (component-helpers/scheduling/corev1/nodeaffinity) --------------


def required_affinity_matches(pod: Pod, node: Node) -> bool:
    """GetRequiredNodeAffinity(pod).Match(node): the nodeSelector and the required
    node affinity terms (ORed)."""
    labels = node.metadata.labels or {}
    for k, v in (pod.spec.node_selector or {}).items():
        if labels.get(k) != v:
            return False
    aff = pod.spec.affinity.node_affinity if pod.spec.affinity else None
    req = aff.required_during_scheduling_ignored_during_execution if aff else None
    if req is None:
        return True
    name = node.metadata.name or ""
    return any(term_matches(t, labels, name) for t in req.node_selector_terms)


def node_should_run_daemon_pod(node: Node, ds: DaemonSet,
                               pod: Pod | None = None) -> tuple[bool, bool]:
    """NodeShouldRunDaemonPod: (shouldRun, shouldContinueRunning). ``pod`` is
    ``new_pod(ds, ...)`` when the caller asks about many nodes (the predicates read
    neither its name nor its node)."""
    node_name = node.metadata.name or ""
    tmpl_node = ds.spec.template.spec.node_name
    if tmpl_node and tmpl_node != node_name:
        return False, False
    if pod is None:
        pod = new_pod(ds, node_name)
    if not required_affinity_matches(pod, node):
        return False, False
    taints = (node.spec.taints if node.spec else None) or []
    tolerations = pod.spec.tolerations or []
    if untolerated_taint(taints, tolerations, ("NoSchedule", "NoExecute")) is not None:
        # scheduled daemon pods keep running as long as they tolerate NoExecute taints
        return False, untolerated_taint(taints, tolerations, ("NoExecute",)) is None
    return True, True


def replace_node_name_affinity(affinity: Affinity | None, node_name: str) -> Affinity:
    """ReplaceDaemonSetPodNodeNameNodeAffinity: the required node affinity becomes one
    term, matchFields metadata.name In [node_name] (the scheduler places the pod)."""
    term = NodeSelectorTerm(match_fields=[NodeSelectorRequirement(
        key=OBJECT_NAME_FIELD, operator="In", values=[node_name])])
    aff = affinity.copy_deep() if affinity is not None else Affinity()
    if aff.node_affinity is None:
        aff.node_affinity = NodeAffinity()
    na = aff.node_affinity
    if na.required_during_scheduling_ignored_during_execution is None:
        na.required_during_scheduling_ignored_during_execution = NodeSelector(
            node_selector_terms=[term])
    else:
        na.required_during_scheduling_ignored_during_execution.node_selector_terms = [term]
    return aff


def target_node_name(pod: Pod) -> str | None:
    """GetTargetNodeName: spec.nodeName, else the metadata.name In [one] of the
    required node affinity (a pod not scheduled yet)."""
    if pod.spec.node_name:
        return pod.spec.node_name
    aff = pod.spec.affinity.node_affinity if pod.spec.affinity else None
    req = aff.required_during_scheduling_ignored_during_execution if aff else None
    if req is None:
        return None
    for term in req.node_selector_terms:
        for r in term.match_fields or []:
            if r.key == OBJECT_NAME_FIELD and r.operator == "In":
                return r.values[0] if r.values and len(r.values) == 1 else None
    return None


def template_generation(ds: DaemonSet) -> int | None:
    """GetTemplateGeneration: the deprecated annotation, None when absent or bad."""
    v = (ds.metadata.annotations or {}).get(TEMPLATE_GENERATION_ANNOTATION)
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


def create_pod_template(ds: DaemonSet, hash_: str, node_name: str) -> PodTemplateSpec:
    """CreatePodTemplate (default tolerations, the generation and hash labels) with the
    node affinity of syncNodes."""
    tmpl = ds.spec.template.copy_deep()
    add_daemon_tolerations(tmpl.spec)
    labels = dict(tmpl.metadata.labels or {})
    gen = template_generation(ds)
    if gen is not None:
        labels[TEMPLATE_GENERATION_LABEL] = str(gen)
    if hash_:
        labels[HASH_LABEL] = hash_
    tmpl.metadata.labels = labels
    tmpl.spec.affinity = replace_node_name_affinity(tmpl.spec.affinity, node_name)
    return tmpl


def is_pod_updated(pod: Pod, hash_: str, generation: int | None) -> bool:
    """IsPodUpdated: the hash label matches, or the legacy template generation does."""
    labels = pod.metadata.labels or {}
    template_matches = generation is not None and \
        labels.get(TEMPLATE_GENERATION_LABEL) == str(generation)
    return (bool(hash_) and labels.get(HASH_LABEL) == hash_) or template_matches


def _created(p: Pod) -> float:
    ts = p.metadata.creation_timestamp
    try:
        return parse_time(ts).timestamp() if ts else 0.0
    except ValueError:
        return 0.0


def by_creation_and_phase(pods: Iterable[Pod]) -> list[Pod]:
    """podByCreationTimestampAndPhase: oldest first; at equal times a Running pod
    before a pending one, then by name."""
    def key(p: Pod) -> tuple[float, int, str]:
        phase = p.status.phase if p.status else None
        return (_created(p), 0 if phase == "Running" else 1, p.metadata.name or "")
    return sorted(pods, key=key)


# ---- manage: what each node needs ---------------------------------------------------


@dataclass
class NodePlan:
    """podsShouldBeOnNode over every node."""

    create_on: list[str] = field(default_factory=list)
    delete: list[Pod] = field(default_factory=list)
    failed: list[tuple[Pod, str]] = field(default_factory=list)  # (pod, node): events


def nodes_to_daemon_pods(pods: Iterable[Pod]) -> dict[str, list[Pod]]:
    """getNodesToDaemonPods: live daemon pods by their target node."""
    out: dict[str, list[Pod]] = {}
    for p in pods:
        if p.metadata.deletion_timestamp is not None:
            continue
        name = target_node_name(p)
        if name is None:
            continue
        out.setdefault(name, []).append(p)
    return out


def allows_surge(ds: DaemonSet) -> bool:
    return surge_count(ds, 1) > 0


def surge_count(ds: DaemonSet, n: int) -> int:
    """SurgeCount: maxSurge of ``n`` rounded up, 0 unless RollingUpdate."""
    st = ds.spec.update_strategy
    if st is None or st.type != "RollingUpdate" or st.rolling_update is None:
        return 0
    try:
        return scaled_value(st.rolling_update.max_surge, n, True)
    except IntOrStringError:
        return 0


def unavailable_count(ds: DaemonSet, n: int) -> int:
    """UnavailableCount: maxUnavailable of ``n`` rounded up, 0 unless RollingUpdate."""
    st = ds.spec.update_strategy
    if st is None or st.type != "RollingUpdate" or st.rolling_update is None:
        return 0
    try:
        return scaled_value(st.rolling_update.max_unavailable, n, True)
    except IntOrStringError:
        return 0


def plan_nodes(ds: DaemonSet, nodes: Sequence[Node], by_node: Mapping[str, list[Pod]],
               hash_: str, now: datetime) -> NodePlan:
    """manage()'s loop of podsShouldBeOnNode, plus the daemon pods whose node is gone
    (getUnscheduledPodsWithoutNode; scheduled ones too, since nothing else here collects
    the pods of a deleted node as the pod GC does)."""
    plan = NodePlan()
    surge = allows_surge(ds)
    mrs = ds.spec.min_ready_seconds or 0
    known = {n.metadata.name or "" for n in nodes}
    daemon_pod = new_pod(ds, "")
    for node in nodes:
        name = node.metadata.name or ""
        should_run, should_continue = node_should_run_daemon_pod(node, ds, daemon_pod)
        pods = by_node.get(name, [])
        if should_run and not pods:
            plan.create_on.append(name)
        elif should_continue:
            running: list[Pod] = []
            for p in pods:
                phase = p.status.phase if p.status else None
                if phase == "Failed":
                    plan.failed.append((p, name))
                    plan.delete.append(p)
                elif phase == "Succeeded":
                    plan.delete.append(p)
                else:
                    running.append(p)
            running = by_creation_and_phase(running)
            if not surge:
                plan.delete.extend(running[1:])
                continue
            if len(running) <= 1:
                if not running and should_run:
                    plan.create_on.append(name)
                continue
            oldest_new: Pod | None = None
            oldest_old: Pod | None = None
            for p in running:
                if (p.metadata.labels or {}).get(HASH_LABEL) == hash_:
                    if oldest_new is None:
                        oldest_new = p
                        continue
                elif oldest_old is None:
                    oldest_old = p
                    continue
                plan.delete.append(p)
            if oldest_new is not None and oldest_old is not None and (
                    not is_pod_ready(oldest_old) or is_pod_available(oldest_new, mrs, now)):
                plan.delete.append(oldest_old)
        elif pods:
            plan.delete.extend(pods)
    for name, pods in by_node.items():
        if name not in known:
            plan.delete.extend(pods)
    return plan


# ---- rolling update ------------------------------------------------------------------


def _updated_pods_on_node(pods: Sequence[Pod], hash_: str, generation: int | None
                          ) -> tuple[Pod | None, Pod | None, bool]:
    """findUpdatedPodsOnNode: (newPod, oldPod, ok); not ok with two of a kind."""
    new: Pod | None = None
    old: Pod | None = None
    for p in pods:
        if p.metadata.deletion_timestamp is not None:
            continue
        if is_pod_updated(p, hash_, generation):
            if new is not None:
                return None, None, False
            new = p
        else:
            if old is not None:
                return None, None, False
            old = p
    return new, old, True


def desired_node_counts(ds: DaemonSet, nodes: Sequence[Node],
                        by_node: dict[str, list[Pod]]) -> tuple[int, int, int]:
    """updatedDesiredNodeCounts: (maxSurge, maxUnavailable, desired); adds an empty entry
    for each node that should run a pod; both 0 means maxUnavailable 1."""
    desired = 0
    daemon_pod = new_pod(ds, "")
    for node in nodes:
        if not node_should_run_daemon_pod(node, ds, daemon_pod)[0]:
            continue
        desired += 1
        by_node.setdefault(node.metadata.name or "", [])
    max_unavailable = unavailable_count(ds, desired)
    max_surge = surge_count(ds, desired)
    if desired > 0 and max_unavailable == 0 and max_surge == 0:
        max_unavailable = 1
    return max_surge, max_unavailable, desired


def rolling_update(ds: DaemonSet, nodes: Sequence[Node], pods_by_node: Mapping[str, list[Pod]],
                   hash_: str, now: datetime) -> tuple[list[Pod], list[str]]:
    """rollingUpdate: (old pods to delete, nodes to create a new pod on)."""
    by_node = {k: list(v) for k, v in pods_by_node.items()}
    max_surge, max_unavailable, _ = desired_node_counts(ds, nodes, by_node)
    generation = template_generation(ds)
    mrs = ds.spec.min_ready_seconds or 0
    if max_surge == 0:
        num_unavailable = 0
        allowed: list[Pod] = []
        candidates: list[Pod] = []
        for name in sorted(by_node):
            new, old, ok = _updated_pods_on_node(by_node[name], hash_, generation)
            if not ok or (old is None) == (new is None):
                num_unavailable += 1  # the manage loop creates or deletes here
            elif new is not None:
                if not is_pod_available(new, mrs, now):
                    num_unavailable += 1
            elif old is not None:
                if not is_pod_available(old, mrs, now):
                    allowed.append(old)
                elif num_unavailable < max_unavailable:
                    candidates.append(old)
        remaining = min(max(max_unavailable - num_unavailable, 0), len(candidates))
        return allowed + candidates[:remaining], []
    num_surge = 0
    to_delete: list[Pod] = []
    allowed_nodes: list[str] = []
    candidate_nodes: list[str] = []
    node_by_name = {n.metadata.name or "": n for n in nodes}
    for name in sorted(by_node):
        new, old, ok = _updated_pods_on_node(by_node[name], hash_, generation)
        if not ok:
            num_surge += 1
            continue
        if old is None:
            continue
        if new is None:
            if not is_pod_available(old, mrs, now):
                node = node_by_name.get(name)
                if node is None or not node_should_run_daemon_pod(node, ds)[0]:
                    to_delete.append(old)
                    continue
                allowed_nodes.append(name)
            elif num_surge < max_surge:
                candidate_nodes.append(name)
        elif not is_pod_available(new, mrs, now):
            num_surge += 1
        else:
            to_delete.append(old)
    remaining = min(max(max_surge - num_surge, 0), len(candidate_nodes))
    return to_delete, allowed_nodes + candidate_nodes[:remaining]


# ---- status --------------------------------------------------------------------------


def calculate_status(ds: DaemonSet, nodes: Sequence[Node], by_node: Mapping[str, list[Pod]],
                     hash_: str, now: datetime, observed: bool) -> DaemonSetStatus:
    """updateDaemonSetStatus's counts; observedGeneration only when the controller acted
    on this generation (its expectations were satisfied)."""
    desired = current = misscheduled = ready = updated = available = 0
    generation = template_generation(ds)
    mrs = ds.spec.min_ready_seconds or 0
    daemon_pod = new_pod(ds, "")
    for node in nodes:
        should_run, _ = node_should_run_daemon_pod(node, ds, daemon_pod)
        pods = by_node.get(node.metadata.name or "", [])
        if should_run:
            desired += 1
            if not pods:
                continue
            current += 1
            pod = by_creation_and_phase(pods)[0]
            if is_pod_ready(pod):
                ready += 1
                if is_pod_available(pod, mrs, now):
                    available += 1
            if is_pod_updated(pod, hash_, generation):
                updated += 1
        elif pods:
            misscheduled += 1
    old = ds.status or DaemonSetStatus()
    return DaemonSetStatus(
        desired_number_scheduled=desired, current_number_scheduled=current,
        number_misscheduled=misscheduled, number_ready=ready,
        updated_number_scheduled=updated, number_available=available,
        number_unavailable=desired - available,
        observed_generation=ds.metadata.generation if observed else old.observed_generation,
        collision_count=old.collision_count, conditions=old.conditions)


def status_equal(a: DaemonSetStatus | None, b: DaemonSetStatus) -> bool:
    return a is not None and a.to_dict() == b.to_dict()


# ---- history (controller_history, update.go; shared with the StatefulSet controller) --


def get_patch(ds: DaemonSet | StatefulSet) -> dict[str, Any]:
    """getPatch: the strategic merge patch that restores this template
    (``{"spec": {"template": {..., "$patch": "replace"}}}``), the revision's data."""
    tmpl = ds.spec.template.to_dict()
    tmpl["$patch"] = "replace"
    # keys sorted at every level, as Go's encoding/json writes maps: kubectl's rollback
    # compares its own patch with the revision's bytes to skip a no-op
    return {"spec": {"template": _sorted_keys(tmpl)}}


def _sorted_keys(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _sorted_keys(v[k]) for k in sorted(v)}
    if isinstance(v, list):
        return [_sorted_keys(x) for x in v]
    return v


def patch_bytes(data: Mapping[str, Any] | None) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def matches(ds: DaemonSet | StatefulSet, rev: ControllerRevision) -> bool:
    """Match: the revision holds this DaemonSet's template."""
    return patch_bytes(get_patch(ds)) == patch_bytes(rev.data)


def template_hash(ds: DaemonSet | StatefulSet) -> str:
    """controller.ComputeHash(&ds.Spec.Template, ds.Status.CollisionCount)."""
    return compute_hash(ds.spec.template,
                        ds.status.collision_count if ds.status else None)


def max_revision(revs: Iterable[ControllerRevision]) -> int:
    return max((r.revision for r in revs), default=0)


def split_history(ds: DaemonSet | StatefulSet, revs: Iterable[ControllerRevision]
                  ) -> tuple[list[ControllerRevision], list[ControllerRevision]]:
    """constructHistory's split: (current, old)."""
    cur: list[ControllerRevision] = []
    old: list[ControllerRevision] = []
    for r in revs:
        (cur if matches(ds, r) else old).append(r)
    return cur, old


def history_to_prune(ds: DaemonSet | StatefulSet, old: Sequence[ControllerRevision],
                     live_pods: Iterable[Pod]) -> list[ControllerRevision]:
    """cleanupHistory: the oldest revisions beyond revisionHistoryLimit whose hash no live
    pod carries."""
    limit = ds.spec.revision_history_limit
    to_kill = len(old) - (limit if limit is not None else 10)
    if to_kill <= 0:
        return []
    live = {h for p in live_pods if (h := (p.metadata.labels or {}).get(HASH_LABEL))}
    out: list[ControllerRevision] = []
    for r in sorted(old, key=lambda r: r.revision):
        if to_kill <= 0:
            break
        if (r.metadata.labels or {}).get(HASH_LABEL) in live:
            continue
        out.append(r)
        to_kill -= 1
    return out
