"""The resourcequota controller in the controller-manager process: a new quota gets its
status (hard from spec, used counted from the namespace), deletes and finished pods give
usage back so creates the quota refused pass again, and a change of spec.hard is
followed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from testing.apiclient import Api, deployment, pod
from testing.support import Process, wait_for
from tests.controllers.helpers import start_controller_manager


@pytest.fixture(scope="module")
def manager(server_url: str) -> Iterator[Process]:
    cm = start_controller_manager(server_url, "--controllers=resourcequota")
    yield cm
    cm.stop()


def status_of(api: Api, ns: str, name: str) -> dict[str, Any]:
    out: dict[str, Any] = api.ok(
        "GET", f"/api/v1/namespaces/{ns}/resourcequotas/{name}").get("status") or {}
    return out


def wait_used(api: Api, ns: str, name: str, want: dict[str, str]) -> None:
    wait_for(lambda: status_of(api, ns, name).get("used") == want, timeout=20,
             message=f"quota {name} used {want} (have {status_of(api, ns, name)})")


def test_quota_status_follows_the_namespace(api: Api, manager: Process) -> None:
    ns = api.namespace()
    pods = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", pods, pod("before"), 201)
    hard = {"pods": "2", "configmaps": "3", "count/deployments.apps": "1",
            "services.nodeports": "1"}
    api.ok("POST", f"/api/v1/namespaces/{ns}/resourcequotas",
           {"metadata": {"name": "q"}, "spec": {"hard": hard}}, 201)
    wait_used(api, ns, "q", {"configmaps": "0", "count/deployments.apps": "0", "pods": "1",
                             "services.nodeports": "0"})
    assert status_of(api, ns, "q")["hard"] == hard
    api.ok("POST", pods, pod("second"), 201)
    code, body = api.call("POST", pods, pod("third"))
    assert code == 403 and body["message"] == (
        'pods "third" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, '
        "limited: pods=2")
    # A delete gives the usage back; the refused create then passes.
    api.ok("DELETE", f"{pods}/before")
    wait_used(api, ns, "q", {"configmaps": "0", "count/deployments.apps": "0", "pods": "1",
                             "services.nodeports": "0"})
    api.ok("POST", pods, pod("third"), 201)
    # A finished pod no longer counts.
    st = api.ok("GET", f"{pods}/third")
    st["status"]["phase"] = "Succeeded"
    api.ok("PUT", f"{pods}/third/status", st)
    wait_used(api, ns, "q", {"configmaps": "0", "count/deployments.apps": "0", "pods": "1",
                             "services.nodeports": "0"})
    # Object counts of other groups, and NodePorts.
    deps = f"/apis/apps/v1/namespaces/{ns}/deployments"
    api.ok("POST", deps, deployment("d1"), 201)
    code, body = api.call("POST", deps, deployment("d2"))
    assert code == 403 and "requested: count/deployments.apps=1" in body["message"]
    svc = {"metadata": {"name": "np"}, "spec": {"type": "NodePort", "selector": {"a": "b"},
                                                "ports": [{"port": 80}, {"port": 81,
                                                                         "name": "b"}]}}
    for p in svc["spec"]["ports"]:  # type: ignore[index]
        p.setdefault("name", "a")
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/services", svc)
    assert code == 403 and "services.nodeports=2" in body["message"], body
    # A new hard limit is followed, usage recomputed.
    api.ok("PATCH", f"/api/v1/namespaces/{ns}/resourcequotas/q",
           {"spec": {"hard": {"pods": "5", "count/deployments.apps": "2"}}},
           content_type="application/merge-patch+json")
    wait_for(lambda: status_of(api, ns, "q").get("hard") == {
        "pods": "5", "count/deployments.apps": "2", "configmaps": "3",
        "services.nodeports": "1"}, timeout=20, message="new hard")
    api.ok("POST", deps, deployment("d2"), 201)
    wait_used(api, ns, "q", {"configmaps": "0", "count/deployments.apps": "2", "pods": "1",
                             "services.nodeports": "0"})
