"""minik8s-dns against a real API server: the Services and EndpointSlices the tests write
are answered through the informers (in this process, then as the ``minik8s-dns``
process), changes within a second, and /ready, /health, /metrics answer."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
from dnslib import RCODE

from api.models.core import Service
from api.models.discovery import EndpointSlice
from client.rest import AsyncClient
from clusterdns.main import ClusterDns
from clusterdns.server import parse_upstream
from testing.objects import new_namespace
from testing.support import async_wait_for, free_port, service, wait_for
from tests.clusterdns.helpers import UPSTREAM_ANSWER, Upstream, answers, aquery, query


def _svc(name: str, ns: str, **spec: Any) -> Service:
    return Service.from_dict({"metadata": {"name": name, "namespace": ns}, "spec": spec})


def _slice(name: str, ns: str, svc: str, ips: list[str], hostnames: dict[str, str],
           ports: list[dict[str, Any]]) -> EndpointSlice:
    return EndpointSlice.from_dict({
        "metadata": {"name": name, "namespace": ns,
                     "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4", "ports": ports,
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True},
                       **({"hostname": hostnames[ip]} if ip in hostnames else {})}
                      for ip in ips]})


@pytest.fixture
async def dns(server_url: str, upstream: Upstream) -> AsyncIterator[ClusterDns]:
    async with AsyncClient(server_url) as c:
        d = ClusterDns(c, upstreams=[parse_upstream(upstream.spec)], address="127.0.0.1",
                       dns_port=0, http_ports={"health": 0, "ready": 0, "metrics": 0})
        await d.start()
        await async_wait_for(d.synced, timeout=10, message="DNS caches synced")
        yield d
        await d.stop()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


async def test_services_and_slices_from_the_api_server(dns: ClusterDns, client: AsyncClient
                                                       ) -> None:
    ns = await new_namespace(client, "dns")
    port = dns.server.port
    web = await client.create(_svc("web", ns, ports=[{"name": "http", "port": 80}]))
    ip = web.spec.cluster_ip
    assert ip and ip.startswith("10.")
    await client.create(_svc("db", ns, clusterIP="None",
                             ports=[{"name": "pg", "port": 5432}]))
    await client.create(_slice("db-x1", ns, "db", ["10.244.7.1", "10.244.7.2"],
                               {"10.244.7.1": "db-0"}, [{"name": "pg", "port": 5432,
                                                         "protocol": "TCP"}]))
    await client.create(_svc("ext", ns, type="ExternalName", externalName="db.example.org"))

    async def resolves(name: str, qtype: str = "A", tcp: bool = False) -> Any:
        r = await aquery(port, name, qtype, tcp=tcp)
        return r if r.rr else None

    r = await async_wait_for(lambda: resolves(f"web.{ns}.svc.cluster.local"), timeout=5)
    assert answers(r) == [ip]
    r = await async_wait_for(lambda: resolves(f"db.{ns}.svc.cluster.local", tcp=True), timeout=5)
    assert answers(r) == ["10.244.7.1", "10.244.7.2"]
    r = await aquery(port, f"db-0.db.{ns}.svc.cluster.local")
    assert answers(r) == ["10.244.7.1"]
    r = await aquery(port, f"_http._tcp.web.{ns}.svc.cluster.local", "SRV")
    assert answers(r) == [f"0 100 80 web.{ns}.svc.cluster.local."]
    rev = ".".join(reversed(ip.split("."))) + ".in-addr.arpa"
    r = await aquery(port, rev, "PTR")
    assert answers(r) == [f"web.{ns}.svc.cluster.local."]
    r = await aquery(port, f"ext.{ns}.svc.cluster.local", "CNAME")
    assert answers(r) == ["db.example.org."]
    r = await aquery(port, f"nope.{ns}.svc.cluster.local")
    assert r.header.rcode == RCODE.NXDOMAIN
    r = await aquery(port, f"10-244-7-9.{ns}.pod.cluster.local")
    assert answers(r) == ["10.244.7.9"]
    r = await aquery(port, "www.example.com")
    assert answers(r) == [UPSTREAM_ANSWER]

    # a new Service resolves within a second of its creation; a deleted one stops
    t0 = time.monotonic()
    late = await client.create(_svc("late", ns, ports=[{"port": 8080}]))
    r = await async_wait_for(lambda: resolves(f"late.{ns}.svc.cluster.local"), timeout=1.0,
                             interval=0.01, message="the new Service resolving within 1 s")
    took = time.monotonic() - t0
    assert answers(r) == [late.spec.cluster_ip] and took < 1.0
    await client.delete(Service, "late", ns)

    async def gone() -> bool:
        return (await aquery(port, f"late.{ns}.svc.cluster.local")).header.rcode \
            == RCODE.NXDOMAIN
    await async_wait_for(gone, timeout=2.0, interval=0.01)

    # health, readiness and metrics
    hp = dns.http_ports
    assert (await asyncio.to_thread(_get, f"http://127.0.0.1:{hp['health']}/health"))[0] == 200
    assert (await asyncio.to_thread(_get, f"http://127.0.0.1:{hp['ready']}/ready"))[0] == 200
    status, text = await asyncio.to_thread(_get, f"http://127.0.0.1:{hp['metrics']}/metrics")
    assert status == 200 and 'coredns_dns_requests_total{proto="udp",type="A"' in text
    assert 'coredns_dns_responses_total{rcode="NXDOMAIN"' in text


@pytest.mark.slow
def test_minik8s_dns_process(server_url: str, upstream: Upstream) -> None:
    from client.rest import Client

    port, ready = free_port(), free_port()
    proc = service("minik8s-dns", "clusterdns", [
        "--server", server_url, "--address", "127.0.0.1", "--dns-port", str(port),
        "--upstream", upstream.spec, "--health-port", "-1", "--ready-port", str(ready),
        "--metrics-port", "-1"])
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{ready}/ready")[0] == 200, timeout=20,
                 message=f"minik8s-dns ready:\n{proc.log_tail()}")
        with Client(server_url) as c:
            from api.models import Namespace
            from testing.support import unique

            ns = unique("dnsp")
            c.create(Namespace.from_dict({"metadata": {"name": ns}}))
            web = c.create(_svc("web", ns, ports=[{"port": 80}]))

            def resolved() -> list[str]:
                return answers(query(port, f"web.{ns}.svc.cluster.local"))
            assert wait_for(resolved, timeout=5) == [web.spec.cluster_ip]
            assert answers(query(port, "www.example.com", tcp=True)) == [UPSTREAM_ANSWER]
    finally:
        proc.stop()
