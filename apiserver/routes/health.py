"""/livez, /readyz, /healthz."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import PlainTextResponse

router = APIRouter(include_in_schema=False)


@router.get("/livez")
async def livez() -> PlainTextResponse:
    return PlainTextResponse("ok")


async def _ready(request: Request) -> tuple[bool, str]:
    state = request.app.state
    for plural, c in state.caches.items():
        if not c.synced.is_set() or not c.healthy:
            return False, f"[-]watch-cache {plural} not synced"
    if not state.bootstrapped:
        return False, "[-]bootstrap namespaces not created"
    try:
        await asyncio.wait_for(state.storage.current_revision(), 2.0)
    except Exception as e:
        return False, f"[-]etcd failed: {type(e).__name__}"
    return True, "ok"


@router.get("/readyz")
async def readyz(request: Request) -> PlainTextResponse:
    ok, text = await _ready(request)
    return PlainTextResponse(text, status_code=200 if ok else 503)


@router.get("/healthz")
async def healthz(request: Request) -> PlainTextResponse:
    ok, text = await _ready(request)
    return PlainTextResponse(text, status_code=200 if ok else 503)
