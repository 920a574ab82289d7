"""Network policy agent benchmark: programming time against the restore of the same rules.

    .venv/bin/python bench/netpol.py [--pods 1000] [--policies 200] [--namespaces 20]
                                     [--changes 20] [--repeats 3]

In private network namespaces (``ip netns add``; the host's tables are not touched), the
agent's state is filled with N hollow pods (addresses, labels, a named port) and P
NetworkPolicies of the usual shapes (ingress from labelled pods, from labelled namespaces,
both, an ipBlock with except, numeric and named ports, egress rules), then:

1. full: from the first informer event to the agent's first sync done, into empty tables
   (every set's members and chain computed, then ``ipset restore`` and
   ``iptables-restore --noflush``), repeated in fresh namespaces;
   baseline: the same ipset and iptables text alone, restored into another fresh namespace.
   Goal: <= 2 s.
2. one pod's change: a pod's labels change (it moves in or out of several policies'
   selections) and the agent syncs; baseline: the same ipset and iptables lines restored
   alone. Goal: <= 100 ms.

Needs root, iptables and ipset. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stats import pct
from proxy.iptables import Iptables
from proxy.netpol.agent import Agent, ipset_text, iptables_text
from proxy.netpol.rules import PodInfo


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def pod(i: int, namespaces: int) -> PodInfo:
    ns = f"ns-{i % namespaces:02d}"
    return PodInfo(ns, f"pod-{i:05d}", f"10.244.{i // 250}.{i % 250 + 1}",
                   {"app": f"app-{i % 10}", "tier": ("web", "db", "cache")[i % 3]},
                   (("http", "TCP", 8080), ("metrics", "TCP", 9090)))


def policy(j: int, namespaces: int) -> dict[str, Any]:
    ns = f"ns-{j % namespaces:02d}"
    app = f"app-{j % 10}"
    shape = j % 5
    rule: dict[str, Any]
    if shape == 0:  # from labelled pods of the namespace, a numeric port
        rule = {"from": [{"podSelector": {"matchLabels": {"app": f"app-{(j + 1) % 10}"}}}],
                "ports": [{"port": 8080, "protocol": "TCP"}]}
    elif shape == 1:  # from labelled namespaces, a named port
        rule = {"from": [{"namespaceSelector": {"matchLabels": {"team": f"t{j % 4}"}}}],
                "ports": [{"port": "http", "protocol": "TCP"}]}
    elif shape == 2:  # labelled pods in labelled namespaces
        rule = {"from": [{"namespaceSelector": {"matchLabels": {"team": f"t{j % 4}"}},
                          "podSelector": {"matchExpressions": [
                              {"key": "tier", "operator": "In", "values": ["web", "cache"]}]}}]}
    elif shape == 3:  # an ipBlock with except, a port range
        rule = {"from": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.1.0/24"]}}],
                "ports": [{"port": 8000, "endPort": 8100, "protocol": "TCP"}]}
    else:  # egress too
        rule = {"from": [{"podSelector": {}}]}
    spec: dict[str, Any] = {"podSelector": {"matchLabels": {"app": app}}, "ingress": [rule]}
    if shape == 4:
        spec["egress"] = [{"to": [{"namespaceSelector": {}}],
                           "ports": [{"port": 53, "protocol": "UDP"}]},
                          {"to": [{"podSelector": {"matchLabels": {"tier": "db"}}}],
                           "ports": [{"port": "http", "protocol": "TCP"}]}]
        spec["policyTypes"] = ["Ingress", "Egress"]
    return {"metadata": {"namespace": ns, "name": f"pol-{j:04d}"}, "spec": spec}


class Netns:
    def __init__(self, tag: str) -> None:
        self.name = f"np-bench-{os.getpid()}-{tag}"

    def __enter__(self) -> Netns:
        sh("ip", "netns", "add", self.name)
        return self

    def __exit__(self, *_: Any) -> None:
        sh("ip", "netns", "del", self.name)


def fill(agent: Agent, args: argparse.Namespace) -> None:
    for n in range(args.namespaces):
        agent.cluster.ns_labels[f"ns-{n:02d}"] = {"team": f"t{n % 4}"}
    for i in range(args.pods):
        p = pod(i, args.namespaces)
        agent.set_pod(p, p.namespace, p.name)
    for j in range(args.policies):
        agent.set_policy(policy(j, args.namespaces))


async def restore_alone(ipt: Iptables, set_text: str, ipt_text: str) -> float:
    t0 = time.perf_counter()
    if set_text:
        await ipt.run(["ipset", "restore"], stdin=set_text.encode())
    if ipt_text:
        await ipt.restore(ipt_text)
    return time.perf_counter() - t0


async def run(args: argparse.Namespace) -> dict[str, Any]:
    full: list[float] = []
    compute: list[float] = []
    full_base: list[float] = []
    change: list[float] = []
    change_base: list[float] = []
    sizes: dict[str, int] = {}
    for r in range(args.repeats):
        with Netns(f"a{r}") as a, Netns(f"b{r}") as b:
            agent = Agent(Iptables(netns=a.name))
            t0 = time.perf_counter()
            fill(agent, args)  # the informers' events: every set's members computed
            compute.append(time.perf_counter() - t0)
            await agent.sync()
            full.append(time.perf_counter() - t0)
            set_text, _ = ipset_text({}, agent.sets)
            ipt_text = iptables_text({}, agent.chains)
            sizes = {"ipsets": len(agent.sets), "chains": len(agent.chains),
                     "iptables_rules": sum(len(v) for v in agent.chains.values()),
                     "ipset_entries": sum(len(e) for _, e in agent.sets.values()),
                     "restore_lines": set_text.count("\n") + ipt_text.count("\n")}
            full_base.append(await restore_alone(Iptables(netns=b.name), set_text, ipt_text))
            if r:
                continue
            base_agent = Agent(Iptables(netns=b.name))  # mirrors the state for the baseline
            base_agent.sets, base_agent.chains = dict(agent.sets), dict(agent.chains)
            for k in range(args.changes):
                i = (k * 37) % args.pods
                old = agent.cluster.pods[f"ns-{i % args.namespaces:02d}"][f"pod-{i:05d}"]
                labels = {**old.labels, "app": f"app-{(int(old.labels['app'][4:]) + 1) % 10}"}
                new = PodInfo(old.namespace, old.name, old.ip, labels, old.ports)
                before_sets, before_chains = agent.sets, agent.chains
                t0 = time.perf_counter()
                agent.set_pod(new, new.namespace, new.name)
                await agent.sync()
                change.append(time.perf_counter() - t0)
                st, _ = ipset_text(before_sets, agent.sets)
                it = iptables_text(before_chains, agent.chains)
                change_base.append(await restore_alone(base_agent.ipt, st, it))
    med_full, med_base = statistics.median(full), statistics.median(full_base)
    out: dict[str, Any] = {
        "pods": args.pods, "policies": args.policies, "namespaces": args.namespaces,
        "programmed": sizes,
        "full_sync_s": {"runs": [round(x, 4) for x in full], "median": round(med_full, 4),
                        "of_which_events_s": [round(x, 4) for x in compute]},
        "full_restore_alone_s": {"runs": [round(x, 4) for x in full_base],
                                 "median": round(med_base, 4)},
        "full_ratio": round(med_full / med_base, 2) if med_base else None,
        "pod_change_ms": {"p50": round(pct(change, 50) * 1000, 2),
                          "p99": round(pct(change, 99) * 1000, 2),
                          "max": round(max(change) * 1000, 2) if change else None},
        "pod_change_restore_alone_ms": {"p50": round(pct(change_base, 50) * 1000, 2),
                                        "p99": round(pct(change_base, 99) * 1000, 2)},
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    pc50, pb50 = pct(change, 50), pct(change_base, 50)
    out["pod_change_ratio_p50"] = round(pc50 / pb50, 2) if change and pb50 else None
    goals = []
    if med_full <= 2.0:
        goals.append("full_sync_le_2s")
    if change and pct(change, 50) <= 0.1:
        goals.append("pod_change_p50_le_100ms")
    out["goals_met"] = goals
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pods", type=int, default=1000)
    p.add_argument("--policies", type=int, default=200)
    p.add_argument("--namespaces", type=int, default=20)
    p.add_argument("--changes", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
