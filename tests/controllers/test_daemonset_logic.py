"""The DaemonSet controller's pure decisions (controllers/daemonset_util.py), as
pkg/controller/daemon's unit tests pin them: the predicates, the default tolerations, the
node affinity each pod carries, the per-node plan, the rolling update's budgets, the
status counts and the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api.models import Node, Pod
from api.models.apps import ControllerRevision, DaemonSet
from controllers import daemonset_util as du

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def ds(**spec: Any) -> DaemonSet:
    tmpl_spec = spec.pop("pod", {})
    body: dict[str, Any] = {
        "metadata": {"name": "d", "namespace": "ns", "uid": "u1",
                     "annotations": {du.TEMPLATE_GENERATION_ANNOTATION: "1"}},
        "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {
            "metadata": {"labels": {"app": "d"}},
            "spec": {"containers": [{"name": "c", "image": "i:1"}], **tmpl_spec}},
            "updateStrategy": {"type": "RollingUpdate",
                               "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
            **spec}}
    return DaemonSet.from_dict(body)


def node(name: str, labels: dict[str, str] | None = None,
         taints: list[dict[str, str]] | None = None) -> Node:
    return Node.from_dict({"metadata": {"name": name, "labels": labels or {}},
                           "spec": {"taints": taints} if taints else {}})


def pod(name: str, node_name: str, hash_: str = "h1", ready: bool = True,
        phase: str = "Running", age: int = 100, ready_for: int = 100) -> Pod:
    created = (NOW - timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%SZ")
    since = (NOW - timedelta(seconds=ready_for)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Pod.from_dict({
        "metadata": {"name": name, "namespace": "ns", "uid": name, "creationTimestamp": created,
                     "labels": {"app": "d", du.HASH_LABEL: hash_}},
        "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": phase, "conditions": [
            {"type": "Ready", "status": "True" if ready else "False",
             "lastTransitionTime": since}]}})


def test_default_tolerations_and_taints() -> None:
    d = ds()
    spec = du.new_pod(d, "n").spec
    keys = [(t.key, t.operator, t.effect) for t in spec.tolerations or []]
    assert keys == [("node.kubernetes.io/not-ready", "Exists", "NoExecute"),
                    ("node.kubernetes.io/unreachable", "Exists", "NoExecute"),
                    ("node.kubernetes.io/disk-pressure", "Exists", "NoSchedule"),
                    ("node.kubernetes.io/memory-pressure", "Exists", "NoSchedule"),
                    ("node.kubernetes.io/pid-pressure", "Exists", "NoSchedule"),
                    ("node.kubernetes.io/unschedulable", "Exists", "NoSchedule")]
    host = du.new_pod(ds(pod={"hostNetwork": True}), "n").spec.tolerations or []
    assert host[-1].key == "node.kubernetes.io/network-unavailable"
    # adding twice adds nothing
    du.add_daemon_tolerations(spec)
    assert len(spec.tolerations or []) == 6
    # a cordoned or pressured node still runs daemon pods
    for key in ("node.kubernetes.io/unschedulable", "node.kubernetes.io/memory-pressure"):
        assert du.node_should_run_daemon_pod(
            node("n", taints=[{"key": key, "effect": "NoSchedule"}]), d) == (True, True)
    # an untolerated NoSchedule taint: no new pod, but a running one stays
    t = [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]
    assert du.node_should_run_daemon_pod(node("n", taints=t), d) == (False, True)
    # NoExecute: it goes too
    t = [{"key": "dedicated", "value": "x", "effect": "NoExecute"}]
    assert du.node_should_run_daemon_pod(node("n", taints=t), d) == (False, False)
    # PreferNoSchedule does not matter
    t = [{"key": "dedicated", "value": "x", "effect": "PreferNoSchedule"}]
    assert du.node_should_run_daemon_pod(node("n", taints=t), d) == (True, True)
    tol = ds(pod={"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "x"}]})
    t = [{"key": "dedicated", "value": "x", "effect": "NoExecute"}]
    assert du.node_should_run_daemon_pod(node("n", taints=t), tol) == (True, True)
    t = [{"key": "dedicated", "value": "y", "effect": "NoExecute"}]
    assert du.node_should_run_daemon_pod(node("n", taints=t), tol) == (False, False)


def test_node_selector_affinity_and_node_name() -> None:
    d = ds(pod={"nodeSelector": {"disk": "ssd"}})
    assert du.node_should_run_daemon_pod(node("a", {"disk": "ssd"}), d) == (True, True)
    assert du.node_should_run_daemon_pod(node("b", {"disk": "hdd"}), d) == (False, False)
    aff = ds(pod={"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["x"]}]}]}}}})
    assert du.node_should_run_daemon_pod(node("n", {"zone": "b"}), aff)[0]
    assert du.node_should_run_daemon_pod(node("x"), aff)[0]
    assert not du.node_should_run_daemon_pod(node("n", {"zone": "c"}), aff)[0]
    named = ds(pod={"nodeName": "only"})
    assert du.node_should_run_daemon_pod(node("only"), named) == (True, True)
    assert du.node_should_run_daemon_pod(node("other"), named) == (False, False)


def test_pod_template_carries_node_affinity_and_labels() -> None:
    d = ds(pod={"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "zone", "operator": "Exists"}]}]}}}})
    tmpl = du.create_pod_template(d, "abc", "node-7")
    assert tmpl.metadata.labels == {"app": "d", du.HASH_LABEL: "abc",
                                    du.TEMPLATE_GENERATION_LABEL: "1"}
    aff = tmpl.to_dict()["spec"]["affinity"]["nodeAffinity"]
    assert aff["requiredDuringSchedulingIgnoredDuringExecution"] == {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-7"]}]}]}
    # the DaemonSet itself is untouched
    assert d.spec.template.spec.tolerations is None
    p = Pod(metadata=tmpl.metadata, spec=tmpl.spec)
    assert du.target_node_name(p) == "node-7"


def test_plan_nodes() -> None:
    d = ds(pod={"nodeSelector": {"run": "yes"}})
    nodes = [node("a", {"run": "yes"}), node("b", {"run": "yes"}), node("c"),
             node("e", {"run": "yes"})]
    pods = [pod("pb1", "b", age=50), pod("pb2", "b", age=100),  # two on b: keep the oldest
            pod("pc", "c"),  # c should not run it
            pod("pe", "e", phase="Failed"),  # failed: delete (and recreate later)
            pod("pz", "gone")]  # its node is gone
    plan = du.plan_nodes(d, nodes, du.nodes_to_daemon_pods(pods), "h1", NOW)
    assert plan.create_on == ["a"]
    assert sorted(p.metadata.name or "" for p in plan.delete) == ["pb1", "pc", "pe", "pz"]
    assert [(p.metadata.name, n) for p, n in plan.failed] == [("pe", "e")]


def test_rolling_update_max_unavailable() -> None:
    d = ds()
    nodes = [node(n) for n in "abcd"]
    pods = {n: [pod(f"p{n}", n, hash_="old")] for n in "abcd"}
    to_delete, create = du.rolling_update(d, nodes, pods, "new", NOW)
    assert [p.metadata.name for p in to_delete] == ["pa"] and create == []
    # a new pod not yet available uses up the budget
    pods["a"] = [pod("pa2", "a", hash_="new", ready=False)]
    assert du.rolling_update(d, nodes, pods, "new", NOW) == ([], [])
    # once available, the next node goes
    pods["a"] = [pod("pa2", "a", hash_="new")]
    assert [p.metadata.name for p in du.rolling_update(d, nodes, pods, "new", NOW)[0]] == ["pb"]
    # an old pod that is not available is replaced regardless of the budget
    pods["c"] = [pod("pc", "c", hash_="old", ready=False)]
    pods["a"] = [pod("pa2", "a", hash_="new", ready=False)]
    assert [p.metadata.name for p in du.rolling_update(d, nodes, pods, "new", NOW)[0]] == ["pc"]
    # 50% of 4 rounds up to 2
    d2 = ds(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": "50%", "maxSurge": 0}})
    fresh = {n: [pod(f"p{n}", n, hash_="old")] for n in "abcd"}
    assert len(du.rolling_update(d2, nodes, fresh, "new", NOW)[0]) == 2
    # minReadySeconds: ready for 5 s of 10 is not available
    d3 = ds(minReadySeconds=10)
    pods = {"a": [pod("pa", "a", hash_="new", ready_for=5)],
            "b": [pod("pb", "b", hash_="old")]}
    assert du.rolling_update(d3, nodes[:2], pods, "new", NOW) == ([], [])


def test_rolling_update_max_surge() -> None:
    d = ds(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": 0, "maxSurge": 1}})
    nodes = [node(n) for n in "ab"]
    pods = {n: [pod(f"p{n}", n, hash_="old")] for n in "ab"}
    assert du.rolling_update(d, nodes, pods, "new", NOW) == ([], ["a"])
    # surged on a, new pod available: the old one goes; b waits for the surge budget
    pods["a"].append(pod("pa2", "a", hash_="new", age=10))
    to_delete, create = du.rolling_update(d, nodes, pods, "new", NOW)
    assert [p.metadata.name for p in to_delete] == ["pa"] and create == ["b"]
    # with two pods on a node, manage keeps the old until the new one is available
    plan = du.plan_nodes(d, nodes, du.nodes_to_daemon_pods(
        [pod("pa", "a", hash_="old"), pod("pa2", "a", hash_="new", ready=False, age=10)]),
        "new", NOW)
    assert plan.delete == []


def test_status_counts() -> None:
    d = ds(pod={"nodeSelector": {"run": "yes"}}, minReadySeconds=30)
    d.metadata.generation = 4
    nodes = [node("a", {"run": "yes"}), node("b", {"run": "yes"}), node("c", {"run": "yes"}),
             node("x")]
    pods = [pod("pa", "a"), pod("pb", "b", hash_="old", ready_for=10), pod("px", "x")]
    st = du.calculate_status(d, nodes, du.nodes_to_daemon_pods(pods), "h1", NOW, True)
    assert (st.desired_number_scheduled, st.current_number_scheduled, st.number_ready,
            st.number_available, st.updated_number_scheduled, st.number_misscheduled,
            st.number_unavailable, st.observed_generation) == (3, 2, 2, 1, 1, 1, 2, 4)
    st = du.calculate_status(d, nodes, {}, "h1", NOW, False)
    assert st.observed_generation is None


def test_history() -> None:
    d = ds()
    patch = du.get_patch(d)
    assert patch["spec"]["template"]["$patch"] == "replace"
    assert patch["spec"]["template"]["spec"]["containers"][0]["image"] == "i:1"

    def rev(name: str, n: int, data: dict[str, Any], h: str) -> ControllerRevision:
        return ControllerRevision.from_dict({"metadata": {"name": name, "labels": {
            du.HASH_LABEL: h}}, "data": data, "revision": n})

    cur = rev("d-1", 3, patch, "h3")
    old = [rev("d-a", 1, {"x": 1}, "ha"), rev("d-b", 2, {"x": 2}, "hb")]
    current, others = du.split_history(d, [*old, cur])
    assert current == [cur] and others == old and du.max_revision(others) == 2
    # limit 1: two old, kill one, the oldest whose hash no live pod carries
    d1 = ds(revisionHistoryLimit=1)
    assert [r.metadata.name for r in du.history_to_prune(d1, old, [])] == ["d-a"]
    assert [r.metadata.name for r in du.history_to_prune(d1, old, [pod("p", "n", "ha")])] == [
        "d-b"]
    assert du.history_to_prune(ds(), old, []) == []
    # the hash changes with the template and with the collision count
    h = du.template_hash(d)
    d.spec.template.spec.containers[0].image = "i:2"
    assert du.template_hash(d) != h
