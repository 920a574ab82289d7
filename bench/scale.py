"""Scale run: thousands of hollow nodes and tens of thousands of pods made through Deployments.

    python bench/scale.py                                   # 5,000 nodes, 50,000 pods
    python bench/scale.py --nodes 500 --pods 5000 --small 0  # one smaller size only

Each size gets a fresh cluster of its own: etcd, one API server, the scheduler, the
controller-manager and ``--kubelet-procs`` hollow kubelet processes (``--fake-nodes``: the
fake runtime "runs" every container at once, so the pods' path through the control plane is
all that is measured). The run, per size:

1. a **baseline** measured on the same cluster just before: the API server's own create
   rate for the same number of bare pods posted by this process (``--baseline-pods``, pods
   nobody schedules), the floor every pod created through a Deployment also pays;
2. ``pods / replicas`` Deployments posted at once; one raw watch here timestamps every pod's
   ADDED, the first event with ``spec.nodeName`` and the first with phase Running, so that
   the figures are the same for every component: controller lag (Deployment posted -> its
   last pod created), scheduling latency (created -> bound) and throughput, end-to-end
   latency (Deployment posted -> pod Running);
3. **watch fan-out**: ``--watchers`` watches of one namespace, then ``--fanout-pods`` pods
   created there; delay from each create's answer to each watcher's event;
4. API latency p50/p99 per verb, from the API server's own histogram
   (``apiserver_request_duration_seconds``, interpolated within buckets as Prometheus'
   histogram_quantile does) over step 2; CPU seconds and peak/end RSS of every component;
   etcd's database size.

With ``--small F`` (default 0.1) a size of F x nodes and F x pods runs first, and ``growth``
gives each figure's ratio between the two sizes: how it grows with nodes and pods. One JSON
document on stdout; the same figures as a table on stderr. Bounded: every wait has a timeout
(``--timeout``), every load loop a count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import signal
import sys
import time
import urllib.request
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.models import Namespace, Node, ObjectMeta, Pod
from bench.apiserver import lean_creates, watch_fanout
from bench.stats import gather_limited, pct
from client.rest import AsyncClient
from testing.objects import deployment
from testing.support import ApiServer, Etcd, Process, service

NS = "scale"


def log(msg: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the API server's latency histogram ------------------------------------------------------

_BUCKET = re.compile(r'^apiserver_request_duration_seconds_bucket\{([^}]*)\}\s+([0-9.e+]+)$')


def scrape_latency(url: str) -> dict[str, dict[float, float]]:
    """Cumulative bucket counts per verb (summed over resources): {verb: {le: count}}."""
    with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
        text = r.read().decode()
    out: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for line in text.splitlines():
        m = _BUCKET.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        le = math.inf if labels["le"] == "+Inf" else float(labels["le"])
        out[labels.get("verb", "?")][le] += float(m.group(2))
    return out


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' histogram_quantile over cumulative ``buckets`` ({upper bound: count}):
    linear interpolation inside the bucket the rank falls in; the highest finite bound when
    it falls in +Inf."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0
    if total <= 0:
        return None
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for b in bounds:
        c = buckets[b]
        if c >= rank:
            if math.isinf(b):
                return prev_bound
            if c == prev_count:
                return b
            return prev_bound + (b - prev_bound) * (rank - prev_count) / (c - prev_count)
        prev_bound, prev_count = b, c
    return prev_bound


def latency_by_verb(before: dict[str, dict[float, float]],
                    after: dict[str, dict[float, float]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for verb, b1 in sorted(after.items()):
        b0 = before.get(verb, {})
        delta = {le: c - b0.get(le, 0.0) for le, c in b1.items()}
        n = delta.get(math.inf, 0.0)
        if n <= 0:
            continue
        p50, p99 = histogram_quantile(0.5, delta), histogram_quantile(0.99, delta)
        out[verb] = {"requests": int(n),
                     "p50_ms": None if p50 is None else round(p50 * 1000, 1),
                     "p99_ms": None if p99 is None else round(p99 * 1000, 1)}
    return out


# -- processes --------------------------------------------------------------------------------

class Usage:
    """CPU seconds since ``start`` and peak RSS (sampled) of each named process tree."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {k: psutil.Process(p) for k, p in pids.items()}
        self.cpu0: dict[str, float] = {}
        self.peak: dict[str, int] = dict.fromkeys(self.procs, 0)
        self._task: asyncio.Task[None] | None = None

    def _cpu(self, p: psutil.Process) -> float:
        t = p.cpu_times()
        return float(t.user + t.system)

    def start(self) -> None:
        self.cpu0 = {k: self._cpu(p) for k, p in self.procs.items()}
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            self._peak_once()
            await asyncio.sleep(1.0)

    def _peak_once(self) -> None:
        for k, p in self.procs.items():
            try:
                self.peak[k] = max(self.peak[k], p.memory_info().rss)
            except psutil.Error:
                pass

    def stop(self) -> dict[str, dict[str, float]]:
        if self._task is not None:
            self._task.cancel()
        self._peak_once()
        out = {}
        for k, p in self.procs.items():
            try:
                out[k] = {"cpu_seconds": round(self._cpu(p) - self.cpu0[k], 1),
                          "rss_mb_end": round(p.memory_info().rss / 2**20, 1),
                          "rss_mb_peak": round(self.peak[k] / 2**20, 1)}
            except psutil.Error as e:
                out[k] = {"error": str(e)}
        return out


def etcd_size(etcd_url: str) -> dict[str, float]:
    with urllib.request.urlopen(etcd_url + "/metrics", timeout=30) as r:
        text = r.read().decode()
    out = {}
    for name, key in (("etcd_mvcc_db_total_size_in_bytes", "db_mb"),
                      ("etcd_mvcc_db_total_size_in_use_in_bytes", "db_in_use_mb"),
                      ("etcd_debugging_mvcc_keys_total", "keys")):
        m = re.search(rf"^{name}\s+([0-9.e+]+)$", text, re.M)
        if m:
            v = float(m.group(1))
            out[key] = int(v) if key == "keys" else round(v / 2**20, 1)
    return out


# -- the pod timeline -------------------------------------------------------------------------

class PodTimeline:
    """One raw watch of the namespace's pods: when each pod was first seen (ADDED), bound
    (spec.nodeName) and Running, by wall clock of this process. orjson on each line: the
    fields are too deep for byte searching to be safe."""

    def __init__(self) -> None:
        self.added: dict[str, float] = {}
        self.bound: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.app: dict[str, str] = {}
        self.node_of: dict[str, str] = {}
        self.rebinds = 0
        self.progress = asyncio.Event()

    async def run(self, session: aiohttp.ClientSession, url: str, rv: str) -> None:
        q = (f"{url}/api/v1/namespaces/{NS}/pods?watch=1&resourceVersion={rv}"
             "&allowWatchBookmarks=false")
        async with session.get(q) as r:
            buf = b""
            async for chunk in r.content.iter_any():
                now = time.perf_counter()
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line:
                        self._event(orjson.loads(line), now)
                self.progress.set()

    def _event(self, ev: dict[str, Any], now: float) -> None:
        if ev.get("type") not in ("ADDED", "MODIFIED"):
            return
        obj = ev["object"]
        meta = obj["metadata"]
        name = meta["name"]
        if name not in self.added:
            self.added[name] = now
            self.app[name] = (meta.get("labels") or {}).get("app", "")
        node = (obj.get("spec") or {}).get("nodeName")
        if node:
            if name not in self.bound:
                self.bound[name] = now
                self.node_of[name] = node
            elif self.node_of[name] != node:
                self.rebinds += 1
        if name not in self.running and (obj.get("status") or {}).get("phase") == "Running":
            self.running[name] = now


# -- one size ---------------------------------------------------------------------------------

async def wait_nodes(client: AsyncClient, n: int, prefix: str, timeout: float) -> float:
    t0 = time.monotonic()
    while True:
        nodes = (await client.list(Node)).items
        ready = sum(1 for x in nodes if (x.metadata.name or "").startswith(prefix) and any(
            c.type == "Ready" and c.status == "True"
            for c in ((x.status.conditions if x.status else None) or [])))
        if ready >= n:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"only {ready} of {n} hollow nodes Ready after {timeout:.0f} s")
        await asyncio.sleep(1.0)


def ms(x: float) -> float:
    return round(x * 1000, 1) if not math.isnan(x) else x


async def one_size(nodes: int, pods: int, args: argparse.Namespace) -> dict[str, Any]:
    replicas = max(1, min(args.replicas, pods))
    n_deploy = max(1, pods // replicas)
    pods = n_deploy * replicas
    log(f"size: {nodes} nodes, {n_deploy} Deployments x {replicas} = {pods} pods")
    etcd = Etcd().start()
    api = ApiServer(etcd.url).start()
    procs: list[Process] = []
    try:
        async with AsyncClient(api.url, timeout=120) as client:
            base = f"sc-{uuid.uuid4().hex[:4]}"
            per = math.ceil(nodes / args.kubelet_procs)
            made = 0
            for k in range(args.kubelet_procs):
                count = min(per, nodes - made)
                if count <= 0:
                    break
                made += count
                procs.append(service(f"hollow-{k}", "kubelet", [
                    "--server", api.url, "--node-name", f"{base}{k}", "--fake-nodes",
                    str(count), "--no-http", "--heartbeat-seconds", str(args.heartbeat),
                    "--max-pods", "110"]))
            reg = await wait_nodes(client, nodes, base, args.timeout)
            log(f"{nodes} hollow nodes Ready in {reg:.1f} s")
            sched = service("scheduler", "scheduler", ["--server", api.url])
            cm = service("controller-manager", "controllers", ["--server", api.url])
            procs += [sched, cm]
            await client.create(Namespace(metadata=ObjectMeta(name=NS)))
            await client.create(Namespace(metadata=ObjectMeta(name="scale-baseline")))
            await client.create(Namespace(metadata=ObjectMeta(name="scale-fanout")))

            # the components are up when a one-pod Deployment runs through all of them
            await client.create(deployment("warmup", 1), "scale-baseline")
            t0 = time.monotonic()
            while not any(p.status and p.status.phase == "Running" for p in
                          (await client.list(Pod, "scale-baseline")).items):
                if time.monotonic() - t0 > args.timeout:
                    raise RuntimeError("the warm-up pod never ran:\n" + sched.log_tail()
                                       + cm.log_tail())
                await asyncio.sleep(0.5)

            # 1. baseline: bare creates of pods nobody schedules, on this same cluster
            baseline = await lean_creates(api.url, "scale-baseline", args.baseline_pods, 32,
                                          "b")
            log(f"baseline: {baseline['per_second']} bare pod creates/s")

            # 2. Deployments, timed by one raw watch
            pids = {"etcd": etcd.proc.pid if etcd.proc else 0,
                    "apiserver": api.proc.pid if api.proc else 0,
                    "scheduler": sched.proc.pid if sched.proc else 0,
                    "controller_manager": cm.proc.pid if cm.proc else 0}
            for k, p in enumerate(procs[:-2]):
                pids[f"hollow_kubelet_{k}"] = p.proc.pid if p.proc else 0
            usage = Usage(pids)
            lat0 = scrape_latency(api.url)
            timeline = PodTimeline()
            conn = aiohttp.TCPConnector(limit=0)
            tmo = aiohttp.ClientTimeout(total=None, sock_read=None)
            async with aiohttp.ClientSession(connector=conn, timeout=tmo) as session:
                async with session.get(f"{api.url}/api/v1/namespaces/{NS}/pods?limit=1") as r:
                    rv = (await r.json())["metadata"]["resourceVersion"]
                watch = asyncio.create_task(timeline.run(session, api.url, rv))
                posted: dict[str, float] = {}
                usage.start()
                t_start = time.perf_counter()

                async def post(i: int) -> None:
                    name = f"d{i:05d}"
                    await client.create(deployment(name, replicas, image="nginx:1"), NS)
                    posted[name] = time.perf_counter()

                await gather_limited(32, (post(i) for i in range(n_deploy)))
                t_posted = time.perf_counter() - t_start
                log(f"{n_deploy} Deployments posted in {t_posted:.1f} s")
                deadline = time.perf_counter() + args.timeout
                last_log = 0.0
                while len(timeline.running) < pods:
                    if watch.done():
                        watch.result()
                        raise RuntimeError("the pod watch ended")
                    if time.perf_counter() > deadline:
                        break
                    timeline.progress.clear()
                    try:
                        await asyncio.wait_for(timeline.progress.wait(), 5)
                    except TimeoutError:
                        pass
                    if time.perf_counter() - last_log > 15:
                        last_log = time.perf_counter()
                        log(f"pods: {len(timeline.added)} created, {len(timeline.bound)} "
                            f"bound, {len(timeline.running)} running")
                t_all = time.perf_counter() - t_start
                comp = usage.stop()
                lat1 = scrape_latency(api.url)
                watch.cancel()
            log(f"{len(timeline.running)} of {pods} pods Running after {t_all:.1f} s")

            # per Deployment: posted -> last pod created (controller lag)
            last_added: dict[str, float] = {}
            for name, t in timeline.added.items():
                app = timeline.app.get(name, "")
                last_added[app] = max(last_added.get(app, 0.0), t)
            ctl_lag = [last_added[d] - t for d, t in posted.items() if d in last_added]
            sched_lat = [timeline.bound[p] - timeline.added[p] for p in timeline.bound
                         if p in timeline.added]
            e2e = [timeline.running[p] - posted[timeline.app[p]] for p in timeline.running
                   if timeline.app.get(p) in posted]
            binds = sorted(timeline.bound.values())
            bind_span = (binds[-1] - binds[0]) if len(binds) > 1 else float("nan")
            nodes_used = len(set(timeline.node_of.values()))

            # 3. watch fan-out on the loaded cluster
            fan = await watch_fanout(api.url, "scale-fanout", args.watchers, args.fanout_pods,
                                     pids["apiserver"])
            return {
                "nodes": nodes, "deployments": n_deploy, "replicas": replicas, "pods": pods,
                "hollow_kubelet_processes": len(procs) - 2,
                "node_heartbeat_seconds": args.heartbeat,
                "nodes_ready_s": round(reg, 1),
                "baseline_bare_pod_creates": baseline,
                "deployments_posted_s": round(t_posted, 2),
                "pods_created": len(timeline.added), "pods_bound": len(timeline.bound),
                "pods_running": len(timeline.running), "pods_bound_twice": timeline.rebinds,
                "nodes_used": nodes_used,
                "all_pods_running_s": round(t_all, 1),
                "pods_running_per_s": round(len(timeline.running) / t_all, 1),
                "pods_running_per_s_vs_bare_creates": round(
                    len(timeline.running) / t_all / baseline["per_second"], 3),
                "controller_lag_deployment_to_last_pod_created": {
                    "p50_s": round(pct(ctl_lag, 50), 2), "p99_s": round(pct(ctl_lag, 99), 2)},
                "scheduler": {
                    "binds_per_s": round(len(binds) / bind_span, 1) if binds else 0.0,
                    "latency_created_to_bound_p50_ms": ms(pct(sched_lat, 50)),
                    "latency_created_to_bound_p99_ms": ms(pct(sched_lat, 99))},
                "deployment_posted_to_pod_running": {
                    "p50_s": round(pct(e2e, 50), 2), "p99_s": round(pct(e2e, 99), 2)},
                "api_latency_by_verb": latency_by_verb(lat0, lat1),
                "watch_fanout": {k: fan[k] for k in (
                    "watchers", "pods", "watchers_with_every_event",
                    "delivery_latency_after_create_response_p50_ms",
                    "delivery_latency_after_create_response_p99_ms")},
                "components": comp,
                "etcd": etcd_size(etcd.url),
            }
    finally:
        for p in reversed(procs):
            p.stop()
        api.stop()
        etcd.stop()


GROWTH_KEYS = (
    ("all_pods_running_s",), ("pods_running_per_s",),
    ("controller_lag_deployment_to_last_pod_created", "p99_s"),
    ("scheduler", "binds_per_s"), ("scheduler", "latency_created_to_bound_p99_ms"),
    ("deployment_posted_to_pod_running", "p99_s"),
    ("watch_fanout", "delivery_latency_after_create_response_p99_ms"),
    ("etcd", "db_mb"),
)


def dig(d: dict[str, Any], path: tuple[str, ...]) -> Any:
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def growth(small: dict[str, Any], big: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"nodes_x": round(big["nodes"] / small["nodes"], 1),
                           "pods_x": round(big["pods"] / small["pods"], 1)}
    for path in GROWTH_KEYS:
        a, b = dig(small, path), dig(big, path)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a:
            out[".".join(path)] = round(b / a, 2)
    for comp in big["components"]:
        a = dig(small, ("components", comp, "rss_mb_peak"))
        b = dig(big, ("components", comp, "rss_mb_peak"))
        if a and b:
            out[f"components.{comp}.rss_mb_peak"] = round(b / a, 2)
    for verb in big["api_latency_by_verb"]:
        a = dig(small, ("api_latency_by_verb", verb, "p99_ms"))
        b = dig(big, ("api_latency_by_verb", verb, "p99_ms"))
        if a and b:
            out[f"api_latency_by_verb.{verb}.p99_ms"] = round(b / a, 2)
    return out


def table(doc: dict[str, Any]) -> str:
    runs: list[dict[str, Any]] = doc["runs"]
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, path: tuple[str, ...]) -> None:
        rows.append((label, [str(dig(r, path)) for r in runs]))

    row("nodes", ("nodes",))
    row("pods", ("pods",))
    row("bare pod creates/s (baseline)", ("baseline_bare_pod_creates", "per_second"))
    row("all pods Running, s", ("all_pods_running_s",))
    row("pods Running/s", ("pods_running_per_s",))
    row("  vs bare creates", ("pods_running_per_s_vs_bare_creates",))
    row("controller lag p99, s", ("controller_lag_deployment_to_last_pod_created", "p99_s"))
    row("scheduler binds/s", ("scheduler", "binds_per_s"))
    row("created->bound p99, ms", ("scheduler", "latency_created_to_bound_p99_ms"))
    row("posted->Running p99, s", ("deployment_posted_to_pod_running", "p99_s"))
    row("nodes used", ("nodes_used",))
    row("pods bound twice", ("pods_bound_twice",))
    verbs = sorted({v for r in runs for v in r["api_latency_by_verb"]})
    for v in verbs:
        rows.append((f"API {v} p50/p99 ms", [
            f"{dig(r, ('api_latency_by_verb', v, 'p50_ms'))}/"
            f"{dig(r, ('api_latency_by_verb', v, 'p99_ms'))}" for r in runs]))
    row("watch fan-out watchers", ("watch_fanout", "watchers"))
    row("fan-out p99, ms", ("watch_fanout", "delivery_latency_after_create_response_p99_ms"))
    comps = sorted({c for r in runs for c in r["components"]})
    for c in comps:
        rows.append((f"{c} CPU s / peak MB", [
            f"{dig(r, ('components', c, 'cpu_seconds'))}/"
            f"{dig(r, ('components', c, 'rss_mb_peak'))}" for r in runs]))
    row("etcd db MB", ("etcd", "db_mb"))
    w = max(len(label) for label, _ in rows)
    cw = max(12, *(len(c) for _, cells in rows for c in cells))
    return "\n".join(f"{label:<{w}}  " + "  ".join(f"{c:>{cw}}" for c in cells)
                     for label, cells in rows)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = []
    if args.small > 0:
        sizes.append((max(2, round(args.nodes * args.small)),
                      max(args.replicas, round(args.pods * args.small))))
    sizes.append((args.nodes, args.pods))
    runs = [await one_size(n, p, args) for n, p in sizes]
    doc: dict[str, Any] = {"runs": runs}
    if len(runs) == 2:
        doc["growth"] = growth(runs[0], runs[1])
    return doc


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--nodes", type=int, default=5000)
    p.add_argument("--pods", type=int, default=50000)
    p.add_argument("--replicas", type=int, default=10, help="pods per Deployment")
    p.add_argument("--small", type=float, default=0.1,
                   help="first run a size of this fraction of nodes and pods (0: none)")
    p.add_argument("--kubelet-procs", type=int, default=5,
                   help="hollow kubelet processes the nodes are spread over")
    p.add_argument("--heartbeat", type=float, default=10.0,
                   help="hollow nodes' Lease renewal period, seconds (Kubernetes: 10)")
    p.add_argument("--baseline-pods", type=int, default=2000)
    p.add_argument("--watchers", type=int, default=1000)
    p.add_argument("--fanout-pods", type=int, default=50)
    p.add_argument("--timeout", type=float, default=1800.0,
                   help="bound of every wait, seconds")
    args = p.parse_args()
    # A SIGTERM (timeout, kill) unwinds like ^C, so that every cluster process started is
    # stopped by the finally blocks instead of being left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    doc = asyncio.run(run(args))
    print(json.dumps(doc, indent=2))
    print(table(doc), file=sys.stderr)


if __name__ == "__main__":
    main()
