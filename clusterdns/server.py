"""The DNS server: UDP and TCP on one port, the cluster zone answered from
``ClusterRecords``, everything else forwarded.

It is the plugin chain of kubeadm's Corefile, in one place::

    kubernetes cluster.local in-addr.arpa ip6.arpa { pods insecure
        fallthrough in-addr.arpa ip6.arpa; ttl 30 }
    forward . /etc/resolv.conf

- coredns plugin/kubernetes/handler.go ``ServeDNS``: A, AAAA, SRV, PTR, CNAME, TXT
  (``dns-version``), SOA and NS at the apex; any other type is a "fake A lookup" that only
  tells NODATA from NXDOMAIN; AXFR/IXFR are REFUSED. A name error is NXDOMAIN (SERVFAIL
  while the caches have not synced yet), an empty answer NODATA; both carry the zone's
  SOA in the authority section (backend_lookup.go ``BackendError``/``SOA``: ns.dns.<zone>,
  hostmaster.<zone>, 7200/1800/86400, minimum = the TTL).
- plugin/backend_lookup.go ``A``/``SRV``: a ClusterIP's ports collapse into one A; an
  ExternalName answers CNAME, followed in the zone or looked up upstream; SRV weights
  are ``100 / n``, priority 0, with the targets' A records as additional records.
- Reverse names (in-addr.arpa, ip6.arpa) that are no Service or endpoint IP fall
  through to the upstream resolvers, as ``fallthrough in-addr.arpa ip6.arpa``.
- A UDP answer larger than the client's buffer (512 bytes, or its EDNS0 size) is sent
  with TC set and no records, so the client asks again over TCP.
- ``forward``: the query's bytes as they came, to each upstream in turn (UDP, or TCP
  for a TCP query), the first answer relayed as it is; SERVFAIL when none answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dnslib import (
    AAAA,
    CNAME,
    EDNS0,
    NS,
    OPCODE,
    PTR,
    QTYPE,
    RCODE,
    RR,
    SOA,
    SRV,
    TXT,
    A,
    DNSError,
    DNSHeader,
    DNSRecord,
)

from clusterdns.records import ClusterRecords, NameError_

log = logging.getLogger("clusterdns")

DNS_SCHEMA_VERSION = "1.1.0"  # the plugin's dns-version TXT answer
MAX_UDP = 512
MAX_EDNS_UDP = 4096
FORWARD_TIMEOUT = 2.0
MAX_CNAME_CHAIN = 8


@dataclass
class Stats:
    """Counters for /metrics (coredns_dns_requests_total and friends)."""

    requests: dict[tuple[str, str], int] = field(default_factory=dict)  # (proto, type)
    responses: dict[str, int] = field(default_factory=dict)  # rcode
    forwarded: int = 0
    forward_errors: int = 0

    def request(self, proto: str, qtype: str) -> None:
        k = (proto, qtype)
        self.requests[k] = self.requests.get(k, 0) + 1

    def response(self, rcode: str) -> None:
        self.responses[rcode] = self.responses.get(rcode, 0) + 1


def parse_upstream(spec: str) -> tuple[str, int]:
    """``IP``, ``IP:PORT`` or ``[IPv6]:PORT`` -> (ip, port)."""
    s = spec.strip()
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    if s.count(":") == 1:
        host, port = s.split(":")
        return host, int(port)
    return s, 53


def resolv_conf_nameservers(path: str = "/etc/resolv.conf") -> list[tuple[str, int]]:
    """The ``nameserver`` lines of a resolv.conf, as ``forward . /etc/resolv.conf``."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    with contextlib.suppress(ValueError):
                        ipaddress.ip_address(parts[1])
                        out.append((parts[1], 53))
    except OSError:
        pass
    return out


class _UdpOnce(asyncio.DatagramProtocol):
    def __init__(self, fut: asyncio.Future[bytes]) -> None:
        self.fut = fut

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.fut.done():
            self.fut.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.fut.done():
            self.fut.set_exception(exc)


async def udp_query(data: bytes, host: str, port: int, timeout: float) -> bytes:
    """One UDP exchange; an answer whose id differs from the query's is ignored."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[bytes] = loop.create_future()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _UdpOnce(fut), remote_addr=(host, port))
    try:
        transport.sendto(data)
        async with asyncio.timeout(timeout):
            while True:
                got = await fut
                if got[:2] == data[:2]:
                    return got
                fut = loop.create_future()
                transport.get_protocol().fut = fut  # type: ignore[attr-defined]
    finally:
        transport.close()


async def tcp_query(data: bytes, host: str, port: int, timeout: float) -> bytes:
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(struct.pack("!H", len(data)) + data)
            await writer.drain()
            (n,) = struct.unpack("!H", await reader.readexactly(2))
            return await reader.readexactly(n)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def reverse_ip(name: str) -> str | None:
    """dnsutil.ExtractAddressFromReverse: ``4.3.2.1.in-addr.arpa`` -> ``1.2.3.4``."""
    n = name.rstrip(".").lower()
    if n.endswith(".in-addr.arpa"):
        parts = n[:-len(".in-addr.arpa")].split(".")
        if len(parts) != 4:
            return None
        ip = ".".join(reversed(parts))
    elif n.endswith(".ip6.arpa"):
        nibbles = n[:-len(".ip6.arpa")].split(".")
        if len(nibbles) != 32:
            return None
        h = "".join(reversed(nibbles))
        ip = ":".join(h[i:i + 4] for i in range(0, 32, 4))
    else:
        return None
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return None


def is_reverse(name: str) -> bool:
    n = name.rstrip(".").lower()
    return n.endswith(".in-addr.arpa") or n.endswith(".ip6.arpa") \
        or n in ("in-addr.arpa", "ip6.arpa")


class DnsHandler:
    """Turns one query's bytes into the answer's bytes (None: nothing to send)."""

    def __init__(self, records: ClusterRecords, upstreams: list[tuple[str, int]], *,
                 ttl: int = 30, synced: Callable[[], bool] = lambda: True,
                 forward_timeout: float = FORWARD_TIMEOUT) -> None:
        self.records = records
        self.upstreams = upstreams
        self.ttl = ttl
        self.synced = synced
        self.forward_timeout = forward_timeout
        self.stats = Stats()

    # ---- entry ------------------------------------------------------------------

    async def handle(self, data: bytes, proto: str) -> bytes | None:
        try:
            req = DNSRecord.parse(data)
        except (DNSError, struct.error, IndexError, ValueError):
            if len(data) < 12:
                return None
            # A header we can read: FORMERR with the same id (as miekg/dns servers).
            hdr = DNSHeader(id=struct.unpack("!H", data[:2])[0], qr=1,
                            rcode=RCODE.FORMERR)
            self.stats.response("FORMERR")
            return DNSRecord(hdr).pack()  # type: ignore[no-any-return]
        if req.header.qr:
            return None
        if req.header.opcode != OPCODE.QUERY or len(req.questions) != 1:
            reply = req.reply()
            reply.header.rcode = RCODE.NOTIMP if req.header.opcode != OPCODE.QUERY \
                else RCODE.FORMERR
            reply.header.aa = 0
            self.stats.response(RCODE.get(reply.header.rcode))
            return self._finish(req, reply, proto)
        q = req.q
        qname = str(q.qname)
        qtype = QTYPE.get(q.qtype)
        self.stats.request(proto, str(qtype))
        if self.records.in_zone(qname):
            reply = await self._zone_answer(req, qname, q.qtype)
        elif is_reverse(qname) and q.qtype == QTYPE.PTR \
                and (ip := reverse_ip(qname)) is not None \
                and (names := self.records.reverse(ip)):
            reply = req.reply()
            for n in names:
                reply.add_answer(RR(qname, QTYPE.PTR, rdata=PTR(n + "."), ttl=self.ttl))
        else:
            return await self._forward(data, proto)
        self.stats.response(RCODE.get(reply.header.rcode))
        return self._finish(req, reply, proto)

    def _finish(self, req: DNSRecord, reply: DNSRecord, proto: str) -> bytes:
        opt = next((r for r in req.ar if r.rtype == QTYPE.OPT), None)
        limit = MAX_UDP
        if opt is not None:
            limit = max(MAX_UDP, min(int(opt.rclass), MAX_EDNS_UDP))
            reply.add_ar(EDNS0(udp_len=MAX_EDNS_UDP))
        out: bytes = reply.pack()
        if proto == "udp" and len(out) > limit:
            tc = DNSRecord(DNSHeader(id=reply.header.id, qr=1, aa=reply.header.aa,
                                     ra=reply.header.ra, rd=reply.header.rd, tc=1,
                                     rcode=reply.header.rcode), q=req.q)
            if opt is not None:
                tc.add_ar(EDNS0(udp_len=MAX_EDNS_UDP))
            out = tc.pack()
        return out

    # ---- forward ----------------------------------------------------------------

    async def _forward(self, data: bytes, proto: str) -> bytes | None:
        self.stats.forwarded += 1
        ups = list(self.upstreams)
        if len(ups) > 1:
            random.shuffle(ups)  # forward's default policy: random
        for host, port in ups:
            try:
                if proto == "tcp":
                    return await tcp_query(data, host, port, self.forward_timeout)
                return await udp_query(data, host, port, self.forward_timeout)
            except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
                log.debug("upstream %s:%d: %s", host, port, exc)
                self.stats.forward_errors += 1
        try:
            req = DNSRecord.parse(data)
        except Exception:
            return None
        reply = req.reply()
        reply.header.aa = 0
        reply.header.rcode = RCODE.SERVFAIL
        self.stats.response("SERVFAIL")
        return reply.pack()  # type: ignore[no-any-return]

    async def _upstream_answers(self, name: str, qtype: int) -> list[RR] | None:
        """backend_lookup's ``b.Lookup`` for an ExternalName target outside the zone."""
        q = DNSRecord.question(name, QTYPE.get(qtype))
        got = await self._forward(q.pack(), "udp")
        if got is None:
            return None
        try:
            ans = DNSRecord.parse(got)
        except Exception:
            return None
        if ans.header.rcode == RCODE.SERVFAIL:
            return None
        return list(ans.rr)

    # ---- the zone ---------------------------------------------------------------

    def _soa(self) -> RR:
        zone = self.records.zone + "."
        return RR(zone, QTYPE.SOA, ttl=min(self.ttl, 300), rdata=SOA(
            "ns.dns." + zone, "hostmaster." + zone,
            (self.records.serial, 7200, 1800, 86400, self.ttl)))

    def _error(self, req: DNSRecord, rcode: int) -> DNSRecord:
        reply = req.reply()
        reply.header.rcode = rcode
        reply.add_auth(self._soa())
        return reply

    async def _zone_answer(self, req: DNSRecord, qname: str, qtype: int) -> DNSRecord:
        zone = self.records.zone
        apex = qname.rstrip(".").lower() == zone
        answers: list[RR] = []
        extra: list[RR] = []
        try:
            if qtype == QTYPE.A or qtype == QTYPE.AAAA:
                answers = await self._address(qname, qtype, [])
            elif qtype == QTYPE.SRV:
                answers, extra = self._srv(qname)
            elif qtype == QTYPE.CNAME:
                answers = [RR(qname, QTYPE.CNAME, rdata=CNAME(i.host + "."), ttl=self.ttl)
                           for i in self.records.records(qname) if not i.is_ip]
            elif qtype == QTYPE.TXT and qname.rstrip(".").lower() == "dns-version." + zone:
                answers = [RR(qname, QTYPE.TXT, rdata=TXT(DNS_SCHEMA_VERSION), ttl=self.ttl)]
            elif qtype == QTYPE.SOA and apex:
                answers = [self._soa()]
            elif qtype == QTYPE.NS and apex:
                answers = [RR(qname, QTYPE.NS, rdata=NS(f"ns.dns.{zone}."), ttl=self.ttl)]
            elif qtype in (QTYPE.AXFR, QTYPE.IXFR):
                reply = req.reply()
                reply.header.rcode = RCODE.REFUSED
                return reply
            else:
                # the fake A lookup: only NODATA vs NXDOMAIN matters
                self.records.records(qname)
        except NameError_:
            if not self.synced():
                return self._error(req, RCODE.SERVFAIL)
            return self._error(req, RCODE.NXDOMAIN)
        if not answers:
            return self._error(req, RCODE.NOERROR)
        reply = req.reply()
        for rr in answers:
            reply.add_answer(rr)
        for rr in extra:
            reply.add_ar(rr)
        return reply

    async def _address(self, qname: str, qtype: int, previous: list[RR]) -> list[RR]:
        """backend_lookup.go ``A`` / ``AAAA``."""
        out: list[RR] = []
        seen: set[str] = set()
        want_v4 = qtype == QTYPE.A
        for item in self.records.records(qname):
            if item.is_ip:
                v4 = ":" not in item.host
                if v4 == want_v4 and item.host not in seen:
                    seen.add(item.host)
                    rd = A(item.host) if v4 else AAAA(item.host)
                    out.append(RR(qname, qtype, rdata=rd, ttl=self.ttl))
                continue
            target = item.host
            if target.rstrip(".").lower() == qname.rstrip(".").lower() \
                    or len(previous) > MAX_CNAME_CHAIN:
                continue
            cname = RR(qname, QTYPE.CNAME, rdata=CNAME(target + "."), ttl=self.ttl)
            if self.records.in_zone(target):
                try:
                    nxt = await self._address(target + ".", qtype, [*previous, cname])
                except NameError_:
                    continue
                if nxt:
                    out.extend([cname, *nxt])
                continue
            ups = await self._upstream_answers(target + ".", qtype)
            if ups is None:
                continue
            out.extend([cname, *ups])
        return out

    def _srv(self, qname: str) -> tuple[list[RR], list[RR]]:
        """backend_lookup.go ``SRV``: priority 0, weight 100/n, targets' A records extra."""
        items = [i for i in self.records.records(qname) if i.port != -1]
        answers: list[RR] = []
        extra: list[RR] = []
        if not items:
            return [], []
        weight = max(1, 100 // len(items))
        seen: set[str] = set()
        for i in items:
            target = (i.name if i.is_ip else i.host) + "."
            answers.append(RR(qname, QTYPE.SRV, ttl=self.ttl,
                              rdata=SRV(priority=0, weight=weight, port=i.port, target=target)))
            if i.is_ip and target not in seen:
                seen.add(target)
                v4 = ":" not in i.host
                extra.append(RR(target, QTYPE.A if v4 else QTYPE.AAAA, ttl=self.ttl,
                                rdata=A(i.host) if v4 else AAAA(i.host)))
        return answers, extra


# ---- transports -----------------------------------------------------------------


class _UdpServer(asyncio.DatagramProtocol):
    def __init__(self, handler: DnsHandler) -> None:
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        t = asyncio.ensure_future(self._answer(data, addr))
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    async def _answer(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            out = await self.handler.handle(data, "udp")
        except Exception:
            log.exception("query from %s", addr)
            return
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)


@dataclass
class DnsServer:
    """UDP and TCP listeners on one address and port (0: any free port, the same for both)."""

    handler: DnsHandler
    host: str = "0.0.0.0"
    port: int = 53
    tcp_idle: float = 10.0
    _udp: asyncio.DatagramTransport | None = None
    _udp_proto: _UdpServer | None = None
    _tcp: asyncio.Server | None = None

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        for _ in range(20):
            udp, proto = await loop.create_datagram_endpoint(
                lambda: _UdpServer(self.handler), local_addr=(self.host, self.port))
            port = udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._tcp_client, self.host, port)
            except OSError:
                udp.close()
                if self.port:
                    raise
                continue  # the UDP port's TCP twin is taken: pick another
            self._udp, self._udp_proto, self.port = udp, proto, port
            return int(port)
        raise OSError("no port free for both UDP and TCP")

    async def _tcp_client(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                async with asyncio.timeout(self.tcp_idle):
                    (n,) = struct.unpack("!H", await reader.readexactly(2))
                    data = await reader.readexactly(n)
                out = await self.handler.handle(data, "tcp")
                if out is None:
                    break
                writer.write(struct.pack("!H", len(out)) + out)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:
            log.exception("TCP client")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._udp_proto is not None:
            for t in list(self._udp_proto.tasks):
                t.cancel()
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 2)


# ---- health, readiness, metrics ---------------------------------------------------


def metrics_text(stats: Stats, started: float) -> str:
    """Prometheus text in CoreDNS's metric names."""
    lines = ["# TYPE coredns_dns_requests_total counter"]
    for (proto, qtype), n in sorted(stats.requests.items()):
        lines.append(f'coredns_dns_requests_total{{proto="{proto}",type="{qtype}",'
                     f'server="dns://:53",zone="."}} {n}')
    lines.append("# TYPE coredns_dns_responses_total counter")
    for rcode, n in sorted(stats.responses.items()):
        lines.append(f'coredns_dns_responses_total{{rcode="{rcode}",server="dns://:53",'
                     f'zone="."}} {n}')
    lines += ["# TYPE coredns_forward_requests_total counter",
              f"coredns_forward_requests_total {stats.forwarded}",
              "# TYPE coredns_forward_errors_total counter",
              f"coredns_forward_errors_total {stats.forward_errors}",
              "# TYPE process_start_time_seconds gauge",
              f"process_start_time_seconds {started:.3f}",
              f"# uptime {time.time() - started:.0f}s", ""]
    return "\n".join(lines)
