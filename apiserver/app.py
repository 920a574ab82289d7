"""Assembles the API server: storage, watch caches, routes, middlewares, error handlers.

``create_app(config)`` is the single place that wires modules together; a module
with routes exposes a ``router`` (FastAPI) or ``ROUTES`` (Starlette) and is added
in ``_include_routes``. Discovery/OpenAPI/metrics come before the resource routes.
Every part is a plain import: a broken module stops the server at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import resources
from apiserver import (
    admission_plugins,
    autoscaling_v1,
    discovery,
    errors,
    events_v1,
    kubelets,
    metrics,
    openapi,
    served_versions,
)
from apiserver.admission_plugins import basic as _basic_admission  # noqa: F401 (registers)
from apiserver.admission_plugins import (  # noqa: F401 (registers)
    certificates as _certificates_admission,
)
from apiserver.admission_plugins import (  # noqa: F401 (registers)
    defaulttolerationseconds as _default_toleration_seconds,
)
from apiserver.admission_plugins import limitranger as _limitranger  # noqa: F401
from apiserver.admission_plugins import networking as _networking_admission  # noqa: F401
from apiserver.admission_plugins import (  # noqa: F401 (registers)
    noderestriction as _noderestriction,
)
from apiserver.admission_plugins import podsecurity as _podsecurity  # noqa: F401 (registers)
from apiserver.admission_plugins import resourcequota as _resourcequota  # noqa: F401
from apiserver.admission_plugins import (  # noqa: F401 (registers)
    serviceaccount as _serviceaccount_admission,
)
from apiserver.admission_plugins import storage as _storage_admission  # noqa: F401
from apiserver.audit import configure as configure_audit
from apiserver.auth import authorizer, bootstrappolicy, escalation, rbac
from apiserver.auth import chain as authn_chain
from apiserver.auth import node as _node_authz  # noqa: F401 (registers the Node mode)
from apiserver.auth import serviceaccount as sa_tokens
from apiserver.auth.middleware import AuthMiddleware
from apiserver.compaction import compact_forever
from apiserver.config import Config
from apiserver.crd.controller import CRDController
from apiserver.protobuf_middleware import ProtobufMiddleware
from apiserver.registry import Registry
from apiserver.response_headers import ResponseHeadersMiddleware
from apiserver.routes import attach as attach_routes
from apiserver.routes import authentication as _authn_reviews  # noqa: F401 (registers)
from apiserver.routes import exec as exec_routes
from apiserver.routes import health
from apiserver.routes import portforward as portforward_routes
from apiserver.routes import proxy as proxy_routes
from apiserver.routes import resources as resource_routes
from apiserver.services.bootstrap import KubernetesService, first_service_ip, host_address
from apiserver.services.repair import Repair, event_recorder
from apiserver.services.rest import ServiceAllocations
from apiserver.storage import EtcdStorage, Storage, StorageError
from apiserver.storage.encryption import EncryptingStorage, load_config
from apiserver.strategies import namespace as namespaces
from apiserver.table_middleware import TableMiddleware
from apiserver.warning import RequestNotesMiddleware
from apiserver.watchcache import WatchCache

log = logging.getLogger("apiserver")
access_log = logging.getLogger("apiserver.access")


class AccessLogMiddleware:
    """One structured line per request at debug level (method, path, code, ms)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.DEBUG):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        code = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            qs = bytes(scope.get("query_string") or b"").decode("latin-1")
            access_log.debug(
                "request method=%s path=%s%s code=%d ms=%.1f", scope["method"], scope["path"],
                f"?{qs}" if qs else "", code, (time.perf_counter() - start) * 1000)


def _status_response(e: errors.ApiError) -> Response:
    return Response(e.body(), status_code=e.code, media_type="application/json",
                    headers=e.headers())


def _install_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, errors.ApiError)
        return _status_response(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return _status_response(errors.path_not_found(request.url.path))
        if exc.status_code == 405:
            return _status_response(errors.method_not_allowed(request.method))
        return _status_response(errors.ApiError(exc.status_code, "BadRequest"
                                                if exc.status_code < 500 else "InternalError",
                                                str(exc.detail)))

    async def validation_error(request: Request, exc: Exception) -> Response:
        return _status_response(errors.bad_request(str(exc)))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _status_response(errors.internal(type(exc).__name__))

    app.add_exception_handler(errors.ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)


def _include_routes(app: FastAPI) -> None:
    app.include_router(health.router)
    app.include_router(discovery.router)
    app.include_router(openapi.router)
    app.include_router(metrics.router)
    for route in resource_routes.ROUTES:
        app.router.routes.append(route)
    # WebSocket routes: the resource routes above match only HTTP requests.
    app.router.routes.extend(exec_routes.ROUTES)
    app.router.routes.extend(attach_routes.ROUTES)
    app.router.routes.extend(portforward_routes.ROUTES)


class ApiServerApp(FastAPI):
    """FastAPI whose resource requests skip the framework's own layers.

    ``outer`` middlewares (outermost first) wrap everything; inside them the
    ResourceRouter serves resource paths directly and hands every other request to
    the usual FastAPI stack (error middleware, exception handlers, router). On a pod
    create the skipped layers cost about as much as the handler.
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.outer: list[Callable[[ASGIApp], ASGIApp]] = []

    def build_middleware_stack(self) -> ASGIApp:
        app: ASGIApp = resource_routes.ResourceRouter(super().build_middleware_stack())
        for mw in reversed(self.outer):
            app = mw(app)
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Resource requests go straight to the built stack: FastAPI's own __call__
        # asks its OpenTelemetry hooks (opt-in, unconfigured here) whether they are
        # enabled on every request. Lifespan and everything else take its path.
        stack = self.middleware_stack
        if stack is not None and scope["type"] == "http" and not self.root_path \
                and scope["path"].startswith(("/api/", "/apis/")):
            scope["app"] = self
            await stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _install_middlewares(app: ApiServerApp) -> None:
    # Outermost first. Table conversion and protobuf decoding wrap the handlers.
    # Audit-Id and Cache-Control on every response (kube-apiserver's filters).
    app.outer.append(ResponseHeadersMiddleware)
    app.outer.append(AccessLogMiddleware)
    app.outer.append(metrics.MetricsMiddleware)
    # Warning headers and audit annotations that handlers record (apiserver/warning.py).
    app.outer.append(RequestNotesMiddleware)
    # Audit: outside authentication, so refused requests are audited too.
    if app.state.audit is not None:
        app.outer.append(app.state.audit.middleware)
    # Authentication, impersonation, authorization (apiserver/auth): who, and may they.
    app.outer.append(lambda inner: AuthMiddleware(inner, app.state))
    # autoscaling/v1 HorizontalPodAutoscalers and events.k8s.io/v1 Events, converted to and
    # from their storage versions (autoscaling/v2, core/v1).
    for spec in (autoscaling_v1.SPEC, events_v1.SPEC):
        discovery.register_converted(spec.outer)
        app.outer.append(served_versions.middleware(spec))
    # kubectl create sends protobuf bodies; routes see the equivalent JSON.
    app.outer.append(ProtobufMiddleware)
    app.outer.append(TableMiddleware)


def create_app(config: Config) -> FastAPI:
    storage: Storage = EtcdStorage(config.etcd_servers)
    if config.encryption_provider_config:
        # Secrets (or what the file names) encrypted at rest; a bad file stops the server.
        storage = EncryptingStorage(storage, load_config(config.encryption_provider_config))
    caches = {r.plural: WatchCache(r, storage, config.watch_cache_capacity,
                                   config.watcher_queue,
                                   fresh_seconds=config.watch_cache_fresh_seconds)
              for r in resources.ALL
              # componentstatuses are computed on each read, the reviews answered on
              # create: neither is stored
              if "watch" in r.verbs}
    allocations = ServiceAllocations(storage, config.service_cluster_ip_range,
                                     config.service_node_port_range)
    registry = Registry(storage, caches, config.event_ttl,
                        hooks={resources.SERVICES.plural: allocations})
    # CustomResourceDefinitions: their kinds served as they change (apiserver/crd).
    crds = CRDController(registry, storage, caches, config.watch_cache_capacity,
                         config.watcher_queue, config.watch_cache_fresh_seconds)
    registry.hooks[resources.CUSTOMRESOURCEDEFINITIONS.plural] = crds
    repair = Repair(storage, allocations, event_recorder(
        lambda namespace, event: registry.create(resources.EVENTS, namespace, event)))
    kubernetes_service = KubernetesService(
        registry, first_service_ip(config.service_cluster_ip_range), config.api_port,
        config.advertise_address or host_address(), config.endpoint_reconciler_type,
        config.endpoint_reconciler_lease_ttl)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.audit is not None:
            app.state.audit.start()
        await storage.start()
        for c in caches.values():
            c.start()
        tasks = [asyncio.create_task(
            _bootstrap(registry, app.state, repair, kubernetes_service, config),
            name="bootstrap")]
        tasks.append(asyncio.create_task(crds.run(), name="crd-controller"))
        if config.compaction_interval > 0:
            tasks.append(asyncio.create_task(
                compact_forever(storage, config.compaction_interval), name="compaction"))
        _register_cache_metrics(caches)
        try:
            yield
        finally:
            app.state.shutting_down = True  # /readyz's shutdown check
            await proxy_routes.close()
            for t in tasks:
                t.cancel()
            # Wait until they have stopped: nothing outlives the storage they use.
            await asyncio.gather(*tasks, return_exceptions=True)
            for c in caches.values():
                await c.stop()
            await storage.close()
            if app.state.audit is not None:
                await app.state.audit.close()

    app = ApiServerApp(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    app.state.config = config
    app.state.kubelet_client = kubelets.configure(config)  # apiserver/kubelets.py
    app.state.storage = storage
    app.state.caches = caches
    app.state.registry = registry
    app.state.kubernetes_service = kubernetes_service  # stop_soon() on SIGTERM
    app.state.bootstrapped = False
    app.state.open_watches = 0
    app.state.bookmark_interval = config.bookmark_interval
    app.state.authenticator = authn_chain.build(config, caches)
    # ServiceAccount tokens: TokenRequest's signer and the token authenticator
    sa_tokens.install(app.state, sa_tokens.from_config(config))
    # --audit-log-path + --audit-policy-file (a bad policy: ValueError, no start)
    app.state.audit = configure_audit(config.audit_log_path, config.audit_policy_file)
    app.state.authorizer = authorizer.build(config.authorization_modes, app.state)
    # RBAC: one index of the roles and bindings (the RBAC mode, the escalation checks on
    # RBAC writes and the rules reviews read it), and the default policy at start
    rbac.index_for(app.state)
    registry.hooks.update(escalation.store_hooks(app.state))
    # The admission chain (unknown plugin names: ValueError, the server does not start).
    app.state.admission = registry.admission = admission_plugins.build(
        config.enable_admission_plugins, config.disable_admission_plugins, app.state)
    _install_error_handlers(app)
    _include_routes(app)
    _install_middlewares(app)
    return app


async def _bootstrap(registry: Registry, state: Any, repair: Repair,
                     kubernetes_service: KubernetesService, config: Config) -> None:
    """Create the namespaces that always exist and run the first repair pass of the
    Service allocators (retrying until etcd answers), then report ready and keep the
    ``kubernetes`` Service and the allocators in repair (kube-apiserver's bootstrap
    controller and its start-service-ip-repair-controllers post-start hook)."""
    delay = 0.1
    while True:
        try:
            await registry.ensure_exists(namespaces.INFO, namespaces.bootstrap_objects())
            await repair.run_once()
            await bootstrappolicy.reconcile(registry)
            break
        except (StorageError, errors.ApiError) as e:
            log.warning("bootstrap: %s; retrying", e)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    state.bootstrapped = True
    await asyncio.gather(
        kubernetes_service.run(config.endpoint_reconcile_interval),
        repair.run_forever(config.service_repair_interval))


def _register_cache_metrics(caches: dict[str, WatchCache]) -> None:
    def sizes() -> dict[str, metrics.CacheStats]:
        return {p: c.stats() for p, c in caches.items()}

    with contextlib.suppress(Exception):
        metrics.register_watch_cache_sizes(sizes)
