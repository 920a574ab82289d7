"""pods/{name}/attach: kubectl attach's (and kubectl run -i's) stream, relayed to the kubelet.

The same channel protocol as exec (v5/v4.channel.k8s.io), the same checks (Kubernetes'
AttachLocation is exec's streamLocation without a command), the same relay
(routes/streams.py) to the kubelet's ``/attach/{namespace}/{pod}/{container}``.
"""

from __future__ import annotations

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from api import remotecommand as rc
from apiserver import errors
from apiserver.registry import Registry
from apiserver.routes import streams
from apiserver.routes.exec import container_target

_PASS = ("stdin", "stdout", "stderr", "tty")


def _true(v: str | None) -> bool:
    return (v or "").lower() in ("true", "1")


async def _target(reg: Registry, namespace: str, name: str, q: QueryParams
                  ) -> tuple[str, list[tuple[str, str]]]:
    if not any(_true(q.get(k)) for k in ("stdin", "stdout", "stderr")):
        raise errors.bad_request("you must specify at least one of stdin, stdout, stderr")
    base, container = await container_target(reg, namespace, name, q.get("container"),
                                             "attach")
    params = [(k, v) for k in _PASS for v in q.getlist(k)]
    return f"{base}/attach/{namespace}/{name}/{container}", params


async def pod_attach_http(request: Request, namespace: str, name: str) -> Response:
    await _target(request.app.state.registry, namespace, name, request.query_params)
    raise errors.bad_request(
        "Upgrade request required: attach is served over WebSocket "
        f"(subprotocols {', '.join(rc.PROTOCOLS)})")


async def pod_attach_ws(ws: WebSocket) -> None:
    namespace, name = ws.path_params["namespace"], ws.path_params["name"]
    try:
        url, params = await _target(ws.app.state.registry, namespace, name, ws.query_params)
    except errors.ApiError as e:
        await streams.deny(ws, e)
        return
    protocols = streams.offered(ws, rc.PROTOCOLS)
    if not protocols:
        await streams.deny(ws, errors.bad_request(
            f"no supported stream protocol offered; supported: {', '.join(rc.PROTOCOLS)}"))
        return
    await streams.relay(ws, url, params, protocols, "attach")


ROUTES = [WebSocketRoute("/api/v1/namespaces/{namespace}/pods/{name}/attach", pod_attach_ws)]
