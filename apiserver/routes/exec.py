"""pods/{name}/exec: the client's WebSocket relayed to the kubelet of the pod's node.

kubectl (1.30+) speaks Kubernetes' v5/v4 channel protocol over WebSocket; the kubelet
speaks the same, so the API server only checks the request and relays the stream
(routes/streams.py). A request that fails the checks is refused
before the upgrade with a Status, which kubectl prints as "Error from server". A
plain HTTP request (kubectl's SPDY fallback) gets the same checks, then 400: only
WebSocket is spoken here.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from api import resources
from apiserver import errors
from apiserver.kubelets import kubelet_url
from apiserver.registry import Registry
from apiserver.routes import streams

_PASS = ("command", "stdin", "stdout", "stderr", "tty")


_STATUSES = ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses")


def all_container_names(spec: dict[str, Any]) -> set[str]:
    """Every container of the pod (podutil.AllContainers: init, regular, ephemeral)."""
    return {str(c.get("name")) for key in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(key) or [] if isinstance(c, dict)}


async def container_target(reg: Registry, namespace: str, name: str, container: str | None,
                           verb: str) -> tuple[str, str]:
    """(kubelet base URL, container) for exec or attach, or ApiError: Kubernetes'
    streamLocation checks, plus the completed-pod and not-running refusals."""
    pod = (await reg.get(resources.PODS, namespace, name)).obj
    spec = pod.get("spec") or {}
    containers = [str(c.get("name")) for c in spec.get("containers") or []
                  if isinstance(c, dict)]
    if not container:
        if len(containers) != 1:
            raise errors.bad_request(
                f"a container name must be specified for pod {name}, choose one of: "
                f"[{' '.join(containers)}]")
        container = containers[0]
    elif container not in all_container_names(spec):
        raise errors.bad_request(f"container {container} is not valid for pod {name}")
    node_name = spec.get("nodeName")
    if not node_name:
        raise errors.bad_request(f"pod {name} does not have a host assigned")
    status = pod.get("status") or {}
    phase = status.get("phase")
    if phase in ("Succeeded", "Failed"):
        into = "exec into" if verb == "exec" else "attach"
        raise errors.bad_request(
            f"cannot {into} a container in a completed pod; current phase is {phase}")
    running = {str(cs.get("name")) for key in _STATUSES for cs in status.get(key) or []
               if isinstance(cs, dict) and (cs.get("state") or {}).get("running")}
    if container not in running:
        # The kubelet's answer for a container it has not started (yet).
        raise errors.bad_request(
            f'unable to upgrade connection: container not found ("{container}")')
    return await kubelet_base(reg, node_name), container


async def kubelet_base(reg: Registry, node_name: str) -> str:
    node = (await reg.get(resources.NODES, None, node_name)).obj
    base = await kubelet_url(node)
    if base is None:
        raise errors.unavailable(f"node {node_name} reports no kubelet address and port")
    return base


async def _target(reg: Registry, namespace: str, name: str,
                  query: QueryParams) -> tuple[str, list[tuple[str, str]]]:
    """The kubelet URL and query for this exec, or ApiError: Kubernetes' checks."""
    if not query.getlist("command"):
        raise errors.bad_request("you must specify at least 1 command")
    if not any(streams.is_true(query.get(k)) for k in ("stdin", "stdout", "stderr")):
        raise errors.bad_request("you must specify at least one of stdin, stdout, stderr")
    await reg.connect(resources.PODS, namespace, name, "exec", query)
    base, container = await container_target(reg, namespace, name, query.get("container"),
                                             "exec")
    params = [(k, v) for k in _PASS for v in query.getlist(k)]
    return f"{base}/exec/{namespace}/{name}/{container}", params


async def pod_exec_http(request: Request, namespace: str, name: str) -> Response:
    return await streams.upgrade_required("exec", _target, request, namespace, name)


async def pod_exec_ws(ws: WebSocket) -> None:
    await streams.serve_channels("exec", _target, ws)


ROUTES = [WebSocketRoute("/api/v1/namespaces/{namespace}/pods/{name}/exec", pod_exec_ws)]
