"""A bounded smoke run of bench/ha_apiserver.py (not timed, no figure asserted): a
3-member etcd, two API servers, a few creates through one and both, the read-cost
probe, and 20 watchers moving to the second server on a graceful stop."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from testing.support import ROOT

pytestmark = [pytest.mark.slow]


@pytest.mark.timeout(240)
def test_ha_apiserver_bench_smoke() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ha_apiserver.py"), "--creates", "60",
         "--concurrency", "8", "--reads", "10", "--watchers", "20", "--timeout", "60"],
        capture_output=True, text=True, timeout=220, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    assert doc["creates_one_server"]["errors"] == 0
    assert doc["creates_two_servers"]["errors"] == 0
    fo = doc["graceful_failover"]
    assert fo["all_moved"] and fo["all_saw_a_later_write"], fo
    assert fo["relists"] == 0 and fo["gone_410"] == 0 and fo["exit_code"] == 0, fo
