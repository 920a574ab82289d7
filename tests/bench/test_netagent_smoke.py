"""A bounded smoke run of bench/netagent.py (not timed, no figure asserted): a few peer Nodes
routed and unrouted in a private network namespace, and the JSON document it prints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from testing.support import ROOT

pytestmark = [pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("iptables-restore", "ip")),
    reason="needs root, iptables and ip netns")]


@pytest.mark.timeout(180)
def test_netagent_bench_smoke() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "netagent.py"),
                          "--peers", "4", "--concurrency", "2"],
                         capture_output=True, text=True, timeout=170, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    assert doc["route_added"]["n"] == doc["baseline_watch_added"]["n"] == 4
    assert doc["route_removed"]["n"] == 4
    assert doc["ratio_added_p50"] is not None and doc["ratio_removed_p50"] is not None
