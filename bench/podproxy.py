"""pods/proxy benchmark: an HTTP server in a pod reached through the API server's
``/api/v1/namespaces/NS/pods/NAME:PORT/proxy/`` against the same server reached straight at
its pod IP, in the same run; prints one JSON document.

    .venv/bin/python bench/podproxy.py [--target auto|nginx|local] [--clients 16]
                                       [--seconds 3] [--rounds 2]

Both sides run ``--clients`` keep-alive connections (bench/httpload.py), each sending GET /
one after another for ``--seconds``; the sides alternate for ``--rounds`` rounds after a
short warm-up, so a drift in the machine's load shows in both. Figures: requests/s, p50 and
p99 latency per side, the throughput ratio (proxy / direct) and the p50 overhead. Goals:
ratio >= 0.5, p50 overhead <= 2 ms. A third side, a GET of the Pod object itself, is the
API server's floor for any request (what the proxy cannot beat).

The target: ``nginx`` is nginx:latest on Docker (the local image, never pulled) on the
minik8s-pods network (else Docker's default bridge); ``local`` is a lean HTTP server in a
child process on this machine's non-loopback address (the API server refuses to proxy to a
loopback pod IP) answering nginx's 615-byte welcome page; ``auto`` is nginx when Docker
answers, else local. The Pod object says the pod runs at that address (bound to a node no
kubelet serves; its status written as a kubelet would). The benchmark starts its own etcd and
API server; the container, the child and both servers are stopped at the end. Traffic stays
on this machine.
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

from apiserver.services.bootstrap import host_address
from bench.httpload import Connection
from bench.stats import pct
from testing.support import (
    ApiServer,
    Etcd,
    free_port,
    http_ok,
    json_request,
    unique,
    wait_for,
)

NS = "default"
PAGE = b"<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n" + \
    b"x" * 536 + b"\n</head></html>\n"  # 615 bytes, as nginx's index.html


# --- the local target --------------------------------------------------------------------

def serve(host: str, port: int) -> None:
    """A keep-alive HTTP/1.1 server answering every request with PAGE (the ``local`` pod)."""
    answer = (b"HTTP/1.1 200 OK\r\nServer: podproxy-bench\r\nContent-Type: text/html\r\n"
              b"Content-Length: " + str(len(PAGE)).encode() + b"\r\n\r\n" + PAGE)

    class Proto(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t: Any = transport
            self.buf = b""

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while True:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                # GETs only: no body follows the head.
                self.buf = self.buf[end + 4:]
                self.t.write(answer)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Proto, host, port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class Target:
    """Where the pod's server listens: (ip, port), and how to stop it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.ip = ""
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._container = ""

    def start(self) -> Target:
        if self.kind == "nginx":
            self._start_nginx()
        else:
            ip = host_address()
            if ip is None:
                raise SystemExit("no non-loopback address here to pose as a pod IP")
            self.ip, self.port = ip, free_port()
            self._proc = subprocess.Popen(
                [sys.executable, __file__, "--serve", f"{ip}:{self.port}"])
        wait_for(lambda: http_ok(f"http://{self.ip}:{self.port}/"), timeout=30,
                 message=f"the {self.kind} target at {self.ip}:{self.port}")
        return self

    def _start_nginx(self) -> None:
        nets = subprocess.run(["docker", "network", "ls", "--format", "{{.Name}}"],
                              check=True, capture_output=True, text=True).stdout.split()
        net = "minik8s-pods" if "minik8s-pods" in nets else "bridge"
        self._container = f"m8s-bench-podproxy-{os.getpid()}"
        subprocess.run(["docker", "run", "-d", "--pull", "never", "--name", self._container,
                        "--network", net, "nginx:latest"], check=True, capture_output=True)
        fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
        self.ip = subprocess.run(["docker", "inspect", "-f", fmt, self._container], check=True,
                                 capture_output=True, text=True).stdout.split()[0]
        self.port = 80

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._container:
            subprocess.run(["docker", "rm", "-f", self._container], capture_output=True)


def docker_has_nginx() -> bool:
    try:
        out = subprocess.run(["docker", "images", "-q", "nginx:latest"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and bool(out.stdout.strip())


def make_pod(server: str, ip: str, port: int) -> str:
    """A Running Pod at ``ip`` declaring ``port``; its name."""
    name = unique("podproxy")
    code, body = json_request("POST", f"{server}/api/v1/namespaces/{NS}/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
        "spec": {"nodeName": "nowhere", "containers": [
            {"name": "web", "image": "nginx:latest", "ports": [{"containerPort": port}]}]}})
    if code != 201:
        raise SystemExit(f"creating the pod: {code} {body}")
    body["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
    code, out = json_request("PUT", f"{server}/api/v1/namespaces/{NS}/pods/{name}/status", body)
    if code != 200:
        raise SystemExit(f"writing the pod's status: {code} {out}")
    return name


# --- the load ----------------------------------------------------------------------------

async def load(host: str, port: int, path: str, clients: int,
               seconds: float) -> dict[str, Any]:
    conns = [await Connection(host, port).open() for _ in range(clients)]
    lat: list[float] = []
    bad: list[int] = []
    size = -1
    reconnects = 0

    async def one(i: int, deadline: float) -> None:
        nonlocal size, reconnects
        while True:
            t0 = time.perf_counter()
            if t0 >= deadline:
                return
            try:
                status, body = await conns[i].get(path)
            except ConnectionError:
                # nginx closes a keep-alive connection after 1000 requests (keepalive_requests)
                reconnects += 1
                conns[i].close()
                conns[i] = await Connection(host, port).open()
                continue
            lat.append(time.perf_counter() - t0)
            size = len(body)
            if status != 200:
                bad.append(status)

    start = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(one(i, start + seconds) for i in range(clients))),
                               seconds + 30)
    finally:
        for c in conns:
            c.close()
    took = time.perf_counter() - start
    return {"requests": len(lat), "errors": len(bad), "rps": len(lat) / took,
            "body_bytes": size, "reconnects": reconnects, "lat": lat}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    lat = [x for r in runs for x in r["lat"]]
    return {"requests": sum(r["requests"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
            "reconnects": sum(r["reconnects"] for r in runs),
            "rps": round(sum(r["rps"] for r in runs) / len(runs), 1),
            "rps_per_round": [round(r["rps"], 1) for r in runs],
            "p50_ms": round(pct(lat, 50) * 1000, 3), "p99_ms": round(pct(lat, 99) * 1000, 3),
            "body_bytes": runs[-1]["body_bytes"]}


async def run(server: ApiServer, target: Target, pod: str, args: argparse.Namespace) \
        -> dict[str, Any]:
    proxy_path = f"/api/v1/namespaces/{NS}/pods/{pod}:{target.port}/proxy/"
    sides = {
        "direct": (target.ip, target.port, "/"),
        "proxy": ("127.0.0.1", server.port, proxy_path),
        # the API server's own floor: a GET of the same Pod object, no upstream
        "api_get_pod": ("127.0.0.1", server.port, f"/api/v1/namespaces/{NS}/pods/{pod}"),
    }
    for host, port, path in sides.values():  # warm-up: connections, caches, the JIT-less
        await load(host, port, path, args.clients, 0.5)
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in sides}
    for _ in range(args.rounds):
        for k, (host, port, path) in sides.items():
            runs[k].append(await load(host, port, path, args.clients, args.seconds))
    direct, proxy = summary(runs["direct"]), summary(runs["proxy"])
    if direct["body_bytes"] != proxy["body_bytes"]:
        raise SystemExit(f"the proxy answered {proxy['body_bytes']} bytes, "
                         f"the pod {direct['body_bytes']}")
    ratio = proxy["rps"] / direct["rps"]
    overhead = proxy["p50_ms"] - direct["p50_ms"]
    floor = summary(runs["api_get_pod"])
    return {
        "direct": direct, "proxy": proxy, "api_get_pod": floor,
        "throughput_ratio": round(ratio, 3),
        "proxy_to_api_get_pod_ratio": round(proxy["rps"] / floor["rps"], 3),
        "p50_overhead_ms": round(overhead, 3),
        "goals": {"throughput_ratio>=0.5": ratio >= 0.5, "p50_overhead_ms<=2": overhead <= 2},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=("auto", "nginx", "local"), default="auto")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        host, _, port = args.serve.rpartition(":")
        serve(host, int(port))
        return
    kind = args.target
    if kind == "auto":
        kind = "nginx" if docker_has_nginx() else "local"
    etcd = Etcd().start()
    server: ApiServer | None = None
    target = Target(kind)
    try:
        server = ApiServer(etcd.url, ["--log-level", "warning"]).start()
        target.start()
        pod = make_pod(server.url, target.ip, target.port)
        result = asyncio.run(run(server, target, pod, args))
    finally:
        target.stop()
        if server is not None:
            server.stop()
        etcd.stop()
    print(json.dumps({
        "benchmark": "pods/proxy vs pod IP", "target": kind,
        "target_address": f"{target.ip}:{target.port}", "clients": args.clients,
        "seconds_per_side_per_round": args.seconds, "rounds": args.rounds,
        "cpus": os.cpu_count(), **result}, indent=2))


if __name__ == "__main__":
    main()
