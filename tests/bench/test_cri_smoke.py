"""A bounded smoke run of bench/cri.py (not timed, no figure asserted): one pod on a private
containerd and one on Docker, no warm-up or burst, and the JSON document it prints."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from testing import containerd
from testing.support import ROOT

_why = containerd.missing()
pytestmark = [pytest.mark.docker, pytest.mark.slow,
              pytest.mark.skipif(bool(_why), reason=f"no CRI runtime here: {_why}")]


@pytest.mark.timeout(240)
def test_cri_bench_smoke() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "cri.py"), "--pods", "1", "--burst", "0",
         "--warmup", "0"],
        capture_output=True, text=True, timeout=220, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "never awaited" not in out.stderr, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    assert (doc["pods"], doc["burst_pods"], doc["repeats"]) == (1, 0, 1)
    part = doc["one_at_a_time"]
    assert part["cri"]["n"] == part["docker"]["n"] == 1
    assert part["ratio_p50"] > 0
    assert set(doc) >= {"goal", "goal_met", "load_average", "containerd_start_and_image_import_s"}
