"""minictl describe pv, pvc, sc and a pod's persistentVolumeClaim volume, compared with
kubectl 1.37's output for the same objects (hostPath and local sources, node affinity,
a bound and a pending claim with the pods that use it, a default class with parameters
and mount options and a plain one)."""

from __future__ import annotations

from typing import Any

import pytest

from testing import kubectl as kubectl_cli
from testing.apiclient import Api
from testing.support import unique
from tests.cli.helpers import ok


@pytest.fixture
def objects(api: Api, ns: str) -> Any:
    pv1, pv2, sc1, sc2 = unique("pv"), unique("pv"), unique("sc"), unique("sc")
    affinity = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1", "n2"]}]}]}}
    api.ok("POST", "/api/v1/persistentvolumes", {
        "metadata": {"name": pv1, "labels": {"a": "b"}},
        "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
                 "storageClassName": "manual", "claimRef": {"namespace": ns, "name": "data"},
                 "hostPath": {"path": "/tmp/x", "type": "DirectoryOrCreate"},
                 "nodeAffinity": affinity}}, 201)
    api.ok("POST", "/api/v1/persistentvolumes", {"metadata": {"name": pv2}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
        "local": {"path": "/mnt/d"}, "nodeAffinity": affinity}}, 201)
    claims = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    c = api.ok("POST", claims, {"metadata": {"name": "data", "annotations": {"x": "y"}},
                                "spec": {"accessModes": ["ReadWriteOnce"],
                                         "storageClassName": "manual", "volumeName": pv1,
                                         "resources": {"requests": {"storage": "5Gi"}}}}, 201)
    c["status"] = {"phase": "Bound", "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
                   "capacity": {"storage": "5Gi"}}
    api.ok("PUT", f"{claims}/data/status", c)
    api.ok("POST", claims, {"metadata": {"name": "pend"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "storageClassName": "",
        "resources": {"requests": {"storage": "1Gi"}}}}, 201)
    for name in ("user-b", "user-a"):
        api.ok("POST", f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": name}, "spec": {
            "containers": [{"name": "c", "image": "x"}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}}, 201)
    api.ok("POST", "/apis/storage.k8s.io/v1/storageclasses", {
        "metadata": {"name": sc1}, "provisioner": "minik8s.io/local-path",
        "parameters": {"basePath": "/b", "k": "v"}, "volumeBindingMode": "WaitForFirstConsumer",
        "mountOptions": ["ro", "noatime"], "allowVolumeExpansion": False}, 201)
    api.ok("POST", "/apis/storage.k8s.io/v1/storageclasses",
           {"metadata": {"name": sc2}, "provisioner": "x.io/y"}, 201)
    yield pv1, pv2, sc1, sc2
    for pv in (pv1, pv2):
        api.ok("PATCH", f"/api/v1/persistentvolumes/{pv}", {"metadata": {"finalizers": None}},
               content_type="application/merge-patch+json")
        api.ok("DELETE", f"/api/v1/persistentvolumes/{pv}")
    for sc in (sc1, sc2):
        api.ok("DELETE", f"/apis/storage.k8s.io/v1/storageclasses/{sc}")


def test_describe_like_kubectl(objects: Any, ns: str, server_url: str,
                               kubectl: kubectl_cli.Kubectl) -> None:
    pv1, pv2, sc1, sc2 = objects
    for args in (["describe", "pv", pv1], ["describe", "persistentvolume", pv2],
                 ["-n", ns, "describe", "pvc", "data"], ["-n", ns, "describe", "pvc", "pend"],
                 ["describe", "sc", sc1], ["describe", "storageclass", sc2]):
        want = kubectl(*args).stdout
        assert ok(server_url, *args) == want, (args, want)
    want = kubectl("-n", ns, "describe", "pod", "user-a").stdout
    got = ok(server_url, "-n", ns, "describe", "pod", "user-a")
    section = want[want.index("Volumes:"):want.index("QoS Class")]
    assert "ClaimName:   data" in section
    assert section in got, (section, got)
