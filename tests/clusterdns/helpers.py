"""The cluster DNS tests' helpers: a loopback fixed-answer upstream and a DNS client."""

from __future__ import annotations

import asyncio
import copy
import threading
from dataclasses import dataclass, field
from typing import Any

from dnslib import QTYPE, RR, DNSRecord
from dnslib.server import BaseResolver, DNSServer

UPSTREAM_ANSWER = "192.0.2.53"  # TEST-NET-1: an address that exists nowhere


class RecordingResolver(BaseResolver):  # type: ignore[misc]
    """dnslib's FixedResolver that also records the names it was asked."""

    def __init__(self, zone: str) -> None:
        self.rrs = RR.fromZone(zone)
        self.asked: list[str] = []
        self.lock = threading.Lock()

    def resolve(self, request: Any, handler: Any) -> Any:
        with self.lock:
            self.asked.append(str(request.q.qname))
        reply = request.reply()
        if request.q.qtype in (QTYPE.A, QTYPE.ANY):
            for rr in self.rrs:
                a = copy.copy(rr)
                a.rname = request.q.qname
                reply.add_answer(a)
        return reply


@dataclass
class Upstream:
    port: int
    resolver: RecordingResolver
    servers: list[DNSServer] = field(default_factory=list)

    @property
    def spec(self) -> str:
        return f"127.0.0.1:{self.port}"


def start_fixed_server(zone: str) -> Upstream:
    """A dnslib fixed-answer server on 127.0.0.1, UDP and TCP on one free port."""
    resolver = RecordingResolver(zone)
    for _ in range(20):
        udp = DNSServer(resolver, port=0, address="127.0.0.1")
        port = udp.server.server_address[1]
        try:
            tcp = DNSServer(resolver, port=port, address="127.0.0.1", tcp=True)
        except OSError:
            udp.server.server_close()
            continue
        udp.start_thread()
        tcp.start_thread()
        return Upstream(port, resolver, [udp, tcp])
    raise RuntimeError("no free port for the upstream")


def query(port: int, name: str, qtype: str = "A", tcp: bool = False,
          timeout: float = 3.0, edns: bool = False) -> DNSRecord:
    """One query to 127.0.0.1:port with dnslib's own client (blocking)."""
    q = DNSRecord.question(name, qtype)
    if edns:
        from dnslib import EDNS0

        q.add_ar(EDNS0(udp_len=4096))
    return DNSRecord.parse(q.send("127.0.0.1", port, tcp=tcp, timeout=timeout))


async def aquery(port: int, name: str, qtype: str = "A", tcp: bool = False,
                 edns: bool = False) -> DNSRecord:
    return await asyncio.to_thread(query, port, name, qtype, tcp, 3.0, edns)


def answers(rec: DNSRecord, rtype: str | None = None) -> list[str]:
    """The answer section's rdata as text, of one type or all."""
    return sorted(str(rr.rdata) for rr in rec.rr
                  if rtype is None or QTYPE.get(rr.rtype) == rtype)
