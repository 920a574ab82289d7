"""The DaemonSet controller on a real API server with the real scheduler and hollow
(fake-runtime) kubelets: one pod per eligible node (nodeSelector, taints and tolerations),
a node that comes gets its pod and a node that goes loses it, a rolling update replaces
pods node by node within maxUnavailable, OnDelete waits for the pods to be deleted, the
ControllerRevisions, and the real kubectl's get ds, rollout status|history|undo."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from api.models import Event, Lease, Node, Pod
from api.models.apps import ControllerRevision, DaemonSet
from client import AsyncClient, NotFound
from testing.kubectl import Kubectl
from testing.objects import new_namespace
from testing.support import ApiServer, Process, async_wait_for, free_port, service, unique
from tests.controllers.helpers import start_controller_manager

pytestmark = pytest.mark.timeout(120)

HASH = "controller-revision-hash"


@pytest.fixture(scope="module")
def server_url(private_apiserver: ApiServer) -> str:
    # the scheduler and the DaemonSets act on every node: a server of this module's own
    return private_apiserver.url


@pytest.fixture(scope="module")
def cluster(server_url: str) -> Iterator[list[str]]:
    """The controller-manager (daemonset only), the scheduler and two hollow nodes."""
    base = unique("dsn")
    procs: list[Process] = [
        start_controller_manager(server_url, "--controllers=daemonset"),
        service("scheduler", "scheduler", ["--server", server_url]),
        service("kubelet-hollow", "kubelet", [
            "--server", server_url, "--runtime", "fake", "--fake-nodes", "2",
            "--node-name", base, "--port", str(free_port()), "--no-http"]),
    ]
    yield [f"{base}-0", f"{base}-1"]
    for p in reversed(procs):
        p.stop()


def daemonset(name: str, image: str = "nginx:1", **spec: Any) -> DaemonSet:
    pod_spec = spec.pop("pod", {})
    return DaemonSet.from_dict({
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": image}], **pod_spec}},
                 **spec}})


async def live_pods(client: AsyncClient, ns: str) -> list[Pod]:
    return [p for p in (await client.list(Pod, ns)).items
            if p.metadata.deletion_timestamp is None]


def running(p: Pod) -> bool:
    return bool(p.status and p.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in p.status.conditions or []))


async def settled(client: AsyncClient, ns: str, name: str, nodes: set[str],
                  image: str = "nginx:1") -> list[Pod] | None:
    """One running, ready pod of ``image`` on each of ``nodes`` and nowhere else, and a
    status that says so for the current generation."""
    d = await client.get(DaemonSet, name, ns)
    st = d.status
    n = len(nodes)
    if not (st and st.observed_generation == d.metadata.generation
            and (st.desired_number_scheduled, st.current_number_scheduled, st.number_ready,
                 st.updated_number_scheduled, st.number_available, st.number_misscheduled,
                 st.number_unavailable) == (n, n, n, n, n, 0, 0)):
        return None
    pods = await live_pods(client, ns)
    ok = sorted(p.spec.node_name or "" for p in pods) == sorted(nodes) and all(
        running(p) and p.spec.containers[0].image == image for p in pods)
    return pods if ok else None


async def patch_node(client: AsyncClient, node: str, body: dict[str, Any]) -> None:
    await client.patch(Node, node, body)


async def test_one_pod_per_node_selector_and_taints(cluster: list[str],
                                                    client: AsyncClient) -> None:
    a, b = cluster
    ns = await new_namespace(client, "ds")
    await client.create(daemonset("all"), ns)
    pods = await async_wait_for(lambda: settled(client, ns, "all", {a, b}), timeout=30,
                                message="a pod on each node")
    assert pods is not None
    for p in pods:
        # placed by the scheduler through a node affinity on metadata.name
        aff = p.to_dict()["spec"]["affinity"]["nodeAffinity"]
        terms = aff["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                           "values": [p.spec.node_name]}]}]
        assert {t.key for t in p.spec.tolerations or []} >= {
            "node.kubernetes.io/not-ready", "node.kubernetes.io/unschedulable"}
        assert (p.metadata.labels or {}).get(HASH)
    evs = (await client.list(Event, ns)).items
    assert sum(e.reason == "SuccessfulCreate" and e.involved_object.kind == "DaemonSet"
               for e in evs) == 2

    # nodeSelector: only labelled nodes, following the labels
    await patch_node(client, a, {"metadata": {"labels": {"ds-role": "x"}}})
    sel = daemonset("sel", pod={"nodeSelector": {"ds-role": "x"}})
    await client.create(sel, ns)
    try:
        pods = await async_wait_for(lambda: _on(client, ns, "sel", {a}), timeout=20,
                                    message="only on the labelled node")
        await patch_node(client, b, {"metadata": {"labels": {"ds-role": "x"}}})
        await async_wait_for(lambda: _on(client, ns, "sel", {a, b}), timeout=20,
                             message="the newly labelled node gets one")
        await patch_node(client, a, {"metadata": {"labels": {"ds-role": None}}})
        await async_wait_for(lambda: _on(client, ns, "sel", {b}), timeout=20,
                             message="the unlabelled node loses its pod")
    finally:
        for n in (a, b):
            await patch_node(client, n, {"metadata": {"labels": {"ds-role": None}}})
    await client.delete(DaemonSet, "sel", ns)

    # a tainted node is skipped unless tolerated
    taint = {"key": "ds-test", "value": "x", "effect": "NoSchedule"}
    await patch_node(client, b, {"spec": {"taints": [taint]}})
    try:
        await client.create(daemonset("tnt"), ns)
        await async_wait_for(lambda: _on(client, ns, "tnt", {a}), timeout=20,
                             message="not on the tainted node")
        d = await client.get(DaemonSet, "tnt", ns)
        assert d.status and d.status.desired_number_scheduled == 1
        await client.create(daemonset("tol", pod={"tolerations": [
            {"key": "ds-test", "operator": "Exists", "effect": "NoSchedule"}]}), ns)
        await async_wait_for(lambda: _on(client, ns, "tol", {a, b}), timeout=20,
                             message="tolerated")
    finally:
        await patch_node(client, b, {"spec": {"taints": None}})
    await async_wait_for(lambda: _on(client, ns, "tnt", {a, b}), timeout=20,
                         message="untainted: both")


async def _on(client: AsyncClient, ns: str, app: str, nodes: set[str]) -> bool:
    pods = [p for p in await live_pods(client, ns) if (p.metadata.labels or {}).get("app") == app]
    return sorted(p.spec.node_name or "" for p in pods) == sorted(nodes) and all(
        running(p) for p in pods)


async def test_node_comes_and_goes(cluster: list[str], server_url: str,
                                   client: AsyncClient) -> None:
    a, b = cluster
    ns = await new_namespace(client, "dsn")
    await client.create(daemonset("follow"), ns)
    await async_wait_for(lambda: settled(client, ns, "follow", {a, b}), timeout=30,
                         message="two nodes")
    c = unique("dsn-extra")
    kubelet = service("kubelet-extra", "kubelet", [
        "--server", server_url, "--runtime", "fake", "--node-name", c,
        "--port", str(free_port()), "--no-http"])
    try:
        await async_wait_for(lambda: settled(client, ns, "follow", {a, b, c}), timeout=30,
                             message="the new node gets its pod")
    finally:
        kubelet.stop()
        with contextlib.suppress(NotFound):
            await client.delete(Node, c)
        with contextlib.suppress(NotFound):
            await client.delete(Lease, c, "kube-node-lease")
    await async_wait_for(lambda: settled(client, ns, "follow", {a, b}), timeout=30,
                         message="the removed node's pod goes")
    assert not [p for p in (await client.list(Pod, ns)).items if p.spec.node_name == c]


async def test_rolling_update_node_by_node(cluster: list[str], client: AsyncClient) -> None:
    a, b = cluster
    ns = await new_namespace(client, "dsr")
    await client.create(daemonset("roll", minReadySeconds=1), ns)
    before = await async_wait_for(lambda: settled(client, ns, "roll", {a, b}), timeout=30,
                                  message="v1 everywhere")
    assert before is not None
    await client.patch(DaemonSet, "roll", {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "nginx:2"}]}}}}, ns)
    # maxUnavailable 1 of 2: at every moment at least one node has an available pod, and
    # the nodes are done one after the other
    seen_mixed = False
    loop = asyncio.get_running_loop()
    end = loop.time() + 45
    while loop.time() < end:
        pods = await live_pods(client, ns)
        up = {p.spec.node_name for p in pods if running(p)}
        assert up, "both nodes were without a running pod at once"
        images = {p.spec.containers[0].image for p in pods if running(p)}
        seen_mixed = seen_mixed or images == {"nginx:1", "nginx:2"}
        if await settled(client, ns, "roll", {a, b}, "nginx:2"):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the rollout did not finish")
    assert seen_mixed, "the two nodes were not updated one after the other"
    revs = sorted((await client.list(ControllerRevision, ns)).items, key=lambda r: r.revision)
    assert [r.revision for r in revs] == [1, 2]
    assert all(r.metadata.name == f"roll-{(r.metadata.labels or {})[HASH]}" for r in revs)
    now = await live_pods(client, ns)
    assert {(p.metadata.labels or {})[HASH] for p in now} == {
        (revs[1].metadata.labels or {})[HASH]}
    evs = [e.reason for e in (await client.list(Event, ns)).items
           if e.involved_object.kind == "DaemonSet"]
    assert evs.count("SuccessfulDelete") >= 2


async def test_on_delete_waits(cluster: list[str], client: AsyncClient) -> None:
    a, b = cluster
    ns = await new_namespace(client, "dso")
    await client.create(daemonset("od", updateStrategy={"type": "OnDelete"}), ns)
    pods = await async_wait_for(lambda: settled(client, ns, "od", {a, b}), timeout=30,
                                message="v1")
    assert pods is not None
    d = await client.patch(DaemonSet, "od", {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "nginx:2"}]}}}}, ns)

    async def observed() -> DaemonSet | None:
        got = await client.get(DaemonSet, "od", ns)
        st = got.status
        return got if st and st.observed_generation == d.metadata.generation else None
    got = await async_wait_for(observed, timeout=20, message="observed")
    assert got.status is not None and got.status.updated_number_scheduled == 0
    assert {p.metadata.uid for p in await live_pods(client, ns)} == \
        {p.metadata.uid for p in pods}
    victim = next(p for p in pods if p.spec.node_name == a)
    await client.delete(Pod, victim.metadata.name or "", ns)

    async def replaced() -> bool:
        now = await live_pods(client, ns)
        by_node = {p.spec.node_name: p for p in now}
        return len(now) == 2 and running(by_node.get(a) or victim) and \
            by_node[a].spec.containers[0].image == "nginx:2" and \
            by_node[b].metadata.uid == next(p for p in pods if p.spec.node_name == b).metadata.uid
    await async_wait_for(replaced, timeout=30, message="only the deleted pod replaced, new")


async def test_kubectl_rollout_history_undo_and_get(cluster: list[str], client: AsyncClient,
                                                    kubectl: Kubectl) -> None:
    a, b = cluster
    ns = await new_namespace(client, "dsk")
    body = daemonset("kd").to_dict()
    kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps({"apiVersion": "apps/v1",
                                                            "kind": "DaemonSet", **body}))
    out = kubectl("rollout", "status", "ds/kd", "-n", ns, "--timeout=40s").stdout
    assert out.rstrip().endswith('daemon set "kd" successfully rolled out')
    kubectl("set", "image", "ds/kd", "c=nginx:2", "-n", ns)
    out = kubectl("rollout", "status", "daemonset/kd", "-n", ns, "--timeout=40s").stdout
    assert out.rstrip().endswith('daemon set "kd" successfully rolled out')
    await async_wait_for(lambda: settled(client, ns, "kd", {a, b}, "nginx:2"), timeout=20,
                         message="v2")
    hist = kubectl("rollout", "history", "ds/kd", "-n", ns).stdout.splitlines()
    assert hist[0] == "daemonset.apps/kd "
    assert [re.split(r"\s+", ln.strip())[0] for ln in hist[1:] if ln.strip()] == [
        "REVISION", "1", "2"]
    one = kubectl("rollout", "history", "ds/kd", "-n", ns, "--revision=1").stdout
    assert "nginx:1" in one and "nginx:2" not in one
    out = kubectl("rollout", "undo", "ds/kd", "-n", ns).stdout
    assert out.strip() == "daemonset.apps/kd rolled back"
    await async_wait_for(lambda: settled(client, ns, "kd", {a, b}, "nginx:1"), timeout=40,
                         message="back to v1")
    revs = {r.revision: r for r in (await client.list(ControllerRevision, ns)).items}
    # the first revision became the current one again, as revision 3
    assert sorted(revs) == [2, 3]
    assert revs[3].data and revs[3].data["spec"]["template"]["spec"]["containers"][0][
        "image"] == "nginx:1"
    lines = kubectl("get", "ds", "-n", ns).stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["NAME", "DESIRED", "CURRENT", "READY",
                                             "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"]
    assert re.split(r"\s{2,}", lines[1])[:7] == ["kd", "2", "2", "2", "2", "2", "<none>"]
    crs = kubectl("get", "controllerrevisions", "-n", ns).stdout.splitlines()
    assert all("daemonset.apps/kd" in ln for ln in crs[1:]) and len(crs) == 3
