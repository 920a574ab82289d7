"""A cluster's certificates and keys, as kubeadm's ``certs`` and ``kubeconfig`` phases make
them (cmd/kubeadm/app/phases/certs, app/util/pkiutil), with the ``cryptography`` package.

One CA signs everything: the API server's serving certificate (its SANs: the names and
addresses clients use), one client certificate per identity (CN = user name, O = groups:
the API server's x509 authenticator reads them so), the kubelets' serving certificates.
ECDSA P-256 keys (fast to make, as kubeadm's ``--encryption-algorithm=ECDSA-P256``); the
ServiceAccount token key pair is RSA (RS256, what Kubernetes' token signer uses).

Imports nothing of the project: the bring-up, the test harness and the services use it.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
CERT_DAYS = 365


@dataclass(frozen=True)
class KeyCert:
    key_pem: bytes
    cert_pem: bytes

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    def write(self, directory: Path | str, name: str) -> tuple[Path, Path]:
        """``<name>.crt`` and ``<name>.key`` (mode 0600) in ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        crt, key = d / f"{name}.crt", d / f"{name}.key"
        crt.write_bytes(self.cert_pem)
        _write_private(key, self.key_pem)
        return crt, key

    @classmethod
    def read(cls, directory: Path | str, name: str) -> KeyCert:
        d = Path(directory)
        return cls((d / f"{name}.key").read_bytes(), (d / f"{name}.crt").read_bytes())


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
             days: int, *, ca: bool) -> x509.CertificateBuilder:
    """What a CA and the certificates it issues have alike: a random serial, valid from five
    minutes ago for ``days``, the basic constraints and key usages (certificate signing
    only for a CA)."""
    now = _now()
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True,
                                         key_cert_sign=ca, content_commitment=False,
                                         data_encipherment=False, key_agreement=False,
                                         crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True))


def new_ca(common_name: str = "minik8s-ca", days: int = CA_DAYS) -> KeyCert:
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (_builder(name, name, key.public_key(), days, ca=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return KeyCert(_key_pem(key), cert.public_bytes(serialization.Encoding.PEM))


def issue(ca: KeyCert, common_name: str, *, organizations: Iterable[str] = (),
          dns_names: Iterable[str] = (), ip_addresses: Iterable[str] = (),
          server: bool = False, client: bool = False, days: int = CERT_DAYS) -> KeyCert:
    """A certificate signed by ``ca``: CN = ``common_name`` (the user name), one O per group,
    the SANs given, and the extended key usages asked for (serverAuth / clientAuth)."""
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    ca_cert = ca.cert
    key = _new_key()
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    b = (_builder(x509.Name(attrs), ca_cert.subject, key.public_key(), days, ca=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             ca_cert.public_key()), critical=False))  # type: ignore[arg-type]
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + \
        ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
    if usages:
        b = b.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ip_addresses]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = b.sign(ca_key, hashes.SHA256())
    return KeyCert(_key_pem(key), cert.public_bytes(serialization.Encoding.PEM))


def new_service_account_key() -> tuple[bytes, bytes]:
    """(private PEM, public PEM) of an RSA 2048 key pair: kubeadm's sa.key / sa.pub."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return _key_pem(key), pub


def subject(cert_der: bytes) -> tuple[str, tuple[str, ...]]:
    """(CN, Os) of a DER certificate: the user name and groups it names."""
    c = x509.load_der_x509_certificate(cert_der)
    cn = c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    os_ = c.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return (str(cn[0].value) if cn else ""), tuple(str(o.value) for o in os_)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(server: str, ca_pem: bytes, user: str, *, client: KeyCert | None = None,
               token: str | None = None, cluster: str = "minik8s",
               namespace: str | None = None) -> dict[str, Any]:
    """A kubeconfig (v1 Config) with everything embedded: the CA, and the client certificate
    and key or a token. Context ``<user>@<cluster>``, current."""
    u: dict[str, Any] = {}
    if client is not None:
        u["client-certificate-data"] = _b64(client.cert_pem)
        u["client-key-data"] = _b64(client.key_pem)
    if token is not None:
        u["token"] = token
    ctx_name = f"{user}@{cluster}"
    ctx: dict[str, Any] = {"cluster": cluster, "user": user}
    if namespace:
        ctx["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": cluster, "cluster": {
                "server": server, "certificate-authority-data": _b64(ca_pem)}}],
            "users": [{"name": user, "user": u}],
            "contexts": [{"name": ctx_name, "context": ctx}],
            "current-context": ctx_name}
