"""On real Docker: a StatefulSet whose pods turn Ready only through a readiness probe starts
them in order (web-1 created once web-0's probe passed), and each container runs with its
stable identity: hostname ``web-<i>`` and domain ``<serviceName>.<ns>.svc.cluster.local``
(read back from the container's log through pods/log)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from api.models import Pod
from api.models.apps import StatefulSet
from client import AsyncClient, NotFound
from testing.objects import new_namespace
from testing.support import Process, async_wait_for
from tests.controllers.helpers import is_ready, start_controller_manager
from tests.controllers.test_statefulset import Recorder
from tests.kubelet.helpers import KubeletProc, kubelet_on_docker

pytest.importorskip("docker")

pytestmark = [pytest.mark.docker, pytest.mark.timeout(150)]

# print the identity, turn ready after 2 s, then idle until stopped
SCRIPT = ("echo \"$(hostname) $(hostname -f 2>/dev/null || hostname)\"; "
          "trap 'exit 0' TERM; sleep 2; touch /tmp/ready; while true; do sleep 1; done")


@pytest.fixture(scope="module")
def kubelet(server_url: str, dk: Any) -> Iterator[KubeletProc]:
    with kubelet_on_docker(server_url, dk, "stsd") as k:
        yield k


@pytest.fixture(scope="module")
def cm(server_url: str) -> Iterator[Process]:
    p = start_controller_manager(server_url, "--controllers=statefulset,garbagecollector",
                                 name="controller-manager-sts-docker")
    yield p
    p.stop()


@pytest.fixture
async def client(server_url: str, cm: Process) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server_url) as c:
        yield c
    assert cm.alive(), cm.log_tail()


async def _ready_count(client: AsyncClient, ns: str) -> int:
    try:
        st = (await client.get(StatefulSet, "web", ns)).status
    except NotFound:
        return 0
    return (st.ready_replicas or 0) if st else 0


async def test_ordered_start_on_docker_with_stable_hostnames(
        client: AsyncClient, kubelet: KubeletProc) -> None:
    ns = await new_namespace(client, "stsd")
    async with Recorder(client, ns) as rec:
        await client.create(StatefulSet.from_dict({
            "metadata": {"name": "web"},
            "spec": {"replicas": 2, "serviceName": "web-svc",
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                         "nodeName": kubelet.node, "terminationGracePeriodSeconds": 1,
                         "containers": [{
                             "name": "c", "image": "minik8s/busybox:latest",
                             "imagePullPolicy": "Never", "command": ["sh", "-c", SCRIPT],
                             "readinessProbe": {"exec": {"command": ["test", "-f",
                                                                     "/tmp/ready"]},
                                                "periodSeconds": 1}}]}}}}), ns)
        await async_wait_for(lambda: _two_ready(client, ns), timeout=90, message="2 ready")
        assert rec.order("ADDED") == ["web-0", "web-1"]
        assert rec.ready_before_added("web-0", "web-1")
        for i in range(2):
            log = "".join([c async for c in client.pod_logs(f"web-{i}", ns)])
            assert log.split() == [f"web-{i}", f"web-{i}.web-svc.{ns}.svc.cluster.local"], log
        await client.delete(StatefulSet, "web", ns)


async def _two_ready(client: AsyncClient, ns: str) -> bool:
    pods = [p for p in (await client.list(Pod, ns)).items if is_ready(p)]
    return len(pods) == 2 and await _ready_count(client, ns) == 2
