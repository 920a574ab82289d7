"""minik8s-ingress benchmark: requests through the Ingress vs straight to the pods, and the
time from an endpoint change to nginx routing by it, with same-run baselines.

    .venv/bin/python bench/ingress.py [--seconds 5] [--rounds 3] [--clients 16]
                                      [--changes 20] [--server URL]

A private etcd + API server (or ``--server``'s, the objects in a namespace of their own),
three nginx:latest containers on the pods' Docker network
(minik8s-pods) behind a Service whose EndpointSlice the benchmark writes, an Ingress (a
rule without host, path ``/`` Prefix, an IngressClass name of its own) and
``python -m ingress`` with the host's nginx on
127.0.0.1 (free ports, 2 workers).

1. Throughput and latency: ``--clients`` keep-alive connections (bench/httpload.py) each
   sending GETs back to back for ``--seconds``; the same load straight to the pod IPs (the
   clients spread over the three) is the baseline. Sides alternate for ``--rounds``
   rounds; the report has each round, the medians and the ratios. Goals: throughput
   >= 0.7x the direct one, p50 overhead <= 1 ms.
2. Endpoint change -> routing: the slice is switched between two backends ``--changes``
   times; each time from the PUT's answer until a request through the Ingress (a new
   connection each, polled) is answered by the new backend. Baseline: ``nginx -t`` of the
   same configuration alone, the floor of any checked reload. Goal: p99 <= 1 s.

Traffic goes to 127.0.0.1 and the pod IPs only. Needs Docker and nginx. Prints one JSON
document.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.httpload import Connection
from bench.stats import pct
from testing.support import (
    ApiServer,
    free_port,
    json_request,
    on_own_etcd,
    service,
    unique,
    wait_for,
)

NETWORK = "minik8s-pods"
IMAGE = "nginx:latest"
CONF = ('server { listen 80 default_server; keepalive_requests 1000000; access_log off; '
        'location / { default_type text/plain; return 200 "%s\\n"; } }\n')


@contextlib.contextmanager
def backends(n: int) -> Iterator[list[tuple[str, str]]]:
    """``n`` nginx:latest containers answering their name; [(name, ip)]."""
    import docker

    dk = docker.from_env()
    if not dk.networks.list(names=[NETWORK]):
        dk.networks.create(NETWORK, driver="bridge", labels={"minik8s.network": "pods"})
    label = unique("bench-ingress")
    out = []
    try:
        for i in range(n):
            name = f"b{i}"
            cmd = (f"printf '{CONF % name}' > /etc/nginx/conf.d/default.conf; "
                   "rm -f /etc/nginx/sites-enabled/*; exec nginx -g 'daemon off;'")
            c = dk.containers.run(IMAGE, ["-c", cmd], entrypoint="sh", detach=True,
                                  network=NETWORK, labels={"minik8s.bench": label})
            c.reload()
            out.append((name, c.attrs["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]))
        for _, ip in out:
            wait_for(lambda ip=ip: _get(ip, 80)[0] == 200, timeout=30,  # type: ignore[misc]
                     message=f"backend {ip}")
        yield out
    finally:
        for c in dk.containers.list(all=True, filters={"label": f"minik8s.bench={label}"}):
            with contextlib.suppress(Exception):
                c.remove(force=True)
        dk.close()


def _get(host: str, port: int, timeout: float = 2) -> tuple[int, str]:
    try:
        c = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            c.request("GET", "/")
            r = c.getresponse()
            return r.status, r.read().decode().strip()
        finally:
            c.close()
    except OSError:
        return 0, ""


async def _load(targets: list[tuple[str, int]], clients: int, seconds: float
                ) -> dict[str, Any]:
    conns = [await Connection(*targets[i % len(targets)]).open() for i in range(clients)]
    lat: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def worker(c: Connection) -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            t = time.perf_counter()
            try:
                code, _ = await c.get("/")
            except ConnectionError:
                errors += 1
                await c.open()
                continue
            if code != 200:
                errors += 1
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    wall = time.perf_counter() - t0
    for c in conns:
        c.close()
    return {"requests": len(lat), "errors": errors, "req_per_s": round(len(lat) / wall),
            "p50_ms": round(pct(lat, 50) * 1000, 3), "p99_ms": round(pct(lat, 99) * 1000, 3)}


def _slice(ips: list[str], rv: str | None = None) -> dict[str, Any]:
    md: dict[str, Any] = {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}}
    if rv:
        md["resourceVersion"] = rv
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": md,
            "addressType": "IPv4", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}


def _ok(answer: tuple[int, Any]) -> Any:
    code, body = answer
    if code >= 300:
        raise RuntimeError(f"{code}: {body}")
    return body


@contextlib.contextmanager
def _api_server(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    with on_own_etcd(ApiServer) as api:
        yield api.url


def run(args: argparse.Namespace) -> dict[str, Any]:
    with _api_server(args.server) as url, backends(3) as pods, \
            tempfile.TemporaryDirectory(prefix="bench-ingress-") as run_dir:
        ns = unique("bench-ingress")
        _ok(json_request("POST", f"{url}/api/v1/namespaces", {"metadata": {"name": ns}}))
        _ok(json_request("POST", f"{url}/api/v1/namespaces/{ns}/services", {
            "metadata": {"name": "web"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 80}]}}))
        sl_url = f"{url}/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"
        _ok(json_request("POST", sl_url, _slice([ip for _, ip in pods])))
        _ok(json_request("POST", f"{url}/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses", {
            "metadata": {"name": "web"}, "spec": {"ingressClassName": ns, "rules": [
                {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                    "service": {"name": "web", "port": {"number": 80}}}}]}}]}}))
        port, health = free_port(), free_port()
        ctl = service("ingress", "ingress", [
            "--server", url, "--ingress-class", ns, "--run-dir", run_dir, "--bind-address", "127.0.0.1",
            "--http-port", str(port), "--https-port", str(free_port()),
            "--health-port", str(health), "--worker-processes", "2"])
        try:
            wait_for(lambda: _get("127.0.0.1", port)[0] == 200, timeout=60,
                     message="ingress routing")
            direct_targets = [(ip, 80) for _, ip in pods]
            ingress_targets = [("127.0.0.1", port)]
            rounds: list[dict[str, Any]] = []
            for _ in range(args.rounds):
                d = asyncio.run(_load(direct_targets, args.clients, args.seconds))
                i = asyncio.run(_load(ingress_targets, args.clients, args.seconds))
                rounds.append({"direct": d, "ingress": i})
            med = {side: {k: statistics.median(r[side][k] for r in rounds)
                          for k in ("req_per_s", "p50_ms", "p99_ms")}
                   for side in ("direct", "ingress")}
            ratio = med["ingress"]["req_per_s"] / med["direct"]["req_per_s"]
            overhead = med["ingress"]["p50_ms"] - med["direct"]["p50_ms"]

            # Endpoint change -> routing.
            change: list[float] = []
            names = {ip: name for name, ip in pods}
            for n in range(args.changes):
                target = pods[n % 2][1]
                cur = _ok(json_request("GET", f"{sl_url}/web-1"))
                _ok(json_request("PUT", f"{sl_url}/web-1",
                                 _slice([target], cur["metadata"]["resourceVersion"])))
                t = time.perf_counter()
                deadline = t + 10
                while time.perf_counter() < deadline:
                    # several answers in a row: old workers may still answer once or twice
                    if all(_get("127.0.0.1", port)[1] == names[target] for _ in range(3)):
                        break
                change.append(time.perf_counter() - t)
            conf = Path(run_dir) / "nginx.conf"
            floor = []
            for _ in range(min(args.changes, 10)):
                t = time.perf_counter()
                subprocess.run(["nginx", "-p", run_dir, "-c", str(conf), "-t", "-q"],
                               check=True, capture_output=True)
                floor.append(time.perf_counter() - t)
        finally:
            ctl.stop()
    return {
        "benchmark": "ingress",
        "clients": args.clients, "seconds_per_side": args.seconds, "rounds": rounds,
        "median": med,
        "throughput_ratio_ingress_vs_direct": round(ratio, 3),
        "p50_overhead_ms": round(overhead, 3),
        "endpoint_change_to_routing_s": {
            "n": len(change), "p50": round(pct(change, 50), 3),
            "p99": round(pct(change, 99), 3), "max": round(max(change), 3)},
        "baseline_nginx_t_s": {"n": len(floor), "p50": round(pct(floor, 50), 3),
                               "p99": round(pct(floor, 99), 3)},
        "goals_met": [g for g, ok in (
            ("throughput_ge_0.7x", ratio >= 0.7), ("p50_overhead_le_1ms", overhead <= 1.0),
            ("change_p99_le_1s", pct(change, 99) <= 1.0)) if ok],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--changes", type=int, default=20)
    p.add_argument("--server", help="an API server to use (default: a private etcd and API "
                   "server); the benchmark's objects go in a namespace of their own")
    print(json.dumps(run(p.parse_args()), indent=2))


if __name__ == "__main__":
    main()
