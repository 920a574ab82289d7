"""minik8s-netagent on three simulated nodes (network namespaces of this module's own, see
tests/netagent/netns.py), against a real API server, with the real CNI plugins, iptables and
``ip``: the conflist, the routes as Nodes come, change and go, two "pods" on different nodes
reaching each other by pod IP, the leak guard (REJECT counters, the unreachable route, nothing
arriving at the "host"), resync after tampering, the host guard, --cleanup."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.models import Node
from client import AsyncClient, Client
from netagent import rules
from testing.support import ApiServer, Process, async_wait_for, service, wait_for
from tests.controllers.helpers import start_controller_manager
from tests.netagent import netns as nt

pytestmark = [pytest.mark.timeout(180)]

why = nt.usable()
if why:
    pytest.skip(why, allow_module_level=True)

NODES = (1, 2, 3)


def cidr_of(n: int) -> str:
    return f"10.251.{n}.0/24"


@pytest.fixture(scope="module")
def server_url(private_apiserver: ApiServer) -> str:
    return private_apiserver.url


@pytest.fixture(scope="module")
def topology() -> Iterator[None]:
    nt.remove_all()  # what a killed earlier run left
    try:
        nt.make_host()
        for n in NODES:
            nt.make_node(n)
        yield
    finally:
        nt.remove_all()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Agents:
    def __init__(self, server: str, base: Path) -> None:
        self.server = server
        self.base = base
        self.procs: dict[int, Process] = {}
        self.health_port = _free_port()

    def conf_dir(self, n: int) -> Path:
        return self.base / f"net.d-{n}"

    def conflist(self, n: int) -> Path:
        return self.conf_dir(n) / rules.CONFLIST_NAME

    def argv(self, n: int) -> list[str]:
        return ["--server", self.server, "--node-name", f"nt-{n}", "--cluster-cidr", nt.CLUSTER,
                "--netns", nt.node_ns(n), "--cni-conf-dir", str(self.conf_dir(n)),
                "--ipam-data-dir", str(self.base / f"ipam-{n}"), "--resync-period", "1s",
                "--healthz-bind-address",
                f"127.0.0.1:{self.health_port if n == 1 else 0}"]

    def start(self, n: int) -> None:
        self.procs[n] = service(f"netagent-{n}", "netagent", self.argv(n))

    def pause(self, n: int) -> None:
        proc = self.procs[n].proc
        assert proc is not None
        os.killpg(proc.pid, signal.SIGSTOP)

    def resume(self, n: int) -> None:
        proc = self.procs[n].proc
        assert proc is not None
        os.killpg(proc.pid, signal.SIGCONT)

    def stop_all(self) -> None:
        for p in self.procs.values():
            p.stop()


def _node(n: int, ip: str | None = None) -> Node:
    return Node.from_dict({
        "metadata": {"name": f"nt-{n}"},
        "spec": {"podCIDR": cidr_of(n), "podCIDRs": [cidr_of(n)]},
        "status": {"addresses": [{"type": "InternalIP", "address": ip or nt.node_ip(n)},
                                 {"type": "Hostname", "address": f"nt-{n}"}]}})


@pytest.fixture(scope="module")
def agents(topology: None, server_url: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Agents]:
    with Client(server_url) as c:
        for n in NODES:
            c.create(_node(n))
    a = Agents(server_url, tmp_path_factory.mktemp("netagent"))
    for n in NODES:
        a.start(n)
    try:
        yield a
    finally:
        a.stop_all()


def routes(n: int) -> dict[str, str]:
    """dst -> 'via GW dev DEV' (or 'unreachable') of the agent's routes in node n."""
    out = json.loads(nt.in_ns(nt.node_ns(n), "ip", "-j", "-4", "route", "show", "proto",
                              rules.ROUTE_PROTO).stdout or "[]")
    return {r["dst"]: ("unreachable" if r.get("type") == "unreachable"
                       else f"via {r.get('gateway')} dev {r.get('dev')}") for r in out}


def expected_routes(n: int, peers: dict[int, str]) -> dict[str, str]:
    want = {nt.CLUSTER: "unreachable"}
    want.update({cidr_of(p): f"via {ip} dev eth0" for p, ip in peers.items() if p != n})
    return want


def saved(n: int | str, table: str = "filter") -> str:
    ns = n if isinstance(n, str) else nt.node_ns(n)
    return nt.in_ns(ns, "iptables-save", "-c", "-t", table).stdout


def host_reject_count() -> int:
    c = rules.counters(saved(nt.HOST_NS), f"-A {rules.HOST_CHAIN} -d {nt.CLUSTER} {rules.REJECT}")
    assert c is not None, saved(nt.HOST_NS)
    return c[0]


def reject_count(n: int) -> int:
    c = rules.counters(saved(n), f"-A {rules.CHAIN} -d {nt.CLUSTER} {rules.REJECT}")
    assert c is not None, saved(n)
    return c[0]


def test_conflist_guard_and_routes(agents: Agents) -> None:
    peers = {n: nt.node_ip(n) for n in NODES}
    for n in NODES:
        wait_for(lambda n=n: agents.conflist(n).exists(), timeout=60,  # type: ignore[misc]
                 message=f"conflist of node {n}")
        wait_for(lambda n=n: routes(n) == expected_routes(n, peers), timeout=30,  # type: ignore[misc]
                 message=f"routes of node {n}")
    conf = json.loads(agents.conflist(1).read_text())
    assert conf["name"] == rules.CNI_NETWORK and conf["cniVersion"] == rules.CNI_VERSION
    bridge, portmap = conf["plugins"]
    assert bridge["type"] == "bridge" and bridge["bridge"] == "cni0"
    assert bridge["isGateway"] is True and bridge["ipMasq"] is False
    assert bridge["ipam"]["type"] == "host-local"
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.251.1.0/24", "gateway": "10.251.1.1"}]]
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}}
    assert json.loads((agents.conf_dir(1) / rules.LOOPBACK_NAME).read_text())["type"] == \
        "loopback"
    # the guard: jumped to first from OUTPUT and FORWARD; peers' CIDRs via eth0, own on cni0
    f = saved(1)
    for chain in ("OUTPUT", "FORWARD"):
        first = rules.chain_rules(f, chain)[0]
        assert first.endswith(f"-j {rules.CHAIN}"), f
    assert rules.chain_rules(f, rules.CHAIN) == [
        f"-A {rules.CHAIN} -o lo -j RETURN",
        f"-A {rules.CHAIN} -d 10.251.1.0/24 -o cni0 -j RETURN",
        f"-A {rules.CHAIN} -s 10.251.1.0/24 ! -d {nt.CLUSTER} -i cni0 -j RETURN",
        f"-A {rules.CHAIN} -d 10.251.2.0/24 -o eth0 -j RETURN",
        f"-A {rules.CHAIN} -d 10.251.3.0/24 -o eth0 -j RETURN",
        f"-A {rules.CHAIN} -d {nt.CLUSTER} {rules.REJECT}",
        f"-A {rules.CHAIN} -s {nt.CLUSTER} {rules.REJECT}"]
    assert rules.chain_rules(saved(1, "nat"), rules.MASQ_CHAIN) == [
        f"-A {rules.MASQ_CHAIN} -s 10.251.1.0/24 ! -d {nt.CLUSTER} -j MASQUERADE"]
    body = json.loads(urllib.request.urlopen(
        f"http://127.0.0.1:{agents.health_port}/healthz", timeout=20).read())
    assert body["podCIDR"] == "10.251.1.0/24" and body["iface"] == "eth0"
    assert body["routes"] == ["10.251.2.0/24", "10.251.3.0/24"]


def test_pods_on_two_nodes_reach_each_other_and_nothing_leaks(agents: Agents) -> None:
    wait_for(lambda: agents.conflist(1).exists() and agents.conflist(2).exists(), timeout=60)
    wait_for(lambda: cidr_of(2) in routes(1) and cidr_of(1) in routes(2), timeout=30)
    a, b = f"{nt.PREFIX}1a", f"{nt.PREFIX}2a"
    ip_a = nt.cni_add(1, a, agents.conflist(1))
    ip_b = nt.cni_add(2, b, agents.conflist(2))
    try:
        assert ip_a.startswith("10.251.1.") and ip_b.startswith("10.251.2.")
        r = nt.ping(a, ip_b, count=2)
        assert r.returncode == 0, r.stdout + r.stderr
        assert nt.ping(b, ip_a).returncode == 0
        # the node reaches the other node's pod too (OUTPUT via eth0)
        assert nt.ping(nt.node_ns(1), ip_b).returncode == 0
        leaked, out = nt.host_leak_count(), nt.outside_count()
        # a cluster address no node has: the unreachable route answers at once
        got = nt.in_ns(nt.node_ns(1), "ip", "route", "get", "10.251.9.9", check=False)
        assert got.returncode != 0 and "No route to host" in got.stderr, got
        for ns in (a, nt.node_ns(1)):  # from a pod and from the node: no route, at once
            what, secs = nt.connect(ns, "10.251.9.9")
            assert what == "OSError" and secs < 1.5, (ns, what, secs)
        # the host's guard (bridged node-to-node traffic passes its FORWARD)
        hg = Process("netagent-host", [sys.executable, "-m", "netagent", "--host-guard",
                                       "--netns", nt.HOST_NS, "--cluster-cidr", nt.CLUSTER,
                                       "--node-bridge", nt.BRIDGE]).start()
        assert hg.proc is not None and hg.proc.wait(30) == 0, hg.log_tail()
        assert rules.chain_rules(saved(nt.HOST_NS), rules.HOST_CHAIN) == \
            rules.host_rules(nt.CLUSTER, nt.BRIDGE)
        assert nt.ping(a, ip_b).returncode == 0
        # the agent paused; what it installed removed behind its back
        agents.pause(1)
        try:
            # without the unreachable route, the REJECT catches what would now follow the
            # node's default route
            before = reject_count(1)
            nt.in_ns(nt.node_ns(1), "ip", "route", "del", "unreachable", nt.CLUSTER)
            for ns in (a, nt.node_ns(1)):
                what, secs = nt.connect(ns, "10.251.9.9")
                assert what == "ConnectionRefusedError" and secs < 1.5, (ns, what, secs)
            assert reject_count(1) >= before + 2
            assert nt.host_leak_count() == leaked  # no packet took the default route
            # without the node's guard either, the host's refuses it on its way out
            nt.in_ns(nt.node_ns(1), "iptables", "-D", "FORWARD", *rules.NODE_JUMPS[1].args())
            # (its ICMP answer, addressed to the pod, would take the host's default route
            # too: the guard drops that as well, so the pod sees no answer)
            host_before = host_reject_count()
            what, secs = nt.connect(a, "10.251.9.9", timeout=1.0)
            assert what in ("ConnectionRefusedError", "TimeoutError"), (what, secs)
            assert host_reject_count() > host_before
            # and the host's own packets for the cluster CIDR through its default route
            what, secs = nt.connect(nt.HOST_NS, "10.251.9.9")
            assert what == "ConnectionRefusedError" and secs < 1.5, (what, secs)
            assert nt.outside_count() == out  # nothing left the "machine"
        finally:
            agents.resume(1)
        # the agent puts back what was removed
        wait_for(lambda: routes(1).get(nt.CLUSTER) == "unreachable", timeout=20,
                 message="the unreachable route back")
        wait_for(lambda: any(line.endswith(f"-j {rules.CHAIN}")
                             for line in rules.chain_rules(saved(1), "FORWARD")), timeout=20,
                 message="the FORWARD jump back")
        assert nt.ping(a, ip_b).returncode == 0
        # packets the host routes onto the nodes' bridge stay on the machine: allowed
        nt.in_ns(nt.HOST_NS, "ip", "route", "add", cidr_of(1), "via", nt.node_ip(1))
        assert nt.ping(nt.HOST_NS, ip_a).returncode == 0
        nt.in_ns(nt.HOST_NS, "ip", "route", "del", cidr_of(1))
        clean = Process("netagent-host-clean", [
            sys.executable, "-m", "netagent", "--host-guard", "--cleanup", "--netns",
            nt.HOST_NS]).start()
        assert clean.proc is not None and clean.proc.wait(30) == 0, clean.log_tail()
        assert rules.HOST_CHAIN not in saved(nt.HOST_NS)
    finally:
        nt.cni_del(1, a, agents.conflist(1))
        nt.cni_del(2, b, agents.conflist(2))


def test_host_port_through_portmap(agents: Agents) -> None:
    # the conflist's portmap plugin: hostPort on node 2's address reaches the pod, from
    # another node and from a pod there
    wait_for(lambda: agents.conflist(2).exists(), timeout=60)
    wait_for(lambda: cidr_of(2) in routes(1), timeout=30)
    pod, client_pod = f"{nt.PREFIX}2p", f"{nt.PREFIX}1p"
    ports = [{"hostPort": 18080, "containerPort": 8080, "protocol": "tcp"}]
    nt.cni_add(2, pod, agents.conflist(2), ports)
    nt.cni_add(1, client_pod, agents.conflist(1))
    try:
        for ns in (nt.node_ns(1), client_pod):
            server = nt.serve_once(pod, 8080)
            try:
                wait_for(lambda: "8080" in nt.in_ns(pod, "ss", "-ltn").stdout, timeout=20,
                         message="the pod listening")
                assert nt.fetch(ns, nt.node_ip(2), 18080) == "hello from the pod"
            finally:
                server.kill()
                server.wait(10)
    finally:
        nt.cni_del(2, pod, agents.conflist(2), ports)
        nt.cni_del(1, client_pod, agents.conflist(1))


async def test_routes_follow_the_nodes(agents: Agents, client: AsyncClient) -> None:
    peers = {n: nt.node_ip(n) for n in NODES}
    for n in NODES:
        wait_for(lambda n=n: routes(n) == expected_routes(n, peers), timeout=30,  # type: ignore[misc]
                 message=f"routes of node {n}")
    # a Node the kernel will not route to (its address is off the nodes' link): reported,
    # and the other routes stay
    await client.create(Node.from_dict({
        "metadata": {"name": "nt-99"}, "spec": {"podCIDR": "10.251.99.0/24"},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.99"}]}}))

    def route_errors() -> dict[str, str]:
        body = json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{agents.health_port}/healthz", timeout=20).read())
        return dict(body.get("routeErrors") or {})

    await async_wait_for(lambda: "10.251.99.0/24" in route_errors(), timeout=30,
                         message="the unroutable peer reported")
    assert routes(1) == expected_routes(1, peers)
    await client.delete(Node, "nt-99")
    await async_wait_for(lambda: not route_errors(), timeout=30, message="report gone")
    # node 3 goes: its route goes everywhere, and its CIDR from the guards
    await client.delete(Node, "nt-3")
    del peers[3]
    for n in (1, 2):
        await async_wait_for(lambda n=n: routes(n) == expected_routes(n, peers),  # type: ignore[misc]
                             timeout=30, message=f"route to nt-3 gone from node {n}")
    assert f"-d {cidr_of(3)} " not in saved(1)
    # node 2 changes address: the route is replaced
    nt.in_ns(nt.node_ns(2), "ip", "addr", "add", "10.250.0.22/24", "dev", "eth0")
    await client.patch(Node, "nt-2", {"status": {"addresses": [
        {"type": "InternalIP", "address": "10.250.0.22"}]}}, subresource="status")
    peers[2] = "10.250.0.22"
    await async_wait_for(lambda: routes(1) == expected_routes(1, peers), timeout=30,
                         message="route to nt-2 replaced")
    # node 3 comes back without a podCIDR, and the controller-manager's node IPAM gives it
    # the first free one (10.251.0.0/24: .1 and .2 are taken); its agent rewrites its
    # conflist, the others route the new CIDR to it
    node3 = _node(3)
    assert node3.spec is not None
    node3.spec.pod_cidr, node3.spec.pod_cidrs = None, None
    await client.create(node3)
    cm = start_controller_manager(agents.server, "--controllers=nodeipam",
                                  "--allocate-node-cidrs", "--cluster-cidr", nt.CLUSTER)
    try:
        peers[3] = nt.node_ip(3)
        for n in (1, 2):
            await async_wait_for(
                lambda n=n: routes(n) == {**expected_routes(n, {k: v for k, v in peers.items()  # type: ignore[misc]
                                                                if k != 3}),
                                          "10.251.0.0/24": f"via {nt.node_ip(3)} dev eth0"},
                timeout=40, message=f"route to nt-3's new podCIDR on node {n}")
        await async_wait_for(
            lambda: '"subnet": "10.251.0.0/24"' in agents.conflist(3).read_text(),
            timeout=30, message="node 3's conflist rewritten")
    finally:
        cm.stop()


def test_a_restarted_agent_rewrites_nothing(agents: Agents) -> None:
    # the state it left is what it wants: nothing written again (no window without the
    # peers' RETURN rules), and healthy again
    peers = {n: nt.node_ip(n) for n in (1, 2)}
    wait_for(lambda: all(cidr_of(p) in routes(1) for p in peers if p != 1), timeout=30)
    agents.procs[1].stop()
    agents.start(1)

    def metrics() -> dict[str, float]:
        text = urllib.request.urlopen(f"http://127.0.0.1:{agents.health_port}/metrics",
                                      timeout=20).read().decode()
        return {ln.split()[0]: float(ln.split()[1]) for ln in text.splitlines()
                if ln and not ln.startswith("#")}

    def back() -> dict[str, float] | None:
        try:
            d = metrics()
        except OSError:
            return None
        return d if d.get("minik8s_netagent_syncs_total", 0) >= 2 else None

    m = wait_for(back, timeout=60, message="the agent back")
    assert m is not None and m["minik8s_netagent_repairs_total"] == 0, m
    assert m["minik8s_netagent_sync_failures_total"] == 0, m


def test_cleanup_leaves_nothing(agents: Agents) -> None:
    wait_for(lambda: agents.conflist(3).exists() and len(routes(3)) > 1, timeout=30)
    agents.procs[3].stop()
    p = Process("netagent-clean-3", [sys.executable, "-m", "netagent", "--cleanup", "--netns",
                                     nt.node_ns(3), "--cni-conf-dir",
                                     str(agents.conf_dir(3))]).start()
    assert p.proc is not None and p.proc.wait(20) == 0, p.log_tail()
    f, nat = saved(3), saved(3, "nat")
    assert "MINIK8S" not in f and "MINIK8S" not in nat, f + nat
    assert routes(3) == {}
    assert sorted(x.name for x in agents.conf_dir(3).iterdir()) == []
    # the default route and the node's address are untouched
    assert "default via 10.250.0.1" in nt.in_ns(nt.node_ns(3), "ip", "route").stdout
