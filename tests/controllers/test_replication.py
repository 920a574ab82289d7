"""The ReplicationController controller (the ReplicaSet reconciler over RCs) against a real
API server + etcd, the controller-manager running as its own process and a FakeKubelet
marking pods Ready; kubectl scale/get rc and the official client's CoreV1Api."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from api.models import Event, Pod
from api.models.core import ReplicationController
from api.podutil import controller_ref
from client import AsyncClient, NotFound
from testing.kubectl import Kubectl
from testing.objects import new_namespace
from testing.support import Process, async_wait_for
from tests.controllers.helpers import FakeKubelet, start_controller_manager

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def cm(server_url: str) -> Iterator[Process]:
    p = start_controller_manager(server_url,
                                 "--controllers=replicationcontroller,garbagecollector")
    yield p
    p.stop()


@pytest.fixture
async def client(server_url: str, cm: Process) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server_url) as c:
        yield c
    assert cm.alive(), cm.log_tail()


@pytest.fixture
async def ns(client: AsyncClient) -> str:
    return await new_namespace(client, "rc")


def rc_body(name: str, replicas: int, app: str) -> dict[str, Any]:
    # no selector: SetDefaults_ReplicationController takes the template's labels
    return {"metadata": {"name": name},
            "spec": {"replicas": replicas,
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


async def live_pods(client: AsyncClient, ns: str) -> list[Pod]:
    return [p for p in (await client.list(Pod, ns)).items
            if p.metadata.deletion_timestamp is None]


async def owned_by(client: AsyncClient, ns: str, uid: str) -> list[Pod]:
    return [p for p in await live_pods(client, ns)
            if (ref := controller_ref(p)) is not None and ref.uid == uid]


async def test_rc_creates_replaces_scales_and_reports(client: AsyncClient, ns: str,
                                                     kubectl: Kubectl) -> None:
    async with FakeKubelet(client, ns):
        rc = await client.create(ReplicationController.from_dict(rc_body("web", 3, "web")), ns)
        assert rc.spec.selector == {"app": "web"} and rc.metadata.labels == {"app": "web"}
        uid = rc.metadata.uid or ""

        async def n_owned(n: int) -> list[Pod] | None:
            pods = await owned_by(client, ns, uid)
            return pods if len(pods) == n and len(await live_pods(client, ns)) == n else None

        pods = await async_wait_for(lambda: n_owned(3), timeout=20, message="3 pods")
        ref = controller_ref(pods[0])
        assert ref is not None and (ref.kind, ref.api_version, ref.name) == (
            "ReplicationController", "v1", "web")
        assert all(p.metadata.name and p.metadata.name.startswith("web-") for p in pods)

        async def status_ready(n: int) -> ReplicationController | None:
            cur = await client.get(ReplicationController, "web", ns)
            st = cur.status
            ok = (st is not None and st.replicas == n and st.ready_replicas == n
                  and st.available_replicas == n and st.fully_labeled_replicas == n
                  and st.observed_generation == cur.metadata.generation)
            return cur if ok else None

        await async_wait_for(lambda: status_ready(3), timeout=20, message="status 3 ready")

        # a deleted pod is replaced
        victim = pods[0].metadata.name or ""
        await client.delete(Pod, victim, ns)

        async def replaced() -> list[Pod] | None:
            cur = await owned_by(client, ns, uid)
            names = {p.metadata.name for p in cur}
            return cur if len(cur) == 3 and victim not in names else None

        await async_wait_for(replaced, timeout=20, message="deleted pod replaced")

        # events name the RC
        async def created_events() -> list[Event] | None:
            evs = [e for e in (await client.list(Event, ns)).items
                   if e.reason == "SuccessfulCreate"
                   and e.involved_object.kind == "ReplicationController"
                   and e.involved_object.name == "web"]
            return evs or None

        evs = await async_wait_for(created_events, timeout=15, message="SuccessfulCreate")
        assert (evs[0].message or "").startswith("Created pod: web-")

        # kubectl scale rc goes through /scale
        r = kubectl("-n", ns, "scale", "rc", "web", "--replicas=1")
        assert r.stdout.strip() == "replicationcontroller/web scaled"
        await async_wait_for(lambda: n_owned(1), timeout=20, message="scaled down to 1")
        await async_wait_for(lambda: status_ready(1), timeout=20, message="status 1")
        scale = kubectl("-n", ns, "get", "--raw",
                        f"/api/v1/namespaces/{ns}/replicationcontrollers/web/scale").stdout
        assert '"selector":"app=web"' in scale and '"replicas":1' in scale

        lines = kubectl("-n", ns, "get", "rc", "-o", "wide").stdout.splitlines()
        assert lines[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE",
                                    "CONTAINERS", "IMAGES", "SELECTOR"]
        cells = lines[1].split()
        assert cells[:4] == ["web", "1", "1", "1"] and cells[5:] == ["c", "nginx", "app=web"]

        # cascading delete: the garbage collector removes the RC's pods
        await client.delete(ReplicationController, "web", ns)

        async def gone() -> bool:
            return not await live_pods(client, ns)

        await async_wait_for(gone, timeout=20, message="pods collected")


async def test_rc_adopts_orphans_and_releases_pods_that_stop_matching(
        client: AsyncClient, ns: str) -> None:
    orphan = await client.create(Pod.from_dict({
        "metadata": {"name": "stray", "labels": {"app": "adopt", "extra": "x"}},
        "spec": {"containers": [{"name": "c", "image": "x"}]}}), ns)
    rc = await client.create(ReplicationController.from_dict(rc_body("adopter", 2, "adopt")),
                             ns)
    uid = rc.metadata.uid or ""

    async def two_owned() -> list[Pod] | None:
        pods = await owned_by(client, ns, uid)
        return pods if len(pods) == 2 else None

    pods = await async_wait_for(two_owned, timeout=20, message="2 pods owned")
    assert orphan.metadata.uid in {p.metadata.uid for p in pods}, "the orphan was adopted"
    assert len(await live_pods(client, ns)) == 2, "adoption counted towards replicas"
    status = (await client.get(ReplicationController, "adopter", ns)).status
    assert status is not None

    await client.patch(Pod, "stray", {"metadata": {"labels": {"app": "elsewhere"}}}, ns)

    async def released() -> bool:
        stray = await client.get(Pod, "stray", ns)
        owned = await two_owned() or []
        return controller_ref(stray) is None and len(owned) == 2 and \
            "stray" not in {p.metadata.name for p in owned}

    await async_wait_for(released, timeout=20, message="released and replaced")
    assert len(await live_pods(client, ns)) == 3


async def test_official_client_core_v1_rc(server_url: str, client: AsyncClient,
                                          ns: str) -> None:
    with k8s.ApiClient(k8s.Configuration(host=server_url)) as c:
        core = k8s.CoreV1Api(c)
        body = k8s.V1ReplicationController(
            metadata=k8s.V1ObjectMeta(name="py"),
            spec=k8s.V1ReplicationControllerSpec(
                replicas=2, selector={"app": "py"},
                template=k8s.V1PodTemplateSpec(
                    metadata=k8s.V1ObjectMeta(labels={"app": "py"}),
                    spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c",
                                                                   image="nginx")]))))
        made = core.create_namespaced_replication_controller(ns, body)
        assert made.spec.replicas == 2 and made.metadata.generation == 1
        got = core.read_namespaced_replication_controller("py", ns)
        assert got.spec.selector == {"app": "py"}
        patched = core.patch_namespaced_replication_controller_scale(
            "py", ns, {"spec": {"replicas": 0}})
        assert patched.spec.replicas == 0
        assert core.read_namespaced_replication_controller("py", ns).metadata.generation == 2
        listed = core.list_namespaced_replication_controller(ns)
        assert [i.metadata.name for i in listed.items] == ["py"]
        core.delete_namespaced_replication_controller("py", ns)

    async def deleted() -> bool:
        try:
            await client.get(ReplicationController, "py", ns)
        except NotFound:
            return True
        return False

    await async_wait_for(deleted, timeout=10, message="deleted")
