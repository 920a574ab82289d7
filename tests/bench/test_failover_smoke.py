"""A bounded smoke run of bench/failover.py (not timed, no figure asserted): the scheduler
pair with 2 s leases, one kill -9 of the leader, the other binding."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from testing.support import ROOT

pytestmark = [pytest.mark.slow]


@pytest.mark.timeout(200)
def test_failover_bench_smoke() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "failover.py"), "--repeats", "1",
         "--settings", "short", "--components", "scheduler"],
        capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    r = doc["settings"]["short"]["scheduler"]
    assert len(r["failover_s"]["all"]) == 1 and len(r["baseline_s"]["all"]) == 1
    assert "controller_manager" not in doc["settings"]["short"]
