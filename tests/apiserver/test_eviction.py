"""PodDisruptionBudgets (policy/v1) and the pods/eviction subresource on the wire: kubectl
create/get pdb, the official client (PolicyV1Api, CoreV1Api.create_namespaced_pod_eviction),
the budget decremented with the pod in disruptedPods, 429 with the DisruptionBudget cause,
500 for two budgets, terminal and unhealthy pods, dry runs, the Eviction's DeleteOptions.
Budget status is written by hand here (the disruption controller has its own tests)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from testing import kubectl as kubectl_cli
from testing.apiclient import Api, pod

PDBS = "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets"


def running(api: Api, ns: str, name: str, labels: dict[str, str] | None = None,
            ready: bool = True, phase: str = "Running") -> dict[str, Any]:
    url = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", url, pod(name, labels), 201)
    cur = api.ok("GET", f"{url}/{name}")
    cur["status"] = {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}
    out: dict[str, Any] = api.ok("PUT", f"{url}/{name}/status", cur)
    return out


def budget(api: Api, ns: str, name: str, allowed: int, healthy: int = 2, desired: int = 2,
           **spec: Any) -> dict[str, Any]:
    url = PDBS.format(ns=ns)
    created = api.ok("POST", url, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                                   "metadata": {"name": name},
                                   "spec": {"selector": {"matchLabels": {"app": "web"}},
                                            **spec}}, 201)
    created["status"] = {"observedGeneration": created["metadata"]["generation"],
                         "disruptionsAllowed": allowed, "currentHealthy": healthy,
                         "desiredHealthy": desired, "expectedPods": healthy}
    out: dict[str, Any] = api.ok("PUT", f"{url}/{name}/status", created)
    return out


def eviction(name: str, api_version: str = "policy/v1", **delete_options: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": api_version, "kind": "Eviction",
                            "metadata": {"name": name}}
    if delete_options:
        body["deleteOptions"] = delete_options
    return body


def evict(api: Api, ns: str, name: str, body: dict[str, Any] | None = None,
          **params: Any) -> tuple[int, Any]:
    return api.call("POST", f"/api/v1/namespaces/{ns}/pods/{name}/eviction",
                    body or eviction(name), **params)


def gone_or_deleting(api: Api, ns: str, name: str) -> bool:
    code, out = api.call("GET", f"/api/v1/namespaces/{ns}/pods/{name}")
    return code == 404 or bool(out["metadata"].get("deletionTimestamp"))


def test_pdb_crud_table_and_validation(api: Api, ns: str) -> None:
    url = PDBS.format(ns=ns)
    pdb = api.ok("POST", url, {"metadata": {"name": "p"},
                               "spec": {"minAvailable": "50%",
                                        "selector": {"matchLabels": {"app": "web"}}}}, 201)
    assert pdb["metadata"]["generation"] == 1
    assert pdb["status"] == {"disruptionsAllowed": 0, "currentHealthy": 0,
                             "desiredHealthy": 0, "expectedPods": 0}
    code, out = api.call("POST", url, {"metadata": {"name": "bad"},
                                       "spec": {"minAvailable": 1, "maxUnavailable": "120%",
                                                "unhealthyPodEvictionPolicy": "Never"}})
    assert code == 422, out
    fields = [c["field"] for c in out["details"]["causes"]]
    assert fields == ["spec", "spec.maxUnavailable", "spec.unhealthyPodEvictionPolicy"], out
    assert "minAvailable and maxUnavailable cannot be both set" in out["message"]
    assert ('spec.unhealthyPodEvictionPolicy: Unsupported value: "Never": supported values: '
            '"AlwaysAllow", "IfHealthyBudget"') in out["message"]
    table = api.ok("GET", url, None, 200)
    assert table["kind"] == "PodDisruptionBudgetList"
    # Discovery: pods/eviction is a policy/v1 Eviction (what kubectl drain looks for).
    core = api.ok("GET", "/api/v1")
    ev = next(r for r in core["resources"] if r["name"] == "pods/eviction")
    assert (ev["group"], ev["version"], ev["kind"], ev["verbs"]) == (
        "policy", "v1", "Eviction", ["create"])
    policy = api.ok("GET", "/apis/policy/v1")
    assert {r["name"] for r in policy["resources"]} == {
        "poddisruptionbudgets", "poddisruptionbudgets/status"}


def test_kubectl_create_and_get_pdb(kubectl: kubectl_cli.Kubectl, ns: str) -> None:
    out = kubectl("create", "pdb", "web", "-n", ns, "--selector=app=web",
                  "--min-available=2").stdout
    assert out.strip() == "poddisruptionbudget.policy/web created"
    kubectl("create", "pdb", "other", "-n", ns, "--selector=app=x", "--max-unavailable=25%")
    lines = kubectl("get", "pdb", "-n", ns).stdout.splitlines()
    assert lines[0].split() == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED",
                                "DISRUPTIONS", "AGE"]
    assert lines[1].split()[:4] == ["other", "N/A", "25%", "0"]
    assert lines[2].split()[:4] == ["web", "2", "N/A", "0"]
    out = kubectl("get", "poddisruptionbudget", "web", "-n", ns, "-o",
                  "jsonpath={.spec.minAvailable} {.spec.selector.matchLabels.app}").stdout
    assert out == "2 web"


def test_eviction_decrements_the_budget_then_429(api: Api, ns: str) -> None:
    for n in ("a", "b", "c"):
        running(api, ns, n)
    budget(api, ns, "web", allowed=1, healthy=3, desired=2, minAvailable=2)
    code, out = evict(api, ns, "a")
    assert (code, out) == (201, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                 "status": "Success", "code": 201})
    assert gone_or_deleting(api, ns, "a")
    st = api.ok("GET", PDBS.format(ns=ns) + "/web")["status"]
    assert st["disruptionsAllowed"] == 0
    assert list(st["disruptedPods"]) == ["a"]
    cond = next(c for c in st["conditions"] if c["type"] == "DisruptionAllowed")
    assert (cond["status"], cond["reason"]) == ("False", "InsufficientPods")
    code, out = evict(api, ns, "b")
    assert code == 429, out
    assert out["reason"] == "TooManyRequests"
    assert out["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert out["details"]["causes"] == [{
        "reason": "DisruptionBudget",
        "message": "The disruption budget web needs 2 healthy pods and has 3 currently"}]
    assert not gone_or_deleting(api, ns, "b")


def test_terminal_unhealthy_and_unbudgeted_pods(api: Api, ns: str) -> None:
    budget(api, ns, "web", allowed=0, healthy=1, desired=2, minAvailable=2)
    running(api, ns, "done", phase="Succeeded", ready=False)
    assert evict(api, ns, "done")[0] == 201
    # Not ready, budget not healthy (1 < 2): IfHealthyBudget refuses...
    running(api, ns, "sick", ready=False)
    assert evict(api, ns, "sick")[0] == 429
    # ...AlwaysAllow lets it go without touching the budget.
    pdb = api.ok("GET", PDBS.format(ns=ns) + "/web")
    pdb["spec"]["unhealthyPodEvictionPolicy"] = "AlwaysAllow"
    api.ok("PUT", PDBS.format(ns=ns) + "/web", pdb)
    st = api.ok("GET", PDBS.format(ns=ns) + "/web")
    st["status"]["observedGeneration"] = st["metadata"]["generation"]
    api.ok("PUT", PDBS.format(ns=ns) + "/web/status", st)
    assert evict(api, ns, "sick")[0] == 201
    assert "disruptedPods" not in api.ok("GET", PDBS.format(ns=ns) + "/web")["status"]
    # A pod no budget selects is deleted.
    running(api, ns, "free", labels={"app": "free"})
    assert evict(api, ns, "free")[0] == 201
    assert gone_or_deleting(api, ns, "free")
    code, out = evict(api, ns, "nope")
    assert (code, out["message"]) == (404, 'pods "nope" not found')


def test_stale_budget_two_budgets_and_bad_bodies(api: Api, ns: str) -> None:
    running(api, ns, "a")
    url = PDBS.format(ns=ns)
    api.ok("POST", url, {"metadata": {"name": "fresh"},
                         "spec": {"selector": {"matchLabels": {"app": "web"}},
                                  "minAvailable": 1}}, 201)
    r = api.client.post(f"/api/v1/namespaces/{ns}/pods/a/eviction", json=eviction("a"))
    assert r.status_code == 429 and r.headers["retry-after"] == "10", r.text
    assert r.json()["details"]["causes"][0]["message"] == (
        "The disruption budget fresh is still being processed by the server.")
    budget(api, ns, "second", allowed=1)
    code, out = evict(api, ns, "a")
    assert (code, out) == (500, {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "This pod has more than one PodDisruptionBudget, which the eviction "
                   "subresource does not support.", "code": 500})
    code, out = evict(api, ns, "a", {"apiVersion": "policy/v1", "kind": "Eviction",
                                     "metadata": {"name": "b"}})
    assert (code, out["message"]) == (400, "name in URL does not match name in Eviction "
                                           "object")


def test_delete_options_and_dry_run(api: Api, ns: str) -> None:
    running(api, ns, "a")
    running(api, ns, "b")
    budget(api, ns, "web", allowed=2, healthy=2, desired=0, maxUnavailable=2)
    # v1beta1 Eviction bodies, dry run: nothing changes.
    code, _ = evict(api, ns, "a", eviction("a", "policy/v1beta1", dryRun=["All"]))
    assert code == 201
    assert not gone_or_deleting(api, ns, "a")
    st = api.ok("GET", PDBS.format(ns=ns) + "/web")["status"]
    assert st["disruptionsAllowed"] == 2 and "disruptedPods" not in st
    # A uid precondition that does not hold: 409, the budget was still charged (as there).
    code, out = evict(api, ns, "a", eviction("a", preconditions={"uid": "other"}))
    assert code == 409, out
    # Grace period 0: the pod goes at once, with the DisruptionTarget condition on its way.
    code, _ = evict(api, ns, "b", eviction("b", gracePeriodSeconds=0))
    assert code == 201
    assert api.call("GET", f"/api/v1/namespaces/{ns}/pods/b")[0] == 404


def test_official_client(server_url: str, api: Api, ns: str) -> None:
    running(api, ns, "a")
    running(api, ns, "b")
    with k8s.ApiClient(k8s.Configuration(host=server_url)) as c:
        policy = k8s.PolicyV1Api(c)
        created = policy.create_namespaced_pod_disruption_budget(ns, k8s.V1PodDisruptionBudget(
            metadata=k8s.V1ObjectMeta(name="web"),
            spec=k8s.V1PodDisruptionBudgetSpec(
                min_available=1, selector=k8s.V1LabelSelector(match_labels={"app": "web"}))))
        assert created.spec is not None and created.spec.min_available == 1
        read = policy.read_namespaced_pod_disruption_budget("web", ns)
        assert read.status is not None and read.status.disruptions_allowed == 0
        read.status = k8s.V1PodDisruptionBudgetStatus(
            observed_generation=1, disruptions_allowed=1, current_healthy=2,
            desired_healthy=1, expected_pods=2)
        policy.replace_namespaced_pod_disruption_budget_status("web", ns, read)
        core = k8s.CoreV1Api(c)
        core.create_namespaced_pod_eviction("a", ns, k8s.V1Eviction(
            metadata=k8s.V1ObjectMeta(name="a", namespace=ns)))
        with pytest.raises(ApiException) as exc:
            core.create_namespaced_pod_eviction("b", ns, k8s.V1Eviction(
                metadata=k8s.V1ObjectMeta(name="b", namespace=ns)))
        assert exc.value.status == 429
        listed = policy.list_namespaced_pod_disruption_budget(ns)
        assert [p.metadata.name for p in listed.items if p.metadata] == ["web"]
        status = listed.items[0].status
        assert status is not None and list(status.disrupted_pods or {}) == ["a"]


def test_budget_status_is_validated(api: Api, ns: str) -> None:
    url = PDBS.format(ns=ns)
    pdb = api.ok("POST", url, {"metadata": {"name": "p"}, "spec": {"minAvailable": 1}}, 201)
    pdb["status"] = {"disruptionsAllowed": -1, "currentHealthy": 1, "expectedPods": -2}
    code, out = api.call("PUT", f"{url}/p/status", pdb)
    assert code == 422, out
    assert [c["field"] for c in out["details"]["causes"]] == [
        "status.disruptionsAllowed", "status.expectedPods"]
    assert "status.disruptionsAllowed: Invalid value: -1: must be greater than or equal to 0" \
        in out["message"]
    # Wrong types never reach the eviction's arithmetic.
    pdb["status"] = {"currentHealthy": "x", "disruptedPods": {"a": 5}}
    code, out = api.call("PUT", f"{url}/p/status", pdb)
    assert code == 422, out
