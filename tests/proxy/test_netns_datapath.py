"""The data path of both proxy modes (iptables and nftables, the same tests parametrized) in
private network namespaces, so that they run even while compose's proxy owns the host's
tables:

- ``node``: the proxy's namespace (minik8s-proxy runs on the host, its commands with
  ``--netns``), a bridge with 10.244.7.1/24 for the pods and ip_forward on;
- three ``pod`` namespaces on that bridge (10.244.7.11-13), each running a tiny HTTP server
  that answers its name;
- ``kubelet``: a namespace at 172.31.250.2, a veth away from ``node`` (172.31.250.1), standing
  for a kubelet container on the minik8s-pods network (and ``node``'s default gateway: a dead
  end, nothing routes further). A Node object carries it as its
  InternalIP; it is not an address of ``node``, so only the rule the proxy makes for the Node
  sends its node ports to the Service (without it, the connection reaches ``kubelet``, where
  nothing listens, and is refused).

The guards are asserted in ``node`` before any traffic; every address is inside these
namespaces, which are deleted (with all their rules) at the end; loops are bounded.
"""

from __future__ import annotations

import errno
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from testing.apiclient import Api
from testing.support import unique, wait_for
from tests.proxy.helpers import (
    GUARD_COMMENT,
    MODES,
    SERVICE_CIDR,
    ProxyProc,
    needs_iptables,
)

pytestmark = [needs_iptables, pytest.mark.slow]

SLICES = "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"
SERVICES = "/api/v1/namespaces/{ns}/services"
POD_IPS = ["10.244.7.11", "10.244.7.12", "10.244.7.13"]
KUBELET_IP = "172.31.250.2"

SERVER = """
import socket, sys, threading
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", 5300))
    while True:
        _, peer = u.recvfrom(512)
        u.sendto(sys.argv[1].encode(), peer)
threading.Thread(target=udp, daemon=True).start()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080))
s.listen(64)
while True:
    c, _ = s.accept()
    try:
        c.settimeout(2)
        c.recv(1024)
        c.sendall(b"HTTP/1.0 200 OK\\r\\n\\r\\n" + sys.argv[1].encode() + b"\\n")
    except OSError:
        pass
    c.close()
"""

# n GETs on new connections, one line each: the body, or ERR:<errno>:<ms>
CLIENT = """
import socket, sys, time
ip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for _ in range(n):
    t0 = time.monotonic()
    try:
        with socket.create_connection((ip, port), timeout=2) as s:
            s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        print(data.partition(b"\\r\\n\\r\\n")[2].decode().strip() or "EMPTY")
    except OSError as exc:
        print(f"ERR:{exc.errno}:{int((time.monotonic() - t0) * 1000)}")
"""


# n datagrams, each from a new socket, one line each: the answer, or ERR
UDP_CLIENT = """
import socket, sys
ip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for _ in range(n):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        try:
            s.sendto(b"?", (ip, port))
            print(s.recvfrom(512)[0].decode())
        except OSError:
            print("ERR")
"""


def sh(*argv: str, check: bool = True) -> str:
    return subprocess.run(argv, check=check, capture_output=True, text=True,
                          timeout=60).stdout


@dataclass
class Topology:
    node: str
    pods: list[str]
    kubelet: str
    servers: list[subprocess.Popen[bytes]]

    def get(self, ip: str, port: int, n: int = 1, netns: str | None = None) -> list[str]:
        out = sh("ip", "netns", "exec", netns or self.node, sys.executable, "-c", CLIENT,
                 ip, str(port), str(n))
        return out.split()

    def ask_udp(self, ip: str, port: int, n: int = 1) -> list[str]:
        return sh("ip", "netns", "exec", self.node, sys.executable, "-c", UDP_CLIENT,
                  ip, str(port), str(n)).split()


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    sfx = unique("")[-6:]
    node, kubelet = f"m8sdp-node-{sfx}", f"m8sdp-kl-{sfx}"
    pods = [f"m8sdp-pod{i}-{sfx}" for i in range(3)]
    made: list[str] = []
    servers: list[subprocess.Popen[bytes]] = []
    try:
        for ns in (node, kubelet, *pods):
            sh("ip", "netns", "add", ns)
            made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "-n", node, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", node, "addr", "add", "10.244.7.1/24", "dev", "br0")
        sh("ip", "-n", node, "link", "set", "br0", "up")
        for i, (pod, ip) in enumerate(zip(pods, POD_IPS, strict=True)):
            sh("ip", "-n", node, "link", "add", f"vp{i}", "type", "veth", "peer", "name",
               "eth0", "netns", pod)
            sh("ip", "-n", node, "link", "set", f"vp{i}", "master", "br0", "up")
            # a pod reaching itself through a Service: with br_netfilter the DNATed frame is
            # bridged back out of the port it came in on (the kubelet's hairpin-veth mode)
            sh("ip", "-n", node, "link", "set", f"vp{i}", "type", "bridge_slave",
               "hairpin", "on")
            sh("ip", "-n", pod, "addr", "add", f"{ip}/24", "dev", "eth0")
            sh("ip", "-n", pod, "link", "set", "eth0", "up")
            sh("ip", "-n", pod, "route", "add", "default", "via", "10.244.7.1")
            servers.append(subprocess.Popen(
                ["ip", "netns", "exec", pod, sys.executable, "-c", SERVER, f"pod{i}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        sh("ip", "-n", node, "link", "add", "vk", "type", "veth", "peer", "name", "eth0",
           "netns", kubelet)
        sh("ip", "-n", node, "addr", "add", "172.31.250.1/30", "dev", "vk")
        sh("ip", "-n", node, "link", "set", "vk", "up")
        sh("ip", "-n", kubelet, "addr", "add", f"{KUBELET_IP}/30", "dev", "eth0")
        sh("ip", "-n", kubelet, "link", "set", "eth0", "up")
        # the node's default route (a host has one: without a route to a cluster IP the
        # lookup fails before the NAT rules see the packet); it ends in ``kubelet``, and the
        # guards refuse whatever of the service range is left after NAT
        sh("ip", "-n", node, "route", "add", "default", "via", KUBELET_IP)
        t = Topology(node, pods, kubelet, servers)
        for i, ip in enumerate(POD_IPS):
            wait_for(lambda ip=ip, i=i: t.get(ip, 8080) == [f"pod{i}"], timeout=15,
                     message=f"server in pod{i}")
        yield t
    finally:
        for p in servers:
            p.kill()
            p.wait(timeout=10)
        for ns in made:
            sh("ip", "netns", "del", ns, check=False)


@dataclass
class Mode:
    name: str
    proxy: ProxyProc
    topo: Topology

    def rules_text(self) -> str:
        node = self.topo.node
        if self.name == "nftables":
            return sh("ip", "netns", "exec", node, "nft", "list", "table", "ip", "kube-proxy",
                      check=False)
        return sh("ip", "netns", "exec", node, "iptables-save")

    def guards_present(self) -> bool:
        flt = sh("ip", "netns", "exec", self.topo.node, "iptables", "-S")
        return all(any(ln.startswith(f"-A {c} -d {SERVICE_CIDR}") and GUARD_COMMENT in ln
                       and "-j REJECT" in ln for ln in flt.splitlines())
                   for c in ("OUTPUT", "FORWARD"))


@pytest.fixture(scope="module", params=MODES)
def mode(request: pytest.FixtureRequest, server_url: str, topo: Topology) -> Iterator[Mode]:
    proc = ProxyProc(server_url, "--netns", topo.node, "--proxy-mode", request.param,
                     "--cluster-cidr", "10.244.0.0/16").start()
    m = Mode(request.param, proc, topo)
    try:
        yield m
    finally:
        proc.stop()
        sh(sys.executable, "-m", "proxy", "--cleanup", "--netns", topo.node)
        assert "KUBE-" not in sh("ip", "netns", "exec", topo.node, "iptables-save")
        assert "kube-proxy" not in sh("ip", "netns", "exec", topo.node, "nft", "list",
                                      "tables")


@pytest.fixture(scope="module")
def ns(api: Api) -> str:
    return api.namespace()


def service(api: Api, ns: str, name: str, ip: str, **spec: Any) -> dict[str, Any]:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"clusterIP": ip,
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080}], **spec}}
    out: dict[str, Any] = api.ok("POST", SERVICES.format(ns=ns), body, 201)
    return out


def endpoints(api: Api, ns: str, svc: str, ips: list[str]) -> None:
    body: dict[str, Any] = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{svc}-test",
                     "labels": {"kubernetes.io/service-name": svc,
                                "endpointslice.kubernetes.io/managed-by": "proxy-test"}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}
    path = SLICES.format(ns=ns)
    code, cur = api.call("GET", f"{path}/{svc}-test")
    if code == 200:
        body["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        api.ok("PUT", f"{path}/{svc}-test", body)
    else:
        api.ok("POST", path, body, 201)


def cluster_ip(mode: Mode, k: int) -> str:
    """A cluster IP per mode and test, so that the two modes' Services never collide."""
    return f"10.101.{1 if mode.name == 'iptables' else 2}.{k}"


def refused(lines: list[str]) -> bool:
    """Every attempt refused (ECONNREFUSED), each in under a second."""
    return all(ln.startswith(f"ERR:{errno.ECONNREFUSED}:") and int(ln.split(":")[2]) < 1000
               for ln in lines) and bool(lines)


def test_clusterip_from_node_and_pod(api: Api, ns: str, mode: Mode) -> None:
    assert mode.guards_present(), "the service-range guards must exist before any traffic"
    ip = cluster_ip(mode, 10)
    service(api, ns, f"web-{mode.name}", ip)
    endpoints(api, ns, f"web-{mode.name}", POD_IPS)
    wait_for(lambda: mode.topo.get(ip, 80) in (["pod0"], ["pod1"], ["pod2"]), timeout=15,
             message="ClusterIP answers")
    counts = Counter(mode.topo.get(ip, 80, 60))
    assert set(counts) == {"pod0", "pod1", "pod2"} and min(counts.values()) >= 5, counts
    # from a pod (PREROUTING, forwarded back over the bridge); pod0 reaching itself through
    # the Service is hairpin traffic, masqueraded
    got = Counter(mode.topo.get(ip, 80, 30, netns=mode.topo.pods[0]))
    assert set(got) == {"pod0", "pod1", "pod2"}, got
    # one endpoint left: all traffic goes there
    endpoints(api, ns, f"web-{mode.name}", POD_IPS[2:])
    wait_for(lambda: set(mode.topo.get(ip, 80, 6)) == {"pod2"}, timeout=10,
             message="traffic only to the remaining endpoint")


def test_no_endpoints_and_unused_range_refused(api: Api, ns: str, mode: Mode) -> None:
    assert mode.guards_present()
    ip = cluster_ip(mode, 20)
    service(api, ns, f"empty-{mode.name}", ip)
    wait_for(lambda: ip in mode.rules_text(), timeout=10, message="the Service's reject")
    assert refused(mode.topo.get(ip, 80, 3))
    assert refused(mode.topo.get("10.111.222.33", 80, 2))  # no Service at all
    assert refused(mode.topo.get(ip, 80, 2, netns=mode.topo.pods[1]))


def test_nodeport_on_node_internal_ip_follows_the_node(api: Api, ns: str,
                                                       mode: Mode) -> None:
    assert mode.guards_present()
    svc = service(api, ns, f"np-{mode.name}", cluster_ip(mode, 30), type="NodePort")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    endpoints(api, ns, f"np-{mode.name}", POD_IPS)
    pods = {"pod0", "pod1", "pod2"}
    # the node's own (local) address: kube-proxy's default
    wait_for(lambda: set(mode.topo.get("10.244.7.1", node_port)) <= pods, timeout=10,
             message="NodePort on the node's local address")
    # the kubelet's address: not local; before the Node exists it reaches the kubelet
    assert refused(mode.topo.get(KUBELET_IP, node_port))
    node = unique("dpnode")
    api.ok("POST", "/api/v1/nodes", {
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": node},
        "status": {"addresses": [{"type": "InternalIP", "address": KUBELET_IP},
                                 {"type": "Hostname", "address": node}]}}, 201)
    try:
        got = api.ok("GET", f"/api/v1/nodes/{node}")
        if not (got.get("status") or {}).get("addresses"):  # status not kept on create
            got["status"] = {"addresses": [{"type": "InternalIP", "address": KUBELET_IP}]}
            api.ok("PUT", f"/api/v1/nodes/{node}/status", got)
        wait_for(lambda: set(mode.topo.get(KUBELET_IP, node_port)) <= pods, timeout=10,
                 message=f"NodePort on the Node's InternalIP {KUBELET_IP}")
        assert set(mode.topo.get(KUBELET_IP, node_port, 30)) == pods
        assert KUBELET_IP in mode.rules_text()
    finally:
        api.ok("DELETE", f"/api/v1/nodes/{node}")
    wait_for(lambda: KUBELET_IP not in mode.rules_text(), timeout=10,
             message="the Node's address gone from the rules")
    assert refused(mode.topo.get(KUBELET_IP, node_port))


def test_client_ip_affinity(api: Api, ns: str, mode: Mode) -> None:
    ip = cluster_ip(mode, 40)
    service(api, ns, f"sticky-{mode.name}", ip, sessionAffinity="ClientIP")
    endpoints(api, ns, f"sticky-{mode.name}", POD_IPS)
    wait_for(lambda: mode.topo.get(ip, 80) != [] and
             mode.topo.get(ip, 80)[0].startswith("pod"), timeout=10, message="ClusterIP")
    got = Counter(mode.topo.get(ip, 80, 20))
    assert len(got) == 1 and next(iter(got)).startswith("pod"), got


def test_deleted_service_leaves_nothing(api: Api, ns: str, mode: Mode) -> None:
    ip = cluster_ip(mode, 50)
    name = f"gone-{mode.name}"
    service(api, ns, name, ip, type="NodePort")
    endpoints(api, ns, name, POD_IPS)
    wait_for(lambda: set(mode.topo.get(ip, 80)) <= {"pod0", "pod1", "pod2"}
             and ip in mode.rules_text(), timeout=10, message="ClusterIP answers")
    api.ok("DELETE", f"{SERVICES.format(ns=ns)}/{name}")
    wait_for(lambda: ip not in mode.rules_text() and f"/{name}" not in mode.rules_text(),
             timeout=10, message="every rule of the deleted Service gone")
    assert refused(mode.topo.get(ip, 80))


def test_udp_service(api: Api, ns: str, mode: Mode) -> None:
    assert mode.guards_present()
    ip = cluster_ip(mode, 60)
    name = f"dns-{mode.name}"
    api.ok("POST", SERVICES.format(ns=ns), {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"clusterIP": ip, "ports": [{"name": "dns", "port": 53, "protocol": "UDP",
                                             "targetPort": 5300}]}}, 201)
    api.ok("POST", SLICES.format(ns=ns), {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{name}-test", "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4", "ports": [{"name": "dns", "port": 5300, "protocol": "UDP"}],
        "endpoints": [{"addresses": [a]} for a in POD_IPS]}, 201)
    pods = {"pod0", "pod1", "pod2"}
    wait_for(lambda: set(mode.topo.ask_udp(ip, 53)) <= pods, timeout=10,
             message="UDP ClusterIP answers")
    assert set(mode.topo.ask_udp(ip, 53, 40)) == pods
