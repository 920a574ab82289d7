"""The proxier against real iptables (nf_tables) in a private network namespace: what a
sync leaves in the kernel, partial syncs, stale chains after a Service goes (also across a
restart), the guards, and --cleanup. No traffic: the namespace is thrown away at the end."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator, Sequence

import pytest

from api.models import Service
from api.models.discovery import EndpointSlice
from proxy import iptables, nftables, rules
from proxy.proxier import Proxier
from testing.support import unique
from tests.proxy.helpers import MODES, needs_iptables, needs_nft

pytestmark = needs_iptables

CIDR = "10.96.0.0/12"


@pytest.fixture
def netns() -> Iterator[str]:
    name = unique("m8sproxy")
    sh("ip", "netns", "add", name)
    yield name
    sh("ip", "netns", "del", name)


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def save(ns: str, table: str) -> str:
    return sh("ip", "netns", "exec", ns, "iptables-save", "-t", table)


def svc(name: str, ip: str, *, node_port: int = 0) -> Service:
    port: dict[str, object] = {"name": "http", "port": 80, "targetPort": 8080}
    if node_port:
        port["nodePort"] = node_port
    return Service.model_validate({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"clusterIP": ip, "type": "NodePort" if node_port else "ClusterIP",
                 "ports": [port]}})


def eps(svc_name: str, *ips: str) -> EndpointSlice:
    return EndpointSlice.model_validate({
        "metadata": {"name": f"{svc_name}-abc", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": svc_name}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]})


def delete_guard(netns: str) -> None:
    rules_out = sh("ip", "netns", "exec", netns, "iptables", "-S", "OUTPUT").splitlines()
    n = next(i for i, line in enumerate(rules_out) if rules.GUARD_COMMENT in line)  # -P is 0
    sh("ip", "netns", "exec", netns, "iptables", "-D", "OUTPUT", str(n))
    assert save(netns, "filter").count(rules.GUARD_COMMENT) == 1


class Recording(iptables.Iptables):
    """The real runner, recording the commands it runs."""

    def __init__(self, netns: str) -> None:
        super().__init__(netns=netns)
        self.argvs: list[list[str]] = []

    async def run(self, argv: Sequence[str], stdin: bytes | None = None,
                  check: bool = True) -> tuple[int, bytes]:
        self.argvs.append(list(argv))
        return await super().run(argv, stdin, check)


@pytest.mark.parametrize("mode", MODES)
async def test_partial_sync_runs_one_command_and_the_timer_checks_guards(
        netns: str, mode: str) -> None:
    """A one-endpoint change costs one restore (or nft) and no guard check; the guards are
    re-checked on full syncs and by their own timer, which puts a deleted one back."""
    ipt = Recording(netns)
    px = Proxier(ipt, rules.ProxyConfig(), CIDR, mode=mode, guard_check_period=0.2)
    await iptables.ensure_guards(ipt, CIDR)
    px.on_service(svc("a", "10.96.0.11"))
    px.on_slice(eps("a", "10.244.1.1", "10.244.1.2"))
    await px.sync()
    assert px.stats.guard_checks == 1  # the first (full) sync
    ipt.argvs.clear()
    px.on_slice(eps("a", "10.244.1.1"))
    await px.sync()
    assert [a[0] for a in ipt.argvs] == ["iptables-restore" if mode == "iptables" else "nft"]
    assert px.stats.guard_checks == 1

    delete_guard(netns)
    stop = asyncio.Event()
    task = asyncio.create_task(px.run(stop))
    try:
        deadline = time.monotonic() + 10
        while px.stats.guards_reinserted < 1:
            assert time.monotonic() < deadline, "the guard timer did not put the guard back"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert px.stats.guards_reinserted == 1


def ours(saved: str) -> set[str]:
    return {c for c in iptables.chains_in(saved) if c.startswith("KUBE-")}


async def test_sync_partial_stale_restart_cleanup(netns: str) -> None:
    ipt = iptables.Iptables(netns=netns)
    px = Proxier(ipt, rules.ProxyConfig(cluster_cidr="10.244.0.0/16"), CIDR)
    px.on_service(svc("a", "10.96.0.11"))
    px.on_service(svc("b", "10.96.0.12", node_port=30012))
    px.on_slice(eps("a", "10.244.1.1", "10.244.1.2"))
    px.on_slice(eps("b", "10.244.1.3"))
    await px.sync()

    flt, nat = save(netns, "filter"), save(netns, "nat")
    guard = (f'-d {CIDR} -m comment --comment "{rules.GUARD_COMMENT}" '
             "-j REJECT --reject-with icmp-port-unreachable")
    assert f"-A OUTPUT {guard}" in flt.splitlines()
    assert f"-A FORWARD {guard}" in flt.splitlines()
    a_svc = rules.service_chain("default/a:http", "tcp")
    b_svc = rules.service_chain("default/b:http", "tcp")
    b_ext = rules.external_chain("default/b:http", "tcp")
    a_seps = {rules.endpoint_chain("default/a:http", "tcp", f"10.244.1.{i}:8080")
              for i in (1, 2)}
    b_sep = rules.endpoint_chain("default/b:http", "tcp", "10.244.1.3:8080")
    assert ours(nat) == {*rules.NAT_TOP_CHAINS, a_svc, b_svc, b_ext, *a_seps, b_sep}
    assert "-A PREROUTING -m comment --comment \"kubernetes service portals\" " \
           "-j KUBE-SERVICES" in nat
    assert "-j DNAT --to-destination 10.244.1.3:8080" in nat
    assert "--dport 30012 -j " + b_ext in nat
    assert px.stats.full_syncs == 1

    # one endpoint of a changes: only a's chains are written, b's stay as they are
    px.on_slice(eps("a", "10.244.1.1"))
    rs = await px.sync()
    assert rs.services_written == {"default/a"} and rs.written_service_chains == 2
    nat = save(netns, "nat")
    gone = rules.endpoint_chain("default/a:http", "tcp", "10.244.1.2:8080")
    assert gone not in ours(nat) and b_sep in ours(nat)
    assert "10.244.1.2" not in nat

    # b loses its endpoints: its chains go, a REJECT for its cluster IP and node port comes
    px.on_slice_delete(eps("b"))
    rs = await px.sync()
    nat, flt = save(netns, "nat"), save(netns, "filter")
    assert not ({b_svc, b_ext, b_sep} & ours(nat))
    assert "default/b:http has no endpoints" in flt and "--dport 30012" in flt

    # a restart while a was deleted: the new proxier's first (full) sync finds a's chains
    # in the kernel and deletes them
    px2 = Proxier(ipt, rules.ProxyConfig(), CIDR)
    px2.on_service(svc("b", "10.96.0.12", node_port=30012))
    rs = await px2.sync()
    nat = save(netns, "nat")
    assert ours(nat) == set(rules.NAT_TOP_CHAINS)
    assert rs.deleted_chains == 2  # a's SVC and its remaining SEP
    # the jump rules are not duplicated by the second proxier's ensure
    assert nat.count("-j KUBE-SERVICES") == 2  # PREROUTING, OUTPUT
    assert save(netns, "filter").count(rules.GUARD_COMMENT) == 2

    # a deleted guard is put back on the next full sync (partial ones leave it to the timer)
    delete_guard(netns)
    await px2.sync(full=True)
    assert save(netns, "filter").count(rules.GUARD_COMMENT) == 2
    assert px2.stats.guards_reinserted == 1

    # --cleanup: nothing of ours is left in either table
    await iptables.cleanup(ipt, CIDR)
    nat, flt = save(netns, "nat"), save(netns, "filter")
    assert "KUBE-" not in nat and "KUBE-" not in flt
    assert rules.GUARD_COMMENT not in flt


def nft_list(ns: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "table", "ip",
                           "kube-proxy"], capture_output=True, text=True).stdout


@needs_nft
async def test_nftables_sync_partial_stale_restart_cleanup(netns: str) -> None:
    ipt = iptables.Iptables(netns=netns)
    px = Proxier(ipt, rules.ProxyConfig(cluster_cidr="10.244.0.0/16"), CIDR,
                 mode="nftables")
    px.on_service(svc("a", "10.96.0.11"))
    px.on_service(svc("b", "10.96.0.12", node_port=30012))
    px.on_slice(eps("a", "10.244.1.1", "10.244.1.2"))
    px.on_slice(eps("b", "10.244.1.3"))
    await px.sync()
    await iptables.ensure_guards(ipt, CIDR)
    table = nft_list(netns)
    sa = nftables.service_chain(rules.ServicePortInfo("default", "a", "http", "TCP",
                                                      "10.96.0.11", 80))
    sb = nftables.service_chain(rules.ServicePortInfo("default", "b", "http", "TCP",
                                                      "10.96.0.12", 80))
    assert f"chain {sa}" in table and f"chain {sb}" in table
    assert "numgen random mod 2 map { 0 : 10.244.1.1 . 8080, 1 : 10.244.1.2 . 8080 }" in table
    assert f"10.96.0.11 . tcp . 80 : goto {sa}" in table
    assert "tcp . 30012 : goto external-" in table
    assert "type nat hook output priority -100" in table

    # one endpoint of a goes: a's chain rewritten, b's untouched
    px.on_slice(eps("a", "10.244.1.1"))
    rs = await px.sync()
    assert rs.services_written == {"default/a"}
    table = nft_list(netns)
    assert "10.244.1.2 " not in table, table
    assert "meta l4proto tcp dnat to 10.244.1.1:8080" in table

    # b loses its endpoints: its chains go, its IP:port and node port map to reject-chain
    px.on_slice_delete(eps("b"))
    await px.sync()
    table = nft_list(netns)
    assert f"chain {sb}" not in table and "external-" not in table
    assert "10.96.0.12 . tcp . 80 : goto reject-chain" in table
    assert "tcp . 30012 : goto reject-chain" in table

    # a restart while a was deleted: the first (full) sync deletes a's chain
    px2 = Proxier(ipt, rules.ProxyConfig(), CIDR, mode="nftables")
    px2.on_service(svc("b", "10.96.0.12", node_port=30012))
    rs = await px2.sync()
    table = nft_list(netns)
    assert f"chain {sa}" not in table and rs.deleted_chains == 1
    assert "chain service-endpoints-check" in table and "chain services" in table

    # --cleanup: the table goes (and the iptables side's guards)
    assert await nftables.cleanup(ipt)
    await iptables.cleanup(ipt, CIDR)
    assert nft_list(netns) == ""
    assert rules.GUARD_COMMENT not in save(netns, "filter")
