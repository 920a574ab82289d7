"""minik8s-proxy benchmark: sync times and the data path's latency, with same-run baselines.

    .venv/bin/python bench/proxy.py [--services 1000] [--endpoints 10] [--changes 20]
                                    [--modes iptables,nftables] [--requests 400] [--no-latency]

1. Sync, per proxy mode side by side, in a private network namespace (``ip netns add``; the
   host's tables are not touched): the proxier's full sync of N Services x M endpoints (the
   first, into empty tables, and a later one over them), and a one-endpoint change (a
   partial sync), each against the time the same text alone takes to apply in a second
   namespace (the floor: ``iptables-restore --noflush`` in iptables mode, ``nft -f`` in
   nftables mode). Goals: full sync <= 1 s, one-endpoint change <= 50 ms.
2. Latency, on the host's tables (as the proxy runs; skipped if another minik8s-proxy owns
   them): an nginx container on minik8s-pods behind a ClusterIP; sequential requests, each on
   a new connection, alternating between the pod IP and the ClusterIP. Goal: ClusterIP p50
   <= 1.1x the pod IP's. The service-range guards are installed and checked first; every rule
   and the container are removed at the end.

Needs root, iptables and (for 2) Docker. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.models import Service
from api.models.discovery import EndpointSlice
from bench.stats import pct
from proxy import iptables, nftables, rules
from proxy.proxier import Proxier

CIDR = "10.96.0.0/12"


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def service(i: int, ip: str) -> Service:
    return Service.model_validate({
        "metadata": {"name": f"svc-{i:05d}", "namespace": "bench"},
        "spec": {"clusterIP": ip, "ports": [{"name": "http", "port": 80,
                                             "targetPort": 8080}]}})


def endpoint_slice(i: int, ips: list[str], port: int = 8080,
                   svc_name: str | None = None) -> EndpointSlice:
    name = svc_name or f"svc-{i:05d}"
    return EndpointSlice.model_validate({
        "metadata": {"name": f"{name}-x", "namespace": "bench",
                     "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]})


def svc_ip(i: int) -> str:
    return f"10.100.{i // 250}.{i % 250 + 1}"


def ep_ips(i: int, m: int) -> list[str]:
    return [f"10.{244 + j % 10}.{i // 250}.{i % 250 + 1}" for j in range(m)]


async def burst(px: Proxier, min_sync: float, n: int, changes: int = 10,
                gap: float = 0.05) -> dict[str, Any]:
    """The sync loop under a burst of endpoint changes: how many syncs it ran and how long
    after the last change its rules were in the kernel (--min-sync-period at work)."""
    px.min_sync_period = min_sync
    stop = asyncio.Event()
    task = asyncio.create_task(px.run(stop))
    try:
        deadline = time.monotonic() + 120
        while px.applied_generation < px.generation and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        syncs0 = px.stats.syncs
        t_last = 0.0
        for k in range(changes):
            i = (k * 53) % n
            ips = ep_ips(i, 10)
            ips[0] = f"10.253.{k}.{int(min_sync * 10)}"
            px.on_slice(endpoint_slice(i, ips))
            t_last = time.perf_counter()
            await asyncio.sleep(gap)
        want = px.generation
        while px.applied_generation < want and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        return {"syncs": px.stats.syncs - syncs0,
                "last_change_to_applied_ms": round((time.perf_counter() - t_last) * 1000, 1)}
    finally:
        stop.set()
        await task


async def time_restore(ipt: iptables.Iptables, text: str, mode: str = "iptables") -> float:
    """The floor: the same text applied alone (``iptables-restore --noflush`` or ``nft -f``)."""
    t0 = time.perf_counter()
    if mode == "nftables":
        await nftables.apply(ipt, text)
    else:
        await ipt.restore(text)
    return time.perf_counter() - t0


async def bench_sync(n: int, m: int, changes: int, mode: str = "iptables") -> dict[str, Any]:
    ns = f"m8s-bench-{os.getpid()}"
    base_ns = f"m8s-base-{os.getpid()}"
    sh("ip", "netns", "add", ns)
    sh("ip", "netns", "add", base_ns)
    try:
        ipt = iptables.Iptables(netns=ns)
        base = iptables.Iptables(netns=base_ns)
        px = Proxier(ipt, rules.ProxyConfig(cluster_cidr="10.244.0.0/16"), CIDR,
                     min_sync_period=0, mode=mode)
        await iptables.ensure_guards(ipt, CIDR)
        for i in range(n):
            px.on_service(service(i, svc_ip(i)))
            px.on_slice(endpoint_slice(i, ep_ips(i, m)))
        t0 = time.perf_counter()
        first = await px.sync(full=True)
        first_s = time.perf_counter() - t0
        first_restore = px.stats.last_restore_duration
        # the same text alone, into empty tables: the floor under a first full sync
        if mode == "iptables":
            await iptables.ensure_jumps(base)
        base_first = await time_restore(base, first.text, mode)
        # a full sync over full tables (every --sync-period), and its floor
        fulls, base_fulls = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            again = await px.sync(full=True)
            fulls.append(time.perf_counter() - t0)
            base_fulls.append(await time_restore(base, again.text, mode))
        # one endpoint changes: a partial sync
        partial, partial_restore, base_partial, texts = [], [], [], []
        for k in range(changes):
            i = (k * 37) % n
            ips = ep_ips(i, m)
            ips[-1] = f"10.254.{k // 250}.{k % 250 + 1}"
            px.on_slice(endpoint_slice(i, ips))
            t0 = time.perf_counter()
            rs = await px.sync()
            partial.append(time.perf_counter() - t0)
            partial_restore.append(px.stats.last_restore_duration)
            texts.append(rs.text)
        # base has the full rules: replay the partial texts there alone
        for text in texts:
            base_partial.append(await time_restore(base, text, mode))
        rate = {str(m): await burst(px, m, n) for m in (1.0, 0.1)}
        rules_n = first.rules
        return {
            "mode": mode, "floor": "nft -f" if mode == "nftables" else "iptables-restore",
            "services": n, "endpoints_per_service": m, "rules": rules_n,
            "restore_input_bytes": len(first.text),
            "full_sync_first_s": round(first_s, 4),
            "full_sync_first_restore_s": round(first_restore, 4),
            "baseline_restore_first_s": round(base_first, 4),
            "full_sync_again_s": round(statistics.median(fulls), 4),
            "baseline_restore_again_s": round(statistics.median(base_fulls), 4),
            "full_sync_goal_s": 1.0,
            "one_endpoint_change_p50_ms": round(pct(partial, 50) * 1000, 2),
            "one_endpoint_change_p90_ms": round(pct(partial, 90) * 1000, 2),
            "one_endpoint_change_restore_p50_ms": round(pct(partial_restore, 50) * 1000, 2),
            "baseline_restore_partial_p50_ms": round(pct(base_partial, 50) * 1000, 2),
            "one_endpoint_change_lines": len(texts[-1].splitlines()) if texts else 0,
            "one_endpoint_change_goal_ms": 50,
            "python_build_share_of_partial": round(
                1 - pct(partial_restore, 50) / pct(partial, 50), 3) if partial else None,
            "burst_of_10_changes_50ms_apart_by_min_sync_period": rate,
        }
    finally:
        sh("ip", "netns", "del", ns)
        sh("ip", "netns", "del", base_ns)


def remove_container(name: str) -> None:
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def one_request(ip: str, port: int) -> float:
    t0 = time.perf_counter()
    with socket.create_connection((ip, port), timeout=3) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n")
        while s.recv(65536):
            pass
    return time.perf_counter() - t0


def other_proxy() -> bool:
    out = sh("ps", "-eo", "pid,args")
    return any("minik8s-proxy" in line and "--cleanup" not in line
               for line in out.splitlines())


async def bench_latency(requests: int) -> dict[str, Any]:
    if other_proxy():
        return {"skipped": "another minik8s-proxy owns the host's tables"}
    cname = f"m8s-bench-nginx-{os.getpid()}"
    sh("docker", "run", "-d", "--name", cname, "--network", "minik8s-pods", "nginx:latest")
    ipt = iptables.Iptables()
    try:
        pod_ip = sh("docker", "inspect", "-f",
                    "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", cname).strip()
        cluster_ip = "10.100.250.250"
        px = Proxier(ipt, rules.ProxyConfig(), CIDR, min_sync_period=0)
        px.on_service(Service.model_validate({
            "metadata": {"name": "bench-nginx", "namespace": "bench"},
            "spec": {"clusterIP": cluster_ip, "ports": [{"name": "http", "port": 80}]}}))
        px.on_slice(endpoint_slice(0, [pod_ip], port=80, svc_name="bench-nginx"))
        await px.sync()
        saved = sh("iptables", "-S")
        assert saved.count(rules.GUARD_COMMENT) == 2, "guards missing"
        deadline = time.monotonic() + 30
        while True:
            try:
                one_request(pod_ip, 80)
                one_request(cluster_ip, 80)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        for _ in range(50):  # warm up both paths
            one_request(pod_ip, 80)
            one_request(cluster_ip, 80)
        direct, via = [], []
        for _ in range(requests):
            direct.append(one_request(pod_ip, 80))
            via.append(one_request(cluster_ip, 80))
        p50d, p50v = pct(direct, 50), pct(via, 50)
        return {
            "requests_each": requests,
            "pod_ip_p50_ms": round(p50d * 1000, 3),
            "pod_ip_p99_ms": round(pct(direct, 99) * 1000, 3),
            "cluster_ip_p50_ms": round(p50v * 1000, 3),
            "cluster_ip_p99_ms": round(pct(via, 99) * 1000, 3),
            "p50_ratio": round(p50v / p50d, 3), "p50_ratio_goal": 1.1,
        }
    finally:
        if not other_proxy():  # else a proxy started meanwhile owns the tables now
            await iptables.cleanup(ipt, CIDR)
        remove_container(cname)


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--endpoints", type=int, default=10)
    p.add_argument("--changes", type=int, default=20)
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--modes", default="iptables,nftables",
                   help="the proxy modes whose syncs are measured, side by side")
    p.add_argument("--no-latency", action="store_true")
    a = p.parse_args()
    out: dict[str, Any] = {"benchmark": "proxy"}
    out["sync"] = {mode: await bench_sync(a.services, a.endpoints, a.changes, mode)
                   for mode in a.modes.split(",")}
    if not a.no_latency:
        out["latency"] = await bench_latency(a.requests)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
