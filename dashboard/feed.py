"""Live views: informers opened with the signed-in user's credentials, their changes
coalesced by object and pushed to the browser as server-sent events.

The first message (``snapshot``) holds every object once the informers have synced; each
later one (``delta``) holds the objects changed since the previous message, the latest state
of each only, and the keys deleted. A kind the user may not list is reported
(``forbidden``) and left out: RBAC decides what the page shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

import orjson
from aiohttp import web

from api import resources
from client.errors import ApiError
from client.informer import Informer
from dashboard import summaries
from dashboard.sessions import Session

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 20.0
SYNC_TIMEOUT = 60.0


class Feed:
    def __init__(self, session: Session, namespace: str | None, kinds: list[str]) -> None:
        self.session = session
        self.namespace = namespace or None
        self.kinds = [k for k in kinds if k in summaries.SUMMARIES]
        self.pending: dict[str, Any] = {}
        self.wake = asyncio.Event()
        self.informers: list[Informer[Any]] = []
        self.denied: list[dict[str, str]] = []

    def _put(self, kind: str, obj: Any) -> None:
        try:
            s = summaries.SUMMARIES[kind][1](obj.to_dict())
        except Exception:  # one odd object must not end the feed
            log.exception("summary of a %s failed", kind)
            return
        self.pending[s["key"]] = s
        self.wake.set()

    def _changed(self, kind: str, _old: Any, obj: Any) -> None:
        self._put(kind, obj)

    def _gone(self, kind: str, obj: Any) -> None:
        md = obj.metadata
        self.pending[f"{kind}/{md.namespace or ''}/{md.name or ''}"] = None
        self.wake.set()

    async def _allowed(self, kind: str) -> bool:
        model = summaries.SUMMARIES[kind][0]
        info = resources.for_model(model)
        ns = self.namespace if info.namespaced else None
        try:
            await self.session.client().request("GET", info.collection_path(ns),
                                                params={"limit": "1"})
        except ApiError as exc:
            self.denied.append({"kind": kind, "code": str(exc.code), "message": exc.message})
            return False
        return True

    async def start(self) -> None:
        checks = await asyncio.gather(*(self._allowed(k) for k in self.kinds))
        for kind, ok in zip(self.kinds, checks, strict=True):
            if not ok:
                continue
            model = summaries.SUMMARIES[kind][0]
            info = resources.for_model(model)
            inf: Informer[Any] = Informer(self.session.client(), model,
                                          self.namespace if info.namespaced else None)
            inf.add_handler(on_add=functools.partial(self._put, kind),
                            on_update=functools.partial(self._changed, kind),
                            on_delete=functools.partial(self._gone, kind))
            self.informers.append(inf)
            await inf.start()

    async def stop(self) -> None:
        for inf in self.informers:
            await inf.stop()

    def _take(self) -> tuple[list[Any], list[str]]:
        items = [v for v in self.pending.values() if v is not None]
        deleted = [k for k, v in self.pending.items() if v is None]
        self.pending = {}
        self.wake.clear()
        return items, deleted

    async def serve(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-store",
            "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        try:
            await self.start()
            await asyncio.gather(*(i.wait_for_sync(SYNC_TIMEOUT) for i in self.informers))
            items, _ = self._take()
            await _send(resp, "snapshot", {"items": items, "forbidden": self.denied,
                                           "namespace": self.namespace or ""})
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), KEEPALIVE_SECONDS)
                if not self.wake.is_set():
                    await resp.write(b": keepalive\n\n")
                    continue
                # let a burst of watch events land in one message
                await asyncio.sleep(0.02)
                items, deleted = self._take()
                await _send(resp, "delta", {"items": items, "deleted": deleted})
        except ConnectionResetError:
            pass
        finally:
            await self.stop()
        return resp


async def _send(resp: web.StreamResponse, event: str, data: Any) -> None:
    await resp.write(b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n")
