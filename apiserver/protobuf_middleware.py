"""An ASGI middleware that turns protobuf request bodies into JSON before routing.

Doing it here keeps every route JSON-only: a create or update sent as
``application/vnd.kubernetes.protobuf`` reaches the handlers as the equivalent
``application/json`` body. Answers stay JSON; client-go decodes by Content-Type.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apiserver import errors, protobuf
from apiserver.routes.resources import resolve

MAX_BODY = 3 * 1024 * 1024


def _status(code: int, reason: str, message: str) -> bytes:
    return orjson.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {},
                         "status": "Failure", "message": message, "reason": reason,
                         "code": code})


class ProtobufMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = list(scope.get("headers") or [])
        ctype = next((bytes(v).decode("latin-1") for k, v in headers
                      if k.lower() == b"content-type"), None)
        if not protobuf.is_protobuf(ctype) or not _served(scope["path"]):
            # A path that serves no kind is a 404 whatever the body, as for JSON.
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            more = bool(message.get("more_body"))
            if size > MAX_BODY:
                await _answer(send, 413, errors.too_large(MAX_BODY).body())
                return
        raw = b"".join(chunks)
        if not raw and scope["method"] == "DELETE":
            obj = None  # a DELETE without DeleteOptions
        else:
            try:
                obj = protobuf.decode(raw)
            except protobuf.ProtobufError as exc:
                await _answer(send, 400, _status(400, "BadRequest",
                                                 f"error decoding protobuf body: {exc}"))
                return
        data = orjson.dumps(obj) if obj is not None else b""
        new_headers = [(k, v) for k, v in headers
                       if k.lower() not in (b"content-type", b"content-length")]
        new_headers += [(b"content-type", b"application/json"),
                        (b"content-length", str(len(data)).encode())]
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": data, "more_body": False}

        await self.app({**scope, "headers": new_headers}, replay, send)


def _served(path: str) -> bool:
    """Whether ``path`` names a served built-in resource (else the routes answer it)."""
    try:
        if path.startswith("/api/v1/"):
            resolve("", "v1", path[8:], path)
            return True
        if path.startswith("/apis/"):
            parts = path[6:].split("/", 2)
            if len(parts) == 3:
                resolve(parts[0], parts[1], parts[2], path)
                return True
    except errors.ApiError:
        pass
    return False


async def _answer(send: Send, code: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})
