"""Compaction with several API servers on one etcd: the compare-and-swap on compact_rev_key
lets one server compact per interval, to the revision seen one interval earlier (Kubernetes'
compactor). Real etcd (a private one: these tests compact it)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from apiserver.compaction import COMPACT_REV_KEY, Compactor
from apiserver.storage import CompactedError, EtcdStorage
from testing.support import Etcd


@pytest.fixture
def own_etcd() -> Iterator[Etcd]:
    e = Etcd().start()
    yield e
    e.stop()


async def _writes(s: EtcdStorage, n: int, tag: str) -> int:
    rev = 0
    for i in range(n):
        rev = await s.create(f"/registry/configmaps/default/{tag}-{i}", b"x")
    return rev


def test_one_server_compacts_per_interval(own_etcd: Etcd) -> None:
    async def run() -> None:
        stores = [EtcdStorage(own_etcd.url) for _ in range(3)]
        for s in stores:
            await s.start()
        try:
            servers = [Compactor(s) for s in stores]
            # first interval: one records the start, the others lose and learn the key
            first = [await c.tick() for c in servers]
            assert first == [None, None, None]
            kv = await stores[0].get(COMPACT_REV_KEY)
            assert kv is not None
            start = int(kv.value)
            assert start == 0
            compacted: list[int] = []
            for rnd in range(4):
                before = await stores[0].current_revision()
                await _writes(stores[0], 5, f"r{rnd}")
                # each server ticks once this interval, in a different order each time
                order = servers[rnd % 3:] + servers[:rnd % 3]
                results = [await c.tick() for c in order]
                done = [r for r in results if r]
                assert len(done) <= 1, results
                compacted += done
                if done:
                    # history up to the revision of the previous interval is gone, the
                    # writes of this interval are still readable at their revisions
                    with pytest.raises(CompactedError):
                        await stores[1].list_prefix("/registry/", revision=done[0] - 1)
                    await stores[1].list_prefix("/registry/", revision=before + 1)
            # the servers took turns: at least every other interval compacted, never twice
            assert len(compacted) >= 2, compacted
            assert compacted == sorted(set(compacted))
        finally:
            for s in stores:
                await s.close()

    asyncio.run(run())


def test_concurrent_ticks_one_winner(own_etcd: Etcd) -> None:
    """Ticks at the same moment (asyncio.gather): still one compaction per round."""
    async def run() -> None:
        stores = [EtcdStorage(own_etcd.url) for _ in range(4)]
        for s in stores:
            await s.start()
        try:
            servers = [Compactor(s) for s in stores]
            wins = 0
            for rnd in range(5):
                await _writes(stores[0], 3, f"c{rnd}")
                results = await asyncio.gather(*(c.tick() for c in servers))
                assert sum(1 for r in results if r) <= 1, results
                wins += sum(1 for r in results if r)
            assert wins >= 2
        finally:
            for s in stores:
                await s.close()

    asyncio.run(run())


def test_key_deleted_starts_over(own_etcd: Etcd) -> None:
    async def run() -> None:
        s = EtcdStorage(own_etcd.url)
        await s.start()
        try:
            c = Compactor(s)
            assert await c.tick() is None
            await _writes(s, 2, "d")
            assert await c.tick()  # compacts to the first tick's revision
            await s.delete(COMPACT_REV_KEY)
            assert await c.tick() is None  # lost: the key is gone
            seen_then = await s.current_revision()
            await _writes(s, 2, "e")
            # recreated, compacting to the revision the lost tick saw
            assert await c.tick() == seen_then
            kv = await s.get(COMPACT_REV_KEY)
            assert kv is not None and int(kv.value) == seen_then
        finally:
            await s.close()

    asyncio.run(run())
