"""Watches resume across an API server restart from etcd's history, without a re-list.

A new server's watch cache starts at the revision it listed at; a client that resumes
from an older resourceVersion (its last event) is served the events after it from etcd's
history (kube-apiserver's watch cache initialization plus an etcd watch from that
revision) instead of 410 Gone, as long as etcd has not compacted it. Each test runs its
own etcd and servers, since it restarts them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import aetcd
import httpx
import pytest

from testing.apiclient import Api, Watch
from testing.support import ApiServer, Etcd


@pytest.fixture
def own_etcd() -> Iterator[Etcd]:
    e = Etcd().start()
    yield e
    e.stop()


def _cm(name: str, labels: dict[str, str] | None = None,
        data: dict[str, str] | None = None) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels or {}}, "data": data or {}}


def _events(w: Watch, n: int) -> list[tuple[str, str, str]]:
    out = [w.next_non_bookmark(timeout=15) for _ in range(n)]
    return [(e["type"], e["object"]["metadata"].get("name", ""),
             e["object"]["metadata"].get("resourceVersion", "")) for e in out]


def _metric(url: str, name: str, resource: str) -> float:
    text = httpx.get(url + "/metrics").text
    m = re.search(rf'^{name}\{{resource="{resource}"\}} (\S+)$', text, re.M)
    assert m, name
    return float(m.group(1))


def test_watch_resumes_from_etcd_history_after_restart(own_etcd: Etcd) -> None:
    s = ApiServer(own_etcd.url).start()
    api = Api(s.url)
    try:
        ns = api.namespace()
        base = f"/api/v1/namespaces/{ns}/configmaps"
        api.ok("POST", base, _cm("a", {"app": "x"}), 201)
        listed = api.ok("GET", base)["metadata"]["resourceVersion"]
        # What a client that listed at `listed` has yet to see, written by this server.
        b = api.ok("POST", base, _cm("b", {"app": "x"}), 201)
        a2 = api.ok("PATCH", f"{base}/a", {"metadata": {"labels": {"app": "y"}}},
                    content_type="application/merge-patch+json")
        d = api.ok("DELETE", f"{base}/b")
        # Writes to other kinds move etcd's revision past the last configmap event.
        for i in range(3):
            api.ok("POST", f"/api/v1/namespaces/{ns}/secrets",
                   {"metadata": {"name": f"s{i}"}}, 201)
        s.stop()
        s = ApiServer(own_etcd.url, port=s.port).start()
        window = _metric(s.url, "apiserver_watch_cache_window_start_resource_version",
                         "configmaps")
        assert window > int(listed)  # the new cache starts after `listed`...
        # The history starts at Kubernetes' lower bound (it grows with the events).
        assert _metric(s.url, "apiserver_watch_cache_capacity", "configmaps") == 100
        # ...yet the watch from it gets the events after it, in order, no 410.
        w = Watch(s.url, base, resourceVersion=listed, timeoutSeconds=20)
        try:
            got = _events(w, 3)
            assert got == [
                ("ADDED", "b", b["metadata"]["resourceVersion"]),
                ("MODIFIED", "a", a2["metadata"]["resourceVersion"]),
                ("DELETED", "b", got[2][2]),
            ], got
            assert int(got[2][2]) > int(a2["metadata"]["resourceVersion"])
            assert d["kind"] in ("ConfigMap", "Status")
            # Then live.
            c = api.ok("POST", base, _cm("c"), 201)
            assert _events(w, 1) == [("ADDED", "c", c["metadata"]["resourceVersion"])]
        finally:
            w.close()
        # A label selector sees the transitions: a left app=x (DELETED), b came and went.
        w = Watch(s.url, base, resourceVersion=listed, labelSelector="app=x",
                  timeoutSeconds=20)
        try:
            assert [(t, n) for t, n, _ in _events(w, 3)] == [
                ("ADDED", "b"), ("DELETED", "a"), ("DELETED", "b")]
        finally:
            w.close()
        assert _metric(s.url, "apiserver_watch_cache_history_backfills_total",
                       "configmaps") == 1
        # The official client's watch resumes the same way (no ERROR event).
        from kubernetes import client as k8s
        from kubernetes import watch as k8s_watch

        cfg = k8s.Configuration()
        cfg.host = s.url
        with k8s.ApiClient(cfg) as c_api:
            v1 = k8s.CoreV1Api(c_api)
            seen = []
            for ev in k8s_watch.Watch().stream(v1.list_namespaced_config_map, ns,
                                                resource_version=listed,
                                                timeout_seconds=5):
                seen.append((ev["type"], ev["object"].metadata.name))
                if len(seen) == 4:
                    break
            assert seen == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b"),
                            ("ADDED", "c")]
    finally:
        api.close()
        s.stop()


def test_watch_from_compacted_history_is_410(own_etcd: Etcd) -> None:
    s = ApiServer(own_etcd.url).start()
    api = Api(s.url)
    try:
        ns = api.namespace()
        base = f"/api/v1/namespaces/{ns}/configmaps"
        listed = api.ok("POST", base, _cm("a"), 201)["metadata"]["resourceVersion"]
        api.ok("POST", base, _cm("b"), 201)
        s.stop()
        host, port = own_etcd.url.rsplit("//", 1)[1].split(":")

        async def compact() -> None:
            async with aetcd.Client(host=host, port=int(port), timeout=5) as c:
                await c.put(b"/compaction-marker", b"x")
                rev = (await c.get(b"/compaction-marker")).mod_revision
                await c.compact(rev)

        asyncio.run(compact())
        s = ApiServer(own_etcd.url, port=s.port).start()
        w = Watch(s.url, base, resourceVersion=listed, timeoutSeconds=10)
        try:
            ev = w.next(timeout=10)
            assert ev["type"] == "ERROR" and ev["object"]["code"] == 410, ev
            assert ev["object"]["reason"] == "Expired"
        finally:
            w.close()
    finally:
        api.close()
        s.stop()


def test_bench_smoke() -> None:
    from bench.watch_restart import main

    out = main(["--watchers", "20", "--objects", "3", "--timeout", "60"])
    assert out["baseline_relist"]["list_calls_by_clients"] == 20
    assert out["resume"]["all_live"] and out["resume"]["live"] == 20
    assert out["resume"]["list_calls_by_clients"] == 0 and out["resume"]["gone_410"] == 0
