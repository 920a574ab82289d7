"""The REST client: one request core, an async face and a sync face.

Every operation is written once, as a generator that yields ``Req`` values and receives
the decoded JSON of each answer (a sans-IO core). ``AsyncClient`` and ``Client`` only
drive those generators (the async face over aiohttp, the sync face over httpx), so request
building, decoding, Status -> exception mapping and retry decisions cannot drift apart
between the two faces: both hand the core an ``Answer``.
Retries are the core's too: after a failed attempt, ``retry_delay`` says how long to wait
before sending again or raises what the caller gets; a face only sends and sleeps.
"""

from __future__ import annotations

import asyncio
import codecs
import gc
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar, overload

import aiohttp
import httpx
import orjson

from api import resources
from api.models import ObjectMeta, Scale, TypedObject
from client.backoff import exponential, jittered
from client.config import ClientConfig, TokenFile, load_config
from client.errors import ApiError, ServerUnavailable, error_from_response, unavailable

log = logging.getLogger(__name__)

T = TypeVar("T", bound=TypedObject)
R = TypeVar("R")
E = TypeVar("E")

PatchType = Literal["merge", "json", "strategic"]
PatchBody = dict[str, Any] | list[Any]
PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Answers that mean "try again later" rather than "no": retried for idempotent requests.
_RETRY_CODES = frozenset({429, 502, 503, 504})
USER_AGENT = "minik8s-client/0.1"
# The server closes a watch after timeoutSeconds; allow this much silence beyond it.
_WATCH_READ_SLACK = 30.0


@dataclass(frozen=True, slots=True)
class Req:
    """One HTTP request, before any I/O."""

    method: str
    path: str
    params: dict[str, str] | None = None
    body: bytes | None = None
    content_type: str | None = None
    # Safe to send twice. A POST is not: a create may have succeeded before the
    # connection broke, so it is only re-sent when it provably never left.
    idempotent: bool = True
    text: bool = False  # answer is text (logs): never guess JSON from its first byte
    accept: str | None = None  # instead of the session's application/json (e.g. as=Table)


Op = Generator[Req, Any, R]


@dataclass(slots=True)
class ObjectListResult(Generic[T]):
    items: list[T]
    resource_version: str
    continue_: str | None = None
    remaining_item_count: int | None = None


@dataclass(frozen=True, slots=True)
class WatchEvent(Generic[T]):
    """ADDED / MODIFIED / DELETED / BOOKMARK. For BOOKMARK, ``object`` carries only
    apiVersion, kind and metadata.resourceVersion (it is built without validation)."""

    type: str
    object: T
    raw: dict[str, Any] = field(repr=False)


# ---- request building and decoding (shared by both faces) --------------------------


def _params(**kw: object) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in kw.items():
        if v is None or v is False:
            continue
        out[k] = "true" if v is True else str(v)
    return out


def _ns(info: resources.ResourceInfo, namespace: str | None) -> str | None:
    """Object operations on namespaced kinds default to ``default``, as kubectl does."""
    if not info.namespaced:
        return None
    return namespace or "default"


def _obj_ns(info: resources.ResourceInfo, obj: TypedObject, namespace: str | None) -> str | None:
    return _ns(info, namespace or obj.metadata.namespace)


def _dumps(data: Any) -> bytes:
    return orjson.dumps(data)


def decode_object(model_cls: type[T], data: Any) -> T:
    return model_cls.model_validate(data)


def decode_list(model_cls: type[T], data: Any) -> ObjectListResult[T]:
    meta = data.get("metadata") or {}
    with bulk_allocation():
        items = [model_cls.model_validate(i) for i in data.get("items") or ()]
    return ObjectListResult(
        items=items,
        resource_version=str(meta.get("resourceVersion") or ""),
        continue_=meta.get("continue") or None,
        remaining_item_count=meta.get("remainingItemCount"),
    )


@contextmanager
def bulk_allocation() -> Iterator[None]:
    """Pause the cyclic GC while building many long-lived, acyclic objects at once.

    Decoding a big list only allocates survivors, so every collection meanwhile
    re-traverses a growing heap for nothing: on 10,000 pods it doubled the decode time.
    Only for synchronous code (no awaits inside); the GC is back on right after.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def checked_watch_event(data: Any) -> dict[str, Any]:
    """One decoded NDJSON watch line, as a dict with a string ``type`` and a dict
    ``object``. An ERROR event raises its Status as an exception (410 Expired -> ``Gone``),
    so a consumer can never mistake it for an object; a malformed line raises a 500."""
    typ = data.get("type") if isinstance(data, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict) or not isinstance(typ, str):
        raise error_from_response(500, {"kind": "Status", "code": 500, "reason": "InternalError",
                                        "message": f"malformed watch event: {data!r:.200}"})
    if typ == "ERROR":
        code = obj.get("code")
        raise error_from_response(code if isinstance(code, int) else 500, obj)
    return data  # type: ignore[no-any-return]


def decode_watch_event(model_cls: type[T], data: dict[str, Any]) -> WatchEvent[T]:
    """One decoded NDJSON watch line as a typed event (see ``checked_watch_event``)."""
    checked_watch_event(data)
    typ: str = data["type"]
    obj: dict[str, Any] = data["object"]
    if typ == "BOOKMARK":
        bookmark: T = model_cls.model_construct(  # type: ignore[assignment]
            api_version=obj.get("apiVersion"), kind=obj.get("kind"),
            metadata=ObjectMeta.model_validate(obj.get("metadata") or {}))
        return WatchEvent(typ, bookmark, obj)
    return WatchEvent(typ, model_cls.model_validate(obj), obj)


class EventDecoder(Generic[E]):
    """Splits a byte stream into NDJSON lines and decodes each with ``decode``."""

    def __init__(self, decode: Callable[[Any], E]) -> None:
        self._decode = decode
        self._buf = b""

    def feed(self, chunk: bytes) -> Iterator[E]:
        """Events of the complete lines so far, lazily: an ERROR line raises only after
        the events before it were taken."""
        data = self._buf + chunk if self._buf else chunk
        lines = data.split(b"\n")
        self._buf = lines.pop()
        for ln in lines:
            if ln.strip():
                yield self._decode(orjson.loads(ln))

    def flush(self) -> list[E]:
        rest, self._buf = self._buf, b""
        return [self._decode(orjson.loads(rest))] if rest.strip() else []


class WatchDecoder(EventDecoder[WatchEvent[T]]):
    """NDJSON watch lines -> typed WatchEvents."""

    def __init__(self, model_cls: type[T]) -> None:
        super().__init__(lambda data: decode_watch_event(model_cls, data))
        self.model_cls = model_cls


def raw_event_decoder() -> EventDecoder[dict[str, Any]]:
    """NDJSON watch lines -> checked event dicts (for watches in other forms, e.g. Tables)."""
    return EventDecoder(checked_watch_event)


# The Warning headers of successful answers (``299 - "text"``: deprecations, Pod Security's
# warn mode...) are handed to this, as client-go hands them to its WarningHandler; minictl
# prints them as kubectl does. None: ignored.
warning_handler: Callable[[str], None] | None = None


def parse_warning(value: str) -> str | None:
    """The text of a Warning header value ``299 - "text"`` (net.ParseWarningHeaders: code
    299 only, the quoted text unescaped); None for anything else."""
    parts = value.split(" ", 2)
    if len(parts) < 3 or parts[0] != "299" or not parts[2].startswith('"'):
        return None
    text, out, i = parts[2], [], 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out)
        out.append(c)
        i += 1
    return None


@dataclass(slots=True)
class Answer:
    """What the core reads of an HTTP answer, whichever library received it."""

    status_code: int
    content: bytes
    content_type: str = ""
    warnings: list[str] = field(default_factory=list)
    charset: str | None = None

    @property
    def text(self) -> str:
        return self.content.decode(self.charset or "utf-8", errors="replace")

    @classmethod
    def of_httpx(cls, resp: httpx.Response) -> Answer:
        return cls(resp.status_code, resp.content, resp.headers.get("content-type", ""),
                   resp.headers.get_list("warning"), resp.charset_encoding)


def _warn(resp: Answer) -> None:
    handler = warning_handler
    if handler is None:
        return
    for value in resp.warnings:
        text = parse_warning(value)
        if text:
            handler(text)


def decode_body(resp: Answer, text: bool = False) -> Any:
    content = resp.content
    if text:
        return resp.text
    if not content:
        return None
    ctype = resp.content_type
    if "json" in ctype or (not ctype and content[:1] in (b"{", b"[")):
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            pass
    return resp.text


def list_req(model_cls: type[TypedObject], namespace: str | None, *,
             label_selector: str | None = None, field_selector: str | None = None,
             limit: int | None = None, continue_: str | None = None,
             resource_version: str | None = None) -> Req:
    info = resources.for_model(model_cls)
    return Req("GET", info.collection_path(namespace if info.namespaced else None),
               _params(labelSelector=label_selector, fieldSelector=field_selector, limit=limit,
                       resourceVersion=resource_version, **{"continue": continue_}))


def watch_req(model_cls: type[TypedObject], namespace: str | None, *,
              resource_version: str | None = None, label_selector: str | None = None,
              field_selector: str | None = None, timeout_seconds: int | None = None,
              allow_bookmarks: bool = True) -> Req:
    info = resources.for_model(model_cls)
    return Req("GET", info.collection_path(namespace if info.namespaced else None),
               _params(watch=True, resourceVersion=resource_version, labelSelector=label_selector,
                       fieldSelector=field_selector, timeoutSeconds=timeout_seconds,
                       allowWatchBookmarks=allow_bookmarks))


def logs_req(name: str, namespace: str, *, container: str | None = None, follow: bool = False,
             tail_lines: int | None = None, timestamps: bool = False,
             previous: bool = False, since_seconds: int | None = None,
             since_time: str | None = None, limit_bytes: int | None = None) -> Req:
    return Req("GET", resources.PODS.object_path(name, namespace) + "/log",
               _params(container=container, follow=follow, tailLines=tail_lines,
                       timestamps=timestamps, previous=previous, sinceSeconds=since_seconds,
                       sinceTime=since_time, limitBytes=limit_bytes), text=True)


def raw_req(method: str, path: str, params: dict[str, Any] | None, json: Any,
            content_type: str | None, accept: str | None = None) -> Req:
    m = method.upper()
    # bytes and str go out as they are (a YAML apply body, a pre-encoded document)
    if json is None or isinstance(json, bytes):
        body = json
    elif isinstance(json, str):
        body = json.encode()
    else:
        body = _dumps(json)
    return Req(m, path, _params(**params) if params else None, body,
               content_type or ("application/json" if body is not None else None),
               idempotent=m in _IDEMPOTENT_METHODS, accept=accept)


def raw_watch_req(path: str, params: dict[str, Any] | None, accept: str | None) -> Req:
    return Req("GET", path, _params(**{**(params or {}), "watch": True}), accept=accept)


def watch_read_timeout(req: Req) -> float | None:
    """A watch's read timeout: the server closes the stream after ``timeoutSeconds``, so
    allow that much silence and some slack; without it, wait as long as the stream lives."""
    seconds = (req.params or {}).get("timeoutSeconds")
    return int(seconds) + _WATCH_READ_SLACK if seconds else None


def op_get(model_cls: type[T], name: str, namespace: str | None) -> Op[T]:
    info = resources.for_model(model_cls)
    data = yield Req("GET", info.object_path(name, _ns(info, namespace)))
    return decode_object(model_cls, data)


def op_list(model_cls: type[T], namespace: str | None, **kw: Any) -> Op[ObjectListResult[T]]:
    data = yield list_req(model_cls, namespace, **kw)
    return decode_list(model_cls, data)


def op_list_all(model_cls: type[T], namespace: str | None, *, label_selector: str | None,
                field_selector: str | None, page_size: int,
                resource_version: str | None) -> Op[ObjectListResult[T]]:
    items: list[T] = []
    cont: str | None = None
    rv = ""
    while True:
        data = yield list_req(model_cls, namespace, label_selector=label_selector,
                              field_selector=field_selector, limit=page_size, continue_=cont,
                              resource_version=None if cont else resource_version)
        page = decode_list(model_cls, data)
        items.extend(page.items)
        # Every page of a paginated list is read at the first page's revision.
        rv = rv or page.resource_version
        if not page.continue_:
            return ObjectListResult(items, rv)
        cont = page.continue_


def op_create(obj: T, namespace: str | None) -> Op[T]:
    cls = type(obj)
    info = resources.for_model(cls)
    data = yield Req("POST", info.collection_path(_obj_ns(info, obj, namespace)),
                     body=_dumps(obj.to_dict()), content_type="application/json",
                     idempotent=False)
    return decode_object(cls, data)


def _named_path(obj: TypedObject, subresource: str | None = None) -> str:
    info = resources.for_model(type(obj))
    name = obj.metadata.name
    if not name:
        raise ValueError(f"{info.kind} has no metadata.name")
    path = info.object_path(name, _obj_ns(info, obj, None))
    return f"{path}/{subresource}" if subresource else path


def op_update(obj: T, subresource: str | None = None) -> Op[T]:
    # A PUT carries the resourceVersion it read, so a duplicate after a lost answer
    # fails with Conflict instead of overwriting: safe to retry.
    data = yield Req("PUT", _named_path(obj, subresource), body=_dumps(obj.to_dict()),
                     content_type="application/json")
    return decode_object(type(obj), data)


def op_patch(model_cls: type[T], name: str, patch: PatchBody,
             namespace: str | None, patch_type: PatchType, subresource: str | None) -> Op[Any]:
    info = resources.for_model(model_cls)
    path = info.object_path(name, _ns(info, namespace))
    if subresource:
        path += "/" + subresource
    try:
        ctype = PATCH_CONTENT_TYPES[patch_type]
    except KeyError:
        raise ValueError(f"unknown patch type {patch_type!r}") from None
    # A merge patch sets fields to values (idempotent); a JSON patch may add to lists.
    data = yield Req("PATCH", path, body=_dumps(patch), content_type=ctype,
                     idempotent=patch_type != "json")
    return data


def delete_options(propagation_policy: str | None, grace_period_seconds: int | None,
                   preconditions_uid: str | None, preconditions_rv: str | None) -> bytes | None:
    opts: dict[str, Any] = {}
    if propagation_policy is not None:
        opts["propagationPolicy"] = propagation_policy
    if grace_period_seconds is not None:
        opts["gracePeriodSeconds"] = grace_period_seconds
    pre = {k: v for k, v in (("uid", preconditions_uid), ("resourceVersion", preconditions_rv))
           if v is not None}
    if pre:
        opts["preconditions"] = pre
    if not opts:
        return None
    return _dumps({"kind": "DeleteOptions", "apiVersion": "v1", **opts})


def op_delete(model_cls: type[T], name: str, namespace: str | None,
              body: bytes | None) -> Op[T | None]:
    info = resources.for_model(model_cls)
    data = yield Req("DELETE", info.object_path(name, _ns(info, namespace)), body=body,
                     content_type="application/json" if body else None)
    # The server answers with the object (gone, or still there with a deletionTimestamp
    # while finalizers/grace run) or with a Status when it has nothing else to say.
    if isinstance(data, dict) and data.get("kind") != "Status":
        return decode_object(model_cls, data)
    return None


def op_delete_collection(model_cls: type[TypedObject], namespace: str | None,
                         label_selector: str | None, field_selector: str | None) -> Op[None]:
    info = resources.for_model(model_cls)
    yield Req("DELETE", info.collection_path(namespace if info.namespaced else None),
              _params(labelSelector=label_selector, fieldSelector=field_selector))
    return None


def op_bind(pod_name: str, namespace: str, node_name: str, uid: str | None) -> Op[None]:
    meta: dict[str, Any] = {"name": pod_name, "namespace": namespace}
    if uid:
        meta["uid"] = uid
    body = {"apiVersion": "v1", "kind": "Binding", "metadata": meta,
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}
    yield Req("POST", resources.PODS.object_path(pod_name, namespace) + "/binding",
              body=_dumps(body), content_type="application/json", idempotent=False)
    return None


def op_get_scale(model_cls: type[TypedObject], name: str, namespace: str | None) -> Op[Scale]:
    info = resources.for_model(model_cls)
    data = yield Req("GET", info.object_path(name, _ns(info, namespace)) + "/scale")
    return Scale.model_validate(data)


def op_update_scale(model_cls: type[TypedObject], scale: Scale,
                    namespace: str | None) -> Op[Scale]:
    info = resources.for_model(model_cls)
    name = scale.metadata.name
    if not name:
        raise ValueError("Scale has no metadata.name")
    path = info.object_path(name, _ns(info, namespace or scale.metadata.namespace)) + "/scale"
    data = yield Req("PUT", path, body=_dumps(scale.to_dict()), content_type="application/json")
    return Scale.model_validate(data)


def scale_patch(patch: dict[str, Any] | int) -> dict[str, Any]:
    return {"spec": {"replicas": patch}} if isinstance(patch, int) else patch


# ---- retries -----------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Jittered exponential backoff for requests that may be sent again: retry number
    ``attempt`` waits ``min(cap, base * 2**attempt)``, give or take half."""

    retries: int = 4
    base: float = 0.1
    cap: float = 2.0

    def delay(self, attempt: int) -> float:
        return jittered(exponential(attempt, self.base, self.cap), 0.5)


def _never_sent(exc: BaseException) -> bool:
    """True when the request provably did not reach the server (connect failed)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return True
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientConnectorError):
        return True
    if isinstance(cause, aiohttp.ClientError):
        return False  # e.g. ServerDisconnected, which aiohttp's map also calls ConnectTimeout
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | ConnectionRefusedError)


def retry_delay(policy: RetryPolicy, server: str, req: Req, attempt: int,
                failure: Answer | BaseException) -> float:
    """After attempt ``attempt`` (0-based) at ``req`` failed, with an error answer or a
    transport error: the delay before sending it again, or, when it may not be sent again
    or the retries are spent, raises what the caller gets (the answer's Status as an
    ApiError, or ServerUnavailable). Answers that mean "try again later" are retried for
    idempotent requests; a broken connection for idempotent requests and for any request
    that provably never left."""
    if isinstance(failure, Answer):
        code = failure.status_code
        if attempt < policy.retries and req.idempotent and code in _RETRY_CODES:
            return policy.delay(attempt)
        raise error_from_response(code, failure.content)
    if attempt < policy.retries and (req.idempotent or _never_sent(failure)):
        return policy.delay(attempt)
    raise unavailable(server, failure) from failure


TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    httpx.TransportError, aiohttp.ClientError, OSError, asyncio.TimeoutError,
)


def _headers(req: Req) -> dict[str, str] | None:
    h: dict[str, str] = {}
    if req.content_type:
        h["Content-Type"] = req.content_type
    if req.accept:
        h["Accept"] = req.accept
    return h or None


def _base_headers(token: str | None) -> dict[str, str]:
    h = {"Accept": "application/json", "User-Agent": USER_AGENT}
    if token:
        h["Authorization"] = f"Bearer {token}"
    return h


class _TokenFileAuth(httpx.Auth):
    """The bearer token of a token file, re-read as it rotates (a projected token)."""

    def __init__(self, source: TokenFile) -> None:
        self.source = source

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.source.get()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        yield request


def _auth(cfg: ClientConfig) -> httpx.Auth | None:
    src = cfg.token_source()
    return _TokenFileAuth(src) if src is not None else None


def _verify(cfg: ClientConfig) -> ssl.SSLContext | bool:
    """The config's SSLContext for https; False for http (nothing to verify, and no CA
    bundle loaded into every service for nothing)."""
    ctx = cfg.ssl_context()
    return ctx if ctx is not None else False


def default_async_transport(cfg: ClientConfig | None = None) -> httpx.AsyncBaseTransport:
    """aiohttp under the httpx API: ~3x the request rate of httpx's own transport here
    (bench/client_transport.py), with the same API so tests can swap in a MockTransport."""
    from httpx_aiohttp import AiohttpTransport

    transport: httpx.AsyncBaseTransport = AiohttpTransport(
        verify=_verify(cfg) if cfg is not None else True,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
    return transport


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing. The API server sets no cookies and client-go keeps
    none; httpx's extraction on every response (urllib request wrappers, a URL parse) was
    4% of a controller-manager's CPU."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


# ---- the async face ----------------------------------------------------------------


class AsyncClient:
    """Async access to the API server; typed with the models in ``api.models``."""

    def __init__(self, server: str | None = None, *,
                 transport: httpx.AsyncBaseTransport | None = None, timeout: float = 30,
                 token: str | None = None, retry: RetryPolicy | None = None,
                 config: ClientConfig | None = None) -> None:
        """``config`` (``client.config.service_config``, ``kubeconfig_config``...) says
        where and how to connect (TLS, credentials); else ``server``/``token`` through
        ``load_config``."""
        cfg = config or load_config(server, token=token)
        self.config = cfg
        self.server = cfg.server
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        # Streams (watches, logs) go through httpx over aiohttp; plain requests straight
        # through an aiohttp session of their own: httpx's request and header models cost
        # about as much CPU as aiohttp's whole request (bench/client_transport.py). A
        # ``transport`` given (a test's httpx.MockTransport) carries everything.
        self._http = httpx.AsyncClient(
            base_url=self.server, transport=transport or default_async_transport(cfg),
            timeout=timeout, headers=_base_headers(cfg.token), auth=_auth(cfg),
            trust_env=False)
        self._http._cookies = _NoCookies()
        self._direct = transport is None
        self._base = self.server.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._token_source = cfg.token_source()
        self._session_headers = _base_headers(cfg.token)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open_session(self) -> aiohttp.ClientSession:
        # Made on first use: an aiohttp session belongs to the running event loop.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200, ssl=_verify(self.config)),
            # httpx's meaning of the timeout: per connect and per read, not for the whole
            # answer (a relist of 100,000 objects may take longer and is still healthy)
            timeout=aiohttp.ClientTimeout(total=None, connect=self.timeout,
                                          sock_read=self.timeout),
            headers=self._session_headers,
            cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)
        return self._session

    async def _send(self, req: Req) -> Answer:
        if not self._direct:
            return Answer.of_httpx(await self._http.request(
                req.method, req.path, params=req.params, content=req.body,
                headers=_headers(req)))
        headers = _headers(req)
        if self._token_source is not None:
            token = self._token_source.get()
            if token:
                headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
        session = self._session or self._open_session()
        async with session.request(req.method, self._base + req.path, params=req.params,
                                   data=req.body, headers=headers,
                                   allow_redirects=False) as r:
            content = await r.read()
            h = r.headers
            return Answer(r.status, content, h.get("Content-Type", ""),
                          h.getall("Warning", []) if "Warning" in h else [], r.charset)

    async def _execute(self, req: Req) -> Any:
        attempt = 0
        while True:
            try:
                resp = await self._send(req)
            except TRANSPORT_ERRORS as exc:
                delay = retry_delay(self.retry, self.server, req, attempt, exc)
            else:
                if resp.status_code < 400:
                    _warn(resp)
                    return decode_body(resp, req.text)
                delay = retry_delay(self.retry, self.server, req, attempt, resp)
            await asyncio.sleep(delay)
            attempt += 1

    async def _run(self, op: Op[R]) -> R:
        try:
            req = next(op)
            while True:
                req = op.send(await self._execute(req))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def get(self, model_cls: type[T], name: str, namespace: str | None = None) -> T:
        return await self._run(op_get(model_cls, name, namespace))

    async def list(self, model_cls: type[T], namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None) -> ObjectListResult[T]:
        return await self._run(op_list(
            model_cls, namespace, label_selector=label_selector, field_selector=field_selector,
            limit=limit, continue_=continue_, resource_version=resource_version))

    async def list_all(self, model_cls: type[T], namespace: str | None = None, *,
                       label_selector: str | None = None, field_selector: str | None = None,
                       page_size: int = 500,
                       resource_version: str | None = None) -> ObjectListResult[T]:
        return await self._run(op_list_all(
            model_cls, namespace, label_selector=label_selector, field_selector=field_selector,
            page_size=page_size, resource_version=resource_version))

    async def create(self, obj: T, namespace: str | None = None) -> T:
        return await self._run(op_create(obj, namespace))

    async def update(self, obj: T) -> T:
        return await self._run(op_update(obj))

    async def update_status(self, obj: T) -> T:
        return await self._run(op_update(obj, "status"))

    async def patch(self, model_cls: type[T], name: str, patch: PatchBody,
                    namespace: str | None = None, *, patch_type: PatchType = "merge",
                    subresource: str | None = None) -> T:
        data = await self._run(op_patch(model_cls, name, patch, namespace, patch_type,
                                        subresource))
        return decode_object(model_cls, data)

    async def delete(self, model_cls: type[T], name: str, namespace: str | None = None, *,
                     propagation_policy: str | None = None,
                     grace_period_seconds: int | None = None,
                     preconditions_uid: str | None = None,
                     preconditions_rv: str | None = None) -> T | None:
        """The object as the server returned it (still present with a deletionTimestamp
        while finalizers or a grace period run, or its final state, as for pods), or
        None when the server answered with a success Status (most kinds, once gone)."""
        body = delete_options(propagation_policy, grace_period_seconds, preconditions_uid,
                              preconditions_rv)
        return await self._run(op_delete(model_cls, name, namespace, body))

    async def delete_collection(self, model_cls: type[TypedObject], namespace: str | None,
                                label_selector: str | None = None,
                                field_selector: str | None = None) -> None:
        await self._run(op_delete_collection(model_cls, namespace, label_selector,
                                             field_selector))

    async def bind(self, pod_name: str, namespace: str, node_name: str,
                   uid: str | None = None) -> None:
        await self._run(op_bind(pod_name, namespace, node_name, uid))

    async def get_scale(self, model_cls: type[TypedObject], name: str,
                        namespace: str | None = None) -> Scale:
        return await self._run(op_get_scale(model_cls, name, namespace))

    async def update_scale(self, model_cls: type[TypedObject], scale: Scale,
                           namespace: str | None = None) -> Scale:
        return await self._run(op_update_scale(model_cls, scale, namespace))

    async def patch_scale(self, model_cls: type[TypedObject], name: str,
                          patch: dict[str, Any] | int, namespace: str | None = None) -> Scale:
        data = await self._run(op_patch(model_cls, name, scale_patch(patch), namespace,
                                        "merge", "scale"))
        return Scale.model_validate(data)

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      json: Any = None, content_type: str | None = None,
                      accept: str | None = None) -> Any:
        """Any request; the decoded answer (JSON, else text). ``accept`` replaces the
        session's ``application/json`` (e.g. kubectl's as=Table form)."""
        return await self._execute(raw_req(method, path, params, json, content_type, accept))

    async def watch(self, model_cls: type[T], namespace: str | None = None, *,
                    resource_version: str | None = None, label_selector: str | None = None,
                    field_selector: str | None = None, timeout_seconds: int | None = None,
                    allow_bookmarks: bool = True) -> AsyncIterator[WatchEvent[T]]:
        """Events until the server ends the stream. ERROR events raise (410 -> Gone);
        a broken connection raises ServerUnavailable."""
        req = watch_req(model_cls, namespace, resource_version=resource_version,
                        label_selector=label_selector, field_selector=field_selector,
                        timeout_seconds=timeout_seconds, allow_bookmarks=allow_bookmarks)
        async for ev in self._stream_events(req, WatchDecoder(model_cls)):
            yield ev

    async def watch_raw(self, path: str, params: dict[str, Any] | None = None, *,
                        accept: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """A watch of ``path`` (``watch=true`` is added to ``params``) whose events are
        the decoded dicts, with the typed watch's timeouts and errors."""
        async for ev in self._stream_events(raw_watch_req(path, params, accept),
                                            raw_event_decoder()):
            yield ev

    async def _stream_events(self, req: Req, decoder: EventDecoder[E]) -> AsyncIterator[E]:
        timeout = httpx.Timeout(self.timeout, read=watch_read_timeout(req))
        try:
            async with self._http.stream("GET", req.path, params=req.params,
                                         headers=_headers(req), timeout=timeout) as resp:
                if resp.status_code >= 400:
                    raise error_from_response(resp.status_code, await resp.aread())
                async for chunk in resp.aiter_bytes():
                    for ev in decoder.feed(chunk):
                        yield ev
            for ev in decoder.flush():
                yield ev
        except TRANSPORT_ERRORS as exc:
            raise unavailable(self.server, exc) from exc

    async def pod_logs(self, name: str, namespace: str = "default", *,
                       container: str | None = None, follow: bool = False,
                       tail_lines: int | None = None, timestamps: bool = False,
                       previous: bool = False, since_seconds: int | None = None,
                       since_time: str | None = None,
                       limit_bytes: int | None = None) -> AsyncIterator[str]:
        """The log as text chunks; with ``follow`` the stream stays open until the
        container ends or the caller stops iterating."""
        req = logs_req(name, namespace, container=container, follow=follow,
                       tail_lines=tail_lines, timestamps=timestamps, previous=previous,
                       since_seconds=since_seconds, since_time=since_time,
                       limit_bytes=limit_bytes)
        timeout = httpx.Timeout(self.timeout, read=None if follow else self.timeout)
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            async with self._http.stream("GET", req.path, params=req.params,
                                         timeout=timeout) as resp:
                if resp.status_code >= 400:
                    raise error_from_response(resp.status_code, await resp.aread())
                async for chunk in resp.aiter_bytes():
                    text = utf8.decode(chunk)
                    if text:
                        yield text
            tail = utf8.decode(b"", final=True)
            if tail:
                yield tail
        except TRANSPORT_ERRORS as exc:
            raise unavailable(self.server, exc) from exc


# ---- the sync face -----------------------------------------------------------------


class Client:
    """The same operations as ``AsyncClient``, blocking (for minictl and scripts)."""

    def __init__(self, server: str | None = None, *,
                 transport: httpx.BaseTransport | None = None, timeout: float = 30,
                 token: str | None = None, retry: RetryPolicy | None = None,
                 config: ClientConfig | None = None) -> None:
        cfg = config or load_config(server, token=token)
        self.config = cfg
        self.server = cfg.server
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(base_url=self.server, transport=transport, timeout=timeout,
                                  headers=_base_headers(cfg.token), auth=_auth(cfg),
                                  verify=_verify(cfg), trust_env=False)
        self._http._cookies = _NoCookies()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _execute(self, req: Req) -> Any:
        attempt = 0
        while True:
            try:
                resp = Answer.of_httpx(self._http.request(
                    req.method, req.path, params=req.params, content=req.body,
                    headers=_headers(req)))
            except TRANSPORT_ERRORS as exc:
                delay = retry_delay(self.retry, self.server, req, attempt, exc)
            else:
                if resp.status_code < 400:
                    _warn(resp)
                    return decode_body(resp, req.text)
                delay = retry_delay(self.retry, self.server, req, attempt, resp)
            time.sleep(delay)
            attempt += 1

    def _run(self, op: Op[R]) -> R:
        try:
            req = next(op)
            while True:
                req = op.send(self._execute(req))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def get(self, model_cls: type[T], name: str, namespace: str | None = None) -> T:
        return self._run(op_get(model_cls, name, namespace))

    def list(self, model_cls: type[T], namespace: str | None = None, *,
             label_selector: str | None = None, field_selector: str | None = None,
             limit: int | None = None, continue_: str | None = None,
             resource_version: str | None = None) -> ObjectListResult[T]:
        return self._run(op_list(
            model_cls, namespace, label_selector=label_selector, field_selector=field_selector,
            limit=limit, continue_=continue_, resource_version=resource_version))

    def list_all(self, model_cls: type[T], namespace: str | None = None, *,
                 label_selector: str | None = None, field_selector: str | None = None,
                 page_size: int = 500,
                 resource_version: str | None = None) -> ObjectListResult[T]:
        return self._run(op_list_all(
            model_cls, namespace, label_selector=label_selector, field_selector=field_selector,
            page_size=page_size, resource_version=resource_version))

    def create(self, obj: T, namespace: str | None = None) -> T:
        return self._run(op_create(obj, namespace))

    def update(self, obj: T) -> T:
        return self._run(op_update(obj))

    def update_status(self, obj: T) -> T:
        return self._run(op_update(obj, "status"))

    def patch(self, model_cls: type[T], name: str, patch: PatchBody,
              namespace: str | None = None, *, patch_type: PatchType = "merge",
              subresource: str | None = None) -> T:
        data = self._run(op_patch(model_cls, name, patch, namespace, patch_type, subresource))
        return decode_object(model_cls, data)

    def delete(self, model_cls: type[T], name: str, namespace: str | None = None, *,
               propagation_policy: str | None = None, grace_period_seconds: int | None = None,
               preconditions_uid: str | None = None,
               preconditions_rv: str | None = None) -> T | None:
        body = delete_options(propagation_policy, grace_period_seconds, preconditions_uid,
                              preconditions_rv)
        return self._run(op_delete(model_cls, name, namespace, body))

    def delete_collection(self, model_cls: type[TypedObject], namespace: str | None,
                          label_selector: str | None = None,
                          field_selector: str | None = None) -> None:
        self._run(op_delete_collection(model_cls, namespace, label_selector, field_selector))

    def bind(self, pod_name: str, namespace: str, node_name: str,
             uid: str | None = None) -> None:
        self._run(op_bind(pod_name, namespace, node_name, uid))

    def get_scale(self, model_cls: type[TypedObject], name: str,
                  namespace: str | None = None) -> Scale:
        return self._run(op_get_scale(model_cls, name, namespace))

    def update_scale(self, model_cls: type[TypedObject], scale: Scale,
                     namespace: str | None = None) -> Scale:
        return self._run(op_update_scale(model_cls, scale, namespace))

    def patch_scale(self, model_cls: type[TypedObject], name: str,
                    patch: dict[str, Any] | int, namespace: str | None = None) -> Scale:
        data = self._run(op_patch(model_cls, name, scale_patch(patch), namespace, "merge",
                                  "scale"))
        return Scale.model_validate(data)

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None, content_type: str | None = None,
                accept: str | None = None) -> Any:
        """Any request; the decoded answer (JSON, else text). ``accept`` replaces the
        session's ``application/json`` (e.g. kubectl's as=Table form)."""
        return self._execute(raw_req(method, path, params, json, content_type, accept))

    def watch(self, model_cls: type[T], namespace: str | None = None, *,
              resource_version: str | None = None, label_selector: str | None = None,
              field_selector: str | None = None, timeout_seconds: int | None = None,
              allow_bookmarks: bool = True) -> Iterator[WatchEvent[T]]:
        req = watch_req(model_cls, namespace, resource_version=resource_version,
                        label_selector=label_selector, field_selector=field_selector,
                        timeout_seconds=timeout_seconds, allow_bookmarks=allow_bookmarks)
        return self._stream_events(req, WatchDecoder(model_cls))

    def watch_raw(self, path: str, params: dict[str, Any] | None = None, *,
                  accept: str | None = None) -> Iterator[dict[str, Any]]:
        """A watch of ``path`` (``watch=true`` is added to ``params``) whose events are
        the decoded dicts, with the typed watch's timeouts and errors."""
        return self._stream_events(raw_watch_req(path, params, accept), raw_event_decoder())

    def _stream_events(self, req: Req, decoder: EventDecoder[E]) -> Iterator[E]:
        timeout = httpx.Timeout(self.timeout, read=watch_read_timeout(req))
        try:
            with self._http.stream("GET", req.path, params=req.params, headers=_headers(req),
                                   timeout=timeout) as resp:
                if resp.status_code >= 400:
                    raise error_from_response(resp.status_code, resp.read())
                for chunk in resp.iter_bytes():
                    yield from decoder.feed(chunk)
            yield from decoder.flush()
        except TRANSPORT_ERRORS as exc:
            raise unavailable(self.server, exc) from exc

    @overload
    def pod_logs(self, name: str, namespace: str = ..., *, container: str | None = ...,
                 follow: Literal[False] = ..., tail_lines: int | None = ...,
                 timestamps: bool = ..., previous: bool = ..., since_seconds: int | None = ...,
                 since_time: str | None = ..., limit_bytes: int | None = ...) -> str: ...

    @overload
    def pod_logs(self, name: str, namespace: str = ..., *, container: str | None = ...,
                 follow: Literal[True], tail_lines: int | None = ...,
                 timestamps: bool = ..., previous: bool = ..., since_seconds: int | None = ...,
                 since_time: str | None = ..., limit_bytes: int | None = ...
                 ) -> Iterator[str]: ...

    @overload
    def pod_logs(self, name: str, namespace: str = ..., *, container: str | None = ...,
                 follow: bool, tail_lines: int | None = ...,
                 timestamps: bool = ..., previous: bool = ..., since_seconds: int | None = ...,
                 since_time: str | None = ..., limit_bytes: int | None = ...
                 ) -> str | Iterator[str]: ...

    def pod_logs(self, name: str, namespace: str = "default", *,
                 container: str | None = None, follow: bool = False,
                 tail_lines: int | None = None, timestamps: bool = False,
                 previous: bool = False, since_seconds: int | None = None,
                 since_time: str | None = None,
                 limit_bytes: int | None = None) -> str | Iterator[str]:
        """The whole log as one string, or with ``follow`` an iterator of text chunks."""
        req = logs_req(name, namespace, container=container, follow=follow,
                       tail_lines=tail_lines, timestamps=timestamps, previous=previous,
                       since_seconds=since_seconds, since_time=since_time,
                       limit_bytes=limit_bytes)
        if not follow:
            return str(self._execute(req))
        return self._follow_logs(req)

    def _follow_logs(self, req: Req) -> Iterator[str]:
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            with self._http.stream("GET", req.path, params=req.params,
                                   timeout=httpx.Timeout(self.timeout, read=None)) as resp:
                if resp.status_code >= 400:
                    raise error_from_response(resp.status_code, resp.read())
                for chunk in resp.iter_bytes():
                    text = utf8.decode(chunk)
                    if text:
                        yield text
            tail = utf8.decode(b"", final=True)
            if tail:
                yield tail
        except TRANSPORT_ERRORS as exc:
            raise unavailable(self.server, exc) from exc


__all__ = [
    "ApiError", "AsyncClient", "Client", "ObjectListResult", "PATCH_CONTENT_TYPES", "Req",
    "RetryPolicy", "ServerUnavailable", "WatchDecoder", "WatchEvent", "checked_watch_event",
    "decode_watch_event",
]
