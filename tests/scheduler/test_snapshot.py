"""The cache's incremental snapshot and the cycle's fast path (whole runs of nodes through the
filters and scores by their summaries): the same decisions, failures and start index as
asking every node, on mixed clusters that change between cycles."""

from __future__ import annotations

import random
from typing import Any

import pytest

from scheduler.cache import SchedulerCache
from scheduler.framework import BLOCK_SIZE, NodeSnapshot, PodInfo
from scheduler.plugins import default_framework
from testing.objects import make_node, make_pod

SOFT = {"key": "spot", "value": "yes", "effect": "PreferNoSchedule"}
HARD = {"key": "gpu", "value": "only", "effect": "NoSchedule"}


def random_node(rng: random.Random, name: str, soft_taints: bool, odd: float) -> Any:
    """Mostly alike (so that whole runs pass), ``odd`` of them tainted, cordoned, not
    ready, a third of them taking 4 pods at most."""
    taints = []
    if rng.random() < odd:
        taints.append(HARD)
    if soft_taints and rng.random() < odd:
        taints.append(SOFT)
    return make_node(name, cpu=rng.choice(["4", "8"]) if rng.random() < odd else "6",
                     memory="8Gi", pods="4" if rng.random() < 0.3 else "110",
                     labels={"disk": rng.choice(["ssd", "hdd"])}, taints=taints or None,
                     unschedulable=rng.random() < odd, ready=rng.random() > odd)


def random_pod(rng: random.Random, i: int, names: list[str] | None = None) -> PodInfo:
    kw: dict[str, Any] = {}
    if names and rng.random() < 0.05:  # a DaemonSet's pod: its node(s) by matchFields
        kw["affinity_terms"] = [{"matchFields": [{
            "key": "metadata.name", "operator": "In",
            "values": rng.sample(names, rng.choice([1, 2]))}]}]
    if rng.random() < 0.8:
        kw["cpu"] = rng.choice(["100m", "250m", "500m", "1", "2"])
    if rng.random() < 0.6:
        kw["memory"] = rng.choice(["64Mi", "512Mi", "1Gi", "2Gi"])
    if rng.random() < 0.7:
        kw["owner_uid"] = f"rs-{rng.randrange(3)}"
    if rng.random() < 0.1:
        kw["node_selector"] = {"disk": "ssd"}
    if rng.random() < 0.1:
        kw["host_ports"] = [rng.choice([80, 443])]
    if rng.random() < 0.1:
        kw["tolerations"] = [{"key": "gpu", "operator": "Exists"}]
    return PodInfo(make_pod(f"p{i}", **kw))


def check_runs(snap: NodeSnapshot) -> None:
    """What each run remembers is what its nodes say now."""
    for b, blk in enumerate(snap.blocks):
        nodes = snap.nodes[b * BLOCK_SIZE:(b + 1) * BLOCK_SIZE]
        for uid, m in blk.owner_max.items():
            assert m == max(ni.owner_counts.get(uid, 0) for ni in nodes), (b, uid)
        if blk.fresh:
            assert blk.min_free_cpu == min(ni.alloc_cpu - ni.req_cpu for ni in nodes)
            assert blk.min_free_memory == min(ni.alloc_memory - ni.req_memory for ni in nodes)
            assert blk.min_free_pods == min(ni.alloc_pods - len(ni.pods) for ni in nodes)
            assert blk.no_ports == (not any(ni.ports for ni in nodes))


@pytest.mark.parametrize("seed,n_nodes,soft,odd", [
    (1, 70, False, 0.1), (2, 150, True, 0.01), (3, 260, False, 0.01), (4, 330, False, 0.0),
    (5, 40, False, 0.0)])
def test_fast_path_decides_as_every_node_would(seed: int, n_nodes: int, soft: bool,
                                               odd: float) -> None:
    rng = random.Random(seed)
    fast, slow = default_framework(), default_framework()
    slow.fast = False
    caches = (SchedulerCache(), SchedulerCache())
    names = [f"n{i:03d}" for i in range(n_nodes)]
    for name in names:
        node = random_node(rng, name, soft, odd)
        for c in caches:
            c.add_node(node)
    placed: list[tuple[PodInfo, str]] = []
    for i in range(600):
        roll = rng.random()
        if roll < 0.03:  # a node changes, goes or comes back
            name = rng.choice(names)
            if rng.random() < 0.5:
                for c in caches:
                    c.remove_node(name)
            else:
                node = random_node(rng, name, soft, odd)
                for c in caches:
                    c.update_node(node)
        elif roll < 0.12 and placed:  # a pod goes
            p, _ = placed.pop(rng.randrange(len(placed)))
            for c in caches:
                c.remove_pod(p.key)
        pod = random_pod(rng, i, names)
        a = fast.schedule(pod, caches[0].snapshot)
        b = slow.schedule(pod, caches[1].node_list)
        assert (a.node, a.evaluated, a.feasible, a.message) == \
            (b.node, b.evaluated, b.feasible, b.message), i
        assert fast.next_start_index == slow.next_start_index
        if a.node is not None:
            for c in caches:
                c.assume(pod, a.node)
            placed.append((pod, a.node))
        if i % 50 == 0:
            check_runs(caches[0].snapshot)
    snap = caches[0].snapshot
    assert [ni.index for ni in snap.nodes] == list(range(len(snap.nodes)))
    assert len(snap.blocks) == -(-len(snap.nodes) // BLOCK_SIZE)


def test_snapshot_runs_follow_changes_in_place() -> None:
    cache = SchedulerCache()
    for i in range(BLOCK_SIZE + 3):
        cache.add_node(make_node(f"n{i:02d}", cpu="2"))
    snap = cache.snapshot
    blk = snap.block(0)
    assert blk.fresh and blk.min_free_cpu == 2000 and blk.all_ready
    cache.assume(PodInfo(make_pod("a", cpu="1500m")), "n05")
    assert blk.fresh and blk.min_free_cpu == 500  # a pod more: the minimum follows at once
    cache.remove_pod("default/a")
    assert not blk.fresh and snap.block(0).min_free_cpu == 2000  # a pod less: recomputed
    confirmed = PodInfo(make_pod("b", cpu="1"))
    cache.assume(confirmed, "n01")
    blk.best[("k",)] = (1, 0, 0)
    cache.add_pod(PodInfo(make_pod("b", cpu="1")), "n01")  # the informer confirms
    assert blk.best == {("k",): (1, 0, 0)} and not blk.changed  # same footprint: kept
    cache.update_node(make_node("n02", cpu="2", unschedulable=True))
    assert not snap.block(0).all_ready and snap.block(1).all_ready
    cache.remove_node("n00")
    assert [ni.index for ni in snap.nodes] == list(range(BLOCK_SIZE + 2))
    assert snap.nodes[0].name == "n01" and len(snap.blocks) == 2
    assert len(NodeSnapshot.of(snap.nodes).blocks) == 2


def test_profiles_sharing_a_cache_keep_their_own_scores() -> None:
    # the per-node memo holds weighted sums: two profiles with other weights on one cache
    # must not read each other's
    rng = random.Random(7)
    cache = SchedulerCache()
    for i in range(100):
        cache.add_node(random_node(rng, f"n{i:03d}", False, 0.0))
    profiles = [default_framework(), default_framework(
        {"NodeResourcesBalancedAllocation": 5, "NodeResourcesLeastAllocated": 0})]
    for i in range(200):
        fw = profiles[i % 2]
        slow = default_framework({"NodeResourcesBalancedAllocation": 5,
                                  "NodeResourcesLeastAllocated": 0} if i % 2 else None)
        slow.fast, slow.next_start_index = False, fw.next_start_index
        pod = random_pod(rng, i)
        a = fw.schedule(pod, cache.snapshot)
        b = slow.schedule(pod, cache.node_list)
        assert (a.node, a.evaluated) == (b.node, b.evaluated), i
        if a.node is not None:
            cache.assume(pod, a.node)
