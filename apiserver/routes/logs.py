"""pods/{name}/log: proxied to the kubelet of the pod's node, streamed through.

As kube-apiserver's LogREST: the options are validated (ValidatePodLogOptions: 422 Invalid
PodLogOptions), the container chosen or checked against every container of the pod (init and
ephemeral ones too; 400 as validateContainer words it), a pod no node runs yet answers 204
(no log), and the kubelet's own errors come back as GenericHttpResponseChecker makes them
(400: BadRequest with the kubelet's message, such as ``container "x" in pod "p" is waiting to
start: ContainerCreating``; 404: NotFound; 500: InternalError).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from api import podlogs, resources
from apiserver import errors, kubelets
from apiserver.registry import Registry

_CONTAINER_KEYS = ("initContainers", "containers", "ephemeralContainers")
# GenericHttpResponseChecker / NewGenericServerResponse: (reason, message) per code
_GENERIC = {404: ("NotFound", "the server could not find the requested resource"),
            401: ("Unauthorized", "the server has asked for the client to provide credentials"),
            422: ("Invalid", "the server rejected our request due to an error in our request")}


def _options(request: Request, name: str) -> podlogs.LogOptions:
    q = request.query_params
    try:
        opts = podlogs.decode({k: q[k] for k in ("follow", "previous", "timestamps", "tailLines",
                                                 "sinceSeconds", "sinceTime", "limitBytes")
                               if k in q})
    except ValueError as e:
        raise errors.bad_request(str(e)) from None
    errs = podlogs.validate(opts)
    if errs:
        causes: list[dict[str, Any]] = []
        texts = []
        for field, message, value in errs:
            if field:
                body = f"Invalid value: {value}: {message}"
                causes.append({"reason": "FieldValueInvalid", "message": body, "field": field})
            else:
                body = f"Forbidden: {message}"
                causes.append({"reason": "FieldValueForbidden", "message": body, "field": ""})
            texts.append(f"{field}: {body}")
        agg = texts[0] if len(texts) == 1 else f"[{', '.join(texts)}]"
        raise errors.ApiError(422, "Invalid", f'PodLogOptions "{name}" is invalid: {agg}',
                              {"name": name, "kind": "PodLogOptions", "causes": causes})
    return opts


def _container(pod: dict[str, Any], name: str, container: str | None) -> str:
    """validateContainer: the named container must exist; without a name, the only one."""
    spec = pod.get("spec") or {}
    names = [str(c.get("name")) for key in _CONTAINER_KEYS for c in spec.get(key) or []
             if isinstance(c, dict)]
    if not container:
        regular = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
        if len(regular) == 1:
            return str(regular[0].get("name"))
        if not regular:
            raise errors.bad_request(f"a container name must be specified for pod {name}")
        raise errors.bad_request(f"a container name must be specified for pod {name}, "
                                 f"choose one of: [{' '.join(names)}]")
    if container not in names:
        raise errors.bad_request(f"container {container} is not valid for pod {name}")
    return container


def _params(opts: podlogs.LogOptions) -> dict[str, str]:
    """LogLocation's query to the kubelet."""
    p: dict[str, str] = {}
    if opts.follow:
        p["follow"] = "true"
    if opts.previous:
        p["previous"] = "true"
    if opts.timestamps:
        p["timestamps"] = "true"
    if opts.since_seconds is not None:
        p["sinceSeconds"] = str(opts.since_seconds)
    if opts.since_time_text is not None:
        p["sinceTime"] = opts.since_time_text
    if opts.tail_lines is not None:
        p["tailLines"] = str(opts.tail_lines)
    if opts.limit_bytes is not None:
        p["limitBytes"] = str(opts.limit_bytes)
    return p


def _kubelet_error(code: int, text: str, name: str) -> errors.ApiError:
    if code == 400:
        return errors.bad_request(text)
    if code == 500:
        return errors.internal(text)
    if code == 403:
        # NewGenericServerResponse(403, ...) keeps the kubelet's message for Forbidden
        reason, message = "Forbidden", text
    else:
        reason, message = _GENERIC.get(code, (
            "Unknown", f"the server responded with the status code {code} but did not "
                       "return more information"))
    return errors.ApiError(code, reason, f"{message} ( pods/log {name})",
                           {"name": name, "kind": "pods/log", "causes": [
                               {"reason": "UnexpectedServerResponse", "message": text}]})


async def pod_log(request: Request, namespace: str, name: str) -> Response:
    reg: Registry = request.app.state.registry
    pod = (await reg.get(resources.PODS, namespace, name)).obj
    opts = _options(request, name)
    container = _container(pod, name, request.query_params.get("container"))
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        # No node yet: LocationStreamer without a location, no stream (StreamObject: 204).
        return Response(status_code=204)
    node = (await reg.get(resources.NODES, None, node_name)).obj
    kc = kubelets.current()
    base = await kc.base_url(node)
    if base is None:
        raise errors.unavailable(f"node {node_name} reports no kubelet address and port")
    url = f"{base}/containerLogs/{namespace}/{name}/{container}"
    client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None),
                               verify=kc.ssl_context() or True, trust_env=False)
    try:
        req = client.build_request("GET", url, params=_params(opts))
        upstream = await client.send(req, stream=True)
    except httpx.HTTPError as e:
        await client.aclose()
        # Kubernetes says 500 here; 503 tells a client the same and that retrying helps.
        raise errors.unavailable(f"error trying to reach the kubelet at {base}: {e}") from None
    if upstream.status_code >= 300:
        text = (await upstream.aread()).decode(errors="replace").strip()
        await upstream.aclose()
        await client.aclose()
        raise _kubelet_error(upstream.status_code, text, name)

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
