"""The shared client machinery: REST client, watch, informers, workqueue, controller loop,
leader election and events. Every service talks to the API server through this package."""

from client.config import ClientConfig, load_config, resolve_server
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
from client.rest import AsyncClient, Client, ObjectListResult, RetryPolicy, WatchEvent

__all__ = [
    "AlreadyExists", "ApiError", "AsyncClient", "BadRequest", "Client", "ClientConfig",
    "Conflict", "Forbidden", "Gone", "Invalid", "MethodNotAllowed", "NotFound",
    "ObjectListResult", "RetryPolicy", "ServerError", "ServerUnavailable", "TooLarge",
    "TooManyRequests", "Unauthorized", "UnsupportedMediaType", "WatchEvent",
    "error_from_response", "load_config", "resolve_server",
]
