"""Certificate signing requests: what a kubelet sends (a key and a PKCS#10 request for CN
``system:node:<name>``, O ``system:nodes``), what a signer issues for it (Kubernetes'
pkg/controller/certificates/authority: the request's subject, SANs and public key, the
usages asked for, a lifetime capped by the CA's), and kubeadm's CA pin (sha256 of the CA's
SubjectPublicKeyInfo, ``--discovery-token-ca-cert-hash``)."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pki import KeyCert

# certificates.k8s.io/v1 usages -> x509 key usages / extended key usages
_KEY_USAGE = {"digital signature": "digital_signature", "signing": "digital_signature",
              "key encipherment": "key_encipherment", "content commitment":
              "content_commitment", "key agreement": "key_agreement",
              "data encipherment": "data_encipherment", "cert sign": "key_cert_sign",
              "crl sign": "crl_sign", "encipher only": "encipher_only",
              "decipher only": "decipher_only"}
_EXT_USAGE = {"server auth": ExtendedKeyUsageOID.SERVER_AUTH,
              "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
              "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
              "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
              "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
              "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
              "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
# authority.go: certificates are valid from a little before they are issued (clock skew);
# short-lived ones (under 8 h) are backdated by at most a tenth of their lifetime, so that
# a rotation at 70-90 % of it still comes after the issue.
BACKDATE = datetime.timedelta(minutes=5)
SHORT = datetime.timedelta(hours=8)


def new_key_pem() -> bytes:
    """An ECDSA P-256 private key (PKCS#8 PEM), what the kubelet makes for its CSR."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def new_request(key_pem: bytes, common_name: str, organizations: Iterable[str] = (),
                dns_names: Iterable[str] = (), ip_addresses: Iterable[str] = ()) -> bytes:
    """A PEM CERTIFICATE REQUEST signed by ``key_pem``."""
    import ipaddress

    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ip_addresses]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def sign_request(ca: KeyCert, request: x509.CertificateSigningRequest, usages: Iterable[str],
                 duration: datetime.timedelta,
                 now: datetime.datetime | None = None) -> bytes:
    """The PEM certificate ``ca`` issues for ``request``: its subject, SANs and key, the
    ``usages``, valid for ``duration`` (never past the CA's own notAfter)."""
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    ca_cert = ca.cert
    now = now or datetime.datetime.now(datetime.UTC)
    backdate = BACKDATE if duration >= SHORT else min(BACKDATE, duration / 10)
    not_after = min(now + duration, ca_cert.not_valid_after_utc)
    ku = {v: False for v in set(_KEY_USAGE.values())}
    ext: list[x509.ObjectIdentifier] = []
    for u in usages:
        if u in _KEY_USAGE:
            ku[_KEY_USAGE[u]] = True
        elif u in _EXT_USAGE and _EXT_USAGE[u] not in ext:
            ext.append(_EXT_USAGE[u])
    b = (x509.CertificateBuilder().subject_name(request.subject).issuer_name(ca_cert.subject)
         .public_key(request.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - backdate).not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             ca_cert.public_key()), critical=False))  # type: ignore[arg-type]
    if any(ku.values()):
        b = b.add_extension(x509.KeyUsage(**ku), critical=True)
    if ext:
        b = b.add_extension(x509.ExtendedKeyUsage(ext), critical=False)
    try:
        sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        b = b.add_extension(sans, critical=False)
    except x509.ExtensionNotFound:
        pass
    return b.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def ca_cert_hash(cert_pem: bytes) -> str:
    """kubeadm's pin of a CA: ``sha256:`` + hex sha256 of its SubjectPublicKeyInfo (DER)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def lifetime(cert_pem: bytes) -> tuple[datetime.datetime, datetime.datetime]:
    """(notBefore, notAfter) of the first certificate of ``cert_pem``, in UTC."""
    c = x509.load_pem_x509_certificate(cert_pem)
    return c.not_valid_before_utc, c.not_valid_after_utc
