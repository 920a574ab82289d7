"""The data path end to end on the host's real iptables: an API server (the session's),
Services and EndpointSlices written by the test, busybox httpd backends on the pods'
bridge, and minik8s-proxy as a process. The guards are asserted before any traffic; all
traffic goes to this host's containers, Service IPs and node ports, in bounded loops."""

from __future__ import annotations

import errno
import random
import shutil
import socket
import subprocess
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from testing.apiclient import Api
from testing.support import unique, wait_for
from tests.proxy.helpers import (
    BUSYBOX,
    PODS_NETWORK,
    SERVICE_CIDR,
    Backend,
    ProxyProc,
    cleanup_host,
    connect_error,
    guards_present,
    http_get,
    needs_iptables,
    other_proxy_running,
    pods_gateway,
    remove_containers,
    save,
    sh,
    start_backends,
    start_udp_backends,
    udp_ask,
)

pytestmark = [needs_iptables, pytest.mark.docker, pytest.mark.slow]

SLICES = "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"
SERVICES = "/api/v1/namespaces/{ns}/services"


class HostProxy:
    def __init__(self, server: str) -> None:
        self.server = server
        self.proc = ProxyProc(server).start()

    def restart(self) -> None:
        self.proc.stop()
        self.proc = ProxyProc(self.server).start()


@pytest.fixture(scope="module")
def proxy(server_url: str) -> Iterator[HostProxy]:
    if (other := other_proxy_running()) is not None:
        pytest.skip(f"another minik8s-proxy owns this host's tables ({other})")
    try:
        sh("docker", "network", "inspect", PODS_NETWORK)
    except (subprocess.CalledProcessError, FileNotFoundError):
        pytest.skip(f"no Docker network {PODS_NETWORK}")
    hp = HostProxy(server_url)
    taken_over = False
    try:
        yield hp
    finally:
        hp.proc.stop()
        # a proxy started meanwhile (compose's) owns the tables now: its next full sync
        # deletes our chains, and a --cleanup would pull its rules from under it
        taken_over = other_proxy_running() is not None
        if not taken_over:
            cleanup_host()
    if not taken_over:
        nat, flt = save("nat"), save("filter")
        assert "KUBE-" not in nat and "KUBE-" not in flt, "--cleanup left rules behind"


@pytest.fixture(scope="module")
def backends() -> Iterator[list[Backend]]:
    bs: list[Backend] = []
    try:
        bs = start_backends(3)
        yield bs
    finally:
        remove_containers([b.container for b in bs])


@pytest.fixture(scope="module")
def ns(api: Api) -> str:
    return api.namespace()


def make_service(api: Api, ns: str, name: str, **spec: Any) -> dict[str, Any]:
    """A Service at a requested cluster IP (random, in a corner of the range other tests
    do not use), so that the proxy's tests do not depend on the allocator's order."""
    ip = f"10.100.{random.randint(0, 255)}.{random.randint(1, 254)}"
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"clusterIP": ip,
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080}], **spec}}
    out: dict[str, Any] = api.ok("POST", SERVICES.format(ns=ns), body, 201)
    return out


def write_slice(api: Api, ns: str, svc: str, backends: list[Backend]) -> None:
    body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{svc}-test",
                         "labels": {"kubernetes.io/service-name": svc,
                                    "endpointslice.kubernetes.io/managed-by": "proxy-test"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [b.ip], "conditions": {"ready": True}}
                          for b in backends]}
    path = SLICES.format(ns=ns)
    code, cur = api.call("GET", f"{path}/{svc}-test")
    if code == 200:
        body["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        api.ok("PUT", f"{path}/{svc}-test", body)
    else:
        api.ok("POST", path, body, 201)


def spread(ip: str, port: int, n: int) -> Counter[str | None]:
    return Counter(http_get(ip, port) for _ in range(n))


def test_clusterip_spreads_over_backends_from_host_and_pod(
        api: Api, ns: str, proxy: HostProxy, backends: list[Backend]) -> None:
    assert guards_present(), "the service-range guards must exist before any traffic"
    svc = make_service(api, ns, "web")
    ip = svc["spec"]["clusterIP"]
    assert ip.startswith("10.") and svc["spec"]["type"] == "ClusterIP"
    write_slice(api, ns, "web", backends)
    names = {b.name for b in backends}
    wait_for(lambda: http_get(ip, 80) in names, timeout=10, message="ClusterIP answers")

    counts = spread(ip, 80, 60)
    assert set(counts) == names, counts
    assert min(counts.values()) >= 5, counts  # ~20 each; < 5 has odds below 1e-5

    # from a container on the pods' bridge (through PREROUTING, not OUTPUT)
    out = sh("docker", "run", "--rm", "--network", PODS_NETWORK, BUSYBOX, "sh", "-c",
             f"for i in $(seq 30); do timeout 5 wget -qO- http://{ip}/ || echo FAIL; done")
    got = Counter(out.split())
    assert "FAIL" not in got and set(got) == names, got

    # the endpoints shrink to one: all traffic goes there
    write_slice(api, ns, "web", backends[:1])
    wait_for(lambda: set(spread(ip, 80, 6)) == {backends[0].name}, timeout=10,
             message="traffic only to the remaining endpoint")


def test_no_endpoints_and_unused_range_refused_at_once(
        api: Api, ns: str, proxy: HostProxy) -> None:
    assert guards_present()
    svc = make_service(api, ns, "empty")
    ip = svc["spec"]["clusterIP"]
    wait_for(lambda: f"{ns}/empty:http has no endpoints" in save("filter"), timeout=10,
             message="REJECT for a Service without endpoints")
    err, took = connect_error(ip, 80)
    assert err == errno.ECONNREFUSED and took < 1.0, (err, took)
    # an address of the range that no Service has: the guard refuses it
    err, took = connect_error("10.111.222.33", 80)
    assert err == errno.ECONNREFUSED and took < 1.0, (err, took)
    assert SERVICE_CIDR == "10.96.0.0/12"


def test_nodeport_on_node_address(api: Api, ns: str, proxy: HostProxy,
                                  backends: list[Backend]) -> None:
    assert guards_present()
    svc = make_service(api, ns, "np", type="NodePort")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    write_slice(api, ns, "np", backends)
    names = {b.name for b in backends}
    addr = pods_gateway()
    wait_for(lambda: http_get(addr, node_port) in names, timeout=10,
             message=f"NodePort {addr}:{node_port}")
    assert set(spread(addr, node_port, 30)) <= names


def test_client_ip_affinity_sticks(api: Api, ns: str, proxy: HostProxy,
                                   backends: list[Backend]) -> None:
    assert guards_present()
    svc = make_service(api, ns, "sticky", sessionAffinity="ClientIP")
    ip = svc["spec"]["clusterIP"]
    write_slice(api, ns, "sticky", backends)
    names = {b.name for b in backends}
    wait_for(lambda: http_get(ip, 80) in names, timeout=10, message="ClusterIP answers")
    counts = spread(ip, 80, 20)
    assert len(counts) == 1 and next(iter(counts)) in names, counts


def _lines_of(key: str) -> list[str]:
    return [ln for ln in (save("nat") + save("filter")).splitlines() if key in ln]


def test_delete_service_removes_every_rule(api: Api, ns: str, proxy: HostProxy,
                                           backends: list[Backend]) -> None:
    name = unique("gone")[:40]
    svc = make_service(api, ns, name, type="NodePort")
    ip = svc["spec"]["clusterIP"]
    write_slice(api, ns, name, backends)
    wait_for(lambda: http_get(ip, 80) is not None, timeout=10, message="ClusterIP answers")
    chains = {ln.split()[-1] for ln in _lines_of(f"{ns}/{name}:http")
              if ln.split()[-1].startswith(("KUBE-SVC-", "KUBE-EXT-", "KUBE-SEP-"))}
    assert len(chains) >= 2, chains
    api.ok("DELETE", f"{SERVICES.format(ns=ns)}/{name}")

    def gone() -> bool:
        saved = save("nat") + save("filter")
        return f"{ns}/{name}" not in saved and ip not in saved and \
            not any(c in saved for c in chains)
    wait_for(gone, timeout=10, message="every rule of the deleted Service gone")
    err, took = connect_error(ip, 80)
    assert err == errno.ECONNREFUSED and took < 1.0


def test_restart_rebuilds_without_stale_chains(api: Api, ns: str, proxy: HostProxy,
                                               backends: list[Backend]) -> None:
    keep = make_service(api, ns, "keep")
    drop = make_service(api, ns, "drop")
    write_slice(api, ns, "keep", backends)
    write_slice(api, ns, "drop", backends)
    for s in (keep, drop):
        wait_for(lambda s=s: http_get(s["spec"]["clusterIP"], 80) is not None, timeout=10,
                 message="ClusterIP answers")
    drop_chains = {ln.split()[1] for ln in _lines_of(f"{ns}/drop:http")
                   if ln.startswith("-A KUBE-S")} - {"KUBE-SERVICES"}
    assert drop_chains
    proxy.proc.stop()
    api.ok("DELETE", f"{SERVICES.format(ns=ns)}/drop")  # while no proxy runs
    nat = save("nat")
    assert all(c in nat for c in drop_chains)  # the rules outlive the proxy, as kube-proxy's
    proxy.restart()
    wait_for(lambda: not any(c in save("nat") for c in drop_chains), timeout=10,
             message="stale chains of the Service deleted while the proxy was down")
    names = {b.name for b in backends}
    assert http_get(keep["spec"]["clusterIP"], 80) in names
    nat = save("nat")
    assert nat.count("-j KUBE-SERVICES") == 2  # PREROUTING and OUTPUT, not duplicated
    assert save("filter").count("minik8s-proxy: nothing addressed") == 2


def test_udp_spreads_and_removed_endpoint_conntrack_cleared(
        api: Api, ns: str, proxy: HostProxy) -> None:
    """UDP Services; when an endpoint goes, the proxy deletes the conntrack entries NATed to
    it (kube-proxy's CleanStaleEntries), so a client that keeps its socket moves on at once
    instead of sending to the old endpoint until the entry times out."""
    if shutil.which("conntrack") is None:
        pytest.skip("conntrack (the tool) is not installed")
    assert guards_present()
    udp = start_udp_backends(2)
    try:
        ip = f"10.100.{random.randint(0, 255)}.{random.randint(1, 254)}"
        api.ok("POST", SERVICES.format(ns=ns), {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns"},
            "spec": {"clusterIP": ip, "ports": [{"name": "dns", "port": 53,
                                                 "protocol": "UDP", "targetPort": 5300}]}}, 201)
        api.ok("POST", SLICES.format(ns=ns), {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "dns-test", "labels": {"kubernetes.io/service-name": "dns"}},
            "addressType": "IPv4", "ports": [{"name": "dns", "port": 5300, "protocol": "UDP"}],
            "endpoints": [{"addresses": [b.ip]} for b in udp]}, 201)
        names = {b.name for b in udp}
        wait_for(lambda: udp_ask(ip, 53) in names, timeout=10, message="UDP ClusterIP")
        assert {udp_ask(ip, 53) for _ in range(30)} == names
        # a socket whose conntrack entry points at udp-0
        socks = []
        sock = None
        for _ in range(40):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            if udp_ask(ip, 53, s) == "udp-0":
                sock = s
                break
        assert sock is not None
        path = f"{SLICES.format(ns=ns)}/dns-test"
        cur = api.ok("GET", path)
        cur["endpoints"] = [{"addresses": [udp[1].ip]}]
        api.ok("PUT", path, cur)
        # udp-0 still runs: only the cleared entry makes the same socket reach udp-1
        wait_for(lambda: udp_ask(ip, 53, sock) == "udp-1", timeout=10,
                 message="the same socket moved to the remaining endpoint")
        for s in socks:
            s.close()
    finally:
        remove_containers([b.container for b in udp])
