"""ServiceAccount admission (on by default; the harness turns it off unless asked): a pod's
account defaults to ``default`` and must exist; the kube-api-access-* projected volume is
mounted read-only in every container unless automountServiceAccountToken (pod, then
account) is false; the account's imagePullSecrets are copied."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apiserver.admission_plugins import enabled_names
from apiserver.admission_plugins import serviceaccount as _registers  # noqa: F401
from testing.apiclient import Api
from testing.support import ApiServer, on_own_etcd

PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    with on_own_etcd(lambda url: ApiServer(
            url, extra_args=["--enable-admission-plugins=ServiceAccount"])) as s:
        a = Api(s.url)
        yield a
        a.close()


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {
        "containers": [{"name": "c", "image": "nginx"}], **spec}}


def test_on_by_default() -> None:
    assert "ServiceAccount" in enabled_names()
    assert "ServiceAccount" not in enabled_names(disable=["ServiceAccount"])


def test_account_must_exist_and_token_is_mounted(api: Api) -> None:
    ns = api.namespace()
    base = f"/api/v1/namespaces/{ns}"
    code, body = api.call("POST", f"{base}/pods", pod("p0"))
    assert code == 403 and body["message"] == (
        f'pods "p0" is forbidden: error looking up service account {ns}/default: '
        'serviceaccount "default" not found')
    api.ok("POST", f"{base}/serviceaccounts", {"metadata": {"name": "default"}}, 201)
    created = api.ok("POST", f"{base}/pods", pod(
        "p1", initContainers=[{"name": "init", "image": "busybox"}]), 201)
    spec = created["spec"]
    assert spec["serviceAccountName"] == "default"
    [vol] = [v for v in spec["volumes"] if v["name"].startswith("kube-api-access-")]
    assert len(vol["name"]) == len("kube-api-access-") + 5
    assert vol["projected"] == {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt",
                                                              "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}
    for c in (*spec["initContainers"], *spec["containers"]):
        assert {"name": vol["name"], "readOnly": True, "mountPath": PATH} in c["volumeMounts"]
    # Pods of one account share the volume's name (so their specs stay alike).
    again = api.ok("POST", f"{base}/pods", pod("p1b"), 201)["spec"]
    assert [v["name"] for v in again["volumes"]] == [vol["name"]]
    # A container that mounts something at the path keeps it.
    own = api.ok("POST", f"{base}/pods", pod("p2", containers=[
        {"name": "c", "image": "nginx", "volumeMounts": [{"name": "x", "mountPath": PATH}]}],
        volumes=[{"name": "x", "emptyDir": {}}]), 201)["spec"]
    assert [v["name"] for v in own["volumes"]] == ["x"]


def test_automount_and_pull_secrets(api: Api) -> None:
    ns = api.namespace()
    base = f"/api/v1/namespaces/{ns}"
    api.ok("POST", f"{base}/serviceaccounts", {
        "metadata": {"name": "quiet"}, "automountServiceAccountToken": False,
        "imagePullSecrets": [{"name": "registry"}]}, 201)
    spec = api.ok("POST", f"{base}/pods", pod("a", serviceAccountName="quiet"), 201)["spec"]
    assert "volumes" not in spec and "volumeMounts" not in spec["containers"][0]
    assert spec["imagePullSecrets"] == [{"name": "registry"}]
    spec = api.ok("POST", f"{base}/pods", pod("b", serviceAccountName="quiet",
                                              automountServiceAccountToken=True), 201)["spec"]
    assert spec["volumes"][0]["name"].startswith("kube-api-access-")
    api.ok("POST", f"{base}/serviceaccounts", {"metadata": {"name": "loud"}}, 201)
    spec = api.ok("POST", f"{base}/pods", pod("c", serviceAccountName="loud",
                                              automountServiceAccountToken=False), 201)["spec"]
    assert "volumes" not in spec
    code, body = api.call("POST", f"{base}/pods", pod("d", serviceAccountName="nosuch"))
    assert code == 403 and body["message"].endswith('serviceaccount "nosuch" not found')
