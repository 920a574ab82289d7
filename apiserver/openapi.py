"""OpenAPI documents: /openapi/v2 (Swagger 2.0) and /openapi/v3[/<group path>].

Enough for kubectl apply: every kind carries ``x-kubernetes-group-version-kind`` and
every path its operations, so kubectl's query-parameter verifier finds the kind's
PATCH operation. Schemas are deliberately permissive (spec and status keep unknown
fields): the server is the validator, and a partial schema would make kubectl's
client-side checks reject valid Kubernetes fields we do not model.

kubectl reads /openapi/v2 as protobuf only (it never looks at the Content-Type), so
a protobuf Accept gets a minimal protobuf Document (swagger + info, no definitions):
kubectl then skips client-side validation for kinds it cannot look up, which is what
it does for any kind the server does not describe.
"""

from __future__ import annotations

import hashlib
from functools import cache, lru_cache
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from api import resources
from api.resources import ResourceInfo
from apiserver import customresources as served
from apiserver import discovery, openapi_descriptions
from apiserver.protobuf import length_delimited
from apiserver.strategies import strategy_for

JSONDict = dict[str, Any]

PROTOBUF_V2 = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
PROTOBUF_V2_RESPONSE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/apply-patch+yaml")


def _definition_name(r: ResourceInfo) -> str:
    group = {"": "core", "coordination.k8s.io": "coordination",
             "discovery.k8s.io": "discovery"}.get(r.group, r.group)
    return f"io.k8s.api.{group}.{r.version}.{r.kind}"


def _gvk(r: ResourceInfo, kind: str | None = None) -> JSONDict:
    return {"group": r.group, "version": r.version, "kind": kind or r.kind}


_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
_STATUS = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"


def _open_object(description: str) -> JSONDict:
    return {"type": "object", "description": description,
            "x-kubernetes-preserve-unknown-fields": True}


def _meta_schemas(ref: str) -> dict[str, JSONDict]:
    string = {"type": "string"}
    string_map = {"type": "object", "additionalProperties": {"type": "string"}}
    return {
        _OBJECT_META: {
            "type": "object",
            "description": "Standard object's metadata.",
            "properties": {
                "name": string, "generateName": string, "namespace": string, "uid": string,
                "resourceVersion": string, "generation": {"type": "integer", "format": "int64"},
                "creationTimestamp": {"type": "string", "format": "date-time"},
                "deletionTimestamp": {"type": "string", "format": "date-time"},
                "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
                "labels": string_map, "annotations": string_map,
                "finalizers": {"type": "array", "items": string},
                "ownerReferences": {"type": "array", "items": {"type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True}},
                "managedFields": {"type": "array", "items": {"type": "object",
                                  "x-kubernetes-preserve-unknown-fields": True}},
            },
        },
        _LIST_META: {"type": "object", "properties": {
            "resourceVersion": string, "continue": string,
            "remainingItemCount": {"type": "integer", "format": "int64"}}},
        _STATUS: {
            "type": "object", "description": "Status is a return value for calls that don't "
            "return other objects.",
            "properties": {"apiVersion": string, "kind": string, "code": {"type": "integer"},
                           "message": string, "reason": string, "status": string,
                           "metadata": {"$ref": ref + _LIST_META},
                           "details": {"type": "object",
                                       "x-kubernetes-preserve-unknown-fields": True}},
            "x-kubernetes-group-version-kind": [{"group": "", "version": "v1",
                                                 "kind": "Status"}],
        },
    }


def _clean(node: Any, ref: str) -> Any:
    """pydantic's JSON Schema -> the OpenAPI subset Kubernetes clients read.

    Optional fields lose their ``anyOf [X, null]`` wrapper, int-or-string unions become
    a reference to Kubernetes' IntOrString, and titles, null defaults and the
    ``additionalProperties: true`` of models that keep unknown fields are dropped
    (kubectl explain would print such objects as maps).
    """
    if isinstance(node, list):
        return [_clean(x, ref) for x in node]
    if not isinstance(node, dict):
        return node
    any_of = node.get("anyOf")
    if isinstance(any_of, list):
        rest = [x for x in any_of if x != {"type": "null"}]
        types = sorted(str(x.get("type")) for x in rest if isinstance(x, dict))
        extra = {k: v for k, v in node.items() if k not in ("anyOf", "default", "title")}
        if types == ["integer", "string"]:
            return {"$ref": ref + _INT_OR_STRING}
        if len(rest) == 1:
            return _clean({**extra, **rest[0]}, ref)
    out: JSONDict = {}
    for k, v in node.items():
        if k == "title" or (k == "default" and v is None):
            continue
        if k == "additionalProperties" and v is True:
            continue
        out[k] = v if k in ("required", "enum") else _clean(v, ref)
    return out


def _model_schemas(r: ResourceInfo, ref: str) -> dict[str, JSONDict]:
    """The kind's schema and every nested model's, generated from api/models."""
    raw = r.model.model_json_schema(by_alias=True, ref_template=ref + "{model}")
    defs = raw.pop("$defs", {})
    out = {k: _clean(v, ref) for k, v in defs.items()}
    out[_INT_OR_STRING] = {"type": "string", "format": "int-or-string",
                           "x-kubernetes-int-or-string": True,
                           "description": "An int32 or a string (e.g. a percentage)."}
    top = _clean(raw, ref)
    top.pop("required", None)  # apiVersion/kind/metadata are defaulted server-side
    out[_definition_name(r)] = top
    openapi_descriptions.apply(out, _definition_name(r), r.model.__name__, r.kind)
    return out


def _kind_schemas(r: ResourceInfo, ref: str) -> dict[str, JSONDict]:
    name = _definition_name(r)
    string = {"type": "string"}
    obj: JSONDict = {
        "type": "object",
        "description": f"{r.kind} as served by minik8s.",
        "properties": {
            "apiVersion": string, "kind": string,
            "metadata": {"$ref": ref + _OBJECT_META},
            "spec": _open_object(f"The desired state of the {r.kind}."),
            "status": _open_object(f"The observed state of the {r.kind}."),
        },
        "x-kubernetes-group-version-kind": [_gvk(r)],
    }
    if not strategy_for(r).spec_and_status:
        # Events keep their fields at the top level, not under spec/status.
        obj["x-kubernetes-preserve-unknown-fields"] = True
    out: dict[str, JSONDict] = {}
    try:
        out.update(_model_schemas(r, ref))
        generated = out[name]
        generated["x-kubernetes-group-version-kind"] = [_gvk(r)]
        generated.setdefault("description", obj["description"])
    except Exception:  # a model pydantic cannot describe: serve the permissive form
        out[name] = obj
    out.update(_list_and_scale(r, name, ref))
    return out


def _list_and_scale(r: ResourceInfo, name: str, ref: str) -> dict[str, JSONDict]:
    """The ``<name>List`` definition of a kind and, when it has the scale subresource,
    autoscaling/v1 Scale's."""
    string = {"type": "string"}
    out: dict[str, JSONDict] = {name + "List": {
        "type": "object", "required": ["items"],
        "properties": {"apiVersion": string, "kind": string,
                       "metadata": {"$ref": ref + _LIST_META},
                       "items": {"type": "array", "items": {"$ref": ref + name}}},
        "x-kubernetes-group-version-kind": [_gvk(r, r.list_kind)]}}
    if "scale" in r.subresources:
        out["io.k8s.api.autoscaling.v1.Scale"] = {
            "type": "object",
            "properties": {"apiVersion": string, "kind": string,
                           "metadata": {"$ref": ref + _OBJECT_META},
                           "spec": {"type": "object", "properties": {
                               "replicas": {"type": "integer", "format": "int32"}}},
                           "status": _open_object("The current status of the scale.")},
            "x-kubernetes-group-version-kind": [{"group": "autoscaling", "version": "v1",
                                                 "kind": "Scale"}]}
    return out


def _param(name: str, where: str, description: str, type_: str = "string") -> JSONDict:
    return {"name": name, "in": where, "description": description,
            "required": where == "path", "schema": {"type": type_}}


def _paths_v3(r: ResourceInfo, ref: str) -> dict[str, JSONDict]:
    name = _definition_name(r)
    obj_ref = {"$ref": ref + name}
    list_ref = {"$ref": ref + name + "List"}
    gvk = _gvk(r)

    def ok(schema: JSONDict) -> JSONDict:
        return {"200": {"description": "OK", "content": {
            "application/json": {"schema": schema}}},
            "401": {"description": "Unauthorized"}}

    def op(verb: str, action: str, schema: JSONDict, body: list[str] | None = None,
           params: list[JSONDict] | None = None, resp: JSONDict | None = None) -> JSONDict:
        o: JSONDict = {
            "operationId": f"{verb}{r.kind}", "tags": [r.api_version],
            "responses": ok(resp or schema),
            "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
        }
        if body:
            o["requestBody"] = {"required": True, "content": {
                ct: {"schema": schema if ct == "application/json" else {"type": "object"}}
                for ct in body}}
        if params:
            o["parameters"] = params
        return o

    path_params = [_param("name", "path", f"name of the {r.kind}")]
    coll_params: list[JSONDict] = []
    if r.namespaced:
        ns = _param("namespace", "path", "object name and auth scope, such as for teams and "
                    "projects")
        path_params.append(ns)
        coll_params.append(ns)
    list_params = [_param(p, "query", p) for p in
                   ("labelSelector", "fieldSelector", "resourceVersion", "continue")]
    list_params += [_param("limit", "query", "limit", "integer"),
                    _param("watch", "query", "watch", "boolean"),
                    _param("timeoutSeconds", "query", "timeoutSeconds", "integer")]
    write_params = [_param("dryRun", "query", "dryRun"),
                    _param("fieldManager", "query", "fieldManager"),
                    _param("fieldValidation", "query", "fieldValidation")]
    collection = r.collection_path("{namespace}" if r.namespaced else None)
    item = collection + "/{name}"
    paths: dict[str, JSONDict] = {
        collection: {
            "parameters": coll_params,
            "get": op("list", "list", list_ref, params=list_params),
            "post": op("create", "post", obj_ref, ["application/json", "application/yaml"],
                       params=write_params),
            "delete": op("deletecollection", "deletecollection", {"$ref": ref + _STATUS},
                         params=[_param("labelSelector", "query", "labelSelector")]),
        },
        item: {
            "parameters": path_params,
            "get": op("read", "get", obj_ref),
            "put": op("replace", "put", obj_ref, ["application/json", "application/yaml"],
                      params=write_params),
            "patch": op("patch", "patch", obj_ref, list(_PATCH_TYPES),
                        params=[*write_params, _param("force", "query", "force", "boolean")]),
            "delete": op("delete", "delete", {"$ref": ref + _STATUS},
                         params=[_param("gracePeriodSeconds", "query", "gracePeriodSeconds",
                                        "integer"),
                                 _param("propagationPolicy", "query", "propagationPolicy")]),
        },
    }
    if r.namespaced:
        paths[r.collection_path(None)] = {"get": {**op("list", "list", list_ref,
                                                       params=list_params),
                                                  "operationId": f"list{r.kind}ForAllNamespaces"}}
    for sub in r.subresources:
        if sub == "status":
            paths[item + "/status"] = {
                "parameters": path_params,
                "get": {**op("read", "get", obj_ref), "operationId": f"read{r.kind}Status"},
                "put": {**op("replace", "put", obj_ref, ["application/json"]),
                        "operationId": f"replace{r.kind}Status"},
                "patch": {**op("patch", "patch", obj_ref, list(_PATCH_TYPES)),
                          "operationId": f"patch{r.kind}Status"},
            }
        elif sub == "scale":
            scale = {"$ref": ref + "io.k8s.api.autoscaling.v1.Scale"}
            scale_gvk = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
            paths[item + "/scale"] = {
                "parameters": path_params,
                "get": {**op("read", "get", scale), "operationId": f"read{r.kind}Scale",
                        "x-kubernetes-group-version-kind": scale_gvk},
                "put": {**op("replace", "put", scale, ["application/json"]),
                        "operationId": f"replace{r.kind}Scale",
                        "x-kubernetes-group-version-kind": scale_gvk},
                "patch": {**op("patch", "patch", scale, list(_PATCH_TYPES)),
                          "operationId": f"patch{r.kind}Scale",
                          "x-kubernetes-group-version-kind": scale_gvk},
            }
    return paths


def _group_version_path(r: ResourceInfo) -> str:
    return r.base_path().lstrip("/")


@cache
def v3_document(gv_path: str) -> JSONDict | None:
    """The OpenAPI 3.0 document of one group version, e.g. ``api/v1``, ``apis/apps/v1``."""
    rs = [r for r in resources.ALL if _group_version_path(r) == gv_path]
    if not rs:
        return None
    ref = "#/components/schemas/"
    schemas = _meta_schemas(ref)
    paths: dict[str, JSONDict] = {}
    for r in rs:
        schemas.update(_kind_schemas(r, ref))
        paths.update(_paths_v3(r, ref))
    return {
        "openapi": "3.0.0",
        "info": {"title": "minik8s", "version": discovery.GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _hash(doc: JSONDict) -> str:
    return hashlib.sha512(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()[:64].upper()


@cache
def v3_index() -> JSONDict:
    paths: dict[str, JSONDict] = {}
    for gv in dict.fromkeys(_group_version_path(r) for r in resources.ALL):
        doc = v3_document(gv)
        assert doc is not None
        paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={_hash(doc)}"}
    return {"paths": paths}


@cache
def v2_document() -> JSONDict:
    """Swagger 2.0 with every kind's definition; refs point at #/definitions/."""
    ref = "#/definitions/"
    definitions = _meta_schemas(ref)
    paths: dict[str, JSONDict] = {}
    for r in resources.ALL:
        definitions.update(_kind_schemas(r, ref))
        for path, item in _paths_v3(r, ref).items():
            paths[path] = _v3_path_to_v2(item)
    return {"swagger": "2.0",
            "info": {"title": "minik8s", "version": discovery.GIT_VERSION},
            "paths": paths, "definitions": definitions}


# ---- custom resources (apiserver/customresources.py): rebuilt when what is served changes

def _custom_schemas(r: served.CustomResourceInfo, ref: str) -> dict[str, JSONDict]:
    name = _definition_name(r)  # the name _paths_v3 refers to
    schema: JSONDict = dict(r.schema) if r.schema else {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True}
    props = dict(schema.get("properties") or {})
    props.update({"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                  "metadata": {"$ref": ref + _OBJECT_META}})
    schema["properties"] = props
    schema["type"] = "object"
    schema["x-kubernetes-group-version-kind"] = [_gvk(r)]
    return {name: schema, **_list_and_scale(r, name, ref)}


@lru_cache(maxsize=4)
def _custom_v3_by_gv(generation: int) -> dict[str, JSONDict]:
    del generation  # the cache key: what is served changed
    docs: dict[str, JSONDict] = {}
    ref = "#/components/schemas/"
    for r in served.all_infos():
        gv = _group_version_path(r)
        doc = docs.get(gv)
        if doc is None:
            doc = docs[gv] = {"openapi": "3.0.0",
                              "info": {"title": "minik8s", "version": discovery.GIT_VERSION},
                              "paths": {}, "components": {"schemas": _meta_schemas(ref)}}
        doc["components"]["schemas"].update(_custom_schemas(r, ref))
        doc["paths"].update(_paths_v3(r, ref))
    return docs


def _custom_v3_document(gv_path: str, generation: int) -> JSONDict | None:
    return _custom_v3_by_gv(generation).get(gv_path)


def _custom_v3_index(generation: int) -> dict[str, JSONDict]:
    return {gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash={_hash(doc)}"}
            for gv, doc in _custom_v3_by_gv(generation).items()}


@lru_cache(maxsize=2)
def _v2_with_custom(generation: int) -> JSONDict:
    del generation
    base = v2_document()
    infos = served.all_infos()
    if not infos:
        return base
    ref = "#/definitions/"
    definitions = dict(base["definitions"])
    paths = dict(base["paths"])
    for r in infos:
        definitions.update(_custom_schemas(r, ref))
        for path, item in _paths_v3(r, ref).items():
            paths[path] = _v3_path_to_v2(item)
    return {**base, "paths": paths, "definitions": definitions}


def _v3_path_to_v2(item: JSONDict) -> JSONDict:
    out: JSONDict = {}
    for key, value in item.items():
        if key == "parameters":
            out[key] = [_v2_param(p) for p in value]
            continue
        op = dict(value)
        params = [_v2_param(p) for p in op.pop("parameters", [])]
        body = op.pop("requestBody", None)
        if body:
            content = body["content"]
            out_schema = content.get("application/json", {}).get("schema", {"type": "object"})
            params.append({"name": "body", "in": "body", "required": True,
                           "schema": out_schema})
            op["consumes"] = list(content)
        if params:
            op["parameters"] = params
        op["produces"] = ["application/json", "application/yaml"]
        op["responses"] = {code: ({"description": resp["description"],
                                   "schema": resp["content"]["application/json"]["schema"]}
                                  if "content" in resp else resp)
                           for code, resp in op["responses"].items()}
        out[key] = op
    return out


def _v2_param(p: JSONDict) -> JSONDict:
    q = {k: v for k, v in p.items() if k != "schema"}
    q["type"] = p.get("schema", {}).get("type", "string")
    q["uniqueItems"] = True
    return q


@cache
def v2_protobuf() -> bytes:
    """gnostic openapi_v2.Document{swagger: "2.0", info: {title, version}}."""
    info = length_delimited(1, b"minik8s") + length_delimited(2, discovery.GIT_VERSION.encode())
    return length_delimited(1, b"2.0") + length_delimited(2, info)


def _wants_protobuf(accept: str | None) -> bool:
    if not accept:
        return False
    first = accept.split(",")[0].split(";")[0].strip()
    return "protobuf" in first


router = APIRouter(include_in_schema=False)

_CACHE_HEADERS = {"Cache-Control": "no-cache, private"}


@router.get("/openapi/v2")
async def get_v2(request: Request) -> Response:
    if _wants_protobuf(request.headers.get("accept")):
        return Response(v2_protobuf(), media_type=PROTOBUF_V2_RESPONSE, headers=_CACHE_HEADERS)
    return Response(orjson.dumps(_v2_with_custom(served.generation)),
                    media_type="application/json", headers=_CACHE_HEADERS)


@router.get("/openapi/v3")
async def get_v3_index() -> Response:
    index = v3_index()
    custom = _custom_v3_index(served.generation)
    if custom:
        index = {"paths": {**index["paths"], **custom}}
    return Response(orjson.dumps(index), media_type="application/json",
                    headers=_CACHE_HEADERS)


@router.get("/openapi/v3/{gv_path:path}")
async def get_v3(gv_path: str, request: Request) -> Response:
    doc = v3_document(gv_path.strip("/"))
    if doc is None:
        doc = _custom_v3_document(gv_path.strip("/"), served.generation)
    if doc is None:
        return Response(orjson.dumps({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": f"the server could not find the requested resource: "
                       f"/openapi/v3/{gv_path}", "reason": "NotFound", "code": 404}),
            status_code=404, media_type="application/json")
    if "protobuf" in (request.headers.get("accept") or "").split(",")[0]:
        # No protobuf form of v3: 406 makes client-go ask again for JSON.
        return Response(orjson.dumps({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "only application/json is served", "reason": "NotAcceptable",
            "code": 406}), status_code=406, media_type="application/json")
    return Response(orjson.dumps(doc), media_type="application/json", headers=_CACHE_HEADERS)
