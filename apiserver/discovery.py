"""Discovery documents, generated from api/resources.py so they cannot drift from the routes.

kubectl 1.37 first asks for aggregated discovery (``as=APIGroupDiscoveryList`` in its
Accept header); answering the legacy kinds with ``Content-Type: application/json`` makes
it fall back to /api, /apis, /api/v1 and /apis/<group>/<version>, which is all we serve.
"""

from __future__ import annotations

import base64
import hashlib
import platform
import sys
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from api import resources
from api.resources import ResourceInfo
from apiserver import customresources as served
from apiserver import discovery_aggregated, metrics_api

JSONDict = dict[str, Any]

MAJOR = "1"
MINOR = "36"
GIT_VERSION = f"v{MAJOR}.{MINOR}.0-minik8s"

# Subresource -> (kind, verbs, group, version); group/version only where it differs
# from the parent's, as for the autoscaling/v1 Scale that kubectl scale expects.
_SUBRESOURCES: dict[str, tuple[str | None, tuple[str, ...], str | None, str | None]] = {
    "status": (None, ("get", "patch", "update"), None, None),
    "scale": ("Scale", ("get", "patch", "update"), "autoscaling", "v1"),
    "binding": ("Binding", ("create",), None, None),
    "ephemeralcontainers": ("Pod", ("get", "patch", "update"), None, None),
    "approval": (None, ("get", "patch", "update"), None, None),
    "eviction": ("Eviction", ("create",), "policy", "v1"),
    "token": ("TokenRequest", ("create",), "authentication.k8s.io", "v1"),
    "log": ("Pod", ("get",), None, None),
    "exec": ("PodExecOptions", ("create", "get"), None, None),
    "attach": ("PodAttachOptions", ("create", "get"), None, None),
    "portforward": ("PodPortForwardOptions", ("create", "get"), None, None),
    # PodProxyOptions, ServiceProxyOptions, NodeProxyOptions
    "proxy": ("ProxyOptions", ("create", "delete", "get", "patch", "update"), None, None),
}


def version_info() -> JSONDict:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return {
        "major": MAJOR, "minor": MINOR, "emulationMajor": MAJOR, "emulationMinor": MINOR,
        "gitVersion": GIT_VERSION, "gitCommit": "minik8s", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "compiler": "cpython", "platform": f"{sys.platform}/{arch}",
    }


# Kinds served at a second version over another's storage (apiserver/served_versions.py):
# listed after the registry's versions of their group, so those stay preferred.
_converted: list[ResourceInfo] = []


def register_converted(info: ResourceInfo) -> None:
    if info not in _converted:
        _converted.append(info)


def group_versions() -> dict[str, list[str]]:
    """Group -> versions, in registry order; "" is the core group."""
    out: dict[str, list[str]] = {}
    for r in (*resources.ALL, *_converted):
        versions = out.setdefault(r.group, [])
        if r.version not in versions:
            versions.append(r.version)
    out[metrics_api.GROUP] = [metrics_api.VERSION]  # computed, not in the registry
    for c in served.all_infos():  # custom resources, as their CRDs define them now
        versions = out.setdefault(c.group, [])
        if c.version not in versions:
            versions.append(c.version)
    for g, vs in out.items():
        if len(vs) > 1 and g in served.groups():
            vs.sort(key=served.version_priority_key)
    return out


def api_versions(server_address: str = "") -> JSONDict:
    return {
        "kind": "APIVersions", "versions": group_versions().get("", []),
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}] if server_address
        else [],
    }


def api_group(group: str) -> JSONDict | None:
    versions = group_versions().get(group)
    if not group or not versions:
        return None
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs,
            "preferredVersion": gvs[0]}


def api_group_list() -> JSONDict:
    groups = [api_group(g) for g in group_versions() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [{k: v for k, v in g.items() if k not in ("kind", "apiVersion")}
                       for g in groups if g is not None]}


def _storage_hash(r: ResourceInfo) -> str:
    raw = hashlib.sha256(f"{r.group}/{r.version}/{r.kind}".encode()).digest()
    return base64.b64encode(raw[:8]).decode()


def resource_entries(r: ResourceInfo) -> list[JSONDict]:
    main: JSONDict = {
        "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
        "kind": r.kind, "verbs": list(r.verbs), "storageVersionHash": _storage_hash(r),
    }
    if r.short_names:
        main["shortNames"] = list(r.short_names)
    if r.categories:
        main["categories"] = list(r.categories)
    out = [main]
    for sub in r.subresources:
        kind, verbs, group, version = _SUBRESOURCES.get(sub, (None, ("get",), None, None))
        entry: JSONDict = {"name": f"{r.plural}/{sub}", "singularName": "",
                           "namespaced": r.namespaced,
                           "kind": r.kind + (kind or "") if sub == "proxy" else kind or r.kind,
                           "verbs": list(verbs)}
        if group is not None:
            entry["group"] = group
            entry["version"] = version
        out.append(entry)
    return out


def api_resource_list(group: str, version: str) -> JSONDict | None:
    if (group, version) == (metrics_api.GROUP, metrics_api.VERSION):
        return metrics_api.RESOURCE_LIST
    rs = [r for r in (*resources.ALL, *_converted) if r.group == group and r.version == version]
    custom = served.kinds(group, version)
    if custom:
        rs += list(custom.values())
    if not rs:
        return None
    return {
        "kind": "APIResourceList", "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [e for r in rs for e in resource_entries(r)],
    }


def _json(body: JSONDict, status: int = 200) -> Response:
    # Plain application/json whatever was asked for: that is the signal kubectl uses to
    # fall back from aggregated discovery to these legacy documents.
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _not_found(path: str) -> Response:
    return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": "the server could not find the requested resource",
                  "reason": "NotFound", "details": {"causes": [
                      {"reason": "UnexpectedServerResponse",
                       "message": f"404 page not found: {path}"}]}, "code": 404}, 404)


router = APIRouter(include_in_schema=False)
_TABLES = discovery_aggregated.Tables(group_versions, api_resource_list)


@router.get("/version")
async def get_version() -> Response:
    return _json(version_info())


@router.get("/api")
@router.get("/api/")
async def get_api(request: Request) -> Response:
    aggregated = discovery_aggregated.response(_TABLES, request, core=True)
    if aggregated is not None:
        return aggregated
    host = request.headers.get("host", "")
    return _json(api_versions(host))


@router.get("/apis")
@router.get("/apis/")
async def get_apis(request: Request) -> Response:
    aggregated = discovery_aggregated.response(_TABLES, request, core=False)
    if aggregated is not None:
        return aggregated
    return _json(api_group_list())


@router.get("/api/{version}")
async def get_core_version(version: str, request: Request) -> Response:
    body = api_resource_list("", version)
    return _json(body) if body else _not_found(request.url.path)


@router.get("/apis/{group}")
async def get_group(group: str, request: Request) -> Response:
    body = api_group(group)
    return _json(body) if body else _not_found(request.url.path)


@router.get("/apis/{group}/{version}")
async def get_group_version(group: str, version: str, request: Request) -> Response:
    body = api_resource_list(group, version)
    return _json(body) if body else _not_found(request.url.path)
