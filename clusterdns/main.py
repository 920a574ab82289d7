"""``minik8s-dns``: the cluster DNS (CoreDNS with kubeadm's Corefile, in Python).

It watches Services, EndpointSlices and Namespaces and answers the cluster zone
(clusterdns/records.py, clusterdns/server.py); every other name is forwarded to the
upstream resolvers: ``--upstream`` (repeatable), else the nameservers of
``--resolv-conf`` (``forward . /etc/resolv.conf``).

In the cluster it runs as the pods of the ``kube-dns`` Deployment in kube-system (deploy/
addons/kube-dns.yaml), with ``dnsPolicy: Default``, so its own resolv.conf is the
node's: on the compose cluster that is Docker's embedded resolver on the minik8s-pods
network, which both forwards to the host's resolvers and answers the compose alias
``apiserver``; that is how the pod reaches the API server (``--server
http://apiserver:8080``), without needing the Service proxy for its own bootstrap.

Ports as CoreDNS's: DNS on 53 (UDP and TCP), ``/health`` on 8080 (alive), ``/ready`` on
8181 (200 once the caches have synced), ``/metrics`` on 9153.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from api.models import Namespace
from api.models.core import Service
from api.models.discovery import EndpointSlice
from client.config import KUBECONFIG_FLAG_HELP, config_from_flags
from client.httpserve import PROMETHEUS, Reply, serve_http, text
from client.informer import SharedInformerFactory
from client.rest import AsyncClient
from client.service import run_until_signalled, setup_logging
from clusterdns.records import ClusterRecords
from clusterdns.server import (
    DnsHandler,
    DnsServer,
    metrics_text,
    parse_upstream,
    resolv_conf_nameservers,
)

log = logging.getLogger("clusterdns")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="minik8s-dns", description=__doc__.split("\n\n")[0])
    p.add_argument("--server", help="API server URL (else $MINIK8S_SERVER, ~/.minik8s/config)")
    p.add_argument("--kubeconfig", help=KUBECONFIG_FLAG_HELP)
    p.add_argument("--zone", default="cluster.local", help="the cluster domain")
    p.add_argument("--address", default="0.0.0.0", help="address the DNS port binds")
    p.add_argument("--dns-port", type=int, default=53, help="UDP and TCP (0: any free port)")
    p.add_argument("--upstream", action="append", default=[], metavar="IP[:PORT]",
                   help="resolver for names outside the zone (repeatable; default: the "
                        "nameservers of --resolv-conf)")
    p.add_argument("--resolv-conf", default="/etc/resolv.conf")
    p.add_argument("--ttl", type=int, default=30,
                   help="TTL of the zone's answers (kubeadm's Corefile: ttl 30)")
    p.add_argument("--health-port", type=int, default=8080, help="/health (-1: off)")
    p.add_argument("--ready-port", type=int, default=8181, help="/ready (-1: off)")
    p.add_argument("--metrics-port", type=int, default=9153, help="/metrics (-1: off)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


@dataclass
class ClusterDns:
    """The whole service in one object, for the command and for in-process tests."""

    client: AsyncClient
    zone: str = "cluster.local"
    upstreams: list[tuple[str, int]] = field(default_factory=list)
    address: str = "0.0.0.0"
    dns_port: int = 53
    ttl: int = 30
    http_ports: dict[str, int] = field(default_factory=dict)  # health/ready/metrics -> port
    records: ClusterRecords = field(init=False)
    handler: DnsHandler = field(init=False)
    server: DnsServer = field(init=False)
    factory: SharedInformerFactory = field(init=False)
    _http: list[asyncio.Server] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.records = ClusterRecords(zone=self.zone)
        self.factory = SharedInformerFactory(self.client)
        self.handler = DnsHandler(self.records, self.upstreams, ttl=self.ttl,
                                  synced=self.synced)
        self.server = DnsServer(self.handler, self.address, self.dns_port)
        r = self.records
        self.factory.informer(Namespace).add_handler(
            r.set_namespace, lambda _o, n: r.set_namespace(n), r.delete_namespace)
        self.factory.informer(Service).add_handler(
            r.set_service, lambda _o, n: r.set_service(n), r.delete_service)
        self.factory.informer(EndpointSlice).add_handler(
            r.set_slice, lambda _o, n: r.set_slice(n), r.delete_slice)

    def synced(self) -> bool:
        return all(i.has_synced for i in self.factory.informers)

    async def start(self) -> int:
        """Start watching and serving; returns the DNS port."""
        await self.factory.start_all()
        port = await self.server.start()

        def health() -> Reply:
            return text(200, "OK")

        def ready() -> Reply:
            return text(200, "OK") if self.synced() else text(503, "caches not synced")

        def metrics() -> Reply:
            return 200, PROMETHEUS, metrics_text(self.handler.stats, self.started).encode()

        routes = {"health": {"/health": health}, "ready": {"/ready": ready},
                  "metrics": {"/metrics": metrics}}
        for name, want in list(self.http_ports.items()):
            if want < 0:
                continue
            srv = await serve_http(self.address, want, routes[name])
            self._http.append(srv)
            self.http_ports[name] = srv.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        await self.server.stop()
        for s in self._http:
            s.close()
        await self.factory.stop_all()


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> None:
    upstreams = [parse_upstream(u) for u in args.upstream] or \
        resolv_conf_nameservers(args.resolv_conf)
    if not upstreams:
        log.warning("no upstream resolvers (--upstream, %s): names outside %s get SERVFAIL",
                    args.resolv_conf, args.zone)
    client = AsyncClient(config=config_from_flags(args.server, args.kubeconfig,
                                                  "minik8s-clusterdns"))
    dns = ClusterDns(client, zone=args.zone, upstreams=upstreams, address=args.address,
                     dns_port=args.dns_port, ttl=args.ttl,
                     http_ports={"health": args.health_port, "ready": args.ready_port,
                                 "metrics": args.metrics_port})
    port = await dns.start()
    log.info("serving DNS for %s on %s:%d (udp, tcp); upstreams %s; http %s; API %s",
             args.zone, args.address, port,
             ", ".join(f"{h}:{p}" for h, p in upstreams) or "none", dns.http_ports,
             client.server)
    try:
        await stop.wait()
    finally:
        await dns.stop()
        await client.close()


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    setup_logging(args.verbose)
    run_until_signalled(lambda stop: serve(args, stop))

