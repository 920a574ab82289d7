"""Unit tests of the controllers' pure decision logic (no cluster needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api import wellknown as wk
from api.models import Condition, Deployment, Pod, PodTemplateSpec, ReplicaSet
from api.timeutil import format_time
from controllers import deployment_util as du
from controllers import replicaset_util as ru
from controllers.expectations import Expectations

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def _t(seconds_ago: float) -> str:
    return format_time(NOW - timedelta(seconds=seconds_ago))


def pod(name: str, *, node: str | None = None, phase: str = "Pending", ready: bool = False,
        ready_since: float = 100, created: float = 100, labels: dict[str, str] | None = None,
        deleting: bool = False) -> Pod:
    d: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": _t(created),
                     "labels": labels or {"app": "x"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": phase},
    }
    if node:
        d["spec"]["nodeName"] = node
    if deleting:
        d["metadata"]["deletionTimestamp"] = _t(0)
    if ready:
        d["status"]["conditions"] = [{"type": "Ready", "status": "True",
                                      "lastTransitionTime": _t(ready_since)}]
    return Pod.from_dict(d)


# ---- expectations -------------------------------------------------------------

def test_expectations_block_until_observed_and_expire() -> None:
    clock = [0.0]
    e = Expectations(timeout=300, clock=lambda: clock[0])
    assert e.satisfied("ns/rs")
    e.expect_creations("ns/rs", 2)
    assert not e.satisfied("ns/rs")
    e.creation_observed("ns/rs")
    assert not e.satisfied("ns/rs")
    e.creation_observed("ns/rs")
    assert e.satisfied("ns/rs")
    e.expect_deletions("ns/rs", ["ns/a", "ns/b"])
    e.deletion_observed("ns/rs", "ns/a")
    assert not e.satisfied("ns/rs")
    clock[0] = 301.0
    assert e.satisfied("ns/rs"), "expectations expire after the timeout"


# ---- replicaset ---------------------------------------------------------------

def test_slow_start_batches() -> None:
    assert ru.slow_start_batches(0) == []
    assert ru.slow_start_batches(1) == [1]
    assert ru.slow_start_batches(10) == [1, 2, 4, 3]
    assert sum(ru.slow_start_batches(500)) == 500


def test_pods_to_delete_least_valuable_first() -> None:
    ready_old = pod("ready-old", node="n", phase="Running", ready=True, ready_since=500,
                    created=600)
    ready_new = pod("ready-new", node="n", phase="Running", ready=True, ready_since=10,
                    created=20)
    not_ready = pod("not-ready", node="n", phase="Running")
    pending = pod("pending", node="n", phase="Pending")
    unscheduled = pod("unscheduled")
    pods = [ready_old, ready_new, not_ready, pending, unscheduled]
    order = [p.metadata.name for p in ru.pods_to_delete(pods, 4)]
    assert order == ["unscheduled", "pending", "not-ready", "ready-new"]
    assert [p.metadata.name for p in ru.pods_to_delete(pods, 2)] == ["unscheduled", "pending"]
    # all of them: as they are, unsorted (getPodsToDelete)
    assert ru.pods_to_delete(pods, 5) == pods
    newer = pod("newer", created=1)
    older = pod("older", created=50)
    assert ru.pods_to_delete([older, newer], 1)[0].metadata.name == "newer"


def test_pods_to_delete_by_deletion_cost_then_colocated() -> None:
    def running(name: str, node: str, cost: str | None = None, created: float = 100) -> Pod:
        p = pod(name, node=node, phase="Running", ready=True, ready_since=50, created=created)
        if cost is not None:
            p.metadata.annotations = {ru.POD_DELETION_COST: cost}
        return p

    cheap, dear, plain = running("cheap", "n1", "-5"), running("dear", "n1", "10"), \
        running("plain", "n1")
    names = [p.metadata.name for p in ru.pods_to_delete([dear, plain, cheap], 2)]
    assert names == ["cheap", "plain"]
    # not a valid int32: cost 0 (so the newer pod goes first among equals)
    for bad in ("+10", "008", "1.5", "x", "4294967296", " 1"):
        odd = running("odd", "n1", bad, created=1)
        assert ru.pods_to_delete([plain, odd], 1)[0].metadata.name == "odd", bad
    assert ru.pod_deletion_cost(running("z", "n1", "-0")) == 0
    # a lower cost beats not sharing a node; at equal cost, the crowded node goes first
    a, b = running("a", "busy"), running("b", "quiet", created=1)
    related = [a, b, running("sib1", "busy"), running("sib2", "busy"),
               pod("gone", node="quiet", phase="Succeeded")]
    assert ru.pods_to_delete([a, b], 1, related)[0].metadata.name == "a"
    assert ru.pods_to_delete([a, b], 1)[0].metadata.name == "b"  # newer, without ranks
    b.metadata.annotations = {ru.POD_DELETION_COST: "-1"}
    assert ru.pods_to_delete([a, b], 1, related)[0].metadata.name == "b"


def _rs(replicas: int = 3, min_ready: int = 0, **status: Any) -> ReplicaSet:
    return ReplicaSet.from_dict({
        "metadata": {"name": "rs", "namespace": "ns", "generation": 4},
        "spec": {"replicas": replicas, "minReadySeconds": min_ready,
                 "selector": {"matchLabels": {"app": "x"}},
                 "template": {"metadata": {"labels": {"app": "x", "tier": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}},
        "status": {"replicas": 0, **status},
    })


def test_replicaset_status() -> None:
    rs = _rs(min_ready=30)
    pods = [
        pod("a", labels={"app": "x", "tier": "web"}, phase="Running", ready=True, ready_since=60),
        pod("b", labels={"app": "x", "tier": "web"}, phase="Running", ready=True, ready_since=5),
        pod("c", labels={"app": "x"}),
    ]
    st = ru.calculate_status(rs, pods, NOW)
    assert (st.replicas, st.fully_labeled_replicas, st.ready_replicas,
            st.available_replicas, st.observed_generation) == (3, 2, 2, 1, 4)
    assert ru.status_equal(st, ru.calculate_status(rs, pods, NOW))
    assert not ru.status_equal(rs.status, st)
    failed = ru.calculate_status(rs, pods, NOW, manage_error="boom", failure_reason="FailedCreate")
    assert failed.conditions and failed.conditions[0].reason == "FailedCreate"


def test_replicas_diff_capped() -> None:
    assert ru.replicas_diff(_rs(3), 1) == 2
    assert ru.replicas_diff(_rs(1), 4) == -3
    assert ru.replicas_diff(_rs(2000), 0) == ru.BURST_REPLICAS


# ---- deployment ---------------------------------------------------------------

TEMPLATE = {"metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}


def deploy(replicas: int = 10, surge: int | str = "25%", unavailable: int | str = "25%",
           image: str = "nginx:1", strategy: str = "RollingUpdate", **status: Any) -> Deployment:
    tpl = {**TEMPLATE, "spec": {"containers": [{"name": "c", "image": image}]}}
    strat: dict[str, Any] = {"type": strategy}
    if strategy == "RollingUpdate":
        strat["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return Deployment.from_dict({
        "metadata": {"name": "d", "namespace": "ns", "generation": 2, "uid": "du"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "x"}},
                 "template": tpl, "strategy": strat, "progressDeadlineSeconds": 600},
        "status": status,
    })


def rs_of(name: str, replicas: int, image: str = "nginx:1", available: int | None = None,
          created: float = 100, revision: int = 1, annotations: dict[str, str] | None = None
          ) -> ReplicaSet:
    tpl = {"metadata": {"labels": {"app": "x", "pod-template-hash": name}},
           "spec": {"containers": [{"name": "c", "image": image}]}}
    av = replicas if available is None else available
    return ReplicaSet.from_dict({
        "metadata": {"name": name, "namespace": "ns", "uid": "u-" + name,
                     "creationTimestamp": _t(created), "generation": 1,
                     "annotations": {wk.REVISION_ANNOTATION: str(revision),
                                     **(annotations or {})}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "x"}},
                 "template": tpl},
        "status": {"replicas": replicas, "readyReplicas": av, "availableReplicas": av,
                   "observedGeneration": 1},
    })


def test_hash_is_stable_and_short_and_ignores_hash_label() -> None:
    t = PodTemplateSpec.from_dict(TEMPLATE)
    h = du.compute_hash(t)
    assert h == du.compute_hash(PodTemplateSpec.from_dict(TEMPLATE))
    assert 6 <= len(h) <= 10 and all(c in "bcdfghjklmnpqrstvwxz2456789" for c in h)
    assert du.compute_hash(t, 1) != h
    labelled = t.copy_deep()
    labelled.metadata.labels = du.with_hash_label(labelled.metadata.labels, h)
    assert du.equal_ignore_hash(t, labelled)
    other = PodTemplateSpec.from_dict({**TEMPLATE, "spec": {"containers": [
        {"name": "c", "image": "nginx:2"}]}})
    assert du.compute_hash(other) != h and not du.equal_ignore_hash(t, other)


def test_fenceposts_rounding() -> None:
    assert du.resolve_fenceposts("25%", "25%", 10) == (3, 2)  # surge up, unavailable down
    assert du.resolve_fenceposts(0, 0, 3) == (0, 1)
    assert du.resolve_fenceposts(1, "0%", 3) == (1, 0)
    assert du.max_unavailable(deploy(replicas=2, unavailable=5)) == 2
    assert du.max_surge(deploy(strategy="Recreate")) == 0


def test_new_rs_new_replicas_respects_surge() -> None:
    d = deploy(replicas=10)  # surge 3
    old = rs_of("old", 10, image="nginx:0")
    new = rs_of("new", 0)
    assert du.new_rs_new_replicas(d, [old, new], new) == 3
    new3 = rs_of("new", 3)
    assert du.new_rs_new_replicas(d, [old, new3], new3) == 3  # at 13 = max total
    old8 = rs_of("old", 8, image="nginx:0")
    assert du.new_rs_new_replicas(d, [old8, new3], new3) == 5
    assert du.new_rs_new_replicas(deploy(strategy="Recreate"), [old, new], new) == 10


def test_old_scale_down_keeps_min_available() -> None:
    d = deploy(replicas=10)  # min available 8
    old = rs_of("old", 10, image="nginx:0", created=200)
    new = rs_of("new", 3, available=0)
    # 13 pods, 10 available, new has 3 unavailable: may remove 13 - 8 - 3 = 2
    assert du.plan_old_scale_down(d, [old, new], [old], new) == {"old": 8}
    # unhealthy old pods go first and cost nothing
    old_sick = rs_of("old", 10, image="nginx:0", available=6, created=200)
    plan = du.plan_old_scale_down(d, [old_sick, new], [old_sick], new)
    assert plan == {"old": 8}
    new_ok = rs_of("new", 3)
    assert du.plan_old_scale_down(d, [old, new_ok], [old], new_ok) == {"old": 5}


def test_find_new_rs_after_rollback_and_revision_bump() -> None:
    d = deploy(image="nginx:0")
    r1 = rs_of("r1", 0, image="nginx:0", created=300, revision=1)
    r2 = rs_of("r2", 10, image="nginx:1", created=200, revision=2)
    new, old = du.split_new_old(d, [r2, r1])
    assert new is not None and new.metadata.name == "r1" and [o.metadata.name for o in old] == ["r2"]
    copy = new.copy_deep()
    assert du.set_new_rs_annotations(d, copy, du.max_revision(old) + 1, exists=True)
    ann = copy.metadata.annotations or {}
    assert ann[wk.REVISION_ANNOTATION] == "3" and ann[wk.REVISION_HISTORY_ANNOTATION] == "1"


def test_proportional_scaling_mid_rollout() -> None:
    # 10 replicas, surge 3: old 8 + new 5 = 13; scaled to 20 (max 25): +12 spread 8:5
    ann = {wk.DESIRED_REPLICAS_ANNOTATION: "10", wk.MAX_REPLICAS_ANNOTATION: "13"}
    old = rs_of("old", 8, image="nginx:0", created=200, annotations=ann)
    new = rs_of("new", 5, created=100, annotations=ann)
    d = deploy(replicas=20)
    plan = du.plan_scale(d, new, [old])
    assert plan["old"] + plan["new"] == 25
    assert plan == {"old": 15, "new": 10}
    # a single active ReplicaSet takes the whole size
    only = rs_of("new", 10)
    assert du.plan_scale(deploy(replicas=4), only, [rs_of("old", 0, image="nginx:0")]) == \
        {"new": 4}


def test_rollout_status_conditions() -> None:
    d = deploy(replicas=2)
    new = rs_of("new", 2)
    st = du.rollout_status(d, [new], new, NOW)
    assert st.updated_replicas == 2 and st.available_replicas == 2
    assert du.get_condition(st, "Available").reason == du.MIN_AVAILABLE_REASON  # type: ignore[union-attr]
    prog = du.get_condition(st, "Progressing")
    assert prog is not None and prog.reason == du.NEW_RS_AVAILABLE_REASON
    stuck = deploy(replicas=2, updatedReplicas=2, conditions=[{
        "type": "Progressing", "status": "True", "reason": du.RS_UPDATED_REASON,
        "lastUpdateTime": _t(700), "lastTransitionTime": _t(700)}])
    assert stuck.status is not None
    stuck.status.replicas = 2
    none_ready = rs_of("new", 2, available=0)
    st2 = du.rollout_status(stuck, [none_ready], none_ready, NOW)
    prog2 = du.get_condition(st2, "Progressing")
    assert prog2 is not None and prog2.reason == du.TIMED_OUT_REASON and prog2.status == "False"
    assert du.get_condition(st2, "Available").status == "False"  # type: ignore[union-attr]


def test_cleanup_respects_history_limit() -> None:
    d = deploy()
    d.spec.revision_history_limit = 1
    olds = [rs_of(f"r{i}", 0, image=f"nginx:{i}", revision=i) for i in range(1, 4)]
    assert [r.metadata.name for r in du.rs_to_cleanup(d, olds)] == ["r1", "r2"]
    busy = rs_of("r0", 1, image="x", revision=0)
    assert [r.metadata.name for r in du.rs_to_cleanup(d, [busy, *olds])] == ["r1", "r2"]


# ---- node lifecycle, flags -------------------------------------------------------

def test_toleration_seconds_for_unreachable_taint() -> None:
    from api.models import Taint, Toleration
    from api.wellknown import TAINT_NODE_UNREACHABLE as UNREACHABLE
    from controllers.nodelifecycle import tolerates, toleration_seconds

    taint = Taint(key=UNREACHABLE, effect="NoExecute")
    p = pod("p")
    assert toleration_seconds(p, taint, 300) == 300.0  # none: the admission default
    p.spec.tolerations = [Toleration(key=UNREACHABLE, operator="Exists", effect="NoExecute",
                                     toleration_seconds=7)]
    assert toleration_seconds(p, taint, 300) == 7.0
    p.spec.tolerations = [Toleration(operator="Exists")]  # tolerates everything, forever
    assert toleration_seconds(p, taint, 300) is None
    assert not tolerates(Toleration(key="other", operator="Exists"), taint)
    assert not tolerates(Toleration(key=UNREACHABLE, effect="NoSchedule"), taint)


def test_controllers_flag_and_durations() -> None:
    import argparse

    import pytest

    from api.timeutil import duration_flag as duration
    from controllers.manager import ControllersFlagError, enabled_controllers

    assert enabled_controllers("*") == ["deployment", "replicaset", "replicationcontroller",
                                        "garbagecollector", "namespace", "nodelifecycle",
                                        "endpoints", "endpointslice", "horizontalpodautoscaling",
                                        "job", "daemonset", "statefulset", "cronjob",
                                        "ttl-after-finished", "serviceaccount",
                                        "serviceaccount-token", "root-ca-cert-publisher",
                                        "resourcequota", "clusterrole-aggregation",
                                        "disruption", "persistentvolume-binder",
                                        "pvc-protection", "pv-protection", "servicelb",
                                        "nodeipam", "csrapproving", "csrsigning",
                                        "csrcleaner", "bootstrapsigner", "tokencleaner"]
    assert enabled_controllers("*,-nodelifecycle,-namespace") == [
        "deployment", "replicaset", "replicationcontroller", "garbagecollector", "endpoints",
        "endpointslice", "horizontalpodautoscaling", "job", "daemonset", "statefulset",
        "cronjob",
        "ttl-after-finished", "serviceaccount", "serviceaccount-token",
        "root-ca-cert-publisher", "resourcequota", "clusterrole-aggregation", "disruption",
        "persistentvolume-binder", "pvc-protection", "pv-protection", "servicelb", "nodeipam",
        "csrapproving", "csrsigning", "csrcleaner", "bootstrapsigner", "tokencleaner"]
    assert enabled_controllers("replicaset") == ["replicaset"]
    with pytest.raises(ControllersFlagError):
        enabled_controllers("*,-nosuch")
    assert duration("40s") == 40.0 and duration("1m30s") == 90.0 and duration("500ms") == 0.5
    assert duration("2.5") == 2.5
    with pytest.raises(argparse.ArgumentTypeError):
        duration("forty")


def test_new_rs_found_by_hash_when_server_defaults_differ() -> None:
    d = deploy()
    h = du.compute_hash(d.spec.template)
    rs = rs_of(f"d-{h}", 10)
    assert rs.spec.template is not None
    rs.spec.template.spec.dns_policy = "ClusterFirst"  # a default only this kind got
    rs.metadata.labels = {"app": "x", wk.POD_TEMPLATE_HASH_LABEL: h}
    new, _ = du.split_new_old(d, [rs])
    assert new is rs
    other = rs_of("d-other", 10)
    assert other.spec.template is not None
    other.spec.template.spec.dns_policy = "Default"
    assert du.split_new_old(d, [other])[0] is None


def test_replica_failure_is_copied_to_the_deployment() -> None:
    d = deploy(replicas=2)
    new = rs_of("new", 2, available=0)
    assert new.status is not None
    new.status.conditions = [Condition(type="ReplicaFailure", status="True",
                                       reason="FailedCreate", message="quota")]
    st = du.rollout_status(d, [new], new, NOW)
    cond = du.get_condition(st, "ReplicaFailure")
    assert cond is not None and cond.reason == "FailedCreate" and cond.message == "quota"
    new.status.conditions = None
    d.status = st
    assert du.get_condition(du.rollout_status(d, [new], new, NOW), "ReplicaFailure") is None
