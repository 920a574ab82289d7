"""The dashboard's HTTP face: the page and its assets, sign-in, live feeds (SSE), a
pass-through to the API server with the user's credentials, YAML view and edit, logs with
follow, an exec terminal (WebSocket) and the timeline of an object."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from aiohttp import web

from client.errors import ApiError
from client.exec import exec_pod
from dashboard import cluster, timeline
from dashboard.feed import Feed
from dashboard.sessions import COOKIE, Session, Sessions, SignInError

log = logging.getLogger(__name__)

WEB = Path(__file__).resolve().parent / "web"
VENDOR = {
    "xterm.js": "@xterm/xterm/lib/xterm.js",
    "xterm.css": "@xterm/xterm/css/xterm.css",
    "addon-fit.js": "@xterm/addon-fit/lib/addon-fit.js",
}
PAGES = {"app.js": "text/javascript", "style.css": "text/css"}
CSRF_HEADER = "X-Requested-By"
PASS_PREFIXES = ("/api/", "/apis/", "/api", "/apis", "/version", "/readyz", "/livez",
                 "/healthz", "/metrics")
PASS_HEADERS = ("Accept", "Content-Type")
SESSIONS: web.AppKey[Sessions] = web.AppKey("sessions", Sessions)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def status(code: int, message: str, reason: str = "") -> web.Response:
    """A Kubernetes Status, as the API server would answer."""
    reasons = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
               503: "ServiceUnavailable"}
    return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": message,
                              "reason": reason or reasons.get(code, ""), "code": code},
                             status=code)


def session_of(request: web.Request) -> Session | None:
    return request.app[SESSIONS].get(request.cookies.get(COOKIE))


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if request.method not in ("GET", "HEAD", "OPTIONS") and \
            request.headers.get(CSRF_HEADER) != "minik8s-dashboard":
        return status(403, f"a request that changes anything must carry {CSRF_HEADER}")
    if path.startswith(("/api/", "/k8s/")) and path not in ("/api/login", "/api/session"):
        s = session_of(request)
        if s is None:
            return status(401, "Unauthorized: sign in first")
        request["session"] = s
    resp = await handler(request)
    if not resp.prepared:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; frame-ancestors 'none'")
    return resp


def _s(request: web.Request) -> Session:
    s: Session = request["session"]
    return s


# ---- page and assets -----------------------------------------------------------------


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})


async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in PAGES:
        raise web.HTTPNotFound()
    return web.FileResponse(WEB / name, headers={"Content-Type": PAGES[name],
                                                 "Cache-Control": "no-cache"})


async def vendor(request: web.Request) -> web.StreamResponse:
    rel = VENDOR.get(request.match_info["name"])
    path = WEB / "node_modules" / rel if rel else None
    if path is None or not path.exists():
        raise web.HTTPNotFound(text="asset not built: run npm ci in dashboard/web")
    ctype = "text/css" if path.suffix == ".css" else "text/javascript"
    return web.FileResponse(path, headers={"Content-Type": ctype,
                                           "Cache-Control": "max-age=3600"})


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


async def favicon(request: web.Request) -> web.StreamResponse:
    return web.Response(status=204)


# ---- sign-in -------------------------------------------------------------------------


async def login(request: web.Request) -> web.StreamResponse:
    sessions = request.app[SESSIONS]
    if sessions.single is not None:
        return status(400, "single-user mode: the dashboard acts with its kubeconfig")
    try:
        body = await request.json()
    except ValueError:
        return status(400, "the body must be JSON: {\"token\": \"...\"}")
    token = str((body or {}).get("token") or "").strip()
    if not token:
        return status(400, "a bearer token is required")
    try:
        sid, s = await sessions.sign_in(token)
    except SignInError as exc:
        return status(exc.code, exc.message)
    resp = web.json_response(_who(s, sessions))
    resp.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", path="/",
                    secure=request.secure)
    return resp


async def logout(request: web.Request) -> web.StreamResponse:
    await request.app[SESSIONS].sign_out(request.cookies.get(COOKIE))
    resp = web.json_response({})
    resp.del_cookie(COOKIE, path="/")
    return resp


def _who(s: Session, sessions: Sessions) -> dict[str, Any]:
    return {"user": s.user, "groups": s.groups, "namespace": s.config.namespace or "",
            "mode": "single-user" if sessions.single is not None else "token"}


async def who(request: web.Request) -> web.StreamResponse:
    sessions = request.app[SESSIONS]
    s = session_of(request)
    if s is None:
        return status(401, "Unauthorized: sign in first")
    if not s.user:
        try:
            from dashboard.sessions import review
            await review(s)
        except SignInError as exc:
            return status(exc.code, exc.message)
    return web.json_response(_who(s, sessions))


# ---- live feeds ----------------------------------------------------------------------


async def feed(request: web.Request) -> web.StreamResponse:
    kinds = [k for k in request.query.get("kinds", "").split(",") if k]
    return await Feed(_s(request), request.query.get("namespace"), kinds).serve(request)


# ---- the API server, as the user -----------------------------------------------------


async def passthrough(request: web.Request) -> web.StreamResponse:
    s = _s(request)
    path = "/" + request.match_info["path"]
    if not path.startswith(PASS_PREFIXES):
        return status(404, f"{path} is not an API path")
    headers = {**s.auth_headers(),
               **{h: request.headers[h] for h in PASS_HEADERS if h in request.headers}}
    body = await request.read() if request.can_read_body else None
    try:
        async with s.http().request(request.method, s.config.server + path,
                                    params=request.query, data=body, headers=headers,
                                    allow_redirects=False) as r:
            content = await r.read()
            return web.Response(status=r.status, body=content, headers={
                "Content-Type": r.headers.get("Content-Type", "application/json")})
    except (aiohttp.ClientError, OSError) as exc:
        return status(503, f"the API server cannot be reached: {exc}")


def _strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        md = obj.get("metadata")
        if isinstance(md, dict):
            md.pop("managedFields", None)
    return obj


async def yaml_get(request: web.Request) -> web.StreamResponse:
    s = _s(request)
    path = request.query.get("path", "")
    if not path.startswith(("/api/", "/apis/")):
        return status(400, "path must be an API object path")
    async with s.http().get(s.config.server + path, headers=s.auth_headers()) as r:
        data = await r.json(content_type=None)
        if r.status >= 400:
            return web.json_response(data, status=r.status)
    return web.Response(text=yaml.safe_dump(_strip(data), sort_keys=False),
                        content_type="application/yaml")


def merge_patch(old: Any, new: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns ``old`` into ``new``: changed fields
    only, removed ones as null, lists whole."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    out: dict[str, Any] = {}
    for k, v in new.items():
        if k not in old:
            out[k] = v
        elif old[k] != v:
            out[k] = merge_patch(old[k], v)
    for k in old:
        if k not in new:
            out[k] = None
    return out


def _load(text: str, what: str) -> dict[str, Any] | web.Response:
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return status(400, f"error parsing YAML{where} ({what}): "
                           f"{getattr(exc, 'problem', None) or exc}")
    if not isinstance(obj, dict):
        return status(400, f"the YAML ({what}) must be one object (a mapping)")
    return obj


async def yaml_put(request: web.Request) -> web.StreamResponse:
    """Save an edit as ``kubectl edit`` does: the change between the YAML the page loaded
    and the edited one, sent as a patch (so a status update in between does not conflict;
    a changed resourceVersion is a precondition like any field)."""
    s = _s(request)
    path = request.query.get("path", "")
    if not path.startswith(("/api/", "/apis/")):
        return status(400, "path must be an API object path")
    try:
        body = await request.json()
        original, edited = str(body["original"]), str(body["yaml"])
    except (ValueError, KeyError, TypeError):
        return status(400, 'the body must be JSON: {"original": YAML, "yaml": YAML}')
    old = _load(original, "as loaded")
    if isinstance(old, web.Response):
        return old
    new = _load(edited, "edited")
    if isinstance(new, web.Response):
        return new
    patch = merge_patch(old, new)
    headers = {**s.auth_headers(), "Content-Type": "application/merge-patch+json"}
    async with s.http().patch(s.config.server + path, data=orjson.dumps(patch or {}),
                              headers=headers) as r:
        data = await r.json(content_type=None)
        return web.json_response(_strip(data), status=r.status)


async def logs(request: web.Request) -> web.StreamResponse:
    s = _s(request)
    q = request.query
    ns, pod = q.get("namespace", ""), q.get("pod", "")
    follow = q.get("follow") in ("1", "true")
    tail = int(q["tailLines"]) if q.get("tailLines", "").isdigit() else None
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-store"})
    await resp.prepare(request)
    try:
        async for chunk in s.client().pod_logs(pod, ns, container=q.get("container") or None,
                                               follow=follow, tail_lines=tail):
            await resp.write(b"event: log\ndata: " + orjson.dumps(chunk) + b"\n\n")
        await resp.write(b"event: end\ndata: {}\n\n")
    except ApiError as exc:
        await resp.write(b"event: failure\ndata: " + orjson.dumps(
            {"code": exc.code, "message": exc.message}) + b"\n\n")
    except ConnectionResetError:
        pass
    return resp


async def _ws_input(ws: web.WebSocketResponse, sizes: asyncio.Queue[tuple[int, int] | None]
                    ) -> AsyncIterator[bytes]:
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.BINARY:
            yield bytes(msg.data)
        elif msg.type == aiohttp.WSMsgType.TEXT:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                m = json.loads(msg.data)
                if "data" in m:
                    yield str(m["data"]).encode()
                elif "resize" in m:
                    cols, rows = m["resize"]
                    sizes.put_nowait((int(cols), int(rows)))
    sizes.put_nowait(None)


async def _sizes(q: asyncio.Queue[tuple[int, int] | None]) -> AsyncIterator[tuple[int, int]]:
    while (item := await q.get()) is not None:
        yield item


async def exec_ws(request: web.Request) -> web.StreamResponse:
    s = _s(request)
    origin = request.headers.get("Origin")
    if origin and origin.split("://", 1)[-1] != request.host:
        return status(403, f"origin {origin} may not open a terminal here")
    q = request.query
    try:
        command = shlex.split(q.get("command", "")) or ["sh"]
    except ValueError as exc:
        return status(400, f"command: {exc}")
    ws = web.WebSocketResponse(max_msg_size=1 << 20)
    await ws.prepare(request)
    sizes: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()
    output: asyncio.Queue[bytes | None] = asyncio.Queue()

    def out(data: bytes) -> None:
        output.put_nowait(data)

    async def writer() -> None:
        while (data := await output.get()) is not None:
            if not ws.closed:
                await ws.send_bytes(data)

    sender = asyncio.create_task(writer())
    try:
        code = await exec_pod(s.config.server, q.get("namespace", ""), q.get("pod", ""),
                              command, stdout=out, stderr=out,
                              container=q.get("container") or None,
                              stdin=_ws_input(ws, sizes), tty=q.get("tty", "1") == "1",
                              sizes=_sizes(sizes), token=s.config.bearer(),
                              ssl_context=s.config.ssl_context())
        output.put_nowait(None)
        await sender
        if not ws.closed:
            await ws.send_str(json.dumps({"exit": code}))
    except ApiError as exc:
        output.put_nowait(None)
        await sender
        if not ws.closed:
            await ws.send_str(json.dumps({"error": exc.message, "code": exc.code}))
    finally:
        sender.cancel()
        await ws.close()
    return ws


async def trace(request: web.Request) -> web.StreamResponse:
    q = request.query
    try:
        data = await timeline.trace(_s(request).client(), q.get("kind", ""),
                                    q.get("namespace") or None, q.get("name", ""))
    except ApiError as exc:
        return status(exc.code or 500, exc.message)
    except ValueError as exc:
        return status(400, str(exc))
    return web.json_response(data)


async def cluster_view(request: web.Request) -> web.StreamResponse:
    return web.json_response(await cluster.overview(_s(request)))


def make_app(sessions: Sessions) -> web.Application:
    app = web.Application(middlewares=[guard], client_max_size=4 << 20)
    app[SESSIONS] = sessions

    async def close(_: web.Application) -> None:
        await sessions.close()

    app.on_cleanup.append(close)
    r = app.router
    r.add_get("/", index)
    r.add_get("/static/{name}", asset)
    r.add_get("/vendor/{name}", vendor)
    r.add_get("/healthz", healthz)
    r.add_get("/favicon.ico", favicon)
    r.add_post("/api/login", login)
    r.add_post("/api/logout", logout)
    r.add_get("/api/session", who)
    r.add_get("/api/feed", feed)
    r.add_get("/api/yaml", yaml_get)
    r.add_put("/api/yaml", yaml_put)
    r.add_get("/api/logs", logs)
    r.add_get("/api/exec", exec_ws)
    r.add_get("/api/trace", trace)
    r.add_get("/api/cluster", cluster_view)
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        r.add_route(method, "/k8s/{path:.*}", passthrough)
    return app
