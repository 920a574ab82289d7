"""The ServiceAccount controllers in the controller-manager process: a ``default`` account
in every namespace (made again when deleted), the ``kube-root-ca.crt`` ConfigMap (from
--root-ca-file, restored when edited), and legacy token Secrets filled with a JWT signed by
--service-account-private-key-file (and deleted with their account)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

import pki
from api import serviceaccount as sat
from testing.apiclient import Api
from testing.support import Process, wait_for
from tests.controllers.helpers import start_controller_manager


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    d = tmp_path_factory.mktemp("sa-pki")
    ca = pki.new_ca()
    ca_file, _ = ca.write(d, "ca")
    private, public = pki.new_service_account_key()
    (d / "sa.key").write_bytes(private)
    return ca_file, d / "sa.key", public


@pytest.fixture(scope="module")
def manager(server_url: str, keys: tuple[Path, Path, bytes]) -> Iterator[Process]:
    ca_file, key_file, _ = keys
    cm = start_controller_manager(
        server_url, "--controllers=serviceaccount,serviceaccount-token,root-ca-cert-publisher",
        f"--root-ca-file={ca_file}", f"--service-account-private-key-file={key_file}")
    yield cm
    cm.stop()


def _get(api: Api, path: str) -> dict[str, object] | None:
    code, body = api.call("GET", path)
    return body if code == 200 else None  # type: ignore[return-value]


def test_default_account_in_every_namespace(api: Api, manager: Process) -> None:
    ns = api.namespace()
    path = f"/api/v1/namespaces/{ns}/serviceaccounts/default"
    first = wait_for(lambda: _get(api, path), timeout=15, message="default ServiceAccount")
    api.ok("DELETE", path)
    again = wait_for(lambda: (b := _get(api, path)) and b["metadata"]["uid"] !=  # type: ignore[index]
                     first["metadata"]["uid"] and b, timeout=15,  # type: ignore[index]
                     message="default ServiceAccount made again")
    assert again["metadata"]["name"] == "default"  # type: ignore[index]


def test_root_ca_configmap(api: Api, manager: Process, keys: tuple[Path, Path, bytes]) -> None:
    ca_pem = keys[0].read_text()
    ns = api.namespace()
    path = f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt"
    cm = wait_for(lambda: _get(api, path), timeout=15, message="kube-root-ca.crt")
    assert cm["data"] == {"ca.crt": ca_pem}  # type: ignore[index]
    assert "kubernetes.io/description" in cm["metadata"]["annotations"]  # type: ignore[index]
    api.ok("PATCH", path, {"data": {"ca.crt": "tampered"}},
           content_type="application/merge-patch+json")
    wait_for(lambda: (b := _get(api, path)) and b["data"] == {"ca.crt": ca_pem},  # type: ignore[index]
             timeout=15, message="kube-root-ca.crt restored")


def test_legacy_token_secret(api: Api, manager: Process, keys: tuple[Path, Path, bytes]) -> None:
    ca_file, _, public = keys
    ns = api.namespace()
    sa = api.ok("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                {"metadata": {"name": "builder"}}, 201)
    spath = f"/api/v1/namespaces/{ns}/secrets/builder-token"
    api.ok("POST", f"/api/v1/namespaces/{ns}/secrets", {
        "metadata": {"name": "builder-token",
                     "annotations": {sat.SA_NAME_ANNOTATION: "builder"}},
        "type": sat.TOKEN_SECRET_TYPE}, 201)
    s = wait_for(lambda: (b := _get(api, spath)) and "token" in (b.get("data") or {}) and b,  # type: ignore[union-attr, operator]
                 timeout=15, message="token filled in")
    data = {k: base64.b64decode(v).decode() for k, v in s["data"].items()}  # type: ignore[index]
    assert data["namespace"] == ns and data["ca.crt"] == ca_file.read_text()
    assert s["metadata"]["annotations"][sat.SA_UID_ANNOTATION] == sa["metadata"]["uid"]  # type: ignore[index]
    claims = jwt.decode(data["token"], public, algorithms=["RS256"])
    assert claims["iss"] == "kubernetes/serviceaccount"
    assert claims["sub"] == f"system:serviceaccount:{ns}:builder"
    assert claims[sat.LEGACY_SECRET_NAME] == "builder-token"
    assert claims[sat.LEGACY_SA_UID] == sa["metadata"]["uid"]
    code, body = api.call("POST", f"/api/v1/namespaces/{ns}/secrets", {
        "metadata": {"name": "nameless"}, "type": sat.TOKEN_SECRET_TYPE})
    assert code == 422 and body["details"]["causes"] == [{  # type: ignore[index]
        "reason": "FieldValueRequired", "message": "Required value",
        "field": "metadata.annotations[kubernetes.io/service-account.name]"}]
    api.ok("DELETE", f"/api/v1/namespaces/{ns}/serviceaccounts/builder")
    wait_for(lambda: api.call("GET", spath)[0] == 404, timeout=15,
             message="token Secret deleted with its account")
