"""pods/ephemeralcontainers (podEphemeralContainersStrategy): get, patch and update of a
pod's ephemeral containers, with ValidatePodEphemeralContainersUpdate's rules and
Kubernetes' messages; the official client's *_namespaced_pod_ephemeralcontainers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from testing.apiclient import Api
from testing.support import unique

SMP = "application/strategic-merge-patch+json"
FORBIDDEN = "Forbidden: cannot be set for an Ephemeral Container"


def _pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "main", "image": "nginx:latest"}],
                     "initContainers": [{"name": "init", "image": "busybox"}]}}


def _ec(name: str = "dbg", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "minik8s/busybox", **fields}


def _patch(ec: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"ephemeralContainers": [ec]}}


@pytest.fixture
def pod(api: Api, ns: str) -> str:
    name = unique("p")
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", _pod(name), 201)
    return name


def _path(ns: str, pod: str) -> str:
    return f"/api/v1/namespaces/{ns}/pods/{pod}/ephemeralcontainers"


INVALID = [
    (_ec("main"), 'spec.ephemeralContainers[0].name: Duplicate value: "main"'),
    (_ec("init"), 'spec.ephemeralContainers[0].name: Duplicate value: "init"'),
    (_ec(targetContainerName="nope"),
     'spec.ephemeralContainers[0].targetContainerName: Not found: "nope"'),
    (_ec(ports=[{"containerPort": 80}]), f"spec.ephemeralContainers[0].ports: {FORBIDDEN}"),
    (_ec(resources={"limits": {"cpu": "1"}}),
     f"spec.ephemeralContainers[0].resources: {FORBIDDEN}"),
    (_ec(readinessProbe={"exec": {"command": ["true"]}}),
     f"spec.ephemeralContainers[0].readinessProbe: {FORBIDDEN}"),
    (_ec(lifecycle={"preStop": {"exec": {"command": ["true"]}}}),
     f"spec.ephemeralContainers[0].lifecycle: {FORBIDDEN}"),
    (_ec(restartPolicy="Always"), f"spec.ephemeralContainers[0].restartPolicy: {FORBIDDEN}"),
    (_ec("Bad_Name"), 'spec.ephemeralContainers[0].name: Invalid value: "Bad_Name": a lowercase '
                      "RFC 1123 label must consist of lower case alphanumeric characters"),
    ({"name": "noimage"}, "spec.ephemeralContainers[0].image: Required value"),
]


@pytest.mark.parametrize(("ec", "message"), INVALID, ids=[m.split(":")[0] + str(i)
                                                         for i, (_, m) in enumerate(INVALID)])
def test_invalid_ephemeral_containers(api: Api, ns: str, pod: str, ec: dict[str, Any],
                                      message: str) -> None:
    code, out = api.call("PATCH", _path(ns, pod), _patch(ec), SMP)
    assert code == 422, out
    assert out["reason"] == "Invalid"
    assert out["message"].startswith(f'Pod "{pod}" is invalid: '), out["message"]
    assert message in out["message"], out["message"]
    assert out["details"]["kind"] == "Pod" and out["details"]["name"] == pod


def test_added_once_then_immutable(api: Api, ns: str, pod: str) -> None:
    got = api.ok("GET", _path(ns, pod))
    assert got["kind"] == "Pod" and "ephemeralContainers" not in got["spec"]
    gen = got["metadata"]["generation"]
    out = api.ok("PATCH", _path(ns, pod), _patch(_ec(targetContainerName="main", stdin=True,
                                                     tty=True)), content_type=SMP)
    (ec,) = out["spec"]["ephemeralContainers"]
    # SetDefaults_EphemeralContainer, as for any container.
    assert ec["imagePullPolicy"] == "Always" and ec["terminationMessagePolicy"] == "File"
    assert ec["terminationMessagePath"] == "/dev/termination-log"
    assert ec["targetContainerName"] == "main"
    assert out["metadata"]["generation"] == gen + 1
    # Only the ephemeral containers change through the subresource.
    out = api.ok("PATCH", _path(ns, pod), {"metadata": {"labels": {"x": "y"}},
                                           "spec": {"activeDeadlineSeconds": 5}},
                 content_type="application/merge-patch+json")
    assert "x" not in (out["metadata"].get("labels") or {})
    assert "activeDeadlineSeconds" not in out["spec"]

    # Changed, removed: Forbidden, with Kubernetes' words.
    code, st = api.call("PATCH", _path(ns, pod), _patch(_ec(image="nginx:latest")), SMP)
    assert code == 422 and 'spec.ephemeralContainers: Forbidden: existing ephemeral ' \
                           'containers "dbg" may not be changed' in st["message"], st
    body = api.ok("GET", _path(ns, pod))
    body["spec"]["ephemeralContainers"] = []
    code, st = api.call("PUT", _path(ns, pod), body)
    assert code == 422 and 'existing ephemeral containers "dbg" may not be removed' \
        in st["message"], st
    # A second one is added next to it; a stale resourceVersion is a 409.
    body = api.ok("GET", _path(ns, pod))
    stale = dict(body, metadata=dict(body["metadata"]))
    body["spec"]["ephemeralContainers"].append(_ec("dbg2"))
    out = api.ok("PUT", _path(ns, pod), body)
    assert [c["name"] for c in out["spec"]["ephemeralContainers"]] == ["dbg", "dbg2"]
    stale["spec"]["ephemeralContainers"].append(_ec("dbg3"))
    code, st = api.call("PUT", _path(ns, pod), stale)
    assert code == 409 and st["reason"] == "Conflict", st
    assert st["message"] == (f'Operation cannot be fulfilled on pods "{pod}": the object has '
                             "been modified; please apply your changes to the latest version "
                             "and try again")

    # A plain pod update may not touch them.
    whole = api.ok("GET", f"/api/v1/namespaces/{ns}/pods/{pod}")
    whole["spec"]["ephemeralContainers"] = whole["spec"]["ephemeralContainers"][:1]
    code, st = api.call("PUT", f"/api/v1/namespaces/{ns}/pods/{pod}", whole)
    assert code == 422 and "spec: Forbidden: pod updates may not change fields other than" \
        in st["message"], st


def test_not_on_create_and_missing_pod(api: Api, ns: str) -> None:
    body = _pod(unique("p"))
    body["spec"]["ephemeralContainers"] = [_ec()]
    code, st = api.call("POST", f"/api/v1/namespaces/{ns}/pods", body)
    assert code == 422, st
    assert st["message"] == (f'Pod "{body["metadata"]["name"]}" is invalid: '
                             "spec.ephemeralContainers: Forbidden: cannot be set on create")
    # A missing pod: a 404 that names it (kubectl tells it from a server without the
    # subresource by the details' name).
    code, st = api.call("PATCH", _path(ns, "nope"), _patch(_ec()), SMP)
    assert code == 404 and st["details"]["name"] == "nope", st
    assert st["message"] == 'pods "nope" not found'


def test_discovery_lists_the_subresource(api: Api) -> None:
    res = {r["name"]: r for r in api.ok("GET", "/api/v1")["resources"]}
    assert sorted(res["pods/ephemeralcontainers"]["verbs"]) == ["get", "patch", "update"]
    assert res["pods/ephemeralcontainers"]["kind"] == "Pod"


@pytest.fixture
def core(server_url: str) -> Iterator[client.CoreV1Api]:
    with client.ApiClient(client.Configuration(host=server_url)) as c:
        yield client.CoreV1Api(c)


def test_official_client(core: client.CoreV1Api, ns: str, pod: str) -> None:
    patched = core.patch_namespaced_pod_ephemeralcontainers(pod, ns, {"spec": {
        "ephemeralContainers": [{"name": "dbg", "image": "minik8s/busybox",
                                 "command": ["sleep", "60"], "targetContainerName": "main"}]}})
    (ec,) = patched.spec.ephemeral_containers
    assert (ec.name, ec.target_container_name, ec.command) == ("dbg", "main", ["sleep", "60"])
    got = core.read_namespaced_pod_ephemeralcontainers(pod, ns)
    got.spec.ephemeral_containers.append(client.V1EphemeralContainer(
        name="dbg2", image="minik8s/busybox"))
    replaced = core.replace_namespaced_pod_ephemeralcontainers(pod, ns, got)
    assert [c.name for c in replaced.spec.ephemeral_containers] == ["dbg", "dbg2"]
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_pod_ephemeralcontainers(pod, ns, {"spec": {
            "ephemeralContainers": [{"name": "main", "image": "minik8s/busybox"}]}})
    assert exc.value.status == 422


def test_not_in_pod_templates(api: Api, ns: str) -> None:
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}],
                                           "ephemeralContainers": [_ec()]}}}}
    code, st = api.call("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", body)
    assert code == 422, st
    assert st["message"].endswith(' "d" is invalid: spec.template.spec.ephemeralContainers: '
                                  "Forbidden: ephemeral containers not allowed in pod "
                                  "template"), st


def test_share_process_namespace_excludes_host_pid(api: Api, ns: str) -> None:
    body = _pod(unique("p"))
    body["spec"].update(hostPID=True, shareProcessNamespace=True)
    code, st = api.call("POST", f"/api/v1/namespaces/{ns}/pods", body)
    assert code == 422, st
    assert st["message"] == (f'Pod "{body["metadata"]["name"]}" is invalid: spec.securityContext.'
                             "shareProcessNamespace: Invalid value: true: ShareProcessNamespace "
                             "and HostPID cannot both be enabled")
