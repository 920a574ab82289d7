"""A LoadBalancer Service end to end: from creating it to its loopback address answering
through minik8s-proxy, against the same Service's ClusterIP answering (same run).

    .venv/bin/python bench/loadbalancer.py [--services 20] [--min-sync-period 1s]

Needs root, ``ip netns`` and iptables. Nothing of the host's tables is touched: the proxy
programs a private network namespace (``--netns``) that plays the node, a second one plays
the pod (a Python HTTP server behind a veth pair), and every probe runs in the node's
namespace (a prober process there). etcd, the API server and the controller-manager
(``--controllers=servicelb``) run on this host's loopback; no packet leaves the two
namespaces.

For each of ``--services`` Services, one after another: create it (type LoadBalancer, an
EndpointSlice with the pod), then probe its ClusterIP and, once ``status.loadBalancer``
names it, its load-balancer address, until each answers an HTTP GET. Prints one JSON
document: p50/p99 of both from the create, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.models import Namespace, ObjectMeta, Service
from api.models.discovery import EndpointSlice
from bench.stats import latency_summary, pct
from client.rest import AsyncClient
from testing.support import ApiServer, Etcd, Process, free_port, http_ok, service, wait_for

NS = "bench-lb"
POD_IP = "10.250.77.2"
NODE_IP = "10.250.77.1"

PROBER = """
import socket, sys
for line in sys.stdin:
    ip, port = line.split()
    try:
        with socket.create_connection((ip, int(port)), timeout=0.3) as s:
            s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
            ok = s.recv(12).startswith(b"HTTP/1.0 200")
    except OSError:
        ok = False
    print("ok" if ok else "no", flush=True)
"""


def now() -> float:
    return time.perf_counter()


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


class Prober:
    def __init__(self, netns: str) -> None:
        self.proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c",
                                      PROBER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)

    def ok(self, ip: str, port: int) -> bool:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{ip} {port}\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip() == "ok"

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def make_namespaces(tag: str) -> tuple[str, str, subprocess.Popen[bytes]]:
    node, pod = f"mk8s-lbb-node-{tag}", f"mk8s-lbb-pod-{tag}"
    sh("ip", "netns", "add", node)
    sh("ip", "netns", "add", pod)
    sh("ip", "link", "add", f"lbn{tag}", "type", "veth", "peer", "name", f"lbp{tag}")
    sh("ip", "link", "set", f"lbn{tag}", "netns", node)
    sh("ip", "link", "set", f"lbp{tag}", "netns", pod)
    for ns, dev, ip in ((node, f"lbn{tag}", NODE_IP), (pod, f"lbp{tag}", POD_IP)):
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
    # the node routes the service range (kube-proxy's hosts have a default route; here
    # the range alone, to the pod's link: what no rule DNATs is REJECTed by the guards)
    sh("ip", "-n", node, "route", "add", "10.96.0.0/12", "dev", f"lbn{tag}")
    server = subprocess.Popen(["ip", "netns", "exec", pod, sys.executable, "-m",
                               "http.server", "8080", "--bind", POD_IP],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return node, pod, server


async def run(args: argparse.Namespace, node: str) -> dict[str, Any]:
    etcd = Etcd().start()
    api = ApiServer(etcd.url).start()
    procs: list[Process] = []
    client = AsyncClient(api.url)
    prober = Prober(node)
    try:
        health = free_port()
        procs.append(service("controller-manager", "controllers", [
            "--server", api.url, "--controllers", "servicelb"]))
        procs.append(service("proxy", "proxy", [
            "--server", api.url, "--netns", node, "--node-name", "bench-node",
            "--min-sync-period", args.min_sync_period,
            "--healthz-bind-address", f"127.0.0.1:{health}"]))
        wait_for(lambda: http_ok(f"http://127.0.0.1:{health}/healthz"), timeout=60,
                 message="the proxy's /healthz")
        wait_for(lambda: prober.ok(POD_IP, 8080), timeout=30, message="the pod's server")
        await client.create(Namespace(metadata=ObjectMeta(name=NS)))
        cluster: list[float] = []
        lb: list[float] = []
        for i in range(args.services + 1):  # the first warms up
            name = f"lb-{i}"
            t0 = now()
            svc = await client.create(Service.model_validate({
                "metadata": {"name": name, "namespace": NS},
                "spec": {"type": "LoadBalancer",
                         "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}), NS)
            await client.create(EndpointSlice.model_validate({
                "metadata": {"name": f"{name}-1", "namespace": NS,
                             "labels": {"kubernetes.io/service-name": name}},
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                "endpoints": [{"addresses": [POD_IP], "conditions": {"ready": True},
                               "nodeName": "bench-node"}]}), NS)
            cip = svc.spec.cluster_ip or ""
            lb_ip = ""
            t_cluster = t_lb = None
            deadline = t0 + 30
            while (t_cluster is None or t_lb is None) and now() < deadline:
                if t_cluster is None and prober.ok(cip, 80):
                    t_cluster = now() - t0
                if not lb_ip:
                    cur = await client.get(Service, name, NS)
                    ing = cur.status.load_balancer.ingress if cur.status and \
                        cur.status.load_balancer else None
                    lb_ip = (ing[0].ip or "") if ing else ""
                if lb_ip and t_lb is None and prober.ok(lb_ip, 80):
                    t_lb = now() - t0
                await asyncio.sleep(0.005)
            if i and t_cluster is not None and t_lb is not None:
                cluster.append(t_cluster)
                lb.append(t_lb)
        return {"services": args.services, "min_sync_period": args.min_sync_period,
                "baseline_cluster_ip": latency_summary(cluster),
                "load_balancer_ip": latency_summary(lb),
                "ratio_p50": round(pct(lb, 50) / pct(cluster, 50), 2) if lb else None}
    finally:
        if os.environ.get("BENCH_DEBUG"):
            for p in procs:
                print(p.log_tail(30), file=sys.stderr)
        prober.close()
        await client.close()
        for p in reversed(procs):
            p.stop()
        api.stop()
        etcd.stop()


def teardown(node: str, pod: str, server: subprocess.Popen[bytes]) -> None:
    subprocess.run([sys.executable, "-m", "proxy", "--netns", node, "--cleanup"],
                   capture_output=True, check=False)
    server.kill()
    server.wait()
    for ns in (node, pod):
        subprocess.run(["ip", "netns", "del", ns], check=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--services", type=int, default=20)
    p.add_argument("--min-sync-period", default="1s")
    args = p.parse_args()
    node, pod, server = make_namespaces(str(os.getpid() % 100000))
    try:
        doc = asyncio.run(run(args, node))
    finally:
        teardown(node, pod, server)
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
