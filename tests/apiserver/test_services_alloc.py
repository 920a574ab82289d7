"""The ClusterIP and NodePort allocators, on API servers of the module's own.

Small ranges (a /24 and 100 NodePorts) so that exhaustion and every allocated item are
visible; the stored bitmaps are read from etcd as kube-apiserver keeps them
(``/registry/ranges/serviceips`` and ``/registry/ranges/servicenodeports``, a
RangeAllocation whose ``data`` is the big-endian bitmap). The restart tests write
behind the allocator's back on purpose and check that the repair pass fixes it.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aetcd
import pytest

from testing.apiclient import Api
from testing.support import ApiServer, Etcd, unique, wait_for

CIDR = "10.100.0.0/24"
PORTS = "30000-30099"
ARGS = ["--service-cluster-ip-range", CIDR, "--service-node-port-range", PORTS,
        "--advertise-address", "192.0.2.10"]


def etcd_call(e: Etcd, fn: Any) -> Any:
    host, port = e.url.rsplit("//", 1)[1].split(":")

    async def run() -> Any:
        async with aetcd.Client(host=host, port=int(port), timeout=5) as c:
            return await fn(c)

    return asyncio.run(run())


def stored_bits(e: Etcd, key: str) -> tuple[str, set[int]]:
    """The range and the set offsets of a stored RangeAllocation."""
    async def get(c: aetcd.Client) -> Any:
        return await c.get(key.encode())

    kv = etcd_call(e, get)
    if kv is None:
        return "", set()
    obj = json.loads(kv.value)
    n = int.from_bytes(base64.b64decode(obj["data"]), "big")
    return obj["range"], {i for i in range(n.bit_length()) if n >> i & 1}


def allocated_ips(e: Etcd) -> set[str]:
    rng, bits = stored_bits(e, "/registry/ranges/serviceips")
    assert rng == CIDR
    base = int(ipaddress.ip_network(CIDR).network_address) + 1
    return {str(ipaddress.ip_address(base + i)) for i in bits}


def allocated_ports(e: Etcd) -> set[int]:
    rng, bits = stored_bits(e, "/registry/ranges/servicenodeports")
    assert rng in ("", PORTS)
    return {30000 + i for i in bits}


def svc(name: str, type_: str = "ClusterIP", cluster_ip: str | None = None,
        node_port: int | None = None, ports: int = 1) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type_, "selector": {"app": name},
                            "ports": [{"name": f"p{i}", "port": 80 + i} for i in range(ports)]}
    if cluster_ip is not None:
        spec["clusterIP"] = cluster_ip
    if node_port is not None:
        spec["ports"][0]["nodePort"] = node_port
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Etcd, ApiServer]]:
    e = Etcd().start()
    s = ApiServer(e.url, ARGS)
    try:
        s.start()
        yield e, s
    finally:
        s.stop()
        e.stop()


@pytest.fixture(scope="module")
def capi(cluster: tuple[Etcd, ApiServer]) -> Iterator[Api]:
    a = Api(cluster[1].url)
    yield a
    a.close()


@pytest.fixture
def cns(capi: Api) -> str:
    return capi.namespace()


def cause(body: dict[str, Any]) -> tuple[str, str]:
    causes = body["details"]["causes"]
    assert len(causes) == 1, causes
    return causes[0]["field"], causes[0]["message"]


def test_kubernetes_service_holds_the_first_address(capi: Api, cluster: tuple[Etcd, ApiServer]
                                                     ) -> None:
    path = "/api/v1/namespaces/default/services/kubernetes"
    # The bootstrap controller creates it shortly after the server starts.
    wait_for(lambda: capi.call("GET", path)[0] == 200, timeout=30,
             message="the kubernetes Service")
    k = capi.ok("GET", path)
    assert k["spec"]["clusterIP"] == "10.100.0.1"
    assert "10.100.0.1" in allocated_ips(cluster[0])


def test_concurrent_creates_get_distinct_ips_and_node_ports(
        capi: Api, cns: str, cluster: tuple[Etcd, ApiServer]) -> None:
    path = f"/api/v1/namespaces/{cns}/services"

    def create(i: int) -> tuple[int, Any]:
        a = Api(cluster[1].url)
        try:
            return a.call("POST", path, svc(f"c{i}", "NodePort"))
        finally:
            a.close()

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(create, range(50)))
    assert all(code == 201 for code, _ in results), [b for c, b in results if c != 201][:3]
    ips = [b["spec"]["clusterIP"] for _, b in results]
    ports = [b["spec"]["ports"][0]["nodePort"] for _, b in results]
    assert len(set(ips)) == 50 and len(set(ports)) == 50
    net = ipaddress.ip_network(CIDR)
    assert all(ipaddress.ip_address(ip) in net for ip in ips)
    assert all(30000 <= p <= 30099 for p in ports)
    assert "10.100.0.1" not in ips
    # What etcd holds is exactly what the Services hold.
    stored = capi.ok("GET", path)["items"]
    assert {s["spec"]["clusterIP"] for s in stored} == set(ips)
    assert set(ips) <= allocated_ips(cluster[0])
    assert set(ports) <= allocated_ports(cluster[0])
    # Deleting them all frees them all.
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda i: capi.ok("DELETE", f"{path}/c{i}"), range(50)))
    assert not set(ips) & allocated_ips(cluster[0])
    assert not set(ports) & allocated_ports(cluster[0])


def test_requested_ip_and_port_honoured_or_refused(capi: Api, cns: str) -> None:
    path = f"/api/v1/namespaces/{cns}/services"
    a = capi.ok("POST", path, svc("a", "NodePort", "10.100.0.10", 30010), 201)
    assert a["spec"]["clusterIP"] == "10.100.0.10"
    assert a["spec"]["clusterIPs"] == ["10.100.0.10"]
    assert a["spec"]["ports"][0]["nodePort"] == 30010

    code, body = capi.call("POST", path, svc("b", cluster_ip="10.100.0.10"))
    assert code == 422 and body["reason"] == "Invalid", body
    assert cause(body) == ("spec.clusterIPs[0]", 'Invalid value: "10.100.0.10": failed to '
                           "allocate IP 10.100.0.10: provided IP is already allocated")
    code, body = capi.call("POST", path, svc("b", cluster_ip="10.200.0.10"))
    assert code == 422
    field, msg = cause(body)
    assert field == "spec.clusterIPs[0]"
    assert "the provided IP (10.200.0.10) is not in the valid range. The range of valid IPs " \
           f"is {CIDR}" in msg
    code, body = capi.call("POST", path, svc("b", "NodePort", node_port=30010))
    assert code == 422
    assert cause(body) == ("spec.ports[0].nodePort",
                           "Invalid value: 30010: provided port is already allocated")
    code, body = capi.call("POST", path, svc("b", "NodePort", node_port=32000))
    assert code == 422
    assert cause(body) == ("spec.ports[0].nodePort", "Invalid value: 32000: provided port is "
                           "not in the valid range. The range of valid ports is 30000-30099")
    # None of the refused creates kept anything: b gets what it asks for now.
    capi.ok("DELETE", f"{path}/a")
    b = capi.ok("POST", path, svc("b", "NodePort", "10.100.0.10", 30010), 201)
    assert b["spec"]["clusterIP"] == "10.100.0.10"


def test_concurrent_requests_for_one_ip_one_wins(capi: Api, cns: str,
                                                 cluster: tuple[Etcd, ApiServer]) -> None:
    """Creates committed together (one CAS) still refuse all but the first of a kind."""
    path = f"/api/v1/namespaces/{cns}/services"

    def create(i: int) -> tuple[int, Any]:
        a = Api(cluster[1].url)
        try:
            return a.call("POST", path, svc(f"same{i}", "NodePort", "10.100.0.77", 30077))
        finally:
            a.close()

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(create, range(12)))
    codes = sorted(code for code, _ in results)
    assert codes == [201] + [422] * 11, codes
    for code, body in results:
        if code == 422:
            assert "already allocated" in body["message"], body
    # The losers kept nothing: only the winner's port is allocated besides the others'.
    winner = next(b for c, b in results if c == 201)
    assert winner["spec"]["clusterIP"] == "10.100.0.77"
    capi.ok("DELETE", f"{path}/{winner['metadata']['name']}")
    assert "10.100.0.77" not in allocated_ips(cluster[0])
    assert 30077 not in allocated_ports(cluster[0])


def test_headless_and_external_name_get_no_ip(capi: Api, cns: str,
                                              cluster: tuple[Etcd, ApiServer]) -> None:
    path = f"/api/v1/namespaces/{cns}/services"
    before = allocated_ips(cluster[0])
    h = capi.ok("POST", path, svc("headless", cluster_ip="None"), 201)
    assert h["spec"]["clusterIP"] == "None" and h["spec"]["clusterIPs"] == ["None"]
    assert h["spec"]["ipFamilyPolicy"] == "SingleStack"
    x = capi.ok("POST", path, {"metadata": {"name": "ext"}, "spec": {
        "type": "ExternalName", "externalName": "db.example.com"}}, 201)
    assert "clusterIP" not in x["spec"] and "ipFamilies" not in x["spec"]
    assert allocated_ips(cluster[0]) == before


def test_type_changes_allocate_and_release(capi: Api, cns: str,
                                           cluster: tuple[Etcd, ApiServer]) -> None:
    path = f"/api/v1/namespaces/{cns}/services"
    s = capi.ok("POST", path, svc("t", ports=2), 201)
    ip = s["spec"]["clusterIP"]
    # ClusterIP -> NodePort: each port gets a nodePort, the ClusterIP stays.
    np = capi.ok("PATCH", f"{path}/t", {"spec": {"type": "NodePort"}},
                 content_type="application/merge-patch+json")
    assert np["spec"]["clusterIP"] == ip
    nodeports = [p["nodePort"] for p in np["spec"]["ports"]]
    assert len(set(nodeports)) == 2 and set(nodeports) <= allocated_ports(cluster[0])
    assert np["spec"]["externalTrafficPolicy"] == "Cluster"
    # A PUT without the allocated values keeps them (patchAllocatedValues).
    body = svc("t", "NodePort", ports=2)
    body["metadata"]["resourceVersion"] = np["metadata"]["resourceVersion"]
    put = capi.ok("PUT", f"{path}/t", body)
    assert put["spec"]["clusterIP"] == ip
    assert [p["nodePort"] for p in put["spec"]["ports"]] == nodeports
    # Changing the clusterIP is refused.
    code, out = capi.call("PATCH", f"{path}/t", {"spec": {"clusterIP": "10.100.0.99",
                                                          "clusterIPs": ["10.100.0.99"]}},
                          content_type="application/merge-patch+json")
    assert code == 422 and out["details"]["causes"][0]["field"] == "spec.clusterIPs[0]"
    # NodePort -> ClusterIP: the nodePorts go back (dropTypeDependentFields).
    back = capi.ok("PATCH", f"{path}/t", {"spec": {"type": "ClusterIP"}},
                   content_type="application/merge-patch+json")
    assert all("nodePort" not in p for p in back["spec"]["ports"])
    assert "externalTrafficPolicy" not in back["spec"]
    assert not set(nodeports) & allocated_ports(cluster[0])
    # ClusterIP -> ExternalName releases the IP; and back allocates one again.
    ext = capi.ok("PATCH", f"{path}/t", {"spec": {"type": "ExternalName",
                                                  "externalName": "x.example.com"}},
                  content_type="application/merge-patch+json")
    assert "clusterIP" not in ext["spec"]
    assert ip not in allocated_ips(cluster[0])
    again = capi.ok("PATCH", f"{path}/t", {"spec": {"type": "ClusterIP", "externalName": None}},
                    content_type="application/merge-patch+json")
    assert again["spec"]["clusterIP"] in allocated_ips(cluster[0])


def test_a_failed_write_releases_what_it_allocated(capi: Api, cns: str,
                                                   cluster: tuple[Etcd, ApiServer]) -> None:
    path = f"/api/v1/namespaces/{cns}/services"
    capi.ok("POST", path, svc("dup"), 201)
    before = allocated_ips(cluster[0]), allocated_ports(cluster[0])
    code, _ = capi.call("POST", path, svc("dup", "NodePort", "10.100.0.20", 30020))
    assert code == 409
    assert (allocated_ips(cluster[0]), allocated_ports(cluster[0])) == before
    # A dry run answers with an address but keeps nothing.
    dry = capi.ok("POST", path, svc("dry", "NodePort"), 201, dryRun="All")
    assert dry["spec"]["clusterIP"] and dry["spec"]["ports"][0]["nodePort"]
    assert (allocated_ips(cluster[0]), allocated_ports(cluster[0])) == before
    assert capi.call("GET", f"{path}/dry")[0] == 404


def test_full_range_is_a_500_and_frees_nothing(tmp_path: Any) -> None:
    e = Etcd().start()
    s = ApiServer(e.url, ["--service-cluster-ip-range", "10.101.0.0/29"])
    try:
        s.start()
        a = Api(s.url)
        ns = a.namespace()
        path = f"/api/v1/namespaces/{ns}/services"
        # A /29 has 6 usable addresses; the kubernetes Service holds the first.
        wait_for(lambda: a.call("GET", "/api/v1/namespaces/default/services/kubernetes")[0]
                 == 200, timeout=10)
        got = [a.ok("POST", path, svc(f"f{i}"), 201)["spec"]["clusterIP"] for i in range(5)]
        assert sorted(got) == [f"10.101.0.{i}" for i in range(2, 7)]
        code, body = a.call("POST", path, svc("f5"))
        assert code == 500 and body["reason"] == "InternalError"
        assert "failed to allocate a serviceIP: range is full" in body["message"]
        a.ok("DELETE", f"{path}/f3")
        assert a.ok("POST", path, svc("f5"), 201)["spec"]["clusterIP"] == got[3]
        a.close()
    finally:
        s.stop()
        e.stop()


def test_repair_after_restart() -> None:
    """A Service written behind the allocator's back gets its IP and port marked; an
    allocation no Service holds (a crash between allocating and writing) is freed after
    the repair passes that give in-flight creates their time."""
    e = Etcd().start()
    args = [*ARGS, "--service-repair-interval", "0.2"]
    s = ApiServer(e.url, args)
    try:
        s.start()
        a = Api(s.url)
        ns = a.namespace()
        path = f"/api/v1/namespaces/{ns}/services"
        a.ok("POST", path, svc("kept", "NodePort", "10.100.0.30", 30030), 201)
        s.stop()

        # Behind its back: a Service the allocator never saw, and a leaked IP and port.
        ghost = svc("ghost", "NodePort", "10.100.0.40", 30040)
        ghost["metadata"].update(namespace=ns, uid="u-ghost",
                                 creationTimestamp="2026-01-01T00:00:00Z")
        ghost["spec"]["clusterIPs"] = ["10.100.0.40"]

        async def tamper(c: aetcd.Client) -> None:
            await c.put(f"/registry/services/{ns}/ghost".encode(), json.dumps(ghost).encode())
            for key, base, offset in (("/registry/ranges/serviceips", CIDR, 49),
                                      ("/registry/ranges/servicenodeports", PORTS, 50)):
                kv = await c.get(key.encode())
                obj = json.loads(kv.value)
                assert obj["range"] == base
                n = int.from_bytes(base64.b64decode(obj["data"]), "big") | (1 << offset)
                obj["data"] = base64.b64encode(
                    n.to_bytes((n.bit_length() + 7) // 8, "big")).decode()
                await c.put(key.encode(), json.dumps(obj).encode())

        etcd_call(e, tamper)  # leaked: 10.100.0.50 and 30050
        s = ApiServer(e.url, args, port=s.port).start()
        assert {"10.100.0.30", "10.100.0.40", "10.100.0.50"} <= allocated_ips(e)
        code, body = a.call("POST", path, svc("x", cluster_ip="10.100.0.40"))
        assert code == 422 and "already allocated" in body["message"]
        # repair.go's events about the Service it repaired.
        evs = {(e["reason"], e["message"], e["source"]["component"]) for e in a.ok(
            "GET", f"/api/v1/namespaces/{ns}/events",
            fieldSelector="involvedObject.name=ghost")["items"]}
        assert evs == {
            ("ClusterIPNotAllocated", "Cluster IP [IPv4]:10.100.0.40 is not allocated; "
             "repairing", "ipallocator-repair-controller"),
            ("PortNotAllocated", "Port 30040 is not allocated; repairing",
             "portallocator-repair-controller")}
        code, body = a.call("POST", path, svc("x", "NodePort", node_port=30040))
        assert code == 422 and "already allocated" in body["message"]
        # The leaks are freed after a few passes; then they can be had again.
        wait_for(lambda: "10.100.0.50" not in allocated_ips(e)
                 and 30050 not in allocated_ports(e), timeout=10)
        a.ok("POST", path, svc("y", "NodePort", "10.100.0.50", 30050), 201)
        assert {"10.100.0.30", "10.100.0.40"} <= allocated_ips(e)
        assert {30030, 30040} <= allocated_ports(e)
        a.close()
    finally:
        s.stop()
        e.stop()


def test_a_lost_bitmap_is_rebuilt_from_the_services() -> None:
    e = Etcd().start()
    s = ApiServer(e.url, ARGS)
    try:
        s.start()
        a = Api(s.url)
        ns = a.namespace()
        path = f"/api/v1/namespaces/{ns}/services"
        ips = {a.ok("POST", path, svc(unique("r")), 201)["spec"]["clusterIP"] for _ in range(3)}
        s.stop()

        async def drop(c: aetcd.Client) -> None:
            await c.delete(b"/registry/ranges/serviceips")

        etcd_call(e, drop)
        s = ApiServer(e.url, ARGS, port=s.port).start()
        assert ips | {"10.100.0.1"} <= allocated_ips(e)
        new = a.ok("POST", path, svc("after"), 201)["spec"]["clusterIP"]
        assert new not in ips
        a.close()
    finally:
        s.stop()
        e.stop()


def test_kubernetes_service_is_reconciled(capi: Api) -> None:
    """--advertise-address names the endpoints; the bootstrap controller puts back what a
    user deletes or changes (the module's server reconciles every 10 s: a private one
    with a short interval here)."""
    ep = capi.ok("GET", "/api/v1/namespaces/default/endpoints/kubernetes")
    assert ep["subsets"][0]["addresses"] == [{"ip": "192.0.2.10"}]
    assert ep["metadata"]["labels"] == {"endpointslice.kubernetes.io/skip-mirror": "true"}
    e = Etcd().start()
    s = ApiServer(e.url, [*ARGS, "--endpoint-reconcile-interval", "0.2"])
    try:
        s.start()
        a = Api(s.url)
        base = "/api/v1/namespaces/default"
        wait_for(lambda: a.call("GET", f"{base}/endpoints/kubernetes")[0] == 200, timeout=10)
        a.ok("DELETE", f"{base}/services/kubernetes")
        a.ok("PATCH", f"{base}/endpoints/kubernetes",
             {"subsets": [{"addresses": [{"ip": "192.0.2.99"}], "ports": [{"port": 1}]}]},
             content_type="application/merge-patch+json")
        wait_for(lambda: a.call("GET", f"{base}/services/kubernetes")[0] == 200, timeout=10)
        assert a.ok("GET", f"{base}/services/kubernetes")["spec"]["clusterIP"] == "10.100.0.1"
        wait_for(lambda: a.ok("GET", f"{base}/endpoints/kubernetes")["subsets"][0][
            "addresses"] == [{"ip": "192.0.2.10"}], timeout=10)
        a.close()
    finally:
        s.stop()
        e.stop()


def test_ranges_and_bitmaps() -> None:
    """The pure parts: range sizes and offsets (ipallocator/portallocator with
    calculateRangeOffset), big.Int.Bytes() encoding, the scan strategies."""
    from apiserver.services.allocator import (
        Change,
        ErrAllocated,
        ErrFull,
        ErrNotInRange,
        IPRange,
        PortRange,
        RangeAllocator,
        decode_bitmap,
        encode_bitmap,
        lowest_free,
        parse_port_range,
    )

    r = IPRange("10.96.0.0/12")
    assert (r.size, r.offset) == (2**20 - 2, 256)
    assert r.index("10.96.0.1") == 0 and r.item(0) == "10.96.0.1"
    assert r.index("10.96.0.0") is None and r.index("10.111.255.255") is None
    assert r.index("10.111.255.254") == r.size - 1
    assert (IPRange("10.0.0.0/28").size, IPRange("10.0.0.0/28").offset) == (14, 0)
    p = PortRange("30000-32767")
    assert (p.size, p.offset) == (2768, 86)
    assert parse_port_range("30000+9") == (30000, 30009)
    with pytest.raises(ValueError):
        parse_port_range("32767-30000")
    assert encode_bitmap(0) == "" and decode_bitmap(encode_bitmap(1 << 300 | 5)) == 1 << 300 | 5
    assert encode_bitmap(0x0102) == "AQI="  # big-endian, no leading zero bytes
    assert lowest_free(0b1011, 0, 10) == 2 and lowest_free(0b111, 0, 3) is None

    ips = RangeAllocator(None, "k", IPRange("10.0.0.0/24"), random_scan=False)  # type: ignore[arg-type]
    bits, got = ips.apply(0, Change(allocate=[None, None, "10.0.0.5"]))
    assert got == ["10.0.0.17", "10.0.0.18", "10.0.0.5"]  # dynamic above the /24's 16
    with pytest.raises(ErrAllocated) as e:
        ips.apply(bits, Change(allocate=[None, "10.0.0.5"]))
    assert e.value.index == 1
    with pytest.raises(ErrNotInRange):
        ips.apply(bits, Change(allocate=["10.0.1.5"]))
    bits, _ = ips.apply(bits, Change(release=["10.0.0.17"]))
    assert ips.allocated(bits) == ["10.0.0.5", "10.0.0.18"]
    ports = RangeAllocator(None, "k", PortRange("30000-30019"))  # type: ignore[arg-type]
    bits, got = ports.apply(0, Change(allocate=[None] * 20))
    assert sorted(got) == list(range(30000, 30020))
    with pytest.raises(ErrFull):
        ports.apply(bits, Change(allocate=[None]))
