"""Errors as Kubernetes ``Status`` objects.

Handlers raise ``ApiError``; one exception handler turns it into the Status body,
so every failure a client can see has the reason and code Kubernetes would give.
Messages follow Kubernetes' wording (``pods "x" not found``) because kubectl and
people search for them.
"""

from __future__ import annotations

from typing import Any

import orjson

from api.resources import ResourceInfo

JSONDict = dict[str, Any]


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str,
                 details: JSONDict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> JSONDict:
        # metav1.Status' field order, as kube-apiserver serializes it.
        body: JSONDict = {
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason,
        }
        if self.details:
            body["details"] = self.details
        body["code"] = self.code
        return body

    def body(self) -> bytes:
        # Newline-terminated, as Go's json.Encoder writes kube-apiserver's bodies.
        return orjson.dumps(self.status(), option=orjson.OPT_APPEND_NEWLINE)

    def headers(self) -> dict[str, str] | None:
        """Retry-After when the details carry retryAfterSeconds, as Kubernetes writes it."""
        retry = (self.details or {}).get("retryAfterSeconds")
        return {"Retry-After": str(retry)} if retry else None


def _details(info: ResourceInfo | None, name: str | None, **extra: Any) -> JSONDict:
    d: JSONDict = {}
    if name:
        d["name"] = name
    if info is not None:
        if info.group:
            d["group"] = info.group
        d["kind"] = info.plural
    d.update({k: v for k, v in extra.items() if v is not None})
    return d


def not_found(info: ResourceInfo, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{info.group_resource} "{name}" not found',
                    _details(info, name))


def already_exists(info: ResourceInfo, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{info.group_resource} "{name}" already exists',
                    _details(info, name))


def conflict(info: ResourceInfo, name: str, why: str | None = None) -> ApiError:
    why = why or ("the object has been modified; please apply your changes to the latest "
                  "version and try again")
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {info.group_resource} "{name}": {why}',
                    _details(info, name))


def invalid(info: ResourceInfo, name: str | None, causes: list[JSONDict]) -> ApiError:
    kind = info.kind
    summary = ", ".join(
        f"{c.get('field')}: {c.get('message')}" if c.get("field") else str(c.get("message"))
        for c in causes)
    name_part = f' "{name}"' if name else ""
    details = {"name": name, "group": info.group or None, "kind": kind, "causes": causes}
    return ApiError(422, "Invalid", f"{kind}{name_part} is invalid: {summary}",
                    {k: v for k, v in details.items() if v is not None})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(info: ResourceInfo, name: str, why: str) -> ApiError:
    return ApiError(403, "Forbidden",
                    f'{info.group_resource} "{name}" is forbidden: {why}',
                    _details(info, name))


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def method_not_allowed(method: str) -> ApiError:
    # Kubernetes' exact wording; the method is in the request line already.
    del method
    return ApiError(405, "MethodNotAllowed",
                    "the server does not allow this method on the requested resource")


def too_large(limit: int = 3 * 1024 * 1024) -> ApiError:
    """NewRequestEntityTooLargeError: the request body (3 MiB) or the object as stored
    (etcd's 1.5 MiB) over its limit."""
    return ApiError(413, "RequestEntityTooLarge",
                    f"Request entity too large: limit is {limit}")


def unsupported_media_type(content_type: str, accepted: tuple[str, ...]) -> ApiError:
    return ApiError(415, "UnsupportedMediaType",
                    f'the body of the request was in an unknown format ("{content_type}") - '
                    f"accepted media types include: {', '.join(accepted)}")


def path_not_found(path: str) -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource",
                    {"causes": [{"reason": "UnexpectedServerResponse",
                                 "message": f"404 page not found: {path}"}]})


def unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)


def timeout(message: str) -> ApiError:
    """504 Timeout: the server may still be processing the request (NewTimeoutError
    writes its message as ``Timeout: <message>``)."""
    return ApiError(504, "Timeout", message)


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")
