"""An ASGI middleware that turns get/list/watch answers into Tables (or
PartialObjectMetadata, for metadata-only clients) when the client asks.

Done as a response transform so the CRUD and watch handlers stay ignorant of printing:
only kubectl asks for Tables, and for it an extra decode of the body is cheap. A watch
stream is converted line by line as it flows, never buffered whole.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apiserver import requestinfo, tables, watchlines


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers") or []:
        if k.lower() == name:
            return bytes(v).decode("latin-1")
    return None


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    for k, v in headers:
        if k.lower() == b"content-type":
            return v.split(b";")[0].strip() in (b"application/json", b"application/json-seq")
    return False


class TableMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        form = tables.wanted_form(_header(scope, b"accept"))
        if form is None:
            await self.app(scope, receive, send)
            return
        query = dict(parse_qsl(bytes(scope.get("query_string") or b"").decode("latin-1")))
        info = requestinfo.parse("GET", scope["path"], query)
        if info is None or info.subresource is not None:
            await self.app(scope, receive, send)
            return
        include = tables.include_object_mode(query)
        resource = info.resource
        if info.verb == "watch":
            await self.app(scope, receive,
                           _WatchConverter(send, resource, include, form).send)
            return
        await self.app(scope, receive, _BodyConverter(send, resource, include, form).send)


class _BodyConverter:
    def __init__(self, send: Send, resource: Any, include: str, form: str) -> None:
        self._form = form
        self._send = send
        self._resource = resource
        self._include = include
        self._start: Message | None = None
        self._convert = False
        self._chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._start = message
            self._convert = message.get("status") == 200 and _is_json(message.get("headers", []))
            if not self._convert:
                await self._send(message)
            return
        if message["type"] != "http.response.body" or not self._convert:
            await self._send(message)
            return
        self._chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        raw = b"".join(self._chunks)
        try:
            body = orjson.loads(raw)
            if isinstance(body, dict):
                raw = orjson.dumps(tables.convert_body(self._resource, body, self._include,
                                                       self._form))
        except orjson.JSONDecodeError:
            pass
        assert self._start is not None
        headers = [(k, v) for k, v in self._start.get("headers", [])
                   if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(raw)).encode()))
        await self._send({**self._start, "headers": headers})
        await self._send({"type": "http.response.body", "body": raw, "more_body": False})


class _WatchConverter:
    def __init__(self, send: Send, resource: Any, include: str, form: str) -> None:
        self._form = form
        self._send = send
        self._resource = resource
        self._include = include
        self._convert = False
        self._lines = watchlines.Lines()

    def _line(self, line: bytes) -> bytes:
        event = watchlines.event_of(line)
        if event is None:
            return line
        return orjson.dumps(tables.convert_event(self._resource, event, self._include,
                                                 self._form))

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._convert = message.get("status") == 200 and _is_json(message.get("headers", []))
            if self._convert:
                message = {**message, "headers": [
                    (k, v) for k, v in message.get("headers", [])
                    if k.lower() != b"content-length"]}
            await self._send(message)
            return
        if message["type"] != "http.response.body" or not self._convert:
            await self._send(message)
            return
        more = bool(message.get("more_body"))
        lines = self._lines.feed(message.get("body", b""), more)
        out = b"".join(self._line(ln) + b"\n" for ln in lines)
        if out or not more:
            await self._send({"type": "http.response.body", "body": out, "more_body": more})
