"""A kind served at a second group/version over another version's storage, converted at
the HTTP boundary as kube-apiserver's conversion does around its storage version.

The registry serves each kind at one group/version and keeps the stored JSON as it answers
(bytes straight from etcd and the watch cache), so a second version is served outside it:
``ConvertedVersionMiddleware`` takes every request under the outer version's path for the
kind's plural, converts a JSON body outer -> stored form, sends it on as the same request
on the stored version's path, and converts what comes back stored -> outer (objects,
lists, Tables' embedded objects, watch events line by line as they stream). A PATCH is
applied to the outer form of the object (read, convert, patch, convert back, PUT with the
read resourceVersion, so a concurrent write is a 409 as usual). Field selectors are
renamed to the stored version's labels (``fields``); an optional ``validate`` adds the
outer version's own checks on writes. Discovery lists the outer version through
``discovery.register_converted`` (one storage: the same plural and etcd keys). Protobuf
bodies of the outer version are not read.

Used for autoscaling/v1 HorizontalPodAutoscalers (stored as autoscaling/v2) and
events.k8s.io/v1 Events (stored as core/v1 Events).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.resources import ResourceInfo
from apiserver import errors, watchlines
from apiserver.patch import is_supported
from apiserver.registry import safe_apply_patch

MAX_BODY = 3 * 1024 * 1024
JSONDict = dict[str, Any]
Convert = Callable[[JSONDict], JSONDict]


@dataclass(frozen=True)
class ConvertedVersion:
    """``outer`` served over ``stored`` (same plural); ``to_outer``/``to_stored`` convert
    one object's wire dict; ``fields`` renames field-selector labels outer -> stored;
    ``validate(stored_form, old_stored_form_or_None)`` returns the outer version's extra
    field causes for a create (old None) or an update."""
    outer: ResourceInfo
    stored: ResourceInfo
    to_outer: Convert
    to_stored: Convert
    fields: dict[str, str] = field(default_factory=dict)
    validate: Callable[[JSONDict, JSONDict | None], list[JSONDict]] | None = None

    @property
    def outer_prefix(self) -> str:
        return self.outer.base_path()

    @property
    def stored_prefix(self) -> str:
        return self.stored.base_path()

    def convert_out(self, doc: Any) -> Any:
        """An answer of the stored version as the outer version would give it."""
        if not isinstance(doc, dict):
            return doc
        kind = doc.get("kind")
        if kind == self.stored.kind and doc.get("apiVersion") == self.stored.api_version:
            return self.to_outer(doc)
        if kind == self.stored.list_kind:
            return {**doc, "apiVersion": self.outer.api_version,
                    "items": [self.to_outer(i) if isinstance(i, dict) else i
                              for i in doc.get("items") or []]}
        if kind == "Table":
            for row in doc.get("rows") or []:
                obj = row.get("object") if isinstance(row, dict) else None
                if isinstance(obj, dict) and obj.get("kind") == self.stored.kind:
                    row["object"] = self.to_outer(obj)
        return doc

    def event_out(self, line: bytes) -> bytes:
        event = watchlines.event_of(line)
        if event is not None and isinstance(event.get("object"), dict):
            event["object"] = self.convert_out(event["object"])
            return orjson.dumps(event)
        return line

    def resource_path(self, rest: str) -> bool:
        """Whether ``rest`` (the path after the version) names this kind's resource:
        ``[watch/][namespaces/NS/]PLURAL[/...]``."""
        parts = [p for p in rest.split("/") if p]
        if parts and parts[0] == "watch":
            parts = parts[1:]
        if self.outer.namespaced and len(parts) >= 3 and parts[0] == "namespaces":
            parts = parts[2:]
        return bool(parts) and parts[0] == self.outer.plural

    def query(self, raw: bytes) -> bytes:
        """The query string with field-selector labels renamed to the stored version's."""
        if not self.fields or b"fieldSelector" not in raw:
            return raw
        out = []
        for k, v in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
            if k == "fieldSelector":
                v = ",".join(self._rename(term) for term in v.split(",")) if v else v
            out.append((k, v))
        return urlencode(out).encode("latin-1")

    def _rename(self, term: str) -> str:
        for op in ("!=", "==", "="):
            if op in term:
                label, _, value = term.partition(op)
                label = label.strip()
                return f"{self.fields.get(label, label)}{op}{value}"
        return term


def _json_response(status: int, body: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    raw = orjson.dumps(body)
    return status, [(b"content-type", b"application/json"),
                    (b"content-length", str(len(raw)).encode())], raw


def _status(code: int, reason: str, message: str) -> JSONDict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def _header(scope: Scope, name: bytes) -> str:
    for k, v in scope.get("headers") or []:
        if k.lower() == name:
            return bytes(v).decode("latin-1")
    return ""


async def _read(receive: Receive) -> bytes:
    body = b""
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return body
        body += bytes(msg.get("body", b""))
        if len(body) > MAX_BODY:
            raise ValueError("request body too large")
        if not msg.get("more_body"):
            return body


def _with_body(scope: Scope, body: bytes, method: str | None = None,
               content_type: str | None = None) -> Scope:
    headers = [(k, v) for k, v in scope.get("headers") or []
               if k.lower() not in (b"content-length", b"content-type")]
    headers.append((b"content-length", str(len(body)).encode()))
    headers.append((b"content-type", (content_type or "application/json").encode()))
    return {**scope, "headers": headers, "method": method or scope["method"]}


class _Collect:
    """Catches a whole (non-streaming) answer of the inner app."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers") or [])
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


def middleware(spec: ConvertedVersion) -> Callable[[ASGIApp], ASGIApp]:
    """The outer middleware factory serving ``spec``."""
    def wrap(inner: ASGIApp) -> ASGIApp:
        return ConvertedVersionMiddleware(inner, spec)
    return wrap


class ConvertedVersionMiddleware:
    """Serves ``spec.outer`` over ``spec.stored`` (see the module docstring)."""

    def __init__(self, app: ASGIApp, spec: ConvertedVersion) -> None:
        self.app = app
        self.spec = spec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        spec = self.spec
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(spec.outer_prefix + "/") \
                or not spec.resource_path(path[len(spec.outer_prefix):]):
            await self.app(scope, receive, send)
            return
        stored_path = spec.stored_prefix + path[len(spec.outer_prefix):]
        inner: Scope = {**scope, "path": stored_path, "raw_path": stored_path.encode(),
                        "query_string": spec.query(scope.get("query_string") or b"")}
        method = scope["method"]
        try:
            if method in ("POST", "PUT"):
                await self._write(inner, receive, send)
            elif method == "PATCH":
                await self._patch(inner, receive, send)
            else:
                await self.app(inner, receive, _Converter(send, spec).send)
        except ValueError as exc:
            await self._respond(send, *_json_response(400, _status(400, "BadRequest",
                                                                   str(exc))))

    async def _respond(self, send: Send, status: int, headers: list[tuple[bytes, bytes]],
                       body: bytes) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _call(self, scope: Scope, body: bytes = b"") -> _Collect:
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        out = _Collect()
        await self.app(scope, receive, out.send)
        return out

    async def _finish(self, send: Send, out: _Collect) -> None:
        body = out.body
        if out.status < 300 or out.status >= 400:
            try:
                body = orjson.dumps(self.spec.convert_out(orjson.loads(out.body)))
            except orjson.JSONDecodeError:
                pass
        headers = [(k, v) for k, v in out.headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self._respond(send, out.status, headers, body)

    async def _get(self, inner: Scope) -> _Collect:
        """The stored object at ``inner``'s path, as JSON."""
        return await self._call({
            **inner, "method": "GET", "query_string": b"",
            "headers": [(k, v) for k, v in inner.get("headers") or []
                        if k.lower() not in (b"content-type", b"content-length", b"accept")]
            + [(b"accept", b"application/json")]})

    async def _refused(self, send: Send, stored: JSONDict, old: JSONDict | None) -> bool:
        """The outer version's own checks; answers the 422 itself when they fail."""
        if self.spec.validate is None:
            return False
        causes = self.spec.validate(stored, old)
        if not causes:
            return False
        name = (stored.get("metadata") or {}).get("name")
        exc = errors.invalid(self.spec.outer, name if isinstance(name, str) else None,
                             causes)
        await self._respond(send, exc.code, [(b"content-type", b"application/json")],
                            exc.body())
        return True

    async def _write(self, inner: Scope, receive: Receive, send: Send) -> None:
        raw = await _read(receive)
        ct = _header(inner, b"content-type").split(";")[0].strip()
        if ct in ("application/json", "") and raw.strip():
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"couldn't decode the body: {exc}") from None
            if isinstance(doc, dict) and doc.get("kind") in (None, self.spec.outer.kind):
                stored = self.spec.to_stored(doc)
                old: JSONDict | None = None
                if inner["method"] == "PUT" and self.spec.validate is not None:
                    current = await self._get(inner)
                    if current.status == 200:
                        old = orjson.loads(current.body)
                if await self._refused(send, stored, old):
                    return
                raw = orjson.dumps(stored)
        await self._finish(send, await self._call(_with_body(inner, raw, content_type=ct or None),
                                                  raw))

    async def _patch(self, inner: Scope, receive: Receive, send: Send) -> None:
        raw = await _read(receive)
        ct = _header(inner, b"content-type")
        if not is_supported(ct) or "apply-patch" in ct:
            # server-side apply and unknown types: the stored version's handler answers
            await self._finish(send, await self._call(inner, raw))
            return
        current = await self._get(inner)
        if current.status != 200:
            await self._finish(send, current)
            return
        old_stored = orjson.loads(current.body)
        old_outer = self.spec.to_outer(old_stored)
        try:
            new_outer = safe_apply_patch(ct, old_outer, raw)
        except errors.ApiError as exc:
            await self._respond(send, exc.code, [(b"content-type", b"application/json")],
                                exc.body())
            return
        new_stored = self.spec.to_stored(new_outer)
        md = new_stored.setdefault("metadata", {})
        md.setdefault("resourceVersion", old_outer["metadata"].get("resourceVersion"))
        if await self._refused(send, new_stored, old_stored):
            return
        body = orjson.dumps(new_stored)
        await self._finish(send, await self._call(_with_body(inner, body, "PUT"), body))


class _Converter:
    """Stored -> outer on the way out: a whole JSON answer, or a watch stream line by
    line."""

    def __init__(self, send: Send, spec: ConvertedVersion) -> None:
        self._send = send
        self._spec = spec
        self._json = False
        self._streaming = False
        self._start: Message | None = None
        self._body = b""
        self._lines = watchlines.Lines()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            ct = b""
            for k, v in message.get("headers") or []:
                if k.lower() == b"content-type":
                    ct = bytes(v).split(b";")[0].strip()
            self._json = ct in (b"application/json", b"application/json-seq")
            self._streaming = ct == b"application/json-seq" or not any(
                k.lower() == b"content-length" for k, _ in message.get("headers") or [])
            if not self._json:
                await self._send(message)
                return
            headers = [(k, v) for k, v in message.get("headers") or []
                       if k.lower() != b"content-length"]
            self._start = {**message, "headers": headers}
            if self._streaming:
                await self._send(self._start)
            return
        if message["type"] != "http.response.body" or not self._json:
            await self._send(message)
            return
        more = bool(message.get("more_body"))
        if self._streaming:
            lines = self._lines.feed(message.get("body", b""), more)
            out = b"".join(self._spec.event_out(ln) + b"\n" for ln in lines)
            if out or not more:
                await self._send({"type": "http.response.body", "body": out,
                                  "more_body": more})
            return
        self._body += message.get("body", b"")
        if more:
            return
        try:
            body = orjson.dumps(self._spec.convert_out(orjson.loads(self._body)))
        except orjson.JSONDecodeError:
            body = self._body
        assert self._start is not None
        start = {**self._start, "headers": [*self._start["headers"],
                                            (b"content-length", str(len(body)).encode())]}
        await self._send(start)
        await self._send({"type": "http.response.body", "body": body, "more_body": False})
