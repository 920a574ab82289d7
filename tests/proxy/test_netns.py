"""The proxier against real iptables (nf_tables) in a private network namespace: what a
sync leaves in the kernel, partial syncs, stale chains after a Service goes (also across a
restart), the guards, and --cleanup. No traffic: the namespace is thrown away at the end."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from api.models import Service
from api.models.discovery import EndpointSlice
from proxy import iptables, rules
from proxy.proxier import Proxier
from testing.support import unique
from tests.proxy.helpers import needs_iptables

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

    # a deleted guard is put back on the next sync
    rules_out = sh("ip", "netns", "exec", netns, "iptables", "-S", "OUTPUT").splitlines()
    n = next(i for i, line in enumerate(rules_out) if rules.GUARD_COMMENT in line)  # -P is 0
    sh("ip", "netns", "exec", netns, "iptables", "-D", "OUTPUT", str(n))
    assert save(netns, "filter").count(rules.GUARD_COMMENT) == 1
    await px2.sync()
    assert save(netns, "filter").count(rules.GUARD_COMMENT) == 2
    assert px2.stats.guards_reinserted == 1

    # --cleanup: nothing of ours is left in either table
    await iptables.cleanup(ipt, CIDR)
    nat, flt = save(netns, "nat"), save(netns, "filter")
    assert "KUBE-" not in nat and "KUBE-" not in flt
    assert rules.GUARD_COMMENT not in flt
