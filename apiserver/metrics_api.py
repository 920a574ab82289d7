"""The resource metrics API, metrics.k8s.io/v1beta1, served by the API server itself.

In Kubernetes metrics-server scrapes every kubelet's ``/stats/summary`` and the API server
aggregates it; here the API server reads the summaries itself, on demand, through the
address the Node reports (apiserver/kubelets.py, as nodes/proxy does), and keeps each one
for ``CACHE_SECONDS`` so that a burst of reads (kubectl top, the HPA's every pod) costs one
scrape per kubelet. A kubelet that does not answer within ``FETCH_TIMEOUT`` is left out
(its node and pods have no metrics, as with metrics-server), so nothing hangs.

- ``GET .../nodes`` and ``.../nodes/NAME``: NodeMetrics, usage = the node's cpu
  usageNanoCores (as ``<n>n``) and memory workingSetBytes (as ``<n>Ki``), labelSelector on
  the Node's labels;
- ``GET .../pods``, ``.../namespaces/NS/pods``, ``.../namespaces/NS/pods/NAME``: PodMetrics
  with each container's usage, for the pods the API server knows (labelSelector on their
  labels, fieldSelector metadata.name / metadata.namespace);
- ``window`` is the time between this scrape's samples and the kubelet's previous ones.

Only get and list (405 otherwise; a watch is refused as metrics-server refuses it). Asked
for a Table (kubectl get nodes.metrics.k8s.io), the columns are metrics-server's: Name, cpu,
memory (a pod's the sum of its containers) and Window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from api import resources
from api.labels import SelectorError, parse_selector
from api.quantity import canonical, parse_quantity
from api.timeutil import parse_time
from apiserver import errors, kubelets, tables
from apiserver.kubelets import kubelet_url
from apiserver.registry import Registry

JSONDict = dict[str, Any]
log = logging.getLogger(__name__)

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
PREFIX = f"/apis/{GROUP}/{VERSION}"
CACHE_SECONDS = 5.0
FETCH_TIMEOUT = 5.0

RESOURCE_LIST: JSONDict = {
    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION,
    "resources": [
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics",
         "verbs": ["get", "list"]},
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics",
         "verbs": ["get", "list"]},
    ],
}


class _Cache:
    """url -> (monotonic time, summary or error message, previous summary)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[float, JSONDict | str, JSONDict | None]] = {}
        self.inflight: dict[str, asyncio.Future[JSONDict | str]] = {}


_CACHES: dict[int, _Cache] = {}


def _cache() -> _Cache:
    loop = id(asyncio.get_running_loop())
    c = _CACHES.get(loop)
    if c is None:
        c = _CACHES[loop] = _Cache()
    return c


async def _fetch(url: str, node: str | None) -> JSONDict | str:
    import aiohttp

    try:
        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT),
                cookie_jar=aiohttp.DummyCookieJar()) as s, \
                s.get(f"{url}/stats/summary", params={"node": node} if node else None,
                      ssl=kubelets.current().aiohttp_ssl()) as r:
            body = await r.read()
            if r.status != 200:
                return f"kubelet {url} answered {r.status}: {body[:200].decode(errors='replace')}"
            got = orjson.loads(body)
            return got if isinstance(got, dict) else f"kubelet {url}: not a summary"
    except TimeoutError:
        return f"kubelet {url} did not answer within {FETCH_TIMEOUT:g}s"
    except Exception as e:  # refused, reset, not JSON: the node has no metrics
        return f"kubelet {url}: {e or type(e).__name__}"


async def summary(url: str, node: str | None = None) -> tuple[JSONDict | str, JSONDict | None]:
    """The kubelet's summary (or why there is none) and the one before it, cached; ``node``
    names one of the hollow nodes a kubelet process serves."""
    key = f"{url}?node={node}" if node else url
    c = _cache()
    now = time.monotonic()
    hit = c.entries.get(key)
    if hit is not None and now - hit[0] < CACHE_SECONDS:
        return hit[1], hit[2]
    fut = c.inflight.get(key)
    if fut is None:
        fut = asyncio.get_running_loop().create_future()
        c.inflight[key] = fut
        try:
            got = await _fetch(url, node)
        finally:
            c.inflight.pop(key, None)
        prev = hit[1] if hit is not None and isinstance(hit[1], dict) else (
            hit[2] if hit is not None else None)
        c.entries[key] = (time.monotonic(), got, prev)
        fut.set_result(got)
        if isinstance(got, str):
            log.warning("metrics: %s", got)
        return got, prev
    got = await asyncio.shield(fut)
    entry = c.entries.get(key)
    return got, entry[2] if entry is not None else None


def _json(body: JSONDict) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cpu(stats: JSONDict | None) -> str:
    return f"{int((stats or {}).get('usageNanoCores') or 0)}n"


def _memory(stats: JSONDict | None) -> str:
    return f"{int((stats or {}).get('workingSetBytes') or 0) // 1024}Ki"


def _window(cur: JSONDict | None, prev: JSONDict | None) -> str:
    """The time between two samples' cpu.time, as a Go duration; 1s at least."""
    seconds = 1.0
    with contextlib.suppress(Exception):
        if cur and prev and cur.get("time") and prev.get("time"):
            seconds = max(1.0, (parse_time(cur["time"]) - parse_time(prev["time"])).total_seconds())
    return f"{seconds:g}s"


def _selector(request: Request) -> Any:
    raw = request.query_params.get("labelSelector") or ""
    try:
        return parse_selector(raw) if raw.strip() else None
    except (SelectorError, ValueError) as e:
        raise errors.bad_request(f"unable to parse selector: {e}") from None


def _fields(request: Request) -> dict[str, str]:
    raw = request.query_params.get("fieldSelector") or ""
    out: dict[str, str] = {}
    for term in filter(None, (t.strip() for t in raw.split(","))):
        k, sep, v = term.partition("==") if "==" in term else term.partition("=")
        if not sep or k not in ("metadata.name", "metadata.namespace"):
            raise errors.bad_request(f'field label not supported: {k or term}')
        out[k] = v
    return out


async def _objects(reg: Registry, info: resources.ResourceInfo) -> list[JSONDict]:
    c = reg.cache(info)
    if not c.synced.is_set():
        fresh = await reg.fresh_cache(info)
        if fresh is None:
            raise errors.unavailable(f"the {info.plural} cache is not ready")
        c = fresh
    items, _ = c.list_objects(None, None)
    return [co.obj for co in items]


async def _summaries(nodes: list[JSONDict]) -> dict[str, tuple[JSONDict | str, JSONDict | None]]:
    """node name -> (its summary or why none, the previous summary)."""
    urls: dict[str, str] = {}
    out: dict[str, tuple[JSONDict | str, JSONDict | None]] = {}
    for n in nodes:
        name = (n.get("metadata") or {}).get("name") or ""
        url = await kubelet_url(n)
        if url is None:
            out[name] = ("the node reports no kubelet address", None)
        else:
            urls[name] = url
    distinct = sorted(set(urls.values()))
    got = dict(zip(distinct, await asyncio.gather(*(summary(u) for u in distinct)), strict=True))
    for name, url in urls.items():
        s, prev = got[url]
        out[name] = (s, prev if isinstance(prev, dict) else None)
    # Hollow nodes share their process's port, which answers for its first node; the
    # others are asked for by name.
    def served(got: JSONDict | str) -> str | None:
        return (got.get("node") or {}).get("nodeName") if isinstance(got, dict) else None
    others = [name for name in urls if served(out[name][0]) not in (None, name)]
    for name, (s, prev) in zip(others, await asyncio.gather(
            *(summary(urls[n], n) for n in others)), strict=True):
        if isinstance(s, dict) and (s.get("node") or {}).get("nodeName") != name:
            s = f"kubelet {urls[name]} does not serve node {name}"
        out[name] = (s, prev if isinstance(prev, dict) else None)
    return out


def _node_metrics(node: JSONDict, s: JSONDict, prev: JSONDict | None) -> JSONDict | None:
    ns = s.get("node") or {}
    cpu, mem = ns.get("cpu"), ns.get("memory")
    if not cpu or "usageNanoCores" not in cpu or not mem:
        return None
    md = node.get("metadata") or {}
    return {"kind": "NodeMetrics", "apiVersion": GROUP_VERSION,
            "metadata": {"name": md.get("name"), "creationTimestamp": _now(),
                         **({"labels": md["labels"]} if md.get("labels") else {})},
            "timestamp": cpu.get("time") or _now(),
            "window": _window(cpu, ((prev or {}).get("node") or {}).get("cpu")),
            "usage": {"cpu": _cpu(cpu), "memory": _memory(mem)}}


def _pod_metrics(pod: JSONDict, ps: JSONDict, prev: JSONDict | None) -> JSONDict | None:
    containers = []
    for c in ps.get("containers") or []:
        if not (c.get("cpu") or {}).get("time") or "usageNanoCores" not in (c.get("cpu") or {}):
            return None  # no rate yet: metrics-server leaves such a pod out too
        containers.append({"name": c.get("name"),
                           "usage": {"cpu": _cpu(c.get("cpu")), "memory": _memory(c.get("memory"))}})
    if not containers:
        return None
    md = pod.get("metadata") or {}
    prev_cpu = None
    for pp in (prev or {}).get("pods") or []:
        if (pp.get("podRef") or {}).get("uid") == md.get("uid"):
            prev_cpu = pp.get("cpu")
    cpu = ps.get("cpu") or (ps.get("containers") or [{}])[0].get("cpu") or {}
    return {"kind": "PodMetrics", "apiVersion": GROUP_VERSION,
            "metadata": {"name": md.get("name"), "namespace": md.get("namespace"),
                         "creationTimestamp": _now(),
                         **({"labels": md["labels"]} if md.get("labels") else {})},
            "timestamp": cpu.get("time") or _now(), "window": _window(cpu, prev_cpu),
            "containers": sorted(containers, key=lambda c: str(c["name"]))}


async def node_metrics(reg: Registry, name: str | None, selector: Any) -> list[JSONDict]:
    nodes = await _objects(reg, resources.NODES)
    if name is not None:
        nodes = [n for n in nodes if (n.get("metadata") or {}).get("name") == name]
        if not nodes:
            raise errors.ApiError(404, "NotFound", f'nodemetrics.{GROUP} "{name}" not found',
                                  {"name": name, "group": GROUP, "kind": "nodemetrics"})
    if selector is not None:
        nodes = [n for n in nodes if selector.matches((n.get("metadata") or {}).get("labels"))]
    sums = await _summaries(nodes)
    out = []
    for n in nodes:
        nname = (n.get("metadata") or {}).get("name") or ""
        s, prev = sums.get(nname, ("", None))
        m = _node_metrics(n, s, prev) if isinstance(s, dict) else None
        if m is not None:
            out.append(m)
        elif name is not None:
            why = s if isinstance(s, str) and s else "no usage sample yet"
            raise errors.ApiError(404, "NotFound",
                                  f'nodemetrics.{GROUP} "{name}" not found: {why}',
                                  {"name": name, "group": GROUP, "kind": "nodemetrics"})
    return sorted(out, key=lambda m: str(m["metadata"]["name"]))


async def pod_metrics(reg: Registry, namespace: str | None, name: str | None, selector: Any,
                      fields: dict[str, str]) -> list[JSONDict]:
    pods = await _objects(reg, resources.PODS)
    want_ns = namespace if namespace is not None else fields.get("metadata.namespace")
    want_name = name if name is not None else fields.get("metadata.name")

    def keep(p: JSONDict) -> bool:
        md = p.get("metadata") or {}
        return ((want_ns is None or md.get("namespace") == want_ns)
                and (want_name is None or md.get("name") == want_name)
                and (selector is None or selector.matches(md.get("labels")))
                and bool((p.get("spec") or {}).get("nodeName")))
    pods = [p for p in pods if keep(p)]
    node_names = {(p.get("spec") or {}).get("nodeName") for p in pods}
    nodes = [n for n in await _objects(reg, resources.NODES)
             if (n.get("metadata") or {}).get("name") in node_names]
    sums = await _summaries(nodes)
    by_uid: dict[str, tuple[JSONDict, JSONDict | None]] = {}
    for s, prev in sums.values():
        if isinstance(s, dict):
            for ps in s.get("pods") or []:
                uid = (ps.get("podRef") or {}).get("uid")
                if uid:
                    by_uid[uid] = (ps, prev)
    out = []
    for p in pods:
        found = by_uid.get((p.get("metadata") or {}).get("uid") or "")
        if found is not None and (m := _pod_metrics(p, *found)) is not None:
            out.append(m)
    if name is not None and not out:
        node = (pods[0].get("spec") or {}).get("nodeName") if pods else None
        why = sums.get(node or "", ("", None))[0] if node else ""
        raise errors.ApiError(
            404, "NotFound", f'podmetrics.{GROUP} "{name}" not found'
            + (f": {why}" if isinstance(why, str) and why else ""),
            {"name": name, "group": GROUP, "kind": "podmetrics"})
    return sorted(out, key=lambda m: (str(m["metadata"]["namespace"]),
                                      str(m["metadata"]["name"])))


def _duration(window: str) -> str:
    """10.5s -> Go's time.Duration String(): 10.5s, 1m30s."""
    try:
        seconds = float(window.rstrip("s"))
    except ValueError:
        return window
    m, sec = divmod(seconds, 60)
    return f"{int(m)}m{sec:g}s" if m else f"{sec:g}s"


def _table(items: list[JSONDict], include: str) -> JSONDict:
    """metrics-server's addNodeMetricsToTable / addPodMetricsToTable."""
    cols = [{"name": "Name", "type": "string", "format": "name",
             "description": "Name of the resource", "priority": 0}]
    cols += [{"name": r, "type": "string", "format": "quantity", "description": "",
              "priority": 0} for r in ("cpu", "memory")]
    cols.append({"name": "Window", "type": "string", "format": "duration", "description": "",
                 "priority": 0})
    rows = []
    for m in items:
        if "containers" in m:
            total = {r: sum((parse_quantity((c.get("usage") or {}).get(r, "0"))
                             for c in m["containers"]), start=parse_quantity("0"))
                     for r in ("cpu", "memory")}
            usage = {"cpu": canonical(f"{int(total['cpu'] * 10**9)}n"),
                     "memory": canonical(f"{int(total['memory']) // 1024}Ki")}
        else:
            usage = {r: canonical(str((m.get("usage") or {}).get(r, "0")))
                     for r in ("cpu", "memory")}
        row: JSONDict = {"cells": [m["metadata"]["name"], usage["cpu"], usage["memory"],
                                   _duration(str(m.get("window") or "0s"))]}
        if include == "Object":
            row["object"] = m
        elif include == "Metadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": m["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
            "columnDefinitions": cols, "rows": rows}


async def serve(request: Request) -> Response:
    """Every request under /apis/metrics.k8s.io/v1beta1."""
    path = request.url.path
    rest = path[len(PREFIX):].strip("/")
    parts = rest.split("/") if rest else []
    m = "GET" if request.method == "HEAD" else request.method
    if not parts:
        if m != "GET":
            raise errors.method_not_allowed(m)
        return _json(RESOURCE_LIST)
    namespace: str | None = None
    if parts[0] == "namespaces" and len(parts) >= 3:
        namespace, parts = parts[1], parts[2:]
        if parts[0] != "pods":
            raise errors.path_not_found(path)
    if parts[0] not in ("nodes", "pods") or len(parts) > 2 or any(not p for p in parts):
        raise errors.path_not_found(path)
    if parts[0] == "pods" and len(parts) == 2 and namespace is None:
        raise errors.path_not_found(path)
    if m != "GET":
        raise errors.method_not_allowed(m)
    if request.query_params.get("watch", "").lower() in ("1", "true"):
        raise errors.method_not_allowed("WATCH")
    reg: Registry = request.app.state.registry
    name = parts[1] if len(parts) == 2 else None
    selector = _selector(request)
    if parts[0] == "nodes":
        items = await node_metrics(reg, name, selector)
        kind = "NodeMetrics"
    else:
        items = await pod_metrics(reg, namespace, name, selector, _fields(request))
        kind = "PodMetrics"
    if tables.wants_table(request.headers.get("accept")):
        return _json(_table(items, tables.include_object_mode(dict(request.query_params))))
    if name is not None:
        return _json(items[0])
    return _json({"kind": f"{kind}List", "apiVersion": GROUP_VERSION,
                  "metadata": {}, "items": items})
