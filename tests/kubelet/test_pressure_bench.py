"""A bounded smoke run of bench/kubelet_pressure.py (not timed, no figure asserted): the
benchmark runs end to end on Docker and prints its JSON document."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from testing.support import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.mark.timeout(300)
def test_kubelet_pressure_bench_smoke(dk: object) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "kubelet_pressure.py"), "--flood", "10",
         "--pods", "2", "--interval", "0.2", "--delete-pods", "1", "--grace", "1"],
        capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    assert doc["flood_pods"] == 10
    assert doc["startup"]["quiet"]["n"] == 2 and doc["startup"]["flooded"]["n"] == 2
    assert doc["delete_to_gone"]["flooded"]["n"] == 1
    assert doc["flood"]["daemon_pull_attempts"] >= 1
    assert set(doc["goals_met"]) == {"startup_p50_le_1_5x", "startup_p99_le_1_5x",
                                     "delete_le_grace_plus_2s"}
