"""A bounded smoke run of bench/nodes.py on the package's real-nodes cluster: one pod per
node kind, a small transfer, a few pings, no bring-up; its JSON has every section (no figure
is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from testing.support import ROOT

from .conftest import ENV, PROJECT, Cluster

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(900)]


def test_bench_nodes_smoke(cluster: Cluster) -> None:
    argv = [sys.executable, str(ROOT / "bench" / "nodes.py"), "--kubeconfig",
            str(cluster.kubeconfig), "--project", PROJECT, "--pods", "1", "--bytes", "1M",
            "--pings", "10", "--repeats", "1"]
    # SIGTERM on a timeout, so that the benchmark stops the kubelet it started
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=ROOT, env={**os.environ, **ENV}) as p:
        try:
            out, err = p.communicate(timeout=400)
        except subprocess.TimeoutExpired:
            p.terminate()
            out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err[-3000:]
    res = json.loads(out)
    assert res["startup"]["real_node"]["n"] == res["startup"]["shared_docker"]["n"] == 1
    for k in ("across", "within"):
        assert res["network"][k]["throughput_MBps_median"] > 0
        assert res["network"][k]["rtt_p50_ms"] > 0
    assert "ratio_throughput" in res["network"] and "bringup" not in res
