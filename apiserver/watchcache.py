"""The watch cache: one etcd watch per resource type, fanned out to every client.

Each ``WatchCache`` holds the current objects of one resource type (each as the JSON a
response carries, with its resourceVersion, plus the few attributes selectors look at:
``CachedObject``) and a ring of recent events. Client watches and cached lists are served from it,
so N watchers cost one etcd watch, and an event is encoded once for all of them.

History: the ring covers every event with revision > ``window_start``. Its capacity
follows Kubernetes' cacher (watch_cache.go resizeCacheLocked): it starts at
LOWER_CAPACITY, doubles when it is full and its oldest event is younger than the
freshness window (FRESH_SECONDS, Kubernetes' eventFreshDuration of 75 s), up to the
upper bound (--watch-cache-capacity, 100*1024 as in Kubernetes), and halves when the
newest quarter of it reaches back past the window. Kubernetes checks that only when an
event arrives and when the ring is full, so after a burst followed by quiet the history
(and every object it references) stays for good; here a timer (``expire``) applies the
same halving rule to a ring that is not full and gets no events, so that memory follows
the live objects. A watch from

an older resourceVersion that etcd still has in its history (not compacted) is served
by ``backfill``: the ring is extended back to it with the events read from etcd, once
for all the watchers that resume there, so that after an API server restart the
clients' watches resume without a re-list. Older than etcd's history, or than the
ring can hold: 410 Expired (the client re-lists), as Kubernetes does.

Failures: if the etcd watch breaks, the cache resumes from its last revision +1,
which etcd replays exactly. If that revision was compacted meanwhile, it re-lists
and turns the difference into events (so live watchers lose nothing and see nothing
twice), then narrows the window so that no one resumes inside the gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import heapq
import logging
import random
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import orjson

from api.fields import supported_fields
from api.resources import ResourceInfo
from apiserver.metrics import watcher_terminated, write_held
from apiserver.storage import CompactedError, Storage, StorageError, StorageEvent

log = logging.getLogger("apiserver.watchcache")

JSONDict = dict[str, Any]
Predicate = Callable[[JSONDict], bool]

ADDED, MODIFIED, DELETED, BOOKMARK, ERROR = "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"
PROGRESS = "PROGRESS"  # apiserver.storage: a watch's progress answer

# Seconds after a watch stream opens during which etcd's progress answers are not
# taken (etcd 3.4 answers while the watch still replays its history).
PROGRESS_SETTLE = 1.0

# History sizing (Kubernetes' watch_cache.go): events younger than this many seconds
# make a full ring double (eventFreshDuration, DefaultEventFreshDuration), between these
# bounds (lowerBoundCapacity, upperBoundCapacity).
FRESH_SECONDS = 75.0
LOWER_CAPACITY = 100
UPPER_CAPACITY = 100 * 1024

# After an expiry dropped at least this many events, freed memory is handed back to
# the system (release_memory), so that the process's RSS follows as well.
TRIM_AFTER = 1000


def release_memory() -> None:
    """Give freed heap pages back to the system (glibc's malloc_trim; elsewhere a no-op).
    Python's own allocator returns its empty arenas by itself, but the objects above its
    512-byte limit (most stored objects' JSON) live in malloc's heap, whose free pages
    otherwise stay in the process's RSS."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Any = None


# ObjectMeta's fields in the order of its Go struct, the order kube-apiserver writes them.
_META_RANK = {k: i for i, k in enumerate((
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields"))}
_HEAD = ("kind", "apiVersion", "metadata")


def set_resource_version(obj: JSONDict, rv: int) -> JSONDict:
    """``obj`` (changed in place) with metadata.resourceVersion ``rv``, in the field order
    kube-apiserver serializes: kind, apiVersion, metadata, then the object's other fields
    as they came; metadata's fields in ObjectMeta's order (unknown ones after them)."""
    md = obj.get("metadata")
    if not isinstance(md, dict):
        md = {}
    md["resourceVersion"] = str(rv)
    fields = sorted(md.items(), key=lambda kv: _META_RANK.get(kv[0], len(_META_RANK)))
    md.clear()
    md.update(fields)
    rest = [(k, v) for k, v in obj.items() if k not in _HEAD]
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    had_kind, had_version = "kind" in obj, "apiVersion" in obj
    obj.clear()
    if had_kind:
        obj["kind"] = kind
    if had_version:
        obj["apiVersion"] = api_version
    obj["metadata"] = md
    obj.update(rest)
    return obj


def decode_object(value: bytes, rv: int) -> tuple[JSONDict, bytes]:
    """A stored value -> (dict with metadata.resourceVersion, its JSON bytes)."""
    obj = set_resource_version(orjson.loads(value), rv)
    return obj, orjson.dumps(obj)


# The paths of a kind's field-selector fields (api.fields) that the attributes keep:
# the fields whose value is computed read these.
_FIELD_SOURCES = {"source": ("source", "component"), "status.successful": ("status", "succeeded")}
_ATTR_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {}


def _attr_paths(kind: str) -> tuple[tuple[str, ...], ...]:
    paths = _ATTR_PATHS.get(kind)
    if paths is None:
        fields = supported_fields(kind) | {"metadata.name", "metadata.namespace"}
        paths = _ATTR_PATHS[kind] = tuple(sorted(
            {_FIELD_SOURCES.get(f) or tuple(f.split(".")) for f in fields}
            | {("metadata", "labels")}))
    return paths


def select_attrs(obj: JSONDict) -> JSONDict:
    """What selectors look at in ``obj``: a skeleton of it with only its name,
    namespace, labels and its kind's field-selector fields (a predicate from
    apiserver.selectors gives the same answer on it as on the whole object). Repeated
    strings (namespaces, node names, phases, label values) are interned."""
    out: JSONDict = {}
    for path in _attr_paths(str(obj.get("kind") or "")):
        cur: Any = obj
        for part in path:
            if not isinstance(cur, dict):
                break
            cur = cur.get(part, _MISSING)
            if cur is _MISSING:
                break
        else:
            if isinstance(cur, str):
                cur = sys.intern(cur)
            elif isinstance(cur, dict):  # labels
                cur = {k: sys.intern(v) if isinstance(v, str) else v for k, v in cur.items()}
            node = out
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = cur
    return out


_MISSING: Any = object()


class CachedObject:
    """One stored object as the cache keeps it: its JSON (what answers and watch events
    carry), its resourceVersion, and its selectable attributes (``select_attrs``), on
    which selectors are evaluated, as Kubernetes' cacher keeps an object's labels and
    fields beside it. The whole object (``obj``) is decoded from the JSON on each
    access: a fresh dict the caller owns. Keeping the JSON alone costs a fraction of
    the decoded dict (a running pod: ~4 KB of JSON, ~20 KB as a dict)."""

    __slots__ = ("attrs", "key", "raw", "rv")

    def __init__(self, key: str, obj: JSONDict | None, raw: bytes, rv: int,
                 attrs: JSONDict | None = None) -> None:
        """``obj``: what ``raw`` encodes, if at hand (for the attributes)."""
        self.key = key
        self.raw = compact(raw)
        self.rv = rv
        if attrs is None:
            attrs = select_attrs(obj if obj is not None else orjson.loads(raw))
        self.attrs = attrs

    @property
    def obj(self) -> JSONDict:
        out: JSONDict = orjson.loads(self.raw)
        return out


class WatchEvent:
    """One change, as every watcher will see it (before selector translation)."""

    __slots__ = ("_line", "_raw", "attrs", "key", "prev", "rv", "time", "type")

    def __init__(self, type: str, rv: int, key: str, raw: bytes | None, attrs: JSONDict,
                 prev: CachedObject | None) -> None:
        """``raw`` None (a deletion): the object is ``prev``'s at ``rv``, encoded when
        asked for, so that the history does not hold a second copy of each deleted
        object."""
        self.type = type
        self.rv = rv
        self.key = key
        self._raw = raw
        self.attrs = attrs  # the object's select_attrs
        self.prev = prev
        self._line: bytes | None = None
        self.time = 0.0  # when the cache recorded it (its clock), for the history's sizing

    @property
    def raw(self) -> bytes:
        if self._raw is not None:
            return self._raw
        assert self.prev is not None
        return _with_rv(self.prev.obj, self.rv)[1]

    @property
    def obj(self) -> JSONDict:
        """The object (decoded from ``raw`` on each access: the caller's own dict)."""
        out: JSONDict = orjson.loads(self.raw)
        return out

    def line(self) -> bytes:
        if self._line is None:
            self._line = _line(self.type, self.raw)
        return self._line


def _line(type: str, raw: bytes) -> bytes:
    return b'{"type":"' + type.encode() + b'","object":' + raw + b"}\n"


def _with_rv(obj: JSONDict, rv: int) -> tuple[JSONDict, bytes]:
    new = dict(obj)
    md = dict(new.get("metadata") or {})
    md["resourceVersion"] = str(rv)
    new["metadata"] = md
    return new, compact(orjson.dumps(new))


def compact(raw: bytes) -> bytes:
    """``raw`` in a buffer of its own size. orjson.dumps hands out bytes whose buffer
    is several KB larger than their content (at least ~4 KB, ~8 KB for a 4 KB pod), so
    JSON kept for long is copied once: a copy costs well under a microsecond."""
    return bytes(memoryview(raw))


class Watcher:
    """One client's watch: a bounded queue of encoded lines fed by the cache."""

    def __init__(self, cache: WatchCache, pred: Predicate | None, max_queue: int) -> None:
        self.cache = cache
        self.pred = pred
        self.max_queue = max_queue
        self.queue: deque[bytes] = deque()
        # The stream's pending wait, resolved by the next line or by close(). A bare
        # future plus a timer is several times cheaper than wait_for(Event.wait()),
        # which matters when one event wakes hundreds of watchers.
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.overflowed = False
        self.last_rv = 0
        self.start_rv = 0
        self.final = False  # closed by the server's shutdown: a last BOOKMARK, then the end
        self.final_rv = 0  # the resourceVersion of that BOOKMARK (set on close)

    def push_line(self, line: bytes) -> None:
        if self.closed:
            return
        if len(self.queue) >= self.max_queue:
            # Too slow: close it rather than block the others or grow without bound.
            self.overflowed = True
            watcher_terminated(self.cache.info.plural)
            self.close()
            return
        self.queue.append(line)
        self._wake()

    def offer(self, ev: WatchEvent) -> None:
        """Queue what this watcher must see of ``ev`` (called synchronously, in order)."""
        if ev.rv <= self.start_rv:
            return  # the client's state already includes it (it asked from a later rv)
        pred = self.pred
        if pred is None:
            self.push_line(ev.line())
        elif ev.type == ADDED or ev.type == DELETED:
            if pred(ev.attrs):
                self.push_line(ev.line())
        else:
            now = pred(ev.attrs)
            before = ev.prev is not None and pred(ev.prev.attrs)
            if now and before:
                self.push_line(ev.line())
            elif now:
                self.push_line(_line(ADDED, ev.raw))
            elif before:
                assert ev.prev is not None
                _, raw = _with_rv(ev.prev.obj, ev.rv)
                self.push_line(_line(DELETED, raw))
        # Everything up to ev.rv is now queued, so a bookmark after the queue may say so.
        if ev.rv > self.last_rv:
            self.last_rv = ev.rv

    def _wake(self) -> None:
        f = self.waiter
        if f is not None and not f.done():
            f.set_result(None)

    async def wait(self, timeout: float) -> None:
        """Until a line is queued, the watcher closes, or ``timeout`` passes."""
        if self.queue or self.closed:
            return
        loop = asyncio.get_running_loop()
        f = self.waiter = loop.create_future()
        timer = loop.call_later(timeout, _resolve, f)
        try:
            await f
        finally:
            timer.cancel()
            self.waiter = None

    def close(self, final: bool = False) -> None:
        """Stop this watch; ``final``: the server is shutting down (the stream ends
        normally after a last BOOKMARK, so the client resumes elsewhere from there)."""
        if not self.closed:
            self.closed = True
            self.final = final
            # Every event up to the cache's revision has been offered to this watcher
            # (synchronously): what its last BOOKMARK may claim, fixed now, before the
            # cache applies events it will no longer get.
            self.final_rv = max(self.last_rv, self.cache.revision)
            self.cache.watchers.discard(self)
            self._wake()

    def drain(self) -> bytes:
        lines = b"".join(self.queue)
        self.queue.clear()
        # Once the initial state or backlog is out, the normal bound applies.
        self.max_queue = self.cache.watcher_queue
        return lines


def _resolve(f: asyncio.Future[None]) -> None:
    if not f.done():
        f.set_result(None)


class CurrentRevision:
    """etcd's current revision by a linearizable (quorum) read, for consistent reads
    from the cache (Kubernetes' GetCurrentResourceVersion), with concurrent callers
    coalesced: a caller joins the next read that starts after it asked (never one
    already on its way, whose answer might predate a write acknowledged before the
    caller asked), so any number of concurrent callers cost at most two reads in
    flight and one round trip each, and every answer is at least as new as every
    write acknowledged before its caller asked."""

    def __init__(self, read: Callable[[], Any]) -> None:
        self._read = read
        self._running: asyncio.Future[int] | None = None
        self._next: asyncio.Future[int] | None = None
        self._task: asyncio.Task[None] | None = None
        self.reads = 0

    async def get(self) -> int:
        loop = asyncio.get_running_loop()
        if self._running is None:
            fut = self._running = loop.create_future()
            self._task = loop.create_task(self._run(fut))
        else:
            if self._next is None:
                self._next = loop.create_future()
            fut = self._next
        return await asyncio.shield(fut)

    async def _run(self, fut: asyncio.Future[int]) -> None:
        self.reads += 1
        try:
            fut.set_result(int(await self._read()))
        except Exception as e:
            fut.set_exception(e)
            fut.exception()  # retrieved: no "never retrieved" warning if all left
        finally:
            if not fut.done():
                fut.cancel()
            nxt, self._next = self._next, None
            self._running = nxt
            if nxt is not None:
                self._task = asyncio.get_running_loop().create_task(self._run(nxt))


class TooOldError(Exception):
    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class WatchCache:
    def __init__(self, info: ResourceInfo, storage: Storage, capacity: int = UPPER_CAPACITY,
                 watcher_queue: int = 10_000, *, fresh_seconds: float = FRESH_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 expire_interval: float | None = None) -> None:
        """``capacity``: the most events the ring grows to (its upper bound); it starts
        at LOWER_CAPACITY (or ``capacity`` if that is smaller). ``clock``: the time the
        history's freshness is measured with; ``expire_interval``: seconds between
        ``expire`` runs (default a fifth of the window)."""
        self.info = info
        self.storage = storage
        self.prefix = f"/registry/{info.storage_resource}/"
        self.upper_capacity = max(1, capacity)
        self.lower_capacity = min(LOWER_CAPACITY, self.upper_capacity)
        self.capacity = self.lower_capacity  # the ring's current capacity
        self.fresh_seconds = fresh_seconds
        self.clock = clock
        self.expire_interval = (fresh_seconds / 5 if expire_interval is None
                                else expire_interval)
        self.capacity_increases = 0
        self.capacity_decreases = 0
        self._expire_task: asyncio.Task[None] | None = None
        self.watcher_queue = watcher_queue
        self.objects: dict[str, CachedObject] = {}
        self.ring: deque[WatchEvent] = deque()
        self.revision = 0  # the newest revision applied
        self.window_start = 0  # every event with rv > window_start is in the ring
        self.watchers: set[Watcher] = set()
        self.draining = False  # see drain()
        self.synced = asyncio.Event()
        self.healthy = False
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.restarts = 0
        self.relists = 0
        # The ring holds etcd's events as they were (no re-list summarized a gap), so
        # older history may be prepended to it (backfill); how often that was done.
        self._history_ok = False
        self._backfill_lock = asyncio.Lock()
        self.backfills = 0
        # revision -> (key, stored bytes, its JSON with the resourceVersion, its
        # attributes) of this server's own writes, so that their watch events need not
        # decode what was just encoded.
        self._written: dict[int, tuple[str, bytes, bytes, JSONDict]] = {}
        # Revisions this server wrote that the cache has not applied yet (a heap), and
        # the writes held until fewer are outstanding: see room_for_write.
        self._unseen: list[int] = []
        # key -> the newest revision of it this server wrote that the cache has not
        # applied yet: see fresh_for.
        self._pending: dict[str, int] = {}
        self._room_waiters: list[asyncio.Future[None]] = []
        self.write_ahead = WRITE_AHEAD
        # Progress (Kubernetes' RequestWatchProgress): etcd's answer to a progress
        # request says every event of the prefix up to its revision was sent, so the
        # cache is fresh up to there although the prefix had no event: ``progress_rev``.
        # etcd 3.4 before 3.4.25 (etcd#15220) sends that answer on a control channel
        # that can overtake events already queued for the stream, and even while the
        # watch is still catching up: an answer is taken only once a second request's
        # answer has come back behind it, and not in the stream's first second. An
        # event that still arrives at or below ``progress_rev`` is counted
        # (``progress_overtaken``) and the cache stops relying on progress (reads that
        # must be fresher than its events then go to etcd).
        self.progress_rev = 0
        self.trust_progress = True
        self.progress_overtaken = 0
        self.progress_requests = 0
        self._progress_q: asyncio.Queue[bool] | None = None
        self._progress_phase = 0  # 0 idle, 1 first answer awaited, 2 confirmation awaited
        self._progress_candidate = 0
        self._stream_opened = 0.0

    # ---- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"watchcache-{self.info.plural}")
        if self.expire_interval > 0 and self.upper_capacity > self.lower_capacity:
            self._expire_task = asyncio.create_task(
                self._expire_forever(), name=f"watchcache-expire-{self.info.plural}")

    async def stop(self) -> None:
        for task in (self._task, self._expire_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for w in list(self.watchers):
            w.close()

    def drain(self) -> None:
        """The server is shutting down: end every watch cleanly (each stream sends what
        it has queued and a BOOKMARK of where it got to, then ends), and every watch
        opened from now on right after its initial events."""
        self.draining = True
        for w in list(self.watchers):
            w.close(final=True)

    async def _run(self) -> None:
        need_list = True
        backoff = 0.1
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                self.healthy = True
                q: asyncio.Queue[bool] = asyncio.Queue()
                self._progress_q = q
                self._progress_phase = 0
                self._stream_opened = time.monotonic()
                if self._waiters:  # reads waiting since the last stream broke
                    asyncio.get_running_loop().call_later(PROGRESS_SETTLE,
                                                          self._request_progress)
                async for batch in self.storage.watch(self.prefix, self.revision + 1, q):
                    if batch and batch[0].type == PROGRESS:
                        self._progress(batch[0].revision)
                        continue
                    self._apply(batch)
                    backoff = 0.1
            except asyncio.CancelledError:
                raise
            except CompactedError:
                log.warning("watch of %s fell behind compaction; re-listing", self.prefix)
                need_list = True
            except StorageError as e:
                log.warning("watch of %s broke (%s); resuming from %d",
                            self.prefix, e, self.revision + 1)
            except Exception:
                log.exception("watch cache %s failed; re-listing", self.prefix)
                need_list = True
            self.healthy = False
            self._progress_q = None
            self.restarts += 1
            await asyncio.sleep(backoff * (1 + random.random() / 2))
            backoff = min(backoff * 2, 5.0)

    async def _relist(self) -> None:
        res = await self.storage.list_prefix(self.prefix)
        rev = res.revision
        first = not self.synced.is_set()
        fresh: dict[str, CachedObject] = {}
        for kv in res.kvs:
            key = kv.key
            mr = kv.mod_revision
            old = self.objects.get(key)
            if old is not None and old.rv == mr:
                fresh[key] = old
                continue
            obj, raw = decode_object(kv.value, mr)
            fresh[key] = CachedObject(key, obj, raw, mr)
        if first:
            self.objects = fresh
            self.revision = rev
            self.window_start = rev
            self._history_ok = True
            self.synced.set()
            self._wake_waiters()
            return
        # Turn the gap into events, in revision order, so live watchers converge.
        self.relists += 1
        self._history_ok = False
        events: list[WatchEvent] = []
        for key, co in fresh.items():
            old = self.objects.get(key)
            if old is None:
                events.append(WatchEvent(ADDED, co.rv, key, co.raw, co.attrs, None))
            elif old.rv != co.rv:
                events.append(WatchEvent(MODIFIED, co.rv, key, co.raw, co.attrs, old))
        events.sort(key=lambda e: e.rv)
        for key, old in self.objects.items():
            if key not in fresh:
                events.append(WatchEvent(DELETED, rev, key, None, old.attrs, old))
        self.objects = fresh
        for ev in events:
            self._publish(ev)
        self.revision = max(self.revision, rev)
        # Events in the gap were summarized: nobody may resume from inside it, so the
        # ring's events (all at or below the new window's start) can go.
        self.window_start = self.revision
        self.ring.clear()
        self._wake_waiters()

    # ---- applying etcd events --------------------------------------------------

    def remember_write(self, rev: int, key: str, value: bytes, obj: JSONDict,
                       raw: bytes) -> None:
        """This server stored ``value`` at ``key`` in ``rev``; ``obj``/``raw`` are exactly
        ``decode_object(value, rev)``. The event for ``rev`` then reuses ``raw`` and the
        attributes taken from ``obj`` now (checked against the event's own bytes), and
        ``obj`` is not kept."""
        if rev <= self.revision:
            return  # the event came first
        if len(self._written) >= 1024:
            # Hints whose events went another way (a re-list) would pile up; and while
            # the cache lags far behind, hints are not worth keeping at all (they are
            # only a shortcut), so a full table is emptied rather than scanned per write.
            self._written = {r: w for r, w in self._written.items() if r > self.revision}
            if len(self._written) >= 512:
                self._written.clear()
        self._written[rev] = (key, value, raw, select_attrs(obj))

    def _decode(self, se: StorageEvent) -> CachedObject:
        assert se.value is not None
        if self._written:
            w = self._written.pop(se.revision, None)
            if w is not None and w[0] == se.key and w[1] == se.value:
                return CachedObject(se.key, None, w[2], se.revision, w[3])
        obj, raw = decode_object(se.value, se.revision)
        return CachedObject(se.key, obj, raw, se.revision)

    def _apply(self, batch: list[StorageEvent]) -> None:
        pending = self._pending
        for se in batch:
            if se.revision < self.revision:
                continue  # already applied (one txn may touch several keys: not "<=")
            if se.revision <= self.progress_rev and self.trust_progress:
                self._overtaken(se.revision)
            if pending and pending.get(se.key, se.revision + 1) <= se.revision:
                del pending[se.key]
            old = self.objects.get(se.key)
            if se.type == "PUT":
                co = self._decode(se)
                self.objects[se.key] = co
                typ = MODIFIED if old is not None else ADDED
                self._publish(WatchEvent(typ, se.revision, se.key, co.raw, co.attrs, old))
            else:
                if old is None:
                    self.revision = se.revision
                    continue
                del self.objects[se.key]
                self._publish(WatchEvent(DELETED, se.revision, se.key, None, old.attrs, old))
            self.revision = se.revision
        self._wake_waiters()

    def _publish(self, ev: WatchEvent) -> None:
        ring = self.ring
        now = ev.time = self.clock()
        cap = self.capacity
        if len(ring) >= cap:
            # Kubernetes' resizeCacheLocked, on each event into a full ring.
            if now - ring[0].time < self.fresh_seconds:
                if cap < self.upper_capacity:
                    self._resize(min(cap * 2, self.upper_capacity))
            elif cap > self.lower_capacity and \
                    now - ring[-max(1, cap // 4)].time > self.fresh_seconds:
                self._resize(max(cap // 2, self.lower_capacity))
        ring.append(ev)
        while len(ring) > self.capacity:
            self.window_start = ring.popleft().rv
        if self.watchers:
            for w in list(self.watchers):
                w.offer(ev)
            ev._line = None  # sent: a resumed watch encodes it again, the ring keeps less

    # ---- history sizing ----------------------------------------------------------

    def stats(self) -> tuple[int, int, int, int, int]:
        """What the metrics show (apiserver.metrics.CacheStats): objects, ring events,
        the ring's current capacity, the window's start, backfills."""
        return (len(self.objects), len(self.ring), self.capacity, self.window_start,
                self.backfills)

    def _resize(self, capacity: int) -> int:
        """Set the ring's capacity; a smaller one drops the oldest events (how many)."""
        dropped = 0
        if capacity > self.capacity:
            self.capacity_increases += 1
        elif capacity < self.capacity:
            self.capacity_decreases += 1
            ring = self.ring
            while len(ring) > capacity:
                self.window_start = ring.popleft().rv
                dropped += 1
        self.capacity = capacity
        return dropped

    def expire(self, now: float | None = None) -> int:
        """Halve the capacity, as often as it takes, while fewer than a quarter of it
        is fresh (recorded within the window); the events dropped. Kubernetes' halving
        rule, also for a ring that is not full and gets no more events (a burst, then
        quiet); it never drops a fresh event, since those stay under a quarter of it."""
        if now is None:
            now = self.clock()
        dropped = 0
        ring = self.ring
        while self.capacity > self.lower_capacity:
            q = max(1, self.capacity // 4)
            if len(ring) >= q and now - ring[-q].time <= self.fresh_seconds:
                break  # at least a quarter of the capacity is fresh
            dropped += self._resize(max(self.capacity // 2, self.lower_capacity))
        return dropped

    async def _expire_forever(self) -> None:
        while True:
            await asyncio.sleep(self.expire_interval)
            if self.expire() >= TRIM_AFTER:
                release_memory()

    # ---- consistency -------------------------------------------------------------

    def _wake_waiters(self) -> None:
        unseen = self._unseen
        while unseen and unseen[0] <= self.revision:
            heapq.heappop(unseen)
        if self._pending and not unseen:
            self._pending.clear()  # every write this server made is applied
        if self._room_waiters and len(unseen) <= self.write_ahead // 2:
            for f in self._room_waiters:
                _resolve(f)
            self._room_waiters.clear()
        if not self._waiters:
            return
        keep = []
        fresh = self.fresh_revision
        for rev, fut in self._waiters:
            if fresh >= rev:
                if not fut.done():
                    fut.set_result(None)
            else:
                keep.append((rev, fut))
        self._waiters = keep

    # ---- back-pressure -------------------------------------------------------------

    def note_write(self, rev: int, key: str | None = None) -> None:
        """This server wrote revision ``rev`` of this type (of ``key``); its event is yet
        to come."""
        if rev > self.revision:
            heapq.heappush(self._unseen, rev)
            if key is not None and rev > self._pending.get(key, 0):
                self._pending[key] = rev

    def fresh_for(self, key: str) -> bool:
        """Whether the cached state of ``key`` has every write this server made to it
        (as the whole cache has once it applied the server's last write of the type):
        a read-modify-write of ``key`` may start from it, as Kubernetes' GuaranteedUpdate
        starts from the watch cache's copy, without reading etcd."""
        return self.synced.is_set() and key not in self._pending

    async def room_for_write(self, timeout: float = 1.0) -> None:
        """Hold a write while ``write_ahead`` of this server's writes still wait for
        their etcd watch events, until half of them have come (or ``timeout``).

        The etcd watch delivers one event per message, and on one busy event loop
        the stream gets a turn far less often than 32 request handlers do: without
        this, under a flood of creates the cache fell a second and 3,000 events
        behind, and every watcher, cached read and read-modify-write with it. With
        it, writes go at the pace the cache can follow, which is what a client can
        observe anyway. A broken watch (not healthy) holds nothing.
        """
        if len(self._unseen) < self.write_ahead or not self.healthy:
            return
        write_held(self.info.plural)
        loop = asyncio.get_running_loop()
        f: asyncio.Future[None] = loop.create_future()
        self._room_waiters.append(f)
        timer = loop.call_later(timeout, _resolve, f)
        try:
            await f
        finally:
            timer.cancel()
            if f in self._room_waiters:  # timed out: a stuck cache must not pile them up
                self._room_waiters.remove(f)

    async def wait_for_revision(self, rev: int, timeout: float) -> bool:
        """Wait until the cache has applied ``rev``; False on timeout."""
        if not self.synced.is_set():
            try:
                await asyncio.wait_for(self.synced.wait(), timeout)
            except TimeoutError:
                return False
        if self.fresh_revision >= rev:
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((rev, fut))
        self._request_progress()
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            if not fut.done():
                self._waiters = [(r, f) for r, f in self._waiters if f is not fut]

    @property
    def fresh_revision(self) -> int:
        """The revision the cached state is known to be current at: its last event's,
        or a later one etcd's progress answer vouched for."""
        return self.progress_rev if self.progress_rev > self.revision else self.revision

    def _request_progress(self) -> None:
        """Ask etcd for this watch's progress, unless a request is on its way (one
        request in flight serves every waiter; the answer asks again if some still
        wait)."""
        q = self._progress_q
        if q is None or self._progress_phase or not self.trust_progress:
            return
        self._progress_phase = 1
        self.progress_requests += 1
        q.put_nowait(True)

    def _progress(self, rev: int) -> None:
        """etcd's progress answer (or periodic notification) at ``rev``."""
        q = self._progress_q
        if self._progress_phase == 1 and q is not None:
            # First answer: confirmed by the answer to a second request sent after it
            # (see progress_rev).
            self._progress_candidate = rev
            self._progress_phase = 2
            q.put_nowait(True)
            return
        if self._progress_phase == 2:
            self._progress_phase = 0
            young = time.monotonic() - self._stream_opened < PROGRESS_SETTLE
            if self.trust_progress and not young and \
                    self._progress_candidate > self.progress_rev:
                self.progress_rev = self._progress_candidate
                self._wake_waiters()
            if any(r > self.fresh_revision for r, _ in self._waiters):
                if young:
                    asyncio.get_running_loop().call_later(
                        PROGRESS_SETTLE, self._request_progress)
                else:
                    self._request_progress()

    def _overtaken(self, rev: int) -> None:
        log.warning("watch cache %s: event %d came after etcd's progress answer at %d; "
                    "not relying on progress answers from now on", self.prefix, rev,
                    self.progress_rev)
        self.progress_overtaken += 1
        self.trust_progress = False
        self.progress_rev = 0

    # ---- reading -----------------------------------------------------------------

    def get(self, key: str) -> CachedObject | None:
        return self.objects.get(key)

    def list_objects(self, pred: Predicate | None, key_prefix: str | None = None
             ) -> tuple[list[CachedObject], int]:
        """Matching objects sorted by key (as etcd returns them), and the revision."""
        if key_prefix is None:
            items = list(self.objects.values())
        else:
            items = [co for k, co in self.objects.items() if k.startswith(key_prefix)]
        if pred is not None:
            items = [co for co in items if pred(co.attrs)]
        items.sort(key=lambda co: co.key)
        return items, self.fresh_revision

    def watch(self, pred: Predicate | None, resource_version: int | None,
              initial_events: bool) -> Watcher:
        """Register a watcher, pre-filled with what it must see first.

        ``resource_version`` None (or 0) -> the current state as ADDED, then live;
        otherwise every event after it (TooOldError if the ring no longer has them).
        Runs without awaiting, so nothing can slip between the snapshot and the
        registration.
        """
        w = Watcher(self, pred, self.watcher_queue)
        if resource_version is None or initial_events:
            items, rev = self.list_objects(pred)
            for co in items:
                w.queue.append(_line(ADDED, co.raw))
            w.last_rv = rev
            # The initial state does not count against the slow-watcher bound.
            w.max_queue = self.watcher_queue + len(items)
        else:
            if resource_version < self.window_start:
                raise TooOldError(resource_version, self.window_start)
            w.last_rv = w.start_rv = resource_version
            backlog = self._events_after(resource_version)
            # Like the initial state, the replayed backlog does not count against the
            # slow-watcher bound (else a client far behind could never catch up).
            w.max_queue = self.watcher_queue + len(backlog)
            for ev in backlog:
                w.offer(ev)
        if self.draining:
            w.closed = w.final = True
            w.final_rv = max(w.last_rv, self.revision)
            return w
        self.watchers.add(w)
        return w

    async def backfill(self, rv: int) -> bool:
        """Extend the ring back to ``rv`` from etcd's history, so that a watch from
        ``rv`` (older than ``window_start``) can be served; False when it cannot be
        (etcd compacted it, a re-list summarized part of the ring, or the events would
        not fit in the ring's capacity). Concurrent calls share one etcd read."""
        if rv >= self.window_start:
            return True
        history = getattr(self.storage, "history", None)
        if history is None or not self._history_ok or rv < 0:
            return False
        async with self._backfill_lock:
            end = self.window_start
            if rv >= end:
                return True  # another watcher's backfill reached it
            try:
                events: list[StorageEvent] = await history(self.prefix, rv + 1, end)
            except StorageError as e:  # CompactedError included
                log.info("watch cache %s: no history from %d: %s", self.prefix, rv + 1, e)
                return False
            if not self._history_ok or self.window_start != end:
                return False  # a re-list or the ring's trimming moved the window meanwhile
            need = len(self.ring) + len(events)
            if need > self.upper_capacity:
                return False
            older: list[WatchEvent] = []
            for se in events:
                prev = None
                if se.prev_value is not None:
                    pobj, praw = decode_object(se.prev_value, 0)
                    prev = CachedObject(se.key, pobj, praw, 0)
                if se.type == "PUT":
                    obj, raw = decode_object(se.value or b"{}", se.revision)
                    older.append(WatchEvent(MODIFIED if prev is not None else ADDED,
                                            se.revision, se.key, raw, select_attrs(obj), prev))
                elif prev is not None:
                    older.append(WatchEvent(DELETED, se.revision, se.key, None, prev.attrs,
                                            prev))
                else:
                    return False  # a deletion whose object etcd no longer has
            # The older events take the age of the oldest one held (the ring stays in
            # time order) and the capacity grows to hold them.
            when = self.ring[0].time if self.ring else self.clock()
            for ev in older:
                ev.time = when
            cap = self.capacity
            while cap < need:
                cap *= 2
            if cap != self.capacity:
                self._resize(min(cap, self.upper_capacity))
            self.ring.extendleft(reversed(older))
            self.window_start = rv
            self.backfills += 1
            return True

    def _events_after(self, rv: int) -> list[WatchEvent]:
        if rv >= self.revision:
            return []
        # The ring is ordered by rv: walk back from the newest end.
        out: list[WatchEvent] = []
        for ev in reversed(self.ring):
            if ev.rv <= rv:
                break
            out.append(ev)
        out.reverse()
        return out


async def stream_watch(w: Watcher, *, timeout: float | None, bookmarks: bool,
                       bookmark_interval: float, initial_end_bookmark: bool,
                       api_version: str, kind: str, linger: float = 0.0
                       ) -> AsyncIterator[bytes]:
    """The NDJSON body of one watch: queued lines as they come, bookmarks when idle.

    ``linger`` (seconds, at most): while events come faster than they are sent,
    sends are spaced apart so each write carries many events. The spacing grows
    with the number of watchers of the type (SEND_BUDGET sends a second for all of
    them together), so one watcher gets events at once and two hundred still keep
    up with a fast writer.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        first = w.drain()
        if initial_end_bookmark:
            first += _bookmark(api_version, kind, w.last_rv, initial_end=True)
        if first:
            yield first
        next_bookmark = time.monotonic() + bookmark_interval
        last_send = 0.0
        while not w.closed:
            # A stream that sent within the last ``spacing`` sleeps out the rest of it
            # before looking at its queue (one timer, no wakeup per event): a quiet
            # stream's first event goes at once, a flood goes out in fewer, bigger
            # writes. (Lingering only once several lines wait was tried: the first
            # event of each burst then costs every watcher a send of its own, tripling
            # CPU under fan-out.)
            now = time.monotonic()
            spacing = min(linger, len(w.cache.watchers) / SEND_BUDGET)
            if spacing > 0 and now - last_send < spacing:
                await asyncio.sleep(spacing - (now - last_send))
                now = time.monotonic()
            wait = max(0.0, next_bookmark - now) if bookmarks else 30.0
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - now))
            await w.wait(wait)
            now = time.monotonic()
            data = w.drain() if w.queue else b""
            if bookmarks and not w.closed and now >= next_bookmark:
                # Synchronous with the drain: the bookmark covers exactly what was sent.
                data += _bookmark(api_version, kind, max(w.last_rv, w.cache.revision))
                next_bookmark = now + bookmark_interval
            if data:
                yield data
                last_send = time.monotonic()
            if deadline is not None and now >= deadline:
                break
        if w.queue:
            yield w.drain()
        if w.final and bookmarks:
            # Where this stream got to, for the client's next watch on another server.
            yield _bookmark(api_version, kind, w.final_rv)
    finally:
        w.close()


def drain_watches(caches: Iterable[WatchCache]) -> None:
    """End every open watch of the server cleanly (graceful shutdown)."""
    for c in caches:
        c.drain()


# How many of its own writes of one type the server may have acknowledged before the
# cache has applied them, before it holds further writes (WatchCache.room_for_write):
# at a few thousand writes a second, a lag of a few tens of milliseconds.
WRITE_AHEAD = 32

# Watch stream writes per second, over all watchers of one resource type, before
# lingering batches them: one write costs ~40 us here, so 5,000/s is a fifth of a core.
SEND_BUDGET = 5000.0


def _bookmark(api_version: str, kind: str, rv: int, initial_end: bool = False) -> bytes:
    md: JSONDict = {"resourceVersion": str(rv)}
    if initial_end:
        md["annotations"] = {"k8s.io/initial-events-end": "true"}
    return orjson.dumps({"type": BOOKMARK, "object": {
        "kind": kind, "apiVersion": api_version, "metadata": md}}) + b"\n"


def error_line(status: JSONDict) -> bytes:
    return orjson.dumps({"type": ERROR, "object": status}) + b"\n"
