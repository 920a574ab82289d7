"""statefulset_util's decisions without a server: identities, the plan of one
updateStatefulSet round (OrderedReady and Parallel, condemned, rolling update with partition
and maxUnavailable) and the status (computeReplicaStatus, completeRollingUpdate)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api.models import Pod
from api.models.apps import StatefulSet
from api.timeutil import format_time
from controllers import statefulset_util as su

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def sts(**spec: Any) -> StatefulSet:
    return StatefulSet.from_dict({
        "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "generation": 2},
        "spec": {"replicas": 3, "serviceName": "svc",
                 "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}},
                 **spec}})


def pod(name: str, ready: bool = True, rev: str = "r2", phase: str = "Running",
        terminating: bool = False, ready_for: float = 60) -> Pod:
    since = format_time(NOW - timedelta(seconds=ready_for))
    return Pod.from_dict({
        "metadata": {"name": name, "uid": name, "labels": {su.HASH_LABEL: rev},
                     **({"deletionTimestamp": format_time(NOW)} if terminating else {})},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": phase, "conditions": [
            {"type": "Ready", "status": "True" if ready else "False",
             "lastTransitionTime": since}]}})


def names(pods: list[Pod]) -> list[str]:
    return [p.metadata.name or "" for p in pods]


def test_identity_of_a_new_pod() -> None:
    s = sts(volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {}}],
            ordinals={"start": 2})
    s.spec.template.spec.volumes = None
    p = su.new_pod(s, s.spec.template, 4, "web-abc")
    assert p.metadata.name == "web-4" and p.spec.hostname == "web-4"
    assert p.spec.subdomain == "svc"
    assert p.metadata.labels == {"app": "web", su.POD_NAME_LABEL: "web-4",
                                 su.POD_INDEX_LABEL: "4", su.HASH_LABEL: "web-abc"}
    assert [v.to_dict() for v in p.spec.volumes or []] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-4"}}]
    assert su.parent_and_ordinal(p) == ("web", 4)
    assert su.parent_and_ordinal(pod("web")) == ("", -1)
    claim = su.new_claim(s, {"metadata": {"name": "data", "labels": {"x": "y"}},
                             "spec": {"accessModes": ["ReadWriteOnce"]}}, 4)
    assert claim["metadata"] == {"name": "data-web-4", "namespace": "ns",
                                 "labels": {"x": "y", "app": "web"}}


def test_ordered_ready_creates_one_and_waits() -> None:
    plan = su.plan(sts(), [], "r2", NOW)
    assert plan.create == [0] and plan.waiting
    plan = su.plan(sts(), [pod("web-0", ready=False)], "r2", NOW)
    assert plan.create == [] and plan.waiting
    plan = su.plan(sts(), [pod("web-0")], "r2", NOW)
    assert plan.create == [1]
    # minReadySeconds: Ready for 5 s of 10 is not yet available
    plan = su.plan(sts(minReadySeconds=10), [pod("web-0", ready_for=5)], "r2", NOW)
    assert plan.create == [] and plan.waiting
    # Parallel: every missing one at once
    plan = su.plan(sts(podManagementPolicy="Parallel"), [pod("web-1", ready=False)], "r2", NOW)
    assert plan.create == [0, 2]


def test_failed_pods_are_replaced_and_condemned_go_highest_first() -> None:
    plan = su.plan(sts(), [pod("web-0", phase="Failed")], "r2", NOW)
    assert names(plan.delete) == ["web-0"] and not plan.create
    pods = [pod(f"web-{i}") for i in range(5)]
    plan = su.plan(sts(), pods, "r2", NOW)
    assert names(plan.delete) == ["web-4"] and names(plan.condemned_deleted) == ["web-4"]
    plan = su.plan(sts(podManagementPolicy="Parallel"), pods, "r2", NOW)
    assert names(plan.delete) == ["web-4", "web-3"]
    # a terminating condemned pod holds the next one under OrderedReady
    pods[4] = pod("web-4", terminating=True)
    assert su.plan(sts(), pods, "r2", NOW).delete == []
    # an unhealthy replica holds the scale-down
    pods = [pod("web-0", ready=False)] + [pod(f"web-{i}") for i in range(1, 5)]
    assert su.plan(sts(), pods, "r2", NOW).delete == []


def test_rolling_update_partition_and_max_unavailable() -> None:
    old = [pod(f"web-{i}", rev="r1") for i in range(3)]
    plan = su.plan(sts(), old, "r2", NOW)
    assert names(plan.delete) == ["web-2"]
    plan = su.plan(sts(updateStrategy={"type": "RollingUpdate",
                                       "rollingUpdate": {"partition": 2}}), old, "r2", NOW)
    assert names(plan.delete) == ["web-2"]
    done = [pod("web-0", rev="r1"), pod("web-1", rev="r1"), pod("web-2")]
    plan = su.plan(sts(updateStrategy={"type": "RollingUpdate",
                                       "rollingUpdate": {"partition": 2}}), done, "r2", NOW)
    assert plan.delete == [] and plan.create == []
    plan = su.plan(sts(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": 2}}, podManagementPolicy="Parallel"), old, "r2", NOW)
    assert names(plan.delete) == ["web-2", "web-1"]
    assert su.plan(sts(updateStrategy={"type": "OnDelete"}), old, "r2", NOW).delete == []
    assert su.use_current_revision(sts(updateStrategy={
        "type": "RollingUpdate", "rollingUpdate": {"partition": 2}}), 1)
    assert not su.use_current_revision(sts(updateStrategy={
        "type": "RollingUpdate", "rollingUpdate": {"partition": 2}}), 2)
    assert su.max_unavailable(sts(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": "50%"}})) == 1


def test_status_and_complete_rolling_update() -> None:
    s = sts()
    st = su.compute_status(s, [pod("web-0", rev="r1"), pod("web-1"),
                               pod("web-2", ready=False)], "r1", "r2", NOW)
    assert (st.replicas, st.ready_replicas, st.available_replicas, st.current_replicas,
            st.updated_replicas, st.current_revision, st.observed_generation) == (
        3, 2, 2, 1, 2, "r1", 2)
    st = su.compute_status(s, [pod(f"web-{i}") for i in range(3)], "r1", "r2", NOW)
    assert st.current_revision == "r2" and st.current_replicas == 3
