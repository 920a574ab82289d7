"""pods/{name}/exec: the client's WebSocket relayed to the kubelet of the pod's node.

kubectl (1.30+) speaks Kubernetes' v5/v4 channel protocol over WebSocket; the kubelet
speaks the same, so the API server only checks the request, opens the same kind of
stream to the kubelet with the subprotocol the client offered, and copies messages
both ways until either side closes. A request that fails the checks is refused
before the upgrade with a Status, which kubectl prints as "Error from server". A
plain HTTP request (kubectl's SPDY fallback) gets the same checks, then 400: only
WebSocket is spoken here.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from api import remotecommand as rc
from api import resources
from apiserver import errors
from apiserver.kubelets import kubelet_url
from apiserver.registry import Registry

if TYPE_CHECKING:
    import aiohttp

_PASS = ("command", "stdin", "stdout", "stderr", "tty")


def _true(v: str | None) -> bool:
    return (v or "").lower() in ("true", "1")


async def _target(reg: Registry, namespace: str, name: str,
                  query: Any) -> tuple[str, list[tuple[str, str]]]:
    """The kubelet URL and query for this exec, or ApiError: Kubernetes' checks."""
    if not query.getlist("command"):
        raise errors.bad_request("you must specify at least 1 command")
    if not any(_true(query.get(k)) for k in ("stdin", "stdout", "stderr")):
        raise errors.bad_request("you must specify at least one of stdin, stdout, stderr")
    pod = (await reg.get(resources.PODS, namespace, name)).obj
    spec = pod.get("spec") or {}
    containers = [str(c.get("name")) for c in spec.get("containers") or []
                  if isinstance(c, dict)]
    container = query.get("container")
    if not container:
        if len(containers) != 1:
            raise errors.bad_request(
                f"a container name must be specified for pod {name}, choose one of: "
                f"[{' '.join(containers)}]")
        container = containers[0]
    elif container not in containers:
        raise errors.bad_request(f"container {container} is not valid for pod {name}")
    node_name = spec.get("nodeName")
    if not node_name:
        raise errors.bad_request(f"pod {name} does not have a host assigned")
    status = pod.get("status") or {}
    phase = status.get("phase")
    if phase in ("Succeeded", "Failed"):
        raise errors.bad_request(
            f"cannot exec into a container in a completed pod; current phase is {phase}")
    running = {str(cs.get("name")) for cs in status.get("containerStatuses") or []
               if isinstance(cs, dict) and (cs.get("state") or {}).get("running")}
    if container not in running:
        # The kubelet's answer for a container it has not started (yet).
        raise errors.bad_request(
            f'unable to upgrade connection: container not found ("{container}")')
    node = (await reg.get(resources.NODES, None, node_name)).obj
    base = kubelet_url(node)
    if base is None:
        raise errors.unavailable(f"node {node_name} reports no kubelet address and port")
    params = [(k, v) for k in _PASS for v in query.getlist(k)]
    return f"{base}/exec/{namespace}/{name}/{container}", params


async def pod_exec_http(request: Request, namespace: str, name: str) -> Response:
    await _target(request.app.state.registry, namespace, name, request.query_params)
    raise errors.bad_request(
        "Upgrade request required: exec is served over WebSocket "
        f"(subprotocols {', '.join(rc.PROTOCOLS)})")


async def _deny(ws: WebSocket, e: errors.ApiError) -> None:
    await ws.send_denial_response(
        Response(e.body(), status_code=e.code, media_type="application/json"))


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


async def pod_exec_ws(ws: WebSocket) -> None:
    namespace, name = ws.path_params["namespace"], ws.path_params["name"]
    try:
        url, params = await _target(ws.app.state.registry, namespace, name, ws.query_params)
    except errors.ApiError as e:
        await _deny(ws, e)
        return
    offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",")]
    protocols = [p for p in offered if p in rc.PROTOCOLS]
    if not protocols:
        await _deny(ws, errors.bad_request(
            f"no supported stream protocol offered; supported: {', '.join(rc.PROTOCOLS)}"))
        return
    # Imported on the first exec: aiohttp costs the API server ~8 MB of RSS for good.
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None,
                                                                   sock_connect=10)) as s:
        try:
            upstream = await s.ws_connect(url, params=params, protocols=protocols,
                                          autoping=True, max_msg_size=0)
        except aiohttp.WSServerHandshakeError as e:
            code = e.status if e.status in (400, 404) else 503
            await _deny(ws, errors.ApiError(
                code, {400: "BadRequest", 404: "NotFound"}.get(code, "ServiceUnavailable"),
                f"the kubelet refused the exec stream: {e.status} {e.message}"))
            return
        except (aiohttp.ClientError, OSError) as e:
            await _deny(ws, errors.unavailable(
                f"error trying to reach the kubelet at {url.split('/exec/')[0]}: {e}"))
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


ROUTES = [WebSocketRoute("/api/v1/namespaces/{namespace}/pods/{name}/exec", pod_exec_ws)]
