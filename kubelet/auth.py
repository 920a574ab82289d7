"""Who may use the kubelet's API: authentication and authorization of its requests, as
Kubernetes' kubelet does them (pkg/kubelet/server/auth.go, server.go InstallAuthFilter, the
delegating authenticator and authorizer of k8s.io/apiserver).

Authentication, in order: the x509 client certificate the TLS handshake verified against
``--client-ca-file`` (CN = user, O = groups); a bearer token (``Authorization: Bearer``, or
a WebSocket subprotocol ``base64url.bearer.authorization.k8s.io.<token>``) checked with a
TokenReview to the API server (``--authentication-token-webhook``), answers cached for
``--authentication-token-webhook-cache-ttl``; else ``system:anonymous`` when
``--anonymous-auth`` is true, or 401 ``Unauthorized``.

Authorization (``--authorization-mode``): AlwaysAllow, or Webhook: a SubjectAccessReview to
the API server for ``nodes/<subresource>`` of this node, the verb from the HTTP method
(GET -> get, POST -> create, ...), the subresource from the path: /stats -> stats,
/metrics -> metrics, /logs -> log, /checkpoint -> checkpoint, /spec -> spec, /pods,
/runningpods -> pods then proxy, /healthz -> healthz then proxy, /configz -> configz then
proxy (fine-grained, allowed by either), everything else (containerLogs, exec, attach,
portForward, run) -> proxy. Allowed answers are cached 5 minutes, denials 30 seconds
(``--authorization-webhook-cache-{authorized,unauthorized}-ttl``). A denial is 403
``Forbidden (user=U, verb=V, resource=nodes, subresource(s)=[pods proxy])``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

ANONYMOUS = "system:anonymous"
UNAUTHENTICATED = "system:unauthenticated"
AUTHENTICATED = "system:authenticated"
WS_TOKEN_PREFIX = "base64url.bearer.authorization.k8s.io."
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
SUBJECT_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
WEBHOOK_TIMEOUT = 10.0  # seconds a TokenReview or SubjectAccessReview may take
CACHE_MAX = 10_000  # entries per cache; a full cache starts over

# POST to the API server, the decoded answer (the kubelet's client, its kubeconfig's user).
Poster = Callable[[str, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class User:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


ANONYMOUS_USER = User(ANONYMOUS, groups=(UNAUTHENTICATED,))


class Unauthorized(Exception):
    """Credentials presented and not valid (or not checkable): 401."""


def parse_duration(s: str) -> float:
    """A Go duration ("2m0s", "30s", "5m", "1h", "500ms") in seconds."""
    s = s.strip()
    if s in ("0", ""):
        return 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", s)
    if not parts or "".join(n + u for n, u in parts) != s:
        raise ValueError(f"invalid duration {s!r}")
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


# ---- request attributes (auth.go GetRequestAttributes) ---------------------------------

_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch",
          "DELETE": "delete"}
# (path, subresources asked in order; any allowed is enough)
_PATHS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("/stats", ("stats",)), ("/metrics", ("metrics",)), ("/logs", ("log",)),
    ("/checkpoint", ("checkpoint",)), ("/spec", ("spec",)),
    ("/pods", ("pods", "proxy")), ("/runningpods", ("pods", "proxy")),
    ("/healthz", ("healthz", "proxy")), ("/configz", ("configz", "proxy")),
)


def is_subpath(path: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/")
    return path == prefix or (path.startswith(prefix) and path[len(prefix)] == "/")


def request_attributes(method: str, path: str) -> tuple[str, tuple[str, ...]]:
    """(verb, the subresources of nodes to ask for) of a request to the kubelet."""
    verb = _VERBS.get(method.upper(), "")
    for prefix, subs in _PATHS:
        if is_subpath(path, prefix):
            return verb, subs
    return verb, ("proxy",)


# ---- authentication -------------------------------------------------------------------


def bearer_token(request: web.BaseRequest) -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    for p in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        p = p.strip()
        if p.startswith(WS_TOKEN_PREFIX):
            raw = p[len(WS_TOKEN_PREFIX):]
            try:
                return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
            except ValueError:
                raise Unauthorized() from None
    return None


def peer_certificate(request: web.BaseRequest) -> bytes | None:
    """The client's certificate (DER) as the TLS handshake verified it, if it sent one."""
    transport = request.transport
    obj = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(obj, ssl.SSLObject):
        return None
    der = obj.getpeercert(binary_form=True)
    return der or None


class _TTLCache:
    def __init__(self) -> None:
        self.entries: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> Any:
        hit = self.entries.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            self.entries.pop(key, None)
            return None
        return hit[1]

    def put(self, key: Any, value: Any, ttl: float) -> None:
        if ttl <= 0:
            return
        if len(self.entries) >= CACHE_MAX:
            self.entries.clear()
        self.entries[key] = (time.monotonic() + ttl, value)


@dataclass
class AuthConfig:
    anonymous: bool = True  # --anonymous-auth (the kubelet's flag default)
    client_ca: bool = False  # --client-ca-file given: x509 identities are read
    token_webhook: bool = False  # --authentication-token-webhook
    token_ttl: float = 120.0  # --authentication-token-webhook-cache-ttl
    mode: str = "AlwaysAllow"  # --authorization-mode: AlwaysAllow | Webhook
    authorized_ttl: float = 300.0
    unauthorized_ttl: float = 30.0

    @property
    def enabled(self) -> bool:
        """Anything to check at all (else requests pass untouched, as before TLS)."""
        return not self.anonymous or self.mode != "AlwaysAllow"


class KubeletAuth:
    """The filter in front of every kubelet endpoint: authenticate, then authorize."""

    def __init__(self, config: AuthConfig, node_name: str, post: Poster | None) -> None:
        if config.mode not in ("AlwaysAllow", "Webhook"):
            raise ValueError(f"unknown authorization mode {config.mode!r}: "
                             "AlwaysAllow or Webhook")
        if (config.token_webhook or config.mode == "Webhook") and post is None:
            raise ValueError("the token webhook and Webhook authorization need an API client")
        self.config = config
        self.node_name = node_name
        self.post = post
        self._tokens = _TTLCache()
        self._decisions = _TTLCache()

    async def authenticate(self, request: web.BaseRequest) -> User | None:
        """The user, None without credentials and anonymous off; Unauthorized for bad ones."""
        if self.config.client_ca:
            der = peer_certificate(request)
            if der is not None:
                return _with_authenticated(_cert_user(der))
        token = bearer_token(request)
        if token is not None:
            if not self.config.token_webhook:
                raise Unauthorized()
            return _with_authenticated(await self._review_token(token))
        return ANONYMOUS_USER if self.config.anonymous else None

    async def _review_token(self, token: str) -> User:
        key = hashlib.sha256(token.encode()).digest()
        hit = self._tokens.get(key)
        if hit is not None:
            if isinstance(hit, User):
                return hit
            raise Unauthorized()
        assert self.post is not None
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                "spec": {"token": token}}
        try:
            got = await asyncio.wait_for(self.post(TOKEN_REVIEWS, body), WEBHOOK_TIMEOUT)
        except Exception as e:  # the API server could not say: not cached, 401
            log.warning("TokenReview failed: %s", e)
            raise Unauthorized() from None
        status = (got.get("status") or {}) if isinstance(got, dict) else {}
        if not status.get("authenticated"):
            self._tokens.put(key, False, self.config.token_ttl)
            raise Unauthorized()
        u = status.get("user") or {}
        user = User(str(u.get("username") or ""), str(u.get("uid") or ""),
                    tuple(str(g) for g in u.get("groups") or ()),
                    {str(k): tuple(str(x) for x in v or ())
                     for k, v in (u.get("extra") or {}).items()})
        self._tokens.put(key, user, self.config.token_ttl)
        return user

    async def authorize(self, user: User, verb: str, subresource: str) -> tuple[bool, str]:
        """(allowed, reason); raises when the API server could not be asked."""
        if self.config.mode == "AlwaysAllow":
            return True, ""
        key = (user.name, user.uid, user.groups, tuple(sorted(user.extra.items())), verb,
               subresource)
        hit = self._decisions.get(key)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        spec: dict[str, Any] = {
            "resourceAttributes": {"verb": verb, "group": "", "version": "v1",
                                   "resource": "nodes", "subresource": subresource,
                                   "name": self.node_name},
            "user": user.name}
        if user.uid:
            spec["uid"] = user.uid
        if user.groups:
            spec["groups"] = list(user.groups)
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra.items()}
        assert self.post is not None
        got = await asyncio.wait_for(self.post(SUBJECT_ACCESS_REVIEWS, {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": spec}), WEBHOOK_TIMEOUT)
        # allowed, else denied or no opinion (an evaluationError only explains): forbidden
        status = (got.get("status") or {}) if isinstance(got, dict) else {}
        decision = (bool(status.get("allowed")), str(status.get("reason") or ""))
        self._decisions.put(key, decision, self.config.authorized_ttl if decision[0]
                            else self.config.unauthorized_ttl)
        return decision

    def middleware(self) -> Any:
        @web.middleware
        async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
            try:
                user = await self.authenticate(request)
            except Unauthorized:
                user = None
            if user is None:
                return web.Response(status=401, text="Unauthorized")
            verb, subs = request_attributes(request.method, request.path)
            what = (f"user={user.name}, verb={verb}, resource=nodes, "
                    f"subresource(s)=[{' '.join(subs)}]")
            try:
                for sub in subs:
                    allowed, _ = await self.authorize(user, verb, sub)
                    if allowed:
                        return await handler(request)  # type: ignore[no-any-return]
            except Exception as e:
                log.warning("authorization error (%s): %s", what, e)
                return web.Response(status=500, text=f"Authorization error ({what})")
            log.info("Forbidden (%s) path=%s", what, request.path)
            return web.Response(status=403, text=f"Forbidden ({what})")
        return auth


def _cert_user(der: bytes) -> User:
    from pki import subject

    cn, orgs = subject(der)
    return User(cn, groups=orgs)


def _with_authenticated(u: User) -> User:
    if u.name == ANONYMOUS or AUTHENTICATED in u.groups:
        return u
    return User(u.name, u.uid, (*u.groups, AUTHENTICATED), u.extra)


def server_ssl_context(cert_file: str, key_file: str, client_ca: str | None) -> ssl.SSLContext:
    """The serving context: our certificate; client certificates asked for and verified
    against ``client_ca`` when given (optional: a token or anonymous may do instead)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    if client_ca:
        ctx.load_verify_locations(cafile=client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx
