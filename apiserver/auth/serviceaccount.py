"""ServiceAccount tokens in the API server: the token generator TokenRequest uses and the
token authenticator (pkg/serviceaccount/jwt.go, claims.go, legacy.go).

Flags as kube-apiserver's: --service-account-signing-key-file (the private key tokens are
signed with), --service-account-key-file (public keys tokens are verified with; the
signing key's public half is always one), --service-account-issuer (the first issues;
all are accepted), --api-audiences (default: the issuer), --service-account-max-token-
expiration.

The authenticator answers None for anything that is not a JWT of an accepted issuer (the
next authenticator is asked), and raises Unauthorized for one that is but is not valid:
bad signature, wrong audience, expired, or naming a ServiceAccount, Pod, Secret or Node
that no longer exists with that uid. The signature check is cached per token (a dict
lookup for a token already seen); the existence checks read the watch caches on every
request, so a token bound to a deleted pod is refused at once.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from api import resources
from api import serviceaccount as sat
from api.resources import ResourceInfo
from apiserver.auth.authenticator import Unauthorized
from apiserver.auth.user import UserInfo, service_account_groups
from apiserver.storage import StorageError
from apiserver.watchcache import WatchCache

log = logging.getLogger("apiserver.auth.serviceaccount")

POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name"
POD_UID_EXTRA = "authentication.kubernetes.io/pod-uid"
NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name"
NODE_UID_EXTRA = "authentication.kubernetes.io/node-uid"
CREDENTIAL_ID_EXTRA = "authentication.kubernetes.io/credential-id"

_CACHE_MAX = 20_000


@dataclass
class TokenConfig:
    """What the flags configure; ``signer`` is None when no signing key was given (then
    TokenRequest is not served, as in Kubernetes)."""

    issuers: list[str] = field(default_factory=lambda: [sat.DEFAULT_ISSUER])
    audiences: list[str] = field(default_factory=list)
    public_keys: list[bytes] = field(default_factory=list)
    signer: sat.Signer | None = None
    max_expiration: int = 0  # seconds; 0: no maximum
    min_expiration: int = 600  # Kubernetes' 10 minutes (lowered only by a test-only flag)
    leeway: int = 60  # seconds an expired token is still accepted (go-jose's DefaultLeeway)

    @property
    def api_audiences(self) -> list[str]:
        return self.audiences or self.issuers[:1]


def load_config(signing_key_file: str | None, key_files: Sequence[str], issuers: Sequence[str],
                audiences: Sequence[str], max_expiration: int = 0,
                min_expiration: int = 600, leeway: int = 60) -> TokenConfig:
    cfg = TokenConfig(issuers=list(issuers) or [sat.DEFAULT_ISSUER], audiences=list(audiences),
                      max_expiration=max_expiration, min_expiration=min_expiration,
                      leeway=leeway)
    if signing_key_file:
        with open(signing_key_file, "rb") as f:
            private = f.read()
        cfg.signer = sat.Signer(private, cfg.issuers[0])
        cfg.public_keys.append(sat.public_from_private(private))
    for path in key_files:
        with open(path, "rb") as f:
            for k in sat.public_keys_from_pem(f.read()):
                if k not in cfg.public_keys:
                    cfg.public_keys.append(k)
    return cfg


@dataclass(frozen=True)
class _Verified:
    """What a verified token says, kept while it may still be valid."""

    legacy: bool
    namespace: str
    sa: sat.Ref
    exp: float  # 0 for legacy tokens
    pod: sat.Ref | None = None
    secret: sat.Ref | None = None
    node: sat.Ref | None = None
    jti: str = ""


def _b64decode(value: str) -> bytes:
    try:
        return base64.b64decode(value)
    except ValueError:
        return b""


def _ref(v: Any) -> sat.Ref | None:
    if not isinstance(v, Mapping):
        return None
    return sat.Ref(str(v.get("name") or ""), str(v.get("uid") or ""))


class ServiceAccountAuthenticator:
    def __init__(self, config: TokenConfig, caches: Mapping[str, WatchCache]) -> None:
        self.config = config
        self.caches = caches
        self._issuers = frozenset([*config.issuers, sat.LEGACY_ISSUER])
        self._keys: list[Any] = [serialization.load_pem_public_key(k)
                                 for k in config.public_keys]
        self._cache: dict[str, _Verified] = {}

    async def __call__(self, token: str) -> UserInfo | None:
        v = self._cache.get(token)
        if v is None:
            v = self._verify(token)
            if v is None:
                return None
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[token] = v
        if v.exp and time.time() > v.exp + self.config.leeway:
            self._cache.pop(token, None)
            raise Unauthorized("service account token has expired")
        try:
            return self._validate(v, token)
        except Unauthorized:
            # What the token names may have been written through another API server a
            # moment ago: once the caches have caught up with etcd, look again (as
            # Kubernetes' token getters fall back to a live read when a lister misses).
            if not await self._catch_up():
                raise
            return self._validate(v, token)

    async def _catch_up(self) -> bool:
        """Wait (1 s at most) until the caches the checks read reflect every write
        acknowledged before now, by any API server; False if they could not."""
        caches = [c for c in (self.caches.get(i.plural) for i in (
            resources.SERVICEACCOUNTS, resources.SECRETS, resources.PODS, resources.NODES))
            if c is not None]
        if not caches:
            return False
        try:
            rev = await caches[0].storage.current_revision()
        except StorageError:
            return False
        waits = await asyncio.gather(*(c.wait_for_revision(rev, 1.0) for c in caches))
        return all(waits)

    # ---- the signature and the claims (once per token) ----------------------------------

    def _verify(self, token: str) -> _Verified | None:
        if token.count(".") != 2:
            return None
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        iss = unverified.get("iss")
        if iss not in self._issuers:
            return None
        claims: dict[str, Any] | None = None
        for key in self._keys:
            try:
                claims = jwt.decode(token, key, algorithms=["RS256"],
                                    options={"verify_aud": False, "verify_exp": False,
                                             "verify_nbf": False, "verify_iat": False})
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as e:
                raise Unauthorized(f"invalid token: {e}") from e
        if claims is None:
            raise Unauthorized("token signature is invalid")
        if iss == sat.LEGACY_ISSUER:
            ns = claims.get(sat.LEGACY_NAMESPACE)
            name = claims.get(sat.LEGACY_SA_NAME)
            if not isinstance(ns, str) or not isinstance(name, str) or not ns or not name:
                raise Unauthorized("invalid legacy token")
            return _Verified(True, ns, sat.Ref(name, str(claims.get(sat.LEGACY_SA_UID) or "")),
                             0, secret=sat.Ref(str(claims.get(sat.LEGACY_SECRET_NAME) or ""),
                                               ""))
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else list(aud or [])
        if not set(auds) & set(self.config.api_audiences):
            raise Unauthorized(f"token audiences {auds} is invalid for the target audiences "
                               f"{self.config.api_audiences}")
        k8s = claims.get(sat.PRIVATE_CLAIM)
        if not isinstance(k8s, Mapping):
            raise Unauthorized("token lacks the kubernetes.io claim")
        sa = _ref(k8s.get("serviceaccount"))
        ns = k8s.get("namespace")
        if sa is None or not isinstance(ns, str) or not ns or not sa.name:
            raise Unauthorized("token names no service account")
        exp = claims.get("exp")
        if not isinstance(exp, int | float):
            raise Unauthorized("token has no expiry")
        return _Verified(False, ns, sa, float(exp), pod=_ref(k8s.get("pod")),
                         secret=_ref(k8s.get("secret")), node=_ref(k8s.get("node")),
                         jti=str(claims.get("jti") or ""))

    # ---- what must still exist (every request) ------------------------------------------

    def _get(self, info: ResourceInfo, namespace: str | None, name: str) -> dict[str, Any] | None:
        cache = self.caches.get(info.plural)
        if cache is None:
            return None
        key = f"/registry/{info.plural}/{namespace}/{name}" if info.namespaced \
            else f"/registry/{info.plural}/{name}"  # registry.object_key
        co = cache.get(key)
        return co.obj if co is not None else None

    def _check(self, info: ResourceInfo, namespace: str | None, ref: sat.Ref) -> dict[str, Any]:
        obj = self._get(info, namespace, ref.name)
        md = (obj or {}).get("metadata") or {}
        if obj is None or (ref.uid and md.get("uid") != ref.uid):
            raise Unauthorized(f"{info.kind} {ref.name} referenced by the token no longer "
                               "exists")
        if md.get("deletionTimestamp") and info is not resources.PODS:
            raise Unauthorized(f"{info.kind} {ref.name} is being deleted")
        return obj

    def _validate(self, v: _Verified, token: str) -> UserInfo:
        sa = self._check(resources.SERVICEACCOUNTS, v.namespace, v.sa)
        extra: dict[str, tuple[str, ...]] = {}
        if v.legacy:
            assert v.secret is not None
            secret = self._check(resources.SECRETS, v.namespace, v.secret)
            ann = (secret.get("metadata") or {}).get("annotations") or {}
            sa_uid = (sa.get("metadata") or {}).get("uid")
            if ann.get(sat.SA_UID_ANNOTATION) not in (None, sa_uid):
                raise Unauthorized("the token's secret belongs to another service account")
            stored = (secret.get("data") or {}).get("token")
            if stored is not None and _b64decode(str(stored)) != token.encode():
                raise Unauthorized("token does not match the one in its secret")
        else:
            if v.pod is not None:
                pod = self._check(resources.PODS, v.namespace, v.pod)
                if (pod.get("metadata") or {}).get("deletionTimestamp"):
                    # A pod being deleted keeps its token until it goes (grace period).
                    pass
                extra[POD_NAME_EXTRA] = (v.pod.name,)
                extra[POD_UID_EXTRA] = (v.pod.uid,)
            if v.secret is not None:
                self._check(resources.SECRETS, v.namespace, v.secret)
            if v.node is not None:
                if v.pod is None:
                    self._check(resources.NODES, None, v.node)
                extra[NODE_NAME_EXTRA] = (v.node.name,)
                extra[NODE_UID_EXTRA] = (v.node.uid,)
            if v.jti:
                extra[CREDENTIAL_ID_EXTRA] = (f"JTI={v.jti}",)
        return UserInfo(sat.username(v.namespace, v.sa.name), v.sa.uid,
                        service_account_groups(v.namespace), extra)


def install(state: Any, config: TokenConfig) -> None:
    """Keep the token config on the app state (TokenRequest reads it) and, when there are
    keys to verify with, add the token authenticator."""
    state.service_account_tokens = config
    if config.public_keys:
        state.authenticator.add_token_authenticator(
            ServiceAccountAuthenticator(config, state.caches))


# ---- kube-apiserver's flags -------------------------------------------------------------


def add_flags(p: Any) -> None:
    """The ServiceAccount token flags on the API server's argparse parser."""
    p.add_argument("--service-account-issuer", action="append", default=None,
                   help="the issuer (iss) of the tokens this server signs; repeat to accept "
                        f"more (the first signs; default {sat.DEFAULT_ISSUER})")
    p.add_argument("--service-account-key-file", action="append", default=[],
                   help="PEM file of public (or private) keys that verify ServiceAccount "
                        "tokens; repeatable (the signing key's public half is always one)")
    p.add_argument("--service-account-signing-key-file", default=None,
                   help="RSA private key (PEM) that signs TokenRequest tokens")
    p.add_argument("--api-audiences", default="",
                   help="comma-separated audiences a token must name (default: the issuer)")
    p.add_argument("--service-account-max-token-expiration", type=int, default=0,
                   metavar="SECONDS", help="the longest TokenRequest expiry (0: no cap)")
    # Test-only: Kubernetes' 10 minutes and go-jose's 60 s leeway make an expiring token a
    # slow test.
    p.add_argument("--service-account-min-token-expiration", type=int, default=600,
                   help=argparse.SUPPRESS)
    p.add_argument("--service-account-token-leeway", type=int, default=60,
                   help=argparse.SUPPRESS)


def config_kwargs(p: Any, a: Any) -> dict[str, Any]:
    """Config fields from the parsed flags; unreadable key files are a usage error."""
    for path in [*(a.service_account_key_file or []), a.service_account_signing_key_file]:
        if path and not os.path.isfile(path):
            p.error(f"no such file: {path}")
    return {"service_account_issuers": a.service_account_issuer or [sat.DEFAULT_ISSUER],
            "service_account_key_files": list(a.service_account_key_file or []),
            "service_account_signing_key_file": a.service_account_signing_key_file,
            "api_audiences": [x.strip() for x in a.api_audiences.split(",") if x.strip()],
            "service_account_max_token_expiration": a.service_account_max_token_expiration,
            "service_account_min_token_expiration": a.service_account_min_token_expiration,
            "service_account_token_leeway": a.service_account_token_leeway}


def from_config(config: Any) -> TokenConfig:
    return load_config(config.service_account_signing_key_file,
                       config.service_account_key_files, config.service_account_issuers,
                       config.api_audiences, config.service_account_max_token_expiration,
                       config.service_account_min_token_expiration,
                       config.service_account_token_leeway)
