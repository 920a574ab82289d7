"""The verbs on a resource (create, update, patch, delete, deletecollection, list,
watch): each reads the request, calls the registry and answers.

``routes.resources`` resolves the path and dispatches here, ``routes.subresources``
reuses ``patch`` for status patches; neither imports the other's dispatch, so the
dependency runs one way (resources -> subresources -> verbs).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from api.resources import ResourceInfo
from apiserver import errors, fieldmanager
from apiserver.decoding import parse_revision
from apiserver.registry import DeleteOptions, Registry
from apiserver.routes.common import (
    decode_object_body,
    flag,
    int_param,
    json_native,
    json_response,
    media_type,
    read_body,
)
from apiserver.selectors import make_filter
from apiserver.strategies import strategy_for
from apiserver.watchcache import TooOldError, error_line, stream_watch

JSONDict = dict[str, Any]


def registry_of(request: Request) -> Registry:
    reg: Registry = request.app.state.registry
    return reg


def _dry_run(request: Request) -> bool:
    if not request.scope.get("query_string"):
        return False  # the common case, without building QueryParams
    return bool(request.query_params.getlist("dryRun"))


def field_manager(request: Request) -> str:
    """The request's field manager: ?fieldManager=, else the User-Agent's product."""
    return fieldmanager.manager_name(request.query_params.get("fieldManager"),
                                     request.headers.get("user-agent") or "")


def field_validation(request: Request) -> tuple[str, bool]:
    """?fieldValidation= (Warn when absent, as Kubernetes), and whether it was given."""
    if not request.scope.get("query_string"):
        return fieldmanager.validation.WARN, False
    value = request.query_params.get("fieldValidation")
    try:
        return fieldmanager.validation.directive(value), bool(value)
    except fieldmanager.validation.BadDirective as e:
        raise errors.bad_request(str(e)) from None


def check_fields(request: Request, info: ResourceInfo, body: JSONDict, raw: bytes) -> None:
    """fieldValidation of a create/update body: unknown fields, and duplicate ones when
    the client asked (strict decoding)."""
    mode, given = field_validation(request)
    fieldmanager.check_body(info, strategy_for(info), body, raw if given else None, mode)


async def create(request: Request, info: ResourceInfo, namespace: str | None) -> Response:
    raw = await read_body(request)
    body = decode_object_body(request, raw)
    check_fields(request, info, body, raw)
    res = await registry_of(request).create(info, namespace, body, _dry_run(request),
                                            manager=field_manager(request))
    return json_response(res.raw, 201)


async def update(request: Request, info: ResourceInfo, namespace: str | None,
                 name: str) -> Response:
    raw = await read_body(request)
    body = decode_object_body(request, raw)
    check_fields(request, info, body, raw)
    res = await registry_of(request).update(info, namespace, name, body, _dry_run(request),
                                            manager=field_manager(request))
    return json_response(res.raw)


def _patch_options_invalid(field: str, reason: str, message: str) -> errors.ApiError:
    return errors.ApiError(
        422, "Invalid", f'PatchOptions.meta.k8s.io "" is invalid: {field}: {message}',
        {"group": "meta.k8s.io", "kind": "PatchOptions",
         "causes": [{"reason": reason, "message": message, "field": field}]})


def _applied_config(body: bytes) -> JSONDict:
    """An apply body: JSON (what clients send, decoded at C speed) or YAML."""
    from apiserver.patch import PatchError, applied_object

    if body[:1] == b"{":
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and not any(k.startswith("$") for k in doc):
            return doc
    try:
        obj: JSONDict = json_native(applied_object(body))
    except PatchError as e:
        raise errors.ApiError(e.code, e.reason, e.message) from None
    return obj


async def patch(request: Request, info: ResourceInfo, namespace: str | None, name: str,
                subresource: str | None) -> Response:
    from apiserver.patch import SUPPORTED, is_supported

    ct = request.headers.get("content-type") or ""
    if not is_supported(ct):
        raise errors.unsupported_media_type(media_type(request), SUPPORTED)
    body = await read_body(request)
    from apiserver.patch import MERGE_PATCH, STRATEGIC_MERGE_PATCH, is_apply
    from apiserver.patch import media_type as patch_type

    apply = is_apply(ct)
    q = request.query_params
    if q.get("force") is not None and not apply:
        raise _patch_options_invalid("force", "FieldValueForbidden",
                                     "Forbidden: may not be specified for non-apply patch")
    if apply and not q.get("fieldManager"):
        raise _patch_options_invalid("fieldManager", "FieldValueRequired",
                                     "Required value: is required for apply patch")
    manager = field_manager(request)
    applied = _applied_config(body) if apply else None
    if not apply and subresource in (None, "status") \
            and patch_type(ct) in (MERGE_PATCH, STRATEGIC_MERGE_PATCH):
        mode, given = field_validation(request)
        if given:
            doc = fieldmanager.validation.without_directives(_applied_config(body))
            fieldmanager.check_body(info, strategy_for(info), doc, None, mode, decoding=False)
    force = flag(request, "force")
    try:
        res = await registry_of(request).patch(info, namespace, name, ct, body, subresource,
                                               _dry_run(request), manager=manager,
                                               applied=applied, force=force)
    except errors.ApiError as e:
        if e.code != 404 or subresource is not None or applied is None:
            raise
        # Server-side apply creates what does not exist yet (kubectl apply --server-side).
        return await _apply_create(request, info, namespace, name, applied, manager, force)
    return json_response(res.raw)


async def _apply_create(request: Request, info: ResourceInfo, namespace: str | None,
                        name: str, obj: JSONDict, manager: str, force: bool) -> Response:
    md = obj.get("metadata")
    if md is None:
        md = obj["metadata"] = {}
    if not isinstance(md, dict) or md.get("name") not in (None, name):
        raise errors.bad_request("the name of the object does not match the name on the URL")
    md["name"] = name
    obj = fieldmanager.apply_object(info, strategy_for(info), None, obj, manager, force)
    res = await registry_of(request).create(info, namespace, obj, _dry_run(request))
    return json_response(res.raw, 201)


def delete_options(request: Request, body: bytes) -> DeleteOptions:
    opts = DeleteOptions(
        grace_period_seconds=int_param(request, "gracePeriodSeconds"),
        propagation_policy=request.query_params.get("propagationPolicy") or None,
        dry_run=_dry_run(request),
    )
    od = request.query_params.get("orphanDependents")
    if od is not None:
        opts.orphan_dependents = od.lower() in ("1", "true")
    if body.strip():
        try:
            d = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise errors.bad_request(f"couldn't decode DeleteOptions: {e}") from None
        if not isinstance(d, dict):
            raise errors.bad_request("DeleteOptions must be a JSON object")
        g = d.get("gracePeriodSeconds")
        if g is not None:
            if not isinstance(g, int) or isinstance(g, bool):
                raise errors.bad_request("gracePeriodSeconds must be an integer")
            opts.grace_period_seconds = g
        pp = d.get("propagationPolicy")
        if pp is not None:
            opts.propagation_policy = str(pp)
        if d.get("orphanDependents") is not None:
            opts.orphan_dependents = bool(d["orphanDependents"])
        pre = d.get("preconditions")
        if isinstance(pre, dict):
            opts.precondition_uid = pre.get("uid")
            rv = pre.get("resourceVersion")
            opts.precondition_rv = None if rv is None else str(rv)
        if d.get("dryRun"):
            opts.dry_run = True
    return opts


def _success_status(info: ResourceInfo, name: str, uid: str | None) -> bytes:
    details: dict[str, str] = {"name": name, "kind": info.plural}
    if info.group:
        details["group"] = info.group
    if uid:
        details["uid"] = uid
    return orjson.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {},
                         "status": "Success", "details": details})


async def delete(request: Request, info: ResourceInfo, namespace: str | None,
                 name: str) -> Response:
    opts = delete_options(request, await read_body(request))
    res = await registry_of(request).delete(info, namespace, name, opts)
    if res.deleted and not strategy_for(info).return_deleted_object:
        return json_response(_success_status(info, name, res.obj.get("metadata", {}).get("uid")))
    return json_response(res.raw)


async def delete_collection(request: Request, info: ResourceInfo,
                            namespace: str | None) -> Response:
    opts = delete_options(request, await read_body(request))
    pred = make_filter(info, namespace, request.query_params.get("labelSelector"),
                       request.query_params.get("fieldSelector"))
    body = await registry_of(request).delete_collection(info, namespace, pred, opts)
    return json_response(body)


async def list_(request: Request, info: ResourceInfo, namespace: str | None) -> Response:
    q = request.query_params
    pred = make_filter(info, namespace, q.get("labelSelector"), q.get("fieldSelector"))
    limit = int_param(request, "limit") or 0
    if limit < 0:
        raise errors.bad_request("limit must be a non-negative integer")
    limit = min(limit, 1 << 62)  # etcd's limit is an int64
    body = await registry_of(request).list_objects(
        info, namespace, pred, resource_version=q.get("resourceVersion"),
        rv_match=q.get("resourceVersionMatch"), limit=limit,
        continue_token=q.get("continue") or None)
    return json_response(body)


async def watch(request: Request, info: ResourceInfo, namespace: str | None,
                name: str | None) -> Response:
    q = request.query_params
    reg = registry_of(request)
    pred = make_filter(info, namespace, q.get("labelSelector"), q.get("fieldSelector"), name)
    rv_s = q.get("resourceVersion") or ""
    initial = flag(request, "sendInitialEvents")
    bookmarks = flag(request, "allowWatchBookmarks")
    if initial and not bookmarks:
        raise errors.invalid(info, None, [{
            "reason": "FieldValueForbidden",
            "message": "Forbidden: sendInitialEvents requires setting allowWatchBookmarks "
                       "to true", "field": "allowWatchBookmarks"}])
    rv: int | None
    if rv_s in ("", "0"):
        rv = None
    else:
        try:
            rv = parse_revision(rv_s)
        except ValueError:
            raise errors.bad_request(f'invalid resource version "{rv_s}"') from None
    timeout = int_param(request, "timeoutSeconds")
    if timeout is None:
        # Like --min-request-timeout: spread reconnects so clients do not stampede.
        timeout = int(1800 * (1 + random.random()))
    cache = reg.cache(info)
    if not cache.synced.is_set():
        c = await reg.fresh_cache(info)
        if c is None:
            raise errors.unavailable("the watch cache is not ready")
    if rv is None and initial and rv_s == "":
        # A watch-list (sendInitialEvents, resourceVersion unset): its initial state
        # is a consistent read, as a list's (every API server's acknowledged writes).
        await reg.consistent_cache(info)
    elif rv is None:
        # Unset/0 means "now": include every write this server already acknowledged.
        await reg.fresh_cache(info, 5.0)
    elif rv > cache.revision:
        await cache.wait_for_revision(rv, 3.0)
    elif rv < cache.window_start and not initial:
        # Older than the cache's window (as after a restart): from etcd's history.
        await cache.backfill(rv)
    try:
        w = cache.watch(pred, rv, initial)
    except TooOldError as e:
        status = errors.gone(
            f"too old resource version: {e.requested} ({e.oldest})").status()

        async def expired() -> AsyncIterator[bytes]:
            yield error_line(status)

        return StreamingResponse(expired(), media_type="application/json")
    request.app.state.open_watches += 1

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in stream_watch(
                    w, timeout=float(timeout), bookmarks=bookmarks,
                    bookmark_interval=request.app.state.bookmark_interval,
                    initial_end_bookmark=initial, api_version=info.api_version,
                    kind=info.kind, linger=request.app.state.config.watch_linger):
                yield chunk
        finally:
            request.app.state.open_watches -= 1

    return StreamingResponse(body(), media_type="application/json")

