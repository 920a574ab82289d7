"""The authentication, impersonation and authorization filters as one ASGI middleware.

Outermost in the API server after access logging and metrics (so refused requests are
counted). A plain-HTTP request (the loopback-only insecure port) without impersonation
headers takes a fast path: it is the superuser, nothing to check.

Impersonation (staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go): the
``Impersonate-User``/``-Group``/``-Uid``/``-Extra-<key>`` headers make the request act as
another user, if the requester may ``impersonate`` each (users, groups, serviceaccounts,
uids and userextras/<key> of authentication.k8s.io); the request is then authorized as the
impersonated user.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from apiserver.auth import attributes, authorizer
from apiserver.auth.authenticator import RequestAuthenticator, Unauthorized
from apiserver.auth.context import current_user
from apiserver.auth.user import (
    ALL_AUTHENTICATED,
    ALL_UNAUTHENTICATED,
    ANONYMOUS,
    ANONYMOUS_USER,
    INSECURE,
    UserInfo,
    service_account_groups,
    split_service_account,
)

SCOPE_KEY = "minik8s.user"
# For the audit (apiserver/audit.py): the authenticated user (before impersonation) and
# the authorization decision, ("allow" | "forbid", reason).
AUTHN_USER_KEY = "minik8s.authn_user"
AUTHZ_KEY = "minik8s.authz"
_ALLOWED = ("allow", "")
# Served as system:anonymous (then authorized) even with --anonymous-auth=false.
ANONYMOUS_ENDPOINTS = frozenset(("/livez", "/readyz", "/healthz", "/version"))

_UNAUTHORIZED = orjson.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": "Unauthorized",
                              "reason": "Unauthorized", "code": 401})
_IMPERSONATE = (b"impersonate-user", b"impersonate-group", b"impersonate-uid")
_EXTRA_PREFIX = b"impersonate-extra-"


def _has_impersonation(scope: Scope) -> bool:
    return any(k in _IMPERSONATE or k.startswith(_EXTRA_PREFIX)
               for k, _ in scope.get("headers") or ())


async def _respond(scope: Scope, receive: Receive, send: Send, code: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if code == 401:
        headers.append((b"www-authenticate", b'Basic realm="kubernetes-master"'))
    if scope["type"] == "websocket":
        msg = await receive()
        if msg["type"] != "websocket.connect":
            return
        await send({"type": "websocket.http.response.start", "status": code,
                    "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
        return
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ImpersonationDenied(Exception):
    def __init__(self, attrs: attributes.Attributes, reason: str) -> None:
        super().__init__(reason)
        self.attrs = attrs
        self.reason = reason


def impersonate(requester: UserInfo, scope: Scope, authz: authorizer.Authorizer) -> UserInfo:
    """The impersonated user, every part of it authorized for ``requester``."""
    user_name: str | None = None
    uid: str | None = None
    groups: list[str] = []
    extra: dict[str, list[str]] = {}
    for k, v in scope.get("headers") or ():
        value = v.decode("latin-1").strip()
        if k == b"impersonate-user":
            user_name = value
        elif k == b"impersonate-group":
            groups.append(value)
        elif k == b"impersonate-uid":
            uid = value
        elif k.startswith(_EXTRA_PREFIX):
            key = unquote(k[len(_EXTRA_PREFIX):].decode("latin-1")).lower()
            extra.setdefault(key, []).append(value)
    if user_name is None:
        # Kubernetes: impersonating groups, extras or a uid requires a user.
        raise ImpersonationDenied(attributes.Attributes(
            requester, "impersonate", True, resource="users"),
            "requested impersonation without a user")

    def check(resource: str, name: str, group: str = "", namespace: str = "") -> None:
        if requester.is_superuser():
            return
        a = attributes.Attributes(requester, "impersonate", True, namespace=namespace,
                                  api_group=group, resource=resource, name=name)
        decision, reason = authz.authorize(a)
        if decision is not authorizer.Decision.ALLOW:
            raise ImpersonationDenied(a, reason)

    sa = split_service_account(user_name)
    if sa is not None:
        check("serviceaccounts", sa[1], namespace=sa[0])
        if not groups:
            groups = list(service_account_groups(sa[0]))
    else:
        check("users", user_name)
    for g in groups:
        check("groups", g)
    if uid is not None:
        check("uids", uid, group="authentication.k8s.io")
    for key, values in extra.items():
        for value in values:
            check(f"userextras/{key}", value, group="authentication.k8s.io")
    if user_name == ANONYMOUS:
        if ALL_UNAUTHENTICATED not in groups:
            groups.append(ALL_UNAUTHENTICATED)
    elif ALL_AUTHENTICATED not in groups:
        groups.append(ALL_AUTHENTICATED)
    return UserInfo(user_name, uid or "", tuple(groups), {k: tuple(v) for k, v in extra.items()})


_CONNECT_SUBRESOURCES = ("exec", "attach", "portforward")


def _websocket_connect(scope: Scope, attrs: attributes.Attributes) -> bool:
    return (scope["type"] == "websocket" and attrs.resource == "pods"
            and attrs.subresource in _CONNECT_SUBRESOURCES and attrs.verb == "get")


class AuthMiddleware:
    """``state.authenticator`` (RequestAuthenticator) and ``state.authorizer`` (Authorizer)
    are read at each request, so the app can build them after the middleware stack."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope.get("scheme") in ("http", "ws") and not _has_impersonation(scope):
            scope[SCOPE_KEY] = scope[AUTHN_USER_KEY] = INSECURE
            scope[AUTHZ_KEY] = _ALLOWED
            current_user.set(INSECURE)
            await self.app(scope, receive, send)
            return
        authn: RequestAuthenticator = self.state.authenticator
        authz: authorizer.Authorizer = self.state.authorizer
        try:
            user = await authn.authenticate(scope)
        except Unauthorized:
            await _respond(scope, receive, send, 401, _UNAUTHORIZED)
            return
        if user is None and scope["path"] in ANONYMOUS_ENDPOINTS:
            # AnonymousAuthConfigurableEndpoints: health and version stay answerable
            # without credentials when anonymous authentication is off.
            user = ANONYMOUS_USER
        if user is None:
            await _respond(scope, receive, send, 401, _UNAUTHORIZED)
            return
        scope[AUTHN_USER_KEY] = user
        if _has_impersonation(scope):
            try:
                user = impersonate(user, scope, authz)
            except ImpersonationDenied as e:
                scope[AUTHZ_KEY] = ("forbid", e.reason)
                await _respond(scope, receive, send, 403,
                               orjson.dumps(authorizer.forbidden_status(e.attrs, e.reason)))
                return
        scope[SCOPE_KEY] = user  # (the audit reads it on a 403 too)
        scope[AUTHZ_KEY] = _ALLOWED
        if not user.is_superuser():
            attrs = attributes.from_request(
                user, scope.get("method", "GET"), scope["path"],
                bytes(scope.get("query_string") or b"").decode("latin-1"))
            decision, reason = authz.authorize(attrs)
            if decision is authorizer.Decision.ALLOW and _websocket_connect(scope, attrs):
                # AuthorizePodWebsocketUpgradeCreatePermission (beta, on since 1.35): a
                # WebSocket exec/attach/port-forward is a GET, and must also be allowed to
                # create the subresource, as the SPDY POST is.
                attrs = dataclasses.replace(attrs, verb="create")
                decision, reason = authz.authorize(attrs)
            scope[AUTHZ_KEY] = ("allow" if decision is authorizer.Decision.ALLOW else "forbid",
                                reason)
            if decision is not authorizer.Decision.ALLOW:
                await _respond(scope, receive, send, 403,
                               orjson.dumps(authorizer.forbidden_status(attrs, reason)))
                return
        current_user.set(user)
        await self.app(scope, receive, send)
