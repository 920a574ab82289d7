"""The shared client machinery: REST client, watch, informers, workqueue, controller loop,
leader election and events. Every service talks to the API server through this package."""

import sys

# httpx's package __init__ imports its command-line tool (click, rich, pygments) whenever
# those are installed, as they are here for minictl: ~6 MB of RSS and ~60 ms of start-up
# in every service, for a tool nothing here runs. With its module marked absent, httpx
# defines a stub ``main`` instead. Only done when httpx is not imported yet (a process that
# imported it first keeps it whole).
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from api.podutil import controller_ref
from client.cache import Store, meta_key, split_key
from client.config import ClientConfig, load_config, resolve_server
from client.controller import Controller, Result
from client.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    MethodNotAllowed,
    NotFound,
    ServerError,
    ServerUnavailable,
    TooLarge,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    error_from_response,
)
from client.events import EventRecorder
from client.informer import Informer, SharedInformerFactory
from client.leaderelection import LeaderElector
from client.rest import AsyncClient, Client, ObjectListResult, RetryPolicy, WatchEvent
from client.workqueue import RateLimitingQueue, ShutDown, WorkQueue

__all__ = [
    "AlreadyExists", "ApiError", "AsyncClient", "BadRequest", "Client", "ClientConfig",
    "Conflict", "Controller", "EventRecorder", "Forbidden", "Gone", "Informer", "Invalid",
    "LeaderElector", "MethodNotAllowed", "NotFound", "ObjectListResult", "RateLimitingQueue",
    "Result", "RetryPolicy", "ServerError", "ServerUnavailable", "SharedInformerFactory",
    "ShutDown", "Store", "TooLarge", "TooManyRequests", "Unauthorized",
    "UnsupportedMediaType", "WatchEvent", "WorkQueue", "controller_ref", "error_from_response",
    "load_config", "meta_key", "resolve_server", "split_key",
]
