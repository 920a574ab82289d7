"""Cluster DNS throughput and latency: minik8s-dns vs dnslib's own fixed-answer server.

Both servers run as processes of their own on loopback; one load generator (this
process, asyncio, one UDP socket per client) drives each in turn with the same load:
``--clients`` concurrent clients (16), each sending its next query when the previous is
answered, until ``--queries`` in all are answered or ``--seconds`` pass (both bounds hold).
minik8s-dns answers ``web-<i>.<ns>.svc.cluster.local`` A from its informers' caches
(``--services`` Services written through an API server this benchmark starts, unless
``--server`` names one); the baseline answers every name with one fixed A record
(dnslib.fixedresolver, its threaded UDP server). Goal: minik8s-dns >= 0.7x the
baseline's queries/s. Output: JSON with queries/s, p50/p99 latency (ms) and timeouts.

    .venv/bin/python -m bench.dns [--clients 16] [--queries 20000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.request
from typing import Any

from dnslib import DNSRecord

from bench.stats import pct
from testing.support import Process, free_port, service, unique, wait_for

FIXED_SERVER = """
import sys, time
from dnslib.fixedresolver import FixedResolver
from dnslib.server import DNSServer
s = DNSServer(FixedResolver(". 30 IN A 10.96.0.20"), port=int(sys.argv[1]), address="127.0.0.1")
s.start_thread()
print("ready", flush=True)
while True:
    time.sleep(3600)
"""


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiter: asyncio.Future[bytes] | None = None

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(data)


async def load(port: int, names: list[str], clients: int, total: int, seconds: float
               ) -> dict[str, Any]:
    """``clients`` closed-loop UDP clients; stops at ``total`` answers or ``seconds``."""
    loop = asyncio.get_running_loop()
    queries = [DNSRecord.question(n).pack() for n in names]
    lat: list[float] = []
    timeouts = 0
    wrong = 0
    sent = 0
    deadline = time.monotonic() + seconds

    async def client(k: int) -> None:
        nonlocal timeouts, wrong, sent
        transport, proto = await loop.create_datagram_endpoint(
            _Client, remote_addr=("127.0.0.1", port))
        try:
            i = k
            while sent < total and time.monotonic() < deadline:
                sent += 1
                q = bytearray(queries[i % len(queries)])
                qid = (k * 4099 + i) & 0xFFFF
                q[0:2] = qid.to_bytes(2, "big")
                i += clients
                proto.waiter = loop.create_future()
                t0 = time.perf_counter()
                transport.sendto(bytes(q))
                try:
                    got = await asyncio.wait_for(proto.waiter, 1.0)
                except TimeoutError:
                    timeouts += 1
                    continue
                lat.append(time.perf_counter() - t0)
                if got[0:2] != q[0:2] or got[3] & 0x0F != 0:
                    wrong += 1
        finally:
            transport.close()

    t0 = time.monotonic()
    await asyncio.gather(*(client(k) for k in range(clients)))
    elapsed = time.monotonic() - t0
    return {"answered": len(lat), "timeouts": timeouts, "wrong": wrong,
            "seconds": round(elapsed, 3), "qps": round(len(lat) / elapsed, 1),
            "p50_ms": round(pct(lat, 50) * 1000, 3), "p99_ms": round(pct(lat, 99) * 1000, 3)}


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except Exception:
        return False


def _answers(port: int, name: str) -> bool:
    try:
        r = DNSRecord.parse(DNSRecord.question(name).send("127.0.0.1", port, timeout=1))
        return bool(r.rr)
    except (TimeoutError, OSError):
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--queries", type=int, default=20_000, help="answers to collect (bound)")
    ap.add_argument("--seconds", type=float, default=20.0, help="time bound per server")
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--server", help="a running API server (default: start etcd + one)")
    args = ap.parse_args()
    procs: list[Process] = []
    server = args.server
    try:
        if not server:
            from testing.support import ApiServer, Etcd

            etcd = Etcd().start()
            procs.append(etcd)
            api = ApiServer(etcd.url).start()
            procs.insert(0, api)
            server = api.url
        from api.models import Namespace
        from api.models.core import Service
        from client.rest import Client

        ns = unique("dnsbench")
        with Client(server) as c:
            c.create(Namespace.from_dict({"metadata": {"name": ns}}))
            for i in range(args.services):
                c.create(Service.from_dict({"metadata": {"name": f"web-{i}", "namespace": ns},
                                            "spec": {"ports": [{"port": 80}]}}))
        names = [f"web-{i}.{ns}.svc.cluster.local" for i in range(args.services)]

        dns_port, ready = free_port(), free_port()
        dns = service("bench-minik8s-dns", "clusterdns", [
            "--server", server, "--address", "127.0.0.1", "--dns-port", str(dns_port),
            "--upstream", "127.0.0.1:9", "--health-port", "-1", "--metrics-port", "-1",
            "--ready-port", str(ready)])
        procs.insert(0, dns)
        wait_for(lambda: _ready(f"http://127.0.0.1:{ready}/ready"), timeout=30,
                 message=f"minik8s-dns ready:\n{dns.log_tail()}")
        wait_for(lambda: _answers(dns_port, names[-1]), timeout=10, message="last Service")

        fixed_port = free_port()
        fixed = Process("bench-dnslib-fixed",
                        [sys.executable, "-c", FIXED_SERVER, str(fixed_port)]).start()
        procs.insert(0, fixed)
        wait_for(lambda: _answers(fixed_port, "x.example"), timeout=10, message="dnslib server")

        # warm both, then measure each alone
        asyncio.run(load(dns_port, names, args.clients, 500, 5))
        asyncio.run(load(fixed_port, names, args.clients, 500, 5))
        ours = asyncio.run(load(dns_port, names, args.clients, args.queries, args.seconds))
        base = asyncio.run(load(fixed_port, names, args.clients, args.queries, args.seconds))
    finally:
        for p in procs:
            p.stop()
    ratio = ours["qps"] / base["qps"] if base["qps"] else float("nan")
    print(json.dumps({
        "benchmark": "dns", "clients": args.clients, "services": args.services,
        "minik8s_dns": ours, "dnslib_fixed_answer": base,
        "qps_ratio": round(ratio, 3), "goal_qps_ratio": 0.7, "goal_met": ratio >= 0.7,
    }, indent=2))


if __name__ == "__main__":
    main()
