"""A bounded smoke run of bench/loadbalancer.py (not timed, no figure asserted): both
addresses answer for each Service, in the bench's private network namespaces."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from testing.support import ROOT
from tests.proxy.helpers import needs_iptables

pytestmark = [needs_iptables, pytest.mark.slow]


@pytest.mark.timeout(180)
def test_loadbalancer_bench_smoke() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "loadbalancer.py"),
                          "--services", "2", "--min-sync-period", "0.1s"],
                         capture_output=True, text=True, timeout=170, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    assert doc["baseline_cluster_ip"]["n"] == doc["load_balancer_ip"]["n"] == 2
    assert doc["ratio_p50"] is not None
