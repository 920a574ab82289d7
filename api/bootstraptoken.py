"""Bootstrap tokens (k8s.io/cluster-bootstrap): the kube-system Secrets
``bootstrap-token-<id>`` of type ``bootstrap.kubernetes.io/token``, their data keys, and the
detached JWS (HS256, key = the token secret) with which the bootstrap signer signs the
kube-public/cluster-info ConfigMap's kubeconfig for each signing token, so that a node
holding a token can trust what it read anonymously."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_PREFIX = "bootstrap-token-"
NAMESPACE = "kube-system"
TOKEN_ID = "token-id"
TOKEN_SECRET = "token-secret"
EXPIRATION = "expiration"
DESCRIPTION = "description"
EXTRA_GROUPS = "auth-extra-groups"
USAGE_PREFIX = "usage-bootstrap-"
USAGES = ("signing", "authentication")
DEFAULT_GROUP = "system:bootstrappers:kubeadm:default-node-token"
GROUP_RE = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")
TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
ID_RE = re.compile(r"^[a-z0-9]{6}$")
# kube-public/cluster-info (bootstrapapi)
CLUSTER_INFO_NAMESPACE = "kube-public"
CLUSTER_INFO = "cluster-info"
KUBECONFIG_KEY = "kubeconfig"
JWS_PREFIX = "jws-kubeconfig-"

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def generate() -> str:
    """A new token ``<6>.<16>`` of [a-z0-9] (bootstraputil.GenerateBootstrapToken)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(6)) + "." + \
        "".join(secrets.choice(_ALPHABET) for _ in range(16))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def detached_jws(content: str, token_id: str, token_secret: str) -> str:
    """jws.ComputeDetachedSignature: the compact HS256 JWS of ``content`` with header
    {"alg":"HS256","kid":token_id}, its payload left out (``header..signature``)."""
    header = _b64url(('{"alg":"HS256","kid":"' + token_id + '"}').encode())
    signing_input = f"{header}.{_b64url(content.encode())}".encode()
    sig = hmac.new(token_secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}..{_b64url(sig)}"


def verify_detached_jws(content: str, signature: str, token_id: str, token_secret: str) -> bool:
    return hmac.compare_digest(detached_jws(content, token_id, token_secret), signature)
