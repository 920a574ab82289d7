"""ServiceAccount tokens: the JWT claims Kubernetes writes (pkg/serviceaccount/claims.go and
legacy.go) and their RS256 signing (pkg/serviceaccount/jwt.go), shared by the API server
(TokenRequest, the authenticator) and the controller-manager (legacy token Secrets).

A bound token names its audiences, expires, and may be bound to a Pod, Secret or Node (the
authenticator refuses it once that object is gone); a legacy token (issuer
``kubernetes/serviceaccount``) lives as long as its Secret. The key id (``kid``) is the
unpadded base64url SHA-256 of the public key's DER form, as Kubernetes' keyIDFromPublicKey.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

LEGACY_ISSUER = "kubernetes/serviceaccount"
DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
PRIVATE_CLAIM = "kubernetes.io"
# The legacy token's claims (legacy.go).
LEGACY_NAMESPACE = "kubernetes.io/serviceaccount/namespace"
LEGACY_SECRET_NAME = "kubernetes.io/serviceaccount/secret.name"
LEGACY_SA_NAME = "kubernetes.io/serviceaccount/service-account.name"
LEGACY_SA_UID = "kubernetes.io/serviceaccount/service-account.uid"

# Secret type and annotations of a legacy token Secret (core/v1).
TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
SA_UID_ANNOTATION = "kubernetes.io/service-account.uid"
# The projected volume the ServiceAccount admission plugin adds to pods.
TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"


def username(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def key_id(public_key_pem: bytes) -> str:
    key = serialization.load_pem_public_key(public_key_pem)
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def public_from_private(private_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(private_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey), "ServiceAccount keys are RSA"
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def public_keys_from_pem(data: bytes) -> list[bytes]:
    """Every public key in a PEM file (public keys, certificates or RSA private keys, as
    --service-account-key-file accepts)."""
    from cryptography import x509

    out: list[bytes] = []
    for block in data.split(b"-----END ")[:-1]:
        start = block.find(b"-----BEGIN ")
        if start < 0:
            continue
        label = block[start + 11:block.find(b"-----", start + 11)]
        pem = block[start:] + b"-----END " + label + b"-----\n"
        if b"CERTIFICATE" in label:
            pub = x509.load_pem_x509_certificate(pem).public_key()
            out.append(pub.public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo))
        elif b"PRIVATE" in label:
            out.append(public_from_private(pem))
        elif b"PUBLIC" in label:
            out.append(serialization.load_pem_public_key(pem).public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return out


@dataclass(frozen=True)
class Ref:
    name: str
    uid: str


class Signer:
    """Signs claims with an RSA private key (RS256), ``kid`` in the header."""

    def __init__(self, private_pem: bytes, issuer: str) -> None:
        self.private_pem = private_pem
        self.issuer = issuer
        self.kid = key_id(public_from_private(private_pem))
        self._key = serialization.load_pem_private_key(private_pem, password=None)

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"iss": self.issuer, **claims}, self._key,  # type: ignore[arg-type]
                          algorithm="RS256", headers={"kid": self.kid})


def bound_claims(namespace: str, sa: Ref, audiences: Sequence[str], expiration_seconds: int,
                 *, pod: Ref | None = None, secret: Ref | None = None,
                 node: Ref | None = None, now: float | None = None,
                 warn_after: float | None = None) -> dict[str, Any]:
    """claims.go Claims: the public claims and the kubernetes.io private claim."""
    t = int(now if now is not None else time.time())
    k8s: dict[str, Any] = {"namespace": namespace,
                           "serviceaccount": {"name": sa.name, "uid": sa.uid}}
    if pod is not None:
        k8s["pod"] = {"name": pod.name, "uid": pod.uid}
    if secret is not None:
        k8s["secret"] = {"name": secret.name, "uid": secret.uid}
    if node is not None:
        k8s["node"] = {"name": node.name, "uid": node.uid}
    if warn_after is not None:
        k8s["warnafter"] = int(warn_after)
    return {"aud": list(audiences), "exp": t + int(expiration_seconds), "iat": t, "nbf": t,
            "jti": str(uuid.uuid4()), "sub": username(namespace, sa.name),
            PRIVATE_CLAIM: k8s}


def legacy_claims(namespace: str, sa: Ref, secret_name: str) -> dict[str, Any]:
    """legacy.go LegacyClaims (issued with the issuer ``kubernetes/serviceaccount``)."""
    return {"sub": username(namespace, sa.name), LEGACY_NAMESPACE: namespace,
            LEGACY_SECRET_NAME: secret_name, LEGACY_SA_NAME: sa.name, LEGACY_SA_UID: sa.uid}
