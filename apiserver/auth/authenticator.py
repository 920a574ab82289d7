"""Authentication (staging/src/k8s.io/apiserver/pkg/authentication): who sent a request.

In kube-apiserver's order: the x509 client certificate the TLS handshake verified, then the
bearer token (each ``TokenAuthenticator`` in turn: the static token file, bootstrap tokens,
ServiceAccount tokens), then, if enabled, anonymous. Credentials that are presented but
invalid are a 401 (``Unauthorized``), never a fall-back to anonymous (union.NewFailOnError).
A plain-HTTP request reached the loopback-only insecure port: it is the superuser.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from apiserver.auth.tokencache import TokenCache
from apiserver.auth.user import ANONYMOUS_USER, INSECURE, UserInfo, with_authenticated

# A token authenticator: the user a token names, None when the token is not of its kind
# (the next one is asked); raise Unauthorized for a token of its kind that is not valid.
TokenAuthenticator = Callable[[str], Awaitable[UserInfo | None]]
# The client certificate chain (DER, leaf first) as the TLS layer verified it -> the user.
CertAuthenticator = Callable[[Sequence[bytes]], UserInfo | None]


class Unauthorized(Exception):
    """Credentials were presented and are not valid: 401."""


def bearer_token(scope: MutableMapping[str, Any]) -> str | None:
    """The token of an ``Authorization: Bearer`` header; a WebSocket may carry it in its
    subprotocols as ``base64url.bearer.authorization.k8s.io.<token>`` (kubectl's streams)."""
    headers: list[tuple[bytes, bytes]] = scope.get("headers") or []
    for k, v in headers:
        if k == b"authorization":
            scheme, _, token = v.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif k == b"sec-websocket-protocol" and scope.get("type") == "websocket":
            for p in v.decode("latin-1").split(","):
                p = p.strip()
                if p.startswith(_WS_TOKEN_PREFIX):
                    import base64

                    raw = p[len(_WS_TOKEN_PREFIX):]
                    try:
                        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
                    except ValueError:
                        return None
    return None


_WS_TOKEN_PREFIX = "base64url.bearer.authorization.k8s.io."


def client_cert_chain(scope: MutableMapping[str, Any]) -> Sequence[bytes]:
    """The verified client certificate chain the TLS server put in the scope
    (ASGI's TLS extension, ``extensions.tls.client_cert_chain``; DER here)."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or ()
    return tuple(c for c in chain if isinstance(c, bytes))


class RequestAuthenticator:
    def __init__(self, *, certs: CertAuthenticator | None = None,
                 tokens: Sequence[TokenAuthenticator] = (), anonymous: bool = False) -> None:
        self.certs = certs
        self.tokens = list(tokens)
        self.anonymous = anonymous
        self.token_cache = TokenCache()  # successes, 10 s: a bearer request is a dict lookup

    def add_token_authenticator(self, t: TokenAuthenticator) -> None:
        self.tokens.append(t)

    async def authenticate(self, scope: MutableMapping[str, Any]) -> UserInfo | None:
        """The user; None when no credentials were presented and anonymous is off (401).
        Raises Unauthorized for credentials that are not valid."""
        if scope.get("scheme") in ("http", "ws"):
            return INSECURE
        if self.certs is not None:
            chain = client_cert_chain(scope)
            if chain:
                u = self.certs(chain)
                if u is not None:
                    return with_authenticated(u)
        token = bearer_token(scope)
        if token is not None:
            cached = self.token_cache.get(token)
            if cached is not None:
                return cached
            for t in self.tokens:
                u = await t(token)
                if u is not None:
                    u = with_authenticated(u)
                    self.token_cache.put(token, u)
                    return u
            raise Unauthorized()
        return ANONYMOUS_USER if self.anonymous else None
