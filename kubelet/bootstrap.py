"""The kubelet's TLS bootstrap and client certificate rotation (pkg/kubelet/certificate/
bootstrap and k8s.io/client-go/util/certificate's manager).

``--bootstrap-kubeconfig``: when ``--kubeconfig`` is missing, unreadable, or its client
certificate has expired, the kubelet makes a private key and a CSR for
``CN=system:node:<name>, O=system:nodes`` (signer
kubernetes.io/kube-apiserver-client-kubelet, usages digital signature + client auth) with the
bootstrap credentials (a bootstrap token), waits for it to be issued (a denied request is
logged and replaced by a new one after a back-off: the kubelet keeps waiting), writes
certificate and key to ``<cert-dir>/kubelet-client-<time>.pem`` with
``kubelet-client-current.pem`` pointing at it, and writes ``--kubeconfig`` naming that file.

``--rotate-certificates``: at a random point between 70 % and 90 % of the certificate's
lifetime a new key and CSR are made with the current certificate as credentials (auto-
approved as selfnodeclient), and the new certificate is loaded into the client's TLS context
in place: new connections present it, no restart.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import json
import logging
import os
import random
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pki.csr
from api.models import ObjectMeta
from api.models.certificates import (
    KUBE_APISERVER_CLIENT_KUBELET,
    KUBELET_SERVING,
    CertificateSigningRequest,
    CertificateSigningRequestSpec,
)
from client import AsyncClient
from client.config import ClientConfig, KubeconfigError, kubeconfig_config
from client.errors import ApiError, NotFound, Unauthorized

log = logging.getLogger("kubelet.bootstrap")

CURRENT = "kubelet-client-current.pem"
USAGES = ["digital signature", "client auth"]
NODE_GROUP = "system:nodes"


class _Deleted(Exception):
    """The CSR being waited for was deleted."""


class BootstrapError(Exception):
    """The bootstrap cannot go on (bad bootstrap kubeconfig, credentials refused)."""


@dataclass
class Settings:
    node_name: str
    kubeconfig: Path
    bootstrap_kubeconfig: Path | None
    cert_dir: Path
    # the back-off before a new CSR replaces a denied one, doubling up to denied_max
    denied_retry: float = 5.0
    denied_max: float = 60.0


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _client_cert_pem(path: Path) -> bytes | None:
    """The client certificate a kubeconfig names (file or data), None if it has none."""
    try:
        cfg = kubeconfig_config(path)
    except (KubeconfigError, OSError, ValueError):
        return None
    if cfg.cert_data:
        return cfg.cert_data
    if cfg.cert_file:
        with contextlib.suppress(OSError):
            return Path(cfg.cert_file).read_bytes()
    return None


def kubeconfig_valid(path: Path) -> bool:
    """The kubeconfig exists and its client certificate has not expired."""
    if not path.exists():
        return False
    pem = _client_cert_pem(path)
    if pem is None:
        # a kubeconfig with other credentials (a token): used as it is
        try:
            kubeconfig_config(path)
        except (KubeconfigError, OSError, ValueError):
            return False
        return True
    try:
        _, not_after = pki.csr.lifetime(pem)
    except ValueError:
        return False
    return not_after > _now()


@dataclass(frozen=True)
class Kind:
    """Which certificate: the client one (auto-approved) or the serving one (its SANs; an
    administrator approves it: kubernetes.io/kubelet-serving is never auto-approved)."""

    signer: str = KUBE_APISERVER_CLIENT_KUBELET
    usages: tuple[str, ...] = tuple(USAGES)
    prefix: str = "kubelet-client"
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()


CLIENT = Kind()


def serving(dns_names: tuple[str, ...], ip_addresses: tuple[str, ...]) -> Kind:
    return Kind(KUBELET_SERVING, ("digital signature", "server auth"), "kubelet-server",
                dns_names, ip_addresses)


def _csr(node_name: str, key_pem: bytes, kind: Kind = CLIENT) -> CertificateSigningRequest:
    req = pki.csr.new_request(key_pem, f"system:node:{node_name}", [NODE_GROUP],
                              kind.dns_names, kind.ip_addresses)
    return CertificateSigningRequest(
        metadata=ObjectMeta(generate_name="csr-"),
        spec=CertificateSigningRequestSpec(
            request=base64.b64encode(req).decode(), signer_name=kind.signer,
            usages=list(kind.usages)))


async def _wait_issued(client: AsyncClient, name: str) -> CertificateSigningRequest:
    """The CSR once it has a certificate or is denied/failed (watch by name)."""
    while True:
        csr = await client.get(CertificateSigningRequest, name)
        if (csr.status and csr.status.certificate) or csr.is_denied() or \
                csr.condition("Failed") is not None:
            return csr
        rv = csr.metadata.resource_version
        with contextlib.suppress(ApiError, asyncio.TimeoutError):
            async with asyncio.timeout(30):
                async for ev in client.watch(CertificateSigningRequest,
                                             field_selector=f"metadata.name={name}",
                                             resource_version=rv, timeout_seconds=25):
                    o = ev.object
                    if ev.type == "DELETED":
                        raise _Deleted(name)
                    if ev.type in ("ADDED", "MODIFIED") and (
                            (o.status and o.status.certificate) or o.is_denied()
                            or o.condition("Failed") is not None):
                        return o


async def request_certificate(client: AsyncClient, settings: Settings,
                              key_pem: bytes, kind: Kind = CLIENT) -> bytes:
    """Create CSRs until one is issued; the PEM certificate."""
    delay = settings.denied_retry
    what = "client" if kind.signer == KUBE_APISERVER_CLIENT_KUBELET else "serving"
    while True:
        csr = await client.create(_csr(settings.node_name, key_pem, kind))
        name = csr.metadata.name or ""
        log.info("requested a %s certificate: certificatesigningrequest %s; waiting for "
                 "its approval and signing", what, name)
        try:
            done = await _wait_issued(client, name)
        except (NotFound, _Deleted):
            log.warning("certificatesigningrequest %s was deleted; requesting again", name)
            continue
        cert = done.certificate_pem()
        if cert:
            return cert
        bad = done.condition("Denied") or done.condition("Failed")
        log.warning("certificatesigningrequest %s is %s (reason: %s, message: %s); the kubelet "
                    "keeps waiting and asks again in %.0fs", name,
                    "denied" if done.is_denied() else "failed",
                    bad.reason if bad else "", bad.message if bad else "", delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, settings.denied_max)


def store(cert_dir: Path, cert_pem: bytes, key_pem: bytes,
          prefix: str = "kubelet-client") -> Path:
    """<prefix>-<time>.pem (certificate + key, 0600) and the <prefix>-current.pem link to
    it, replaced atomically; the link's path."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    stamp = _now().strftime("%Y-%m-%d-%H-%M-%S-%f")
    path = cert_dir / f"{prefix}-{stamp}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(cert_pem + key_pem)
    current = f"{prefix}-current.pem"
    link = cert_dir / current
    tmp = cert_dir / f".{current}.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(path.name)
    os.replace(tmp, link)
    return link


def write_kubeconfig(path: Path, server: str, ca_pem: bytes | None, cert_path: Path,
                     insecure: bool = False) -> None:
    cluster: dict[str, Any] = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    kc = {"apiVersion": "v1", "kind": "Config", "preferences": {},
          "clusters": [{"name": "default-cluster", "cluster": cluster}],
          "users": [{"name": "default-auth", "user": {
              "client-certificate": str(cert_path.resolve().parent / cert_path.name),
              "client-key": str(cert_path.resolve().parent / cert_path.name)}}],
          "contexts": [{"name": "default-context", "context": {
              "cluster": "default-cluster", "user": "default-auth"}}],
          "current-context": "default-context"}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(kc, f, indent=2)
    os.replace(tmp, path)


def _ca_pem(cfg: ClientConfig) -> bytes | None:
    if cfg.ca_data:
        return cfg.ca_data
    if cfg.ca_file:
        return Path(cfg.ca_file).read_bytes()
    return None


async def bootstrap(settings: Settings) -> None:
    """LoadClientCert: make ``settings.kubeconfig`` usable, through the bootstrap kubeconfig
    when it is not. BootstrapError when that cannot work."""
    if kubeconfig_valid(settings.kubeconfig):
        log.info("kubeconfig %s is valid; no bootstrap", settings.kubeconfig)
        return
    if settings.bootstrap_kubeconfig is None:
        raise BootstrapError(f"{settings.kubeconfig} is missing or its certificate expired, "
                             "and no --bootstrap-kubeconfig is given")
    try:
        boot = kubeconfig_config(settings.bootstrap_kubeconfig)
    except (KubeconfigError, OSError, ValueError) as e:
        raise BootstrapError(f"unable to load bootstrap kubeconfig: {e}") from None
    log.info("using bootstrap kubeconfig %s to request a client certificate for node %s",
             settings.bootstrap_kubeconfig, settings.node_name)
    key_pem = pki.csr.new_key_pem()
    async with AsyncClient(config=boot) as client:
        try:
            cert = await request_certificate(client, settings, key_pem)
        except Unauthorized as e:
            raise BootstrapError(f"the bootstrap credentials were refused: {e}") from None
        except ApiError as e:
            raise BootstrapError(f"unable to request a client certificate: {e}") from None
    link = store(settings.cert_dir, cert, key_pem)
    write_kubeconfig(settings.kubeconfig, boot.server, _ca_pem(boot), link, boot.insecure)
    _, not_after = pki.csr.lifetime(cert)
    log.info("client certificate issued (expires %s); wrote %s", not_after.isoformat(),
             settings.kubeconfig)


def rotation_deadline(cert_pem: bytes, rng: random.Random | None = None) -> datetime.datetime:
    """nextRotationDeadline: notBefore + a random 70-90 % of the lifetime."""
    nb, na = pki.csr.lifetime(cert_pem)
    frac = (rng or random).uniform(0.7, 0.9)
    return nb + (na - nb) * frac


class Rotator:
    """--rotate-certificates: renews the client certificate in ``cert_dir`` before it expires
    and loads it into ``config``'s TLS context (shared by every client of the kubelet)."""

    def __init__(self, config: ClientConfig, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.rotations = 0

    def _current(self) -> Path:
        return self.settings.cert_dir / CURRENT

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                pem = self._current().read_bytes()
            except OSError as e:
                log.warning("certificate rotation off: %s", e)
                return
            deadline = rotation_deadline(pem)
            wait = (deadline - _now()).total_seconds()
            log.info("certificate rotation deadline is %s", deadline.isoformat())
            if wait > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                if stop.is_set():
                    return
            try:
                await self.rotate()
            except (ApiError, OSError, ValueError, KubeconfigError) as e:
                log.warning("certificate rotation failed: %s; retrying in 5s", e)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 5.0)

    def _credentials(self) -> ClientConfig:
        """The current certificate while it is valid; once it has expired (the kubelet was
        stopped past it, or renewals kept failing), the bootstrap credentials if any."""
        boot = self.settings.bootstrap_kubeconfig
        try:
            _, not_after = pki.csr.lifetime(self._current().read_bytes())
            expired = not_after <= _now()
        except (OSError, ValueError):
            expired = True
        if expired and boot is not None:
            log.warning("the client certificate has expired; renewing with the bootstrap "
                        "kubeconfig %s", boot)
            return kubeconfig_config(boot)
        return self.config

    async def rotate(self) -> None:
        key_pem = pki.csr.new_key_pem()
        async with AsyncClient(config=self._credentials()) as client:
            cert = await request_certificate(client, self.settings, key_pem)
        link = store(self.settings.cert_dir, cert, key_pem)
        ctx = self.config.ssl_context()
        if ctx is not None:
            ctx.load_cert_chain(str(link))
        self.rotations += 1
        _, na = pki.csr.lifetime(cert)
        log.info("rotated the client certificate (now expires %s)", na.isoformat())


class ServingRotator:
    """--rotate-server-certificates: the kubelet's serving certificate comes from a
    kubernetes.io/kubelet-serving CSR (CN system:node:<name>, its host name and addresses as
    SANs), approved by an administrator; until then HTTPS handshakes fail. It is loaded into
    ``ctx`` (the kubelet API's TLS context) and renewed at 70-90 % of its lifetime."""

    def __init__(self, config: ClientConfig, settings: Settings, ctx: ssl.SSLContext,
                 dns_names: tuple[str, ...], ip_addresses: tuple[str, ...]) -> None:
        self.config = config
        self.settings = settings
        self.ctx = ctx
        self.kind = serving(dns_names, ip_addresses)
        self.current = settings.cert_dir / f"{self.kind.prefix}-current.pem"

    def _load_current(self) -> bytes | None:
        try:
            pem = self.current.read_bytes()
            _, not_after = pki.csr.lifetime(pem)
        except (OSError, ValueError):
            return None
        if not_after <= _now():
            return None
        self.ctx.load_cert_chain(str(self.current))
        return pem

    async def run(self, stop: asyncio.Event) -> None:
        pem = self._load_current()
        while not stop.is_set():
            if pem is not None:
                wait = (rotation_deadline(pem) - _now()).total_seconds()
                if wait > 0:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop.wait(), wait)
                    if stop.is_set():
                        return
            try:
                key_pem = pki.csr.new_key_pem()
                async with AsyncClient(config=self.config) as client:
                    cert = await request_certificate(client, self.settings, key_pem,
                                                     self.kind)
                link = store(self.settings.cert_dir, cert, key_pem, self.kind.prefix)
                self.ctx.load_cert_chain(str(link))
                pem = cert
                log.info("serving certificate loaded (expires %s)",
                         pki.csr.lifetime(cert)[1].isoformat())
            except (ApiError, OSError, ValueError) as e:
                log.warning("serving certificate request failed: %s; retrying in 5s", e)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 5.0)
