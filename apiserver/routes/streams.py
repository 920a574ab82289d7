"""The client's WebSocket relayed to a kubelet stream endpoint (exec, attach, port-forward).

The kubelet speaks the same protocol as the client (the v5/v4 channel protocol, or SPDY
tunnelled in binary messages for port-forward), so the API server opens the same kind
of stream to the kubelet with the subprotocols the client offered, answers the client
with the one the kubelet chose, and copies messages both ways until either side closes.
A refusal before the upgrade is a Status (kubectl prints "Error from server").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from api import remotecommand as rc
from apiserver import errors, kubelets
from apiserver.registry import Registry

if TYPE_CHECKING:
    import aiohttp


# (kubelet URL, query) of a checked stream request, or an ApiError: exec's and attach's checks.
Target = Callable[[Registry, str, str, QueryParams],
                  Awaitable[tuple[str, list[tuple[str, str]]]]]


def is_true(v: str | None) -> bool:
    return (v or "").lower() in ("true", "1")


async def upgrade_required(verb: str, target: Target, request: Request, namespace: str,
                           name: str) -> Response:
    """A plain HTTP request (kubectl's SPDY fallback) gets the same checks, then 400: only
    WebSocket is spoken here. A kubelet that would refuse the request (401, 403) is asked
    first, and its answer passed on as Kubernetes' upgrade-aware proxy does (kubectl prints
    ``unable to upgrade connection: Forbidden (user=...)``)."""
    url, params = await target(request.app.state.registry, namespace, name,
                               request.query_params)
    refusal = await kubelet_refusal(url, params)
    if refusal is not None:
        return refusal
    raise errors.bad_request(
        f"Upgrade request required: {verb} is served over WebSocket "
        f"(subprotocols {', '.join(rc.PROTOCOLS)})")


async def kubelet_refusal(url: str, params: list[tuple[str, str]]) -> Response | None:
    """The kubelet's own 401/403 for a POST of this stream (verb create), else None."""
    import aiohttp

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s, \
                s.post(url, params=params, ssl=kubelets.current().aiohttp_ssl()) as r:
            if r.status in (401, 403):
                return Response(await r.read(), status_code=r.status,
                                media_type="text/plain; charset=utf-8")
    except (aiohttp.ClientError, OSError, TimeoutError):
        pass
    return None


async def serve_channels(verb: str, target: Target, ws: WebSocket) -> None:
    """A channel-protocol stream (exec, attach): check, pick a protocol the client
    offered, relay to the kubelet."""
    namespace, name = ws.path_params["namespace"], ws.path_params["name"]
    try:
        url, params = await target(ws.app.state.registry, namespace, name, ws.query_params)
    except errors.ApiError as e:
        await deny(ws, e)
        return
    protocols = offered(ws, rc.PROTOCOLS)
    if not protocols:
        await deny(ws, errors.bad_request(
            f"no supported stream protocol offered; supported: {', '.join(rc.PROTOCOLS)}"))
        return
    await relay(ws, url, params, protocols, verb)


async def deny(ws: WebSocket, e: errors.ApiError) -> None:
    await ws.send_denial_response(
        Response(e.body(), status_code=e.code, media_type="application/json"))


def offered(ws: WebSocket, supported: tuple[str, ...]) -> list[str]:
    """The subprotocols the client offered that ``supported`` holds, in its order."""
    got = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",")]
    return [p for p in got if p in supported]


async def _to_client(upstream: aiohttp.ClientWebSocketResponse, ws: WebSocket) -> None:
    import aiohttp

    async for msg in upstream:
        if msg.type == aiohttp.WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
        elif msg.type == aiohttp.WSMsgType.TEXT:
            await ws.send_text(msg.data)


async def _to_kubelet(ws: WebSocket, upstream: aiohttp.ClientWebSocketResponse) -> None:
    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            return
        if msg.get("bytes") is not None:
            await upstream.send_bytes(msg["bytes"])
        elif msg.get("text") is not None:
            await upstream.send_str(msg["text"])


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


async def relay(ws: WebSocket, url: str, params: list[tuple[str, str]],
                protocols: list[str], what: str) -> None:
    """Connect to the kubelet's ``url`` and copy messages until either side closes.
    ``what`` names the stream in the refusals ("exec", "attach", "port-forward")."""
    # Imported on the first stream: aiohttp costs the API server ~8 MB of RSS for good.
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None,
                                                                   sock_connect=10)) as s:
        try:
            upstream = await s.ws_connect(url, params=params, protocols=protocols,
                                          autoping=True, max_msg_size=0,
                                          ssl=kubelets.current().aiohttp_ssl())
        except aiohttp.WSServerHandshakeError as e:
            # the kubelet's refusal passed on (its 401/403 say who may not do what)
            code = e.status if e.status in (400, 401, 403, 404) else 503
            await deny(ws, errors.ApiError(
                code, {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden",
                       404: "NotFound"}.get(code, "ServiceUnavailable"),
                f"the kubelet refused the {what} stream: {e.status} {_phrase(e.status)}"))
            return
        except (aiohttp.ClientError, OSError) as e:
            base = url.split("/", 3)
            await deny(ws, errors.unavailable(
                f"error trying to reach the kubelet at {'/'.join(base[:3])}: {e}"))
            return
        async with upstream:
            await ws.accept(subprotocol=upstream.protocol)
            tasks = {asyncio.create_task(_to_client(upstream, ws)),
                     asyncio.create_task(_to_kubelet(ws, upstream))}
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                with contextlib.suppress(Exception, WebSocketDisconnect):
                    await ws.close(1000)
