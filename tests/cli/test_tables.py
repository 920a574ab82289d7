"""kubectl's STATUS column (api.printers, which the server's tables and describe share) and
minictl's table layout, as pure functions (no server needed; AGE is api.timeutil's, tested
in test_api_timeutil)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from api.models import Pod
from api.printers import pod_ready, pod_restarts, pod_status_reason
from cli.errors import CliError
from cli.output import parse_duration
from cli.tables import render


def _pod(status: dict[str, object], deleting: bool = False,
         containers: int = 1) -> dict[str, Any]:
    """The pod's wire form (through the model, as the server would store it)."""
    meta: dict[str, object] = {"name": "p"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return Pod.from_dict({"metadata": meta, "spec": {"containers": [
        {"name": f"c{i}", "image": "x"} for i in range(containers)]},
        "status": status}).to_dict()


def test_pod_status_column() -> None:
    assert pod_status_reason(_pod({"phase": "Pending"})) == "Pending"
    running = {"phase": "Running", "containerStatuses": [
        {"name": "c0", "ready": True, "restartCount": 0, "state": {"running": {}}}]}
    assert pod_status_reason(_pod(running)) == "Running"
    assert pod_ready(_pod(running)) == "1/1"
    assert pod_status_reason(_pod(running, deleting=True)) == "Terminating"
    crash = {"phase": "Running", "containerStatuses": [
        {"name": "c0", "ready": False, "restartCount": 4,
         "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T00:00:00Z"}}}]}
    assert pod_status_reason(_pod(crash)) == "CrashLoopBackOff"
    assert pod_restarts(_pod(crash), datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)) == "4 (30s ago)"
    oom = {"phase": "Running", "containerStatuses": [
        {"name": "c0", "ready": False, "restartCount": 0,
         "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}
    assert pod_status_reason(_pod(oom)) == "OOMKilled"
    code = {"phase": "Failed", "containerStatuses": [
        {"name": "c0", "ready": False, "restartCount": 0, "state": {"terminated": {"exitCode": 3}}}]}
    assert pod_status_reason(_pod(code)) == "ExitCode:3"
    two = {"phase": "Running", "containerStatuses": [
        {"name": "c0", "ready": True, "restartCount": 0, "state": {"running": {}}},
        {"name": "c1", "ready": False, "restartCount": 0, "state": {"waiting": {
            "reason": "ContainerCreating"}}}]}
    assert pod_ready(_pod(two, containers=2)) == "1/2"
    assert pod_status_reason(_pod(two, containers=2)) == "ContainerCreating"


def test_render_pads_like_tabwriter() -> None:
    text = render([["NAME", "READY"], ["a-long-name", "1/1"], ["b", "0/1"]])
    assert text.splitlines() == ["NAME          READY", "a-long-name   1/1", "b             0/1"]


def test_parse_duration() -> None:
    assert parse_duration("0") == 0
    assert parse_duration("30s") == 30
    assert parse_duration("2m") == 120
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    with pytest.raises(CliError):
        parse_duration("soon")
    with pytest.raises(CliError):
        parse_duration("5x")
