"""The controller-manager killed in the middle of a rollout, and leader election."""

from __future__ import annotations

import httpx
import pytest

from api.models import Deployment, Lease, Pod, ReplicaSet
from client import AsyncClient
from controllers import deployment_util as du
from testing.objects import deployment, new_namespace
from testing.support import Process, async_wait_for, free_port, unique
from tests.controllers.helpers import (
    FakeKubelet,
    PodWatch,
    start_controller_manager,
)

pytestmark = pytest.mark.timeout(150)


async def _live_pods(client: AsyncClient, ns: str) -> list[Pod]:
    return [p for p in (await client.list(Pod, ns)).items
            if p.metadata.deletion_timestamp is None]


async def _complete(client: AsyncClient, ns: str, name: str) -> bool:
    d = await client.get(Deployment, name, ns)
    st, want = d.status, du.replicas_of(d)
    return (st is not None and (st.observed_generation or 0) >= (d.metadata.generation or 0)
            and st.updated_replicas == want and st.replicas == want
            and st.available_replicas == want)


async def test_killed_mid_rollout_restarts_and_converges_without_extra_pods(
        server_url: str, client: AsyncClient) -> None:
    ns = await new_namespace(client, "cmr")
    replicas = 6
    cm = start_controller_manager(server_url, "--controllers=deployment,replicaset")
    cm2: Process | None = None
    try:
        # slow readiness stretches the rollout over several seconds
        async with FakeKubelet(client, ns, delay=0.4):
            await client.create(deployment("rs", replicas, strategy={
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}), ns)
            await async_wait_for(lambda: _complete(client, ns, "rs"), timeout=40)
            async with PodWatch(client, ns) as watch:
                await client.patch(Deployment, "rs", {"spec": {"template": {"spec": {
                    "containers": [{"name": "app", "image": "nginx:2"}]}}}}, ns)

                async def midway() -> bool:
                    d = await client.get(Deployment, "rs", ns)
                    return d.status is not None and 2 <= (d.status.updated_replicas or 0) < 5

                await async_wait_for(midway, timeout=40, message="rollout under way")
                cm.kill()
                cm2 = start_controller_manager(server_url, "--controllers=deployment,replicaset")
                await async_wait_for(lambda: _complete(client, ns, "rs"), timeout=60,
                                     message="rollout completed by the new controller-manager")
            pods = await _live_pods(client, ns)
            assert len(pods) == replicas
            assert {p.spec.containers[0].image for p in pods} == {"nginx:2"}
            assert max(n for n, _, _ in watch.samples) <= replicas + 1, watch.samples
            assert min(r for _, r, _ in watch.samples) >= replicas, watch.samples
            rss = (await client.list(ReplicaSet, ns)).items
            assert len(rss) == 2
            assert sorted(du.replicas_of(r) for r in rss) == [0, replicas]
    finally:
        cm.stop()
        if cm2 is not None:
            cm2.stop()


async def test_leader_election_one_acts_and_standby_takes_over(server_url: str,
                                                                client: AsyncClient) -> None:
    ns = await new_namespace(client, "cml")
    lease_name = unique("cm-lease")
    flags = ["--controllers=deployment,replicaset", "--leader-elect",
             "--lease-name", lease_name, "--leader-elect-lease-duration", "6s",
             "--leader-elect-renew-deadline", "4s", "--leader-elect-retry-period", "0.5s"]
    ports = {"cm-a": free_port(), "cm-b": free_port()}
    a = start_controller_manager(server_url, *flags, "--identity", "cm-a", "--metrics-port",
                                 str(ports["cm-a"]), "--metrics-address", "127.0.0.1",
                                 name="cm-a")
    b = start_controller_manager(server_url, *flags, "--identity", "cm-b", "--metrics-port",
                                 str(ports["cm-b"]), "--metrics-address", "127.0.0.1",
                                 name="cm-b")
    try:
        async def holder() -> str | None:
            lease = await client.get(Lease, lease_name, "kube-system")
            return lease.spec.holder_identity

        first = await async_wait_for(holder, timeout=20, message="a leader")
        await client.create(deployment("le", 2), ns)

        async def pods_n(n: int) -> bool:
            return len(await _live_pods(client, ns)) == n

        await async_wait_for(lambda: pods_n(2), timeout=20)

        async def serving(port: int) -> bool:
            async with httpx.AsyncClient() as http:
                return (await http.get(f"http://127.0.0.1:{port}/healthz")).text == "ok"

        # under load the standby may still be importing when the leader already acts
        for port in ports.values():
            await async_wait_for(lambda p=port: serving(p), timeout=30, message="/healthz")
        leader, standby = (a, b) if first == "cm-a" else (b, a)
        second = "cm-b" if first == "cm-a" else "cm-a"
        async with httpx.AsyncClient() as http:
            lead_metrics = (await http.get(f"http://127.0.0.1:{ports[first]}/metrics")).text
            standby_metrics = (await http.get(f"http://127.0.0.1:{ports[second]}/metrics")).text
            assert (await http.get(f"http://127.0.0.1:{ports[second]}/healthz")).text == "ok"
        assert 'leader_election_master_status{name="controller-manager"} 1' in lead_metrics
        assert 'leader_election_master_status{name="controller-manager"} 0' in standby_metrics
        assert 'controller_reconcile_total{controller="replicaset"} 0' not in lead_metrics
        assert "starting controllers" in leader.log_path.read_text(errors="replace")
        assert "starting controllers" not in standby.log_tail(200), "the standby acted"
        leader.kill()

        async def new_holder() -> bool:
            return await holder() not in (None, first)

        await async_wait_for(new_holder, timeout=20, message="takeover")
        await client.patch_scale(Deployment, "le", 4, ns)
        await async_wait_for(lambda: pods_n(4), timeout=20, message="standby acts")
        assert standby.alive(), standby.log_tail()
    finally:
        a.stop()
        b.stop()
