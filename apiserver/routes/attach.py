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

from api import resources
from apiserver import errors
from apiserver.registry import Registry
from apiserver.routes import streams
from apiserver.routes.exec import container_target

_PASS = ("stdin", "stdout", "stderr", "tty")


async def _target(reg: Registry, namespace: str, name: str, q: QueryParams
                  ) -> tuple[str, list[tuple[str, str]]]:
    if not any(streams.is_true(q.get(k)) for k in ("stdin", "stdout", "stderr")):
        raise errors.bad_request("you must specify at least one of stdin, stdout, stderr")
    await reg.connect(resources.PODS, namespace, name, "attach", q)
    base, container = await container_target(reg, namespace, name, q.get("container"),
                                             "attach")
    params = [(k, v) for k in _PASS for v in q.getlist(k)]
    return f"{base}/attach/{namespace}/{name}/{container}", params


async def pod_attach_http(request: Request, namespace: str, name: str) -> Response:
    return await streams.upgrade_required("attach", _target, request, namespace, name)


async def pod_attach_ws(ws: WebSocket) -> None:
    await streams.serve_channels("attach", _target, ws)


ROUTES = [WebSocketRoute("/api/v1/namespaces/{namespace}/pods/{name}/attach", pod_attach_ws)]
