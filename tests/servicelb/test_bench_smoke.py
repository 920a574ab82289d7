"""A bounded smoke run of bench/servicelb.py (not timed, no figure asserted): the JSON
document with the baseline, the addresses (one each, all distinct) and the ratio."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from testing.support import ROOT

pytestmark = [pytest.mark.slow]


@pytest.mark.timeout(180)
def test_servicelb_bench_smoke() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "servicelb.py"),
                          "--services", "4", "--concurrency", "2"],
                         capture_output=True, text=True, timeout=170, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    assert doc["address"]["n"] == doc["baseline_watch"]["n"] == 4
    assert doc["distinct_addresses"] == 4 and doc["ratio_p50"] is not None
