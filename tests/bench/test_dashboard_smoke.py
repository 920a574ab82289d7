"""A bounded smoke run of bench/dashboard.py (not timed, no figure asserted): a few hollow
nodes and pods, a few status changes seen in headless Chromium, and the JSON it prints."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from testing.support import ROOT
from tests.dashboard.conftest import skip_reason


def test_dashboard_bench_smoke() -> None:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "dashboard.py"), "--nodes", "3", "--pods", "6",
         "--changes", "3", "--burst", "3", "--timeout", "90"],
        capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    assert doc["status_change_to_dom"]["n"] == 3
    assert doc["baseline_status_change_to_watch"]["n"] == 3
    assert doc["burst"]["fps"] > 0 and doc["js_heap_used_mb"] > 0
