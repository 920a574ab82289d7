"""The kubelet's HTTP endpoint: container logs and exec (which the API server proxies), health,
and the Summary API (``/stats/summary``, kubelet/stats.py) the metrics API reads.

With ``--tls-cert-file``/``--tls-private-key-file`` it is HTTPS, and kubelet/auth.py decides
who may use it (x509 client certificates, bearer tokens through TokenReview, authorization
through SubjectAccessReview); /healthz is also served, open, on a loopback port of its own.

``GET /containerLogs/{namespace}/{pod}/{container}`` takes Kubernetes' query
parameters (``follow``, ``previous``, ``timestamps``, ``tailLines``, ``sinceSeconds``,
``sinceTime``, ``limitBytes``) and answers as the kubelet's getContainerLogs: the
container instance comes from the pod's status as last written (validateContainerLogStatus:
400 with Kubernetes' words for a container that is waiting, or no previous instance); the
logs stream as they are read from the runtime, so ``follow`` ends when the container does.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from api import podlogs
from kubelet.auth import KubeletAuth
from kubelet.exec_stream import serve_attach, serve_exec
from kubelet.kubelet import Kubelet
from kubelet.metrics import KubeletMetrics
from kubelet.portforward import serve_portforward
from kubelet.runtime.base import ContainerInfo
from kubelet.stats import StatsProvider
from kubelet.status import default_waiting, log_container_id

log = logging.getLogger(__name__)


CONTAINER_KEYS = ("containers", "initContainers", "ephemeralContainers")
_STATUS_KEYS = {"containers": "containerStatuses", "initContainers": "initContainerStatuses",
                "ephemeralContainers": "ephemeralContainerStatuses"}


def with_default_waiting(spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """``status`` with a status for every spec container a sync has not reported yet, in
    the default waiting state the kubelet's first status gives it."""
    reason = default_waiting(spec)
    out = dict(status)
    for key, skey in _STATUS_KEYS.items():
        have = {s.get("name") for s in out.get(skey) or []}
        missing = [{"name": c.get("name"), "state": {"waiting": {"reason": reason}},
                    "lastState": {}} for c in spec.get(key) or [] if c.get("name") not in have]
        if missing:
            out[skey] = [*(out.get(skey) or []), *missing]
    return out


async def find_container(kl: Kubelet, namespace: str, pod: str, container: str,
                         previous: bool) -> ContainerInfo | str:
    """The container whose logs are wanted, or an error message."""
    cs = [c for c in await kl.runtime.list_containers(kl.node_name)
          if not c.is_sandbox and c.pod_namespace == namespace and c.pod_name == pod]
    if not cs:
        return f'pod "{pod}" not found on node {kl.node_name}'
    names = sorted({c.container_name for c in cs})
    if not container:
        if len(names) != 1:
            return (f"a container name must be specified for pod {pod}, choose one of: "
                    f"[{' '.join(names)}]")
        container = names[0]
    mine = sorted((c for c in cs if c.container_name == container),
                  key=lambda c: (c.restart_count, c.created_at), reverse=True)
    if not mine:
        return f'container "{container}" in pod "{pod}" is not available'
    if previous:
        if len(mine) < 2:
            return f'previous terminated container "{container}" in pod "{pod}" not found'
        return mine[1]
    return mine[0]


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def make_app(kl: Kubelet, metrics: KubeletMetrics | None = None,
             kubelets: Mapping[str, Kubelet] | None = None,
             auth: KubeletAuth | None = None) -> web.Application:
    """The endpoints of ``kl``; ``kubelets`` (hollow nodes sharing this port) are reachable
    for /stats/summary as ``?node=NAME``. ``auth`` (kubelet/auth.py) filters every request."""

    async def container_logs(request: web.Request) -> web.StreamResponse:
        ns = request.match_info["namespace"]
        pod = request.match_info["pod"]
        name = request.match_info.get("container", "")
        if not name:
            return web.Response(status=400, text='{"message": "Missing container name."}')
        try:
            opts = podlogs.decode(request.query)
        except ValueError:
            return web.Response(status=400, text='{"message": "Unable to decode query."}')
        if podlogs.validate(opts):
            return web.Response(status=422, text='{"message": "Invalid request."}')
        w = next((w for w in list(kl.workers.values()) if w.pod.metadata.name == pod
                  and w.pod.metadata.namespace == ns), None)
        if w is None:
            return web.Response(status=404, text=f'pod "{pod}" does not exist')
        spec = w.pod.spec.to_dict()
        if not any(c.get("name") == name for key in CONTAINER_KEYS
                   for c in spec.get(key) or []):
            return web.Response(status=404,
                                text=f'container "{name}" not found in pod "{pod}"')
        status = with_default_waiting(spec, w.reported_status())
        try:
            cid = log_container_id(pod, status, name, opts.previous)
        except ValueError as e:
            return web.Response(status=400, text=str(e))
        since = opts.since_time if opts.since_time is not None else (
            time.time() - opts.since_seconds if opts.since_seconds is not None else None)
        limit = opts.limit_bytes
        resp = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await resp.prepare(request)
        try:
            # closed here: a read cut short (limitBytes, a reader gone) stops the runtime's
            # stream at once instead of when the generator is collected
            chunks = kl.runtime.logs(cid, follow=opts.follow, tail=opts.tail_lines,
                                     timestamps=opts.timestamps, since=since)
            try:
                async for chunk in chunks:
                    if limit is not None:
                        chunk = chunk[:limit]
                        limit -= len(chunk)
                    await resp.write(chunk)
                    if limit is not None and limit <= 0:
                        break
            finally:
                close = getattr(chunks, "aclose", None)
                if close is not None:
                    await close()
        except KeyError:
            pass
        except (ConnectionResetError, ConnectionError):
            return resp
        with contextlib.suppress(ConnectionError):
            await resp.write_eof()
        return resp

    async def pods(request: web.Request) -> web.Response:
        items = [p.to_dict() for p in kl.pods()]
        return web.json_response({"kind": "PodList", "apiVersion": "v1", "metadata": {},
                                  "items": items})

    async def metrics_page(request: web.Request) -> web.Response:
        body = metrics.render() if metrics is not None else b""
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def exec_(request: web.Request) -> web.StreamResponse:
        return await serve_exec(kl, request, find_container)

    async def attach(request: web.Request) -> web.StreamResponse:
        return await serve_attach(kl, request, find_container)

    async def port_forward(request: web.Request) -> web.StreamResponse:
        return await serve_portforward(kl, request)

    providers: dict[str, StatsProvider] = {}

    async def stats_summary(request: web.Request) -> web.Response:
        node = request.query.get("node") or kl.node_name
        target = kl if node == kl.node_name else (kubelets or {}).get(node)
        if target is None:
            return web.Response(status=404, text=f'node "{node}" is not served here')
        stats = providers.get(node)
        if stats is None:
            stats = providers[node] = StatsProvider(node, target.runtime)
        try:
            body = await stats.summary()
        except Exception as exc:  # the runtime is down: say so, as the kubelet's 500 does
            log.warning("stats/summary: %s", exc)
            return web.Response(status=500, text=f"Internal Error: failed to get node info: {exc}")
        return web.json_response(body)

    app = web.Application(middlewares=[auth.middleware()] if auth is not None
                          and auth.config.enabled else [])
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/pods", pods)
    app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", container_logs)
    app.router.add_get("/containerLogs/{namespace}/{pod}", container_logs)
    app.router.add_get("/exec/{namespace}/{pod}/{container}", exec_)
    app.router.add_get("/exec/{namespace}/{pod}", exec_)
    app.router.add_get("/attach/{namespace}/{pod}/{container}", attach)
    app.router.add_get("/attach/{namespace}/{pod}", attach)
    app.router.add_get("/portForward/{namespace}/{pod}", port_forward)
    app.router.add_get("/stats/summary", stats_summary)
    return app


async def serve(kl: Kubelet, host: str, port: int, metrics: KubeletMetrics | None = None,
                kubelets: Mapping[str, Kubelet] | None = None, auth: KubeletAuth | None = None,
                ssl_context: ssl.SSLContext | None = None) -> web.AppRunner:
    """The kubelet API on ``host:port``: HTTPS with ``ssl_context``, else plain HTTP."""
    runner = web.AppRunner(make_app(kl, metrics, kubelets, auth), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    return runner


async def serve_healthz(host: str, port: int) -> web.AppRunner | None:
    """/healthz alone, plain HTTP, open (the kubelet's --healthz-port, 127.0.0.1:10248);
    None, with a warning, when the port is taken (as the kubelet, which runs on without)."""
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as e:
        log.warning("failed to start the healthz server on %s:%d: %s", host, port, e)
        await runner.cleanup()
        return None
    return runner
