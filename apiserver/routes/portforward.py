"""pods/{name}/portforward: kubectl port-forward's SPDY-over-WebSocket stream relayed to
the kubelet of the pod's node (``/portForward/{namespace}/{pod}``).

kubectl 1.30+ first asks for a WebSocket with the subprotocol
``SPDY/3.1+portforward.k8s.io`` (the SPDY/3.1 bytes in binary messages); the kubelet
serves the same tunnel, so the API server checks the request (Kubernetes'
PortForwardLocation: the pod exists and has a node) and relays the messages
(routes/streams.py) without looking into them. The official clients' WebSocket channel
protocol (``v4.channel.k8s.io``, ports in ``?ports=``) is relayed the same way. A plain request (kubectl's fallback to
``Upgrade: SPDY/3.1``) gets the same checks, then 400: only the tunnel is spoken here.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from api import portforward as pf
from api import resources
from apiserver import errors
from apiserver.registry import Registry
from apiserver.routes import streams
from apiserver.routes.exec import kubelet_base

SUPPORTED = (pf.TUNNELING_PROTOCOL, pf.CHANNEL_PROTOCOL_V4)


async def _target(reg: Registry, namespace: str, name: str) -> str:
    await reg.connect(resources.PODS, namespace, name, "portforward")
    pod = (await reg.get(resources.PODS, namespace, name)).obj
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise errors.bad_request(f"pod {name} does not have a host assigned")
    return f"{await kubelet_base(reg, node_name)}/portForward/{namespace}/{name}"


async def pod_portforward_http(request: Request, namespace: str, name: str) -> Response:
    url = await _target(request.app.state.registry, namespace, name)
    refusal = await streams.kubelet_refusal(url, [])
    if refusal is not None:
        return refusal  # the kubelet's own 401/403, as exec's and attach's
    raise errors.bad_request(
        "Upgrade request required: port-forward is served over WebSocket "
        f"(subprotocol {pf.TUNNELING_PROTOCOL})")


async def pod_portforward_ws(ws: WebSocket) -> None:
    namespace, name = ws.path_params["namespace"], ws.path_params["name"]
    try:
        url = await _target(ws.app.state.registry, namespace, name)
    except errors.ApiError as e:
        await streams.deny(ws, e)
        return
    protocols = streams.offered(ws, SUPPORTED)
    if not protocols:
        await streams.deny(ws, errors.bad_request(
            f"no supported stream protocol offered; supported: {', '.join(SUPPORTED)}"))
        return
    # PodPortForwardOptions.ports, passed on as the kubelet's ``port`` (streamParams).
    params: list[tuple[str, str]] = []
    if values := ws.query_params.getlist("ports"):
        try:
            params = [("port", ",".join(str(p) for p in pf.parse_ports(values)))]
        except ValueError as e:
            await streams.deny(ws, errors.bad_request(str(e)))
            return
    await streams.relay(ws, url, params, protocols, "port-forward")


ROUTES = [WebSocketRoute("/api/v1/namespaces/{namespace}/pods/{name}/portforward",
                         pod_portforward_ws)]
