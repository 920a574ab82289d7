"""A bounded smoke run of bench/nodeipam.py (not timed, no figure asserted): the JSON
document with the baseline, the allocations (every Node one, none given twice, the Node
created across a restart included) and the ratio."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from testing.support import ROOT


@pytest.mark.timeout(180)
def test_nodeipam_bench_smoke() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "nodeipam.py"),
                          "--nodes", "4", "--concurrency", "2"],
                         capture_output=True, text=True, timeout=170, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    assert doc["cidr"]["n"] == doc["baseline_watch"]["n"] == 4
    assert doc["distinct_cidrs"] == doc["cidrs_given"] == 4 + 2  # + warm-up, after-restart
    assert doc["ratio_p50"] is not None and doc["restart_to_new_node_cidr_s"] is not None
