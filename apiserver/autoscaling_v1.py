"""autoscaling/v1 HorizontalPodAutoscalers, served over the autoscaling/v2 storage.

The registry serves each kind at one group/version and keeps the stored JSON as it answers
(bytes straight from etcd and the watch cache), so a second version is served at the HTTP
boundary instead, as kube-apiserver's conversion does around its storage version: this
outer middleware takes every ``/apis/autoscaling/v1/...`` request, converts a JSON body
v1 -> v2 (``api.models.autoscaling.v1_to_v2``), sends it on as the same request on
``/apis/autoscaling/v2/...`` and converts what comes back v2 -> v1 (objects, lists,
Tables' embedded objects, watch events line by line as they stream). A PATCH is applied to
the v1 form of the object (read v2, convert, patch, convert back, PUT with the read
resourceVersion, so a concurrent write is a 409 as usual). ``V1_INFO`` is the v1
ResourceInfo (one storage: the same plural and etcd keys as v2); discovery lists
autoscaling/v1 beside the preferred v2 (the group document and ``/apis/autoscaling/v1``
are answered or amended here). Protobuf v1 bodies are not read (kubectl sends v2).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import resources
from api.models.autoscaling import HorizontalPodAutoscalerV1, v1_to_v2, v2_to_v1
from apiserver import discovery, errors
from apiserver.patch import is_supported
from apiserver.registry import safe_apply_patch

V1_INFO = resources._info(
    kind="HorizontalPodAutoscaler", plural="horizontalpodautoscalers",
    singular="horizontalpodautoscaler", group="autoscaling", version="v1", namespaced=True,
    model=HorizontalPodAutoscalerV1, short_names=("hpa",), categories=("all",),
    subresources=("status",),
)
V1_PREFIX = "/apis/autoscaling/v1"
V2_PREFIX = "/apis/autoscaling/v2"
MAX_BODY = 3 * 1024 * 1024
JSONDict = dict[str, Any]


def _json_response(status: int, body: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    raw = orjson.dumps(body)
    return status, [(b"content-type", b"application/json"),
                    (b"content-length", str(len(raw)).encode())], raw


def _status(code: int, reason: str, message: str) -> JSONDict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def to_v1(doc: Any) -> Any:
    """An answer of the v2 resource as v1 would give it."""
    if not isinstance(doc, dict):
        return doc
    kind = doc.get("kind")
    if kind == "HorizontalPodAutoscaler":
        return v2_to_v1(doc)
    if kind == "HorizontalPodAutoscalerList":
        return {**doc, "apiVersion": "autoscaling/v1",
                "items": [v2_to_v1(i) if isinstance(i, dict) else i
                          for i in doc.get("items") or []]}
    if kind == "Table":
        for row in doc.get("rows") or []:
            obj = row.get("object") if isinstance(row, dict) else None
            if isinstance(obj, dict) and obj.get("kind") == "HorizontalPodAutoscaler":
                row["object"] = v2_to_v1(obj)
    return doc


def _event_to_v1(line: bytes) -> bytes:
    if not line.strip():
        return line
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        return line
    if isinstance(event, dict) and isinstance(event.get("object"), dict):
        event["object"] = to_v1(event["object"])
        return orjson.dumps(event)
    return line


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


class AutoscalingV1Middleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in ("/apis", "/apis/", "/apis/autoscaling", "/apis/autoscaling/"):
            await self._discovery(scope, receive, send)
            return
        if path.rstrip("/") == V1_PREFIX:
            await self._respond(send, *_json_response(200, resource_list()))
            return
        if not path.startswith(V1_PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        v2_path = V2_PREFIX + path[len(V1_PREFIX):]
        inner: Scope = {**scope, "path": v2_path, "raw_path": v2_path.encode()}
        method = scope["method"]
        try:
            if method in ("POST", "PUT"):
                await self._write(inner, receive, send)
            elif method == "PATCH":
                await self._patch(inner, receive, send)
            else:
                await self.app(inner, receive, _Converter(send).send)
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
                body = orjson.dumps(to_v1(orjson.loads(out.body)))
            except orjson.JSONDecodeError:
                pass
        headers = [(k, v) for k, v in out.headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self._respond(send, out.status, headers, body)

    async def _write(self, inner: Scope, receive: Receive, send: Send) -> None:
        raw = await _read(receive)
        ct = _header(inner, b"content-type").split(";")[0].strip()
        if ct in ("application/json", "") and raw.strip():
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"couldn't decode the body: {exc}") from None
            if isinstance(doc, dict) and doc.get("kind") in (None, "HorizontalPodAutoscaler"):
                raw = orjson.dumps(v1_to_v2(doc))
        await self._finish(send, await self._call(_with_body(inner, raw, content_type=ct or None),
                                                  raw))

    async def _patch(self, inner: Scope, receive: Receive, send: Send) -> None:
        raw = await _read(receive)
        ct = _header(inner, b"content-type")
        if not is_supported(ct) or "apply-patch" in ct:
            # server-side apply and unknown types: the v2 handler answers (415, ...)
            await self._finish(send, await self._call(inner, raw))
            return
        get_scope = {**inner, "method": "GET", "query_string": b"",
                     "headers": [(k, v) for k, v in inner.get("headers") or []
                                 if k.lower() not in (b"content-type", b"content-length",
                                                      b"accept")]
                     + [(b"accept", b"application/json")]}
        current = await self._call(get_scope)
        if current.status != 200:
            await self._finish(send, current)
            return
        old_v1 = v2_to_v1(orjson.loads(current.body))
        try:
            new_v1 = safe_apply_patch(ct, old_v1, raw)
        except errors.ApiError as exc:
            await self._respond(send, exc.code, [(b"content-type", b"application/json")],
                                exc.body())
            return
        new_v2 = v1_to_v2(new_v1)
        md = new_v2.setdefault("metadata", {})
        md.setdefault("resourceVersion", old_v1["metadata"].get("resourceVersion"))
        body = orjson.dumps(new_v2)
        await self._finish(send, await self._call(_with_body(inner, body, "PUT"), body))

    async def _discovery(self, scope: Scope, receive: Receive, send: Send) -> None:
        out = await self._call(scope)
        try:
            doc = orjson.loads(out.body)
        except orjson.JSONDecodeError:
            await self._respond(send, out.status, out.headers, out.body)
            return
        groups = doc.get("groups") if doc.get("kind") == "APIGroupList" else [doc]
        for g in groups or []:
            if isinstance(g, dict) and g.get("name") == "autoscaling":
                versions = g.setdefault("versions", [])
                if not any(v.get("version") == "v1" for v in versions):
                    versions.append({"groupVersion": "autoscaling/v1", "version": "v1"})
        body = orjson.dumps(doc)
        headers = [(k, v) for k, v in out.headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self._respond(send, out.status, headers, body)


def resource_list() -> JSONDict:
    """The APIResourceList of autoscaling/v1: v2's, at v1."""
    doc = discovery.api_resource_list("autoscaling", "v2") or {
        "kind": "APIResourceList", "apiVersion": "v1", "resources": []}
    return {**doc, "groupVersion": "autoscaling/v1"}


class _Converter:
    """v2 -> v1 on the way out: a whole JSON answer, or a watch stream line by line."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._json = False
        self._streaming = False
        self._start: Message | None = None
        self._body = b""
        self._pending = b""

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
            data = self._pending + message.get("body", b"")
            *lines, self._pending = data.split(b"\n")
            if not more and self._pending:
                lines.append(self._pending)
                self._pending = b""
            out = b"".join(_event_to_v1(ln) + b"\n" for ln in lines)
            if out or not more:
                await self._send({"type": "http.response.body", "body": out,
                                  "more_body": more})
            return
        self._body += message.get("body", b"")
        if more:
            return
        try:
            body = orjson.dumps(to_v1(orjson.loads(self._body)))
        except orjson.JSONDecodeError:
            body = self._body
        assert self._start is not None
        start = {**self._start, "headers": [*self._start["headers"],
                                            (b"content-length", str(len(body)).encode())]}
        await self._send(start)
        await self._send({"type": "http.response.body", "body": body, "more_body": False})
