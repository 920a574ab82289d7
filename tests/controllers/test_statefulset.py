"""The StatefulSet controller against a real API server + etcd, the controller-manager as
its own process (statefulset and garbagecollector) and no kubelet: the tests mark pods
Running and Ready through pods/status (by hand, or a FakeKubelet). A watcher records every
pod event of the namespace, in the API server's order, so the tests check what happened
between the polls: the order of creations and deletions, and that no ordinal ever had two
pods at once (also across a controller-manager killed during a rollout)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from api.models import Pod, PodStatus
from api.models.apps import ControllerRevision, StatefulSet
from client import AsyncClient, NotFound
from client.informer import Informer
from controllers import statefulset_util as su
from testing.objects import new_namespace
from testing.support import Process, async_wait_for
from tests.controllers.helpers import (
    FakeKubelet,
    is_ready,
    ready_status,
    start_controller_manager,
)

pytestmark = pytest.mark.timeout(120)

HASH = "controller-revision-hash"


@pytest.fixture(scope="module")
def cm(server_url: str) -> Iterator[dict[str, Process]]:
    holder = {"p": start_controller_manager(server_url,
                                            "--controllers=statefulset,garbagecollector")}
    yield holder
    holder["p"].stop()


@pytest.fixture
async def client(server_url: str, cm: dict[str, Process]) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server_url) as c:
        yield c
    assert cm["p"].alive(), cm["p"].log_tail()


@pytest.fixture
async def ns(client: AsyncClient) -> str:
    return await new_namespace(client, "sts")


def statefulset(name: str, replicas: int = 3, image: str = "nginx:1", **spec: Any
                ) -> StatefulSet:
    return StatefulSet.from_dict({
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "serviceName": f"{name}-svc",
                 "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"terminationGracePeriodSeconds": 0,
                                       "containers": [{"name": "c", "image": image}]}},
                 **spec}})


class Recorder:
    """Every pod event of a namespace: (event, name, uid, ready), and the live pods per
    name after each event (a name with two live uids is a broken identity)."""

    def __init__(self, client: AsyncClient, ns: str) -> None:
        self.informer: Informer[Pod] = Informer(client, Pod, ns)
        self.informer.add_handler(lambda p: self._ev("ADDED", p),
                                  lambda _o, n: self._ev("MODIFIED", n),
                                  lambda p: self._ev("DELETED", p))
        self.events: list[tuple[str, str, str, bool]] = []
        self.live: dict[str, set[str]] = {}
        self.max_per_name = 0

    def _ev(self, kind: str, pod: Any) -> None:
        if not isinstance(pod, Pod):
            pod = getattr(pod, "obj", None)
            if not isinstance(pod, Pod):
                return
        name, uid = pod.metadata.name or "", pod.metadata.uid or ""
        self.events.append((kind, name, uid, is_ready(pod)))
        uids = self.live.setdefault(name, set())
        (uids.discard if kind == "DELETED" else uids.add)(uid)
        self.max_per_name = max(self.max_per_name, len(uids))

    def ready_before_added(self, first: str, then: str) -> bool:
        """``first`` was seen Ready before ``then`` was added."""
        seen_ready = False
        for kind, name, _uid, ready in self.events:
            if name == first and ready:
                seen_ready = True
            if name == then and kind == "ADDED":
                return seen_ready
        return False

    def order(self, kind: str) -> list[str]:
        return [n for k, n, _u, _r in self.events if k == kind]

    async def __aenter__(self) -> Recorder:
        await self.informer.start()
        await self.informer.wait_for_sync(10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.informer.stop()


async def mark_ready(client: AsyncClient, ns: str, name: str) -> None:
    pod = await client.get(Pod, name, ns)
    pod.status = PodStatus.from_dict(ready_status(pod))
    await client.update_status(pod)


async def pod_or_none(client: AsyncClient, ns: str, name: str) -> Pod | None:
    try:
        return await client.get(Pod, name, ns)
    except NotFound:
        return None


async def live(client: AsyncClient, ns: str) -> dict[str, Pod]:
    return {p.metadata.name or "": p for p in (await client.list(Pod, ns)).items
            if p.metadata.deletion_timestamp is None}


async def sts_status(client: AsyncClient, ns: str, name: str) -> Any:
    return (await client.get(StatefulSet, name, ns)).status


async def test_ordered_start_identity_and_reverse_scale_down(client: AsyncClient, ns: str
                                                             ) -> None:
    async with Recorder(client, ns) as rec:
        await client.create(statefulset("web"), ns)
        for i in range(3):
            await async_wait_for(lambda i=i: pod_or_none(client, ns, f"web-{i}"), timeout=15,
                                 message=f"web-{i} created")
            # the controller has seen web-i and written the status: still no next pod
            await async_wait_for(lambda i=i: _replicas_is(client, ns, "web", i + 1),
                                 timeout=15, message="status.replicas")
            assert await pod_or_none(client, ns, f"web-{i + 1}") is None
            await mark_ready(client, ns, f"web-{i}")
        st = await async_wait_for(lambda: _status_if(client, ns, "web", ready=3), timeout=15)
        assert st.replicas == 3 and st.current_revision == st.update_revision
        assert st.current_replicas == 3 and st.updated_replicas == 3
        assert rec.ready_before_added("web-0", "web-1")
        assert rec.ready_before_added("web-1", "web-2")
        assert rec.order("ADDED") == ["web-0", "web-1", "web-2"]
        pod = await client.get(Pod, "web-1", ns)
        assert pod.spec.hostname == "web-1" and pod.spec.subdomain == "web-svc"
        labels = pod.metadata.labels or {}
        assert labels[su.POD_NAME_LABEL] == "web-1" and labels[su.POD_INDEX_LABEL] == "1"
        assert labels[HASH] == st.update_revision
        revs = (await client.list(ControllerRevision, ns)).items
        assert [r.metadata.name for r in revs] == [st.update_revision]
        # scale down: web-2, then web-1
        await client.patch(StatefulSet, "web", {"spec": {"replicas": 1}}, ns)
        await async_wait_for(lambda: _names_are(client, ns, {"web-0"}), timeout=15)
        assert rec.order("DELETED") == ["web-2", "web-1"]
        assert rec.max_per_name == 1


async def _replicas_is(client: AsyncClient, ns: str, name: str, n: int) -> bool:
    st = await sts_status(client, ns, name)
    return st is not None and st.replicas == n


async def _status_if(client: AsyncClient, ns: str, name: str, ready: int) -> Any:
    s = await client.get(StatefulSet, name, ns)
    st = s.status
    if st is None or st.observed_generation != s.metadata.generation:
        return None
    return st if (st.ready_replicas or 0) == ready else None


async def _names_are(client: AsyncClient, ns: str, names: set[str]) -> bool:
    return set(await live(client, ns)) == names and \
        set((p.metadata.name or "") for p in (await client.list(Pod, ns)).items) == names


async def _rolled(client: AsyncClient, ns: str, name: str, image: str, ordinals: set[int]
                  ) -> bool:
    pods = await live(client, ns)
    got = {int(n.rsplit("-", 1)[1]) for n, p in pods.items()
           if p.spec.containers[0].image == image and is_ready(p)}
    return got == ordinals


async def test_rolling_update_with_partition(client: AsyncClient, ns: str) -> None:
    async with FakeKubelet(client, ns), Recorder(client, ns) as rec:
        await client.create(statefulset("db", updateStrategy={
            "type": "RollingUpdate", "rollingUpdate": {"partition": 2}}), ns)
        first = await async_wait_for(lambda: _status_if(client, ns, "db", ready=3), timeout=20)
        await client.patch(StatefulSet, "db", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "nginx:2"}]}}}}, ns)
        await async_wait_for(lambda: _rolled(client, ns, "db", "nginx:2", {2}), timeout=20)
        st = await async_wait_for(lambda: _status_if(client, ns, "db", ready=3), timeout=20)
        assert st.current_revision == first.current_revision != st.update_revision
        assert st.updated_replicas == 1 and st.current_replicas == 2
        # below the partition nothing moves
        assert (await client.get(Pod, "db-1", ns)).spec.containers[0].image == "nginx:1"
        await client.patch(StatefulSet, "db", {"spec": {"updateStrategy": {
            "rollingUpdate": {"partition": 0}}}}, ns)
        await async_wait_for(lambda: _rolled(client, ns, "db", "nginx:2", {0, 1, 2}),
                             timeout=20)
        st = await async_wait_for(lambda: _status_if(client, ns, "db", ready=3), timeout=20)
        await async_wait_for(lambda: _current_is_update(client, ns, "db"), timeout=10)
        assert rec.order("DELETED") == ["db-2", "db-1", "db-0"]
        assert rec.max_per_name == 1
        revs = (await client.list(ControllerRevision, ns)).items
        assert sorted(r.revision for r in revs) == [1, 2]


async def _current_is_update(client: AsyncClient, ns: str, name: str) -> bool:
    st = await sts_status(client, ns, name)
    return bool(st and st.current_revision == st.update_revision and st.current_replicas == 3)


async def test_on_delete_and_parallel(client: AsyncClient, ns: str) -> None:
    async with FakeKubelet(client, ns):
        await client.create(statefulset("od", podManagementPolicy="Parallel",
                                        updateStrategy={"type": "OnDelete"}), ns)
        await async_wait_for(lambda: _status_if(client, ns, "od", ready=3), timeout=20)
        await client.patch(StatefulSet, "od", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "nginx:2"}]}}}}, ns)
        st = await async_wait_for(lambda: _new_update_revision(client, ns, "od"), timeout=10)
        assert st.updated_replicas == 0 and st.current_replicas == 3
        assert all(p.spec.containers[0].image == "nginx:1"
                   for p in (await live(client, ns)).values())
        await client.delete(Pod, "od-1", ns)
        await async_wait_for(lambda: _rolled(client, ns, "od", "nginx:2", {1}), timeout=20)
        assert (await client.get(Pod, "od-0", ns)).spec.containers[0].image == "nginx:1"


async def _new_update_revision(client: AsyncClient, ns: str, name: str) -> Any:
    s = await client.get(StatefulSet, name, ns)
    st = s.status
    if st and st.observed_generation == s.metadata.generation and \
            st.update_revision != st.current_revision:
        return st
    return None


async def test_controller_manager_killed_mid_rollout_keeps_identities(
        server_url: str, client: AsyncClient, ns: str, cm: dict[str, Process]) -> None:
    async with FakeKubelet(client, ns, delay=0.2), Recorder(client, ns) as rec:
        await client.create(statefulset("kv", replicas=4), ns)
        await async_wait_for(lambda: _status_if(client, ns, "kv", ready=4), timeout=30)
        await client.patch(StatefulSet, "kv", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "nginx:2"}]}}}}, ns)
        await async_wait_for(lambda: _rolled(client, ns, "kv", "nginx:2", {3}), timeout=20)
        cm["p"].kill()
        cm["p"] = start_controller_manager(server_url,
                                           "--controllers=statefulset,garbagecollector")
        await async_wait_for(lambda: _rolled(client, ns, "kv", "nginx:2", {1, 2, 3}),
                             timeout=30)
        cm["p"].kill()
        cm["p"] = start_controller_manager(server_url,
                                           "--controllers=statefulset,garbagecollector")
        await async_wait_for(lambda: _rolled(client, ns, "kv", "nginx:2", {0, 1, 2, 3}),
                             timeout=30)
        await asyncio.sleep(0)  # let the recorder take the last events
        assert rec.max_per_name == 1, rec.events
        assert set(rec.live) == {"kv-0", "kv-1", "kv-2", "kv-3"}


def _claims_template(**retention: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"volumeClaimTemplates": [{
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Gi"}}}}]}
    if retention:
        spec["persistentVolumeClaimRetentionPolicy"] = retention
    return spec


async def _claims(client: AsyncClient, ns: str) -> dict[str, Any]:
    from api.models.storage import PersistentVolumeClaim
    return {c.metadata.name or "": c for c in (await client.list(PersistentVolumeClaim, ns)).items
            if c.metadata.deletion_timestamp is None}


async def test_volume_claims_and_retention(client: AsyncClient, ns: str) -> None:
    async with FakeKubelet(client, ns):
        keep = await client.create(statefulset("keep", replicas=2, **_claims_template()), ns)
        drop = await client.create(statefulset("drop", replicas=2, **_claims_template(
            whenDeleted="Delete", whenScaled="Delete")), ns)
        await async_wait_for(lambda: _status_if(client, ns, "keep", ready=2), timeout=20)
        await async_wait_for(lambda: _status_if(client, ns, "drop", ready=2), timeout=20)
        claims = await _claims(client, ns)
        assert set(claims) == {"data-keep-0", "data-keep-1", "data-drop-0", "data-drop-1"}
        c = claims["data-drop-1"]
        assert (c.metadata.labels or {}) == {"app": "drop"}
        assert [(r.kind, r.name, r.uid, r.controller) for r in c.metadata.owner_references
                or []] == [("StatefulSet", "drop", drop.metadata.uid, None)]
        assert not claims["data-keep-1"].metadata.owner_references
        pod = await client.get(Pod, "drop-1", ns)
        vols = {v.name: v.to_dict() for v in pod.spec.volumes or []}
        assert vols["data"]["persistentVolumeClaim"] == {"claimName": "data-drop-1"}
        # whenScaled: Delete takes the condemned pod's claim; Retain keeps it
        await client.patch(StatefulSet, "drop", {"spec": {"replicas": 1}}, ns)
        await client.patch(StatefulSet, "keep", {"spec": {"replicas": 1}}, ns)
        await async_wait_for(lambda: _no_claim(client, ns, "data-drop-1"), timeout=20)
        await async_wait_for(lambda: _status_if(client, ns, "keep", ready=1), timeout=20)
        assert "data-keep-1" in await _claims(client, ns)
        # whenDeleted: Delete goes with the set; Retain stays
        await client.delete(StatefulSet, "drop", ns)
        await client.delete(StatefulSet, "keep", ns)
        await async_wait_for(lambda: _no_claim(client, ns, "data-drop-0"), timeout=20)
        assert {"data-keep-0", "data-keep-1"} <= set(await _claims(client, ns))
        assert keep.metadata.uid


async def _no_claim(client: AsyncClient, ns: str, name: str) -> bool:
    return name not in await _claims(client, ns)


async def test_official_client_apps_v1_and_kubectl(server_url: str, client: AsyncClient,
                                                   ns: str, tmp_path: Any) -> None:
    from kubernetes import client as k8s

    from testing.kubectl import Kubectl

    async with FakeKubelet(client, ns):
        with k8s.ApiClient(k8s.Configuration(host=server_url)) as c:
            apps = k8s.AppsV1Api(c)
            body = k8s.V1StatefulSet(
                metadata=k8s.V1ObjectMeta(name="py"),
                spec=k8s.V1StatefulSetSpec(
                    replicas=2, service_name="py",
                    selector=k8s.V1LabelSelector(match_labels={"app": "py"}),
                    template=k8s.V1PodTemplateSpec(
                        metadata=k8s.V1ObjectMeta(labels={"app": "py"}),
                        spec=k8s.V1PodSpec(containers=[k8s.V1Container(
                            name="c", image="nginx:1")]))))
            made = await asyncio.to_thread(apps.create_namespaced_stateful_set, ns, body)
            assert made.spec.pod_management_policy == "OrderedReady"
            assert made.status.replicas == 0
            await async_wait_for(lambda: _status_if(client, ns, "py", ready=2), timeout=20)
            got = await asyncio.to_thread(apps.read_namespaced_stateful_set, "py", ns)
            assert got.status.ready_replicas == 2 and got.status.current_revision
            kubectl = Kubectl(server_url, tmp_path)
            out = await asyncio.to_thread(kubectl, "-n", ns, "rollout", "status", "sts/py",
                                          "--timeout=30s")
            assert out.stdout == "partitioned roll out complete: 2 new pods have been " \
                "updated...\n"
            await asyncio.to_thread(apps.patch_namespaced_stateful_set, "py", ns, {
                "spec": {"template": {"spec": {"containers": [
                    {"name": "c", "image": "nginx:2"}]}}}})
            await async_wait_for(lambda: _rolled(client, ns, "py", "nginx:2", {0, 1}),
                                 timeout=30)
            hist = await asyncio.to_thread(kubectl, "-n", ns, "rollout", "history", "sts/py")
            assert hist.stdout.split() == ["statefulset.apps/py", "REVISION", "CHANGE-CAUSE",
                                           "1", "<none>", "2", "<none>"]
            out = await asyncio.to_thread(kubectl, "-n", ns, "rollout", "undo", "sts/py")
            assert out.stdout == "statefulset.apps/py rolled back\n"
            await async_wait_for(lambda: _rolled(client, ns, "py", "nginx:1", {0, 1}),
                                 timeout=30)
            # the controller's revision is byte for byte what kubectl would patch: skipped
            out = await asyncio.to_thread(kubectl, "-n", ns, "rollout", "undo", "sts/py",
                                          "--to-revision=3")
            assert out.stdout == "statefulset.apps/py skipped rollback (current template " \
                "already matches revision 3)\n"
            scaled = await asyncio.to_thread(apps.patch_namespaced_stateful_set_scale, "py",
                                             ns, {"spec": {"replicas": 1}})
            assert scaled.spec.replicas == 1
            await async_wait_for(lambda: _names_are(client, ns, {"py-0"}), timeout=20)
            await asyncio.to_thread(apps.delete_namespaced_stateful_set, "py", ns)
            await async_wait_for(lambda: _names_are(client, ns, set()), timeout=20)


async def test_ordinals_start_and_max_unavailable(client: AsyncClient, ns: str) -> None:
    """ordinals.start names the pods from 5; a Parallel set rolls with maxUnavailable 2:
    two pods down at a time at most, and two at some point."""
    async with FakeKubelet(client, ns, delay=0.5), Recorder(client, ns) as rec:
        await client.create(statefulset("mu", replicas=4, podManagementPolicy="Parallel",
                                        ordinals={"start": 5}, updateStrategy={
                                            "type": "RollingUpdate", "rollingUpdate": {
                                                "maxUnavailable": 2}}), ns)
        await async_wait_for(lambda: _status_if(client, ns, "mu", ready=4), timeout=20)
        assert set(await live(client, ns)) == {"mu-5", "mu-6", "mu-7", "mu-8"}
        ready: dict[str, bool] = {}
        worst = 0

        def track(kind: str, pod: Any) -> None:
            nonlocal worst
            pod = getattr(pod, "obj", pod)  # a tombstone's last state
            if kind == "DELETED":
                ready.pop(pod.metadata.name or "", None)
            else:
                ready[pod.metadata.name or ""] = is_ready(pod) and \
                    pod.metadata.deletion_timestamp is None
            worst = max(worst, 4 - sum(ready.values()))

        for p in rec.informer.store.list():
            ready[p.metadata.name or ""] = is_ready(p)
        rec.informer.add_handler(lambda p: track("ADDED", p), lambda _o, n: track("M", n),
                                 lambda p: track("DELETED", p))
        await client.patch(StatefulSet, "mu", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "nginx:2"}]}}}}, ns)
        await async_wait_for(lambda: _rolled(client, ns, "mu", "nginx:2", {5, 6, 7, 8}),
                             timeout=30)
        assert worst == 2
        assert rec.max_per_name == 1


async def test_min_ready_seconds_holds_the_next_ordinal(client: AsyncClient, ns: str) -> None:
    """OrderedReady with minReadySeconds 3: the next pod waits until the previous one has
    been Ready that long (Ready's lastTransitionTime has whole seconds, so >= 2 s here)."""
    import time

    seen: dict[str, float] = {}
    async with FakeKubelet(client, ns), Recorder(client, ns) as rec:
        def stamp(pod: Any) -> None:
            pod = getattr(pod, "obj", pod)
            name = pod.metadata.name or ""
            if is_ready(pod):
                seen.setdefault(name + "/ready", time.monotonic())
            seen.setdefault(name + "/added", time.monotonic())

        rec.informer.add_handler(stamp, lambda _o, n: stamp(n), None)
        await client.create(statefulset("mr", replicas=2, minReadySeconds=3), ns)
        st = await async_wait_for(lambda: _status_if(client, ns, "mr", ready=2), timeout=30)
        await async_wait_for(lambda: _available_is(client, ns, "mr", 2), timeout=10)
        assert st.replicas == 2
        assert seen["mr-1/added"] - seen["mr-0/ready"] >= 2.0, seen


async def _available_is(client: AsyncClient, ns: str, name: str, n: int) -> bool:
    st = await sts_status(client, ns, name)
    return st is not None and st.available_replicas == n


async def test_failed_pod_is_recreated_with_its_identity(client: AsyncClient, ns: str) -> None:
    from api.models import Event

    async with FakeKubelet(client, ns):
        await client.create(statefulset("fp", replicas=2), ns)
        await async_wait_for(lambda: _status_if(client, ns, "fp", ready=2), timeout=20)
        old = await client.get(Pod, "fp-1", ns)
        old.status = PodStatus.from_dict({"phase": "Failed"})
        await client.update_status(old)

        async def replaced() -> bool:
            p = await pod_or_none(client, ns, "fp-1")
            return p is not None and p.metadata.uid != old.metadata.uid and is_ready(p)
        await async_wait_for(replaced, timeout=20)
        new = await client.get(Pod, "fp-1", ns)
        assert new.spec.hostname == "fp-1"
        events = [e for e in (await client.list(Event, ns)).items
                  if e.reason == "RecreatingFailedPod"]
        assert [e.message for e in events] == [
            f"StatefulSet {ns}/fp is recreating failed Pod fp-1"]


async def test_adopts_only_its_members(client: AsyncClient, ns: str) -> None:
    """An orphan pod named web-0 with the set's labels is adopted (and counted); one named
    otherwise is left alone (ClaimPods with isMemberOf)."""
    async with FakeKubelet(client, ns):
        for name in ("ad-0", "stranger"):
            await client.create(Pod.from_dict({
                "metadata": {"name": name, "labels": {"app": "ad"}},
                "spec": {"terminationGracePeriodSeconds": 0,
                         "containers": [{"name": "c", "image": "nginx:1"}]}}), ns)
        made = await client.create(statefulset("ad", replicas=1), ns)
        st = await async_wait_for(lambda: _status_if(client, ns, "ad", ready=1), timeout=20)
        assert st.replicas == 1
        adopted = await client.get(Pod, "ad-0", ns)
        assert [r.uid for r in adopted.metadata.owner_references or []] == [made.metadata.uid]
        assert not (await client.get(Pod, "stranger", ns)).metadata.owner_references
