"""Token results cached for a short while (staging/src/k8s.io/apiserver/pkg/authentication/
token/cache): a client sends the same bearer token on every request, and looking it up,
or verifying its signature, once every 10 s is enough. Successes only, as kube-apiserver's
default (--authentication-token-cache-ttl 10s success, no failure cache). Keyed by the
token's SHA-256, so the cache holds no tokens.
"""

from __future__ import annotations

import hashlib
import time

from apiserver.auth.user import UserInfo

SUCCESS_TTL = 10.0
_MAX = 10_000


class TokenCache:
    def __init__(self, ttl: float = SUCCESS_TTL) -> None:
        self.ttl = ttl
        self._entries: dict[bytes, tuple[float, UserInfo]] = {}

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> UserInfo | None:
        key = self._key(token)
        e = self._entries.get(key)
        if e is None:
            return None
        if e[0] < time.monotonic():
            self._entries.pop(key, None)
            return None
        return e[1]

    def put(self, token: str, user: UserInfo) -> None:
        if len(self._entries) >= _MAX:
            now = time.monotonic()
            self._entries = {k: v for k, v in self._entries.items() if v[0] >= now}
            if len(self._entries) >= _MAX:
                self._entries.clear()
        self._entries[self._key(token)] = (time.monotonic() + self.ttl, user)
