"""LimitRange and the LimitRanger admission on the wire: a pod's containers get the
namespace's default requests and limits (in the stored pod, with the limit-ranger
annotation), min and max are enforced per Container and per Pod with Kubernetes'
messages; kubectl get and describe limits beside minictl."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testing import kubectl as kubectl_cli
from testing.apiclient import Api, pod
from tests.cli.helpers import ok


def limits(api: Api, ns: str, name: str, *items: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = api.ok("POST", f"/api/v1/namespaces/{ns}/limitranges",
                                 {"metadata": {"name": name},
                                  "spec": {"limits": list(items)}}, 201)
    return out


def forbidden(code: int, body: Any) -> str:
    assert code == 403, (code, body)
    msg: str = body["message"]
    return msg


def test_defaults_land_in_the_stored_pod(api: Api, ns: str) -> None:
    lr = limits(api, ns, "defaults", {"type": "Container", "max": {"cpu": "1"},
                                      "default": {"memory": "256Mi"},
                                      "defaultRequest": {"cpu": "100m"}})
    # SetDefaults_LimitRangeItem: default limit from max, default request from it.
    item = lr["spec"]["limits"][0]
    assert item["default"] == {"cpu": "1", "memory": "256Mi"}
    assert item["defaultRequest"] == {"cpu": "100m", "memory": "256Mi"}
    url = f"/api/v1/namespaces/{ns}/pods"
    api.ok("POST", url, pod("web"), 201)
    stored = api.ok("GET", f"{url}/web")
    assert stored["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "1", "memory": "256Mi"},
        "requests": {"cpu": "100m", "memory": "256Mi"}}
    assert stored["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container c; "
        "cpu, memory limit for container c")
    assert stored["status"]["qosClass"] == "Burstable"
    # What the pod states itself is kept.
    own = pod("own")
    own["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "500m"}}
    api.ok("POST", url, own, 201)
    res = api.ok("GET", f"{url}/own")["spec"]["containers"][0]["resources"]
    assert res["limits"] == {"cpu": "500m", "memory": "256Mi"}
    assert res["requests"]["cpu"] == "500m"  # the pod's own default: requests = limits


def test_min_max_and_ratio_are_enforced(api: Api, ns: str) -> None:
    limits(api, ns, "bounds", {"type": "Container", "max": {"cpu": "500m"},
                               "min": {"memory": "64Mi"}})
    url = f"/api/v1/namespaces/{ns}/pods"
    big = pod("big")
    big["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "2", "memory": "128Mi"}}
    assert forbidden(*api.call("POST", url, big)) == (
        'pods "big" is forbidden: maximum cpu usage per Container is 500m, but limit is 2')
    small = pod("small")
    small["spec"]["containers"][0]["resources"] = {"requests": {"memory": "32Mi"},
                                                   "limits": {"cpu": "100m"}}
    assert forbidden(*api.call("POST", url, small)) == (
        'pods "small" is forbidden: minimum memory usage per Container is 64Mi, but request '
        "is 32Mi")
    assert api.call("GET", f"{url}/big")[0] == 404
    fine = pod("fine")
    fine["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "500m", "memory": "64Mi"}}
    api.ok("POST", url, fine, 201)


def test_pod_max_and_ratio(api: Api, ns: str) -> None:
    limits(api, ns, "pod", {"type": "Pod", "max": {"memory": "100Mi"}},
           {"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}})
    url = f"/api/v1/namespaces/{ns}/pods"
    two = pod("two")
    c = {"name": "a", "image": "nginx", "resources": {"limits": {"memory": "60Mi", "cpu": "1"},
                                                      "requests": {"cpu": "500m"}}}
    two["spec"]["containers"] = [c, {**c, "name": "b"}]
    assert forbidden(*api.call("POST", url, two)) == (
        'pods "two" is forbidden: maximum memory usage per Pod is 100Mi, but limit is '
        "125829120")
    steep = pod("steep")
    steep["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1", "memory": "10Mi"},
                                                   "requests": {"cpu": "100m"}}
    assert forbidden(*api.call("POST", url, steep)) == (
        'pods "steep" is forbidden: cpu max limit to request ratio per Container is 2, but '
        "provided ratio is 10.000000")


def test_kubectl_get_and_describe_limits(api: Api, ns: str, server_url: str,
                                         tmp_path: Path) -> None:
    limits(api, ns, "lr", {"type": "Container", "max": {"cpu": "2"}},
           {"type": "Pod", "min": {"memory": "1Mi"}})
    mine = ok(server_url, "-n", ns, "describe", "limits", "lr")
    assert mine == (
        f"Name:       lr\nNamespace:  {ns}\n"
        "Type        Resource  Min  Max  Default Request  Default Limit  "
        "Max Limit/Request Ratio\n"
        "----        --------  ---  ---  ---------------  -------------  "
        "-----------------------\n"
        "Container   cpu       -    2    2                2              -\n"
        "Pod         memory    1Mi  -    -                -              -\n"), mine
    if not kubectl_cli.installed():
        return
    k = kubectl_cli.Kubectl(server_url, tmp_path / "kubectl")
    assert k("-n", ns, "describe", "limitrange", "lr").stdout == mine
    lines = k("-n", ns, "get", "limits").stdout.splitlines()
    assert lines[0].split() == ["NAME", "CREATED", "AT"]
    assert lines[1].split()[0] == "lr" and lines[1].split()[1].endswith("Z")
    assert ok(server_url, "-n", ns, "get", "limits").splitlines()[0].split() == \
        ["NAME", "CREATED", "AT"]
