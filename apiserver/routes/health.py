"""/livez, /readyz, /healthz as kube-apiserver serves them (k8s.io/apiserver/pkg/server/healthz).

Each endpoint runs its named checks: "ok" when all pass; with ``?verbose`` one line per
check (``[+]etcd ok``) and ``livez check passed``; on a failure, always verbose, with the
reason withheld (``[-]etcd failed: reason withheld``, it goes to the log) and a 500 ending
in ``readyz check failed``. ``?exclude=NAME`` (repeatable) skips a check. ``/readyz/etcd``
and friends run one check: "ok", or a 500 with ``internal server error: REASON``.

The checks (kube-apiserver's names): ``ping``; ``log``; ``etcd`` (a read of the current
revision within 2 s, as its etcd check's 2 s Get; 0.8 s on /readyz, so that it answers
within a second while etcd hangs); ``etcd-readiness`` (the same, for /readyz);
``informer-sync`` (every watch cache has synced its kind and is watching);
``poststarthook/bootstrap-controller`` (the system namespaces exist and the Service
allocators were repaired once); ``shutdown`` (/readyz: not shutting down).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from apiserver import errors

log = logging.getLogger("apiserver")
router = APIRouter(include_in_schema=False)

Check = Callable[[Request], Awaitable[str | None]]  # None when healthy, else the reason
READY_ETCD_TIMEOUT = 0.8


async def _ping(request: Request) -> str | None:
    return None


async def _etcd(request: Request, timeout: float = 2.0) -> str | None:
    try:
        await asyncio.wait_for(request.app.state.storage.current_revision(), timeout)
    except Exception as e:
        return f"error getting data from etcd: {e or type(e).__name__}"
    return None


async def _etcd_ready(request: Request) -> str | None:
    # /readyz answers within a second even while etcd hangs (a stalled etcd accepts
    # the connection and never answers): load balancers' probes time out at 1 s.
    return await _etcd(request, READY_ETCD_TIMEOUT)


async def _informer_sync(request: Request) -> str | None:
    waiting = sorted(plural for plural, c in request.app.state.caches.items()
                     if not c.synced.is_set() or not c.healthy)
    return f"watch caches not synced: {', '.join(waiting)}" if waiting else None


async def _bootstrap(request: Request) -> str | None:
    return None if request.app.state.bootstrapped else "not finished"


async def _shutdown(request: Request) -> str | None:
    return "process is shutting down" if getattr(request.app.state, "shutting_down",
                                                  False) else None


_BASE: list[tuple[str, Check]] = [("ping", _ping), ("log", _ping), ("etcd", _etcd)]
_HOOKS: list[tuple[str, Check]] = [("poststarthook/bootstrap-controller", _bootstrap)]
CHECKS: dict[str, list[tuple[str, Check]]] = {
    "livez": _BASE + _HOOKS,
    "healthz": _BASE + _HOOKS,
    "readyz": [("ping", _ping), ("log", _ping), ("etcd", _etcd_ready),
               ("etcd-readiness", _etcd_ready), ("informer-sync", _informer_sync),
               *_HOOKS, ("shutdown", _shutdown)],
}


def _text(body: str, code: int = 200) -> Response:
    return PlainTextResponse(body, status_code=code,
                             headers={"X-Content-Type-Options": "nosniff"})


async def root(request: Request, kind: str) -> Response:
    """handleRootHealth."""
    excluded: list[str] = []
    for value in request.query_params.getlist("exclude"):
        excluded += [v for v in value.split(",") if v]
    checks = CHECKS[kind]
    results = await asyncio.gather(*(c(request) for name, c in checks
                                     if name not in excluded))
    lines: list[str] = []
    failed: list[str] = []
    it = iter(results)
    for name, _ in checks:
        if name in excluded:
            lines.append(f"[+]{name} excluded: ok")
            continue
        reason = next(it)
        if reason is None:
            lines.append(f"[+]{name} ok")
        else:
            lines.append(f"[-]{name} failed: reason withheld")
            failed.append(name)
            log.info("%s check %s failed: %s", kind, name, reason)
    unknown = sorted({e for e in excluded if e not in {n for n, _ in checks}})
    if unknown:
        lines.append("warn: some health checks cannot be excluded: no matches for "
                     + ",".join(f'"{u}"' for u in unknown))
    body = "".join(line + "\n" for line in lines)
    if failed:
        return _text(f"{body}{kind} check failed\n", 500)
    if "verbose" not in request.query_params:
        return _text("ok")
    return _text(f"{body}{kind} check passed\n")


async def single(request: Request, kind: str, name: str) -> Response:
    """One check at /KIND/NAME (adaptCheckToHandler)."""
    check = next((c for n, c in CHECKS[kind] if n == name), None)
    if check is None:
        raise errors.path_not_found(request.url.path)
    reason = await check(request)
    if reason is not None:
        return _text(f"internal server error: {reason}\n", 500)
    return _text("ok")


def _routes(kind: str) -> None:
    async def top(request: Request) -> Response:
        return await root(request, kind)

    async def one(request: Request, name: str) -> Response:
        return await single(request, kind, name)

    router.add_api_route(f"/{kind}", top, methods=["GET"])
    router.add_api_route(f"/{kind}/{{name:path}}", one, methods=["GET"])


for _kind in CHECKS:
    _routes(_kind)
