"""A bounded smoke run of bench/scale.py (not timed, no figure asserted): two small sizes
end to end (hollow kubelets, scheduler, controller-manager, Deployments, watch fan-out) and
the JSON document and table it prints."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from testing.support import ROOT

pytestmark = [pytest.mark.slow]


@pytest.mark.timeout(300)
def test_scale_bench_smoke() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--nodes", "20", "--pods", "60",
         "--small", "0.5", "--replicas", "5", "--kubelet-procs", "2", "--watchers", "5",
         "--fanout-pods", "5", "--baseline-pods", "20", "--timeout", "120"],
        capture_output=True, text=True, timeout=280, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    small, big = doc["runs"]
    assert (small["nodes"], small["pods"]) == (10, 30)
    assert (big["nodes"], big["pods"]) == (20, 60)
    for run in doc["runs"]:
        assert run["pods_running"] == run["pods"] and run["pods_bound_twice"] == 0
        assert {"apiserver", "scheduler", "controller_manager", "etcd",
                "hollow_kubelet_0", "hollow_kubelet_1"} <= set(run["components"])
        assert "POST" in run["api_latency_by_verb"]
        assert run["watch_fanout"]["watchers_with_every_event"] == 5
        assert run["etcd"]["db_mb"] > 0
    assert doc["growth"]["pods_x"] == 2.0
    assert "pods Running/s" in out.stderr and "scheduler binds/s" in out.stderr


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    from bench.scale import histogram_quantile
    buckets = {0.1: 50.0, 0.2: 100.0, float("inf"): 100.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.15)
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.05)
    assert histogram_quantile(0.99, {0.1: 0.0, float("inf"): 10.0}) == pytest.approx(0.1)
    assert histogram_quantile(0.5, {0.1: 0.0, float("inf"): 0.0}) is None
