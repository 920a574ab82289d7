"""A bounded smoke run of bench/netpol.py (not timed, no figure asserted): a few hollow pods
and policies programmed into private network namespaces, and the JSON document it prints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from testing.support import ROOT

pytestmark = [pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("ipset", "iptables-restore", "ip")),
    reason="needs root, ipset, iptables and ip netns")]


@pytest.mark.timeout(120)
def test_netpol_bench_smoke() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "netpol.py"), "--pods", "60", "--policies", "10",
         "--namespaces", "3", "--changes", "3", "--repeats", "1"],
        capture_output=True, text=True, timeout=100, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    assert (doc["pods"], doc["policies"]) == (60, 10)
    assert doc["programmed"]["chains"] >= 10 + 3
    assert len(doc["full_sync_s"]["runs"]) == 1
    assert set(doc) >= {"full_ratio", "pod_change_ms", "pod_change_restore_alone_ms",
                        "goals_met", "load_average"}
