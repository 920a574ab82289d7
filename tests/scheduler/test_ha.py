"""Scheduler replicas and restarts against a real API server + etcd (own per module).

- two replicas with leader election: only the leader decides; kill it mid-stream and the
  other takes over; a watch on every pod shows each pod bound once and never moved;
- a restarted scheduler picks up the pods that were created while none ran, and counts
  the pods already bound (no overcommit across the restart).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from api.models import Lease, Node, Pod
from client import Client
from testing.objects import make_node, make_pod
from testing.support import Process, service, unique, wait_for

pytestmark = pytest.mark.timeout(150)

LEASE = ["--leader-elect", "--leader-elect-lease-duration", "3",
         "--leader-elect-renew-deadline", "2", "--leader-elect-retry-period", "0.5"]


@pytest.fixture
def procs() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for p in started:
        p.stop()


def add_node(api: Client, node: Node) -> None:
    created = api.create(node)
    if not (created.status and created.status.conditions):
        created.status = node.status
        api.update_status(created)


class BindingWatch:
    """Watches every pod in a namespace and records each nodeName it ever had."""

    def __init__(self, url: str, ns: str) -> None:
        self.url = url
        self.ns = ns
        self.history: dict[str, list[str]] = {}
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> BindingWatch:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            with Client(self.url) as c:
                rv = c.list(Pod, self.ns).resource_version
                while not self._stop.is_set():
                    for ev in c.watch(Pod, self.ns, resource_version=rv, timeout_seconds=5):
                        rv = ev.object.metadata.resource_version or rv
                        if ev.type in ("ADDED", "MODIFIED") and ev.object.spec.node_name:
                            h = self.history.setdefault(ev.object.metadata.name or "", [])
                            if not h or h[-1] != ev.object.spec.node_name:
                                h.append(ev.object.spec.node_name)
                        if self._stop.is_set():
                            return
        except BaseException as exc:
            self.errors.append(exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def holder(api: Client) -> str | None:
    try:
        return api.get(Lease, "minik8s-scheduler", "kube-system").spec.holder_identity
    except Exception:
        return None


def test_two_replicas_never_double_bind_and_fail_over(
        cluster: str, api: Client, ns: str, procs: list[Process]) -> None:
    g = unique("g")
    for i in range(4):
        add_node(api, make_node(f"{g}-{i}", cpu="100", labels={"group": g}))
    watch = BindingWatch(cluster, ns).start()
    reps = {}
    for ident in ("sched-a", "sched-b"):
        reps[ident] = service(f"scheduler-{ident}", "scheduler",
                              ["--server", cluster, "--identity", ident, *LEASE])
        procs.append(reps[ident])
    leader = wait_for(lambda: holder(api), timeout=15, message="a leader")
    follower = "sched-b" if leader == "sched-a" else "sched-a"
    first = [f"a{i}" for i in range(150)]
    for n in first:
        api.create(make_pod(n, ns, cpu="100m", node_selector={"group": g}))
    wait_for(lambda: sum(1 for n in first if n in watch.history) >= 50, timeout=30,
             message="some pods bound by the leader")
    reps[leader].kill()  # mid-stream, without releasing the lease
    second = [f"b{i}" for i in range(100)]
    for n in second:
        api.create(make_pod(n, ns, cpu="100m", node_selector={"group": g}))
    wait_for(lambda: holder(api) == follower, timeout=15, message="the follower takes over")
    wait_for(lambda: all(n in watch.history for n in first + second), timeout=40,
             message="every pod bound")
    watch.stop()
    assert not watch.errors
    moved = {n: h for n, h in watch.history.items() if len(h) != 1}
    assert not moved, f"pods bound more than once: {moved}"
    for n in first + second:
        assert api.get(Pod, n, ns).spec.node_name == watch.history[n][0]
    # the follower did not decide while the other one led
    log = reps[follower].log_path.read_text()
    assert log.count("scheduling:") == 1, log[-3000:]
    assert reps[follower].alive()


def test_restarted_scheduler_picks_up_pending_pods_without_overcommit(
        cluster: str, api: Client, ns: str, procs: list[Process]) -> None:
    g = unique("g")
    for i in range(3):
        add_node(api, make_node(f"{g}-{i}", cpu="2", labels={"group": g}))
    before = [f"before{i}" for i in range(4)]
    s1 = service("scheduler-1", "scheduler", ["--server", cluster, *LEASE])
    procs.append(s1)
    for n in before:
        api.create(make_pod(n, ns, cpu="1", node_selector={"group": g}))

    def bound(names: list[str]) -> dict[str, str]:
        out = {}
        for n in names:
            node = api.get(Pod, n, ns).spec.node_name
            if node:
                out[n] = node
        return out

    wait_for(lambda: len(bound(before)) == 4, timeout=20, message="first pods bound")
    s1.stop()
    after = [f"after{i}" for i in range(4)]
    for n in after:
        api.create(make_pod(n, ns, cpu="1", node_selector={"group": g}))
    s2 = service("scheduler-2", "scheduler", ["--server", cluster, *LEASE])
    procs.append(s2)
    wait_for(lambda: len(bound(after)) == 2, timeout=20, message="2 of the new pods bound")
    per_node: dict[str, int] = {}
    for node in bound(before + after).values():
        per_node[node] = per_node.get(node, 0) + 1
    assert per_node == {f"{g}-{i}": 2 for i in range(3)}

    def unschedulable() -> list[str]:
        out = []
        for n in after:
            pod = api.get(Pod, n, ns)
            for c in (pod.status.conditions or []) if pod.status else []:
                if c.type == "PodScheduled" and c.reason == "Unschedulable":
                    out.append(c.message or "")
        return out
    msgs = wait_for(lambda: len(unschedulable()) == 2 and unschedulable(), timeout=15,
                    message="2 pods unschedulable")
    # nodes of other tests in this module may exist; count only the reason
    assert all("Insufficient cpu" in m for m in msgs)
    assert s2.alive(), s2.log_tail()
