"""PersistentVolume, PersistentVolumeClaim and StorageClass on the wire: defaults, status
Pending from the start, validation and update rules in Kubernetes' words, Tables as kubectl
prints them (beside minictl's), and the official client's CoreV1Api / StorageV1Api."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client

from testing import kubectl as kubectl_cli
from testing.apiclient import Api
from testing.support import unique
from tests.cli.helpers import ok


def pv_body(name: str, size: str = "1Gi", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                     "hostPath": {"path": f"/tmp/{name}"}, **spec}}


def pvc_body(name: str, size: str = "1Gi", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": size}}, **spec}}


def causes(code: int, body: Any) -> list[tuple[str, str]]:
    assert code == 422, (code, body)
    return [(c["field"], c["message"]) for c in body["details"]["causes"]]


def test_defaults_and_pending(api: Api, ns: str) -> None:
    name = unique("pv")
    pv = api.ok("POST", "/api/v1/persistentvolumes", pv_body(name), 201)
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pv["spec"]["volumeMode"] == "Filesystem"
    assert pv["status"]["phase"] == "Pending"
    claim = api.ok("POST", f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
                   {**pvc_body("c"), "status": {"phase": "Bound"}}, 201)
    assert claim["status"] == {"phase": "Pending"}
    assert claim["spec"]["volumeMode"] == "Filesystem"
    sc = api.ok("POST", "/apis/storage.k8s.io/v1/storageclasses",
                {"metadata": {"name": unique("sc")}, "provisioner": "example.com/x"}, 201)
    assert sc["reclaimPolicy"] == "Delete" and sc["volumeBindingMode"] == "Immediate"
    api.ok("DELETE", f"/api/v1/persistentvolumes/{name}")


def test_validation(api: Api, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    assert causes(*api.call("POST", url, {"metadata": {"name": "bad"}, "spec": {}})) == [
        ("spec.accessModes", "Required value: at least 1 access mode is required"),
        ("spec.resources[storage]", "Required value"),
    ]
    bad = pvc_body("bad", "0", accessModes=["ReadWriteOncePod", "ReadOnlyMany"])
    assert causes(*api.call("POST", url, bad)) == [
        ("spec.accessModes", "Forbidden: may not use ReadWriteOncePod with other access modes"),
        ("spec.resources[storage]", 'Invalid value: "0": must be greater than zero'),
    ]
    pv = pv_body(unique("pv"), persistentVolumeReclaimPolicy="Keep")
    pv["spec"]["local"] = {"path": "/x"}
    got = causes(*api.call("POST", "/api/v1/persistentvolumes", pv))
    assert ("spec.persistentVolumeReclaimPolicy",
            'Unsupported value: "Keep": supported values: "Delete", "Recycle", "Retain"') in got
    assert ("spec.local", "Forbidden: may not specify more than 1 volume type") in got
    none = pv_body(unique("pv"))
    del none["spec"]["hostPath"]
    assert causes(*api.call("POST", "/api/v1/persistentvolumes", none)) == [
        ("spec", "Required value: must specify a volume type")]
    assert causes(*api.call("POST", "/apis/storage.k8s.io/v1/storageclasses", {
        "metadata": {"name": unique("sc")}, "volumeBindingMode": "Later"})) == [
        ("provisioner", "Required value"),
        ("volumeBindingMode",
         'Unsupported value: "Later": supported values: "Immediate", "WaitForFirstConsumer"')]


def test_update_rules(api: Api, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    c = api.ok("POST", url, pvc_body("c"), 201)
    c["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert causes(*api.call("PUT", f"{url}/c", c)) == [
        ("spec", "Forbidden: spec is immutable after creation except resources.requests and "
                 "volumeAttributesClassName for bound claims")]
    # The binder sets volumeName once.
    c = api.ok("GET", f"{url}/c")
    c["spec"]["volumeName"] = "some-pv"
    api.ok("PUT", f"{url}/c", c)
    name = unique("sc")
    sc_url = "/apis/storage.k8s.io/v1/storageclasses"
    sc = api.ok("POST", sc_url, {"metadata": {"name": name}, "provisioner": "a.io/x",
                                 "parameters": {"k": "v"}}, 201)
    sc.update(provisioner="b.io/y", parameters={"k": "w"}, reclaimPolicy="Retain")
    assert causes(*api.call("PUT", f"{sc_url}/{name}", sc)) == [
        ("parameters", "Forbidden: updates to parameters are forbidden."),
        ("provisioner", "Forbidden: updates to provisioner are forbidden."),
        ("reclaimPolicy", "Forbidden: updates to reclaimPolicy are forbidden.")]


def test_kubectl_get_beside_minictl(api: Api, ns: str, server_url: str,
                                   kubectl: kubectl_cli.Kubectl) -> None:
    pv = unique("pv")
    api.ok("POST", "/api/v1/persistentvolumes",
           pv_body(pv, "5Gi", accessModes=["ReadWriteOnce", "ReadOnlyMany"],
                   storageClassName="manual",
                   claimRef={"namespace": ns, "name": "data"}), 201)
    c = api.ok("POST", f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
               pvc_body("data", storageClassName="manual", volumeName=pv), 201)
    c["status"] = {"phase": "Bound", "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
                   "capacity": {"storage": "5Gi"}}
    api.ok("PUT", f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data/status", c)
    sc = unique("sc")
    api.ok("POST", "/apis/storage.k8s.io/v1/storageclasses", {
        "metadata": {"name": sc}, "provisioner": "example.com/x",
        "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": True}, 201)

    out = kubectl("get", "pv", pv).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "CAPACITY", "ACCESS", "MODES", "RECLAIM", "POLICY",
                                "STATUS", "CLAIM", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS",
                                "REASON", "AGE"]
    assert lines[1].split()[:8] == [pv, "5Gi", "RWO,ROX", "Retain", "Pending",
                                    f"{ns}/data", "manual", "<unset>"]
    assert ok(server_url, "get", "pv", pv).splitlines()[0] == lines[0]
    out = kubectl("-n", ns, "get", "pvc").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS", "MODES",
                                "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"]
    assert lines[1].split()[:7] == ["data", "Bound", pv, "5Gi", "RWO,ROX", "manual",
                                    "<unset>"]
    assert ok(server_url, "-n", ns, "get", "pvc").splitlines()[1].split()[:7] == \
        lines[1].split()[:7]
    wide = kubectl("-n", ns, "get", "pvc", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-1] == "VOLUMEMODE" and wide[1].split()[-1] == "Filesystem"
    lines = kubectl("get", "sc", sc).stdout.splitlines()
    assert lines[0].split() == ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE",
                                "ALLOWVOLUMEEXPANSION", "AGE"]
    assert lines[1].split()[:5] == [sc, "example.com/x", "Delete", "WaitForFirstConsumer",
                                    "true"]
    assert ok(server_url, "get", "sc", sc).splitlines()[1].split()[:5] == lines[1].split()[:5]
    api.ok("DELETE", f"/api/v1/persistentvolumes/{pv}")
    api.ok("DELETE", f"/apis/storage.k8s.io/v1/storageclasses/{sc}")


def test_official_client_pvc(server_url: str, api: Api, ns: str) -> None:
    cfg = client.Configuration()
    cfg.host = server_url
    with client.ApiClient(cfg) as c:
        core = client.CoreV1Api(c)
        body = client.V1PersistentVolumeClaim(
            metadata=client.V1ObjectMeta(name="claim"),
            spec=client.V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteOnce"], storage_class_name="standard",
                resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"})))
        made = core.create_namespaced_persistent_volume_claim(ns, body)
        assert made.status.phase == "Pending"
        got = core.read_namespaced_persistent_volume_claim("claim", ns)
        assert got.spec.resources.requests == {"storage": "1Gi"}
        assert got.spec.volume_mode == "Filesystem"
        names = [i.metadata.name for i in
                 core.list_namespaced_persistent_volume_claim(ns).items]
        assert names == ["claim"]
        gone = core.delete_namespaced_persistent_volume_claim("claim", ns)
        assert gone.metadata.deletion_timestamp  # held by kubernetes.io/pvc-protection
        pv_name = unique("pv")
        pv = core.create_persistent_volume(client.V1PersistentVolume(
            metadata=client.V1ObjectMeta(name=pv_name),
            spec=client.V1PersistentVolumeSpec(
                capacity={"storage": "2Gi"}, access_modes=["ReadWriteMany"],
                host_path=client.V1HostPathVolumeSource(path="/tmp/pv"))))
        assert pv.status.phase == "Pending"
        assert pv.spec.persistent_volume_reclaim_policy == "Retain"
        assert pv_name in [v.metadata.name for v in core.list_persistent_volume().items]
        storage = client.StorageV1Api(c)
        sc_name = unique("sc")
        storage.create_storage_class(client.V1StorageClass(
            metadata=client.V1ObjectMeta(name=sc_name), provisioner="example.com/p"))
        sc = storage.read_storage_class(sc_name)
        assert (sc.reclaim_policy, sc.volume_binding_mode) == ("Delete", "Immediate")
        storage.delete_storage_class(sc_name)
        core.patch_persistent_volume(pv_name, {"metadata": {"finalizers": None}})
        core.delete_persistent_volume(pv_name)


def test_default_class_and_protection_finalizers(api: Api, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    sc_url = "/apis/storage.k8s.io/v1/storageclasses"
    before = api.ok("POST", url, pvc_body("before"), 201)
    assert "storageClassName" not in before["spec"]  # no default class yet
    assert before["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    name = unique("sc")
    api.ok("POST", sc_url, {"metadata": {"name": name, "annotations": {
        "storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "example.com/x"}, 201)
    try:
        got = api.ok("POST", url, pvc_body("after"), 201)
        assert got["spec"]["storageClassName"] == name
        explicit = api.ok("POST", url, pvc_body("explicit", storageClassName=""), 201)
        assert explicit["spec"]["storageClassName"] == ""
        assert table_name(api, name).startswith(f"{name} (default)")
    finally:
        api.ok("DELETE", f"{sc_url}/{name}")
    pv = api.ok("POST", "/api/v1/persistentvolumes", pv_body(unique("pv")), 201)
    assert pv["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
    # Deleting waits for the finalizer (the pv-protection controller's to remove).
    path = f"/api/v1/persistentvolumes/{pv['metadata']['name']}"
    api.ok("DELETE", path)
    assert api.ok("GET", path)["metadata"]["deletionTimestamp"]
    api.ok("PATCH", path, {"metadata": {"finalizers": None}},
           content_type="application/merge-patch+json")
    assert api.call("GET", path)[0] == 404


def table_name(api: Api, name: str) -> str:
    r = api.client.get(f"/apis/storage.k8s.io/v1/storageclasses/{name}",
                       headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    return str(r.json()["rows"][0]["cells"][0])


def test_default_class_addon(api: Api, server_url: str, kubectl: kubectl_cli.Kubectl) -> None:
    """deploy/addons/storage.yaml, as deploy/up.sh applies it."""
    addon = Path(__file__).resolve().parents[2] / "deploy" / "addons" / "storage.yaml"
    assert ok(server_url, "apply", "-f", str(addon)) == \
        "storageclass.storage.k8s.io/standard created\n"
    try:
        lines = kubectl("get", "sc", "standard").stdout.splitlines()
        assert lines[1].split()[:6] == ["standard", "(default)", "minik8s.io/local-path",
                                        "Delete", "WaitForFirstConsumer", "false"]
        assert ok(server_url, "get", "storageclass", "standard").splitlines()[1].split()[:6] \
            == lines[1].split()[:6]
    finally:
        api.ok("DELETE", "/apis/storage.k8s.io/v1/storageclasses/standard")


def test_pod_claim_volume_needs_a_claim_name(api: Api, ns: str) -> None:
    body = {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "x"}],
        "volumes": [{"name": "v", "persistentVolumeClaim": {"readOnly": True}}]}}
    assert causes(*api.call("POST", f"/api/v1/namespaces/{ns}/pods", body)) == [
        ("spec.volumes[0].persistentVolumeClaim.claimName", "Required value")]
