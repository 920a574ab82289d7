"""Requests for custom resources (apiextensions-apiserver's customresource_handler.go):
every version is served from the storage version's objects with the ``None``
conversion (only apiVersion changes), strategic merge patches are refused as there
(415), the status and scale subresources follow the CRD, and a CRD that is being
deleted takes no new objects."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from apiserver import customresources as served
from apiserver import errors
from apiserver.customresources import CustomResourceInfo, json_path, request_version
from apiserver.registry import safe_apply_patch
from apiserver.routes import subresources
from apiserver.routes.common import decode_object_body, flag, json_response, read_body
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

JSONDict = dict[str, Any]

_CR_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                   "application/apply-patch+yaml")


def _version_rewriter(info: CustomResourceInfo) -> re.Pattern[bytes] | None:
    if info.is_storage_version and len(served.of_crd(info.crd_name)) <= 1:
        return None
    return re.compile(rb'"apiVersion":"' + re.escape(info.group.encode()) + rb'/[a-z0-9]+"')


def _rewrite(info: CustomResourceInfo, data: bytes) -> bytes:
    pat = _version_rewriter(info)
    if pat is None:
        return data
    return pat.sub(b'"apiVersion":"' + info.api_version.encode() + b'"', data)


async def _converted(info: CustomResourceInfo, resp: Response) -> Response:
    """The answer with every object of the CRD's group in the requested version."""
    if _version_rewriter(info) is None:
        return resp
    if isinstance(resp, StreamingResponse):
        inner = resp.body_iterator

        async def body() -> AsyncIterator[bytes]:
            async for chunk in inner:
                yield _rewrite(info, chunk.encode() if isinstance(chunk, str) else bytes(chunk))

        resp.body_iterator = body()
        return resp
    data = _rewrite(info, bytes(resp.body))
    out = Response(data, status_code=resp.status_code, media_type="application/json")
    for k, v in resp.headers.items():
        if k.lower() not in ("content-length", "content-type"):
            out.headers[k] = v
    return out


async def dispatch(request: Request, info: CustomResourceInfo, namespace: str | None,
                   name: str | None, subresource: str | None, watch_path: bool) -> Response:
    storage = served.storage_of(info.crd_name) or info
    token = request_version.set(info.version)
    try:
        return await _converted(info, await _dispatch(request, info, storage, namespace, name,
                                                      subresource, watch_path))
    finally:
        request_version.reset(token)


def _check_patch_type(request: Request) -> None:
    ct = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ct not in _CR_PATCH_TYPES:
        raise errors.unsupported_media_type(ct, _CR_PATCH_TYPES)


async def _dispatch(request: Request, info: CustomResourceInfo, storage: CustomResourceInfo,
                    namespace: str | None, name: str | None, sub: str | None,
                    watch_path: bool) -> Response:
    m = "GET" if request.method == "HEAD" else request.method
    if sub == "scale":
        return await _scale(request, info, storage, namespace, name or "", m)
    if sub is not None:  # status
        if m == "PATCH":
            _check_patch_type(request)
        return await subresources.dispatch(request, storage, namespace, name or "", sub)
    if name is None:
        if m == "GET":
            if watch_path or flag(request, "watch"):
                return await watch(request, storage, namespace, None)
            return await list_(request, storage, namespace)
        if m == "POST":
            if info.crd_name in served.terminating:
                raise errors.ApiError(
                    405, "MethodNotAllowed",
                    'create not allowed while custom resource definition is terminating')
            return await create(request, storage, namespace)
        if m == "DELETE":
            return await delete_collection(request, storage, namespace)
        raise errors.method_not_allowed(m)
    if m == "GET":
        if watch_path or flag(request, "watch"):
            return await watch(request, storage, namespace, name)
        co = await registry_of(request).get(storage, namespace, name,
                                            request.query_params.get("resourceVersion"))
        return json_response(co.raw)
    if m == "PUT":
        return await update(request, storage, namespace, name)
    if m == "PATCH":
        _check_patch_type(request)
        return await patch(request, storage, namespace, name, None)
    if m == "DELETE":
        return await delete(request, storage, namespace, name)
    raise errors.method_not_allowed(m)


# ---- scale (pkg/registry/customresource/etcd.go ScaleREST) ------------------------------


def _set_path(obj: JSONDict, path: str, value: Any) -> None:
    parts = [p for p in path.split(".") if p]
    cur = obj
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict):
            nxt = cur[p] = {}
        cur = nxt
    cur[parts[-1]] = value


def to_scale(info: CustomResourceInfo, obj: JSONDict) -> JSONDict:
    sc = info.scale or {}
    md = obj.get("metadata") or {}
    spec_r = json_path(obj, str(sc.get("specReplicasPath") or ""))
    status_r = json_path(obj, str(sc.get("statusReplicasPath") or ""))
    selector = json_path(obj, str(sc.get("labelSelectorPath") or "")) \
        if sc.get("labelSelectorPath") else None
    status: JSONDict = {"replicas": status_r if isinstance(status_r, int) else 0}
    if isinstance(selector, str) and selector:
        status["selector"] = selector
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                            "creationTimestamp") if k in md},
            "spec": {"replicas": spec_r if isinstance(spec_r, int) else 0},
            "status": status}


async def _scale(request: Request, info: CustomResourceInfo, storage: CustomResourceInfo,
                 namespace: str | None, name: str, m: str) -> Response:
    reg = registry_of(request)
    if m == "GET":
        co = await reg.get(storage, namespace, name)
        return json_response(orjson.dumps(to_scale(info, co.obj)))
    if m not in ("PUT", "PATCH"):
        raise errors.method_not_allowed(m)
    raw = await read_body(request)
    ct = request.headers.get("content-type") or ""
    body: JSONDict | None = None
    if m == "PUT":
        body = decode_object_body(request, raw)
    else:
        _check_patch_type(request)
    spec_path = str((info.scale or {}).get("specReplicasPath") or ".spec.replicas")

    def mutate(old: JSONDict) -> JSONDict:
        scale = to_scale(info, old)
        new_scale = body if body is not None else safe_apply_patch(ct, scale, raw)
        smd = new_scale.get("metadata") if isinstance(new_scale.get("metadata"), dict) else {}
        rv = (smd or {}).get("resourceVersion")
        if rv not in (None, "") and str(rv) != str(scale["metadata"].get("resourceVersion")):
            raise errors.conflict(storage, name)
        nspec = new_scale.get("spec") if isinstance(new_scale.get("spec"), dict) else {}
        replicas = (nspec or {}).get("replicas") or 0
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.ApiError(422, "Invalid",
                                  f'Scale.autoscaling "{name}" is invalid: spec.replicas: '
                                  f"Invalid value: {replicas}: must be greater than or equal "
                                  "to 0",
                                  {"name": name, "group": "autoscaling", "kind": "Scale",
                                   "causes": [{"reason": "FieldValueInvalid",
                                               "message": f"Invalid value: {replicas}: must "
                                                          "be greater than or equal to 0",
                                               "field": "spec.replicas"}]})
        new = orjson.loads(orjson.dumps(old))
        _set_path(new, spec_path, replicas)
        if new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] = int(old["metadata"].get("generation") or 1) + 1
        return dict(new)

    res = await reg.guaranteed_update(storage, namespace, name, mutate,
                                      dry_run=bool(request.query_params.getlist("dryRun")),
                                      subresource="scale")
    return json_response(orjson.dumps(to_scale(info, res.obj)))
