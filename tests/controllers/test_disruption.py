"""The disruption controller in the controller-manager process: a budget's status from
its pods (expectedPods from the Deployment's scale for percentages and maxUnavailable,
the pod count for an integer minAvailable), the DisruptionAllowed condition, an eviction's
disruptedPods entry, a pod whose controller has no scale (SyncFailed), observedGeneration
following spec changes; a FakeKubelet makes pods ready."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.timeutil import now
from client import AsyncClient
from controllers.disruption import DisruptionController
from testing.apiclient import Api, deployment, pod
from testing.support import Process, async_wait_for
from tests.controllers.helpers import FakeKubelet, in_process, start_controller_manager

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def manager(server_url: str) -> Iterator[Process]:
    cm = start_controller_manager(server_url,
                                  "--controllers=disruption,deployment,replicaset")
    yield cm
    cm.stop()


def pdbs(ns: str) -> str:
    return f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets"


def status(api: Api, ns: str, name: str) -> dict[str, Any]:
    out: dict[str, Any] = api.ok("GET", f"{pdbs(ns)}/{name}").get("status") or {}
    return out


async def wait_status(client: AsyncClient, ns: str, name: str, **want: Any
                      ) -> dict[str, Any]:
    """Waits on the event loop (the FakeKubelet runs there too)."""
    async def check() -> dict[str, Any] | None:
        st: dict[str, Any] = (await client.request("GET", f"{pdbs(ns)}/{name}")
                              ).get("status") or {}
        return st if all(st.get(k) == v for k, v in want.items()) else None
    out = await async_wait_for(check, timeout=30, message=f"pdb {name} status {want}")
    assert out is not None
    return out


def condition(st: dict[str, Any]) -> tuple[str, str, str]:
    c = next(c for c in st["conditions"] if c["type"] == "DisruptionAllowed")
    return c["status"], c["reason"], c["message"]


async def test_budget_status_follows_the_deployment(api: Api, client: AsyncClient,
                                                    manager: Process) -> None:
    ns = api.namespace()
    async with FakeKubelet(client, ns):
        api.ok("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("web", 3), 201)
        api.ok("POST", pdbs(ns), {"metadata": {"name": "min"}, "spec": {
            "minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}}, 201)
        api.ok("POST", pdbs(ns), {"metadata": {"name": "pct"}, "spec": {
            "maxUnavailable": "34%", "selector": {"matchLabels": {"app": "web"}}}}, 201)
        st = await wait_status(client, ns, "min", expectedPods=3, currentHealthy=3,
                               desiredHealthy=2, disruptionsAllowed=1, observedGeneration=1)
        assert condition(st) == ("True", "SufficientPods", "")
        # 34% of 3 rounds up to 2 unavailable: 1 must stay healthy.
        await wait_status(client, ns, "pct", expectedPods=3, currentHealthy=3,
                          desiredHealthy=1, disruptionsAllowed=2)
        # A spec change: a new generation, observed once recomputed.
        cur = api.ok("GET", f"{pdbs(ns)}/min")
        cur["spec"]["minAvailable"] = 3
        api.ok("PUT", f"{pdbs(ns)}/min", cur)
        st = await wait_status(client, ns, "min", desiredHealthy=3, disruptionsAllowed=0,
                               observedGeneration=2)
        assert condition(st) == ("False", "InsufficientPods", "")
        # Scaling the Deployment moves expectedPods of the percentage budget.
        api.ok("PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/web",
               {"spec": {"replicas": 4}}, content_type="application/merge-patch+json")
        await wait_status(client, ns, "pct", expectedPods=4, currentHealthy=4,
                          desiredHealthy=2, disruptionsAllowed=2)


async def test_eviction_is_remembered_until_the_pod_goes(api: Api, client: AsyncClient,
                                                         manager: Process) -> None:
    ns = api.namespace()
    async with FakeKubelet(client, ns):
        api.ok("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("web", 3), 201)
        api.ok("POST", pdbs(ns), {"metadata": {"name": "b"}, "spec": {
            "minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}}, 201)
        await wait_status(client, ns, "b", currentHealthy=3, disruptionsAllowed=1)
        pods = api.ok("GET", f"/api/v1/namespaces/{ns}/pods")["items"]
        victim = pods[0]["metadata"]["name"]
        code, out = api.call("POST", f"/api/v1/namespaces/{ns}/pods/{victim}/eviction",
                             {"apiVersion": "policy/v1", "kind": "Eviction",
                              "metadata": {"name": victim}})
        assert code == 201, out
        # The evicted pod no longer counts; its replacement becomes ready and the budget
        # allows one disruption again.
        await wait_status(client, ns, "b", currentHealthy=3, disruptionsAllowed=1,
                          expectedPods=3)
        assert "disruptedPods" not in status(api, ns, "b")


async def test_unscalable_controller_fails_safe(api: Api, client: AsyncClient,
                                                manager: Process) -> None:
    ns = api.namespace()
    async with FakeKubelet(client, ns):
        p = pod("orphan", {"app": "ds"})
        p["metadata"]["ownerReferences"] = [{
            "apiVersion": "apps/v1", "kind": "DaemonSet", "name": "gone",
            "uid": "00000000-0000-0000-0000-000000000001", "controller": True}]
        api.ok("POST", f"/api/v1/namespaces/{ns}/pods", p, 201)
        api.ok("POST", pdbs(ns), {"metadata": {"name": "ds"}, "spec": {
            "maxUnavailable": 1, "selector": {"matchLabels": {"app": "ds"}}}}, 201)

        async def failed() -> bool:
            st = (await client.request("GET", f"{pdbs(ns)}/ds")).get("status") or {}
            return any(c.get("reason") == "SyncFailed" for c in st.get("conditions") or [])
        await async_wait_for(failed, timeout=30, message="SyncFailed condition")
        st = status(api, ns, "ds")
        assert st["disruptionsAllowed"] == 0
        assert condition(st) == ("False", "SyncFailed", 'found no controllers for pod "orphan"')
        # An integer minAvailable needs no controller: the pod count is expected.
        api.ok("POST", pdbs(ns), {"metadata": {"name": "int"}, "spec": {
            "minAvailable": 0, "selector": {"matchLabels": {"app": "ds"}}}}, 201)
        await wait_status(client, ns, "int", expectedPods=1, currentHealthy=1,
                          desiredHealthy=0, disruptionsAllowed=1)


async def test_statefulset_scale_through_the_scale_subresource(
        api: Api, client: AsyncClient, manager: Process) -> None:
    ns = api.namespace()
    sts = api.ok("POST", f"/apis/apps/v1/namespaces/{ns}/statefulsets", {
        "metadata": {"name": "db"}, "spec": {
            "replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}},
                         "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}, 201)
    async with FakeKubelet(client, ns):
        for i in range(2):
            p = pod(f"db-{i}", {"app": "db"})
            p["metadata"]["ownerReferences"] = [{
                "apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
                "uid": sts["metadata"]["uid"], "controller": True}]
            api.ok("POST", f"/api/v1/namespaces/{ns}/pods", p, 201)
        api.ok("POST", pdbs(ns), {"metadata": {"name": "db"}, "spec": {
            "maxUnavailable": 1, "selector": {"matchLabels": {"app": "db"}}}}, 201)
        # expectedPods is the StatefulSet's scale (3), not the 2 pods there are.
        await wait_status(client, ns, "db", expectedPods=3, currentHealthy=2,
                          desiredHealthy=2, disruptionsAllowed=0)


async def test_stale_disruption_target_is_cleared(api: Api, client: AsyncClient) -> None:
    """In process, with a one-second stale timeout (Kubernetes' is two minutes)."""
    async with in_process(client, "disruption-controller", lambda ctx: DisruptionController(
            ctx, stale_pod_disruption_timeout=1.0)):
        ns = api.namespace()
        url = f"/api/v1/namespaces/{ns}/pods"
        api.ok("POST", url, pod("p"), 201)
        cur = api.ok("GET", f"{url}/p")
        cur["status"] = {"phase": "Running", "conditions": [
            {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
             "message": "Eviction API: evicting", "lastTransitionTime": now()}]}
        api.ok("PUT", f"{url}/p/status", cur)

        async def cleared() -> bool:
            p = await client.request("GET", f"{url}/p")
            conds = (p.get("status") or {}).get("conditions") or []
            return any(c["type"] == "DisruptionTarget" and c["status"] == "False"
                       for c in conds)
        await async_wait_for(cleared, timeout=15, message="DisruptionTarget False")
