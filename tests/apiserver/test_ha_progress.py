"""The pieces of consistent reads alone, over an in-memory storage: etcd's progress
answers move a quiet watch cache's fresh revision only once confirmed by a second one,
an event that still comes behind a taken answer turns progress off, and concurrent
requests for etcd's current revision are coalesced without handing anyone a revision
read before they asked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from api import resources
from apiserver import watchcache
from apiserver.storage import ListResult, StorageEvent
from apiserver.watchcache import CurrentRevision, WatchCache


class ProgressStorage:
    """A watch whose events and progress answers the test sends by hand."""

    def __init__(self) -> None:
        self.rev = 10
        self.stream: asyncio.Queue[list[StorageEvent]] = asyncio.Queue()
        self.progress: asyncio.Queue[bool] | None = None
        self.requests = 0

    async def list_prefix(self, prefix: str, **_: Any) -> ListResult:
        return ListResult([], self.rev, False)

    async def watch(self, prefix: str, start_revision: int,
                    progress_requests: asyncio.Queue[bool] | None = None
                    ) -> AsyncIterator[list[StorageEvent]]:
        self.progress = progress_requests
        while True:
            yield await self.stream.get()

    def answer(self, rev: int) -> None:
        self.stream.put_nowait([StorageEvent("PROGRESS", "", None, None, rev)])

    def event(self, rev: int, name: str) -> None:
        obj = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": "n"}}
        self.stream.put_nowait([StorageEvent("PUT", f"/registry/pods/n/{name}",
                                             orjson.dumps(obj), None, rev)])

    def asked(self) -> int:
        n = 0
        while self.progress is not None and not self.progress.empty():
            n += bool(self.progress.get_nowait())
        self.requests += n
        return n


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture
def no_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchcache, "PROGRESS_SETTLE", 0.0)


async def test_progress_needs_a_confirming_second_answer(no_settle: None) -> None:
    store = ProgressStorage()
    cache = WatchCache(resources.PODS, store)  # type: ignore[arg-type]
    cache.start()
    try:
        await asyncio.wait_for(cache.synced.wait(), 5)
        await settle()
        waiter = asyncio.create_task(cache.wait_for_revision(15, 5.0))
        await settle()
        assert store.asked() == 1  # one progress request for the waiter
        store.answer(15)
        await settle()
        assert not waiter.done() and cache.fresh_revision == 10  # not taken alone
        assert store.asked() == 1  # the confirming request
        store.answer(16)
        await settle()
        assert waiter.done() and await waiter
        assert cache.fresh_revision == 15 and cache.revision == 10
        # a list now reports the revision etcd vouched for
        assert cache.list_objects(None)[1] == 15
        # a later event applies as usual
        store.event(17, "p")
        await settle()
        assert cache.revision == 17 and cache.fresh_revision == 17 and cache.trust_progress
    finally:
        await cache.stop()


async def test_event_behind_a_taken_answer_turns_progress_off(no_settle: None) -> None:
    store = ProgressStorage()
    cache = WatchCache(resources.PODS, store)  # type: ignore[arg-type]
    cache.start()
    try:
        await asyncio.wait_for(cache.synced.wait(), 5)
        await settle()
        waiter = asyncio.create_task(cache.wait_for_revision(20, 5.0))
        await settle()
        store.asked()
        store.answer(20)
        await settle()
        store.asked()
        store.answer(20)
        await settle()
        assert await waiter and cache.fresh_revision == 20
        store.event(18, "late")  # etcd sent it after its answer at 20
        await settle()
        assert cache.progress_overtaken == 1 and not cache.trust_progress
        assert "/registry/pods/n/late" in cache.objects  # still applied
        assert cache.fresh_revision == 18
        # no more progress requests: waits rely on events only
        waiter = asyncio.create_task(cache.wait_for_revision(30, 0.2))
        await settle()
        assert store.asked() == 0
        assert not await waiter
    finally:
        await cache.stop()


async def test_current_revision_coalesced_and_never_older_than_the_ask() -> None:
    revision = 0
    reads: list[int] = []
    gate = asyncio.Event()

    async def read() -> int:  # etcd answers with the revision when the read began
        at = revision
        reads.append(at)
        await gate.wait()
        return at

    cr = CurrentRevision(read)
    first = asyncio.create_task(cr.get())
    await settle()
    assert reads == [0]
    revision = 5  # a write acknowledged while that read is on its way...
    later = [asyncio.create_task(cr.get()) for _ in range(10)]  # ...then these ask
    await settle()
    assert reads == [0]  # they wait for the next read instead of joining this one
    gate.set()
    assert await first == 0
    assert [await t for t in later] == [5] * 10
    assert reads == [0, 5] and cr.reads == 2  # 11 callers, two reads


async def test_last_bookmark_of_a_drained_watch_is_where_it_left() -> None:
    """The BOOKMARK that ends a watch closed by the server's shutdown names the revision
    the watch had reached when it was closed, not a later event it never got."""
    store = ProgressStorage()
    cache = WatchCache(resources.PODS, store)  # type: ignore[arg-type]
    cache.start()
    try:
        await asyncio.wait_for(cache.synced.wait(), 5)
        await settle()
        store.event(11, "a")
        await settle()
        w = cache.watch(None, 10, False)
        cache.drain()
        store.event(12, "b")  # applied after the close: not this watcher's
        await settle()
        assert cache.revision == 12
        lines = [line async for chunk in watchcache.stream_watch(
            w, timeout=5.0, bookmarks=True, bookmark_interval=60.0,
            initial_end_bookmark=False, api_version="v1", kind="Pod")
            for line in chunk.splitlines()]
        events = [orjson.loads(line) for line in lines]
        assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
        assert events[-1]["object"]["metadata"]["resourceVersion"] == "11"
        # a watch opened while draining ends at once, after its backlog, the same way
        late = cache.watch(None, 10, False)
        assert late.closed and late.final and late.final_rv == 12
    finally:
        await cache.stop()
