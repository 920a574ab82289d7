"""Bootstrap tokens (``--enable-bootstrap-token-auth``; plugin/pkg/auth/authenticator/token/
bootstrap): a token ``<id>.<secret>`` (6 and 16 of [a-z0-9]) names the kube-system Secret
``bootstrap-token-<id>`` of type ``bootstrap.kubernetes.io/token``; it authenticates while
the Secret's token-secret matches, it is not expired and usage-bootstrap-authentication is
"true", as ``system:bootstrap:<id>`` in ``system:bootstrappers`` plus the Secret's
auth-extra-groups. The Secret is read from the secrets watch cache: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hmac
import logging
import re
from typing import Any

from apiserver.auth.authenticator import Unauthorized
from apiserver.auth.user import UserInfo

log = logging.getLogger("apiserver")

TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_PREFIX = "bootstrap-token-"
USER_PREFIX = "system:bootstrap:"
GROUP = "system:bootstrappers"
GROUP_RE = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")


def _data(secret: dict[str, Any], key: str) -> str:
    raw = (secret.get("data") or {}).get(key)
    if not isinstance(raw, str):
        return ""
    try:
        return base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _expired(value: str, now: datetime.datetime) -> bool:
    if not value:
        return False
    try:
        when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return True  # Kubernetes: an unparseable expiration is treated as expired
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return now >= when


class BootstrapTokens:
    """``cache`` is the secrets WatchCache (``get(key)`` -> cached object)."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache

    async def __call__(self, token: str) -> UserInfo | None:
        m = TOKEN_RE.match(token)
        if m is None:
            return None
        token_id, token_secret = m.groups()
        name = SECRET_PREFIX + token_id
        co = self.cache.get(f"/registry/secrets/kube-system/{name}")
        if co is None:
            log.info("bootstrap token: no secret kube-system/%s", name)
            raise Unauthorized()
        secret: dict[str, Any] = co.obj
        if (secret.get("metadata") or {}).get("deletionTimestamp"):
            raise Unauthorized()
        if secret.get("type") != SECRET_TYPE or _data(secret, "token-id") != token_id:
            raise Unauthorized()
        if not hmac.compare_digest(_data(secret, "token-secret"), token_secret):
            raise Unauthorized()
        if _expired(_data(secret, "expiration"), datetime.datetime.now(datetime.UTC)):
            log.info("bootstrap token %s expired", token_id)
            raise Unauthorized()
        if _data(secret, "usage-bootstrap-authentication") != "true":
            raise Unauthorized()
        groups = [GROUP]
        for g in _data(secret, "auth-extra-groups").split(","):
            g = g.strip()
            if not g:
                continue
            if not GROUP_RE.match(g):
                log.info("bootstrap token %s: bad auth-extra-groups %r", token_id, g)
                raise Unauthorized()
            if g not in groups:
                groups.append(g)
        return UserInfo(USER_PREFIX + token_id, groups=tuple(groups))
