"""The agent's rules in the kernel, in a private network namespace (no pods, no traffic):
every shape of policy is accepted by ipset and iptables-restore (TCP, UDP and SCTP ports,
ranges, named ports, ipBlocks with except); a restarted agent adopts and replaces what the
last one left; --cleanup leaves nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from proxy.iptables import Iptables
from proxy.netpol import rules
from proxy.netpol.agent import Agent
from proxy.netpol.rules import PodInfo
from testing.support import unique
from tests.netpol.helpers import usable

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or usable() == "needs ipset",
                                reason="needs root and ipset")


def netns_sh(ns: str, *argv: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], check=True,
                          capture_output=True, text=True, timeout=30).stdout


@pytest.fixture
def netns() -> Iterator[str]:
    name = unique("np-test")[:30]
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)


POLICIES = [
    {"metadata": {"namespace": "x", "name": "all-shapes"}, "spec": {
        "podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "a"}}},
                              {"namespaceSelector": {"matchLabels": {"ns": "y"}}},
                              {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}],
                     "ports": [{"port": 80, "protocol": "TCP"},
                               {"port": 5000, "endPort": 5100, "protocol": "UDP"},
                               {"port": 9000, "protocol": "SCTP"},
                               {"port": "http", "protocol": "TCP"},
                               {"protocol": "UDP"}]}],
        "egress": [{"to": [{"namespaceSelector": {}, "podSelector": {}}],
                    "ports": [{"port": 53, "protocol": "UDP"}, {"port": "dns", "protocol": "UDP"}]}]}},
    {"metadata": {"namespace": "y", "name": "deny"}, "spec": {"podSelector": {}}},
]


def program(ns: str, policies: list[dict[str, object]]) -> Agent:
    async def go() -> Agent:
        a = Agent(Iptables(netns=ns))
        await a.adopt()
        a.cluster.ns_labels = {"x": {"ns": "x"}, "y": {"ns": "y"}}
        a.set_pod(PodInfo("x", "a", "10.244.0.2", {"app": "a"},
                          (("http", "TCP", 8080), ("dns", "UDP", 53))), "x", "a")
        a.set_pod(PodInfo("y", "b", "10.244.0.3", {"app": "b"}, ()), "y", "b")
        for p in policies:
            a.set_policy(p)
        await a.sync()
        return a
    return asyncio.run(go())


def ours(ns: str) -> tuple[list[str], list[str]]:
    chains = [line.split()[0][1:] for line in netns_sh(ns, "iptables-save", "-t", "filter")
              .splitlines() if line.startswith(f":{rules.PREFIX}")]
    sets = [n for n in netns_sh(ns, "ipset", "list", "-n").split()
            if n.startswith(rules.PREFIX)]
    return sorted(chains), sorted(sets)


def test_all_shapes_restart_and_cleanup(netns: str) -> None:
    a = program(netns, POLICIES)
    chains, sets = ours(netns)
    assert sorted(a.chains) == chains and sorted(a.sets) == sets
    saved = netns_sh(netns, "iptables-save", "-t", "filter")
    assert "-m sctp --dport 9000" in saved and "-m udp --dport 5000:5100" in saved
    members = netns_sh(netns, "ipset", "list", rules.ISO_IN)
    assert "10.244.0.2" in members and "10.244.0.3" in members
    # a new agent with one policy fewer: what the first left and is no longer wanted goes
    b = program(netns, POLICIES[1:])
    assert ours(netns) == (sorted(b.chains), sorted(b.sets))
    assert not any("all-shapes" in line for line in
                   netns_sh(netns, "iptables-save", "-t", "filter").splitlines())
    out = subprocess.run([sys.executable, "-m", "proxy.netpol", "--cleanup", "--netns", netns],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert ours(netns) == ([], [])
    assert rules.TOP_CHAIN not in netns_sh(netns, "iptables-save", "-t", "filter")
