"""ResourceQuota admission on the wire (the quota's status written here as the
resourcequota controller would; the controller itself is tested in tests/controllers):
the 6th pod of a 5-pod quota is refused with Kubernetes' message, also when many are
created at once (the charge is a compare-and-swap on status.used); a quota on cpu wants
every container to ask for it; kubectl create quota, get and describe, beside minictl."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx

from testing import kubectl as kubectl_cli
from testing.apiclient import Api, pod
from tests.cli.helpers import ok


def quota(api: Api, ns: str, name: str, hard: dict[str, str],
          used: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    """A quota with its status set as the controller sets it (used: zero by default)."""
    url = f"/api/v1/namespaces/{ns}/resourcequotas"
    q = api.ok("POST", url, {"metadata": {"name": name}, "spec": {"hard": hard, **spec}}, 201)
    assert "status" not in q  # the controller fills it
    q["status"] = {"hard": hard, "used": used if used is not None else
                   {k: "0" for k in hard}}
    out: dict[str, Any] = api.ok("PUT", f"{url}/{name}/status", q)
    return out


def forbidden(code: int, body: Any) -> str:
    assert code == 403, (code, body)
    assert body["reason"] == "Forbidden", body
    msg: str = body["message"]
    return msg


def used(api: Api, ns: str, name: str) -> dict[str, str]:
    out: dict[str, str] = api.ok("GET", f"/api/v1/namespaces/{ns}/resourcequotas/{name}")[
        "status"]["used"]
    return out


def test_sixth_pod_of_a_five_pod_quota(api: Api, ns: str) -> None:
    quota(api, ns, "q", {"pods": "5"})
    url = f"/api/v1/namespaces/{ns}/pods"
    for i in range(5):
        api.ok("POST", url, pod(f"p{i}"), 201)
    assert used(api, ns, "q") == {"pods": "5"}
    assert forbidden(*api.call("POST", url, pod("p5"))) == (
        'pods "p5" is forbidden: exceeded quota: q, requested: pods=1, used: pods=5, '
        "limited: pods=5")
    # A dry run is checked the same way and charges nothing.
    forbidden(*api.call("POST", url, pod("p5"), dryRun="All"))
    assert used(api, ns, "q") == {"pods": "5"}
    # Other kinds are not limited by a pod quota.
    api.ok("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "c"}}, 201)


def test_concurrent_creates_never_overshoot(api: Api, ns: str) -> None:
    quota(api, ns, "q", {"pods": "5", "count/pods": "5"})
    url = f"{api.url}/api/v1/namespaces/{ns}/pods"
    codes: list[int] = []
    lock = threading.Lock()

    def create(i: int) -> None:
        with httpx.Client(timeout=30) as c:
            r = c.post(url, json=pod(f"c{i}"))
        with lock:
            codes.append(r.status_code)
            if r.status_code == 403:
                assert "exceeded quota: q, requested: " in r.json()["message"]

    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(codes) == [201] * 5 + [403] * 15, codes
    assert used(api, ns, "q") == {"pods": "5", "count/pods": "5"}
    assert len(api.ok("GET", f"/api/v1/namespaces/{ns}/pods")["items"]) == 5


def test_compute_quota_wants_requests_and_counts_them(api: Api, ns: str) -> None:
    quota(api, ns, "compute", {"requests.cpu": "1", "limits.memory": "1Gi"})
    url = f"/api/v1/namespaces/{ns}/pods"
    assert forbidden(*api.call("POST", url, pod("bare"))) == (
        'pods "bare" is forbidden: failed quota: compute: must specify limits.memory for: c; '
        "requests.cpu for: c")

    def sized(name: str, cpu: str, mem: str) -> dict[str, Any]:
        p = pod(name)
        p["spec"]["containers"][0]["resources"] = {"requests": {"cpu": cpu},
                                                   "limits": {"memory": mem}}
        return p

    api.ok("POST", url, sized("a", "600m", "512Mi"), 201)
    assert used(api, ns, "compute") == {"requests.cpu": "600m", "limits.memory": "512Mi"}
    assert forbidden(*api.call("POST", url, sized("b", "600m", "256Mi"))) == (
        'pods "b" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, '
        "used: requests.cpu=600m, limited: requests.cpu=1")
    api.ok("POST", url, sized("b", "400m", "512Mi"), 201)
    assert used(api, ns, "compute") == {"requests.cpu": "1", "limits.memory": "1Gi"}


def test_scopes_and_unknown_status(api: Api, ns: str) -> None:
    quota(api, ns, "be", {"pods": "1"}, scopes=["BestEffort"])
    url = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", url, pod("be1"), 201)
    assert "exceeded quota: be" in forbidden(*api.call("POST", url, pod("be2")))
    burstable = pod("burst")
    burstable["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "10m"}}
    api.ok("POST", url, burstable, 201)  # NotBestEffort: not this quota's business
    # A quota whose status lacks the usage of what it limits cannot be checked.
    quota(api, ns, "fresh", {"configmaps": "3"}, used={})
    assert forbidden(*api.call("POST", f"/api/v1/namespaces/{ns}/configmaps",
                               {"metadata": {"name": "x"}})) == (
        'configmaps "x" is forbidden: status unknown for quota: fresh, resources: configmaps')
    # Invalid quotas are refused.
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/resourcequotas",
                          {"metadata": {"name": "bad"}, "spec": {"hard": {"pods": "-1"}}})
    assert code == 422, body


def test_kubectl_create_get_describe_quota(api: Api, ns: str, server_url: str,
                                           tmp_path: Path) -> None:
    if not kubectl_cli.installed():
        return
    k = kubectl_cli.Kubectl(server_url, tmp_path / "kubectl")
    out = k("-n", ns, "create", "quota", "q", "--hard=pods=5,requests.cpu=1,limits.cpu=2",
            "--scopes=NotTerminating")
    assert out.stdout == "resourcequota/q created\n"
    q = api.ok("GET", f"/api/v1/namespaces/{ns}/resourcequotas/q")
    assert q["spec"] == {"hard": {"pods": "5", "requests.cpu": "1", "limits.cpu": "2"},
                         "scopes": ["NotTerminating"]}
    q["status"] = {"hard": q["spec"]["hard"],
                   "used": {"pods": "1", "requests.cpu": "250m", "limits.cpu": "0"}}
    api.ok("PUT", f"/api/v1/namespaces/{ns}/resourcequotas/q/status", q)
    lines = k("-n", ns, "get", "quota").stdout.splitlines()
    assert lines[0].split() == ["NAME", "AGE", "REQUEST", "LIMIT"]
    assert lines[1].split("  ")[0] == "q"
    assert "pods: 1/5, requests.cpu: 250m/1" in lines[1] and "limits.cpu: 0/2" in lines[1]
    described = k("-n", ns, "describe", "quota", "q").stdout
    assert described == (
        f"Name:       q\nNamespace:  {ns}\nScopes:     NotTerminating\n"
        " * Matches all pods that do not have an active deadline. These pods usually include "
        "long running pods whose container command is not expected to terminate.\n"
        "Resource      Used  Hard\n"
        "--------      ----  ----\n"
        "limits.cpu    0     2\n"
        "pods          1     5\n"
        "requests.cpu  250m  1\n"), described
    assert ok(server_url, "-n", ns, "describe", "quota", "q") == described
    assert ok(server_url, "-n", ns, "describe", "resourcequota", "q") == described


def test_minictl_create_quota_as_kubectl(api: Api, ns: str, server_url: str,
                                         tmp_path: Path) -> None:
    out = ok(server_url, "-n", ns, "create", "quota", "mine",
             "--hard=pods=5,requests.cpu=1,count/deployments.apps=2", "--scopes=NotTerminating")
    assert out == "resourcequota/mine created\n"
    mine = api.ok("GET", f"/api/v1/namespaces/{ns}/resourcequotas/mine")
    assert mine["spec"] == {"hard": {"pods": "5", "requests.cpu": "1",
                                     "count/deployments.apps": "2"},
                            "scopes": ["NotTerminating"]}
    if kubectl_cli.installed():
        k = kubectl_cli.Kubectl(server_url, tmp_path / "kubectl")
        k("-n", ns, "create", "quota", "theirs",
          "--hard=pods=5,requests.cpu=1,count/deployments.apps=2", "--scopes=NotTerminating")
        theirs = api.ok("GET", f"/api/v1/namespaces/{ns}/resourcequotas/theirs")
        assert theirs["spec"] == mine["spec"]
    dry = ok(server_url, "-n", ns, "create", "quota", "dry", "--hard=pods=1",
             "--dry-run=client", "-o", "yaml")
    assert "kind: ResourceQuota" in dry and "pods: \"1\"" in dry, dry
