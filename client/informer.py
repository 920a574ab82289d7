"""Informers: a local, indexed cache of one kind kept current by list + watch.

The loop (client-go's reflector): list, then watch from the list's resourceVersion.
A watch the server ends cleanly (its timeout) is resumed from the last resourceVersion
seen. A 410 Expired, a broken connection or any other failure leads to a fresh list
(after a jittered backoff, except for the first 410), whose difference from the cache
is delivered as adds, updates and deletes: a deletion that happened while we were
disconnected still reaches the handlers, as a delete of the last state we knew.

Objects are kept compactly (client.cache: JSON bytes and index values) and typed on
access; handlers get typed objects that validate on first use (client.lazy), so an
event whose handlers only read keys, names or labels costs no validation.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import orjson

from api import resources
from api.models import TypedObject
from client.backoff import Backoff
from client.cache import DEFAULT_CACHE_SIZE, IndexFunc, Store, meta_key
from client.errors import ApiError, Gone, ServerUnavailable
from client.lazy import lazy
from client.rest import (
    AsyncClient,
    EventDecoder,
    checked_watch_event,
    raw_watch_req,
)
from client.tasks import cancel_and_wait

log = logging.getLogger(__name__)

T = TypeVar("T", bound=TypedObject)

# A handler's result is awaited when it is awaitable and ignored otherwise.
OnAdd = Callable[[Any], object]
OnUpdate = Callable[[Any, Any], object]
OnDelete = Callable[[Any], object]


@dataclass(frozen=True)
class _HandlerSet:
    on_add: OnAdd | None
    on_update: OnUpdate | None
    on_delete: OnDelete | None


# A watch line as Kubernetes and minik8s write it (metav1.WatchEvent: type, then object):
# the object's own JSON is the line between this prefix and the final brace.
_LINE_HEAD = b'{"type":"'
_LINE_OBJECT = b'","object":'


def _event_line(line: bytes) -> tuple[dict[str, Any], bytes | None]:
    ev = checked_watch_event(orjson.loads(line))
    if not line.startswith(_LINE_HEAD) or not line.endswith(b"}}"):
        return ev, None
    head = len(_LINE_HEAD) + len(ev["type"])
    if line[head:head + len(_LINE_OBJECT)] != _LINE_OBJECT:
        return ev, None
    return ev, line[head + len(_LINE_OBJECT):-1]


class WatchLines(EventDecoder[tuple[dict[str, Any], bytes | None]]):
    """NDJSON watch lines -> (checked event dict, the object's JSON bytes when the line
    has the usual form, else None): the store keeps those bytes instead of encoding the
    object again."""

    def __init__(self) -> None:
        super().__init__(lambda data: (checked_watch_event(data), None))

    def feed(self, chunk: bytes) -> Iterator[tuple[dict[str, Any], bytes | None]]:
        data = self._buf + chunk if self._buf else chunk
        lines = data.split(b"\n")
        self._buf = lines.pop()
        for ln in lines:
            if ln.strip():
                yield _event_line(ln)

    def flush(self) -> list[tuple[dict[str, Any], bytes | None]]:
        rest, self._buf = self._buf, b""
        return [_event_line(rest.strip())] if rest.strip() else []


class Informer(Generic[T]):
    def __init__(self, client: AsyncClient, model_cls: type[T], namespace: str | None = None, *,
                 label_selector: str | None = None, field_selector: str | None = None,
                 resync_period: float | None = None,
                 watch_timeout: tuple[int, int] = (300, 600),
                 backoff: Backoff | None = None, list_page_size: int = 500,
                 cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.client = client
        self.model_cls = model_cls
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period = resync_period
        self.watch_timeout = watch_timeout
        self.backoff = backoff or Backoff()
        self.list_page_size = list_page_size
        self.store: Store[T] = Store(model_cls=model_cls, cache_size=cache_size)
        self.resource_version = ""
        self._handlers: list[_HandlerSet] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self._gone_in_a_row = 0
        # counters, for tests and the benchmark
        self.lists = 0
        self.watches = 0
        self.events = 0
        self.gone = 0
        self.errors = 0

    def __repr__(self) -> str:
        return (f"Informer({self.model_cls.__name__}, ns={self.namespace!r}, "
                f"labels={self.label_selector!r}, fields={self.field_selector!r})")

    # ---- handlers --------------------------------------------------------------------

    def add_handler(self, on_add: OnAdd | None = None, on_update: OnUpdate | None = None,
                    on_delete: OnDelete | None = None) -> None:
        """Register callbacks (sync or async). Added after the cache has synced, the
        handler first gets an add for every cached object, like client-go's."""
        hs = _HandlerSet(on_add, on_update, on_delete)
        self._handlers.append(hs)
        if self._synced.is_set() and on_add is not None:
            for obj in self.store.views():
                res = self._call(on_add, obj)
                if res is not None:
                    task = asyncio.ensure_future(res)
                    self._pending.add(task)
                    task.add_done_callback(self._pending.discard)

    def add_index(self, name: str, fn: IndexFunc) -> None:
        self.store.add_index(name, fn)

    def _call(self, fn: Callable[..., object], *args: Any) -> Awaitable[None] | None:
        try:
            res = fn(*args)
        except Exception:
            log.exception("%r: handler %s failed", self, getattr(fn, "__qualname__", fn))
            return None
        if res is None:  # most handlers: nothing to await, and no need to ask
            return None
        if inspect.isawaitable(res):
            return self._guard(res)
        return None

    async def _guard(self, aw: Awaitable[None]) -> None:
        try:
            await aw
        except Exception:
            log.exception("%r: async handler failed", self)

    async def _dispatch(self, kind: str, a: T, b: T | None = None) -> None:
        for hs in self._handlers:
            if kind == "add":
                fn: Any = hs.on_add
                args: tuple[Any, ...] = (a,)
            elif kind == "update":
                fn, args = hs.on_update, (a, b)
            else:
                fn, args = hs.on_delete, (a,)
            if fn is None:
                continue
            res = self._call(fn, *args)
            if res is not None:
                await res

    # ---- lifecycle -------------------------------------------------------------------

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def start(self) -> None:
        """Start the list/watch loop in the background (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=repr(self))

    async def stop(self) -> None:
        """Stop the task ``start()`` made (whoever awaits ``run()`` directly cancels it)."""
        task, self._task = self._task, None
        await cancel_and_wait([task])

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run(self) -> None:
        """List and watch until cancelled (``start()`` runs this as a task)."""
        resync: asyncio.Task[None] | None = None
        if self.resync_period:
            resync = asyncio.create_task(self._resync_loop(self.resync_period))
        try:
            while True:
                try:
                    await self._list()
                    await self._watch_until_error()
                except asyncio.CancelledError:
                    raise
                except Gone as exc:
                    self.gone += 1
                    log.info("%r: %s; re-listing", self, exc.message)
                    # A 410 after a healthy watch re-lists at once; 410s in a row back off.
                    if self._gone_in_a_row:
                        await asyncio.sleep(self.backoff.next())
                    self._gone_in_a_row += 1
                    continue
                except Exception as exc:
                    self.errors += 1
                    delay = self.backoff.next()
                    # an outage is expected and logged quietly; anything else is news
                    level = logging.INFO if isinstance(exc, ServerUnavailable) else logging.WARNING
                    log.log(level, "%r: %s: %s; re-listing in %.2fs", self, type(exc).__name__,
                            exc, delay, exc_info=not isinstance(exc, ApiError))
                    await asyncio.sleep(delay)
        finally:
            if resync is not None:
                resync.cancel()

    # ---- list and watch --------------------------------------------------------------

    def _path(self) -> str:
        info = resources.for_model(self.model_cls)
        return info.collection_path(self.namespace if info.namespaced else None)

    async def _list(self) -> None:
        # A paginated list (client-go's pager): every page is read at the first page's
        # revision, and only one page is decoded at a time. The objects go into a fresh
        # store as compact bytes; the cache takes that whole new state first, then
        # handlers hear the differences (as client-go's Replace does): a handler never
        # sees a half-applied re-list.
        path = self._path()
        params: dict[str, Any] = {"labelSelector": self.label_selector,
                                  "fieldSelector": self.field_selector,
                                  "limit": self.list_page_size or None}
        fresh = self.store.fresh()
        rv = ""
        cont: str | None = None
        # The pages decode into many long-lived objects: the cyclic GC, left on, would
        # traverse the growing store again and again (a third of a 100,000-pod sync).
        # Paused for the list only (a bounded time), back on before any handler runs.
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            while True:
                page = {k: v for k, v in params.items() if v is not None}
                if cont:
                    page["continue"] = cont
                data = await self.client.request("GET", path, params=page)
                for item in data.get("items") or ():
                    fresh.fill(item)
                meta = data.get("metadata") or {}
                rv = rv or str(meta.get("resourceVersion") or "")
                cont = meta.get("continue") or None
                del data
                if not cont:
                    break
            self.lists += 1
            notes = self.store.adopt(fresh)
        finally:
            if gc_was_on:
                gc.enable()
        del fresh
        self.resource_version = rv
        # the new objects are made as they are delivered, and let go once delivered: what
        # a handler decoded of one goes with it
        store = self.store
        notes.reverse()
        while notes:
            kind, key, old = notes.pop()
            if kind == "delete":
                assert old is not None
                await self._dispatch(kind, old)
                continue
            new = store.peek(key)
            assert new is not None
            if old is None:
                await self._dispatch("add", new)
            else:
                await self._dispatch("update", old, new)
            del new, old
        self._synced.set()

    async def _watch_until_error(self) -> None:
        """Watch from the last resourceVersion, resuming after clean server-side ends;
        returns only by raising."""
        path = self._path()
        while True:
            started = time.monotonic()
            n_before = self.events
            lo, hi = self.watch_timeout
            self.watches += 1
            params = {"resourceVersion": self.resource_version or None,
                      "labelSelector": self.label_selector,
                      "fieldSelector": self.field_selector,
                      "timeoutSeconds": random.randint(lo, hi), "allowWatchBookmarks": True}
            async for ev, raw in self.events_from(
                    path, {k: v for k, v in params.items() if v is not None}):
                await self._apply(ev, raw)
            if self.events > n_before or time.monotonic() - started > 1.0:
                self.backoff.reset()
                self._gone_in_a_row = 0
            else:
                # ended at once with nothing in it: don't spin on a misbehaving server
                await asyncio.sleep(self.backoff.next())

    def events_from(self, path: str, params: dict[str, Any]
                    ) -> AsyncIterator[tuple[dict[str, Any], bytes | None]]:
        """The watch of ``path`` (``watch=true`` added) as ``WatchLines`` pairs, with the
        client's watch timeouts and errors (410 -> Gone)."""
        return self.client._stream_events(raw_watch_req(path, params, None), WatchLines())

    async def _apply(self, ev: dict[str, Any], raw: bytes | None = None) -> None:
        """One watch event as decoded from its line (``checked_watch_event``'s form, with
        the object's JSON if at hand): the object is stored as compact bytes and handed to
        handlers as a typed object that validates when first used (client.lazy)."""
        obj: dict[str, Any] = ev["object"]
        md = obj.get("metadata")
        rv = md.get("resourceVersion") if isinstance(md, dict) else None
        typ = ev["type"]
        if typ == "BOOKMARK":
            if rv:
                self.resource_version = rv
            return
        self.events += 1
        self._gone_in_a_row = 0
        if typ == "DELETED":
            final: T = lazy(self.model_cls, data=obj)
            self.store.delete(meta_key(final))
            if rv:
                self.resource_version = rv
            # the event carries the final state; deliver it even if we never cached it
            await self._dispatch("delete", final)
            return
        new, prev = self.store.put_wire(obj, raw)
        if rv:
            self.resource_version = rv
        if prev is None:
            await self._dispatch("add", new)
        else:
            await self._dispatch("update", prev, new)

    async def _resync_loop(self, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            if not self._synced.is_set():
                continue
            for obj in self.store.views():
                await self._dispatch("update", obj, obj)


class SharedInformerFactory:
    """One informer per (kind, namespace, selectors) in a process, shared by all its
    controllers, so N controllers watching pods cost one list and one watch."""

    def __init__(self, client: AsyncClient, *, resync_period: float | None = None) -> None:
        self.client = client
        self.resync_period = resync_period
        self._informers: dict[tuple[Any, ...], Informer[Any]] = {}

    def informer(self, model_cls: type[T], namespace: str | None = None, *,
                 label_selector: str | None = None, field_selector: str | None = None,
                 resync_period: float | None = None) -> Informer[T]:
        key = (model_cls, namespace, label_selector, field_selector)
        inf = self._informers.get(key)
        if inf is None:
            inf = Informer(self.client, model_cls, namespace, label_selector=label_selector,
                           field_selector=field_selector,
                           resync_period=resync_period or self.resync_period)
            self._informers[key] = inf
        return cast(Informer[T], inf)

    @property
    def informers(self) -> list[Informer[Any]]:
        return list(self._informers.values())

    async def start_all(self) -> None:
        for inf in self._informers.values():
            await inf.start()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        if not self._informers:
            return True
        try:
            async with asyncio.timeout(timeout):
                for inf in list(self._informers.values()):
                    await inf.wait_for_sync()
        except TimeoutError:
            return False
        return True

    async def stop_all(self) -> None:
        for inf in self._informers.values():
            await inf.stop()
