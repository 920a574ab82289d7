"""The watch cache's history in a running API server: a burst of writes grows it, and
once its events are older than the freshness window (--watch-cache-fresh-seconds, short
here) it shrinks back to Kubernetes' lower bound; a client whose resourceVersion fell
out of it meanwhile is still served from etcd's history, without a re-list."""

from __future__ import annotations

import re

import httpx

from testing.apiclient import Api, Watch
from testing.support import ApiServer, Etcd, wait_for


def _metric(url: str, name: str, labels: str) -> float:
    text = httpx.get(url + "/metrics").text
    m = re.search(rf"^{name}\{{{labels}\}} (\S+)$", text, re.M)
    assert m, name
    return float(m.group(1))


def _capacity(url: str) -> float:
    return _metric(url, "apiserver_watch_cache_capacity", 'resource="configmaps"')


def _events(url: str) -> float:
    return _metric(url, "apiserver_watch_cache_size", 'kind="events",resource="configmaps"')


def test_history_follows_a_burst_and_shrinks_back(etcd: Etcd) -> None:
    s = ApiServer(etcd.url, ["--watch-cache-fresh-seconds", "10"]).start()
    api = Api(s.url)
    try:
        ns = api.namespace()
        base = f"/api/v1/namespaces/{ns}/configmaps"
        listed = api.ok("GET", base)["metadata"]["resourceVersion"]
        for i in range(150):
            api.ok("POST", base, {"metadata": {"name": f"c{i}"}}, 201)
        grown = _capacity(s.url)
        assert grown >= 200 and _events(s.url) >= 150, grown
        # Ten seconds later the events are stale: back to the lower bound.
        wait_for(lambda: _capacity(s.url) == 100, timeout=30,
                 message="the history shrinking back")
        assert _events(s.url) == 100
        # The client that listed before the burst: its events came from etcd's history.
        w = Watch(s.url, base, resourceVersion=listed, timeoutSeconds=20)
        try:
            names = [w.next_non_bookmark(timeout=15)["object"]["metadata"]["name"]
                     for _ in range(150)]
            assert names == [f"c{i}" for i in range(150)]
        finally:
            w.close()
        assert _metric(s.url, "apiserver_watch_cache_history_backfills_total",
                       'resource="configmaps"') == 1
    finally:
        api.close()
        s.stop()


def test_bench_smoke() -> None:
    from bench.watchcache import main

    out = main(["--pods", "300", "--server-pods", "20", "--fresh-seconds", "2"])
    cache = out["cache"]
    assert cache["after_add"]["objects"] == 300 and cache["after_window"]["capacity"] == 100
    assert cache["after_window_again"]["objects"] == 0
    assert cache["list_label_selector_items"] == 300
    assert out["layout"]["json_bytes_per_pod"] > 0
    server = out["server"]
    assert server["after_create"]["pods"] >= 20 and server["after_window"]["pod_capacity"] == 100


def test_writepath_bench_smoke() -> None:
    from bench.writepath import PHASES, main

    out = main(["--pods", "20", "--reps", "1"])
    for phase in PHASES:
        assert out["current"][phase]["per_s"] > 0
