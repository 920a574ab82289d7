"""Graceful deletion: finalizers, pod grace periods, propagation policies, preconditions."""

from __future__ import annotations

import pytest

from testing.apiclient import Api, Watch, deployment, names, pod


def test_finalizers_hold_the_object(api: Api, ns: str, server_url: str) -> None:
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    d = deployment("fin")
    d["metadata"]["finalizers"] = ["example.com/hold"]
    api.ok("POST", base, d, 201)
    w = Watch(server_url, base, timeoutSeconds=20)
    try:
        assert names(w.collect(1)) == [("ADDED", "fin")]
        out = api.ok("DELETE", f"{base}/fin")
        assert out["metadata"]["deletionTimestamp"]
        assert out["metadata"]["deletionGracePeriodSeconds"] == 0
        got = api.ok("GET", f"{base}/fin")
        assert got["metadata"]["finalizers"] == ["example.com/hold"]
        # No new finalizer may be added while deleting.
        got["metadata"]["finalizers"] = ["example.com/hold", "example.com/more"]
        code, st = api.call("PUT", f"{base}/fin", got)
        assert code == 422 and st["reason"] == "Invalid"
        # Deleting again changes nothing.
        again = api.ok("DELETE", f"{base}/fin")
        assert again["metadata"]["deletionTimestamp"] == out["metadata"]["deletionTimestamp"]
        # Removing the last finalizer removes the object.
        api.ok("PATCH", f"{base}/fin", {"metadata": {"finalizers": None}},
               content_type="application/merge-patch+json")
        code, _ = api.call("GET", f"{base}/fin")
        assert code == 404
        assert names(w.collect(2)) == [("MODIFIED", "fin"), ("DELETED", "fin")]
    finally:
        w.close()


@pytest.mark.parametrize(("policy", "finalizer"), [("Foreground", "foregroundDeletion"),
                                                    ("Orphan", "orphan")])
def test_propagation_policy_recorded(api: Api, ns: str, policy: str, finalizer: str) -> None:
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    api.ok("POST", base, deployment("pp"), 201)
    out = api.ok("DELETE", f"{base}/pp", {"kind": "DeleteOptions", "apiVersion": "v1",
                                           "propagationPolicy": policy})
    assert out["metadata"]["finalizers"] == [finalizer]
    assert out["metadata"]["deletionTimestamp"]
    # The garbage collector removes its finalizer when done: then the object goes.
    api.ok("PATCH", f"{base}/pp", [{"op": "remove", "path": "/metadata/finalizers"}],
           content_type="application/json-patch+json")
    assert api.call("GET", f"{base}/pp")[0] == 404


def test_background_deletes_at_once_and_returns_status(api: Api, ns: str) -> None:
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    api.ok("POST", base, deployment("bg"), 201)
    out = api.ok("DELETE", f"{base}/bg", propagationPolicy="Background")
    assert out["kind"] == "Status" and out["status"] == "Success"
    assert out["details"]["name"] == "bg" and out["details"]["kind"] == "deployments"
    assert api.call("GET", f"{base}/bg")[0] == 404
    code, st = api.call("DELETE", f"{base}/bg")
    assert code == 404 and st["reason"] == "NotFound"
    code, st = api.call("DELETE", f"{base}/bg", propagationPolicy="Sideways")
    assert code in (404, 422)


def test_bound_pod_waits_for_kubelet(api: Api, ns: str, server_url: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", base, pod("bound", terminationGracePeriodSeconds=20), 201)
    api.ok("POST", f"{base}/bound/binding", {"target": {"name": "n1"}}, 201)
    w = Watch(server_url, base, timeoutSeconds=20)
    try:
        w.collect(1)
        out = api.ok("DELETE", f"{base}/bound")
        assert out["kind"] == "Pod"
        assert out["metadata"]["deletionGracePeriodSeconds"] == 20
        assert out["metadata"]["deletionTimestamp"]
        assert api.ok("GET", f"{base}/bound")["metadata"]["deletionTimestamp"]
        # A shorter grace period from the client wins.
        first_deadline = out["metadata"]["deletionTimestamp"]
        out = api.ok("DELETE", f"{base}/bound", gracePeriodSeconds=5)
        assert out["metadata"]["deletionGracePeriodSeconds"] == 5
        assert out["metadata"]["deletionTimestamp"] < first_deadline
        # The kubelet's final delete.
        out = api.ok("DELETE", f"{base}/bound", {"gracePeriodSeconds": 0})
        assert out["kind"] == "Pod"
        assert api.call("GET", f"{base}/bound")[0] == 404
        evs = w.collect(3)
        assert names(evs) == [("MODIFIED", "bound"), ("MODIFIED", "bound"),
                              ("DELETED", "bound")]
    finally:
        w.close()


def test_unbound_pod_deleted_at_once(api: Api, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", base, pod("free"), 201)
    out = api.ok("DELETE", f"{base}/free")
    assert out["kind"] == "Pod"
    assert api.call("GET", f"{base}/free")[0] == 404


def test_bound_pod_with_finalizer(api: Api, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    p = pod("pf")
    p["metadata"]["finalizers"] = ["example.com/x"]
    api.ok("POST", base, p, 201)
    api.ok("POST", f"{base}/pf/binding", {"target": {"name": "n1"}}, 201)
    api.ok("DELETE", f"{base}/pf")
    api.ok("DELETE", f"{base}/pf", gracePeriodSeconds=0)
    got = api.ok("GET", f"{base}/pf")  # the finalizer still holds it
    assert got["metadata"]["deletionGracePeriodSeconds"] == 0
    api.ok("PATCH", f"{base}/pf", {"metadata": {"finalizers": []}},
           content_type="application/merge-patch+json")
    assert api.call("GET", f"{base}/pf")[0] == 404


def test_preconditions(api: Api, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/pods"
    p = api.ok("POST", base, pod("pre"), 201)
    code, st = api.call("DELETE", f"{base}/pre", {"preconditions": {"uid": "wrong"}})
    assert code == 409 and st["reason"] == "Conflict"
    code, st = api.call("DELETE", f"{base}/pre", {"preconditions": {"resourceVersion": "1"}})
    assert code == 409
    api.ok("DELETE", f"{base}/pre", {"preconditions": {
        "uid": p["metadata"]["uid"], "resourceVersion": p["metadata"]["resourceVersion"]}})
    assert api.call("GET", f"{base}/pre")[0] == 404
