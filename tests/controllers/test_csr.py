"""certificates.k8s.io/v1 CertificateSigningRequests on a secure API server (RBAC) with the
controller-manager's csrapproving and csrsigning controllers: kubectl get csr (the table
kubectl prints), kubectl certificate approve|deny (PUT .../approval as protobuf), the
official client, validation as pkg/apis/certificates/validation, which write may change
what (main resource, /status, /approval), a bootstrap token's kubelet client CSR approved
after a SubjectAccessReview and issued by the cluster CA, a plain user's left pending, a
request the signer refuses marked Failed."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import pki
from api import bootstraptoken as bt
from cli.main import cli
from pki.csr import new_key_pem, new_request, sign_request
from testing.secure import SecureApiServer
from testing.support import Process, on_own_etcd, unique, wait_for
from tests.controllers.helpers import start_controller_manager

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
KUBELET_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"


@pytest.fixture(scope="module")
def server() -> Iterator[SecureApiServer]:
    with on_own_etcd(lambda url: SecureApiServer(url, authorization_mode="Node,RBAC")) as s:
        yield s


@pytest.fixture(scope="module")
def root(server: SecureApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.insecure_url, timeout=15) as c:
        yield c


@pytest.fixture(scope="module")
def manager(server: SecureApiServer) -> Iterator[Process]:
    cm = start_controller_manager(
        server.insecure_url, "--controllers=csrapproving,csrsigning",
        f"--cluster-signing-cert-file={server.ca_file}",
        f"--cluster-signing-key-file={server.dir / 'ca.key'}",
        "--cluster-signing-duration=2h")
    yield cm
    cm.stop()


def csr_body(name: str, cn: str, orgs: tuple[str, ...] = ("system:nodes",),
             signer: str = KUBELET_SIGNER, usages: tuple[str, ...] = (
                 "digital signature", "client auth"), **spec: Any) -> dict[str, Any]:
    req = new_request(new_key_pem(), cn, orgs)
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {"request": base64.b64encode(req).decode(), "signerName": signer,
                     "usages": list(usages), **spec}}


def bootstrap_token(root: httpx.Client, groups: str = bt.DEFAULT_GROUP) -> str:
    token = bt.generate()
    tid, secret = token.split(".")
    data = {bt.TOKEN_ID: tid, bt.TOKEN_SECRET: secret, "usage-bootstrap-authentication": "true",
            bt.EXTRA_GROUPS: groups}
    r = root.post("/api/v1/namespaces/kube-system/secrets", json={
        "metadata": {"name": bt.SECRET_PREFIX + tid}, "type": bt.SECRET_TYPE,
        "stringData": data})
    assert r.status_code == 201, r.text
    return token


def test_kubectl_get_approve_deny(server: SecureApiServer, root: httpx.Client,
                                  tmp_path: Any) -> None:
    k = server.kubectl(server.admin)
    a, d = unique("csr-a"), unique("csr-d")
    import json

    f = tmp_path / "csr.json"
    f.write_text(json.dumps(csr_body(a, "someone", (), "kubernetes.io/kube-apiserver-client",
                                     ("client auth",), expirationSeconds=3600)))
    assert "created" in k("create", "-f", str(f)).stdout
    assert root.post(CSRS, json=csr_body(d, "other", ())).status_code == 201
    out = k("get", "csr", a).stdout.splitlines()
    assert out[0].split() == ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION",
                              "CONDITION"]
    row = out[1].split()
    assert row[0] == a and row[2:] == ["kubernetes.io/kube-apiserver-client",
                                       "kubernetes-admin", "60m", "Pending"]
    assert k("certificate", "approve", a).stdout.strip() == \
        f"certificatesigningrequest.certificates.k8s.io/{a} approved"
    assert k("certificate", "deny", d).stdout.strip() == \
        f"certificatesigningrequest.certificates.k8s.io/{d} denied"
    got = root.get(f"{CSRS}/{a}").json()
    cond = got["status"]["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("Approved", "True",
                                                              "KubectlApprove")
    assert cond["lastUpdateTime"] and cond["lastTransitionTime"]
    assert got["spec"]["username"] == "kubernetes-admin"
    assert "system:masters" in got["spec"]["groups"]
    assert k("get", "csr", d).stdout.splitlines()[1].split()[-1] == "Denied"
    # an approved request cannot be denied (kubectl checks; the server refuses too)
    r = k("certificate", "deny", a, check=False)
    assert r.returncode != 0 and "already Approved" in r.stderr
    both = dict(got)
    both["status"] = {"conditions": [*got["status"]["conditions"], {
        "type": "Denied", "status": "True", "reason": "X"}]}
    r2 = root.put(f"{CSRS}/{a}/approval", json=both)
    assert r2.status_code == 422
    assert "Approved and Denied conditions are mutually exclusive" in r2.json()["message"]
    # minictl describe prints what kubectl describe prints, SANs and lists included
    sans = unique("csr-s")
    req = new_request(new_key_pem(), "system:node:s", ("o1", "o2"), ("a.example", "b.example"),
                      ("10.0.0.1",))
    assert root.post(CSRS, json={**csr_body(sans, "x"), "spec": {
        "request": base64.b64encode(req).decode(), "signerName": "kubernetes.io/kubelet-serving",
        "usages": ["digital signature", "server auth"]}}).status_code == 201
    for name in (a, sans):
        mine = CliRunner().invoke(cli, ["--kubeconfig", str(server.admin.kubeconfig),
                                        "describe", "csr", name]).stdout
        assert mine == k("describe", "csr", name).stdout
    # the official client reads them
    from kubernetes import client as k8s

    api = k8s.CertificatesV1Api(server.official_client(server.admin))
    read = api.read_certificate_signing_request(a)
    assert read.spec.signer_name == "kubernetes.io/kube-apiserver-client"
    assert read.status.conditions[0].type == "Approved"
    assert a in [i.metadata.name for i in api.list_certificate_signing_request().items]


def test_validation(root: httpx.Client) -> None:
    body = csr_body(unique("bad"), "x", (), "example", ("client auth", "client auth", "nope"),
                    expirationSeconds=599)
    r = root.post(CSRS, json=body)
    assert r.status_code == 422, r.text
    causes = {(c["field"], c["reason"]) for c in r.json()["details"]["causes"]}
    assert ("spec.signerName", "FieldValueInvalid") in causes
    assert ("spec.usages[1]", "FieldValueDuplicate") in causes
    assert ("spec.usages[2]", "FieldValueNotSupported") in causes
    assert ("spec.expirationSeconds", "FieldValueInvalid") in causes
    assert any("may not specify a duration less than 600 seconds" in c["message"]
               for c in r.json()["details"]["causes"])
    body = csr_body(unique("bad"), "x", ())
    body["spec"]["request"] = base64.b64encode(b"not a request").decode()
    body["spec"]["usages"] = []
    r = root.post(CSRS, json=body)
    causes = {(c["field"], c["reason"]) for c in r.json()["details"]["causes"]}
    assert {("spec.request", "FieldValueInvalid"), ("spec.usages", "FieldValueRequired")} \
        <= causes
    assert root.post(CSRS, json=csr_body(unique("bad"), "x", (),
                                         "kubernetes.io/legacy-unknown")).status_code == 422


def test_which_write_changes_what(root: httpx.Client) -> None:
    name = unique("w")
    created = root.post(CSRS, json=csr_body(name, "x", (), "example.com/signer",
                                            ("client auth",))).json()
    assert created["status"] == {}
    assert created["spec"]["username"] == "system:unsecured"
    # the spec and the status of a main-resource write are ignored
    upd = dict(created)
    upd["spec"] = {**created["spec"], "signerName": "example.com/other", "username": "me"}
    upd["status"] = {"conditions": [{"type": "Approved", "status": "True"}]}
    out = root.put(f"{CSRS}/{name}", json=upd).json()
    assert out["spec"] == created["spec"] and out["status"] == {}
    # /status may not approve
    st = dict(out)
    st["status"] = {"conditions": [{"type": "Approved", "status": "True"},
                                   {"type": "Failed", "status": "True", "reason": "R"}]}
    out = root.put(f"{CSRS}/{name}/status", json=st).json()
    assert [c["type"] for c in out["status"]["conditions"]] == ["Failed"]
    # /approval may approve, and keeps Failed
    ap = dict(out)
    ap["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "Ok"}],
                    "certificate": base64.b64encode(b"junk").decode()}
    out = root.put(f"{CSRS}/{name}/approval", json=ap).json()
    assert sorted(c["type"] for c in out["status"]["conditions"]) == ["Approved", "Failed"]
    assert "certificate" not in out["status"]
    # Approved never goes away
    rm = dict(out)
    rm["status"] = {"conditions": []}
    r = root.put(f"{CSRS}/{name}/approval", json=rm)
    assert r.status_code == 422
    assert 'updates may not remove a condition of type "Approved"' in r.json()["message"]
    # a certificate must be CERTIFICATE PEM blocks
    bad = dict(out)
    bad["status"] = {**out["status"], "certificate": base64.b64encode(b"junk").decode()}
    r = root.put(f"{CSRS}/{name}/status", json=bad)
    assert r.status_code == 422 and "status.certificate" in r.text


def test_bootstrap_token_csr_is_approved_and_issued(server: SecureApiServer,
                                                    root: httpx.Client,
                                                    manager: Process) -> None:
    token = bootstrap_token(root)
    creds = server.token_user(token, "bootstrap")
    name = unique("node-csr")
    with server.client(creds) as c:
        r = c.post(CSRS, json=csr_body(name, "system:node:joiner", expirationSeconds=3600))
        assert r.status_code == 201, r.text
    assert r.json()["spec"]["username"] == "system:bootstrap:" + token.split(".")[0]
    got = wait_for(lambda: (b := root.get(f"{CSRS}/{name}").json())["status"].get(
        "certificate") and b, timeout=20, message="certificate issued")
    cond = got["status"]["conditions"][0]
    assert (cond["type"], cond["reason"]) == ("Approved", "AutoApproved")
    assert cond["message"] == ("Auto approving kubelet client certificate after "
                               "SubjectAccessReview.")
    cert = x509.load_pem_x509_certificate(base64.b64decode(got["status"]["certificate"]))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == \
        "system:node:joiner"
    assert cert.issuer == x509.load_pem_x509_certificate(server.ca.cert_pem).subject
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    life = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(minutes=55) < life <= datetime.timedelta(hours=1)
    # kubectl shows it issued
    row = server.kubectl(server.admin)("get", "csr", name).stdout.splitlines()[1].split()
    assert row[-1] == "Approved,Issued"


def test_not_auto_approved_without_permission(server: SecureApiServer, root: httpx.Client,
                                              manager: Process) -> None:
    # a token outside the default node group may create CSRs (bound here) but is not
    # allowed nodeclient: its request stays Pending
    group = "system:bootstrappers:other"
    root.post("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", json={
        "metadata": {"name": unique("other-bootstrap")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "system:node-bootstrapper"},
        "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                      "name": group}]})
    token = bootstrap_token(root, group)
    name = unique("pending")
    with server.client(server.token_user(token, "other")) as c:
        r = c.post(CSRS, json=csr_body(name, "system:node:other"))
        assert r.status_code == 201, r.text
    # a CSR the signer refuses (approved by an admin): Failed
    failed = unique("failing")
    assert root.post(CSRS, json=csr_body(failed, "system:node:x", ("wrong-org",))
                     ).status_code == 201
    obj = root.get(f"{CSRS}/{failed}").json()
    obj["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "Admin"}]}
    assert root.put(f"{CSRS}/{failed}/approval", json=obj).status_code == 200
    got = wait_for(lambda: (b := root.get(f"{CSRS}/{failed}").json()) and len(
        b["status"]["conditions"]) == 2 and b, timeout=20, message="Failed condition")
    fc = next(c for c in got["status"]["conditions"] if c["type"] == "Failed")
    assert (fc["type"], fc["reason"], fc["message"]) == (
        "Failed", "SignerValidationFailure", "subject organization is not system:nodes")
    assert "certificate" not in got["status"]
    pending = root.get(f"{CSRS}/{name}").json()
    assert pending["status"] == {}


def test_admission_approve_sign_and_masters(server: SecureApiServer, root: httpx.Client) -> None:
    """CertificateApproval, CertificateSigning, CertificateSubjectRestriction."""
    who = unique("approver")
    role = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": who}
    root.post("/apis/rbac.authorization.k8s.io/v1/clusterroles", json={
        "metadata": {"name": who}, "rules": [
            {"apiGroups": ["certificates.k8s.io"], "verbs": ["get", "update"],
             "resources": ["certificatesigningrequests/approval",
                           "certificatesigningrequests/status", "certificatesigningrequests"]}]})
    root.post("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", json={
        "metadata": {"name": who}, "roleRef": role,
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": who}]})
    name = unique("adm")
    assert root.post(CSRS, json=csr_body(name, "x", (), "example.com/team-a",
                                         ("client auth",))).status_code == 201
    obj = root.get(f"{CSRS}/{name}").json()
    obj["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "R"}]}
    with server.client(server.user(who)) as c:
        r = c.put(f"{CSRS}/{name}/approval", json=obj)
        assert r.status_code == 403, r.text
        assert r.json()["message"] == (
            f'certificatesigningrequests.certificates.k8s.io "{name}" is forbidden: user not '
            'permitted to approve requests with signerName "example.com/team-a"')
        # approve on <domain>/* is enough
        grant = unique("signers")
        root.post("/apis/rbac.authorization.k8s.io/v1/clusterroles", json={
            "metadata": {"name": grant}, "rules": [
                {"apiGroups": ["certificates.k8s.io"], "verbs": ["approve"],
                 "resources": ["signers"], "resourceNames": ["example.com/*"]}]})
        root.post("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", json={
            "metadata": {"name": grant},
            "roleRef": {**role, "name": grant},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io",
                          "name": who}]})
        wait_for(lambda: c.put(f"{CSRS}/{name}/approval", json=obj).status_code == 200,
                 timeout=10, message="approval allowed")
        # issuing needs sign
        issued = root.get(f"{CSRS}/{name}").json()
        req = x509.load_pem_x509_csr(base64.b64decode(issued["spec"]["request"]))
        cert = sign_request(pki.KeyCert((server.dir / "ca.key").read_bytes(),
                                        server.ca.cert_pem), req, ["client auth"],
                            datetime.timedelta(hours=1))
        issued["status"]["certificate"] = base64.b64encode(cert).decode()
        r = c.put(f"{CSRS}/{name}/status", json=issued)
        assert r.status_code == 403
        assert 'user not permitted to sign requests with signerName "example.com/team-a"' \
            in r.json()["message"]
    assert root.put(f"{CSRS}/{name}/status", json=issued).status_code == 200
    # minictl get csr prints what kubectl prints (the AGE column aside)
    mine = CliRunner().invoke(cli, ["--kubeconfig", str(server.admin.kubeconfig), "get",
                                    "csr", name]).stdout.splitlines()
    theirs = server.kubectl(server.admin)("get", "csr", name).stdout.splitlines()
    assert mine[0] == theirs[0]
    assert mine[1].split()[2:] == theirs[1].split()[2:] == [
        "example.com/team-a", "system:unsecured", "<none>", "Approved,Issued"]
    # no kube-apiserver-client certificate for system:masters
    r = root.post(CSRS, json=csr_body(unique("masters"), "evil", ("system:masters",),
                                      "kubernetes.io/kube-apiserver-client", ("client auth",)))
    assert r.status_code == 403
    assert "use of kubernetes.io/kube-apiserver-client signer with system:masters group is " \
        "not allowed" in r.json()["message"]


def test_kubelet_serving_issued_once_approved(server: SecureApiServer, root: httpx.Client,
                                              manager: Process) -> None:
    """kubernetes.io/kubelet-serving: never auto-approved; approved by an admin, issued with
    the request's SANs for server auth, for --cluster-signing-duration (2h here)."""
    name = unique("serving")
    req = new_request(new_key_pem(), "system:node:web-1", ("system:nodes",), ("web-1",),
                      ("10.1.2.3",))
    assert root.post(CSRS, json={**csr_body(name, "x"), "spec": {
        "request": base64.b64encode(req).decode(), "signerName": "kubernetes.io/kubelet-serving",
        "usages": ["digital signature", "server auth"]}}).status_code == 201
    obj = root.get(f"{CSRS}/{name}").json()
    assert obj["status"] == {}
    obj["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "Admin"}]}
    assert root.put(f"{CSRS}/{name}/approval", json=obj).status_code == 200
    got = wait_for(lambda: (b := root.get(f"{CSRS}/{name}").json())["status"].get(
        "certificate") and b, timeout=20, message="serving certificate issued")
    cert = x509.load_pem_x509_certificate(base64.b64decode(got["status"]["certificate"]))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["web-1"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["10.1.2.3"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert datetime.timedelta(hours=2) <= life <= datetime.timedelta(hours=2, minutes=5)
