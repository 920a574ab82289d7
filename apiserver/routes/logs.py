"""pods/{name}/log: proxied to the kubelet of the pod's node, streamed through."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from api import resources
from apiserver import errors, kubelets
from apiserver.registry import Registry

_PASS = ("follow", "tailLines", "timestamps", "previous", "sinceSeconds", "limitBytes")


async def pod_log(request: Request, namespace: str, name: str) -> Response:
    reg: Registry = request.app.state.registry
    pod = (await reg.get(resources.PODS, namespace, name)).obj
    spec = pod.get("spec") or {}
    containers = [c.get("name") for c in spec.get("containers") or [] if isinstance(c, dict)]
    container = request.query_params.get("container")
    if not container:
        if len(containers) != 1:
            raise errors.bad_request(
                f"a container name must be specified for pod {name}, choose one of: "
                f"[{' '.join(str(c) for c in containers)}]")
        container = str(containers[0])
    elif container not in containers:
        raise errors.bad_request(f"container {container} is not valid for pod {name}")
    node_name = spec.get("nodeName")
    if not node_name:
        raise errors.bad_request(f'pod {name} does not have a host assigned')
    node = (await reg.get(resources.NODES, None, node_name)).obj
    kc = kubelets.current()
    base = await kc.base_url(node)
    if base is None:
        raise errors.unavailable(f"node {node_name} reports no kubelet address and port")
    params = {k: request.query_params[k] for k in _PASS if k in request.query_params}
    url = f"{base}/containerLogs/{namespace}/{name}/{container}"
    client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None),
                               verify=kc.ssl_context() or True, trust_env=False)
    try:
        req = client.build_request("GET", url, params=params)
        upstream = await client.send(req, stream=True)
    except httpx.HTTPError as e:
        await client.aclose()
        # Kubernetes says 500 here; 503 tells a client the same and that retrying helps.
        raise errors.unavailable(f"error trying to reach the kubelet at {base}: {e}") from None
    if upstream.status_code >= 400:
        text = (await upstream.aread()).decode(errors="replace").strip()
        await upstream.aclose()
        await client.aclose()
        code = upstream.status_code
        if code in (400, 404):
            raise errors.ApiError(code, "BadRequest" if code == 400 else "NotFound",
                                  text or f"the kubelet answered {code}")
        if code in (401, 403):
            # GenericHttpResponseChecker: NewGenericServerResponse(code, "", pods/log, name)
            message = text if code == 403 else \
                "the server has asked for the client to provide credentials"
            raise errors.ApiError(
                code, "Forbidden" if code == 403 else "Unauthorized",
                f"{message} ( pods/log {name})",
                {"name": name, "kind": "pods/log", "causes": [{"message": text}]})
        raise errors.unavailable(f"the kubelet answered {code}: {text}")

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        except httpx.HTTPError:
            return

    async def close() -> None:
        await upstream.aclose()
        await client.aclose()

    return StreamingResponse(body(), media_type="text/plain",
                             background=BackgroundTask(close))
