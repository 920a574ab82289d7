"""ServiceAccounts (core/v1) on the real API server: CRUD, the server Table (NAME SECRETS
AGE), validation, real kubectl (create sa, get, describe beside minictl's) and the official
Python client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from testing.apiclient import Api
from testing.kubectl import Kubectl
from tests.cli.helpers import ok as mctl_ok
from tests.cli.helpers import without_age

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def sa_path(ns: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/serviceaccounts" + (f"/{name}" if name else "")


def test_serviceaccount_crud_table_and_discovery(api: Api, ns: str) -> None:
    created = api.ok("POST", sa_path(ns), {
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"},
        "secrets": [{"name": "s1"}, {"name": "s2"}], "imagePullSecrets": [{"name": "reg"}],
        "automountServiceAccountToken": False}, 201)
    assert created["kind"] == "ServiceAccount" and created["metadata"]["uid"]
    assert created["automountServiceAccountToken"] is False
    r = api.client.get(sa_path(ns), headers={"Accept": TABLE}).json()
    assert [c["name"] for c in r["columnDefinitions"]] == ["Name", "Secrets", "Age"]
    assert [row["cells"][:2] for row in r["rows"]] == [["robot", 2]]
    api.ok("PATCH", sa_path(ns, "robot"), {"automountServiceAccountToken": True},
           content_type="application/merge-patch+json")
    assert api.ok("GET", sa_path(ns, "robot"))["automountServiceAccountToken"] is True
    code, body = api.call("POST", sa_path(ns), {"apiVersion": "v1", "kind": "ServiceAccount",
                                                "metadata": {"name": "Bad_Name"}})
    assert code == 422 and body["details"]["causes"][0]["field"] == "metadata.name"
    res = {r["name"]: r for r in api.ok("GET", "/api/v1")["resources"]}
    assert res["serviceaccounts"]["shortNames"] == ["sa"]
    assert res["serviceaccounts/token"] == {
        "name": "serviceaccounts/token", "singularName": "", "namespaced": True,
        "kind": "TokenRequest", "verbs": ["create"], "group": "authentication.k8s.io",
        "version": "v1"}
    api.ok("DELETE", sa_path(ns, "robot"))
    assert api.call("GET", sa_path(ns, "robot"))[0] == 404


def test_kubectl_create_get_describe(kubectl: Kubectl, server_url: str, api: Api,
                                     ns: str) -> None:
    assert kubectl("-n", ns, "create", "serviceaccount", "builder").stdout == \
        "serviceaccount/builder created\n"
    kubectl("-n", ns, "create", "sa", "deployer")
    api.ok("PATCH", sa_path(ns, "deployer"),
           {"secrets": [{"name": "deployer-token"}], "imagePullSecrets": [{"name": "a"},
                                                                          {"name": "b"}],
            "metadata": {"labels": {"team": "x"}, "annotations": {"note": "hi"}}},
           content_type="application/merge-patch+json")
    theirs = kubectl("-n", ns, "get", "sa").stdout
    assert without_age(theirs)[:3] == [["NAME", "SECRETS"], ["builder", "0"],
                                       ["deployer", "1"]]
    assert without_age(mctl_ok(server_url, "-n", ns, "get", "serviceaccounts")) == \
        without_age(theirs)
    for name in ("builder", "deployer"):
        assert mctl_ok(server_url, "-n", ns, "describe", "sa", name) == \
            kubectl("-n", ns, "describe", "sa", name).stdout


@pytest.fixture
def core(server_url: str) -> Iterator[k8s.CoreV1Api]:
    with k8s.ApiClient(k8s.Configuration(host=server_url)) as c:
        yield k8s.CoreV1Api(c)


def test_official_client(core: k8s.CoreV1Api, ns: str, tmp_path: Path) -> None:
    core.create_namespaced_service_account(ns, k8s.V1ServiceAccount(
        metadata=k8s.V1ObjectMeta(name="app"), automount_service_account_token=False))
    got = core.read_namespaced_service_account("app", ns)
    assert got.automount_service_account_token is False
    names = [s.metadata.name for s in core.list_namespaced_service_account(ns).items]
    assert "app" in names
    core.delete_namespaced_service_account("app", ns)


def test_describe_pod_projected_volumes(kubectl: Kubectl, server_url: str, api: Api,
                                        ns: str) -> None:
    """The kube-api-access volume (and the other kinds the kubelet writes) as kubectl
    describes them."""
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "nginx", "volumeMounts": [
            {"name": "kube-api-access-abcde", "readOnly": True,
             "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}],
        "volumes": [
            {"name": "kube-api-access-abcde", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt",
                               "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                    "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
                {"secret": {"name": "s1", "optional": True}}]}},
            {"name": "d", "downwardAPI": {"items": [
                {"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}},
            {"name": "cm", "configMap": {"name": "x"}},
            {"name": "sec", "secret": {"secretName": "y"}}]}}, 201)
    mine = mctl_ok(server_url, "-n", ns, "describe", "pod", "p")
    theirs = kubectl("-n", ns, "describe", "pod", "p").stdout
    def volumes(text: str) -> str:
        return text[text.index("Volumes:"):text.index("QoS Class:")]
    assert "TokenExpirationSeconds:  3607" in mine
    assert volumes(mine) == volumes(theirs)
    assert "/var/run/secrets/kubernetes.io/serviceaccount from kube-api-access-abcde (ro)" \
        in theirs
