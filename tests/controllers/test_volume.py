"""The PersistentVolume controller, pvc-protection and pv-protection in the
controller-manager process, on an API server of this module's own (they act on every
volume): static binding (smallest fit, class, selector; phases and annotations), Released
with Retain, Failed for Delete without a deleter, the local-path provisioner for a
WaitForFirstConsumer claim once the scheduler's selected-node annotation is there, its
delete through a helper pod, and the protection finalizers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from testing.apiclient import Api, pod
from testing.support import ApiServer, Process, wait_for
from tests.controllers.helpers import start_controller_manager

pytestmark = pytest.mark.timeout(120)
PVS = "/api/v1/persistentvolumes"


@pytest.fixture(scope="module")
def server_url(private_apiserver: ApiServer) -> Iterator[str]:
    yield private_apiserver.url


@pytest.fixture(scope="module")
def manager(server_url: str) -> Iterator[Process]:
    cm = start_controller_manager(
        server_url, "--controllers=persistentvolume-binder,pvc-protection,pv-protection")
    yield cm
    cm.stop()


def pv(name: str, size: str, cls: str = "manual", policy: str = "Retain",
       **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": extra.pop("labels", {})},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                     "storageClassName": cls, "persistentVolumeReclaimPolicy": policy,
                     "hostPath": {"path": f"/tmp/minik8s-test-{name}"}, **extra}}


def pvc(name: str, size: str, cls: str | None = "manual", **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": size}}, **extra}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"metadata": {"name": name}, "spec": spec}


def get(api: Api, path: str) -> dict[str, Any]:
    code, body = api.call("GET", path)
    return body if code == 200 else {}


def phase(api: Api, path: str) -> str | None:
    return (get(api, path).get("status") or {}).get("phase")


def wait_phase(api: Api, path: str, want: str | None, timeout: float = 20) -> None:
    wait_for(lambda: phase(api, path) == want, timeout=timeout,
             message=f"{path} {want} (have {get(api, path)})")


def test_static_binding_retain_and_protection(api: Api, manager: Process) -> None:
    ns = api.namespace()
    for name, size in (("small", "1Gi"), ("mid", "5Gi"), ("big", "10Gi")):
        api.ok("POST", PVS, pv(name, size), 201)
    api.ok("POST", PVS, pv("other-class", "4Gi", cls="fast"), 201)
    api.ok("POST", PVS, pv("labelled", "20Gi", labels={"tier": "gold"}), 201)
    wait_phase(api, f"{PVS}/small", "Available")
    claims = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    api.ok("POST", claims, pvc("data", "3Gi"), 201)
    api.ok("POST", claims, pvc("gold", "1Gi", selector={"matchLabels": {"tier": "gold"}}), 201)
    wait_phase(api, f"{claims}/data", "Bound")
    c = get(api, f"{claims}/data")
    assert c["spec"]["volumeName"] == "mid"
    assert c["metadata"]["annotations"] == {"pv.kubernetes.io/bind-completed": "yes",
                                            "pv.kubernetes.io/bound-by-controller": "yes"}
    assert c["status"]["capacity"] == {"storage": "5Gi"}
    assert c["status"]["accessModes"] == ["ReadWriteOnce"]
    wait_phase(api, f"{PVS}/mid", "Bound")
    v = get(api, f"{PVS}/mid")
    assert v["spec"]["claimRef"]["name"] == "data" and \
        v["spec"]["claimRef"]["uid"] == c["metadata"]["uid"]
    assert v["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] == "yes"
    wait_phase(api, f"{claims}/gold", "Bound")
    assert get(api, f"{claims}/gold")["spec"]["volumeName"] == "labelled"

    # pvc-protection: a pod using the claim keeps it
    user = pod("user")
    user["spec"]["volumes"] = [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", user, 201)
    api.ok("DELETE", f"{claims}/data")
    # pv-protection: the volume is bound, so deleting it waits
    api.ok("DELETE", f"{PVS}/mid")
    wait_for(lambda: get(api, f"{claims}/data")["metadata"].get("deletionTimestamp"),
             timeout=10)
    assert get(api, f"{claims}/data")["metadata"]["finalizers"] == [
        "kubernetes.io/pvc-protection"]
    assert get(api, f"{PVS}/mid")["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
    api.ok("DELETE", f"/api/v1/namespaces/{ns}/pods/user", gracePeriodSeconds=0)
    wait_for(lambda: api.call("GET", f"{claims}/data")[0] == 404, timeout=20,
             message="claim gone once the pod is")
    # the claim is gone: the volume is Released, then its finalizer goes with it
    wait_for(lambda: api.call("GET", f"{PVS}/mid")[0] == 404, timeout=20,
             message="volume gone once released")

    # Retain: a released volume stays Released
    api.ok("DELETE", f"{claims}/gold")
    wait_phase(api, f"{PVS}/labelled", "Released")
    # Delete without a deleter for hostPath: Failed, as Kubernetes
    api.ok("POST", PVS, pv("del", "2Gi", cls="del", policy="Delete"), 201)
    api.ok("POST", claims, pvc("d", "2Gi", cls="del"), 201)
    wait_phase(api, f"{claims}/d", "Bound")
    api.ok("DELETE", f"{claims}/d")
    wait_phase(api, f"{PVS}/del", "Failed")
    assert get(api, f"{PVS}/del")["status"]["message"] == (
        'error getting deleter volume plugin for volume "del": no deletable volume plugin '
        "matched")


def test_no_match_stays_pending(api: Api, manager: Process) -> None:
    ns = api.namespace()
    claims = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    api.ok("POST", claims, pvc("huge", "1Ti"), 201)
    api.ok("POST", claims, pvc("classless", "1Gi", cls=""), 201)

    def reasons() -> dict[str, str]:
        return {e["involvedObject"]["name"]: f"{e['reason']}: {e['message']}" for e in
                api.ok("GET", f"/api/v1/namespaces/{ns}/events")["items"]}
    wait_for(lambda: len(reasons()) == 2, timeout=20, message="an event per claim")
    assert reasons() == {
        "huge": 'ProvisioningFailed: storageclass.storage.k8s.io "manual" not found',
        "classless": "FailedBinding: no persistent volumes available for this claim and no "
                     "storage class is set"}
    assert phase(api, f"{claims}/huge") == "Pending"


def test_local_path_provisioning_wait_for_first_consumer(api: Api, manager: Process) -> None:
    ns = api.namespace()
    api.ok("POST", "/apis/storage.k8s.io/v1/storageclasses", {
        "metadata": {"name": "local"}, "provisioner": "minik8s.io/local-path",
        "volumeBindingMode": "WaitForFirstConsumer",
        "parameters": {"basePath": "/tmp/minik8s-local-path"}}, 201)
    api.ok("POST", "/api/v1/nodes", {"metadata": {"name": "n1", "labels": {
        "kubernetes.io/hostname": "n1"}}}, 201)
    claims = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    made = api.ok("POST", claims, pvc("www", "1Gi", cls="local"), 201)
    wait_for(lambda: any(e["reason"] == "WaitForFirstConsumer" for e in api.ok(
        "GET", f"/api/v1/namespaces/{ns}/events")["items"]), timeout=20,
        message="a WaitForFirstConsumer event")
    assert phase(api, f"{claims}/www") == "Pending"
    api.ok("PATCH", f"{claims}/www", {"metadata": {"annotations": {
        "volume.kubernetes.io/selected-node": "n1"}}},
        content_type="application/merge-patch+json")
    wait_phase(api, f"{claims}/www", "Bound")
    name = f"pvc-{made['metadata']['uid']}"
    c = get(api, f"{claims}/www")
    assert c["spec"]["volumeName"] == name
    assert c["metadata"]["annotations"]["volume.kubernetes.io/storage-provisioner"] == \
        "minik8s.io/local-path"
    v = get(api, f"{PVS}/{name}")
    assert v["spec"]["hostPath"] == {
        "path": f"/tmp/minik8s-local-path/n1/{name}_{ns}_www", "type": "DirectoryOrCreate"}
    assert v["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In",
                               "values": ["n1"]}]}]
    assert v["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert v["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == \
        "minik8s.io/local-path"
    assert v["status"]["phase"] == "Bound"
    # Delete: a helper pod on n1 removes the directory, then the volume goes
    api.ok("DELETE", f"{claims}/www")
    helper = f"/api/v1/namespaces/kube-system/pods/helper-delete-{name}"[:len(
        "/api/v1/namespaces/kube-system/pods/") + 63]
    wait_for(lambda: api.call("GET", helper)[0] == 200, timeout=20, message="helper pod")
    h = get(api, helper)
    assert h["spec"]["nodeName"] == "n1"
    assert h["spec"]["containers"][0]["command"] == ["rm", "-rf", f"/data/{name}_{ns}_www"]
    assert h["spec"]["volumes"][0]["hostPath"]["path"] == "/tmp/minik8s-local-path/n1"
    h["status"] = {"phase": "Succeeded"}
    api.ok("PUT", f"{helper}/status", h)
    wait_for(lambda: api.call("GET", f"{PVS}/{name}")[0] == 404, timeout=30,
             message="volume deleted after its helper pod succeeded")
    wait_for(lambda: api.call("GET", helper)[0] == 404, timeout=20, message="helper gone")


def test_local_path_expansion(api: Api, manager: Process) -> None:
    """PersistentVolumeClaimResize admits a larger request only when the class allows
    expansion; the binder then grows the local-path volume and the claim's capacity."""
    ns = api.namespace()
    for name, allow in (("grow", True), ("fixed", False)):
        api.ok("POST", "/apis/storage.k8s.io/v1/storageclasses", {
            "metadata": {"name": name}, "provisioner": "minik8s.io/local-path",
            "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": allow,
            "parameters": {"basePath": "/tmp/minik8s-local-path"}}, 201)
    claims = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    for name in ("grow", "fixed"):
        body = pvc(name, "1Gi", cls=name)
        body["metadata"]["annotations"] = {"volume.kubernetes.io/selected-node": "n1"}
        api.ok("POST", claims, body, 201)
        wait_phase(api, f"{claims}/{name}", "Bound")
    c = get(api, f"{claims}/fixed")
    c["spec"]["resources"]["requests"]["storage"] = "2Gi"
    code, body = api.call("PUT", f"{claims}/fixed", c)
    assert code == 403 and body["message"] == (
        'persistentvolumeclaims "fixed" is forbidden: only dynamically provisioned pvc can be '
        "resized and the storageclass that provisions the pvc must support resize")
    c = get(api, f"{claims}/grow")
    c["spec"]["resources"]["requests"]["storage"] = "3Gi"
    api.ok("PUT", f"{claims}/grow", c)
    wait_for(lambda: (get(api, f"{claims}/grow").get("status") or {}).get("capacity") ==
             {"storage": "3Gi"}, timeout=20, message="claim capacity 3Gi")
    assert get(api, f"{PVS}/{c['spec']['volumeName']}")["spec"]["capacity"] == {
        "storage": "3Gi"}
