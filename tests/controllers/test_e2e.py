"""The controller-manager with the real scheduler and two kubelets on the fake runtime:
a Deployment is scheduled, run, rolled to a new image and scaled, end to end."""

from __future__ import annotations

import contextlib

import pytest

from api import wellknown as wk
from api.models import Deployment, Lease, Node, Pod
from client import AsyncClient, NotFound
from testing.objects import deployment, new_namespace
from testing.support import ApiServer, Process, async_wait_for, free_port, service, unique
from tests.controllers.helpers import start_controller_manager

pytestmark = pytest.mark.timeout(150)


@pytest.fixture(scope="module")
def server_url(private_apiserver: ApiServer) -> str:
    # the scheduler here would bind other tests' leftover pods to these nodes and fill them
    return private_apiserver.url


async def test_deployment_through_scheduler_and_fake_kubelets(server_url: str,
                                                               client: AsyncClient) -> None:
    ns = await new_namespace(client, "cme")
    nodes = [unique("e2e-node"), unique("e2e-node")]
    procs: list[Process] = [
        start_controller_manager(server_url, "--controllers=deployment,replicaset"),
        service("scheduler", "scheduler", ["--server", server_url]),
        *(service(f"kubelet-{n}", "kubelet", ["--server", server_url, "--runtime", "fake",
                                              "--node-name", n, "--port", str(free_port()),
                                              "--no-http"]) for n in nodes),
    ]
    try:
        await client.create(deployment("e2e", 4), ns)

        async def rolled(image: str, replicas: int) -> list[Pod] | None:
            d = await client.get(Deployment, "e2e", ns)
            st = d.status
            if not (st and (st.observed_generation or 0) >= (d.metadata.generation or 0)
                    and st.updated_replicas == replicas and st.replicas == replicas
                    and st.available_replicas == replicas):
                return None
            pods = [p for p in (await client.list(Pod, ns)).items
                    if p.metadata.deletion_timestamp is None]
            ok = len(pods) == replicas and all(
                p.spec.node_name in nodes and p.status and p.status.phase == "Running"
                and p.spec.containers[0].image == image for p in pods)
            return pods if ok else None

        await async_wait_for(lambda: rolled("nginx:1", 4), timeout=60, message="4 running")
        await client.patch(Deployment, "e2e", {"spec": {"template": {"spec": {
            "containers": [{"name": "app", "image": "nginx:2"}]}}}}, ns)
        await async_wait_for(lambda: rolled("nginx:2", 4), timeout=60, message="rolled")
        await client.patch_scale(Deployment, "e2e", 6, ns)
        pods = await async_wait_for(lambda: rolled("nginx:2", 6), timeout=60, message="scaled")
        assert pods is not None
        d = await client.get(Deployment, "e2e", ns)
        assert (d.metadata.annotations or {})[wk.REVISION_ANNOTATION] == "2"
    finally:
        for p in reversed(procs):
            p.stop()
        # the session's API server is shared: leave no nodes for others' schedulers
        for n in nodes:
            with contextlib.suppress(NotFound):
                await client.delete(Node, n)
            with contextlib.suppress(NotFound):
                await client.delete(Lease, n, "kube-node-lease")
