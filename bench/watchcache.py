"""The API server's watch cache at scale: memory per cached pod, and the history
shrinking back after a burst (JSON on stdout).

In-process part (``--pods``, default 100,000): one WatchCache for pods over an
in-memory storage, fed that many pods as etcd watch events (a running pod from a
Deployment as the API server stores it: ~3.9 KB of JSON with managedFields, status
and a projected token volume), with an injected clock. Each measure runs in a child
process of its own, so that one's heap does not blur the next's RSS:

- ``layout``: bytes per pod of what the cache keeps, built directly: the JSON alone,
  the former layout (the decoded dict plus its JSON: the same-run baseline) and the
  current one (JSON plus the selectable attributes), and the ratio.
- ``cache``: RSS before, after the pods were added (objects plus a history of 100,000
  fresh events), after the window passed (history back to 100 events: what is left is
  the objects, so bytes per cached pod), after all were deleted (the deletions are
  fresh history) and after that history expired too; events applied per second against
  the decode floor (orjson loads + dumps of each value); a LIST with a label selector
  and with a field selector over the cache.

Server part (``--server-pods N``, off by default): a real etcd and API server with
``--watch-cache-fresh-seconds`` short, N pods created then deleted through the API; the
server's RSS and its apiserver_watch_cache_* metrics at start, after the creates, after
the deletes and once the window has passed. With ``--baseline-tree DIR``, the same again
with the server of that checkout (e.g. ``git archive`` of an older commit).

    python bench/watchcache.py [--pods 100000] [--server-pods 0]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

NS = "bench"


def stored_pod(i: int) -> dict[str, Any]:
    """A running pod of a Deployment as the API server stores it (no resourceVersion)."""
    name = f"web-7d4b9c8f6d-{i:06d}"
    ip = f"10.244.{i // 250 % 250}.{i % 250}"
    t0, t1, t2 = "2026-12-07T20:00:00Z", "2026-12-07T20:00:01Z", "2026-12-07T20:00:02Z"
    owner_uid = "0a1b2c3d-0000-4000-8000-000000000001"
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": name, "generateName": "web-7d4b9c8f6d-", "namespace": NS,
            "uid": f"6f1c2a3e-1b2c-4d5e-8f90-{i:012d}", "creationTimestamp": t0,
            "labels": {"app": "web", "pod-template-hash": "7d4b9c8f6d"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                 "name": "web-7d4b9c8f6d", "uid": owner_uid,
                                 "controller": True, "blockOwnerDeletion": True}],
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update",
                 "apiVersion": "v1", "time": t0, "fieldsType": "FieldsV1", "fieldsV1": {
                     "f:metadata": {"f:generateName": {}, "f:labels": {
                         ".": {}, "f:app": {}, "f:pod-template-hash": {}},
                         "f:ownerReferences": {".": {}, f'k:{{"uid":"{owner_uid}"}}': {}}},
                     "f:spec": {"f:containers": {'k:{"name":"nginx"}': {
                         ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                         "f:ports": {".": {}, 'k:{"containerPort":80,"protocol":"TCP"}': {
                             ".": {}, "f:containerPort": {}, "f:protocol": {}}},
                         "f:resources": {"f:requests": {".": {}, "f:cpu": {},
                                                        "f:memory": {}}}}},
                         "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:schedulerName": {},
                         "f:terminationGracePeriodSeconds": {}}}},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
                 "time": t2, "fieldsType": "FieldsV1", "subresource": "status",
                 "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {},
                                           "f:hostIP": {}, "f:phase": {}, "f:podIP": {},
                                           "f:podIPs": {}, "f:startTime": {}}}}]},
        "spec": {
            "volumes": [{"name": "kube-api-access-abcde", "projected": {"sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt",
                               "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                    "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}],
                "defaultMode": 420}}],
            "containers": [{
                "name": "nginx", "image": "nginx:latest",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                "volumeMounts": [{"name": "kube-api-access-abcde", "readOnly": True,
                                  "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File", "imagePullPolicy": "Always"}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
            "serviceAccount": "default", "nodeName": f"node-{i % 1000}",
            "securityContext": {}, "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300}],
            "priority": 0, "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": t, "status": "True", "lastProbeTime": None,
                            "lastTransitionTime": t2}
                           for t in ("PodReadyToStartContainers", "Initialized", "Ready",
                                     "ContainersReady", "PodScheduled")],
            "hostIP": "172.18.0.3", "hostIPs": [{"ip": "172.18.0.3"}],
            "podIP": ip, "podIPs": [{"ip": ip}], "startTime": t1,
            "containerStatuses": [{
                "name": "nginx", "state": {"running": {"startedAt": t2}}, "lastState": {},
                "ready": True, "restartCount": 0, "image": "nginx:latest",
                "imageID": "docker-pullable://nginx@sha256:" + "0123456789abcdef" * 4,
                "containerID": f"docker://{i:064d}", "started": True}],
            "qosClass": "Burstable"}}


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settled_rss() -> int:
    from apiserver.watchcache import release_memory

    gc.collect()
    release_memory()
    return rss()


# ---- children ---------------------------------------------------------------------------


def child_layout(n: int) -> dict[str, Any]:
    """Bytes per pod of each layout: allocated (tracemalloc) and RSS growth."""
    import tracemalloc

    from apiserver.watchcache import CachedObject, decode_object

    values = [orjson.dumps(stored_pod(i)) for i in range(n)]
    out: dict[str, Any] = {"pods": n, "json_bytes_per_pod": round(sum(map(len, values)) / n)}

    def former() -> list[Any]:
        return [decode_object(v, 1000 + i) for i, v in enumerate(values)]

    def current() -> list[Any]:
        keep = []
        for i, v in enumerate(values):
            obj, raw = decode_object(v, 1000 + i)
            keep.append(CachedObject(f"/registry/pods/{NS}/{i}", obj, raw, 1000 + i))
        return keep

    for label, build in (("former_dict_plus_json", former), ("current_json_plus_attrs",
                                                              current)):
        r0 = settled_rss()
        keep = build()
        out[f"{label}_rss_bytes_per_pod"] = round((settled_rss() - r0) / n)
        del keep
        gc.collect()
        tracemalloc.start()
        keep = build()
        gc.collect()
        out[f"{label}_bytes_per_pod"] = round(tracemalloc.get_traced_memory()[0] / n)
        tracemalloc.stop()
        del keep
    out["ratio_current_to_former"] = round(out["current_json_plus_attrs_bytes_per_pod"]
                                           / out["former_dict_plus_json_bytes_per_pod"], 3)
    return out


class FeedStorage:
    """Just enough of the Storage interface for a cache that is fed by hand."""

    async def list_prefix(self, prefix: str, **_: Any) -> Any:
        from apiserver.storage import ListResult

        return ListResult([], 1, False)

    async def watch(self, prefix: str, start_revision: int,
                    progress_requests: Any = None) -> AsyncIterator[list[Any]]:
        await asyncio.Event().wait()
        yield []  # pragma: no cover


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _child_cache(n: int) -> dict[str, Any]:
    from api import resources
    from apiserver.selectors import make_filter
    from apiserver.storage import StorageEvent
    from apiserver.watchcache import WatchCache, decode_object

    clock = Clock()
    cache = WatchCache(resources.PODS, FeedStorage(), clock=clock,  # type: ignore[arg-type]
                       expire_interval=0)
    await cache._relist()
    out: dict[str, Any] = {"pods": n}
    mb = 1024 * 1024
    r0 = settled_rss()
    out["rss_mb_start"] = round(r0 / mb, 1)
    prefix = f"/registry/pods/{NS}/"
    rev = 1
    t_apply = t_floor = 0.0
    batch = 500
    for lo in range(0, n, batch):
        events = []
        for i in range(lo, min(n, lo + batch)):
            rev += 1
            events.append(StorageEvent("PUT", f"{prefix}{i:06d}",
                                       orjson.dumps(stored_pod(i)), None, rev))
        t = time.perf_counter()
        for se in events:
            decode_object(se.value, se.revision)  # type: ignore[arg-type]
        t_floor += time.perf_counter() - t
        t = time.perf_counter()
        cache._apply(events)
        t_apply += time.perf_counter() - t
    out["add_events_per_s"] = round(n / t_apply)
    out["baseline_decode_floor_events_per_s"] = round(n / t_floor)
    out["ratio_add_to_floor"] = round(t_floor / t_apply, 3)
    out["after_add"] = {"rss_mb": round(settled_rss() / mb, 1), "objects": len(cache.objects),
                        "history_events": len(cache.ring), "capacity": cache.capacity}
    # Reads from the cache: a label selector and a field selector over every pod.
    for label, (ls, fs) in {"label_selector": ("app=web", None),
                            "field_selector": (None, "spec.nodeName=node-7")}.items():
        pred = make_filter(resources.PODS, NS, ls, fs)
        t = time.perf_counter()
        items, _ = cache.list_objects(pred, prefix)
        out[f"list_{label}_s"] = round(time.perf_counter() - t, 3)
        out[f"list_{label}_items"] = len(items)
        del items
    clock.now += cache.fresh_seconds + 5
    cache.expire()
    r_objects = settled_rss()
    out["after_window"] = {"rss_mb": round(r_objects / mb, 1), "objects": len(cache.objects),
                           "history_events": len(cache.ring), "capacity": cache.capacity}
    out["bytes_per_cached_pod"] = round((r_objects - r0) / n)
    t = time.perf_counter()
    for lo in range(0, n, batch):
        events = []
        for i in range(lo, min(n, lo + batch)):
            rev += 1
            events.append(StorageEvent("DELETE", f"{prefix}{i:06d}", None, None, rev))
        cache._apply(events)
    out["delete_events_per_s"] = round(n / (time.perf_counter() - t))
    out["after_delete"] = {"rss_mb": round(settled_rss() / mb, 1),
                           "objects": len(cache.objects), "history_events": len(cache.ring),
                           "capacity": cache.capacity}
    clock.now += cache.fresh_seconds + 5
    cache.expire()
    out["after_window_again"] = {"rss_mb": round(settled_rss() / mb, 1),
                                 "objects": len(cache.objects),
                                 "history_events": len(cache.ring), "capacity": cache.capacity}
    return out


def run_child(kind: str, n: int) -> dict[str, Any]:
    p = subprocess.run([sys.executable, __file__, "--child", kind, "--pods", str(n)],
                       capture_output=True, text=True, timeout=1800, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"child {kind} failed: {p.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(p.stdout)
    return out


# ---- against a real API server ------------------------------------------------------------


class _Server:
    """``python -m apiserver`` from ``tree`` (its own code) on a free port."""

    def __init__(self, tree: Path, etcd_url: str, args: list[str]) -> None:
        from testing.support import free_port, harness_args, http_ok, wait_for

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "apiserver", "--etcd-servers", etcd_url,
             "--bind-address", "127.0.0.1", "--port", str(port), *harness_args(args)],
            cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, "PYTHONPATH": str(tree)})
        wait_for(lambda: http_ok(self.url + "/readyz") or self.proc.poll() is not None,
                 timeout=60, message=f"API server from {tree}")
        if self.proc.poll() is not None:
            raise RuntimeError(f"the API server from {tree} exited")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


ROOT = Path(__file__).resolve().parent.parent


def server_run(n: int, fresh: float, conc: int, tree: Path | None = None) -> dict[str, Any]:
    """The pods created and deleted through a server from this tree, or from ``tree``
    (a checkout without --watch-cache-fresh-seconds: the same-run baseline)."""
    import httpx
    import psutil

    from testing.support import Etcd

    etcd = Etcd().start()
    server = _Server(tree or ROOT, etcd.url,
                     [] if tree else ["--watch-cache-fresh-seconds", str(fresh)])
    proc = psutil.Process(server.proc.pid)
    out: dict[str, Any] = {"pods": n, "fresh_seconds": fresh, "tree": str(tree or ROOT)}

    def snapshot() -> dict[str, Any]:
        text = httpx.get(server.url + "/metrics", timeout=30).text

        def metric(name: str, labels: str) -> float:
            m = re.search(rf"^{name}\{{{labels}\}} (\S+)$", text, re.M)
            return float(m.group(1)) if m else float("nan")
        return {"rss_mb": round(proc.memory_info().rss / 2**20, 1),
                "pods": metric("apiserver_watch_cache_size", 'kind="objects",resource="pods"'),
                "pod_history_events": metric("apiserver_watch_cache_size",
                                             'kind="events",resource="pods"'),
                "pod_capacity": metric("apiserver_watch_cache_capacity", 'resource="pods"')}

    async def each(fn: Any) -> float:
        import aiohttp

        from bench.stats import gather_limited

        t = time.perf_counter()
        async with aiohttp.ClientSession(server.url) as s:
            await gather_limited(conc, (fn(s, i) for i in range(n)))
        return time.perf_counter() - t

    async def create(s: Any, i: int) -> None:
        full = stored_pod(i)
        pod = {"metadata": {"name": full["metadata"]["name"],
                            "labels": full["metadata"]["labels"]},
               "spec": {"containers": [{"name": "nginx", "image": "nginx:latest",
                                        "resources": {"requests": {"cpu": "100m"}}}],
                        "nodeName": full["spec"]["nodeName"]}}
        async with s.post(f"/api/v1/namespaces/{NS}/pods", json=pod) as r:
            assert r.status == 201, await r.text()

    async def delete(s: Any, i: int) -> None:
        async with s.delete(f"/api/v1/namespaces/{NS}/pods/web-7d4b9c8f6d-{i:06d}",
                            json={"gracePeriodSeconds": 0}) as r:
            assert r.status == 200, await r.text()

    try:
        httpx.post(server.url + "/api/v1/namespaces",
                   json={"metadata": {"name": NS}}, timeout=30).raise_for_status()
        out["start"] = snapshot()
        out["create_per_s"] = round(n / asyncio.run(each(create)), 1)
        out["after_create"] = snapshot()
        out["delete_per_s"] = round(n / asyncio.run(each(delete)), 1)
        out["after_delete"] = snapshot()
        # The window and one expiry period (a fifth of it) after the last delete, and
        # a little more: the current server has shrunk its history by then.
        time.sleep(fresh * 1.2 + 3)
        out["after_window"] = snapshot()
    finally:
        server.stop()
        etcd.stop()
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pods", type=int, default=100_000)
    ap.add_argument("--server-pods", type=int, default=0,
                    help="also create and delete this many pods through a real API server")
    ap.add_argument("--fresh-seconds", type=float, default=10.0,
                    help="the real server's --watch-cache-fresh-seconds")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--baseline-tree", type=Path, default=None,
                    help="with --server-pods: the same run against the server of this "
                         "checkout (e.g. the code before the history was sized)")
    ap.add_argument("--child", choices=["layout", "cache"], help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child == "layout":
        return child_layout(a.pods)
    if a.child == "cache":
        return asyncio.run(_child_cache(a.pods))
    out: dict[str, Any] = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
    out["layout"] = run_child("layout", min(a.pods, 50_000))
    out["cache"] = run_child("cache", a.pods)
    if a.server_pods:
        out["server"] = server_run(a.server_pods, a.fresh_seconds, a.concurrency)
        if a.baseline_tree is not None:
            out["server_baseline"] = server_run(a.server_pods, a.fresh_seconds,
                                                a.concurrency, a.baseline_tree.resolve())
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


if __name__ == "__main__":
    result = main()
    print(json.dumps(result, indent=None if "--child" in sys.argv else 2))
