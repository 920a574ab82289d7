"""An API server as a secured cluster runs it, for tests of authentication, authorization
and admission: HTTPS with a serving certificate from a private CA, client certificates
verified against that CA, a static token file, and a plain-HTTP port on 127.0.0.1 for
setup as the superuser (``insecure_url``).

    with SecureApiServer(etcd.url, authorization_mode="RBAC") as s:
        alice = s.user("alice", groups=["dev"])          # a client certificate
        bob = s.tokens["bob"]                            # a static token (given at start)
        with s.client(alice) as c:                       # httpx over TLS as alice
            c.get("/api/v1/namespaces/default/pods")
        s.kubectl(alice)("get", "pods")                  # the real kubectl, kubeconfig

``Credentials`` hold the files of one identity (certificate and key, or a token) and its
kubeconfig. ServiceAccount token keys are made too (``sa_key``, ``sa_pub``); the flags that
pass them go in ``service_account_args``.
"""

from __future__ import annotations

import json
import shutil
import ssl
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

import pki
from client.config import kubeconfig_config
from client.rest import AsyncClient, Client
from testing import kubectl as kubectl_cli
from testing.support import (
    Process,
    free_port,
    harness_args,
    http_ok,
    wait_for,
)

ADMIN_GROUPS = ("system:masters",)
SERVER_DNS_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local")


@dataclass
class Credentials:
    """One identity: a client certificate (``cert``, ``key``) or a bearer ``token``, and a
    kubeconfig file that carries it and the CA."""

    name: str
    groups: tuple[str, ...] = ()
    cert: Path | None = None
    key: Path | None = None
    token: str | None = None
    kubeconfig: Path = field(default=Path())

    def httpx_args(self, ca: Path) -> dict[str, Any]:
        args: dict[str, Any] = {"verify": ssl_client_context(ca, self)}
        if self.token is not None:
            args["headers"] = {"Authorization": f"Bearer {self.token}"}
        return args


@dataclass(frozen=True)
class StaticToken:
    token: str
    user: str
    uid: str = ""
    groups: tuple[str, ...] = ()


def ssl_client_context(ca: Path, creds: Credentials | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    if creds is not None and creds.cert is not None and creds.key is not None:
        ctx.load_cert_chain(str(creds.cert), str(creds.key))
    return ctx


def write_token_file(path: Path, tokens: Iterable[StaticToken]) -> None:
    """Kubernetes' CSV format: token,user,uid,"group1,group2"."""
    lines = []
    for t in tokens:
        groups = ",".join(t.groups)
        lines.append(f'{t.token},{t.user},{t.uid},"{groups}"')
    path.write_text("\n".join(lines) + "\n")


class SecureApiServer(Process):
    """``python -m apiserver`` with TLS on a free port (``url``), client certificate and
    static token authentication, ``authorization_mode`` as given, plus plain HTTP on
    127.0.0.1 (``insecure_url``, the superuser) unless ``insecure_port`` is False.

    ``tokens`` (user name -> StaticToken) is written to the token file; ``admin`` has a
    client certificate in system:masters, ``admin_token`` a static token in it."""

    def __init__(self, etcd_url: str, *, authorization_mode: str = "AlwaysAllow",
                 anonymous_auth: bool = False, tokens: Sequence[StaticToken] = (),
                 extra_args: Sequence[str] = (), insecure_port: bool = True,
                 healthz_port: bool = False, bootstrap_tokens: bool = True,
                 directory: Path | None = None, bind_address: str = "127.0.0.1") -> None:
        self._own_dir = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix="minik8s-pki-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca = pki.new_ca()
        self.ca_file, _ = self.ca.write(self.dir, "ca")
        serving = pki.issue(self.ca, "kube-apiserver", dns_names=SERVER_DNS_NAMES,
                            ip_addresses=sorted({"127.0.0.1", bind_address}), server=True)
        self.serving_cert, self.serving_key = serving.write(self.dir, "apiserver")
        # ServiceAccount token signing keys (kubeadm's sa.key / sa.pub).
        sa_key, sa_pub = pki.new_service_account_key()
        self.sa_key = self.dir / "sa.key"
        self.sa_pub = self.dir / "sa.pub"
        self.sa_key.write_bytes(sa_key)
        self.sa_pub.write_bytes(sa_pub)
        self.secure_port = free_port()
        self.port = free_port() if insecure_port else 0
        self.healthz_port = free_port() if healthz_port else 0
        # HTTPS on ``bind_address`` (an address of this machine that another network
        # namespace reaches); plain HTTP and healthz stay on 127.0.0.1
        self.url = f"https://{bind_address}:{self.secure_port}"
        self.insecure_url = f"http://127.0.0.1:{self.port}" if self.port else ""
        self.healthz_url = f"http://127.0.0.1:{self.healthz_port}" if self.healthz_port else ""
        self.admin_token = StaticToken(_random_token(), "admin-token", "admin-token-uid",
                                       ADMIN_GROUPS)
        self.tokens: dict[str, Credentials] = {}
        self.token_file = self.dir / "tokens.csv"
        all_tokens = [self.admin_token, *tokens]
        write_token_file(self.token_file, all_tokens)
        for t in all_tokens:
            self.tokens[t.user] = self._token_credentials(t)
        self.admin = self.user("kubernetes-admin", groups=ADMIN_GROUPS)
        args = [
            sys.executable, "-m", "apiserver", "--etcd-servers", etcd_url,
            "--bind-address", bind_address, "--insecure-bind-address", "127.0.0.1",
            "--port", str(self.port),
            "--secure-port", str(self.secure_port),
            "--tls-cert-file", str(self.serving_cert),
            "--tls-private-key-file", str(self.serving_key),
            "--client-ca-file", str(self.ca_file),
            "--token-auth-file", str(self.token_file),
            "--authorization-mode", authorization_mode,
            "--anonymous-auth", "true" if anonymous_auth else "false",
            "--healthz-port", str(self.healthz_port),
            *(["--enable-bootstrap-token-auth"] if bootstrap_tokens else []),
            *self.service_account_args(),
            *harness_args(extra_args),
        ]
        super().__init__("apiserver-secure", args)

    def service_account_args(self) -> list[str]:
        """The ServiceAccount token flags: sa.pub verifies, sa.key signs TokenRequests."""
        return ["--service-account-key-file", str(self.sa_pub),
                "--service-account-signing-key-file", str(self.sa_key)]

    # Identities

    def user(self, name: str, groups: Iterable[str] = ()) -> Credentials:
        """A client certificate for ``name`` in ``groups`` (CN and Os), with a kubeconfig."""
        groups = tuple(groups)
        kc = pki.issue(self.ca, name, organizations=groups, client=True)
        fname = _file_name(name)
        cert, key = kc.write(self.dir / "users", fname)
        creds = Credentials(name, groups, cert=cert, key=key)
        creds.kubeconfig = self._write_kubeconfig(
            fname, pki.kubeconfig(self.url, self.ca.cert_pem, name, client=kc))
        return creds

    def token_user(self, token: str, name: str = "token-user") -> Credentials:
        """Credentials for any bearer token (a bootstrap or ServiceAccount token)."""
        creds = Credentials(name, token=token)
        creds.kubeconfig = self._write_kubeconfig(
            f"token-{_file_name(name)}-{abs(hash(token)) % 10**8}",
            pki.kubeconfig(self.url, self.ca.cert_pem, name, token=token))
        return creds

    def _token_credentials(self, t: StaticToken) -> Credentials:
        creds = Credentials(t.user, t.groups, token=t.token)
        creds.kubeconfig = self._write_kubeconfig(
            f"token-{_file_name(t.user)}",
            pki.kubeconfig(self.url, self.ca.cert_pem, t.user, token=t.token))
        return creds

    def _write_kubeconfig(self, name: str, config: dict[str, Any]) -> Path:
        d = self.dir / "kubeconfigs"
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{name}.kubeconfig"
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)
        return path

    # Clients

    def _httpx_args(self, creds: Credentials | None, kw: dict[str, Any]) -> dict[str, Any]:
        args: dict[str, Any] = creds.httpx_args(self.ca_file) if creds else {
            "verify": ssl_client_context(self.ca_file)}
        headers: dict[str, str] = {**args.pop("headers", {}), **kw.pop("headers", {})}
        return {"base_url": self.url, "timeout": 15, **args, "headers": headers, **kw}

    def client(self, creds: Credentials | None = None, **kw: Any) -> httpx.Client:
        """httpx on ``url`` as ``creds`` (None: no credentials at all); ``headers`` add to
        the credentials' own."""
        return httpx.Client(**self._httpx_args(creds, kw))

    def async_client(self, creds: Credentials | None = None, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(**self._httpx_args(creds, kw))

    def kubectl(self, creds: Credentials, home: Path | None = None) -> kubectl_cli.Kubectl:
        """The real kubectl with ``creds``' kubeconfig (server, CA and credentials)."""
        home = home or Path(tempfile.mkdtemp(prefix="kubectl-", dir=self.dir))
        k = kubectl_cli.Kubectl(self.url, home)
        shutil.copyfile(creds.kubeconfig, home / "config")
        k.argv = [str(kubectl_cli.KUBECTL), "--cache-dir", str(home / "cache")]
        return k

    def rest_client(self, creds: Credentials) -> Client:
        """The project's own REST client (client.rest) from ``creds``' kubeconfig."""
        return Client(config=kubeconfig_config(creds.kubeconfig))

    def rest_async_client(self, creds: Credentials) -> AsyncClient:
        return AsyncClient(config=kubeconfig_config(creds.kubeconfig))

    def official_client(self, creds: Credentials) -> Any:
        """The official ``kubernetes`` client's ApiClient as ``creds``."""
        from kubernetes import client as k8s

        conf = k8s.Configuration()
        conf.host = self.url
        conf.ssl_ca_cert = str(self.ca_file)
        if creds.cert is not None:
            conf.cert_file = str(creds.cert)
            conf.key_file = str(creds.key)
        if creds.token is not None:
            conf.api_key = {"authorization": f"Bearer {creds.token}"}
        return k8s.ApiClient(conf)

    # Life

    def ready(self) -> bool:
        if self.healthz_url:
            return http_ok(self.healthz_url + "/readyz")
        if self.insecure_url:
            return http_ok(self.insecure_url + "/readyz")
        try:
            with self.client(self.admin) as c:
                return c.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def start(self) -> SecureApiServer:
        super().start()
        wait_for(lambda: self.ready() or not self.alive(), timeout=30,
                 message=f"secure API server at {self.url}")
        if not self.alive():
            raise RuntimeError(f"API server exited:\n{self.log_tail()}")
        return self

    def stop(self, sig: int = 15, timeout: float = 10.0) -> None:
        super().stop(sig, timeout)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> SecureApiServer:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _random_token() -> str:
    import secrets

    return secrets.token_urlsafe(24)


def _file_name(user: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in user)
