"""ConfigMaps and Secrets (core/v1) on the real API server: CRUD, validation causes,
Secret stringData, immutability, watch, server-side tables, protobuf bodies, real
kubectl and the official Python client."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from apiserver import protobuf
from testing.apiclient import Api, Watch
from testing.kubectl import Kubectl


def b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def cm_path(ns: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/configmaps" + (f"/{name}" if name else "")


def secret_path(ns: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/secrets" + (f"/{name}" if name else "")


def causes(body: Any) -> list[tuple[str, str, str]]:
    return sorted((c["reason"], c["field"], c["message"])
                  for c in body["details"]["causes"])


def test_configmap_crud_and_table(api: Api, ns: str) -> None:
    created = api.ok("POST", cm_path(ns), {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
        "data": {"a.txt": "hello", "B_KEY": "x"}, "binaryData": {"bin": b64(b"\x00\xff")}}, 201)
    assert created["data"] == {"a.txt": "hello", "B_KEY": "x"}
    assert created["binaryData"] == {"bin": "AP8="}
    assert created["metadata"]["uid"]
    got = api.ok("GET", cm_path(ns, "cfg"))
    assert got["data"]["a.txt"] == "hello"
    got["data"]["a.txt"] = "bye"
    api.ok("PUT", cm_path(ns, "cfg"), got)
    api.ok("PATCH", cm_path(ns, "cfg"), {"data": {"c": "3"}},
           content_type="application/merge-patch+json")
    assert api.ok("GET", cm_path(ns, "cfg"))["data"] == {"a.txt": "bye", "B_KEY": "x", "c": "3"}
    r = api.client.get(cm_path(ns), headers={"Accept": "application/json;as=Table;v=v1;"
                                                      "g=meta.k8s.io"}).json()
    assert [c["name"] for c in r["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert r["rows"][0]["cells"][:2] == ["cfg", 4]
    api.ok("DELETE", cm_path(ns, "cfg"))
    assert api.call("GET", cm_path(ns, "cfg"))[0] == 404


def test_configmap_validation_causes(api: Api, ns: str) -> None:
    code, body = api.call("POST", cm_path(ns), {
        "metadata": {"name": "bad"}, "data": {"a b": "x", "..": "y", "dup": "1"},
        "binaryData": {"dup": b64("1"), "nb64": "!!!"}})
    assert code == 422, body
    assert body["reason"] == "Invalid"
    got = causes(body)
    fields = [f for _, f, _ in got]
    assert "data[a b]" in fields and "data[..]" in fields and "binaryData[nb64]" in fields
    assert ("FieldValueInvalid", "data[dup]",
            'Invalid value: "dup": duplicate of key present in binaryData') in got
    assert any("a valid config key must consist of alphanumeric characters" in m
               for _, f, m in got if f == "data[a b]")
    assert ("FieldValueInvalid", "data[..]", "Invalid value: \"..\": must not be '..'") in got

    code, body = api.call("POST", cm_path(ns), {
        "metadata": {"name": "big"}, "data": {"k": "x" * (1024 * 1024 + 1)}})
    assert code == 422, body
    assert causes(body) == [("FieldValueTooLong", "",
                             "Too long: must have at most 1048576 bytes")]
    assert api.call("POST", cm_path(ns), {
        "metadata": {"name": "long"}, "data": {"k" * 254: "x"}})[0] == 422


def test_pod_configmap_and_secret_volume_validation(api: Api, ns: str) -> None:
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/pods", {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], "volumes": [
            {"name": "a", "configMap": {"name": "x", "defaultMode": 0o1000, "items": [
                {"key": "k", "path": "../etc/passwd"}, {"key": "", "path": "/abs"}]}},
            {"name": "b", "secret": {"items": [{"key": "k", "path": "f", "mode": -1}]}}]}})
    assert code == 422, body
    got = {f: m for _, f, m in causes(body)}
    assert got["spec.volumes[0].configMap.defaultMode"] == (
        "Invalid value: 512: must be a number between 0 and 0777 (octal), both inclusive")
    assert got["spec.volumes[0].configMap.items[0].path"] == (
        "Invalid value: \"../etc/passwd\": must not start with '..'")
    assert got["spec.volumes[0].configMap.items[1].key"] == "Required value"
    assert got["spec.volumes[0].configMap.items[1].path"] == (
        'Invalid value: "/abs": must be a relative path')
    assert got["spec.volumes[1].secret.secretName"] == "Required value"
    assert "spec.volumes[1].secret.items[0].mode" in got


def test_pod_env_references_validation(api: Api, ns: str) -> None:
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/pods", {
        "metadata": {"name": "p"},
        "spec": {"containers": [{
            "name": "c", "image": "busybox",
            "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm"}}},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "a/b"}}},
                    {"name": "C", "valueFrom": {}}],
            "envFrom": [{"prefix": "1X", "configMapRef": {"name": "cm"}}, {}]}]}})
    assert code == 422, body
    got = {f: m for _, f, m in causes(body)}
    assert got["spec.containers[0].env[0].valueFrom.configMapKeyRef.key"] == "Required value"
    assert "a valid config key" in got["spec.containers[0].env[1].valueFrom.secretKeyRef.key"]
    assert got["spec.containers[0].env[2].valueFrom"].endswith(
        "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
        "`secretKeyRef`")
    assert "spec.containers[0].envFrom[0].prefix" in got
    assert got["spec.containers[0].envFrom"] == (
        'Invalid value: "": must specify one of: `configMapRef` or `secretRef`')
    ok = {"metadata": {"name": "fine"}, "spec": {"containers": [{
        "name": "c", "image": "busybox",
        "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k",
                                                                "optional": True}}}],
        "envFrom": [{"prefix": "P_", "secretRef": {"name": "s"}}]}]}}
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", ok, 201)


def test_secret_string_data_default_type_and_base64(api: Api, ns: str) -> None:
    created = api.ok("POST", secret_path(ns), {
        "metadata": {"name": "s"}, "data": {"user": b64("old"), "keep": b64("k")},
        "stringData": {"user": "admin", "pass": "p@ss"}}, 201)
    assert created["type"] == "Opaque"
    assert "stringData" not in created
    assert created["data"] == {"user": b64("admin"), "keep": b64("k"), "pass": b64("p@ss")}
    got = api.ok("GET", secret_path(ns, "s"))
    assert "stringData" not in got and got["data"]["pass"] == b64("p@ss")
    # stringData in a patch is merged too, and still never stored.
    patched = api.ok("PATCH", secret_path(ns, "s"), {"stringData": {"keep": "new"}},
                     content_type="application/merge-patch+json")
    assert patched["data"]["keep"] == b64("new") and "stringData" not in patched

    code, body = api.call("POST", secret_path(ns), {
        "metadata": {"name": "bad"}, "data": {"k": "not base64!"}})
    assert code == 422
    assert [f for _, f, _ in causes(body)] == ["data[k]"]
    code, body = api.call("POST", secret_path(ns), {
        "metadata": {"name": "big"}, "stringData": {"k": "x" * (1024 * 1024 + 1)}})
    assert code == 422
    assert causes(body) == [("FieldValueTooLong", "data",
                             "Too long: must have at most 1048576 bytes")]
    code, body = api.call("POST", secret_path(ns), {
        "metadata": {"name": "tls"}, "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": "C"}})
    assert code == 422
    assert causes(body) == [("FieldValueRequired", "data[tls.key]", "Required value")]
    api.ok("POST", secret_path(ns), {"metadata": {"name": "ba"}, "type": "kubernetes.io/basic-auth",
                                     "stringData": {"username": "u"}}, 201)
    r = api.client.get(secret_path(ns), headers={"Accept": "application/json;as=Table;v=v1;"
                                                          "g=meta.k8s.io"}).json()
    assert [c["name"] for c in r["columnDefinitions"]] == ["Name", "Type", "Data", "Age"]
    assert ["s", "Opaque", 3] in [row["cells"][:3] for row in r["rows"]]


def test_immutable_configmap_and_secret(api: Api, ns: str) -> None:
    api.ok("POST", cm_path(ns), {"metadata": {"name": "frozen"}, "data": {"a": "1"},
                                 "immutable": True}, 201)
    code, body = api.call("PATCH", cm_path(ns, "frozen"), {"data": {"a": "2"}},
                          content_type="application/merge-patch+json")
    assert code == 422, body
    assert causes(body) == [("FieldValueForbidden", "data",
                             "Forbidden: field is immutable when `immutable` is set")]
    code, body = api.call("PATCH", cm_path(ns, "frozen"), {"immutable": False},
                          content_type="application/merge-patch+json")
    assert code == 422
    assert [f for _, f, _ in causes(body)] == ["immutable"]
    # Metadata may still change.
    api.ok("PATCH", cm_path(ns, "frozen"), {"metadata": {"labels": {"x": "y"}}},
           content_type="application/merge-patch+json")

    api.ok("POST", secret_path(ns), {"metadata": {"name": "fs"}, "stringData": {"a": "1"},
                                     "immutable": True}, 201)
    code, body = api.call("PATCH", secret_path(ns, "fs"), {"stringData": {"a": "2"}},
                          content_type="application/merge-patch+json")
    assert code == 422
    assert [f for _, f, _ in causes(body)] == ["data"]
    api.ok("POST", secret_path(ns), {"metadata": {"name": "typed"}, "type": "example.com/x"},
           201)
    code, body = api.call("PATCH", secret_path(ns, "typed"), {"type": "Opaque"},
                          content_type="application/merge-patch+json")
    assert code == 422
    assert causes(body) == [("FieldValueInvalid", "type",
                             'Invalid value: "Opaque": field is immutable')]


def test_watch_and_deletecollection(api: Api, ns: str, server_url: str) -> None:
    rv = api.ok("GET", cm_path(ns))["metadata"]["resourceVersion"]
    w = Watch(server_url, cm_path(ns), resourceVersion=rv, timeoutSeconds=20)
    try:
        api.ok("POST", cm_path(ns), {"metadata": {"name": "w"}, "data": {"a": "1"}}, 201)
        api.ok("PATCH", cm_path(ns, "w"), {"data": {"a": "2"}},
               content_type="application/merge-patch+json")
        api.ok("DELETE", cm_path(ns, "w"))
        evs = w.collect(3)
        assert [e["type"] for e in evs] == ["ADDED", "MODIFIED", "DELETED"]
        assert evs[1]["object"]["data"] == {"a": "2"}
    finally:
        w.close()
    api.ok("POST", secret_path(ns), {"metadata": {"name": "x"}}, 201)
    api.ok("POST", cm_path(ns), {"metadata": {"name": "y"}}, 201)
    api.ok("DELETE", cm_path(ns), None)  # deletecollection
    assert api.ok("GET", cm_path(ns))["items"] == []


def test_protobuf_body_round_trip(api: Api, ns: str) -> None:
    body = protobuf.encode({"apiVersion": "v1", "kind": "Secret",
                            "metadata": {"name": "pb"}, "type": "Opaque",
                            "data": {"raw": b64(b"\x01\x02")}, "stringData": {"s": "v"},
                            "immutable": False})
    out = api.ok("POST", secret_path(ns), body, 201, content_type=protobuf.CONTENT_TYPE)
    assert out["data"] == {"raw": "AQI=", "s": b64("v")} and out["immutable"] is False
    body = protobuf.encode({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pb"},
                            "data": {"a": "1"}, "binaryData": {"b": "AA=="}})
    out = api.ok("POST", cm_path(ns), body, 201, content_type=protobuf.CONTENT_TYPE)
    assert out["data"] == {"a": "1"} and out["binaryData"] == {"b": "AA=="}


def test_kubectl_create_and_get(kubectl: Kubectl, api: Api, ns: str, tmp_path: Path) -> None:
    f = tmp_path / "app.conf"
    f.write_text("port=80\n")
    assert kubectl("-n", ns, "create", "configmap", "web", "--from-literal=mode=prod",
                   f"--from-file={f}").stdout.strip() == "configmap/web created"
    assert kubectl("-n", ns, "create", "secret", "generic", "db",
                   "--from-literal=password=s3cret").stdout.strip() == "secret/db created"
    lines = [ln.split() for ln in kubectl("-n", ns, "get", "cm").stdout.splitlines()]
    assert lines[0] == ["NAME", "DATA", "AGE"] and lines[1][:2] == ["web", "2"]
    lines = [ln.split() for ln in kubectl("-n", ns, "get", "secrets").stdout.splitlines()]
    assert lines[0] == ["NAME", "TYPE", "DATA", "AGE"] and lines[1][:3] == ["db", "Opaque", "1"]
    assert api.ok("GET", cm_path(ns, "web"))["data"] == {"mode": "prod",
                                                         "app.conf": "port=80\n"}
    assert api.ok("GET", secret_path(ns, "db"))["data"] == {"password": b64("s3cret")}
    out = kubectl("-n", ns, "get", "secret", "db", "-o", "jsonpath={.data.password}").stdout
    assert base64.b64decode(out).decode() == "s3cret"


@pytest.fixture
def core(server_url: str) -> Iterator[k8s.CoreV1Api]:
    with k8s.ApiClient(k8s.Configuration(host=server_url)) as c:
        yield k8s.CoreV1Api(c)


def test_official_python_client(core: k8s.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, k8s.V1ConfigMap(
        metadata=k8s.V1ObjectMeta(name="pc"), data={"k": "v"}))
    assert core.read_namespaced_config_map("pc", ns).data == {"k": "v"}
    core.create_namespaced_secret(ns, k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name="ps"), string_data={"token": "abc"}))
    s = core.read_namespaced_secret("ps", ns)
    assert s.type == "Opaque" and s.data == {"token": b64("abc")} and s.string_data is None
    assert [x.metadata.name for x in core.list_namespaced_secret(ns).items] == ["ps"]
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(ns, k8s.V1ConfigMap(
            metadata=k8s.V1ObjectMeta(name="bad"), data={"no/slash": "v"}))
    assert e.value.status == 422
    core.delete_namespaced_config_map("pc", ns)


def test_namespace_deletion_removes_configmaps_and_secrets(api: Api, server_url: str) -> None:
    from testing.support import wait_for
    from tests.controllers.helpers import start_controller_manager

    ns = api.namespace()
    api.ok("POST", cm_path(ns), {"metadata": {"name": "c"}, "data": {"a": "1"}}, 201)
    api.ok("POST", secret_path(ns), {"metadata": {"name": "s"}, "stringData": {"a": "1"}}, 201)
    proc = start_controller_manager(server_url, "--controllers=namespace",
                                    name="cm-namespace-controller")
    try:
        api.ok("DELETE", f"/api/v1/namespaces/{ns}")
        wait_for(lambda: api.call("GET", f"/api/v1/namespaces/{ns}")[0] == 404, timeout=30,
                 message="namespace removed")
    finally:
        proc.stop()
    assert api.ok("GET", cm_path(ns))["items"] == []
    assert api.ok("GET", secret_path(ns))["items"] == []
