"""Periodic etcd compaction: each tick compacts to the revision seen at the previous
tick, so about one interval of history stays for watches to resume from."""

from __future__ import annotations

import asyncio
import logging

from apiserver.storage import Storage, StorageError

log = logging.getLogger("apiserver.compaction")


async def compact_forever(storage: Storage, interval: float) -> None:
    previous = 0
    while True:
        await asyncio.sleep(interval)
        try:
            current = await storage.current_revision()
            if previous:
                await storage.compact(previous)
                log.info("compacted etcd history up to revision %d", previous)
            previous = current
        except StorageError as e:
            # Already compacted (another server did it) or etcd away: try next tick.
            log.warning("compaction skipped: %s", e)
