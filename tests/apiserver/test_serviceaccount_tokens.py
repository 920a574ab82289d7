"""ServiceAccount tokens over TLS: TokenRequest (``kubectl create token`` with --audience,
--duration, --bound-object-kind/-name; the API directly for its errors), the token
authenticator (signature, issuer, audience, expiry, the account and the bound object still
there with their uids), and legacy Secret tokens. The server denies everything
(AlwaysDeny): a token that authenticates gets 403 naming its user, one that does not 401.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from api import serviceaccount as sat
from testing.secure import SecureApiServer, ssl_client_context
from testing.support import unique, wait_for

AUTHORIZATION_MODE = "AlwaysDeny"
# Test-only: a 3 s minimum expiry and no leeway, so that a token expires within the test.
SECURE_APISERVER_ARGS = ("--service-account-min-token-expiration=3",
                         "--service-account-token-leeway=0",
                         "--service-account-max-token-expiration=86400")


@pytest.fixture(scope="module")
def server(secure_apiserver: SecureApiServer) -> SecureApiServer:
    return secure_apiserver


@pytest.fixture(scope="module")
def root(server: SecureApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.insecure_url, timeout=15) as c:
        yield c


@pytest.fixture
def ns(root: httpx.Client) -> str:
    name = unique("sat")
    assert root.post("/api/v1/namespaces", json={"metadata": {"name": name}}).status_code == 201
    return name


def make_sa(root: httpx.Client, ns: str, name: str = "robot") -> dict[str, Any]:
    r = root.post(f"/api/v1/namespaces/{ns}/serviceaccounts", json={"metadata": {"name": name}})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def request_token(root: httpx.Client, ns: str, sa: str, spec: dict[str, Any]) -> httpx.Response:
    return root.post(f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token",
                     json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                           "spec": spec})


def who(server: SecureApiServer, token: str, ns: str) -> tuple[int, str]:
    """401, or 403 with the user the token authenticated as."""
    with httpx.Client(base_url=server.url, verify=ssl_client_context(server.ca_file), timeout=15,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        r = c.get(f"/api/v1/namespaces/{ns}/pods")
    if r.status_code == 403:
        msg = r.json()["message"]
        return 403, msg.split('User "', 1)[1].split('"', 1)[0]
    return r.status_code, ""


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


def test_kubectl_create_token(server: SecureApiServer, root: httpx.Client, ns: str) -> None:
    sa = make_sa(root, ns)
    kubectl = server.kubectl(server.admin)
    token = kubectl("-n", ns, "create", "token", "robot").stdout.strip()
    c = claims(token)
    assert c["iss"] == sat.DEFAULT_ISSUER and c["aud"] == [sat.DEFAULT_ISSUER]
    assert c["sub"] == f"system:serviceaccount:{ns}:robot"
    assert c["exp"] - c["iat"] == 3600 and c["nbf"] == c["iat"] and c["jti"]
    assert c["kubernetes.io"] == {"namespace": ns, "serviceaccount": {
        "name": "robot", "uid": sa["metadata"]["uid"]}}
    assert jwt.get_unverified_header(token)["kid"] == sat.key_id(server.sa_pub.read_bytes())
    jwt.decode(token, server.sa_pub.read_bytes(), algorithms=["RS256"],
               audience=sat.DEFAULT_ISSUER)
    assert who(server, token, ns) == (403, f"system:serviceaccount:{ns}:robot")

    longer = kubectl("-n", ns, "create", "token", "robot", "--duration=20m").stdout.strip()
    assert claims(longer)["exp"] - claims(longer)["iat"] == 1200
    other = kubectl("-n", ns, "create", "token", "robot", "--audience=vault").stdout.strip()
    assert claims(other)["aud"] == ["vault"]
    assert who(server, other, ns) == (401, "")  # not for this API server's audience
    assert who(server, token[:-4] + "AAAA", ns) == (401, "")  # a bad signature
    missing = kubectl("-n", ns, "create", "token", "nosuch", check=False)
    assert missing.returncode == 1
    assert 'serviceaccounts "nosuch" not found' in missing.stderr


def test_bound_to_pod_refused_once_the_pod_is_gone(server: SecureApiServer,
                                                   root: httpx.Client, ns: str) -> None:
    make_sa(root, ns)
    pod = root.post(f"/api/v1/namespaces/{ns}/pods", json={
        "metadata": {"name": "web"},
        "spec": {"serviceAccountName": "robot", "nodeName": "node-x",
                 "containers": [{"name": "c", "image": "nginx"}]}}).json()
    kubectl = server.kubectl(server.admin)
    token = kubectl("-n", ns, "create", "token", "robot", "--bound-object-kind=Pod",
                    "--bound-object-name=web").stdout.strip()
    assert claims(token)["kubernetes.io"]["pod"] == {"name": "web",
                                                     "uid": pod["metadata"]["uid"]}
    assert who(server, token, ns)[0] == 403
    # TokenReview (as the admin) shows the user the token authenticates as, with its extras.
    r = root.post("/apis/authentication.k8s.io/v1/tokenreviews", json={
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "spec": {"token": token}})
    status = r.json()["status"]
    assert status["authenticated"] is True, status
    user = status["user"]
    assert user["username"] == f"system:serviceaccount:{ns}:robot"
    assert user["uid"] == root.get(f"/api/v1/namespaces/{ns}/serviceaccounts/robot").json()[
        "metadata"]["uid"]
    assert set(user["groups"]) == {"system:serviceaccounts", f"system:serviceaccounts:{ns}",
                                   "system:authenticated"}
    extra = user["extra"]
    assert extra["authentication.kubernetes.io/pod-name"] == ["web"]
    assert extra["authentication.kubernetes.io/pod-uid"] == [pod["metadata"]["uid"]]
    assert extra["authentication.kubernetes.io/credential-id"] == \
        [f"JTI={claims(token)['jti']}"]
    assert root.delete(f"/api/v1/namespaces/{ns}/pods/web",
                       params={"gracePeriodSeconds": "0"}).status_code == 200
    # Token results are cached 10 s, as kube-apiserver's.
    wait_for(lambda: who(server, token, ns)[0] == 401, timeout=20, interval=0.5,
             message="a token bound to a deleted pod refused")


def test_token_request_errors(root: httpx.Client, ns: str) -> None:
    make_sa(root, ns)
    root.post(f"/api/v1/namespaces/{ns}/serviceaccounts", json={"metadata": {"name": "other"}})
    root.post(f"/api/v1/namespaces/{ns}/pods", json={
        "metadata": {"name": "p"},
        "spec": {"serviceAccountName": "other", "containers": [{"name": "c", "image": "x"}]}})
    r = request_token(root, ns, "robot", {"expirationSeconds": 1})
    assert r.status_code == 422
    assert r.json()["message"] == (
        'TokenRequest.authentication.k8s.io "robot" is invalid: spec.expirationSeconds: '
        "Invalid value: 1: may not specify a duration less than 10 minutes")
    r = request_token(root, ns, "robot", {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                                             "name": "p"}})
    assert r.status_code == 400 and r.json()["message"] == (
        'cannot bind token for serviceaccount "robot" to pod running with serviceaccount '
        '"other"')
    r = request_token(root, ns, "other", {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                                             "name": "p", "uid": "nope"}})
    assert r.status_code == 409 and "does not match the UID in record" in r.json()["message"]
    r = request_token(root, ns, "robot", {"boundObjectRef": {
        "kind": "Deployment", "apiVersion": "apps/v1", "name": "d"}})
    assert r.status_code == 400 and r.json()["message"] == \
        "cannot bind token to object of type apps/v1, Kind=Deployment"
    r = request_token(root, ns, "robot", {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                                             "name": "nosuch"}})
    assert r.status_code == 404 and r.json()["message"] == 'pods "nosuch" not found'


def test_token_expires_and_account_deletion(server: SecureApiServer, root: httpx.Client,
                                            ns: str) -> None:
    make_sa(root, ns)
    r = request_token(root, ns, "robot", {"expirationSeconds": 4})
    assert r.status_code == 201, r.text
    status = r.json()["status"]
    token = status["token"]
    assert status["expirationTimestamp"] == time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims(token)["exp"]))
    assert who(server, token, ns)[0] == 403
    wait_for(lambda: who(server, token, ns)[0] == 401, timeout=20, interval=0.5,
             message="an expired token refused")
    fresh = request_token(root, ns, "robot", {}).json()["status"]["token"]
    assert who(server, fresh, ns)[0] == 403
    root.delete(f"/api/v1/namespaces/{ns}/serviceaccounts/robot")
    make_sa(root, ns)  # the same name, another uid: the old token stays refused
    wait_for(lambda: who(server, fresh, ns)[0] == 401, timeout=20, interval=0.5,
             message="a token of a deleted account refused")


def test_bound_to_node_and_the_maximum(server: SecureApiServer, root: httpx.Client,
                                       ns: str) -> None:
    make_sa(root, ns)
    node = unique("tnode")
    n = root.post("/api/v1/nodes", json={"metadata": {"name": node}}).json()
    r = request_token(root, ns, "robot", {"expirationSeconds": 172800, "boundObjectRef": {
        "kind": "Node", "apiVersion": "v1", "name": node, "uid": n["metadata"]["uid"]}})
    assert r.status_code == 201, r.text
    assert r.json()["spec"]["expirationSeconds"] == 86400  # capped by the flag
    token = r.json()["status"]["token"]
    c = claims(token)
    assert c["exp"] - c["iat"] == 86400
    assert c["kubernetes.io"]["node"] == {"name": node, "uid": n["metadata"]["uid"]}
    assert who(server, token, ns)[0] == 403
    root.delete(f"/api/v1/nodes/{node}")
    wait_for(lambda: who(server, token, ns)[0] == 401, timeout=20, interval=0.5,
             message="a token bound to a deleted node refused")


def test_legacy_secret_token(server: SecureApiServer, root: httpx.Client, ns: str) -> None:
    sa = make_sa(root, ns)
    signer = sat.Signer(server.sa_key.read_bytes(), sat.LEGACY_ISSUER)
    token = signer.sign(sat.legacy_claims(ns, sat.Ref("robot", sa["metadata"]["uid"]),
                                          "robot-token"))
    assert who(server, token, ns)[0] == 401  # no such Secret
    root.post(f"/api/v1/namespaces/{ns}/secrets", json={
        "metadata": {"name": "robot-token", "annotations": {
            sat.SA_NAME_ANNOTATION: "robot", sat.SA_UID_ANNOTATION: sa["metadata"]["uid"]}},
        "type": sat.TOKEN_SECRET_TYPE,
        "data": {"token": base64.b64encode(token.encode()).decode()}})
    assert who(server, token, ns) == (403, f"system:serviceaccount:{ns}:robot")
    # Another token for the same Secret name (signed, but not the one the Secret holds).
    other = signer.sign({**sat.legacy_claims(ns, sat.Ref("robot", sa["metadata"]["uid"]),
                                             "robot-token"), "jti": "x"})
    assert who(server, other, ns) == (401, "")
    root.delete(f"/api/v1/namespaces/{ns}/secrets/robot-token")
    wait_for(lambda: who(server, token, ns)[0] == 401, timeout=20, interval=0.5,
             message="a legacy token refused once its Secret is gone")


def test_minictl_create_sa_and_token(server: SecureApiServer, root: httpx.Client,
                                     ns: str) -> None:
    from tests.cli.helpers import fails, ok

    url = server.insecure_url
    assert ok(url, "-n", ns, "create", "serviceaccount", "robot") == \
        "serviceaccount/robot created\n"
    assert ok(url, "-n", ns, "create", "sa", "other") == "serviceaccount/other created\n"
    token = ok(url, "-n", ns, "create", "token", "robot", "--duration=20m",
               "--audience=a", "--audience", sat.DEFAULT_ISSUER).strip()
    c = claims(token)
    assert c["aud"] == ["a", sat.DEFAULT_ISSUER] and c["exp"] - c["iat"] == 1200
    assert who(server, token, ns) == (403, f"system:serviceaccount:{ns}:robot")
    assert fails(url, "-n", ns, "create", "token", "robot", "--bound-object-name=x") == \
        "error: --bound-object-name can only be set if --bound-object-kind is provided"
    assert fails(url, "-n", ns, "create", "token", "robot", "--bound-object-kind=Job",
                 "--bound-object-name=x") == \
        "error: supported --bound-object-kind values are Node, Pod, Secret"
    err = fails(url, "-n", ns, "create", "token", "nosuch")
    assert 'serviceaccounts "nosuch" not found' in err
