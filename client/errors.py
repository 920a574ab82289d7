"""Typed exceptions for the API server's Status responses.

Callers branch on the exception class (``except NotFound``), never on message text,
so the mapping from (code, reason) to a class lives here and only here.
"""

from __future__ import annotations

from typing import Any

import orjson

from api.models import Status


class ApiError(Exception):
    """A request the API server answered with a failure Status (or could not answer)."""

    def __init__(self, status: Status) -> None:
        self.status = status
        super().__init__(f"{status.code} {status.reason}: {status.message}")

    @property
    def code(self) -> int:
        return self.status.code or 0

    @property
    def reason(self) -> str:
        return self.status.reason or ""

    @property
    def message(self) -> str:
        return self.status.message or ""

    @property
    def causes(self) -> list[tuple[str | None, str | None, str | None]]:
        """(reason, message, field) of each cause, for validation errors."""
        d = self.status.details
        return [(c.reason, c.message, c.field) for c in (d.causes or [])] if d else []

    @property
    def retry_after_seconds(self) -> int | None:
        d = self.status.details
        return d.retry_after_seconds if d else None


class BadRequest(ApiError):
    """400 BadRequest."""


class Unauthorized(ApiError):
    """401 Unauthorized."""


class Forbidden(ApiError):
    """403 Forbidden."""


class NotFound(ApiError):
    """404 NotFound."""


class MethodNotAllowed(ApiError):
    """405 MethodNotAllowed."""


class Conflict(ApiError):
    """409 Conflict: a resourceVersion precondition failed (optimistic concurrency)."""


class AlreadyExists(ApiError):
    """409 AlreadyExists: create of a name that is taken (not a Conflict subclass, so that
    a retry-on-Conflict loop around an update never swallows a failed create)."""


class Gone(ApiError):
    """410 Expired/Gone: the resourceVersion asked for is older than the server keeps."""


class TooLarge(ApiError):
    """413 RequestEntityTooLarge."""


class UnsupportedMediaType(ApiError):
    """415 UnsupportedMediaType."""


class Invalid(ApiError):
    """422 Invalid: validation failed; ``causes`` names the fields."""


class TooManyRequests(ApiError):
    """429 TooManyRequests."""


class ServerError(ApiError):
    """5xx from the API server (InternalError, ServiceUnavailable, Timeout...)."""


class ServerUnavailable(ApiError):
    """No answer at all: connection refused/reset/timed out, after any retries."""


_BY_REASON: dict[str, type[ApiError]] = {
    "NotFound": NotFound,
    "AlreadyExists": AlreadyExists,
    "Conflict": Conflict,
    "Invalid": Invalid,
    "BadRequest": BadRequest,
    "Unauthorized": Unauthorized,
    "Forbidden": Forbidden,
    "Expired": Gone,
    "Gone": Gone,
    "MethodNotAllowed": MethodNotAllowed,
    "RequestEntityTooLarge": TooLarge,
    "UnsupportedMediaType": UnsupportedMediaType,
    "TooManyRequests": TooManyRequests,
}

_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    413: TooLarge,
    415: UnsupportedMediaType,
    422: Invalid,
    429: TooManyRequests,
}

_DEFAULT_REASON: dict[int, str] = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 409: "Conflict", 410: "Gone", 413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
    500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


def error_class(code: int, reason: str | None) -> type[ApiError]:
    # The reason is more precise than the code (409 is both Conflict and AlreadyExists).
    if reason and reason in _BY_REASON:
        return _BY_REASON[reason]
    if code in _BY_CODE:
        return _BY_CODE[code]
    if code >= 500:
        return ServerError
    return ApiError


def error_from_status(status: Status) -> ApiError:
    return error_class(status.code or 0, status.reason)(status)


def error_from_response(code: int, body: bytes | str | dict[str, Any] | None) -> ApiError:
    """The typed exception for a failed response; tolerates bodies that are not a Status."""
    data: Any = body
    if isinstance(body, bytes | str):
        try:
            data = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            data = None
    if isinstance(data, dict) and data.get("kind") == "Status":
        status = Status.model_validate(data)
        if status.code is None:
            status.code = code
    else:
        text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
        status = Status(status="Failure", code=code,
                        reason=_DEFAULT_REASON.get(code, "Unknown"),
                        message=text.strip()[:1000] or f"HTTP {code}")
    return error_from_status(status)


def unavailable(server: str, cause: BaseException) -> ServerUnavailable:
    return ServerUnavailable(Status(
        status="Failure", code=503, reason="ServiceUnavailable",
        message=f"cannot reach the API server at {server}: {type(cause).__name__}: {cause}",
    ))
