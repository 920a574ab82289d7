"""The disruption controller's decisions without a server: buildDisruptedPodMap's two-minute
window (expired entries dropped with a NotDeleted event, the next recheck time, deleting
pods left out), the DisruptionAllowed condition's transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from api.models import Pod
from api.timeutil import format_time
from controllers.disruption import DisruptionController, conditions_up_to_date, set_condition


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, str]] = []

    def event(self, obj: Any, type_: str, reason: str, message: str) -> None:
        self.seen.append((obj.metadata.name, type_, reason, message))


def pod(name: str, deleting: bool = False) -> Pod:
    md: dict[str, Any] = {"name": name, "namespace": "ns"}
    if deleting:
        md["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return Pod.from_dict({"metadata": md, "spec": {"containers": [{"name": "c",
                                                                    "image": "x"}]}})


def test_disrupted_pods_expire_after_two_minutes() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    events = Events()
    stub = SimpleNamespace(recorder=events)
    fresh = format_time(now - timedelta(seconds=30))
    old = format_time(now - timedelta(minutes=3))
    disrupted = {"fresh": fresh, "old": old, "going": fresh, "gone": fresh}
    result, recheck = DisruptionController._disrupted_pods(
        stub, [pod("fresh"), pod("old"), pod("going", deleting=True)],  # type: ignore[arg-type]
        disrupted, now)
    assert result == {"fresh": fresh}
    assert recheck == now - timedelta(seconds=30) + timedelta(minutes=2)
    assert events.seen == [("old", "Warning", "NotDeleted",
                            "Pod was expected by PDB ns/ns to be deleted but it wasn't")]


def test_condition_transitions() -> None:
    status: dict[str, Any] = {"disruptionsAllowed": 1, "observedGeneration": 2}
    assert not conditions_up_to_date(status, 2)
    set_condition(status, "DisruptionAllowed", "True", "SufficientPods", "", 2, "t1")
    assert conditions_up_to_date(status, 2)
    assert not conditions_up_to_date(status, 3)
    # Same status: the transition time stays; a new status moves it.
    set_condition(status, "DisruptionAllowed", "True", "SufficientPods", "", 2, "t2")
    assert status["conditions"][0]["lastTransitionTime"] == "t1"
    status["disruptionsAllowed"] = 0
    assert not conditions_up_to_date(status, 2)
    set_condition(status, "DisruptionAllowed", "False", "InsufficientPods", "", 2, "t3")
    assert status["conditions"] == [{
        "type": "DisruptionAllowed", "status": "False", "observedGeneration": 2,
        "lastTransitionTime": "t3", "reason": "InsufficientPods", "message": ""}]
    assert conditions_up_to_date(status, 2)
