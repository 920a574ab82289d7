"""The `kubernetes` Service's endpoints with several API servers (the lease endpoint
reconciler): every live server's address is in the Endpoints and the EndpointSlice; a
server stopped with SIGTERM leaves them at once, a killed one when its lease expires."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest

from testing.apiclient import Api
from testing.support import ApiServer, Etcd, wait_for

EP = "/api/v1/namespaces/default/endpoints/kubernetes"
SLICE = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes"


def server(etcd: Etcd, ip: str, ttl: int) -> ApiServer:
    return ApiServer(etcd.url, ["--advertise-address", ip,
                                "--endpoint-reconcile-interval", "0.5",
                                "--endpoint-reconciler-lease-ttl", str(ttl)])


def addresses(api: Api) -> tuple[list[str], list[str]]:
    ep = api.ok("GET", EP)
    es = api.ok("GET", SLICE)
    return ([a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []],
            [a for e in es.get("endpoints") or [] for a in e["addresses"]])


@pytest.fixture
def etcd() -> Iterator[Etcd]:
    e = Etcd().start()
    try:
        yield e
    finally:
        e.stop()


def test_lease_reconciler(etcd: Etcd) -> None:
    a = server(etcd, "10.255.0.1", 60).start()
    b = server(etcd, "10.255.0.2", 60).start()
    c = server(etcd, "10.255.0.3", 2).start()
    api = Api(a.url)
    try:
        every = ["10.255.0.1", "10.255.0.2", "10.255.0.3"]
        wait_for(lambda: addresses(api) == (every, every), timeout=15,
                 message="all three servers in the endpoints")
        # (the servers of a real cluster share one port; here each has its own)
        port = api.ok("GET", EP)["subsets"][0]["ports"][0]
        assert port["name"] == "https" and port["port"] in (a.port, b.port, c.port)
        # SIGTERM: b removes itself at once (its lease's TTL is a minute)
        assert b.proc is not None
        b.proc.send_signal(signal.SIGTERM)
        start = time.monotonic()
        wait_for(lambda: "10.255.0.2" not in addresses(api)[0], timeout=10,
                 message="b gone from the endpoints")
        assert time.monotonic() - start < 10
        assert b.proc.wait(20) == 0
        # kill -9: c stays until its 2 s lease expires (etcd grants TTL + a TTL-long
        # window of sharing), then the others drop it
        c.kill()
        wait_for(lambda: addresses(api) == (["10.255.0.1"], ["10.255.0.1"]), timeout=20,
                 message="c's lease expired")
    finally:
        api.close()
        for s in (a, b, c):
            s.stop()
