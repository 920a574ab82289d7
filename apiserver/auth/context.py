"""The user of the request being served, for code deep in the handlers (admission, audit,
TokenRequest...). Set by ``middleware.AuthMiddleware`` for the task serving the request."""

from __future__ import annotations

from contextvars import ContextVar

from apiserver.auth.user import INSECURE, UserInfo

current_user: ContextVar[UserInfo] = ContextVar("current_user", default=INSECURE)


def user() -> UserInfo:
    """The requesting user (``system:unsecured`` outside a request: the server's own work)."""
    return current_user.get()
