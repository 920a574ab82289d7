"""The watch cache alone, over an in-memory Storage (our own interface), so that
breaks, compactions and slow readers happen exactly when the test says."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from api import resources
from apiserver.storage import KV, CompactedError, ListResult, StorageError, StorageEvent
from apiserver.watchcache import TooOldError, WatchCache, Watcher, stream_watch


class FakeStorage:
    """A tiny etcd: one revision counter, a history, and a watch that the test can
    break (``fail_watch``) or push past compaction (``compacted_below``)."""

    def __init__(self) -> None:
        self.data: dict[str, KV] = {}
        self.history: list[StorageEvent] = []
        self.rev = 1
        self.compacted_below = 0
        self.new_events = asyncio.Event()
        self.fail_watch: Exception | None = None
        self.watch_starts: list[int] = []

    def put(self, key: str, obj: dict[str, Any]) -> int:
        self.rev += 1
        value = orjson.dumps(obj)
        old = self.data.get(key)
        self.data[key] = KV(key, value, self.rev, old.create_revision if old else self.rev)
        self.history.append(StorageEvent("PUT", key, value, None, self.rev))
        self.new_events.set()
        return self.rev

    def delete(self, key: str) -> int:
        self.rev += 1
        del self.data[key]
        self.history.append(StorageEvent("DELETE", key, None, None, self.rev))
        self.new_events.set()
        return self.rev

    async def list_prefix(self, prefix: str, *, revision: int = 0, start_key: str | None = None,
                          limit: int = 0) -> ListResult:
        kvs = sorted((kv for k, kv in self.data.items() if k.startswith(prefix)),
                     key=lambda kv: kv.key)
        return ListResult(kvs, self.rev, False)

    async def watch(self, prefix: str, start_revision: int,
                    progress_requests: Any = None) -> AsyncIterator[list[StorageEvent]]:
        self.watch_starts.append(start_revision)
        if start_revision < self.compacted_below:
            raise CompactedError(self.compacted_below)
        sent = start_revision - 1
        while True:
            if self.fail_watch is not None:
                e, self.fail_watch = self.fail_watch, None
                raise e
            batch = [ev for ev in self.history if ev.revision > sent and
                     ev.key.startswith(prefix)]
            if batch:
                sent = batch[-1].revision
                yield batch
            self.new_events.clear()
            await self.new_events.wait()


def pod(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": "ns", "labels": labels or {}}}


KEY = "/registry/pods/ns/"


def drained(w: Watcher) -> list[tuple[str, str]]:
    out = []
    for line in w.drain().splitlines():
        ev = orjson.loads(line)
        out.append((ev["type"], ev["object"]["metadata"]["name"]))
    return out


async def settle(cache: WatchCache, store: FakeStorage) -> None:
    assert await cache.wait_for_revision(store.rev, 5)


@pytest.fixture
async def setup() -> AsyncIterator[tuple[FakeStorage, WatchCache]]:
    store = FakeStorage()
    store.put(KEY + "a", pod("a"))
    cache = WatchCache(resources.PODS, store, capacity=5, watcher_queue=3)  # type: ignore[arg-type]
    cache.start()
    await settle(cache, store)
    yield store, cache
    await cache.stop()


async def test_initial_state_and_live(setup: tuple[FakeStorage, WatchCache]) -> None:
    store, cache = setup
    w = cache.watch(None, None, False)
    assert drained(w) == [("ADDED", "a")]
    store.put(KEY + "b", pod("b"))
    store.put(KEY + "a", pod("a", {"x": "1"}))
    store.delete(KEY + "b")
    await settle(cache, store)
    assert drained(w) == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]


async def test_resume_exact_and_too_old(setup: tuple[FakeStorage, WatchCache]) -> None:
    store, cache = setup
    revs = [store.put(KEY + f"p{i}", pod(f"p{i}")) for i in range(8)]
    await settle(cache, store)
    w = cache.watch(None, revs[5], False)
    assert drained(w) == [("ADDED", "p6"), ("ADDED", "p7")]
    # Capacity 5: the ring holds p3..p7, so resuming from p2's revision still works
    # and from p1's it does not.
    w2 = cache.watch(None, revs[2], False)
    assert [n for _, n in drained(w2)] == ["p3", "p4", "p5", "p6", "p7"]
    with pytest.raises(TooOldError):
        cache.watch(None, revs[1], False)


async def test_selector_enter_and_leave(setup: tuple[FakeStorage, WatchCache]) -> None:
    store, cache = setup

    def pred(o: dict[str, Any]) -> bool:
        return bool(o["metadata"]["labels"].get("app") == "web")

    w = cache.watch(pred, None, False)
    assert drained(w) == []
    store.put(KEY + "a", pod("a", {"app": "web"}))
    store.put(KEY + "a", pod("a", {"app": "web", "v": "2"}))
    store.put(KEY + "a", pod("a", {"app": "db"}))
    store.delete(KEY + "a")
    await settle(cache, store)
    assert drained(w) == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


async def test_broken_watch_resumes_without_loss_or_duplicates(
        setup: tuple[FakeStorage, WatchCache]) -> None:
    store, cache = setup
    w = cache.watch(None, None, False)
    drained(w)
    store.put(KEY + "b", pod("b"))
    await settle(cache, store)
    before = cache.revision
    store.fail_watch = StorageError("connection reset")
    store.put(KEY + "c", pod("c"))
    store.put(KEY + "d", pod("d"))
    await settle(cache, store)
    assert store.watch_starts[-1] == before + 1  # resumed right after the last event
    assert drained(w) == [("ADDED", "b"), ("ADDED", "c"), ("ADDED", "d")]
    assert cache.relists == 0


async def test_compaction_during_break_relists_as_events(
        setup: tuple[FakeStorage, WatchCache]) -> None:
    store, cache = setup
    store.put(KEY + "gone", pod("gone"))
    store.put(KEY + "same", pod("same"))
    await settle(cache, store)
    w = cache.watch(None, None, False)
    drained(w)
    # The watch breaks; meanwhile things change and history is compacted away.
    store.fail_watch = StorageError("etcd restarted")
    store.compacted_below = store.rev + 100
    store.put(KEY + "a", pod("a", {"changed": "yes"}))
    store.put(KEY + "new", pod("new"))
    store.delete(KEY + "gone")
    await settle(cache, store)
    assert cache.relists == 1
    evs = drained(w)
    assert sorted(evs) == [("ADDED", "new"), ("DELETED", "gone"), ("MODIFIED", "a")]
    assert sorted(co.obj["metadata"]["name"] for co in cache.objects.values()) == [
        "a", "new", "same"]
    # Nobody may resume from inside the summarized gap.
    with pytest.raises(TooOldError):
        cache.watch(None, cache.revision - 1, False)


async def test_slow_watcher_is_closed_others_unaffected(
        setup: tuple[FakeStorage, WatchCache]) -> None:
    store, cache = setup
    slow = cache.watch(None, cache.revision, False)
    fast = cache.watch(None, cache.revision, False)
    got: list[tuple[str, str]] = []
    for i in range(6):
        store.put(KEY + f"s{i}", pod(f"s{i}"))
        await settle(cache, store)
        got += drained(fast)  # the fast one keeps reading; the slow one never does
    assert slow.closed and slow.overflowed
    assert slow not in cache.watchers
    assert got == [("ADDED", f"s{i}") for i in range(6)]
    assert not fast.closed


async def test_stream_bookmarks_and_initial_events_end(
        setup: tuple[FakeStorage, WatchCache]) -> None:
    store, cache = setup
    w = cache.watch(None, None, True)
    chunks: list[bytes] = []

    async def read() -> None:
        async for chunk in stream_watch(w, timeout=0.6, bookmarks=True, bookmark_interval=0.2,
                                        initial_end_bookmark=True, api_version="v1",
                                        kind="Pod"):
            chunks.append(chunk)

    task = asyncio.create_task(read())
    await asyncio.sleep(0.05)
    rev = store.put(KEY + "late", pod("late"))
    await asyncio.wait_for(task, 5)
    events = [orjson.loads(line) for line in b"".join(chunks).splitlines()]
    assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "a"
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {
        "k8s.io/initial-events-end": "true"}
    assert events[2]["type"] == "ADDED" and events[2]["object"]["metadata"]["name"] == "late"
    bookmarks = [e for e in events[3:] if e["type"] == "BOOKMARK"]
    assert bookmarks and all(int(b["object"]["metadata"]["resourceVersion"]) >= rev
                             for b in bookmarks)
    assert w.closed and w not in cache.watchers


async def test_own_writes_reuse_the_encoded_object(
        setup: tuple[FakeStorage, WatchCache]) -> None:
    store, cache = setup
    obj = pod("w")
    value = orjson.dumps(obj)
    rev = store.rev + 1
    enc = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(rev)}}
    raw = orjson.dumps(enc)
    # The attributes come from the hint's object: a label that only it has shows the
    # hint was used (a real hint's object is exactly what the bytes hold).
    marked = {**enc, "metadata": {**enc["metadata"], "labels": {"hint": "used"}}}
    cache.remember_write(rev, KEY + "w", value, marked, raw)
    assert store.put(KEY + "w", obj) == rev  # the same bytes as ``value``
    # A hint whose bytes are not the event's is not used.
    rev2 = store.rev + 1
    cache.remember_write(rev2, KEY + "x", b'{"other": 1}', {"bogus": True}, b"{}")
    store.put(KEY + "x", pod("x"))
    await settle(cache, store)
    w, x = cache.get(KEY + "w"), cache.get(KEY + "x")
    assert w is not None and w.raw == raw and w.obj == enc
    assert w.attrs["metadata"]["labels"] == {"hint": "used"}
    assert x is not None and x.obj["metadata"] == {"name": "x", "namespace": "ns", "labels": {},
                                                   "resourceVersion": str(rev2)}
    # A hint for an event already applied is dropped, not kept forever.
    cache.remember_write(rev, KEY + "w", value, enc, raw)
    assert not cache._written


async def test_write_hints_stay_bounded_while_the_cache_lags(
        setup: tuple[FakeStorage, WatchCache]) -> None:
    _, cache = setup
    base = cache.revision
    for i in range(1, 5000):
        cache.remember_write(base + i, KEY + f"h{i}", b"{}", {}, b"{}")
        assert len(cache._written) <= 1024


async def test_writes_are_held_while_the_cache_lags_behind_them(
        setup: tuple[FakeStorage, WatchCache]) -> None:
    store, cache = setup
    cache.write_ahead = 4
    base = store.rev
    for i in range(1, 5):
        cache.note_write(base + i)  # acknowledged; their events have not come yet
    held = asyncio.create_task(cache.room_for_write(timeout=30))
    done, _ = await asyncio.wait({held}, timeout=0.3)
    assert not done, "a write went ahead of a cache four writes behind"
    store.put(KEY + "b1", pod("b1"))
    store.put(KEY + "b2", pod("b2"))  # half of them seen: room again
    await asyncio.wait_for(held, 5)
    assert len(cache._unseen) == 2
    await asyncio.wait_for(cache.room_for_write(timeout=30), 1)  # below the mark
    for i in range(5, 8):
        cache.note_write(base + i)
    # A broken watch holds nothing; a stuck one holds a write for the timeout at most.
    cache.healthy = False
    await asyncio.wait_for(cache.room_for_write(timeout=30), 1)
    cache.healthy = True
    await asyncio.wait_for(cache.room_for_write(timeout=0.2), 2)
    assert cache._room_waiters == []
    store.put(KEY + "b3", pod("b3"))
    await settle(cache, store)
    assert sorted(cache._unseen) == [base + 4, base + 5, base + 6, base + 7]
    for i in range(4, 8):
        store.put(KEY + f"c{i}", pod(f"c{i}"))
    await settle(cache, store)
    assert cache._unseen == []


class Clock:
    """The history's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def sized_cache(store: FakeStorage, clock: Clock, capacity: int = 100 * 1024
                      ) -> WatchCache:
    cache = WatchCache(resources.PODS, store, capacity,  # type: ignore[arg-type]
                       fresh_seconds=75, clock=clock, expire_interval=0)
    cache.start()
    await settle(cache, store)
    return cache


async def test_history_grows_under_a_burst_and_shrinks_back_when_it_ages() -> None:
    store, clock = FakeStorage(), Clock()
    cache = await sized_cache(store, clock)
    try:
        assert cache.capacity == 100  # Kubernetes' lowerBoundCapacity
        listed = store.rev
        revs = [store.put(KEY + f"p{i % 50}", pod(f"p{i % 50}", {"i": str(i)}))
                for i in range(1000)]
        await settle(cache, store)
        # Every event is younger than the window: a full ring doubled each time.
        assert cache.capacity == 1600 and len(cache.ring) == 1000
        assert cache.stats() == (50, 1000, 1600, listed, 0)
        # Within the window nothing goes, and a client that listed before the burst
        # resumes without 410.
        clock.now += 60
        assert cache.expire() == 0 and cache.capacity == 1600
        w = cache.watch(None, listed, False)
        assert len(drained(w)) == 1000
        w.close()
        # Past it the history halves while less than a quarter of it is fresh, down
        # to the lower bound: the newest 100 events stay.
        clock.now += 20
        assert cache.expire() == 900
        assert cache.capacity == 100 and len(cache.ring) == 100
        assert cache.window_start == revs[899] and cache.capacity_decreases == 4
        # From inside what is left: resumes; from before it: 410 (the client re-lists).
        assert [n for _, n in drained(cache.watch(None, revs[949], False))] == \
            [f"p{i % 50}" for i in range(950, 1000)]
        with pytest.raises(TooOldError):
            cache.watch(None, listed, False)
        with pytest.raises(TooOldError):
            cache.watch(None, revs[898], False)
        # The objects themselves are all still there.
        assert len(cache.list_objects(None)[0]) == 50
        assert cache.expire() == 0  # at the lower bound
    finally:
        await cache.stop()


async def test_history_keeps_what_is_fresh_and_resizes_on_events_as_kubernetes() -> None:
    store, clock = FakeStorage(), Clock()
    cache = await sized_cache(store, clock, capacity=400)
    try:
        for i in range(500):
            store.put(KEY + f"p{i % 10}", pod(f"p{i % 10}"))
        await settle(cache, store)
        # Grown to the upper bound, then the oldest events give way.
        assert cache.capacity == 400 and len(cache.ring) == 400
        # Old events, then a few fresh ones.
        clock.now += 100
        fresh = [store.put(KEY + f"f{i}", pod(f"f{i}")) for i in range(60)]
        await settle(cache, store)
        # Kubernetes' rule on each event into the full ring whose newest quarter is
        # stale: 400 -> 200 on the first, 200 -> 100 on the second.
        assert cache.capacity == 100 and cache.capacity_decreases == 2
        assert len(cache.ring) == 100 and [ev.rv for ev in cache.ring][-60:] == fresh
        assert cache.expire() == 0
        # A quiet period: at the lower bound, 100 events stay whatever their age.
        clock.now += 1000
        assert cache.expire() == 0 and len(cache.ring) == 100
    finally:
        await cache.stop()


async def test_expiry_runs_on_its_own_timer() -> None:
    store, clock = FakeStorage(), Clock()
    cache = WatchCache(resources.PODS, store, 100 * 1024,  # type: ignore[arg-type]
                       fresh_seconds=75, clock=clock, expire_interval=0.05)
    cache.start()
    try:
        await settle(cache, store)
        for i in range(300):
            store.put(KEY + f"p{i}", pod(f"p{i}"))
        await settle(cache, store)
        assert cache.capacity == 400
        clock.now += 100
        deadline = asyncio.get_running_loop().time() + 5
        while cache.capacity > 100 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        assert cache.capacity == 100 and len(cache.ring) == 100
    finally:
        await cache.stop()


def _full_objects() -> list[tuple[Any, dict[str, Any], list[tuple[str, str]]]]:
    """(kind, an object, [(label selector, field selector)]) with every field the kind
    selects on, some set, some not."""
    pod_obj = {"kind": "Pod", "apiVersion": "v1",
               "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"},
                            "annotations": {"a": "b"}, "uid": "u"},
               "spec": {"nodeName": "n1", "restartPolicy": "Always", "hostNetwork": True,
                        "containers": [{"name": "c", "image": "i"}]},
               "status": {"phase": "Running", "podIP": "10.0.0.1"}}
    event = {"kind": "Event", "apiVersion": "v1",
             "metadata": {"name": "e", "namespace": "ns"},
             "involvedObject": {"kind": "Pod", "name": "p", "namespace": "ns", "uid": "u"},
             "reason": "Started", "source": {"component": "kubelet", "host": "n1"},
             "type": "Normal", "message": "m"}
    job = {"kind": "Job", "apiVersion": "batch/v1", "metadata": {"name": "j", "namespace": "ns"},
           "spec": {"template": {}}, "status": {"succeeded": 2}}
    node = {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n1", "labels": {}},
            "spec": {}}
    secret = {"kind": "Secret", "apiVersion": "v1",
              "metadata": {"name": "s", "namespace": "ns"}, "type": "Opaque", "data": {}}
    return [
        (resources.PODS, pod_obj, [
            ("app=web", ""), ("app!=web", ""), ("", "spec.nodeName=n1"),
            ("", "spec.nodeName!=n1,status.phase=Running"), ("", "spec.hostNetwork=true"),
            ("", "status.podIP=10.0.0.1"), ("", "spec.schedulerName="),
            ("", "status.nominatedNodeName=x"), ("", "spec.serviceAccountName="),
            ("app in (web,db)", "metadata.name=p,metadata.namespace=ns"),
            ("missing", ""), ("!missing", "spec.restartPolicy=Always")]),
        (resources.EVENTS, event, [
            ("", "source=kubelet"), ("", "involvedObject.name=p,involvedObject.uid=u"),
            ("", "reason=Started,type=Normal"), ("", "involvedObject.fieldPath="),
            ("", "reportingComponent=x")]),
        (resources.JOBS, job, [("", "status.successful=2"), ("", "status.successful=0")]),
        (resources.NODES, node, [("", "spec.unschedulable=false"),
                                 ("", "spec.unschedulable=true")]),
        (resources.SECRETS, secret, [("", "type=Opaque"), ("", "type!=Opaque")]),
    ]


def test_selectors_answer_the_same_on_the_attributes() -> None:
    from apiserver.selectors import make_filter
    from apiserver.watchcache import CachedObject, select_attrs

    for info, obj, selectors in _full_objects():
        attrs = select_attrs(obj)
        assert len(orjson.dumps(attrs)) < len(orjson.dumps(obj))
        co = CachedObject("k", obj, orjson.dumps(obj), 1)
        assert co.attrs == attrs and co.obj == obj and co.obj is not co.obj
        for label_sel, field_sel in selectors:
            for ns in (None, "ns", "other"):
                for name in (None, obj["metadata"]["name"], "x"):
                    pred = make_filter(info, ns, label_sel, field_sel, name)
                    assert pred is not None
                    assert pred(attrs) == pred(obj), (info.kind, label_sel, field_sel, ns,
                                                      name)


async def test_a_key_is_fresh_once_this_servers_writes_of_it_are_applied(
        setup: tuple[FakeStorage, WatchCache]) -> None:
    store, cache = setup
    assert cache.fresh_for(KEY + "a") and cache.fresh_for(KEY + "new")
    rev = store.rev + 1
    cache.note_write(rev, KEY + "a")  # written, its event not applied yet
    cache.note_write(rev + 1, KEY + "b")
    assert not cache.fresh_for(KEY + "a") and not cache.fresh_for(KEY + "b")
    assert cache.fresh_for(KEY + "c")  # untouched keys stay fresh
    store.put(KEY + "a", pod("a", {"v": "2"}))
    await settle(cache, store)
    assert cache.fresh_for(KEY + "a") and not cache.fresh_for(KEY + "b")
    store.put(KEY + "b", pod("b"))
    await settle(cache, store)
    assert cache.fresh_for(KEY + "b") and not cache._pending
