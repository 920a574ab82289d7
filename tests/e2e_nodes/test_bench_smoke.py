"""A bounded smoke run of bench/nodes.py on the package's real-nodes cluster: one pod per
node kind, a small transfer, a few pings, no bring-up; its JSON has every section (no figure
is asserted)."""

from __future__ import annotations

import json
import sys

import pytest

from testing.support import ROOT

from .conftest import PROJECT, Cluster, sh

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


def test_bench_nodes_smoke(cluster: Cluster) -> None:
    out = sh([sys.executable, str(ROOT / "bench" / "nodes.py"), "--kubeconfig",
              str(cluster.kubeconfig), "--project", PROJECT, "--pods", "1", "--bytes", "1M",
              "--pings", "10", "--repeats", "1"], timeout=400).stdout
    res = json.loads(out)
    assert res["startup"]["real_node"]["n"] == res["startup"]["shared_docker"]["n"] == 1
    for k in ("across", "within"):
        assert res["network"][k]["throughput_MBps_median"] > 0
        assert res["network"][k]["rtt_p50_ms"] > 0
    assert "ratio_throughput" in res["network"] and "bringup" not in res
