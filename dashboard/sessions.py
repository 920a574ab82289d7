"""Who the browser is: a session per sign-in, each holding that user's API credentials.

Sign-in checks a bearer token with a SelfSubjectReview made with the token itself (the API
server authenticates it exactly as it would any request); the session then keeps the token
in memory only, under a random id sent as an HttpOnly, SameSite=Strict cookie. In single-user
mode (``--kubeconfig``) every browser acts with that kubeconfig's credentials.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from client.config import ClientConfig
from client.rest import AsyncClient

COOKIE = "minik8s_dashboard"
IDLE_SECONDS = 8 * 3600
REVIEW_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


@dataclass
class Session:
    config: ClientConfig
    user: str = ""
    groups: list[str] = field(default_factory=list)
    last_used: float = field(default_factory=time.monotonic)
    _client: AsyncClient | None = None
    _http: aiohttp.ClientSession | None = None

    def client(self) -> AsyncClient:
        """The project's REST client with this user's credentials (informers, logs)."""
        if self._client is None:
            self._client = AsyncClient(config=self.config, timeout=30)
        return self._client

    def http(self) -> aiohttp.ClientSession:
        """A raw session with this user's credentials, for requests passed through as they
        are (the browser sees the API server's own status and Status body)."""
        if self._http is None:
            ctx = self.config.ssl_context()
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=50, ssl=ctx if ctx is not None else True),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60),
                cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)
        return self._http

    def auth_headers(self) -> dict[str, str]:
        token = self.config.bearer()
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._http is not None:
            await self._http.close()
            self._http = None


class SignInError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def review(session: Session) -> None:
    """Fill ``session.user``/``groups`` from a SelfSubjectReview made with its credentials;
    SignInError when the API server does not accept them."""
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        async with session.http().post(session.config.server + REVIEW_PATH, json=body,
                                       headers=session.auth_headers()) as r:
            data: Any = await r.json(content_type=None)
            status = r.status
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise SignInError(503, f"the API server at {session.config.server} cannot be "
                               f"reached: {exc}") from exc
    if status >= 400:
        msg = data.get("message") if isinstance(data, dict) else None
        raise SignInError(status, msg or f"the API server answered {status}")
    info = ((data or {}).get("status") or {}).get("userInfo") or {}
    session.user = str(info.get("username") or "")
    session.groups = [str(g) for g in info.get("groups") or []]


class Sessions:
    """Signed-in browsers by cookie; ``single`` is the single-user mode's one session."""

    def __init__(self, base: ClientConfig, single: bool = False) -> None:
        self.base = base
        self.single: Session | None = Session(base) if single else None
        self._by_id: dict[str, Session] = {}
        self._closing: set[asyncio.Future[None]] = set()

    async def sign_in(self, token: str) -> tuple[str, Session]:
        cfg = dataclasses.replace(self.base, token=token, token_file=None, cert_file=None,
                                  cert_data=None, key_file=None, key_data=None)
        s = Session(cfg)
        try:
            await review(s)
        except SignInError:
            await s.close()
            raise
        sid = secrets.token_urlsafe(32)
        self._by_id[sid] = s
        return sid, s

    def get(self, sid: str | None) -> Session | None:
        if self.single is not None:
            return self.single
        if not sid:
            return None
        s = self._by_id.get(sid)
        if s is None:
            return None
        now = time.monotonic()
        if now - s.last_used > IDLE_SECONDS:
            self._by_id.pop(sid, None)
            self._closing.add(task := asyncio.ensure_future(s.close()))
            task.add_done_callback(self._closing.discard)
            return None
        s.last_used = now
        return s

    async def sign_out(self, sid: str | None) -> None:
        s = self._by_id.pop(sid or "", None)
        if s is not None:
            await s.close()

    async def close(self) -> None:
        for s in [*self._by_id.values(), *([self.single] if self.single else [])]:
            await s.close()
        self._by_id.clear()
