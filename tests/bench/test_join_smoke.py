"""A bounded smoke run of bench/join.py (not timed, no figure asserted): one joining node and
one baseline kubelet, and the JSON document it prints."""

from __future__ import annotations

import json
import subprocess
import sys

from testing.support import ROOT


def test_join_bench_smoke() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "join.py"), "--rounds", "1"],
                         capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    assert doc["join_to_ready_s"]["n"] == 1 and doc["join_to_ready_s"]["p50"] > 0
    assert doc["baseline_kubelet_with_certificate_to_ready_s"]["n"] == 1
    assert doc["ratio_p50"] > 0
