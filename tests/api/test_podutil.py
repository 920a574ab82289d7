"""Pod helpers (readiness, availability, requests, QoS, conditions, owners) and intstr."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest

from api.intstr import IntOrStringError, is_percent, resolve_fenceposts, scaled_value
from api.models import Condition, Deployment, Pod
from api.podutil import (
    controller_ref,
    get_condition,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    is_terminal,
    meta_key,
    pod_limits,
    pod_requests,
    pod_requests_non_zero,
    qos_class,
    remove_condition,
    set_condition,
)
from api.timeutil import format_time

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def pod(
    containers: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    status: dict[str, Any] | None = None,
    **meta: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": containers or [{"name": "c", "image": "nginx"}]}
    if init:
        spec["initContainers"] = init
    d: dict[str, Any] = {"metadata": {"name": "p", "namespace": "default", **meta}, "spec": spec}
    if status is not None:
        d["status"] = status
    return d


def ready_pod(since: datetime | None, status: str = "True") -> dict[str, Any]:
    cond: dict[str, Any] = {"type": "Ready", "status": status}
    if since is not None:
        cond["lastTransitionTime"] = format_time(since)
    return pod(status={"phase": "Running", "conditions": [{"type": "PodScheduled", "status": "True"}, cond]})


def res(requests: dict[str, str] | None = None, limits: dict[str, str] | None = None, name: str = "c") -> dict[str, Any]:
    r: dict[str, Any] = {}
    if requests is not None:
        r["requests"] = requests
    if limits is not None:
        r["limits"] = limits
    return {"name": name, "image": "nginx", "resources": r}


def test_ready_and_available() -> None:
    for p in (ready_pod(NOW), Pod.from_dict(ready_pod(NOW))):
        assert is_pod_ready(p)
    assert not is_pod_ready(ready_pod(NOW, "False"))
    assert not is_pod_ready(pod())
    assert not is_pod_ready(pod(status={"phase": "Running"}))

    assert is_pod_available(ready_pod(NOW), 0, NOW)
    assert not is_pod_available(ready_pod(NOW), 10, NOW)
    assert not is_pod_available(ready_pod(NOW - timedelta(seconds=10)), 10, NOW)  # strictly after
    assert is_pod_available(ready_pod(NOW - timedelta(seconds=11)), 10, NOW)
    assert not is_pod_available(ready_pod(None), 10, NOW)
    assert not is_pod_available(ready_pod(NOW - timedelta(hours=1), "False"), 0, NOW)
    assert is_pod_available(ready_pod(datetime.now(UTC) - timedelta(minutes=5)), 60)


def test_terminal_and_active() -> None:
    assert is_terminal(pod(status={"phase": "Succeeded"}))
    assert is_terminal(pod(status={"phase": "Failed"}))
    assert not is_terminal(pod(status={"phase": "Running"}))
    assert not is_terminal(pod())
    assert is_pod_active(pod(status={"phase": "Pending"}))
    assert not is_pod_active(pod(status={"phase": "Failed"}))
    assert not is_pod_active(pod(deletionTimestamp="2026-01-01T00:00:00Z"))


def test_pod_requests_sum_and_init_max() -> None:
    p = pod(
        containers=[res({"cpu": "500m", "memory": "128Mi"}), res({"cpu": "0.5"}, name="d")],
        init=[res({"cpu": "2", "memory": "64Mi"}, name="i1"), res({"memory": "1Gi"}, name="i2")],
    )
    assert pod_requests(p) == {"cpu": Fraction(2), "memory": Fraction(2**30)}
    q = pod(containers=[res({"cpu": "500m", "memory": "128Mi"}), res({"cpu": "0.5"}, name="d")])
    assert pod_requests(q) == {"cpu": Fraction(1), "memory": Fraction(128 * 2**20)}
    assert pod_requests(pod()) == {}
    assert pod_limits(pod(containers=[res(limits={"cpu": "1"}), res(limits={"cpu": "1"}, name="d")])) == {
        "cpu": Fraction(2)
    }


def test_pod_requests_sidecars() -> None:
    """Kubernetes' example: sidecars run alongside and add to later init containers."""
    sidecar = res({"cpu": "1"}, name="side")
    sidecar["restartPolicy"] = "Always"
    p = pod(containers=[res({"cpu": "1"})], init=[sidecar, res({"cpu": "3"}, name="i")])
    # regular 1 + sidecar 1 = 2; init "i" runs with the sidecar: 3 + 1 = 4 -> 4
    assert pod_requests(p) == {"cpu": Fraction(4)}
    q = pod(containers=[res({"cpu": "2"})], init=[res({"cpu": "1"}, name="i"), sidecar])
    assert pod_requests(q) == {"cpu": Fraction(3)}


def test_pod_requests_overhead() -> None:
    p = pod(containers=[res({"cpu": "100m"})])
    p["spec"]["overhead"] = {"cpu": "250m"}
    assert pod_requests(p) == {"cpu": Fraction(7, 20)}


def test_non_zero_requests() -> None:
    r = pod_requests_non_zero(pod(containers=[res({}), res({"cpu": "1"}, name="d")]))
    assert r["cpu"] == Fraction(11, 10)
    assert r["memory"] == 2 * 200 * 2**20


@pytest.mark.parametrize(
    ("containers", "init", "qos"),
    [
        ([{"name": "c", "image": "x"}], None, "BestEffort"),
        ([res({"cpu": "0"})], None, "BestEffort"),
        ([res({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})], None, "Guaranteed"),
        ([res({"cpu": "1000m", "memory": "1024Mi"}, {"cpu": "1", "memory": "1Gi"})], None, "Guaranteed"),
        ([res(None, {"cpu": "1", "memory": "1Gi"})], None, "Burstable"),  # undefaulted requests
        ([res({"cpu": "500m", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})], None, "Burstable"),
        ([res({"cpu": "1"}, {"cpu": "1"})], None, "Burstable"),  # no memory limit
        ([res({"cpu": "100m"})], None, "Burstable"),
        (
            [res({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}), {"name": "d", "image": "x"}],
            None,
            "Burstable",
        ),
        (
            [res({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})],
            [res({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}, name="i")],
            "Guaranteed",
        ),
        ([res({"nvidia.com/gpu": "1"}, {"nvidia.com/gpu": "1"})], None, "BestEffort"),
    ],
)
def test_qos_class(containers: list[dict[str, Any]], init: list[dict[str, Any]] | None, qos: str) -> None:
    assert qos_class(pod(containers=containers, init=init)) == qos
    assert qos_class(Pod.from_dict(pod(containers=containers, init=init))) == qos


def test_conditions() -> None:
    conds = [Condition(type="Ready", status="False", last_transition_time="2026-01-01T00:00:00Z")]
    assert get_condition(conds, "Ready") is conds[0]
    assert get_condition(conds, "Other") is None
    assert get_condition(None, "Ready") is None

    # same status: the transition time stays; reason/message update
    same = set_condition(conds, Condition(type="Ready", status="False", reason="X"), now="2026-01-02T00:00:00Z")
    assert same[0].last_transition_time == "2026-01-01T00:00:00Z"
    assert same[0].reason == "X"
    # changed status: transition time moves to now
    changed = set_condition(conds, Condition(type="Ready", status="True"), now="2026-01-02T00:00:00Z")
    assert changed[0].last_transition_time == "2026-01-02T00:00:00Z"
    assert changed[0].status == "True"
    # input untouched
    assert conds[0].status == "False" and conds[0].reason is None
    # a new type is appended
    added = set_condition(conds, Condition(type="PodScheduled", status="True"), now="2026-01-03T00:00:00Z")
    assert [c.type for c in added] == ["Ready", "PodScheduled"]
    assert added[1].last_transition_time == "2026-01-03T00:00:00Z"
    fresh = set_condition(None, Condition(type="Ready", status="True"))
    assert fresh[0].last_transition_time is not None
    assert remove_condition(added, "Ready") == [added[1]]


def test_controller_ref_and_key() -> None:
    owners = [
        {"apiVersion": "v1", "kind": "Thing", "name": "t", "uid": "1"},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "2", "controller": True},
    ]
    d = pod(ownerReferences=owners)
    ref = controller_ref(d)
    assert ref is not None and ref.name == "rs" and ref.uid == "2"
    ref2 = controller_ref(Pod.from_dict(d))
    assert ref2 == ref
    assert controller_ref(pod()) is None
    assert controller_ref(pod(ownerReferences=owners[:1])) is None
    assert meta_key(d) == "default/p"
    assert meta_key(Pod.from_dict(d)) == "default/p"
    assert meta_key({"metadata": {"name": "n1"}}) == "n1"
    dep = Deployment.from_dict(
        {"metadata": {"name": "d", "namespace": "ns"},
         "spec": {"selector": {}, "template": {"spec": {"containers": []}}}}
    )
    assert meta_key(dep) == "ns/d"


@pytest.mark.parametrize(
    ("value", "total", "up", "expected"),
    [
        (5, 10, True, 5),
        (0, 10, False, 0),
        (None, 10, True, 0),
        ("25%", 10, True, 3),
        ("25%", 10, False, 2),
        ("25%", 4, True, 1),
        ("25%", 4, False, 1),
        ("50%", 3, True, 2),
        ("50%", 3, False, 1),
        ("0%", 10, True, 0),
        ("100%", 7, False, 7),
        ("10%", 1, True, 1),
        ("10%", 1, False, 0),
        ("25%", 0, True, 0),
    ],
)
def test_scaled_value(value: int | str | None, total: int, up: bool, expected: int) -> None:
    assert scaled_value(value, total, up) == expected


@pytest.mark.parametrize("bad", ["5", "abc%", "x", True])
def test_scaled_value_errors(bad: object) -> None:
    with pytest.raises(IntOrStringError):
        scaled_value(bad, 10, True)  # type: ignore[arg-type]


def test_fenceposts() -> None:
    assert resolve_fenceposts("25%", "25%", 10) == (3, 2)
    assert resolve_fenceposts(0, 0, 10) == (0, 1)  # always able to progress
    assert resolve_fenceposts("0%", "0%", 3) == (0, 1)
    assert resolve_fenceposts(1, 0, 3) == (1, 0)
    assert is_percent("5%") and not is_percent(5) and not is_percent(None)
