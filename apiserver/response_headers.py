"""Headers kube-apiserver puts on every response: ``Audit-Id`` and ``Cache-Control``.

k8s.io/apiserver's filters: WithAuditInit takes the request's ``Audit-ID`` header or
makes a UUID and echoes it as ``Audit-Id`` on the response (the audit log's ``auditID``
is the same value: the request's header is set here, before the audit middleware
reads it); WithCacheControl sets ``Cache-Control: no-cache, private`` unless the
handler set its own. Outermost middleware, so every answer carries them, refusals of
authentication and errors included.
"""

from __future__ import annotations

import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_AUDIT_ID = b"audit-id"
_CACHE_CONTROL = b"cache-control"
_NO_CACHE = b"no-cache, private"


class ResponseHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or ())
        audit_id = b""
        for k, v in headers:
            if k == _AUDIT_ID:
                audit_id = v.strip()
        if not audit_id:
            audit_id = str(uuid.uuid4()).encode()
            headers.append((_AUDIT_ID, audit_id))
            scope["headers"] = headers

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = list(message.get("headers") or ())
                names = {k.lower() for k, _ in out}
                if _AUDIT_ID not in names:
                    out.append((_AUDIT_ID, audit_id))
                if _CACHE_CONTROL not in names:
                    out.append((_CACHE_CONTROL, _NO_CACHE))
                message["headers"] = out
            await send(message)

        await self.app(scope, receive, send_wrapper)
