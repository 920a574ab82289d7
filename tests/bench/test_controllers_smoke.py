"""A bounded smoke run of bench/controllers.py (not timed, no figure asserted): a few
Deployments through a real controller-manager, and the JSON document it prints."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from testing.support import ROOT

pytestmark = [pytest.mark.slow]


@pytest.mark.timeout(240)
def test_controllers_bench_smoke() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "controllers.py"), "--deployments", "3",
         "--replicas", "12", "--settle", "0.5", "--timeout", "120"],
        capture_output=True, text=True, timeout=220, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    assert doc["pods_created"] == 36
    assert doc["baseline_direct_pod_creates"]["pods"] == 36
    by_verb = doc["controller_manager_writes_by_verb"]
    assert by_verb["pods POST"] == 36 and by_verb["replicasets POST"] == 3
    # the revision annotation goes with the status write, not in a PATCH of its own
    assert "deployments PATCH" not in by_verb
    # twelve similar SuccessfulCreate events per ReplicaSet: nine Events and one aggregate
    assert doc["controller_manager_writes"]["events"] >= 3 * 10
    assert set(doc["goals_met"]) == {"writes_per_pod_le_2", "pods_reported_created_le_1s"}
