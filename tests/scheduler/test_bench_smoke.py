"""A bounded smoke run of bench/scheduler.py (not timed, no figure asserted): both sizes end to
end and the JSON document with the floor, the ratio, CPU per pod, nodes used and double binds."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from testing.support import ROOT

pytestmark = [pytest.mark.slow]


@pytest.mark.timeout(240)
def test_scheduler_bench_smoke() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scheduler.py"), "--nodes", "40",
         "--compare-nodes", "20", "--pods", "200", "--pre", "50", "--baseline-pods", "40",
         "--timeout", "120"],
        capture_output=True, text=True, timeout=220, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    assert [r["nodes"] for r in doc["runs"]] == [20, 40]
    for run in doc["runs"]:
        assert run["result"]["pods_bound"] == 200 and run["result"]["rebinds"] == 0
        assert run["scheduler_process"]["cpu_ms_per_pod"] > 0
        assert "cycle_ms_per_pod" in run["scheduler_process"]
    assert doc["all_nodes_used"] and doc["pods_bound_twice"] == 0
    assert doc["floor_binds_per_second"] > 0 and doc["ratio_to_floor"] is not None
    assert all(f > 0 for f in doc["floor_before_and_after"])
    assert set(doc["cpu_ms_per_pod"]) == {"20", "40"} and doc["cpu_per_pod_big_vs_small"]
