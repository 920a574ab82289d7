"""The clients over TLS: kubeconfig TLS fields (embedded data and files, relative paths),
client certificates, insecure-skip-tls-verify, a token file re-read as it rotates, the
in-cluster config, and the services' --kubeconfig. The server here is a small HTTPS server
(the stdlib's) that requires a client certificate signed by the test CA when asked to, and
answers with the client's certificate CN and Authorization header: what the client sends
is what is checked, with no mock of the client."""

from __future__ import annotations

import asyncio
import http.server
import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import pki
from client.config import (
    KubeconfigError,
    TLSConfigError,
    TokenFile,
    config_from_flags,
    in_cluster_config,
    kubeconfig_config,
    resolve_cli,
    service_config,
)
from client.errors import ServerUnavailable
from client.rest import AsyncClient, Client, RetryPolicy

NO_RETRY = RetryPolicy(retries=0)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        peer = self.connection.getpeercert()
        cn = ""
        for rdn in (peer or {}).get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    cn = v
        body = json.dumps({"cn": cn, "auth": self.headers.get("Authorization") or "",
                           "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class TLSServer:
    def __init__(self, ca: pki.KeyCert, tmp: Path, require_client_cert: bool,
                 host: str = "127.0.0.1") -> None:
        serving = pki.issue(ca, "test-server", dns_names=["localhost"],
                            ip_addresses=["127.0.0.1"], server=True)
        crt, key = serving.write(tmp, "serving")
        (tmp / "ca.crt").write_bytes(ca.cert_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(crt, key)
        ctx.load_verify_locations(cafile=str(tmp / "ca.crt"))
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
        self.httpd = http.server.ThreadingHTTPServer((host, 0), _Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def ca() -> pki.KeyCert:
    return pki.new_ca("test-ca")


@pytest.fixture(scope="module")
def server(ca: pki.KeyCert, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServer]:
    s = TLSServer(ca, tmp_path_factory.mktemp("srv"), require_client_cert=False)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def mtls_server(ca: pki.KeyCert,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServer]:
    s = TLSServer(ca, tmp_path_factory.mktemp("msrv"), require_client_cert=True)
    yield s
    s.stop()


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_kubeconfig_with_embedded_ca_and_client_cert(ca: pki.KeyCert, mtls_server: TLSServer,
                                                      tmp_path: Path) -> None:
    alice = pki.issue(ca, "alice", organizations=["devs"], client=True)
    kc = _write(tmp_path / "kc", pki.kubeconfig(mtls_server.url(), ca.cert_pem, "alice",
                                                client=alice))
    cfg = kubeconfig_config(kc)
    assert cfg.server == mtls_server.url() and cfg.is_tls
    with Client(config=cfg, retry=NO_RETRY) as c:
        assert c.request("GET", "/version") == {"cn": "alice", "auth": "", "path": "/version"}

    async def go() -> Any:
        async with AsyncClient(config=cfg, retry=NO_RETRY) as ac:
            return await ac.request("GET", "/api")

    assert asyncio.run(go())["cn"] == "alice"


def test_kubeconfig_files_relative_to_the_kubeconfig(ca: pki.KeyCert, mtls_server: TLSServer,
                                                     tmp_path: Path) -> None:
    """certificate-authority, client-certificate and client-key name files; relative names
    are relative to the kubeconfig's directory (clientcmd's ResolvePaths), as a kubeadm
    layout (pki/ beside admin.conf) needs."""
    pki_dir = tmp_path / "pki"
    pki_dir.mkdir()
    (pki_dir / "ca.crt").write_bytes(ca.cert_pem)
    pki.issue(ca, "bob", client=True).write(pki_dir, "bob")
    kc = _write(tmp_path / "bob.conf", {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": mtls_server.url("localhost"),
                                               "certificate-authority": "pki/ca.crt"}}],
        "users": [{"name": "bob", "user": {"client-certificate": "pki/bob.crt",
                                           "client-key": "pki/bob.key"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "bob",
                                               "namespace": "team"}}]})
    cfg = kubeconfig_config(kc)
    assert cfg.ca_file == str(pki_dir / "ca.crt") and cfg.namespace == "team"
    with Client(config=cfg, retry=NO_RETRY) as c:
        assert c.request("GET", "/x")["cn"] == "bob"


def test_unknown_ca_is_refused_and_insecure_skips_the_check(ca: pki.KeyCert, server: TLSServer,
                                                            tmp_path: Path) -> None:
    other = pki.new_ca("someone-else")
    kc = _write(tmp_path / "kc", pki.kubeconfig(server.url(), other.cert_pem, "x", token="t"))
    with Client(config=kubeconfig_config(kc), retry=NO_RETRY) as c, \
            pytest.raises(ServerUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        c.request("GET", "/version")
    data = yaml.safe_load(kc.read_text())
    cluster = data["clusters"][0]["cluster"]
    del cluster["certificate-authority-data"]
    cluster["insecure-skip-tls-verify"] = True
    _write(kc, data)
    with Client(config=kubeconfig_config(kc), retry=NO_RETRY) as c:
        assert c.request("GET", "/version") == {"cn": "", "auth": "Bearer t", "path": "/version"}


def test_server_name_is_checked(ca: pki.KeyCert, tmp_path: Path) -> None:
    """The serving certificate names localhost and 127.0.0.1, not 127.0.0.2 (where this
    server listens)."""
    server = TLSServer(ca, tmp_path, require_client_cert=False, host="127.0.0.2")
    try:
        kc = _write(tmp_path / "kc", pki.kubeconfig(server.url("127.0.0.2"), ca.cert_pem,
                                                    "x", token="t"))
        with Client(config=kubeconfig_config(kc), retry=NO_RETRY) as c, \
                pytest.raises(ServerUnavailable, match="IP address mismatch"):
            c.request("GET", "/version")
    finally:
        server.stop()


def test_token_file_is_reread_when_it_rotates(ca: pki.KeyCert, server: TLSServer,
                                              tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TokenFile, "CHECK_SECONDS", 0.0)
    tok = tmp_path / "token"
    tok.write_text("first\n")
    data = pki.kubeconfig(server.url(), ca.cert_pem, "sa")
    data["users"][0]["user"] = {"tokenFile": "token"}
    cfg = kubeconfig_config(_write(tmp_path / "kc", data))
    with Client(config=cfg, retry=NO_RETRY) as c:
        assert c.request("GET", "/a")["auth"] == "Bearer first"
        replacement = tmp_path / "token.new"
        replacement.write_text("second")
        replacement.rename(tok)  # as the kubelet swaps a projected volume's files
        assert c.request("GET", "/b")["auth"] == "Bearer second"


def test_token_file_checked_at_most_once_a_second(tmp_path: Path) -> None:
    tok = tmp_path / "token"
    tok.write_text("one")
    src = TokenFile(tok)
    assert src.get() == "one"
    tok.write_text("two")
    assert src.get() == "one"  # within the second: the cached token, no stat
    deadline = time.monotonic() + 5
    while src.get() != "two" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert src.get() == "two"


def test_in_cluster_config(ca: pki.KeyCert, server: TLSServer, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("pod-token")
    (sa / "ca.crt").write_bytes(ca.cert_pem)
    (sa / "namespace").write_text("team-a")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert in_cluster_config(sa) is None
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
    cfg = in_cluster_config(sa)
    assert cfg is not None
    assert (cfg.server, cfg.namespace, cfg.token_file) == (
        server.url(), "team-a", str(sa / "token"))
    with Client(config=cfg, retry=NO_RETRY) as c:
        assert c.request("GET", "/api")["auth"] == "Bearer pod-token"
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    v6 = in_cluster_config(sa)
    assert v6 is not None and v6.server == f"https://[fd00::1]:{server.port}"


def test_service_config_order(ca: pki.KeyCert, server: TLSServer, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """--kubeconfig (its server replaced by --server), else --server, never ~/.kube/config."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MINIK8S_SERVER", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("MINIK8S_CONFIG", str(tmp_path / "absent"))
    (tmp_path / ".kube").mkdir()
    _write(tmp_path / ".kube" / "config",
           pki.kubeconfig("https://10.0.0.1:6443", ca.cert_pem, "u", token="home"))
    assert service_config().server == "http://127.0.0.1:8080"
    kc = _write(tmp_path / "svc.conf", pki.kubeconfig(server.url(), ca.cert_pem, "svc",
                                                      token="svc-token"))
    assert service_config(None, str(kc)).token == "svc-token"
    assert service_config("https://apiserver:6443", str(kc)).server == "https://apiserver:6443"
    assert service_config("http://x:1").server == "http://x:1"


def test_service_flags_fail_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"^minik8s-scheduler: stat .*nope: no such file"):
        config_from_flags(None, str(tmp_path / "nope"), "minik8s-scheduler")
    bad = _write(tmp_path / "bad.conf", {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1",
                                               "certificate-authority": "missing.crt"}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]})
    with pytest.raises(SystemExit, match=r"unable to load root certificates from .*missing\.crt"):
        config_from_flags(None, str(bad), "minik8s-scheduler")


def test_cli_flags_override_the_kubeconfig(ca: pki.KeyCert, mtls_server: TLSServer,
                                           tmp_path: Path) -> None:
    """kubectl's --certificate-authority, --client-certificate, --client-key, --token,
    --insecure-skip-tls-verify over the context's entries."""
    kc = _write(tmp_path / "kc", {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": mtls_server.url()}}],
        "users": [{"name": "u", "user": {"token": "from-file"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]})
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    crt, key = pki.issue(ca, "carol", client=True).write(tmp_path, "carol")
    cli = resolve_cli(None, str(kc), None, {"ca_file": str(tmp_path / "ca.crt"),
                                            "cert_file": str(crt), "key_file": str(key),
                                            "token": "flag-token", "insecure": False})
    assert cli.token == "flag-token" and cli.client is not None
    with Client(config=cli.client, retry=NO_RETRY) as c:
        assert c.request("GET", "/") == {"cn": "carol", "auth": "Bearer flag-token",
                                         "path": "/"}
    with pytest.raises(KubeconfigError, match="root certificates file with the insecure flag"):
        resolve_cli(None, str(kc), None, {"ca_file": str(tmp_path / "ca.crt"),
                                          "insecure": True})
    with pytest.raises(TLSConfigError, match="client-key"):
        resolve_cli(None, str(kc), None, {"cert_file": str(crt)}).client.ssl_context()  # type: ignore[union-attr]
