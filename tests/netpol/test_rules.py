"""The policy agent's rules and incremental syncs without the kernel: the chains a policy
makes, the members of its shared ipsets, and what a pod, namespace or policy change
writes (an Iptables that records the restore input instead of running it)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from proxy.iptables import Iptables
from proxy.netpol import rules
from proxy.netpol.agent import Agent, ipset_text, iptables_text
from proxy.netpol.rules import PodInfo


class Recorder(Iptables):
    """Records the ipset and iptables-restore input; runs nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    async def run(self, argv: Sequence[str], stdin: bytes | None = None,
                  check: bool = True) -> tuple[int, bytes]:
        self.calls.append((" ".join(argv), (stdin or b"").decode()))
        return (1 if "-C" in argv else 0), b""  # no rule is there yet


def pod(ns: str, name: str, ip: str, **labels: str) -> PodInfo:
    return PodInfo(ns, name, ip, labels, (("http", "TCP", 8080),))


def policy(ns: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name},
            "spec": {"podSelector": {}, **spec}}


def test_chains_of_a_policy() -> None:
    pol = rules.parse_policy(policy("x", "p", podSelector={"matchLabels": {"app": "db"}},
                                    ingress=[{"from": [{"podSelector": {}},
                                                       {"ipBlock": {"cidr": "10.0.0.0/8"}}],
                                              "ports": [{"port": 80, "endPort": 90,
                                                         "protocol": "TCP"},
                                                        {"port": "http", "protocol": "TCP"}]},
                                             {}]))
    assert pol.egress is None and pol.ingress is not None
    lines = rules.policy_chains(pol)[pol.in_chain]
    # 2 peers x 2 ports for the first rule, one allow-all line for the empty rule
    assert len(lines) == 5
    assert "-p tcp -m tcp --dport 80:90" in lines[0] and "src" in lines[0]
    assert "dst,dst" in lines[1]
    assert lines[4] == (f'-A {pol.in_chain} -m comment --comment "x/p ingress[1]" '
                        f"-j MARK --set-xmark {rules.ALLOW_MARK}")
    # a default-deny policy has an empty chain: nothing sets the allow bit
    deny = rules.parse_policy(policy("x", "d", policyTypes=["Ingress", "Egress"]))
    assert rules.policy_chains(deny) == {deny.in_chain: [], deny.out_chain: []}
    # the same peers in two policies share one set
    again = rules.parse_policy(policy("x", "q", ingress=[{"from": [{"podSelector": {}}]}]))
    assert set(again.sets) - {again.target.name} <= set(pol.sets)


def test_set_members_and_block_entries() -> None:
    c = rules.Cluster()
    c.ns_labels = {"x": {"team": "a"}, "y": {"team": "b"}}
    for p in (pod("x", "a", "10.0.0.1", app="web"), pod("y", "b", "10.0.0.2", app="web"),
              pod("y", "c", "10.0.0.3", app="db")):
        c.set_pod(p)
    both = rules.pods_set("x", {"matchLabels": {"app": "web"}},
                          {"matchLabels": {"team": "b"}}, all_ns=True)
    assert c.members(both) == {"10.0.0.2"}
    named = rules.pods_set("", {}, {}, all_ns=True, kind="named", port_name="http",
                           protocol="TCP")
    assert c.members(named) == {f"10.0.0.{i},tcp:8080" for i in (1, 2, 3)}
    block = rules.SetDef("block", cidr="0.0.0.0/0", excepts=("10.0.0.0/8",))
    assert c.members(block) == {"0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/8 nomatch"}


def test_restore_texts() -> None:
    old = {"A": ("hash:ip", frozenset({"1.1.1.1", "2.2.2.2"})), "B": ("hash:ip", frozenset())}
    new = {"A": ("hash:ip", frozenset({"2.2.2.2", "3.3.3.3"})),
           "C": ("hash:net", frozenset({"10.0.0.0/8 nomatch"}))}
    text, gone = ipset_text(old, new)
    assert sorted(text.splitlines()) == sorted([
        "del A 1.1.1.1 -exist", "add A 3.3.3.3 -exist",
        "create C hash:net family inet -exist", "add C 10.0.0.0/8 nomatch -exist"])
    assert gone == ["B"]
    # a set in an unknown state (adopted, or after a failed sync): created, then emptied
    text, _ = ipset_text({"A": ("?", frozenset())}, {"A": ("hash:ip", frozenset({"1.1.1.1"}))})
    assert text.splitlines() == ["create A hash:ip family inet -exist", "flush A",
                                 "add A 1.1.1.1 -exist"]
    assert iptables_text({"X": ["-A X -j RETURN"]}, {"X": ["-A X -j RETURN"]}) == ""
    assert iptables_text({"X": ["a"], "Y": ["b"]}, {"X": ["-A X -j DROP"]}) == (
        "*filter\n:X - [0:0]\n:Y - [0:0]\n-A X -j DROP\n-X Y\nCOMMIT\n")


def test_incremental_syncs() -> None:
    async def go() -> None:
        ipt = Recorder()
        a = Agent(ipt)
        a.cluster.ns_labels = {"x": {"ns": "x"}, "y": {"ns": "y"}}
        a.set_pod(pod("x", "a", "10.0.0.1", app="web"), "x", "a")
        a.set_pod(pod("y", "b", "10.0.0.2", app="client"), "y", "b")
        a.set_policy(policy("x", "allow", podSelector={"matchLabels": {"app": "web"}},
                            ingress=[{"from": [{"namespaceSelector": {},
                                                "podSelector": {"matchLabels": {
                                                    "app": "client"}}}]}]))
        await a.sync()
        first = "".join(t for _, t in ipt.calls)
        assert "add MK8S-NP-ISO-IN 10.0.0.1" in first and rules.TOP_CHAIN in first
        assert any("-I FORWARD 1" in cmd for cmd, _ in ipt.calls)
        # a pod that joins a peer selection: one ipset add, no iptables restore
        ipt.calls.clear()
        a.set_pod(pod("y", "c", "10.0.0.3", app="client"), "y", "c")
        await a.sync()
        assert [c for c, _ in ipt.calls] == ["ipset restore"], ipt.calls
        assert ipt.calls[0][1].splitlines() == [
            next(ln for ln in ipt.calls[0][1].splitlines() if "10.0.0.3" in ln)]
        # a pod nothing selects: nothing written
        ipt.calls.clear()
        a.set_pod(pod("y", "d", "10.0.0.4", app="other"), "y", "d")
        await a.sync()
        assert ipt.calls == []
        # the same spec again: no change at all
        a.wake.clear()
        a.set_policy(policy("x", "allow", podSelector={"matchLabels": {"app": "web"}},
                            ingress=[{"from": [{"namespaceSelector": {},
                                                "podSelector": {"matchLabels": {
                                                    "app": "client"}}}]}]))
        assert not a.wake.is_set()
        a.delete_policy("x", "allow")
        await a.sync()
        text = "".join(t for _, t in ipt.calls)
        assert "-X MK8S-NP-I-" in text and "destroy MK8S-NPS-" in text
        assert a.defs == {} and a.members == {}
    asyncio.run(go())
