"""Prometheus metrics with Kubernetes' names, a middleware that records every request,
and the hooks storage and the watch cache call (``observe_etcd``, ``set_watch_cache_size``).

Metric names follow the real API server's where one exists, so dashboards and people
who know Kubernetes find them where they expect.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apiserver import requestinfo

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0, 30.0, 60.0)

REQUESTS = Counter(
    "apiserver_request_total",
    "Counter of apiserver requests broken out for each verb, resource, subresource and "
    "HTTP response code.",
    ["verb", "resource", "subresource", "code"])
REQUEST_LATENCY = Histogram(
    "apiserver_request_duration_seconds",
    "Response latency distribution in seconds for each verb, resource and subresource "
    "(watches excluded: they last as long as the client wants).",
    ["verb", "resource", "subresource"], buckets=_LATENCY_BUCKETS)
OPEN_WATCHES = Gauge(
    "apiserver_registered_watchers", "Number of currently open watch requests per resource.",
    ["resource"])
INFLIGHT = Gauge("apiserver_current_inflight_requests",
                 "Requests being served now, watches excluded.")
ETCD_LATENCY = Histogram(
    "etcd_request_duration_seconds", "etcd request latency in seconds for each operation "
    "and resource.", ["operation", "type"], buckets=_LATENCY_BUCKETS)
ETCD_ERRORS = Counter("etcd_request_errors_total", "etcd requests that failed.",
                      ["operation", "type"])
WATCH_CACHE_OBJECTS = Gauge(
    "apiserver_watch_cache_objects", "Objects held in the watch cache per resource.",
    ["resource"])
WATCH_CACHE_EVENTS = Gauge(
    "apiserver_watch_cache_events", "Events held in the watch cache's ring per resource.",
    ["resource"])
WATCH_EVENTS = Counter("apiserver_watch_events_total",
                       "Watch events sent to clients per resource.", ["resource"])
WATCHERS_TERMINATED = Counter(
    "apiserver_terminated_watchers_total",
    "Watchers closed by the server because they could not keep up.", ["resource"])
WRITES_HELD = Counter(
    "apiserver_watch_cache_held_writes_total",
    "Writes held until the watch cache had applied more of this server's earlier writes.",
    ["resource"])


# Label children by label values: ``Metric.labels()`` validates and locks on every
# call, a measurable share of a pod create; the label sets here are few and fixed.
_ETCD_CHILDREN: dict[tuple[str, str], Histogram] = {}
_LATENCY_CHILDREN: dict[tuple[str, str, str], Histogram] = {}
_REQUEST_CHILDREN: dict[tuple[str, str, str, str], Counter] = {}


def observe_etcd(operation: str, seconds: float, resource: str = "", ok: bool = True) -> None:
    """Record one etcd call: ``operation`` like get, list, create, update, delete, txn."""
    child = _ETCD_CHILDREN.get((operation, resource))
    if child is None:
        child = _ETCD_CHILDREN[(operation, resource)] = ETCD_LATENCY.labels(operation, resource)
    child.observe(seconds)
    if not ok:
        ETCD_ERRORS.labels(operation, resource).inc()


@contextmanager
def etcd_timer(operation: str, resource: str = "") -> Iterator[None]:
    """``with etcd_timer("get", "pods"): await ...`` records latency, and errors if it raises."""
    start = time.perf_counter()
    ok = False
    try:
        yield
        ok = True
    finally:
        observe_etcd(operation, time.perf_counter() - start, resource, ok)


def set_watch_cache_size(resource: str, objects: int, events: int | None = None) -> None:
    WATCH_CACHE_OBJECTS.labels(resource).set(objects)
    if events is not None:
        WATCH_CACHE_EVENTS.labels(resource).set(events)


def watch_event_sent(resource: str, n: int = 1) -> None:
    WATCH_EVENTS.labels(resource).inc(n)


def watcher_terminated(resource: str) -> None:
    WATCHERS_TERMINATED.labels(resource).inc()


def write_held(resource: str) -> None:
    WRITES_HELD.labels(resource).inc()


# Per resource: objects, ring events, ring capacity (now; it grows up to
# --watch-cache-capacity under load and shrinks back: apiserver/watchcache.py), the
# oldest resourceVersion a watch resumes from without 410 (the window's start, lower
# after a backfill from etcd's history), and how many backfills were done.
CacheStats = tuple[int, int, int, int, int]


class _CallbackCollector(Collector):
    """Watch cache sizes read at scrape time from a callback the core registers."""

    def __init__(self, fn: Callable[[], dict[str, CacheStats]]) -> None:
        self._fn = fn

    def collect(self) -> Iterator[Metric]:
        try:
            sizes = self._fn()
        except Exception:  # a scrape must never fail because the cache is mid-restart
            sizes = {}
        objects = GaugeMetricFamily("apiserver_watch_cache_size",
                                    "Objects and ring events in the watch cache.",
                                    labels=["resource", "kind"])
        capacity = GaugeMetricFamily("apiserver_watch_cache_capacity",
                                     "Total capacity of the watch cache's event ring.",
                                     labels=["resource"])
        window = GaugeMetricFamily(
            "apiserver_watch_cache_window_start_resource_version",
            "Watches from a resourceVersion older than this are served from etcd's "
            "history or get 410 Gone.", labels=["resource"])
        backfills = CounterMetricFamily(
            "apiserver_watch_cache_history_backfills",
            "Times the event ring was extended back from etcd's history for resuming "
            "watches.", labels=["resource"])
        for resource, (n_objects, n_events, cap, start, n_backfills) in sizes.items():
            objects.add_metric([resource, "objects"], n_objects)
            objects.add_metric([resource, "events"], n_events)
            capacity.add_metric([resource], cap)
            window.add_metric([resource], start)
            backfills.add_metric([resource], n_backfills)
        yield objects
        yield capacity
        yield window
        yield backfills


_callback: _CallbackCollector | None = None


def register_watch_cache_sizes(fn: Callable[[], dict[str, CacheStats]],
                               registry: CollectorRegistry = REGISTRY) -> None:
    """Let the scrape read resource -> CacheStats from the watch cache."""
    global _callback
    if _callback is not None:
        registry.unregister(_callback)
    _callback = _CallbackCollector(fn)
    registry.register(_callback)


_VERB_LABEL = {"create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE",
               "deletecollection": "DELETECOLLECTION", "get": "GET", "list": "LIST",
               "watch": "WATCH"}


@functools.lru_cache(maxsize=4096)
def _request_labels(method: str, path: str, watch: str | None) -> tuple[str, str, str]:
    """verb, resource, subresource of a request; only ``watch`` of its query matters.
    Cached: a busy client repeats few (method, path) pairs, and parsing is per request."""
    info = requestinfo.parse(method, path, {"watch": watch} if watch is not None else None)
    if info is None:
        return method, "", ""
    return (_VERB_LABEL.get(info.verb, info.verb.upper()), info.resource.plural,
            info.subresource or "")


class MetricsMiddleware:
    """Counts and times every request by Kubernetes verb, resource and code."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        qs = scope.get("query_string")
        watch = None
        if qs:
            watch = dict(parse_qsl(bytes(qs).decode("latin-1"))).get("watch")
        verb, resource, sub = _request_labels(scope["method"], scope["path"], watch)
        code = 500
        watching = verb == "WATCH"

        async def send_wrapper(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = int(message["status"])
            elif watching and message["type"] == "http.response.body":
                # One newline-terminated JSON line per watch event.
                n = message.get("body", b"").count(b"\n")
                if n:
                    WATCH_EVENTS.labels(resource).inc(n)
            await send(message)

        start = time.perf_counter()
        if watching:
            OPEN_WATCHES.labels(resource).inc()
        else:
            INFLIGHT.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if watching:
                OPEN_WATCHES.labels(resource).dec()
            else:
                INFLIGHT.dec()
                lkey = (verb, resource, sub)
                hist = _LATENCY_CHILDREN.get(lkey)
                if hist is None:
                    hist = _LATENCY_CHILDREN[lkey] = REQUEST_LATENCY.labels(*lkey)
                hist.observe(time.perf_counter() - start)
            ckey = (verb, resource, sub, str(code))
            counter = _REQUEST_CHILDREN.get(ckey)
            if counter is None:
                counter = _REQUEST_CHILDREN[ckey] = REQUESTS.labels(*ckey)
            counter.inc()


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def get_metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
