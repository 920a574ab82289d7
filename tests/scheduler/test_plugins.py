"""Unit tests of the scheduling framework, every plugin, and the failure message format."""

from __future__ import annotations

import pytest

from scheduler.cache import SchedulerCache
from scheduler.framework import (
    NodeInfo,
    PodInfo,
    Status,
    fit_error_message,
    num_feasible_nodes_to_find,
)
from scheduler.plugins import (
    BalancedAllocation,
    LeastAllocated,
    NodeAffinity,
    NodeAffinityScore,
    NodePorts,
    NodeResourcesFit,
    NodeUnschedulable,
    SelectorSpread,
    TaintToleration,
    TaintTolerationScore,
    default_framework,
)
from testing.objects import make_node, make_pod


def ni(name: str = "n1", with_pods: list[PodInfo] | None = None, **kw: object) -> NodeInfo:
    info = NodeInfo(name, make_node(name, **kw))  # type: ignore[arg-type]
    for p in with_pods or []:
        info.add_pod(p)
    return info


def pi(name: str = "p", **kw: object) -> PodInfo:
    return PodInfo(make_pod(name, **kw))  # type: ignore[arg-type]


# ---- PodInfo / NodeInfo ---------------------------------------------------------


def test_pod_info_requests_and_defaults() -> None:
    p = pi(cpu="500m", memory="1Gi")
    assert (p.cpu, p.memory) == (500, 1024**3)
    assert (p.nz_cpu, p.nz_memory) == (500, 1024**3)
    empty = pi()
    assert (empty.cpu, empty.memory) == (0, 0)
    assert (empty.nz_cpu, empty.nz_memory) == (100, 200 * 1024**2)


def test_pod_info_limits_default_requests_and_init_containers() -> None:
    pod = make_pod("p")
    pod.spec.containers[0].resources = None
    from api.models import Container, ResourceRequirements
    pod.spec.containers[0].resources = ResourceRequirements(limits={"cpu": "2"})
    pod.spec.init_containers = [Container(name="init", resources=ResourceRequirements(
        requests={"cpu": "3", "memory": "1Mi"}))]
    p = PodInfo(pod)
    assert (p.cpu, p.memory) == (3000, 1024**2)


def test_node_info_accounting_add_remove() -> None:
    node = ni(cpu="2", memory="4Gi")
    assert (node.alloc_cpu, node.alloc_memory, node.alloc_pods) == (2000, 4 * 1024**3, 110)
    a = pi("a", cpu="1", host_ports=[80], owner_uid="o1")
    node.add_pod(a)
    node.add_pod(pi("b", cpu="250m", owner_uid="o1"))
    assert node.req_cpu == 1250 and node.pod_count == 2
    assert node.owner_counts == {"o1": 2}
    assert node.ports == {("TCP", 80): {"0.0.0.0": 1}}
    node.add_pod(a)  # the same pod again replaces, never double counts
    assert node.req_cpu == 1250 and node.pod_count == 2
    node.remove_pod("default/a")
    assert node.req_cpu == 250 and node.ports == {} and node.owner_counts == {"o1": 1}


# ---- filters --------------------------------------------------------------------


def test_node_unschedulable_and_not_ready() -> None:
    f = NodeUnschedulable()
    assert f.filter(pi(), ni()).ok
    assert f.filter(pi(), ni(unschedulable=True)).reasons == ("node(s) were unschedulable",)
    assert f.filter(pi(), ni(ready=False)).reasons == ("node(s) were not ready",)
    tolerant = pi(tolerations=[{"key": "node.kubernetes.io/unschedulable",
                                "operator": "Exists", "effect": "NoSchedule"}])
    assert f.filter(tolerant, ni(unschedulable=True)).ok
    no_conditions = NodeInfo("bare", make_node("bare"))
    no_conditions.node.status.conditions = None  # type: ignore[union-attr]
    no_conditions.set_node(no_conditions.node)  # type: ignore[arg-type]
    assert not f.filter(pi(), no_conditions).ok


def test_node_resources_fit() -> None:
    f = NodeResourcesFit()
    node = ni(cpu="2", memory="1Gi", pods="2")
    assert f.filter(pi(cpu="2", memory="1Gi"), node).ok
    assert f.filter(pi(cpu="2001m"), node).reasons == ("Insufficient cpu",)
    assert f.filter(pi(cpu="3", memory="2Gi"), node).reasons == \
        ("Insufficient cpu", "Insufficient memory")
    node.add_pod(pi("a", cpu="1500m", memory="512Mi"))
    assert f.filter(pi(cpu="500m", memory="512Mi"), node).ok
    assert f.filter(pi(cpu="501m"), node).reasons == ("Insufficient cpu",)
    node.add_pod(pi("b"))
    assert f.filter(pi(), node).reasons == ("Too many pods",)


def test_zero_request_fits_an_overcommitted_node() -> None:
    node = ni(cpu="1")
    node.add_pod(pi("big", cpu="2"))
    assert NodeResourcesFit().filter(pi(), node).ok


def test_node_selector() -> None:
    f = NodeAffinity()
    node = ni(labels={"disk": "ssd", "zone": "a"})
    assert not f.relevant(pi())
    assert f.filter(pi(node_selector={"disk": "ssd"}), node).ok
    st = f.filter(pi(node_selector={"disk": "hdd"}), node)
    assert st.reasons == ("node(s) didn't match Pod's node affinity/selector",)
    assert not f.filter(pi(node_selector={"gpu": "yes"}), node).ok


@pytest.mark.parametrize(("expr", "fits"), [
    ({"key": "zone", "operator": "In", "values": ["a", "b"]}, True),
    ({"key": "zone", "operator": "In", "values": ["c"]}, False),
    ({"key": "zone", "operator": "NotIn", "values": ["c"]}, True),
    ({"key": "zone", "operator": "NotIn", "values": ["a"]}, False),
    ({"key": "absent", "operator": "NotIn", "values": ["a"]}, True),
    ({"key": "zone", "operator": "Exists"}, True),
    ({"key": "absent", "operator": "Exists"}, False),
    ({"key": "absent", "operator": "DoesNotExist"}, True),
    ({"key": "zone", "operator": "DoesNotExist"}, False),
    ({"key": "cores", "operator": "Gt", "values": ["8"]}, True),
    ({"key": "cores", "operator": "Gt", "values": ["16"]}, False),
    ({"key": "cores", "operator": "Lt", "values": ["32"]}, True),
    ({"key": "cores", "operator": "Lt", "values": ["16"]}, False),
    ({"key": "zone", "operator": "Gt", "values": ["1"]}, False),  # not an integer label
    ({"key": "absent", "operator": "Lt", "values": ["1"]}, False),
])
def test_required_node_affinity_operators(expr: dict[str, object], fits: bool) -> None:
    node = ni(labels={"zone": "a", "cores": "16"})
    pod = pi(affinity_terms=[{"matchExpressions": [expr]}])
    assert NodeAffinity().filter(pod, node).ok is fits


def test_node_affinity_terms_or_and_fields() -> None:
    f = NodeAffinity()
    node = ni("n1", labels={"zone": "a", "disk": "ssd"})
    anded = [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]},
                                   {"key": "disk", "operator": "In", "values": ["hdd"]}]}]
    assert not f.filter(pi(affinity_terms=anded), node).ok
    ored = [*anded, {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}]
    assert f.filter(pi(affinity_terms=ored), node).ok
    assert not f.filter(pi(affinity_terms=[{}]), node).ok  # an empty term matches nothing
    by_name = [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]
    assert f.filter(pi(affinity_terms=by_name), node).ok
    assert not f.filter(pi(affinity_terms=by_name), ni("n2")).ok
    # nodeSelector and affinity must both hold
    assert not f.filter(pi(node_selector={"zone": "b"}, affinity_terms=ored), node).ok


def test_taints_and_tolerations() -> None:
    f = TaintToleration()
    node = ni(taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    assert f.filter(pi(), node).reasons == ("node(s) had untolerated taint {dedicated: db}",)
    equal = [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]
    assert f.filter(pi(tolerations=equal), node).ok
    wrong_value = [{"key": "dedicated", "operator": "Equal", "value": "web"}]
    assert not f.filter(pi(tolerations=wrong_value), node).ok
    exists = [{"key": "dedicated", "operator": "Exists"}]
    assert f.filter(pi(tolerations=exists), node).ok
    wrong_effect = [{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]
    assert not f.filter(pi(tolerations=wrong_effect), node).ok
    assert f.filter(pi(tolerations=[{"operator": "Exists"}]), node).ok  # tolerates everything
    no_exec = ni(taints=[{"key": "k", "effect": "NoExecute"}])
    assert f.filter(pi(), no_exec).reasons == ("node(s) had untolerated taint {k: }",)
    soft = ni(taints=[{"key": "k", "value": "v", "effect": "PreferNoSchedule"}])
    assert f.filter(pi(), soft).ok


def test_host_ports() -> None:
    f = NodePorts()
    assert not f.relevant(pi())
    node = ni(with_pods=[pi("a", host_ports=[8080])])
    st = f.filter(pi("b", host_ports=[8080]), node)
    assert st.reasons == ("node(s) didn't have free ports for the requested pod ports",)
    assert f.filter(pi("b", host_ports=[8081]), node).ok
    # a specific IP conflicts with 0.0.0.0 and with itself, not with another IP; UDP is separate
    node2 = NodeInfo("n2", make_node("n2"))
    pod = make_pod("x", host_ports=[53])
    pod.spec.containers[0].ports[0].host_ip = "10.0.0.1"  # type: ignore[index]
    node2.add_pod(PodInfo(pod))
    other_ip = make_pod("y", host_ports=[53])
    other_ip.spec.containers[0].ports[0].host_ip = "10.0.0.2"  # type: ignore[index]
    assert f.filter(PodInfo(other_ip), node2).ok
    assert not f.filter(pi("z", host_ports=[53]), node2).ok
    udp = make_pod("u", host_ports=[53])
    udp.spec.containers[0].ports[0].protocol = "UDP"  # type: ignore[index]
    assert f.filter(PodInfo(udp), node2).ok


# ---- scores ---------------------------------------------------------------------


def test_least_allocated() -> None:
    s = LeastAllocated()
    empty = ni(cpu="4", memory="4Gi")
    busy = ni(cpu="4", memory="4Gi", with_pods=[pi("a", cpu="2", memory="2Gi")])
    pod = pi(cpu="1", memory="1Gi")
    assert s.score(pod, empty) == 75
    assert s.score(pod, busy) == 25
    over = ni(cpu="1", memory="1Gi")
    assert s.score(pi(cpu="2", memory="2Gi"), over) == 0


def test_balanced_allocation() -> None:
    s = BalancedAllocation()
    node = ni(cpu="4", memory="4Gi")
    assert s.score(pi(cpu="2", memory="2Gi"), node) == 100
    assert s.score(pi(cpu="4", memory="0"), node) < s.score(pi(cpu="2", memory="2Gi"), node)
    assert s.score(pi(cpu="4", memory="1"), ni(cpu="4", memory="4Gi")) in range(50, 52)


def test_selector_spread() -> None:
    s = SelectorSpread()
    assert not s.relevant(pi())
    pod = pi("new", owner_uid="rs1")
    crowded = ni("a", with_pods=[pi("x", owner_uid="rs1"), pi("y", owner_uid="rs1")])
    half = ni("b", with_pods=[pi("z", owner_uid="rs1"), pi("other", owner_uid="rs2")])
    empty = ni("c")
    raw = [s.score(pod, n) for n in (crowded, half, empty)]
    assert raw == [2, 1, 0]
    s.normalize(pod, raw)
    assert raw == [0, 50, 100]
    none = [0, 0]
    s.normalize(pod, none)
    assert none == [100, 100]


def test_preferred_node_affinity_score() -> None:
    s = NodeAffinityScore()
    assert not s.relevant(pi())
    pod = make_pod("p")
    from api.models import Affinity, NodeSelectorTerm
    from api.models import NodeAffinity as NA
    from api.models.core import PreferredSchedulingTerm
    pod.spec.affinity = Affinity(node_affinity=NA(preferred_during_scheduling_ignored_during_execution=[
        PreferredSchedulingTerm(weight=80, preference=NodeSelectorTerm.from_dict(
            {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]})),
        PreferredSchedulingTerm(weight=20, preference=NodeSelectorTerm.from_dict(
            {"matchExpressions": [{"key": "zone", "operator": "Exists"}]})),
    ]))
    p = PodInfo(pod)
    nodes = [ni("a", labels={"disk": "ssd", "zone": "1"}), ni("b", labels={"disk": "ssd"}),
             ni("c", labels={"zone": "1"}), ni("d")]
    raw = [s.score(p, n) for n in nodes]
    assert raw == [100, 80, 20, 0]
    s.normalize(p, raw)
    assert raw == [100, 80, 20, 0]
    fw = default_framework()
    assert fw.schedule(p, list(reversed(nodes))).node == "a"


def test_prefer_no_schedule_taints_score() -> None:
    s = TaintTolerationScore()
    soft = [{"key": "spot", "value": "yes", "effect": "PreferNoSchedule"}]
    nodes = [ni("tainted", taints=soft), ni("clean")]
    raw = [s.score(pi(), n) for n in nodes]
    assert raw == [1, 0]
    s.normalize(pi(), raw)
    assert raw == [0, 100]
    assert default_framework().schedule(pi(), nodes).node == "clean"
    tolerant = pi(tolerations=[{"key": "spot", "operator": "Exists"}])
    assert [s.score(tolerant, n) for n in nodes] == [0, 0]
    # a NoSchedule toleration does not cover a PreferNoSchedule taint
    other = pi(tolerations=[{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}])
    assert s.score(other, nodes[0]) == 1


# ---- the message and the cycle --------------------------------------------------


def test_fit_error_message_format() -> None:
    msg = fit_error_message(3, [
        Status.fail("Insufficient cpu"),
        Status.fail("node(s) didn't match Pod's node affinity/selector"),
        Status.fail("node(s) didn't match Pod's node affinity/selector"),
    ])
    assert msg == ("0/3 nodes are available: 1 Insufficient cpu, "
                   "2 node(s) didn't match Pod's node affinity/selector.")
    # counted per reason (a node may give several), sorted as strings like k8s does
    msg = fit_error_message(12, [Status.fail("Insufficient cpu", "Insufficient memory")] * 10
                            + [Status.fail("node(s) were unschedulable")] * 2)
    assert msg == ("0/12 nodes are available: 10 Insufficient cpu, 10 Insufficient memory, "
                   "2 node(s) were unschedulable.")
    assert fit_error_message(0, []) == "0/0 nodes are available:"


def test_cycle_message_from_mixed_reasons() -> None:
    fw = default_framework()
    nodes = [ni("a", cpu="1"), ni("b", labels={"disk": "hdd"}), ni("c", labels={"disk": "hdd"})]
    nodes[0].labels["disk"] = "ssd"
    r = fw.schedule(pi(cpu="2", node_selector={"disk": "ssd"}), nodes)
    assert r.node is None
    assert r.message == ("0/3 nodes are available: 1 Insufficient cpu, "
                         "2 node(s) didn't match Pod's node affinity/selector.")


def test_num_feasible_nodes_to_find() -> None:
    assert num_feasible_nodes_to_find(50, 0) == 50
    assert num_feasible_nodes_to_find(1000, 0) == 420  # 50 - 1000/125 = 42 %
    assert num_feasible_nodes_to_find(5000, 0) == 500
    assert num_feasible_nodes_to_find(100000, 0) == 5000  # floor of 5 %
    assert num_feasible_nodes_to_find(1000, 100) == 1000
    assert num_feasible_nodes_to_find(1000, 1) == 100  # never under 100


def test_cycle_picks_least_allocated_and_ties_deterministically() -> None:
    fw = default_framework()
    nodes = [ni("a", with_pods=[pi("x", cpu="1")]), ni("b"), ni("c")]
    r1 = fw.schedule(pi(cpu="1"), nodes)
    assert r1.node == "b"  # b and c tie; b is evaluated first from start index 0
    # the start index rotates, so an identical decision now starts from another node
    fw2 = default_framework()
    assert fw2.schedule(pi(cpu="1"), nodes).node == "b"


def test_cycle_stops_after_enough_feasible_nodes_and_rotates() -> None:
    fw = default_framework(percentage_of_nodes_to_score=10)
    nodes = [ni(f"n{i:04d}") for i in range(1000)]
    r = fw.schedule(pi(), nodes)
    assert r.feasible == 100 and r.evaluated == 100
    assert fw.next_start_index == 100
    r = fw.schedule(pi(), nodes)
    assert r.node is not None and int(r.node[1:]) >= 100


def test_cycle_spreads_replicas_and_never_overcommits() -> None:
    fw = default_framework()
    cache = SchedulerCache()
    for i in range(3):
        cache.add_node(make_node(f"n{i}", cpu="2"))
    placed: dict[str, int] = {}
    for i in range(7):
        p = pi(f"p{i}", cpu="1", owner_uid="rs")
        r = fw.schedule(p, cache.node_list)
        if r.node is None:
            assert i == 6
            assert r.message == "0/3 nodes are available: 3 Insufficient cpu."
            break
        cache.assume(p, r.node)
        placed[r.node] = placed.get(r.node, 0) + 1
    assert placed == {"n0": 2, "n1": 2, "n2": 2}


def test_weights_configurable_and_unknown_rejected() -> None:
    fw = default_framework({"SelectorSpread": 0, "NodeResourcesBalancedAllocation": 5})
    assert [(p.name, w) for p, w in fw.scores] == [
        ("NodeResourcesLeastAllocated", 1), ("NodeResourcesBalancedAllocation", 5),
        ("NodeAffinity", 2), ("TaintToleration", 3)]
    with pytest.raises(ValueError, match="unknown score plugin"):
        default_framework({"Nope": 1})


def test_cache_assume_confirm_forget_and_ghost_nodes() -> None:
    cache = SchedulerCache()
    cache.add_node(make_node("n1", cpu="2"))
    p = pi("a", cpu="1")
    cache.assume(p, "n1")
    assert cache.is_assumed("default/a") and cache.nodes["n1"].req_cpu == 1000
    cache.forget("default/a", uid="an-older-incarnation")
    assert cache.is_assumed("default/a")  # not the pod that was assumed: kept
    cache.forget("default/a", uid=p.uid)
    assert cache.nodes["n1"].req_cpu == 0 and not cache.is_assumed("default/a")
    cache.assume(p, "n1")
    cache.add_pod(p, "n1")  # the informer confirms
    assert not cache.is_assumed("default/a") and cache.nodes["n1"].req_cpu == 1000
    cache.forget("default/a")  # too late to forget a confirmed pod
    assert cache.nodes["n1"].req_cpu == 1000
    cache.add_pod(pi("b", cpu="1"), "later")  # bound to a node not seen yet
    assert cache.node_count() == 1 and cache.nodes["later"].req_cpu == 1000
    cache.add_node(make_node("later"))
    assert cache.node_count() == 2 and cache.nodes["later"].req_cpu == 1000
    cache.remove_node("n1")
    assert cache.node_count() == 1 and "n1" in cache.nodes  # a ghost while a pod counts there
    assert cache.remove_pod("default/a")
    assert "n1" not in cache.nodes


def test_no_nodes_message() -> None:
    r = default_framework().schedule(pi(), [])
    assert r.node is None and r.message == "no nodes available to schedule pods"


def test_cycle_narrows_to_the_nodes_named_by_match_fields() -> None:
    # NodeAffinity's PreFilter: a pod whose every required term names its node (a
    # DaemonSet's) is filtered on that node only
    fw = default_framework()
    nodes = [ni(f"n{i:04d}") for i in range(1000)]

    def named(*names: str) -> list[dict[str, object]]:
        return [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                  "values": list(names)}]}]
    r = fw.schedule(pi(affinity_terms=named("n0777")), nodes)
    assert (r.node, r.evaluated, r.feasible) == ("n0777", 1, 1)
    assert fw.next_start_index == 0
    # several named nodes are scored as usual; one that does not fit fails over all nodes
    r = fw.schedule(pi(affinity_terms=named("n0001", "n0002")), nodes)
    assert r.node in ("n0001", "n0002") and r.feasible == 2
    busy = [ni("a", unschedulable=True), ni("b")]
    r = fw.schedule(pi(affinity_terms=named("a")), busy)
    assert r.node is None and r.evaluated == 2
    assert r.message.startswith("0/2 nodes are available")
    # a term without matchFields: no narrowing
    mixed = [*named("n0003"), {"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}]
    assert pi(affinity_terms=mixed).node_names is None
