"""REST routes for every kind in api/resources.py, at Kubernetes' paths.

Two catch-all routes (core ``/api/v1/...`` and ``/apis/<group>/<version>/...``)
resolve the path against the ResourceInfo registry and dispatch on the verb, so a
new kind needs no new handler code, and unknown paths or methods get a Status.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from api import resources
from api.resources import ResourceInfo
from apiserver import componentstatuses, errors, metrics_api
from apiserver import customresources as served
from apiserver.customresources import CustomResourceInfo
from apiserver.routes import customresources as crd_handler
from apiserver.routes import reviews, subresources
from apiserver.routes.common import flag, json_response
from apiserver.routes.verbs import (
    create,
    delete,
    delete_collection,
    list_,
    patch,
    registry_of,
    update,
    watch,
)
from apiserver.strategies import strategy_for

log = logging.getLogger("apiserver")

_BY_GV: dict[tuple[str, str], dict[str, ResourceInfo]] = {}
for _r in resources.ALL:
    _BY_GV.setdefault((_r.group, _r.version), {})[_r.plural] = _r

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
# /api/v1/namespaces/<name>/<sub>, not a namespaced collection called <sub>.
NAMESPACE_SUBRESOURCES = (resources.NAMESPACES.subresources
                          + strategy_for(resources.NAMESPACES).hidden_subresources)


@dataclass(frozen=True, slots=True)
class Target:
    info: ResourceInfo
    namespace: str | None
    name: str | None
    subresource: str | None
    watch_path: bool = False


def resolve(group: str, version: str, rest: str, path: str) -> Target:
    kinds: Mapping[str, ResourceInfo] | None = _BY_GV.get((group, version))
    if kinds is None:
        kinds = served.kinds(group, version)  # custom resources (apiserver/crd)
        if kinds is None:
            raise errors.path_not_found(path)
    parts = rest.split("/") if rest else []
    if parts and parts[-1] == "":
        parts.pop()
    watch_path = False
    if parts and parts[0] == "watch":
        watch_path = True
        parts = parts[1:]
    if not parts or any(p == "" for p in parts):
        raise errors.path_not_found(path)
    namespace: str | None = None
    ns_info = kinds.get("namespaces")
    if parts[0] == "namespaces" and len(parts) >= 3 and not (
            ns_info is not None and len(parts) == 3 and parts[2] in NAMESPACE_SUBRESOURCES):
        namespace = parts[1]
        parts = parts[2:]
        info = kinds.get(parts[0])
        if info is None or not info.namespaced:
            raise errors.path_not_found(path)
    else:
        info = kinds.get(parts[0])
        if info is None:
            raise errors.path_not_found(path)
        if info.namespaced and len(parts) > 1:
            # /api/v1/pods/<name> does not exist: pods are reached through a namespace.
            raise errors.path_not_found(path)
    if len(parts) > 3 and parts[2] != "proxy":  # .../NAME/proxy/ANY/PATH
        raise errors.path_not_found(path)
    name = parts[1] if len(parts) >= 2 else None
    sub = parts[2] if len(parts) >= 3 else None
    if sub is not None:
        if sub not in info.subresources and \
                sub not in strategy_for(info).hidden_subresources:
            raise errors.path_not_found(path)
    return Target(info, namespace, name, sub, watch_path)


async def core_route(request: Request) -> Response:
    p = request.path_params
    return await dispatch(request, resolve("", "v1", p["rest"], request.url.path))


async def group_route(request: Request) -> Response:
    p = request.path_params
    return await dispatch(request, resolve(p["group"], p["version"], p["rest"],
                                           request.url.path))


async def dispatch(request: Request, t: Target) -> Response:
    m = request.method
    if isinstance(t.info, CustomResourceInfo):
        return await crd_handler.dispatch(request, t.info, t.namespace, t.name, t.subresource,
                                          t.watch_path)
    if t.info is resources.COMPONENTSTATUSES:  # computed, not stored
        return await componentstatuses.serve(request, t.name,
                                             t.watch_path or flag(request, "watch"))
    if t.info.verbs == ("create",):  # answered on create, never stored (access reviews)
        return await reviews.dispatch(request, t.info, t.namespace, t.name)
    if t.subresource is not None:
        return await subresources.dispatch(request, t.info, t.namespace, t.name or "",
                                           t.subresource)
    if m == "HEAD":
        m = "GET"
    if t.name is None:
        if m == "GET":
            if t.watch_path or flag(request, "watch"):
                return await watch(request, t.info, t.namespace, None)
            return await list_(request, t.info, t.namespace)
        if m == "POST":
            return await create(request, t.info, t.namespace)
        if m == "DELETE":
            return await delete_collection(request, t.info, t.namespace)
        raise errors.method_not_allowed(m)
    if m == "GET":
        if t.watch_path or flag(request, "watch"):
            return await watch(request, t.info, t.namespace, t.name)
        co = await registry_of(request).get(t.info, t.namespace, t.name,
                                            request.query_params.get("resourceVersion"))
        return json_response(co.raw)
    if m == "PUT":
        return await update(request, t.info, t.namespace, t.name)
    if m == "PATCH":
        return await patch(request, t.info, t.namespace, t.name, None)
    if m == "DELETE":
        return await delete(request, t.info, t.namespace, t.name)
    raise errors.method_not_allowed(m)


class ResourceRouter:
    """ASGI fast path for resource requests, innermost among the middlewares.

    Resource calls are the hot path (creates, lists, watches); dispatching them here
    skips the framework's route matching and exception layers, which cost more than
    the handler itself on a create. Everything else goes on to the FastAPI router.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        try:
            if path.startswith("/api/v1/"):
                target = resolve("", "v1", path[8:], path)
            elif path.startswith(metrics_api.PREFIX):  # computed from the kubelets
                response = await metrics_api.serve(Request(scope, receive))
                await response(scope, receive, send)
                return
            elif path.startswith("/apis/"):
                parts = path[6:].split("/", 2)
                if len(parts) < 3:
                    await self.app(scope, receive, send)
                    return
                target = resolve(parts[0], parts[1], parts[2], path)
            else:
                await self.app(scope, receive, send)
                return
            response = await dispatch(Request(scope, receive), target)
        except ClientDisconnect:
            return  # the client left mid-request: nobody to answer
        except errors.ApiError as e:
            response = Response(e.body(), status_code=e.code, media_type="application/json",
                                headers=e.headers())
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], path)
            e2 = errors.internal("unexpected server error")
            response = Response(e2.body(), status_code=500, media_type="application/json")
        await response(scope, receive, send)


ROUTES = [
    Route("/api/v1/{rest:path}", core_route, methods=ALL_METHODS),
    Route("/apis/{group}/{version}/{rest:path}", group_route, methods=ALL_METHODS),
]
