"""The kubelet's ServiceAccount token manager (pkg/kubelet/token/token_manager.go): the
tokens of projected ``serviceAccountToken`` sources, asked for with a TokenRequest bound
to the pod, kept until 80% of their lifetime (or 24 h) has passed, then asked for again.

Tokens are kept per pod uid and source; ``forget`` drops a pod's when it is gone, and
``next_refresh`` tells its worker when to wake up to rotate them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from api.timeutil import parse_time_or_none
from client.rest import AsyncClient

MAX_TTL = 24 * 3600.0
REFRESH_FRACTION = 0.8


@dataclass(frozen=True)
class _Token:
    token: str
    issued: float  # wall clock when it was received
    expires: float

    def refresh_at(self) -> float:
        return min(self.issued + REFRESH_FRACTION * (self.expires - self.issued),
                   self.issued + MAX_TTL)


Key = tuple[str, str, str, int]  # (service account, audience, pod name, expiration)
_tokens: dict[str, dict[Key, _Token]] = {}  # pod uid -> its tokens


async def get_token(client: AsyncClient, namespace: str, service_account: str, pod_name: str,
                    pod_uid: str, audience: str | None, expiration_seconds: int) -> str:
    """A token for the pod's account, bound to the pod: the kept one while fresh."""
    key: Key = (service_account, audience or "", pod_name, expiration_seconds)
    mine = _tokens.setdefault(pod_uid, {})
    t = mine.get(key)
    now = time.time()
    if t is not None and now < t.refresh_at():
        return t.token
    spec: dict[str, Any] = {"expirationSeconds": expiration_seconds,
                            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod",
                                               "name": pod_name, "uid": pod_uid}}
    if audience:
        spec["audiences"] = [audience]
    res = await client.request(
        "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token",
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
    status = res.get("status") or {} if isinstance(res, dict) else {}
    token = str(status.get("token") or "")
    exp = parse_time_or_none(status.get("expirationTimestamp"))
    expires = exp.timestamp() if exp is not None else now + expiration_seconds
    mine[key] = _Token(token, now, expires)
    return token


def next_refresh(pod_uid: str) -> float | None:
    """Seconds until the first of the pod's tokens is to be renewed (None: it has none)."""
    mine = _tokens.get(pod_uid)
    if not mine:
        return None
    return max(0.0, min(t.refresh_at() for t in mine.values()) - time.time())


def forget(pod_uid: str) -> None:
    _tokens.pop(pod_uid, None)
