"""Where the API server listens: kube-apiserver's secure serving (HTTPS on ``--secure-port``
with ``--tls-cert-file``/``--tls-private-key-file``, client certificates verified against
``--client-ca-file`` when presented), the plain-HTTP insecure port (``--port`` on
``--bind-address``, the superuser, for the test fixture; 0 disables it) and a plain-HTTP
health port on 127.0.0.1 (``--healthz-port``: only /livez, /readyz and /healthz, for
healthchecks that speak no TLS).

One app, one lifespan: ``ListeningServer`` is uvicorn's server opening one asyncio server
per ``Listener``, each with its own TLS context and protocol. On the TLS listener the
client certificate the handshake verified goes into the ASGI scope as
``scope["extensions"]["tls"]["client_cert_chain"]`` (DER, leaf first), computed once per
connection, for HTTP requests and WebSocket upgrades alike. The plain listener keeps
uvicorn's own protocol: nothing is added to its path (both answer an unknown method with
a Status: ``StatusHttpProtocol``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import ssl
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httptools
import orjson
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from apiserver.websocket import WebSocketProtocol

log = logging.getLogger("apiserver")

TLS_VERSIONS = {"VersionTLS12": ssl.TLSVersion.TLSv1_2, "VersionTLS13": ssl.TLSVersion.TLSv1_3}
HEALTH_PATHS = ("/livez", "/readyz", "/healthz")
_STARTUP_FAILURE = 3  # uvicorn.server.STARTUP_FAILURE


def ssl_context(cert_file: str, key_file: str, client_ca_file: str | None = None,
                min_version: str = "VersionTLS12") -> ssl.SSLContext:
    """The serving context: TLS 1.2+ (or 1.3), HTTP/1.1 by ALPN, client certificates
    asked for and verified against the client CA when one is given (optional, as Go's
    VerifyClientCertIfGiven: a client without one goes on to tokens)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = TLS_VERSIONS[min_version]
    ctx.load_cert_chain(cert_file, key_file)
    ctx.set_alpn_protocols(["http/1.1"])
    if client_ca_file:
        ctx.load_verify_locations(cafile=client_ca_file)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    """ASGI's TLS extension for a connection: None on plain HTTP."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    leaf = ssl_object.getpeercert(binary_form=True)
    # Python before 3.13 exposes only the leaf of the verified chain; the authenticator
    # reads only the leaf.
    return {"server_cert": None, "client_cert_chain": (leaf,) if leaf else ()}


class _Coalescing:
    """A TLS transport whose writes within one loop iteration go out as one (one TLS
    record and one send for a response's head and body, which uvicorn writes apart)."""

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._t = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending = []
            if not self._t.is_closing():
                self._t.write(data)

    def close(self) -> None:
        self._flush()
        self._t.close()

    def write_eof(self) -> None:
        self._flush()
        self._t.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._t, name)


_BAD_METHOD = orjson.dumps({
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
    "message": "the server does not allow this method on the requested resource",
    "reason": "MethodNotAllowed", "code": 405})


class StatusHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol answering a request line with a method the parser
    does not know (``FOO /api``) as kube-apiserver does, a 405 MethodNotAllowed Status,
    instead of uvicorn's plain-text 400 (Go's server accepts any method token)."""

    def send_400_response(self, msg: str) -> None:
        if not isinstance(sys.exc_info()[1], httptools.HttpParserInvalidMethodError):
            super().send_400_response(msg)
            return
        self.transport.write(b"".join([
            b"HTTP/1.1 405 Method Not Allowed\r\n",
            b"content-type: application/json\r\n",
            b"cache-control: no-cache, private\r\n",
            b"audit-id: ", str(uuid.uuid4()).encode(), b"\r\n",
            b"content-length: ", str(len(_BAD_METHOD)).encode(), b"\r\n",
            b"connection: close\r\n\r\n", _BAD_METHOD]))
        self.transport.close()


class TLSHttpProtocol(StatusHttpProtocol):
    """uvicorn's httptools protocol with the TLS extension in each request's scope."""

    _tls: dict[str, Any] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tls = tls_extension(transport)
        self.transport = _Coalescing(transport, self.loop)  # type: ignore[assignment]

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            self.scope["extensions"] = {"tls": self._tls}  # type: ignore[dict-item]


class TLSWebSocketProtocol(WebSocketProtocol):
    """The WebSocket protocol with the TLS extension in the scope of the upgrade."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        tls = tls_extension(self.transport) if scope is not None else None
        if tls is not None:
            # The application task was created but has not run yet.
            scope["extensions"]["tls"] = tls  # type: ignore[index]


_NOT_FOUND = orjson.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {},
                           "status": "Failure", "message": "the server could not find the "
                           "requested resource", "reason": "NotFound", "details": {},
                           "code": 404})


def health_only(app: ASGIApp) -> ASGIApp:
    """``app`` for /livez, /readyz, /healthz (and their checks); 404 for anything else."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD") and any(
                path == p or path.startswith(p + "/") for p in HEALTH_PATHS):
            await app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 404,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(_NOT_FOUND)).encode())]})
        await send({"type": "http.response.body", "body": _NOT_FOUND})

    return serve


class _HealthProtocol(StatusHttpProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app = health_only(self.app)
        self.ws_protocol_class = None  # no upgrades: the request is answered as HTTP


@dataclass(frozen=True)
class Listener:
    host: str
    port: int
    ssl: ssl.SSLContext | None = None
    health_only: bool = False

    @property
    def protocol(self) -> Callable[..., asyncio.Protocol]:
        if self.health_only:
            return _HealthProtocol
        return TLSHttpProtocol if self.ssl is not None else StatusHttpProtocol

    @property
    def scheme(self) -> str:
        return "https" if self.ssl is not None else "http"


class ListeningServer(uvicorn.Server):
    """uvicorn's server on several listeners (``self.listeners``) after one lifespan
    startup; shutdown (uvicorn's) closes them all.

    Graceful termination as kube-apiserver's: on the first SIGTERM (or SIGINT)
    ``on_shutdown_initiated`` runs at once (/readyz then fails, so a load balancer
    drains the server) and the server keeps serving for ``shutdown_delay`` seconds
    (--shutdown-delay-duration); then it closes its listeners (new connections are
    refused), ``on_drain`` runs (open watches end cleanly, so their clients resume
    elsewhere from their last resourceVersion), and in-flight requests get uvicorn's
    ``timeout_graceful_shutdown`` (--shutdown-timeout) to finish before the lifespan
    shutdown. A second signal during the delay skips the rest of it."""

    listeners: Sequence[Listener] = ()
    shutdown_delay: float = 0.0
    on_shutdown_initiated: Callable[[], None] | None = None
    on_drain: Callable[[], None] | None = None
    _shutdown_initiated = False
    _serve_loop: asyncio.AbstractEventLoop | None = None

    def handle_exit(self, sig: int, frame: Any) -> None:
        if not self._shutdown_initiated:
            self._shutdown_initiated = True
            if self.on_shutdown_initiated is not None:
                self.on_shutdown_initiated()
            loop = self._serve_loop
            if self.shutdown_delay > 0 and loop is not None and not self.should_exit:
                log.info("shutdown initiated: /readyz fails, serving for %.1f s more",
                         self.shutdown_delay)
                with contextlib.suppress(RuntimeError):  # the loop is closed
                    loop.call_soon_threadsafe(loop.call_later, self.shutdown_delay,
                                              self.handle_exit, sig, None)
                    return
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connection from here on (uvicorn closes them again)
        if self.on_drain is not None:
            self.on_drain()
        await super().shutdown(sockets)
        # uvicorn raises the signal that stopped it again once it is done, which kills
        # the process by the signal; a graceful termination exits 0, as kube-apiserver.
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured[:] = [s for s in captured if s not in (signal.SIGTERM, signal.SIGINT)]

    async def startup(self, sockets: list[Any] | None = None) -> None:
        self._serve_loop = asyncio.get_running_loop()
        if not self.listeners:
            await super().startup(sockets)
            return
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(_STARTUP_FAILURE)
        loop = asyncio.get_running_loop()
        self.servers = []
        for listener in self.listeners:
            factory = functools.partial(listener.protocol, config=self.config,
                                        server_state=self.server_state,
                                        app_state=self.lifespan.state)
            try:
                server = await loop.create_server(factory, host=listener.host,
                                                  port=listener.port, ssl=listener.ssl,
                                                  backlog=self.config.backlog)
            except OSError as exc:
                log.error("cannot listen on %s:%d: %s", listener.host, listener.port, exc)
                for s in self.servers:
                    s.close()
                await self.lifespan.shutdown()
                sys.exit(_STARTUP_FAILURE)
            self.servers.append(server)
            log.info("serving %s on %s:%d%s", listener.scheme, listener.host, listener.port,
                     " (health checks only)" if listener.health_only else "")
        self.started = True
