"""The DNS server's answers, over real UDP and TCP sockets on loopback, with the cluster's
objects fed to its store directly (what the informers deliver): every record form, the
NXDOMAIN/NODATA split of CoreDNS's kubernetes plugin, truncation and forwarding."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from dnslib import QTYPE, RCODE

from api.models import Namespace
from api.models.core import Service
from api.models.discovery import EndpointSlice
from clusterdns.records import ClusterRecords
from clusterdns.server import DnsHandler, DnsServer, parse_upstream
from tests.clusterdns.helpers import UPSTREAM_ANSWER, Upstream, answers, aquery


def svc(name: str, ns: str = "default", **spec: Any) -> Service:
    return Service.from_dict({"metadata": {"name": name, "namespace": ns}, "spec": spec})


def eps(name: str, svc_name: str, endpoints: list[dict[str, Any]],
        ports: list[dict[str, Any]] | None = None, ns: str = "default") -> EndpointSlice:
    return EndpointSlice.from_dict({
        "metadata": {"name": name, "namespace": ns,
                     "labels": {"kubernetes.io/service-name": svc_name}},
        "addressType": "IPv4", "endpoints": endpoints, "ports": ports})


def ep(ip: str, ready: bool | None = True, hostname: str | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"addresses": [ip]}
    if ready is not None:
        d["conditions"] = {"ready": ready}
    if hostname:
        d["hostname"] = hostname
    return d


@pytest.fixture
async def dns(upstream: Upstream) -> AsyncIterator[tuple[ClusterRecords, int]]:
    records = ClusterRecords()
    for n in ("default", "other"):
        records.set_namespace(Namespace.from_dict({"metadata": {"name": n}}))
    records.set_service(svc("web", clusterIP="10.96.0.20", clusterIPs=["10.96.0.20"],
                            ports=[{"name": "http", "port": 80, "protocol": "TCP"},
                                   {"name": "dns", "port": 53, "protocol": "UDP"}]))
    records.set_service(svc("db", clusterIP="None",
                            ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}]))
    records.set_slice(eps("db-abc", "db", [ep("10.244.0.5", hostname="db-0"),
                                           ep("10.244.0.6"), ep("10.244.0.7", ready=False)],
                          [{"name": "pg", "port": 5432, "protocol": "TCP"}]))
    records.set_service(svc("empty", clusterIP="None"))
    records.set_service(svc("ext", type="ExternalName", externalName="db.example.org"))
    records.set_service(svc("alias", type="ExternalName",
                            externalName="web.default.svc.cluster.local"))
    handler = DnsHandler(records, [parse_upstream(upstream.spec)], ttl=30)
    server = DnsServer(handler, "127.0.0.1", 0)
    port = await server.start()
    yield records, port
    await server.stop()


async def test_clusterip_a_with_ttl_30_authoritative(dns: tuple[ClusterRecords, int]) -> None:
    _, port = dns
    for tcp in (False, True):
        r = await aquery(port, "web.default.svc.cluster.local", tcp=tcp)
        assert r.header.rcode == RCODE.NOERROR and r.header.aa == 1
        assert answers(r) == ["10.96.0.20"]  # two ports, one A
        assert [rr.ttl for rr in r.rr] == [30]
    # names are case-insensitive, and the question's case is echoed
    r = await aquery(port, "WEB.Default.SVC.cluster.LOCAL")
    assert answers(r, "A") == ["10.96.0.20"] and str(r.q.qname) == "WEB.Default.SVC.cluster.LOCAL."


async def test_headless_answers_each_ready_endpoint(dns: tuple[ClusterRecords, int]) -> None:
    _, port = dns
    r = await aquery(port, "db.default.svc.cluster.local")
    assert answers(r, "A") == ["10.244.0.5", "10.244.0.6"]  # the unready .7 is left out
    # a pod with hostname db-0 behind the headless Service db (subdomain db)
    r = await aquery(port, "db-0.db.default.svc.cluster.local")
    assert answers(r) == ["10.244.0.5"]
    # an endpoint without hostname is named by its dashed IP
    r = await aquery(port, "10-244-0-6.db.default.svc.cluster.local")
    assert answers(r) == ["10.244.0.6"]
    r = await aquery(port, "db-9.db.default.svc.cluster.local")
    assert r.header.rcode == RCODE.NXDOMAIN
    # a headless Service with no endpoints is NXDOMAIN, as CoreDNS
    r = await aquery(port, "empty.default.svc.cluster.local")
    assert r.header.rcode == RCODE.NXDOMAIN


async def test_srv_named_ports(dns: tuple[ClusterRecords, int]) -> None:
    _, port = dns
    r = await aquery(port, "_http._tcp.web.default.svc.cluster.local", "SRV")
    assert answers(r) == ["0 100 80 web.default.svc.cluster.local."]
    assert [(str(rr.rname), str(rr.rdata)) for rr in r.ar if rr.rtype == QTYPE.A] == \
        [("web.default.svc.cluster.local.", "10.96.0.20")]
    r = await aquery(port, "_dns._udp.web.default.svc.cluster.local", "SRV")
    assert answers(r) == ["0 100 53 web.default.svc.cluster.local."]
    # all ports without the _port._proto labels
    r = await aquery(port, "web.default.svc.cluster.local", "SRV")
    assert len(r.rr) == 2
    # headless: one SRV per endpoint, target named per endpoint, weight 100/n
    r = await aquery(port, "_pg._tcp.db.default.svc.cluster.local", "SRV")
    assert answers(r) == ["0 50 5432 10-244-0-6.db.default.svc.cluster.local.",
                          "0 50 5432 db-0.db.default.svc.cluster.local."]
    assert sorted(str(rr.rdata) for rr in r.ar if rr.rtype == QTYPE.A) == \
        ["10.244.0.5", "10.244.0.6"]
    # a port the Service does not have: NXDOMAIN
    r = await aquery(port, "_nope._tcp.web.default.svc.cluster.local", "SRV")
    assert r.header.rcode == RCODE.NXDOMAIN


async def test_ptr_for_cluster_ips_and_endpoints(dns: tuple[ClusterRecords, int]) -> None:
    _, port = dns
    r = await aquery(port, "20.0.96.10.in-addr.arpa", "PTR")
    assert answers(r) == ["web.default.svc.cluster.local."]
    r = await aquery(port, "5.0.244.10.in-addr.arpa", "PTR")
    assert answers(r) == ["db-0.db.default.svc.cluster.local."]
    r = await aquery(port, "6.0.244.10.in-addr.arpa", "PTR")
    assert answers(r) == ["10-244-0-6.db.default.svc.cluster.local."]


async def test_externalname_cname(dns: tuple[ClusterRecords, int], upstream: Upstream) -> None:
    _, port = dns
    r = await aquery(port, "ext.default.svc.cluster.local", "CNAME")
    assert answers(r) == ["db.example.org."]
    # an A query gets the CNAME and the target's address, looked up upstream
    r = await aquery(port, "ext.default.svc.cluster.local")
    assert [QTYPE.get(rr.rtype) for rr in r.rr] == ["CNAME", "A"]
    assert answers(r, "A") == [UPSTREAM_ANSWER]
    assert "db.example.org." in upstream.resolver.asked
    # a CNAME into the zone is followed in the zone
    r = await aquery(port, "alias.default.svc.cluster.local")
    assert [QTYPE.get(rr.rtype) for rr in r.rr] == ["CNAME", "A"]
    assert answers(r, "A") == ["10.96.0.20"]


async def test_pod_names(dns: tuple[ClusterRecords, int]) -> None:
    _, port = dns
    r = await aquery(port, "10-244-1-9.default.pod.cluster.local")
    assert answers(r) == ["10.244.1.9"]
    r = await aquery(port, "not-an-ip.default.pod.cluster.local")
    assert r.header.rcode == RCODE.NXDOMAIN
    r = await aquery(port, "10-244-1-9.nosuchns.pod.cluster.local")
    assert r.header.rcode == RCODE.NXDOMAIN


async def test_nxdomain_vs_nodata(dns: tuple[ClusterRecords, int]) -> None:
    _, port = dns
    cases = {
        # name exists, no record of the type: NODATA (NOERROR, empty, the zone's SOA)
        ("web.default.svc.cluster.local", "AAAA"): RCODE.NOERROR,
        ("web.default.svc.cluster.local", "TXT"): RCODE.NOERROR,
        ("web.default.svc.cluster.local", "MX"): RCODE.NOERROR,
        ("default.svc.cluster.local", "A"): RCODE.NOERROR,  # an existing namespace
        ("svc.cluster.local", "A"): RCODE.NOERROR,
        ("cluster.local", "A"): RCODE.NOERROR,
        # no such name: NXDOMAIN with the SOA
        ("nope.default.svc.cluster.local", "A"): RCODE.NXDOMAIN,
        ("nope.default.svc.cluster.local", "AAAA"): RCODE.NXDOMAIN,
        ("web.nosuchns.svc.cluster.local", "A"): RCODE.NXDOMAIN,
        ("nosuchns.svc.cluster.local", "A"): RCODE.NXDOMAIN,
        ("web.other.svc.cluster.local", "A"): RCODE.NXDOMAIN,  # right name, wrong namespace
        ("web.default.xyz.cluster.local", "A"): RCODE.NXDOMAIN,
        ("a.b.web.default.svc.cluster.local", "A"): RCODE.NXDOMAIN,  # too long
    }
    for (name, qtype), rcode in cases.items():
        r = await aquery(port, name, qtype)
        assert (name, qtype, RCODE.get(r.header.rcode)) == (name, qtype, RCODE.get(rcode))
        assert not r.rr, (name, qtype)
        soa = [rr for rr in r.auth if rr.rtype == QTYPE.SOA]
        assert len(soa) == 1 and str(soa[0].rname) == "cluster.local.", (name, qtype)
        assert str(soa[0].rdata).startswith("ns.dns.cluster.local. hostmaster.cluster.local.")
    r = await aquery(port, "cluster.local", "SOA")
    assert [QTYPE.get(rr.rtype) for rr in r.rr] == ["SOA"]
    r = await aquery(port, "dns-version.cluster.local", "TXT")
    assert answers(r) == ['"1.1.0"']
    r = await aquery(port, "cluster.local", "AXFR", tcp=True)
    assert r.header.rcode == RCODE.REFUSED


async def test_updates_are_answered_at_once(dns: tuple[ClusterRecords, int]) -> None:
    records, port = dns
    r = await aquery(port, "late.other.svc.cluster.local")
    assert r.header.rcode == RCODE.NXDOMAIN
    records.set_service(svc("late", "other", clusterIP="10.96.0.77",
                            ports=[{"port": 80}]))
    r = await aquery(port, "late.other.svc.cluster.local")
    assert answers(r) == ["10.96.0.77"]
    r = await aquery(port, "77.0.96.10.in-addr.arpa", "PTR")
    assert answers(r) == ["late.other.svc.cluster.local."]
    records.delete_service(svc("late", "other"))
    r = await aquery(port, "late.other.svc.cluster.local")
    assert r.header.rcode == RCODE.NXDOMAIN
    r = await aquery(port, "77.0.96.10.in-addr.arpa", "PTR")
    assert not answers(r)  # no longer ours: it went to the upstream
    # an endpoint turning unready leaves the headless answer
    records.set_slice(eps("db-abc", "db", [ep("10.244.0.5", ready=False)],
                          [{"name": "pg", "port": 5432, "protocol": "TCP"}]))
    r = await aquery(port, "db.default.svc.cluster.local")
    assert r.header.rcode == RCODE.NXDOMAIN


async def test_truncation_then_tcp(dns: tuple[ClusterRecords, int]) -> None:
    records, port = dns
    many = [ep(f"10.244.3.{i}") for i in range(1, 101)]  # ~1.6 kB of A records
    records.set_service(svc("big", clusterIP="None"))
    records.set_slice(eps("big-1", "big", many))
    r = await aquery(port, "big.default.svc.cluster.local")
    assert r.header.tc == 1 and not r.rr
    r = await aquery(port, "big.default.svc.cluster.local", tcp=True)
    assert r.header.tc == 0 and len(r.rr) == 100
    # a client that says (EDNS0) it takes 4096 bytes gets it all over UDP
    r = await aquery(port, "big.default.svc.cluster.local", edns=True)
    assert r.header.tc == 0 and len(r.rr) == 100


async def test_other_names_go_to_the_upstream(dns: tuple[ClusterRecords, int],
                                              upstream: Upstream) -> None:
    _, port = dns
    for tcp in (False, True):
        r = await aquery(port, "www.example.com", tcp=tcp)
        assert answers(r) == [UPSTREAM_ANSWER]
    assert upstream.resolver.asked.count("www.example.com.") == 2
    # reverse names the cluster does not know fall through to the upstream too
    r = await aquery(port, "9.9.244.10.in-addr.arpa", "PTR")
    assert "9.9.244.10.in-addr.arpa." in upstream.resolver.asked
    assert r.header.rcode == RCODE.NOERROR


async def test_no_upstream_answering_is_servfail(upstream: Upstream) -> None:
    handler = DnsHandler(ClusterRecords(), [parse_upstream(upstream.spec)], ttl=30,
                         forward_timeout=0.3)
    for s in upstream.servers:
        s.stop()
        s.server.server_close()
    server = DnsServer(handler, "127.0.0.1", 0)
    port = await server.start()
    try:
        r = await aquery(port, "www.example.com")
        assert r.header.rcode == RCODE.SERVFAIL
    finally:
        await server.stop()


async def test_not_synced_name_error_is_servfail() -> None:
    records = ClusterRecords()
    handler = DnsHandler(records, [], synced=lambda: False)
    server = DnsServer(handler, "127.0.0.1", 0)
    port = await server.start()
    try:
        r = await aquery(port, "web.default.svc.cluster.local")
        assert r.header.rcode == RCODE.SERVFAIL
    finally:
        await server.stop()
