"""The kubelet against the real API server, with the fake runtime behind it.

Everything that does not need real containers: status and phases, restarts with
back-off, image pull failures, probes, deletion, node registration, hollow nodes.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest

from api.models import Event, Lease, Node, Pod
from client.errors import NotFound
from client.rest import AsyncClient
from kubelet.agent import KubeletAgent
from kubelet.kubelet import KubeletConfig
from kubelet.runtime.base import ContainerInfo
from kubelet.runtime.fake import FakeRuntime
from testing.support import async_wait_for, unique
from tests.kubelet.helpers import Harness, cstatus


def cond(p: Pod, type_: str) -> str | None:
    for c in (p.status.conditions if p.status else None) or []:
        if c.type == type_:
            return c.status
    return None


@pytest.fixture
async def kube(server_url: str) -> AsyncIterator[Harness]:
    async with Harness(server_url, unique("fnode")) as h:
        yield h


async def test_node_registers_with_lease_and_ready(kube: Harness) -> None:
    async def node() -> Node | None:
        try:
            n = await kube.client.get(Node, kube.node)
        except NotFound:
            return None
        return n if n.status and n.status.conditions else None
    n = await async_wait_for(node, timeout=10, message="node registered")
    assert n.metadata.labels and n.metadata.labels["kubernetes.io/hostname"] == kube.node
    assert n.status is not None and n.status.capacity and n.status.capacity["pods"] == "110"
    conds = {c.type: c.status for c in n.status.conditions or []}
    assert conds["Ready"] == "True" and conds["MemoryPressure"] == "False"
    assert n.status.node_info and n.status.node_info.container_runtime_version == "fake://0.0.0-fake"
    assert n.status.daemon_endpoints and n.status.daemon_endpoints.kubelet_endpoint
    lease = await async_wait_for(lambda: kube.client.get(Lease, kube.node, "kube-node-lease"),
                                 timeout=10, message="lease")
    assert lease.spec.holder_identity == kube.node and lease.spec.renew_time


async def set_node_unknown(client: AsyncClient, name: str) -> str:
    """What the node-lifecycle controller does to a node whose Lease went stale; returns
    the Unknown condition's lastTransitionTime."""
    node = (await client.get(Node, name)).copy_deep()
    assert node.status is not None
    t = "2020-01-01T00:00:00Z"
    for c in node.status.conditions or []:
        c.status, c.reason, c.last_transition_time = "Unknown", "NodeStatusUnknown", t
        c.message = "Kubelet stopped posting node status."
    await client.update_status(node)
    return t


async def node_ready(client: AsyncClient, name: str) -> Node | None:
    try:
        n = await client.get(Node, name)
    except NotFound:
        return None
    conds = {c.type: c for c in (n.status.conditions if n.status else None) or []}
    ok = all(c.status == ("True" if t == "Ready" else "False") for t, c in conds.items())
    return n if conds.get("Ready") and ok else None


async def test_node_conditions_put_right_at_once_after_being_set_unknown(kube: Harness) -> None:
    # The heartbeat is 10 s and the periodic status post 60 s: only noticing the
    # server's Node brings Ready back within seconds.
    await async_wait_for(lambda: node_ready(kube.client, kube.node), timeout=10, message="Ready")
    na = kube.agent.node_agents[0]
    before = na.reposts
    t_unknown = await set_node_unknown(kube.client, kube.node)
    n = await async_wait_for(lambda: node_ready(kube.client, kube.node), timeout=5,
                             message="Ready=True again")
    assert n.status is not None
    ready = next(c for c in n.status.conditions or [] if c.type == "Ready")
    assert ready.reason == "KubeletReady" and ready.last_transition_time != t_unknown
    assert na.reposts == before + 1

    async def node_ready_event() -> bool:
        evs = await kube.client.list(Event, "default",
                                     field_selector=f"involvedObject.name={kube.node}")
        return any(e.reason == "NodeReady" and e.involved_object.kind == "Node"
                   for e in evs.items)
    await async_wait_for(node_ready_event, timeout=5, message="NodeReady event")
    # Updates that leave the conditions alone do not make it write again. (Handlers run
    # in the order added, so ours sees the update after the kubelet's did.)
    seen = asyncio.Event()

    def saw(_old: Node, new: Node) -> None:
        if (new.metadata.labels or {}).get("touched") == "yes":
            seen.set()
    assert kube.agent.node_informer is not None
    kube.agent.node_informer.add_handler(on_update=saw)
    await kube.client.patch(Node, kube.node, {"metadata": {"labels": {"touched": "yes"}}})
    await asyncio.wait_for(seen.wait(), 5)
    assert not na._recheck.is_set() and na.reposts == before + 1


async def test_pod_runs_with_status_and_events(kube: Harness) -> None:
    p = await kube.create([{"name": "a", "image": "img:1"}, {"name": "b", "image": "img:1"}])
    got = await kube.status_of(p, lambda g: g.status.phase == "Running" and cond(g, "Ready") == "True",
                               what="Running and Ready")
    s = got.status
    assert s is not None and s.pod_ip and s.host_ip == "127.0.0.1" and s.start_time
    for i in (0, 1):
        cs = cstatus(got, i)
        assert "running" in cs["state"] and cs["ready"] and cs["restartCount"] == 0
        assert cs["containerID"].startswith("fake://") and cs["image"] == "img:1"
    assert {c.type for c in s.conditions or []} >= {"PodScheduled", "Initialized",
                                                    "ContainersReady", "Ready"}
    assert s.qos_class == "BestEffort"

    async def reasons() -> set[str] | None:
        evs = await kube.client.list(Event, "default",
                                     field_selector=f"involvedObject.name={p.metadata.name}")
        rs = {(e.reason or "", e.message or "") for e in evs.items}
        return rs if {r for r, _ in rs} >= {"Pulled", "Created", "Started"} else None
    evs = await async_wait_for(reasons, timeout=10, message="events")
    assert ("Pulled", 'Container image "img:1" already present on machine') in evs
    assert ("Started", "Started container a") in evs
    # Each container's events point at the container, as Kubernetes' kubelet's do.
    want = {(r, f"spec.containers{{{c}}}") for r in ("Pulled", "Created", "Started")
            for c in ("a", "b")}

    async def per_container() -> list[Event] | None:
        evs = await kube.client.list(Event, "default",
                                     field_selector=f"involvedObject.name={p.metadata.name}")
        paths = {(e.reason, e.involved_object.field_path) for e in evs.items}
        return evs.items if want <= paths else None
    listed = await async_wait_for(per_container, timeout=10, message="events per container")
    started = [e for e in listed if e.reason == "Started"]
    assert len(started) == 2 and all(e.source and e.source.host == kube.node for e in started)


async def test_crash_restarts_with_growing_backoff(kube: Harness) -> None:
    p = await kube.create([{"name": "a", "image": "img:1"}])
    await kube.status_of(p, lambda g: g.status.phase == "Running")
    uid = p.metadata.uid or ""
    starts = []
    for _ in range(4):
        c = kube.runtime.find(uid, "a", running=True)
        if c is None:
            c = await async_wait_for(lambda: kube.runtime.find(uid, "a", running=True),
                                     timeout=10, message="restarted container")
        starts.append(c.started_ts)
        kube.runtime.exit_container(c.id, 1)
        await async_wait_for(lambda: kube.runtime.find(uid, "a", running=True), timeout=10,
                             message="restart")
    got = await kube.status_of(p, lambda g: cstatus(g)["restartCount"] >= 4, what="restartCount 4")
    assert cstatus(got)["lastState"]["terminated"]["exitCode"] == 1
    assert cstatus(got)["lastState"]["terminated"]["reason"] == "Error"
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # first restart at once, then 0.4 s, 0.8 s: the gaps grow
    assert gaps[-1] > gaps[0] + 0.3, gaps
    # while backing off, the container shows CrashLoopBackOff
    c = kube.runtime.find(uid, "a", running=True)
    assert c is not None
    kube.runtime.exit_container(c.id, 2)
    got = await kube.status_of(
        p, lambda g: (cstatus(g)["state"].get("waiting") or {}).get("reason") == "CrashLoopBackOff",
        what="CrashLoopBackOff")
    assert "back-off" in cstatus(got)["state"]["waiting"]["message"]
    assert got.status is not None and got.status.phase == "Running"
    evs = await kube.client.list(Event, "default",
                                 field_selector=f"involvedObject.name={p.metadata.name}")
    backoffs = [e for e in evs.items if e.reason == "BackOff"]
    assert backoffs and all(e.type == "Warning" and e.involved_object.field_path
                            == "spec.containers{a}" for e in backoffs)


@pytest.mark.parametrize(("policy", "code", "phase"), [("Never", 0, "Succeeded"),
                                                       ("Never", 3, "Failed"),
                                                       ("OnFailure", 0, "Succeeded")])
async def test_restart_policies(kube: Harness, policy: str, code: int, phase: str) -> None:
    p = await kube.create([{"name": "a", "image": "img:1"}], restartPolicy=policy)
    await kube.status_of(p, lambda g: g.status.phase == "Running")
    c = kube.runtime.find(p.metadata.uid or "", "a")
    assert c is not None
    kube.runtime.exit_container(c.id, code, oom=code == 3)
    got = await kube.status_of(p, lambda g: g.status.phase == phase, what=phase)
    term = cstatus(got)["state"]["terminated"]
    assert term["exitCode"] == code
    assert term["reason"] == ("OOMKilled" if code == 3 else "Completed")
    assert cstatus(got)["restartCount"] == 0
    assert cond(got, "Ready") == "False"


async def test_pull_failure_gives_errimagepull_then_backoff(kube: Harness) -> None:
    kube.runtime.pull_errors["nosuch:1"] = 'Get "https://registry-1.docker.io/v2/": no such host'
    p = await kube.create([{"name": "a", "image": "nosuch:1"}])
    got = await kube.status_of(
        p, lambda g: (cstatus(g)["state"].get("waiting") or {}).get("reason") in (
            "ErrImagePull", "ImagePullBackOff"), what="ErrImagePull")
    assert "no such host" in cstatus(got)["state"]["waiting"]["message"]
    got = await kube.status_of(
        p, lambda g: (cstatus(g)["state"].get("waiting") or {}).get("reason") == "ImagePullBackOff",
        what="ImagePullBackOff")
    assert "no such host" in cstatus(got)["state"]["waiting"]["message"]
    assert got.status is not None and got.status.phase == "Pending"
    # once the image can be had, the pod starts
    del kube.runtime.pull_errors["nosuch:1"]
    await kube.status_of(p, lambda g: g.status.phase == "Running", timeout=15, what="Running")


async def test_init_containers_run_first_in_order(kube: Harness) -> None:
    p = await kube.create([{"name": "app", "image": "img:1"}],
                          initContainers=[{"name": "i1", "image": "img:1"},
                                          {"name": "i2", "image": "img:1"}])
    uid = p.metadata.uid or ""
    got = await kube.status_of(p, lambda g: bool(g.status.init_container_statuses),
                               what="init statuses")
    assert got.status is not None and got.status.phase == "Pending"
    assert cond(got, "Initialized") == "False"
    assert cstatus(got)["state"]["waiting"]["reason"] == "PodInitializing"
    assert kube.runtime.find(uid, "i2") is None and kube.runtime.find(uid, "app") is None
    for name in ("i1", "i2"):
        def running(n: str = name) -> ContainerInfo | None:
            return kube.runtime.find(uid, n, running=True)
        c = await async_wait_for(running, timeout=5, message=f"{name} running")
        kube.runtime.exit_container(c.id, 0)
    got = await kube.status_of(p, lambda g: g.status.phase == "Running", what="Running")
    assert cond(got, "Initialized") == "True"
    inits = [s.to_dict() for s in got.status.init_container_statuses or []] if got.status else []
    assert [s["state"]["terminated"]["reason"] for s in inits] == ["Completed", "Completed"]

    async def started_paths() -> set[str | None] | None:
        evs = await kube.client.list(Event, "default",
                                     field_selector=f"involvedObject.name={p.metadata.name}")
        got = {e.involved_object.field_path for e in evs.items if e.reason == "Started"}
        return got if len(got) == 3 else None
    assert await async_wait_for(started_paths, timeout=10, message="Started events") == {
        "spec.initContainers{i1}", "spec.initContainers{i2}", "spec.containers{app}"}


async def test_failed_init_container_fails_a_never_pod(kube: Harness) -> None:
    p = await kube.create([{"name": "app", "image": "img:1"}], restartPolicy="Never",
                          initContainers=[{"name": "i1", "image": "img:1"}])
    uid = p.metadata.uid or ""
    c = await async_wait_for(lambda: kube.runtime.find(uid, "i1", running=True), timeout=5,
                             message="init running")
    kube.runtime.exit_container(c.id, 1)
    await kube.status_of(p, lambda g: g.status.phase == "Failed", what="Failed")
    assert kube.runtime.find(uid, "app") is None


async def test_a_slow_pod_never_blocks_the_others(kube: Harness) -> None:
    kube.runtime.pull_delays["slow:1"] = 30.0
    # one pod start at a time: the slow pull must still not hold the others up
    kube.agent.kubelets[kube.node].start_gate = asyncio.Semaphore(1)
    slow = await kube.create([{"name": "a", "image": "slow:1"}])
    await async_wait_for(lambda: "slow:1" in kube.runtime.pulls, timeout=5, message="slow pull")
    fast = await kube.create([{"name": "a", "image": "img:1"}])
    await kube.status_of(fast, lambda g: g.status.phase == "Running", timeout=5, what="fast pod")
    got = await kube.get(slow)
    assert got.status is None or got.status.phase == "Pending"
    # deleting it does not wait for the pull to finish
    await kube.client.delete(Pod, slow.metadata.name or "", "default")

    async def gone() -> bool:
        try:
            await kube.get(slow)
        except NotFound:
            return True
        return False
    await async_wait_for(gone, timeout=5, message="slow pod deleted during its pull")


async def test_image_present_locally_with_policy_always_runs_without_registry(kube: Harness) -> None:
    kube.runtime.pull_errors["busybox:latest"] = "no registry"
    kube.runtime.pull_errors["busybox"] = "no registry"
    p = await kube.create([{"name": "a", "image": "busybox"}])
    await kube.status_of(p, lambda g: g.status.phase == "Running", what="Running")
    # the failed pull is remembered for a while: the next pod does not wait for it again
    p2 = await kube.create([{"name": "a", "image": "busybox"}])
    await kube.status_of(p2, lambda g: g.status.phase == "Running", what="Running")
    assert kube.runtime.pulls == ["busybox:latest"]  # pulled with its default tag


async def test_liveness_failure_restarts_and_readiness_gates_ready(kube: Harness) -> None:
    probe = {"exec": {"command": ["check"]}, "periodSeconds": 1, "failureThreshold": 1}
    p = await kube.create([{"name": "live", "image": "img:1", "livenessProbe": probe},
                           {"name": "ready", "image": "img:1", "readinessProbe": probe}])
    uid = p.metadata.uid or ""
    await kube.status_of(p, lambda g: cond(g, "Ready") == "True", what="Ready")
    kube.runtime.exec_results[(uid, "ready")] = 1
    got = await kube.status_of(p, lambda g: cond(g, "Ready") == "False", what="not Ready")
    assert cstatus(got, 1)["ready"] is False and "running" in cstatus(got, 1)["state"]
    kube.runtime.exec_results[(uid, "ready")] = 0
    await kube.status_of(p, lambda g: cond(g, "Ready") == "True", what="Ready again")
    kube.runtime.exec_results[(uid, "live")] = 1
    got = await kube.status_of(p, lambda g: cstatus(g, 0)["restartCount"] >= 1, what="restart")
    kube.runtime.exec_results[(uid, "live")] = 0

    async def probe_events() -> set[tuple[str | None, str | None]] | None:
        evs = await kube.client.list(Event, "default",
                                     field_selector=f"involvedObject.name={p.metadata.name}")
        got = {(e.reason, e.involved_object.field_path) for e in evs.items
               if e.reason in ("Unhealthy", "Killing")}
        return got if len(got) >= 3 else None
    assert await async_wait_for(probe_events, timeout=10, message="probe events") == {
        ("Unhealthy", "spec.containers{ready}"), ("Unhealthy", "spec.containers{live}"),
        ("Killing", "spec.containers{live}")}


async def test_startup_probe_holds_readiness_and_restarts_on_failure(kube: Harness) -> None:
    startup = {"exec": {"command": ["started"]}, "periodSeconds": 1, "failureThreshold": 3}
    p = await kube.create([{"name": "a", "image": "img:1", "startupProbe": startup}])
    uid = p.metadata.uid or ""
    kube.runtime.exec_results[(uid, "a")] = 1
    got = await kube.status_of(p, lambda g: g.status.phase == "Running", what="Running")
    assert cstatus(got)["started"] is False and cstatus(got)["ready"] is False
    got = await kube.status_of(p, lambda g: cstatus(g)["restartCount"] >= 1, timeout=10,
                               what="restart after startup probe failures")
    kube.runtime.exec_results[(uid, "a")] = 0
    got = await kube.status_of(p, lambda g: cstatus(g)["started"] and cstatus(g)["ready"],
                               timeout=10, what="started and ready")
    assert cond(got, "Ready") == "True"


async def test_delete_removes_containers_and_the_pod(kube: Harness) -> None:
    p = await kube.create([{"name": "a", "image": "img:1"}], volumes=[{"name": "v", "emptyDir": {}}])
    await kube.status_of(p, lambda g: g.status.phase == "Running")
    uid = p.metadata.uid or ""
    await kube.client.delete(Pod, p.metadata.name or "", "default")

    async def gone() -> bool:
        try:
            await kube.get(p)
        except NotFound:
            return True
        return False
    await async_wait_for(gone, timeout=10, message="pod object deleted")
    assert not [c for c in kube.runtime.containers.values() if c.pod_uid == uid]
    assert uid in kube.runtime.removed_pod_dirs
    kl = kube.agent.kubelets[kube.node]
    assert uid not in kl.workers and len(kl.crash_backoff) == 0 and len(kl.pull_backoff) == 0


async def test_orphans_removed_and_running_containers_adopted(server_url: str) -> None:
    node = unique("fnode")
    h = Harness(server_url, node)
    await h.agent.start()
    try:
        keep = await h.create([{"name": "a", "image": "img:1"}])
        drop = await h.create([{"name": "a", "image": "img:1"}])
        for p in (keep, drop):
            await h.status_of(p, lambda g: g.status.phase == "Running")
    finally:
        await h.agent.stop()
    before = {c.id for c in h.runtime.containers.values() if c.pod_uid == keep.metadata.uid}
    # deleted while the kubelet is down (grace 0: no kubelet to wait for)
    await h.client.delete(Pod, drop.metadata.name or "", "default", grace_period_seconds=0)
    h2 = Harness(server_url, node)
    h2.runtime = h.runtime
    h2.agent.runtime_factory = lambda _: h.runtime
    await h2.agent.start()
    try:
        await async_wait_for(lambda: not [c for c in h.runtime.containers.values()
                                          if c.pod_uid == drop.metadata.uid],
                             timeout=10, message="orphans removed")
        got = await h2.status_of(keep, lambda g: g.status.phase == "Running")
        after = {c.id for c in h.runtime.containers.values() if c.pod_uid == keep.metadata.uid}
        assert after == before, "adopted containers must not be restarted or duplicated"
        assert cstatus(got)["restartCount"] == 0
    finally:
        await h2.agent.stop()
        await h.client.close()
        await h2.client.close()


async def test_hollow_nodes_register_and_run_pods(server_url: str) -> None:
    base = unique("hollow")
    cfg = KubeletConfig(node_name=base, relist_seconds=5.0)
    agent = KubeletAgent(server_url, lambda _: FakeRuntime(), cfg, fake_nodes=5,
                         serve_http=False)
    client = AsyncClient(server_url)
    await agent.start()
    try:
        async def all_nodes() -> bool:
            names = {n.metadata.name for n in (await client.list(Node)).items}
            return {f"{base}-{i}" for i in range(5)} <= names
        await async_wait_for(all_nodes, timeout=15, message="5 hollow nodes")
        pods = [await client.create(Pod.from_dict({
            "metadata": {"name": unique("hp"), "namespace": "default"},
            "spec": {"nodeName": f"{base}-{i}", "containers": [{"name": "a", "image": "x"}]}}))
            for i in range(5)]

        async def running() -> bool:
            for p in pods:
                g = await client.get(Pod, p.metadata.name or "", "default")
                if not g.status or g.status.phase != "Running":
                    return False
            return True
        await async_wait_for(running, timeout=15, message="hollow pods Running")
        # each hollow node's events come from that node
        async def hosts() -> dict[str, str] | None:
            out = {}
            for p in pods:
                evs = await client.list(Event, "default",
                                        field_selector=f"involvedObject.name={p.metadata.name}")
                started = [e for e in evs.items if e.reason == "Started"]
                if not started:
                    return None
                out[p.spec.node_name or ""] = started[0].source.host if started[0].source else ""
            return out
        got = await async_wait_for(hosts, timeout=10, message="Started events")
        assert got == {f"{base}-{i}": f"{base}-{i}" for i in range(5)}
        # each hollow node watches its Node too
        await async_wait_for(lambda: node_ready(client, f"{base}-3"), timeout=10, message="Ready")
        await set_node_unknown(client, f"{base}-3")
        await async_wait_for(lambda: node_ready(client, f"{base}-3"), timeout=5,
                             message="hollow node Ready again")
    finally:
        await agent.stop()
        await client.close()
