"""The x509 client-certificate authenticator (staging/src/k8s.io/apiserver/pkg/
authentication/request/x509): the TLS handshake verified the chain against
``--client-ca-file``; the leaf's subject names the user: CommonName is the user name,
each Organization a group (CommonNameUserConversion).

A client keeps its connection, and new connections present the same certificate: the user
is cached by the leaf's DER bytes, so authenticating costs a dict lookup.
"""

from __future__ import annotations

from collections.abc import Sequence

import pki
from apiserver.auth.authenticator import Unauthorized
from apiserver.auth.user import UserInfo, with_authenticated

_MAX_CACHED = 4096


class CertAuthenticator:
    def __init__(self) -> None:
        self._cache: dict[bytes, UserInfo] = {}

    def __call__(self, chain: Sequence[bytes]) -> UserInfo | None:
        leaf = chain[0]
        user = self._cache.get(leaf)
        if user is not None:
            return user
        try:
            cn, orgs = pki.subject(leaf)
        except ValueError as e:
            raise Unauthorized(f"unreadable client certificate: {e}") from e
        if not cn:
            raise Unauthorized("common name of the provided certificate is empty")
        # system:authenticated added once here: the authenticator's own adding then
        # returns the same object, nothing is built per request.
        user = with_authenticated(UserInfo(cn, groups=orgs))
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[leaf] = user
        return user
