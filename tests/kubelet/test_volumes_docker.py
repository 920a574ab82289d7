"""PersistentVolumeClaims end to end on Docker, on an API server of this module's own:
scheduler, controller-manager (PV binder, provisioner, protection) and two kubelets.

A WaitForFirstConsumer claim of the local-path class is provisioned on the node its pod
lands on (the scheduler's selected-node annotation); a file written to the volume
survives deleting the pod, read by a new pod of the same claim, which the volume's node
affinity puts on the same node (and a StatefulSet's pod, recreated, gets its claim back
on its node, file and all); with Delete, removing the claim runs a helper pod on that
node that removes the directory, then the volume goes; with Retain the directory and a
Released volume stay."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from testing.apiclient import Api
from testing.support import ApiServer, service, wait_for
from tests.kubelet.helpers import kubelet_on_docker

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def server_url(private_apiserver: ApiServer) -> Iterator[str]:
    yield private_apiserver.url


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="minik8s-local-path-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(server_url: str, dk: Any, base: str) -> Iterator[list[str]]:
    with ExitStack() as stack:
        nodes = [stack.enter_context(kubelet_on_docker(server_url, dk, f"vol{i}")).node
                 for i in range(2)]
        procs = [service("scheduler", "scheduler", ["--server", server_url]),
                 service("controller-manager", "controllers", [
                     "--server", server_url, "--controllers",
                     "persistentvolume-binder,pvc-protection,pv-protection,statefulset"])]
        api = Api(server_url)
        for cls, policy in (("local", "Delete"), ("keep", "Retain")):
            api.ok("POST", "/apis/storage.k8s.io/v1/storageclasses", {
                "metadata": {"name": cls}, "provisioner": "minik8s.io/local-path",
                "reclaimPolicy": policy, "volumeBindingMode": "WaitForFirstConsumer",
                "parameters": {"basePath": base}}, 201)
        try:
            yield nodes
        finally:
            for p in procs:
                p.stop()


def writer(name: str, claim: str, script: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {
        "terminationGracePeriodSeconds": 0, "restartPolicy": "Never",
        "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "Never",
                        "command": ["sh", "-c", script],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}}


def claim(name: str, cls: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {
        "accessModes": ["ReadWriteOnce"], "storageClassName": cls,
        "resources": {"requests": {"storage": "64Mi"}}}}


def get(api: Api, path: str) -> dict[str, Any]:
    code, body = api.call("GET", path)
    return body if code == 200 else {}


def finished(api: Api, path: str) -> dict[str, Any]:
    return wait_for(lambda: (p := get(api, path)) and
                    (p.get("status") or {}).get("phase") in ("Succeeded", "Failed") and p,
                    timeout=90, message=f"{path} finished ({get(api, path).get('status')})")


def test_provisioned_on_the_pods_node_and_survives_the_pod(
        server_url: str, cluster: list[str], base: str) -> None:
    api = Api(server_url)
    ns = api.namespace()
    pods = f"/api/v1/namespaces/{ns}/pods"
    claims = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    api.ok("POST", claims, claim("data", "local"), 201)
    # no consumer yet: the claim waits
    assert get(api, f"{claims}/data")["status"]["phase"] == "Pending"
    api.ok("POST", pods, writer("w", "data", "echo hello-pv > /data/f && cat /data/f"), 201)
    w = finished(api, f"{pods}/w")
    assert w["status"]["phase"] == "Succeeded", w["status"]
    node = w["spec"]["nodeName"]
    c = get(api, f"{claims}/data")
    assert c["status"]["phase"] == "Bound"
    assert c["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == node
    pv = get(api, f"/api/v1/persistentvolumes/{c['spec']['volumeName']}")
    path = pv["spec"]["hostPath"]["path"]
    assert path.startswith(os.path.join(base, node) + "/")
    with open(os.path.join(path, "f")) as f:
        assert f.read() == "hello-pv\n"
    api.ok("DELETE", f"{pods}/w")
    wait_for(lambda: api.call("GET", f"{pods}/w")[0] == 404, timeout=30)
    # a new pod of the same claim lands on the same node and reads the file
    api.ok("POST", pods, writer("r", "data", "cat /data/f"), 201)
    r = finished(api, f"{pods}/r")
    assert r["status"]["phase"] == "Succeeded" and r["spec"]["nodeName"] == node
    code, logs = api.call("GET", f"{pods}/r/log")
    assert logs == "hello-pv\n", (code, logs)
    # pvc-protection: the claim waits for the pod, then Delete reclaims through a helper
    api.ok("DELETE", f"{claims}/data")
    assert get(api, f"{claims}/data")["metadata"]["deletionTimestamp"]
    api.ok("DELETE", f"{pods}/r")
    wait_for(lambda: api.call("GET", f"{claims}/data")[0] == 404, timeout=30,
             message="claim gone after its pod")
    wait_for(lambda: api.call("GET", f"/api/v1/persistentvolumes/{pv['metadata']['name']}")[0]
             == 404, timeout=90, message="the Delete volume removed")
    assert not os.path.exists(path)


def test_retain_keeps_the_directory(server_url: str, cluster: list[str]) -> None:
    api = Api(server_url)
    ns = api.namespace()
    pods = f"/api/v1/namespaces/{ns}/pods"
    claims = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    api.ok("POST", claims, claim("kept", "keep"), 201)
    api.ok("POST", pods, writer("w", "kept", "echo keep > /data/k"), 201)
    assert finished(api, f"{pods}/w")["status"]["phase"] == "Succeeded"
    name = get(api, f"{claims}/kept")["spec"]["volumeName"]
    api.ok("DELETE", f"{pods}/w")
    api.ok("DELETE", f"{claims}/kept")
    pv_path = f"/api/v1/persistentvolumes/{name}"
    wait_for(lambda: (get(api, pv_path).get("status") or {}).get("phase") == "Released",
             timeout=30, message="Released")
    path = get(api, pv_path)["spec"]["hostPath"]["path"]
    with open(os.path.join(path, "k")) as f:
        assert f.read() == "keep\n"


def test_statefulset_pod_gets_its_volume_back(server_url: str, cluster: list[str]) -> None:
    """A StatefulSet's claim template gives db-0 the claim data-db-0; db-0 deleted, its
    successor mounts the same claim on the same node and finds what the first one wrote."""
    api = Api(server_url)
    ns = api.namespace()
    script = "if [ -f /data/f ]; then echo again >> /data/f; else echo first > /data/f; fi; " \
             "sleep 3600"
    api.ok("POST", f"/apis/apps/v1/namespaces/{ns}/statefulsets", {
        "metadata": {"name": "db"}, "spec": {
            "replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {
                "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "Never",
                                "command": ["sh", "-c", script],
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "storageClassName": "local",
                "resources": {"requests": {"storage": "64Mi"}}}}]}}, 201)
    pod_path = f"/api/v1/namespaces/{ns}/pods/db-0"

    def running() -> dict[str, Any]:
        p = get(api, pod_path)
        return p if (p.get("status") or {}).get("phase") == "Running" else {}

    first = wait_for(running, timeout=120, message="db-0 running")
    c = get(api, f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data-db-0")
    assert c["status"]["phase"] == "Bound"
    pv = get(api, f"/api/v1/persistentvolumes/{c['spec']['volumeName']}")
    data = os.path.join(pv["spec"]["hostPath"]["path"], "f")
    wait_for(lambda: os.path.exists(data), timeout=30, message="the first pod's file")
    assert open(data).read() == "first\n"
    api.ok("DELETE", pod_path)
    second = wait_for(lambda: (p := running()) and
                      p["metadata"]["uid"] != first["metadata"]["uid"] and p,
                      timeout=120, message="db-0 recreated and running")
    assert second["spec"]["nodeName"] == first["spec"]["nodeName"]
    assert [v["persistentVolumeClaim"]["claimName"] for v in second["spec"]["volumes"]
            if "persistentVolumeClaim" in v] == ["data-db-0"]
    wait_for(lambda: open(data).read() == "first\nagain\n", timeout=30,
             message=f"the second pod appended to the first's file ({open(data).read()!r})")
    api.ok("DELETE", f"/apis/apps/v1/namespaces/{ns}/statefulsets/db")
