"""Deployment, ReplicaSet, garbage-collector and namespace controllers against a real
API server + etcd, with the controller-manager running as its own process.

There is no kubelet: a FakeKubelet marks pods Running/Ready through pods/status."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from api import wellknown as wk
from api.models import Deployment, Event, Namespace, Pod, ReplicaSet
from api.podutil import controller_ref
from client import AsyncClient, NotFound
from client.informer import Informer
from controllers import deployment_util as du
from testing.kubectl import Kubectl
from testing.objects import deployment, new_namespace
from testing.support import Process, async_wait_for
from tests.controllers.helpers import (
    FakeKubelet,
    PodWatch,
    start_controller_manager,
)

pytestmark = pytest.mark.timeout(120)

@pytest.fixture(scope="module")
def cm(server_url: str) -> Iterator[Process]:
    p = start_controller_manager(server_url, "--controllers=*,-nodelifecycle")
    yield p
    p.stop()


@pytest.fixture
async def client(server_url: str, cm: Process) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server_url) as c:
        yield c
    assert cm.alive(), cm.log_tail()


@pytest.fixture
async def ns(client: AsyncClient) -> str:
    return await new_namespace(client, "cm")


async def rs_list(client: AsyncClient, ns: str) -> list[ReplicaSet]:
    return (await client.list(ReplicaSet, ns)).items


async def pod_list(client: AsyncClient, ns: str) -> list[Pod]:
    return [p for p in (await client.list(Pod, ns)).items
            if p.metadata.deletion_timestamp is None]


async def complete(client: AsyncClient, ns: str, name: str) -> Deployment | None:
    d = await client.get(Deployment, name, ns)
    st = d.status
    want = du.replicas_of(d)
    ok = (st is not None and (st.observed_generation or 0) >= (d.metadata.generation or 0)
          and (st.updated_replicas or 0) == want and (st.replicas or 0) == want
          and (st.available_replicas or 0) == want)
    return d if ok else None


async def test_deployment_creates_one_replicaset_and_owned_pods(client: AsyncClient,
                                                                ns: str) -> None:
    async with FakeKubelet(client, ns):
        await client.create(deployment("web", 3), ns)
        d = await async_wait_for(lambda: complete(client, ns, "web"), timeout=30,
                                 message="deployment web complete")
    assert d is not None
    rss = await rs_list(client, ns)
    assert len(rss) == 1
    rs = rss[0]
    h = (rs.metadata.labels or {})[wk.POD_TEMPLATE_HASH_LABEL]
    assert rs.metadata.name == f"web-{h}"
    assert rs.spec.selector.match_labels == {"app": "web", wk.POD_TEMPLATE_HASH_LABEL: h}
    ref = controller_ref(rs)
    assert ref is not None and ref.uid == d.metadata.uid and ref.kind == "Deployment"
    ann = rs.metadata.annotations or {}
    assert ann[wk.REVISION_ANNOTATION] == "1"
    assert ann[wk.DESIRED_REPLICAS_ANNOTATION] == "3" and ann[wk.MAX_REPLICAS_ANNOTATION] == "4"
    assert (d.metadata.annotations or {})[wk.REVISION_ANNOTATION] == "1"
    pods = await pod_list(client, ns)
    assert len(pods) == 3
    for p in pods:
        pref = controller_ref(p)
        assert pref is not None and pref.uid == rs.metadata.uid
        assert pref.block_owner_deletion is True
        assert (p.metadata.name or "").startswith(f"web-{h}-")
        assert (p.metadata.labels or {})[wk.POD_TEMPLATE_HASH_LABEL] == h
    conds = {c.type: c for c in (d.status.conditions if d.status else None) or []}
    assert conds["Available"].status == "True"
    assert conds["Available"].reason == "MinimumReplicasAvailable"
    assert conds["Progressing"].reason == "NewReplicaSetAvailable"
    rs_now = await client.get(ReplicaSet, rs.metadata.name or "", ns)
    assert rs_now.status is not None
    assert (rs_now.status.replicas, rs_now.status.ready_replicas,
            rs_now.status.available_replicas, rs_now.status.fully_labeled_replicas) == (3, 3, 3, 3)
    assert rs_now.status.observed_generation == rs_now.metadata.generation

    async def events() -> list[Event] | None:
        evs = (await client.list(Event, ns)).items
        reasons = {e.reason for e in evs}
        return evs if {"SuccessfulCreate", "ScalingReplicaSet"} <= reasons else None

    evs = await async_wait_for(events, timeout=10, message="events")
    assert any(e.message == f"Scaled up replica set {rs.metadata.name} from 0 to 3"
               for e in evs if e.reason == "ScalingReplicaSet")
    assert any((e.message or "").startswith(f"Created pod: web-{h}-")
               for e in evs if e.reason == "SuccessfulCreate")


async def test_scale_up_and_down_and_replace_deleted_pod(client: AsyncClient, ns: str) -> None:
    async with FakeKubelet(client, ns):
        await client.create(deployment("sc", 2), ns)
        await async_wait_for(lambda: complete(client, ns, "sc"), timeout=30)
        await client.patch_scale(Deployment, "sc", 5, ns)

        async def pods_n(n: int) -> bool:
            return len(await pod_list(client, ns)) == n and bool(await complete(client, ns, "sc"))

        await async_wait_for(lambda: pods_n(5), timeout=30, message="5 pods")
        await client.patch_scale(Deployment, "sc", 1, ns)
        await async_wait_for(lambda: pods_n(1), timeout=30, message="1 pod")
        assert len(await rs_list(client, ns)) == 1
        victim = (await pod_list(client, ns))[0]
        await client.delete(Pod, victim.metadata.name or "", ns)

        async def replaced() -> bool:
            pods = await pod_list(client, ns)
            return len(pods) == 1 and pods[0].metadata.uid != victim.metadata.uid

        await async_wait_for(replaced, timeout=20, message="replacement pod")

    async def deleted_event() -> bool:  # events are written behind the controller's work
        return any(e.reason == "SuccessfulDelete" for e in (await client.list(Event, ns)).items)

    await async_wait_for(deleted_event, timeout=15, message="a SuccessfulDelete event")


async def test_rolling_update_respects_surge_and_unavailable_then_rollback(
        client: AsyncClient, ns: str) -> None:
    replicas = 5  # 25% -> surge 2 (rounded up), unavailable 1 (rounded down)
    async with FakeKubelet(client, ns, delay=0.05):
        await client.create(deployment("roll", replicas, "nginx:1"), ns)
        await async_wait_for(lambda: complete(client, ns, "roll"), timeout=30)
        async with PodWatch(client, ns) as watch:
            await client.patch(Deployment, "roll", {"spec": {"template": {"spec": {
                "containers": [{"name": "app", "image": "nginx:2"}]}}}}, ns)
            await async_wait_for(lambda: complete(client, ns, "roll"), timeout=60,
                                 message="rollout to nginx:2")
        assert watch.samples, "the watch saw the rollout"
        assert max(n for n, _, _ in watch.samples) <= replicas + 2, watch.samples
        assert min(r for _, r, _ in watch.samples) >= replicas - 1, watch.samples
        assert max(len(h) for _, _, h in watch.samples) == 2, "old and new pods overlapped"
        d = await client.get(Deployment, "roll", ns)
        assert (d.metadata.annotations or {})[wk.REVISION_ANNOTATION] == "2"
        rss = {(r.metadata.annotations or {})[wk.REVISION_ANNOTATION]: r
               for r in await rs_list(client, ns)}
        assert sorted(rss) == ["1", "2"]
        assert du.replicas_of(rss["1"]) == 0 and du.replicas_of(rss["2"]) == replicas
        images = {p.spec.containers[0].image for p in await pod_list(client, ns)}
        assert images == {"nginx:2"}

        # rollback as `kubectl rollout undo` does it: the old template goes back into the
        # Deployment's spec; the ReplicaSet that has it becomes new with revision 3.
        old_rs = rss["1"]
        assert old_rs.spec.template is not None
        template = old_rs.spec.template.to_dict()
        template["metadata"]["labels"].pop(wk.POD_TEMPLATE_HASH_LABEL)
        await client.patch(Deployment, "roll", [
            {"op": "replace", "path": "/spec/template", "value": template}], ns,
            patch_type="json")
        await async_wait_for(lambda: complete(client, ns, "roll"), timeout=60,
                             message="rollback to nginx:1")
        back = await client.get(ReplicaSet, old_rs.metadata.name or "", ns)
        ann = back.metadata.annotations or {}
        assert ann[wk.REVISION_ANNOTATION] == "3" and ann[wk.REVISION_HISTORY_ANNOTATION] == "1"
        assert du.replicas_of(back) == replicas
        assert len(await rs_list(client, ns)) == 2
        d = await client.get(Deployment, "roll", ns)
        assert (d.metadata.annotations or {})[wk.REVISION_ANNOTATION] == "3"
        images = {p.spec.containers[0].image for p in await pod_list(client, ns)}
        assert images == {"nginx:1"}


async def test_recreate_never_overlaps_and_paused_only_scales(client: AsyncClient,
                                                              ns: str) -> None:
    async with FakeKubelet(client, ns):
        await client.create(deployment("rc", 3, strategy={"type": "Recreate"}), ns)
        await async_wait_for(lambda: complete(client, ns, "rc"), timeout=30)
        async with PodWatch(client, ns) as watch:
            await client.patch(Deployment, "rc", {"spec": {"template": {"spec": {
                "containers": [{"name": "app", "image": "nginx:2"}]}}}}, ns)
            await async_wait_for(lambda: complete(client, ns, "rc"), timeout=60)
        assert max(len(h) for _, _, h in watch.samples) == 1, "old and new pods coexisted"

        await client.patch(Deployment, "rc", {"spec": {"paused": True}}, ns)
        await client.patch(Deployment, "rc", {"spec": {"replicas": 4, "template": {"spec": {
            "containers": [{"name": "app", "image": "nginx:3"}]}}}}, ns)

        async def scaled_not_rolled() -> bool:
            pods = await pod_list(client, ns)
            return len(pods) == 4 and {p.spec.containers[0].image for p in pods} == {"nginx:2"}

        await async_wait_for(scaled_not_rolled, timeout=30, message="paused scale to 4")
        assert len(await rs_list(client, ns)) == 2
        d = await client.get(Deployment, "rc", ns)
        cond = du.get_condition(d.status, "Progressing")
        assert cond is not None and cond.reason == "DeploymentPaused"
        await client.patch(Deployment, "rc", {"spec": {"paused": False}}, ns)

        async def rolled() -> bool:
            pods = await pod_list(client, ns)
            return (len(pods) == 4 and {p.spec.containers[0].image for p in pods} == {"nginx:3"}
                    and bool(await complete(client, ns, "rc")))

        await async_wait_for(rolled, timeout=60, message="resumed rollout")


async def _owned_world(client: AsyncClient, ns: str, name: str) -> tuple[Deployment,
                                                                        list[ReplicaSet],
                                                                        list[Pod]]:
    await client.create(deployment(name, 2), ns)

    async def ready() -> bool:
        return len(await rs_list(client, ns)) == 1 and len(await pod_list(client, ns)) == 2

    await async_wait_for(ready, timeout=30, message="deployment with 2 pods")
    return (await client.get(Deployment, name, ns), await rs_list(client, ns),
            await pod_list(client, ns))


async def _gone(client: AsyncClient, ns: str, model: type[Any], name: str) -> bool:
    try:
        await client.get(model, name, ns)
    except NotFound:
        return True
    return False


async def test_cascading_delete_background(client: AsyncClient, ns: str) -> None:
    await _owned_world(client, ns, "bg")
    await client.delete(Deployment, "bg", ns, propagation_policy="Background")

    async def all_gone() -> bool:
        return not await rs_list(client, ns) and not (await client.list(Pod, ns)).items

    await async_wait_for(all_gone, timeout=30, message="ReplicaSet and pods collected")


async def test_cascading_delete_foreground(client: AsyncClient, ns: str) -> None:
    await _owned_world(client, ns, "fg")
    # deletion order from the watch: a DELETED event's resourceVersion is the etcd
    # revision of the delete, one order across kinds
    deleted: dict[str, list[int]] = {"Pod": [], "ReplicaSet": [], "Deployment": []}
    informers: list[Informer[Any]] = []
    for model in (Pod, ReplicaSet, Deployment):
        inf: Informer[Any] = Informer(client, model, ns)
        inf.add_handler(None, None, lambda o: deleted[o.kind or type(o).__name__].append(
            int(o.metadata.resource_version or 0)))
        informers.append(inf)
        await inf.start()
        await inf.wait_for_sync(10)
    try:
        res = await client.delete(Deployment, "fg", ns, propagation_policy="Foreground")
        assert res is not None and "foregroundDeletion" in (res.metadata.finalizers or [])
        await async_wait_for(lambda: len(deleted["Deployment"]) == 1 and len(deleted["Pod"]) == 2
                             and len(deleted["ReplicaSet"]) == 1, timeout=30,
                             message="foreground deletion")
    finally:
        for inf in informers:
            await inf.stop()
    assert max(deleted["Pod"]) < deleted["ReplicaSet"][0] < deleted["Deployment"][0], deleted


async def test_cascading_delete_orphan(client: AsyncClient, ns: str) -> None:
    d, rss, pods = await _owned_world(client, ns, "or")
    await client.delete(Deployment, "or", ns, propagation_policy="Orphan")
    await async_wait_for(lambda: _gone(client, ns, Deployment, "or"), timeout=30)
    rs = await client.get(ReplicaSet, rss[0].metadata.name or "", ns)
    assert not [r for r in rs.metadata.owner_references or [] if r.uid == d.metadata.uid]
    left = await pod_list(client, ns)
    assert {p.metadata.uid for p in left} == {p.metadata.uid for p in pods}


async def test_dependent_of_missing_owner_is_collected(client: AsyncClient, ns: str) -> None:
    pod = Pod.from_dict({
        "metadata": {"name": "orphaned", "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "never-existed",
            "uid": "00000000-0000-0000-0000-000000000000"}]},
        "spec": {"containers": [{"name": "c", "image": "x"}]}})
    await client.create(pod, ns)
    await async_wait_for(lambda: _gone(client, ns, Pod, "orphaned"), timeout=20,
                         message="dangling dependent deleted")


async def test_namespace_deletion_removes_everything(client: AsyncClient, ns: str) -> None:
    await _owned_world(client, ns, "nsd")
    await client.delete(Namespace, ns)
    got = await client.get(Namespace, ns)
    assert got.status is not None and got.status.phase == "Terminating"
    await async_wait_for(lambda: _gone(client, "", Namespace, ns), timeout=30,
                         message="namespace removed")
    assert not (await client.list(Pod, ns)).items
    assert not (await client.list(ReplicaSet, ns)).items
    assert not (await client.list(Deployment, ns)).items


async def test_kubectl_rollout_status_history_and_undo(client: AsyncClient, ns: str,
                                                       kubectl: Kubectl) -> None:
    def run(*args: str) -> str:
        return kubectl("-n", ns, *args, timeout=60).stdout

    async with FakeKubelet(client, ns, delay=0.05):
        await client.create(deployment("kc", 2), ns)
        out = await asyncio.to_thread(run, "rollout", "status", "deployment/kc",
                                      "--timeout=30s")
        assert 'deployment "kc" successfully rolled out' in out
        await asyncio.to_thread(run, "set", "image", "deployment/kc", "app=nginx:2")
        await asyncio.to_thread(run, "rollout", "status", "deployment/kc", "--timeout=30s")
        await asyncio.to_thread(run, "rollout", "undo", "deployment/kc")
        await asyncio.to_thread(run, "rollout", "status", "deployment/kc", "--timeout=30s")
        hist = await asyncio.to_thread(run, "rollout", "history", "deployment/kc")
    revisions = [line.split()[0] for line in hist.splitlines()[2:] if line.strip()]
    assert revisions == ["2", "3"], hist
    images = {p.spec.containers[0].image for p in await pod_list(client, ns)}
    assert images == {"nginx:1"}


async def test_progress_deadline_exceeded_when_pods_never_become_ready(
        client: AsyncClient, ns: str) -> None:
    await client.create(deployment("stuck", 1, progressDeadlineSeconds=2), ns)

    async def timed_out() -> bool:
        d = await client.get(Deployment, "stuck", ns)
        cond = du.get_condition(d.status, "Progressing")
        return cond is not None and cond.status == "False" and cond.reason == du.TIMED_OUT_REASON

    await async_wait_for(timed_out, timeout=20, message="ProgressDeadlineExceeded")
    d = await client.get(Deployment, "stuck", ns)
    avail = du.get_condition(d.status, "Available")
    assert avail is not None and avail.reason == du.MIN_UNAVAILABLE_REASON


async def test_revision_history_limit_cleans_old_replicasets(client: AsyncClient,
                                                             ns: str) -> None:
    async with FakeKubelet(client, ns):
        await client.create(deployment("hist", 1, revisionHistoryLimit=1), ns)
        for image in ("nginx:2", "nginx:3", "nginx:4"):
            await client.patch(Deployment, "hist", {"spec": {"template": {"spec": {
                "containers": [{"name": "app", "image": image}]}}}}, ns)
            await async_wait_for(lambda: complete(client, ns, "hist"), timeout=30)

        async def two_left() -> bool:
            return len(await rs_list(client, ns)) == 2

        await async_wait_for(two_left, timeout=20, message="old ReplicaSets cleaned up")
    revs = sorted(int((r.metadata.annotations or {})[wk.REVISION_ANNOTATION])
                  for r in await rs_list(client, ns))
    assert revs == [3, 4]


async def test_proportional_scaling_in_the_middle_of_a_stuck_rollout(client: AsyncClient,
                                                                     ns: str) -> None:
    # pods of the "bad" image never become ready, so the rollout stops half-way
    async with FakeKubelet(client, ns, ready=lambda p: p.spec.containers[0].image != "bad"):
        await client.create(deployment("prop", 4, strategy={
            "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 0}}),
            ns)
        await async_wait_for(lambda: complete(client, ns, "prop"), timeout=30)
        await client.patch(Deployment, "prop", {"spec": {"template": {"spec": {
            "containers": [{"name": "app", "image": "bad"}]}}}}, ns)

        async def sizes() -> dict[str, int]:
            return {r.spec.template.spec.containers[0].image: du.replicas_of(r)
                    for r in await rs_list(client, ns) if r.spec.template}

        async def stuck() -> bool:
            return await sizes() == {"nginx:1": 4, "bad": 2}

        await async_wait_for(stuck, timeout=20, message="rollout stuck at 4 old + 2 new")
        await client.patch_scale(Deployment, "prop", 8, ns)

        async def spread() -> bool:
            # 8 + surge 2 = 10 pods allowed; 6 -> 10 shared 4:2 -> old 7, new 3
            return await sizes() == {"nginx:1": 7, "bad": 3}

        await async_wait_for(spread, timeout=20, message="proportional scale-up")


async def test_replicaset_adopts_orphans_and_releases_pods_that_stop_matching(
        client: AsyncClient, ns: str) -> None:
    orphan = await client.create(Pod.from_dict({
        "metadata": {"name": "stray", "labels": {"app": "adopt"}},
        "spec": {"containers": [{"name": "c", "image": "x"}]}}), ns)
    rs = await client.create(ReplicaSet.from_dict({
        "metadata": {"name": "adopter"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "adopt"}},
                 "template": {"metadata": {"labels": {"app": "adopt"}},
                              "spec": {"containers": [{"name": "c", "image": "x"}]}}}}), ns)

    async def owned() -> list[Pod] | None:
        pods = [p for p in await pod_list(client, ns)
                if (ref := controller_ref(p)) is not None and ref.uid == rs.metadata.uid]
        return pods if len(pods) == 2 else None

    pods = await async_wait_for(owned, timeout=20, message="2 pods owned")
    assert orphan.metadata.uid in {p.metadata.uid for p in pods}, "the orphan was adopted"
    assert len(await pod_list(client, ns)) == 2, "adoption counted towards replicas"

    await client.patch(Pod, "stray", {"metadata": {"labels": {"app": "elsewhere"}}}, ns)

    async def released() -> bool:
        stray = await client.get(Pod, "stray", ns)
        return controller_ref(stray) is None and bool(await owned()) and \
            "stray" not in {p.metadata.name for p in (await owned() or [])}

    await async_wait_for(released, timeout=20, message="released and replaced")
    assert len(await pod_list(client, ns)) == 3


async def test_min_ready_seconds_delays_availability(client: AsyncClient, ns: str) -> None:
    async with FakeKubelet(client, ns):
        await client.create(deployment("mrs", 2, minReadySeconds=2), ns)

        async def counts() -> tuple[int, int]:
            rs = await rs_list(client, ns)
            st = rs[0].status if rs else None
            return ((st.ready_replicas or 0, st.available_replicas or 0) if st else (0, 0))

        async def ready_not_available() -> bool:
            return await counts() == (2, 0)

        await async_wait_for(ready_not_available, timeout=20, message="ready, not available")
        t0 = time.monotonic()

        async def available() -> bool:
            return await counts() == (2, 2)

        await async_wait_for(available, timeout=20, message="available after minReadySeconds")
        assert time.monotonic() - t0 >= 0.9
        await async_wait_for(lambda: complete(client, ns, "mrs"), timeout=20)
