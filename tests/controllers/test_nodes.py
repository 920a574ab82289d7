"""Node lifecycle: a node whose lease goes silent is tainted and its pods are evicted
and recreated on another node; when the lease is renewed again the taint goes."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from api.models import Deployment, Event, Lease, Node, Pod, Toleration
from api.timeutil import now, now_micro
from api.wellknown import TAINT_NODE_NOT_READY as NOT_READY
from api.wellknown import TAINT_NODE_UNREACHABLE as UNREACHABLE
from client import AsyncClient, NotFound
from testing.objects import deployment, new_namespace
from testing.support import ApiServer, async_wait_for, unique
from tests.controllers.helpers import (
    FakeKubelet,
    start_controller_manager,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server_url(private_apiserver: ApiServer) -> str:
    # node lifecycle acts on every node: keep it away from other tests' nodes and pods
    return private_apiserver.url


async def _register(client: AsyncClient, name: str, ready: str = "True") -> None:
    t = now()
    await client.create(Node.from_dict({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady",
                                   "lastHeartbeatTime": t, "lastTransitionTime": t}],
                   "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}))
    await client.create(Lease.from_dict({
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now_micro()}}),
        "kube-node-lease")


async def _renew(client: AsyncClient, alive: set[str]) -> None:
    while True:
        for name in list(alive):
            with contextlib.suppress(Exception):
                lease = await client.get(Lease, name, "kube-node-lease")
                lease.spec.renew_time = now_micro()
                await client.update(lease)
        await asyncio.sleep(0.3)


def _effects(node: Node, key: str = UNREACHABLE) -> set[str]:
    return {t.effect for t in (node.spec.taints if node.spec else None) or []
            if t.key == key}


def _tainted(node: Node) -> bool:
    return _effects(node) == {"NoExecute", "NoSchedule"}


async def test_silent_node_pods_are_evicted_and_recreated_elsewhere(server_url: str,
                                                                     client: AsyncClient) -> None:
    ns = await new_namespace(client, "cmn")
    node_a, node_b, node_c = unique("node-a"), unique("node-b"), unique("node-c")
    for n in (node_a, node_b):
        await _register(client, n)
    await _register(client, node_c, ready="False")  # heard from, but not ready
    alive = {node_a, node_b, node_c}
    target = [node_a]
    cm = start_controller_manager(
        server_url, "--controllers=*", "--node-monitor-grace-period", "2s",
        "--node-monitor-period", "0.5s", "--default-unreachable-toleration-seconds", "1")
    renewer = asyncio.create_task(_renew(client, alive))
    try:
        async with FakeKubelet(client, ns, node_for=lambda _p: target[0],
                               ready=lambda p: p.spec.node_name in alive):
            d = deployment("ev", 3)
            # The pods tolerate the unreachable taint for 1 s (DefaultTolerationSeconds would
            # give them 300 s).
            d.spec.template.spec.tolerations = [Toleration(
                key=UNREACHABLE, operator="Exists", effect="NoExecute", toleration_seconds=1)]
            await client.create(d, ns)

            async def on(node: str) -> list[Pod] | None:
                pods = [p for p in (await client.list(Pod, ns)).items
                        if p.metadata.deletion_timestamp is None and p.spec.node_name == node
                        and any(c.type == "Ready" and c.status == "True"
                                for c in (p.status.conditions if p.status else None) or [])]
                return pods if len(pods) == 3 else None

            first = await async_wait_for(lambda: on(node_a), timeout=30, message="3 pods on A")
            alive.discard(node_a)  # node A's kubelet goes silent
            target[0] = node_b

            async def unreachable() -> bool:
                node = await client.get(Node, node_a)
                ready = next(c for c in (node.status.conditions if node.status else None) or []
                             if c.type == "Ready")
                return (ready.status == "Unknown" and ready.reason == "NodeStatusUnknown"
                        and _tainted(node))

            await async_wait_for(unreachable, timeout=20, message="node A unreachable+tainted")
            await async_wait_for(lambda: on(node_b), timeout=30, message="3 pods on B")
            for old in first:
                p = await client.get(Pod, old.metadata.name or "", ns)
                assert p.metadata.deletion_timestamp is not None, "evicted"
            assert not _effects(await client.get(Node, node_b))

            async def available() -> bool:
                d = await client.get(Deployment, "ev", ns)
                return d.status is not None and d.status.available_replicas == 3

            await async_wait_for(available, timeout=20, message="deployment available again")

            alive.add(node_a)  # the kubelet comes back

            async def untainted() -> bool:
                return not _effects(await client.get(Node, node_a))

            await async_wait_for(untainted, timeout=20, message="taint removed")

            async def not_ready_tainted() -> bool:
                node = await client.get(Node, node_c)
                return (_effects(node, NOT_READY) == {"NoExecute", "NoSchedule"}
                        and not _effects(node))

            await async_wait_for(not_ready_tainted, timeout=10, message="not-ready taints")
        evs = (await client.list(Event, "default")).items + (await client.list(Event, ns)).items
        reasons = {e.reason for e in evs}
        assert "NodeNotReady" in reasons and "TaintManagerEviction" in reasons
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        cm.stop()
        # the session's API server is shared: leave no nodes for others' schedulers
        for n in (node_a, node_b, node_c):
            with contextlib.suppress(NotFound):
                await client.delete(Node, n)
            with contextlib.suppress(NotFound):
                await client.delete(Lease, n, "kube-node-lease")
