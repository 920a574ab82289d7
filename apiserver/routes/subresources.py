"""Subresources: status, pods/ephemeralcontainers, pods/binding, pods/eviction (routes/eviction.py),
deployments|replicasets/scale, pods/log, pods/exec, pods/attach and pods/portforward
(plain HTTP; the WebSockets are in routes/exec.py, attach.py and portforward.py),
namespaces/finalize; pods|services|nodes/proxy in routes/proxy.py."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from api.labels import SelectorError, from_label_selector, selector_from_set
from api.resources import ResourceInfo
from api.timeutil import now
from apiserver import errors, fieldmanager
from apiserver.registry import safe_apply_patch
from apiserver.routes import proxy
from apiserver.routes.attach import pod_attach_http
from apiserver.routes.common import decode_object_body, json_response, read_body
from apiserver.routes.eviction import evict
from apiserver.routes.exec import pod_exec_http
from apiserver.routes.logs import pod_log
from apiserver.routes.portforward import pod_portforward_http
from apiserver.routes.tokenrequest import create_token
from apiserver.routes.verbs import field_manager, patch, registry_of
from apiserver.strategies import strategy_for

JSONDict = dict[str, Any]


async def dispatch(request: Request, info: ResourceInfo, namespace: str | None, name: str,
                   sub: str) -> Response:
    if sub == "proxy":
        return await proxy.dispatch(request, info, namespace)
    m = "GET" if request.method == "HEAD" else request.method
    if sub == "status":
        if m == "GET":
            co = await registry_of(request).get(info, namespace, name)
            return json_response(co.raw)
        if m == "PUT":
            body = decode_object_body(request, await read_body(request))
            res = await registry_of(request).update_status(
                info, namespace, name, body, bool(request.query_params.getlist("dryRun")),
                manager=field_manager(request))
            return json_response(res.raw)
        if m == "PATCH":
            return await patch(request, info, namespace, name, "status")
    elif sub in strategy_for(info).writable_subresources:
        if m == "GET":
            co = await registry_of(request).get(info, namespace, name)
            return json_response(co.raw)
        if m == "PUT":
            body = decode_object_body(request, await read_body(request))
            res = await registry_of(request).update_subresource(
                info, namespace, name, sub, body, bool(request.query_params.getlist("dryRun")))
            return json_response(res.raw)
        if m == "PATCH":
            return await patch(request, info, namespace, name, sub)
    elif sub == "binding":
        if m == "POST":
            return await bind(request, info, namespace, name)
    elif sub == "eviction":
        if m == "POST":
            return await evict(request, info, namespace or "", name)
    elif sub == "scale":
        if m == "GET":
            co = await registry_of(request).get(info, namespace, name)
            return json_response(orjson.dumps(to_scale(co.obj, _plain_selector(info))))
        if m in ("PUT", "PATCH"):
            return await update_scale(request, info, namespace, name, m)
    elif sub == "log":
        if m == "GET":
            return await pod_log(request, namespace or "", name)
    elif sub == "exec":
        if m in ("GET", "POST"):
            return await pod_exec_http(request, namespace or "", name)
    elif sub == "attach":
        if m in ("GET", "POST"):
            return await pod_attach_http(request, namespace or "", name)
    elif sub == "portforward":
        if m in ("GET", "POST"):
            return await pod_portforward_http(request, namespace or "", name)
    elif sub == "token":
        if m == "POST":
            return await create_token(request, namespace or "", name)
    elif sub == "finalize":
        if m == "PUT":
            return await finalize(request, info, name)
    raise errors.method_not_allowed(m)


# ---- binding -------------------------------------------------------------------------


async def bind(request: Request, info: ResourceInfo, namespace: str | None,
               name: str) -> Response:
    body = decode_object_body(request, await read_body(request))
    target = body.get("target")
    md = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    if md and md.get("name") not in (None, name):
        raise errors.bad_request(
            f"the name of the object ({md.get('name')}) does not match the name on the URL "
            f"({name})")
    if not isinstance(target, dict) or not target.get("name"):
        raise errors.invalid(info, name, [{"reason": "FieldValueRequired",
                                           "message": "Required value",
                                           "field": "target.name"}])
    if target.get("kind") not in (None, "", "Node"):
        raise errors.invalid(info, name, [{"reason": "FieldValueNotSupported",
                                           "message": 'Unsupported value: "'
                                                      f'{target.get("kind")}": supported '
                                                      'values: "Node"',
                                           "field": "target.kind"}])
    node = str(target["name"])
    uid = md.get("uid") if md else None
    annotations = md.get("annotations") if md else None

    def mutate(old: JSONDict) -> JSONDict:
        omd = old.get("metadata") or {}
        if uid and omd.get("uid") != uid:
            raise errors.conflict(info, name, f"Precondition failed: UID in precondition: "
                                              f"{uid}, UID in object meta: {omd.get('uid')}")
        if omd.get("deletionTimestamp"):
            raise errors.conflict(info, name, "pod is being deleted, cannot be assigned to a "
                                              "host")
        spec = old.setdefault("spec", {})
        if spec.get("nodeName"):
            raise errors.ApiError(
                409, "Conflict",
                f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is '
                f'already assigned to node "{spec["nodeName"]}"',
                {"name": name, "kind": "pods/binding"})
        spec["nodeName"] = node
        if isinstance(annotations, dict) and annotations:
            old["metadata"].setdefault("annotations", {}).update(annotations)
        status = old.setdefault("status", {})
        conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": now()})
        status["conditions"] = conds
        return old

    await registry_of(request).guaranteed_update(info, namespace, name, mutate,
                                                 subresource="binding", operation="CREATE")
    return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                          "status": "Success", "code": 201}, 201)


# ---- scale ---------------------------------------------------------------------------


def _plain_selector(info: ResourceInfo) -> bool:
    """A ReplicationController's selector is a plain map (scaleFromRC: SelectorFromSet)."""
    return info.kind == "ReplicationController"


def to_scale(obj: JSONDict, plain_selector: bool = False) -> JSONDict:
    """The object's Scale (kube-apiserver's scaleFromDeployment): status.selector is
    LabelSelectorAsSelector(spec.selector).String(), "" for none; a selector that does not
    convert is a BadRequest, as there. ``plain_selector``: a map, as scaleFromRC reads it."""
    md = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    try:
        sel = spec.get("selector")
        selector = (str(selector_from_set(sel if isinstance(sel, dict) else None))
                    if plain_selector else str(from_label_selector(sel)))
    except SelectorError as exc:
        raise errors.bad_request(str(exc)) from exc
    smd = {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion",
                              "creationTimestamp") if k in md}
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": smd,
        "spec": {"replicas": int(spec.get("replicas") or 0)},
        "status": {"replicas": int(status.get("replicas") or 0),
                   "selector": selector},
    }


async def update_scale(request: Request, info: ResourceInfo, namespace: str | None, name: str,
                       method: str) -> Response:
    reg = registry_of(request)
    manager = field_manager(request)
    raw = await read_body(request)
    ct = request.headers.get("content-type") or ""
    body: JSONDict | None = None
    if method == "PUT":
        body = decode_object_body(request, raw)
        md = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        if md and md.get("name") not in (None, name):
            raise errors.bad_request(
                f"the name of the object ({md.get('name')}) does not match the name on the "
                f"URL ({name})")
    else:
        from apiserver.patch import SUPPORTED, is_supported

        if not is_supported(ct):
            raise errors.unsupported_media_type(ct.split(";")[0], SUPPORTED)

    def mutate(old: JSONDict) -> JSONDict:
        scale = to_scale(old, _plain_selector(info))
        if method == "PUT":
            assert body is not None
            new_scale = body
        else:
            new_scale = safe_apply_patch(ct, scale, raw)
        smd = new_scale.get("metadata") if isinstance(new_scale.get("metadata"), dict) else {}
        rv = (smd or {}).get("resourceVersion")
        if rv not in (None, "") and str(rv) != str(scale["metadata"].get("resourceVersion")):
            raise errors.conflict(info, name)
        spec = new_scale.get("spec") if isinstance(new_scale.get("spec"), dict) else {}
        replicas = (spec or {}).get("replicas")
        if replicas is None:
            replicas = 0
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0                 or replicas > 2**31 - 1:
            # Scale.spec.replicas is an int32.
            bound = ("less than or equal to 2147483647"
                     if isinstance(replicas, int) and replicas > 0 else "greater than or equal to 0")
            raise errors.ApiError(422, "Invalid",
                                  f'Scale.autoscaling "{name}" is invalid: spec.replicas: '
                                  f"Invalid value: {replicas}: must be {bound}",
                                  {"name": name, "group": "autoscaling", "kind": "Scale",
                                   "causes": [{"reason": "FieldValueInvalid",
                                               "message": f"Invalid value: {replicas}: must be "
                                                          f"{bound}",
                                               "field": "spec.replicas"}]})
        new = dict(old)
        new["spec"] = dict(old.get("spec") or {})
        new["spec"]["replicas"] = replicas
        nmd = new["metadata"] = dict(old.get("metadata") or {})
        if new["spec"] != old.get("spec"):
            nmd["generation"] = int(nmd.get("generation") or 1) + 1
        # The scale subresource's writer owns .spec.replicas (as kubectl scale does).
        fieldmanager.track(info, strategy_for(info), old, new, manager, "scale")
        return new

    # A Scale's resourceVersion is checked inside mutate, against the object read.
    res = await reg.guaranteed_update(info, namespace, name, mutate,
                                      dry_run=bool(request.query_params.getlist("dryRun")),
                                      subresource="scale")
    return json_response(orjson.dumps(to_scale(res.obj, _plain_selector(info))))


# ---- namespaces/finalize -------------------------------------------------------------


async def finalize(request: Request, info: ResourceInfo, name: str) -> Response:
    body = decode_object_body(request, await read_body(request))
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    finalizers = (spec or {}).get("finalizers") or []
    if not isinstance(finalizers, list):
        raise errors.bad_request("spec.finalizers must be a list")

    def mutate(old: JSONDict) -> JSONDict:
        new = dict(old)
        new["spec"] = {**(old.get("spec") or {}), "finalizers": [str(f) for f in finalizers]}
        return new

    res = await registry_of(request).guaranteed_update(info, None, name, mutate,
                                                       subresource="finalize")
    return json_response(res.raw)
