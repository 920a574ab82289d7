"""Periodic etcd compaction, safe with several API servers on one etcd cluster.

As kube-apiserver's compactor (staging/src/k8s.io/apiserver/pkg/storage/etcd3/compact.go):
every API server ticks each interval and tries a compare-and-swap on the key
``compact_rev_key`` (outside /registry), expecting the value it saw at its previous tick.
Only one server's swap succeeds per interval; that server compacts to the revision it
observed one interval earlier, so about one interval of history stays for watches to resume
from, whatever the number of servers. A server whose swap failed only takes the key's new
state and tries again at its next tick. Kubernetes compares the key's version; comparing its
mod revision is the same test (every write changes both).

Defragmentation is not done here: a defrag blocks the member's reads and writes while it
rewrites its database, so Kubernetes leaves it to operators, one member at a time
(deploy/etcd.sh defrag; docs/ha.md says why and when).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from apiserver.storage import ConflictError, KeyExistsError, Storage, StorageError

log = logging.getLogger("apiserver.compaction")

# Kubernetes' key (not under /registry: no resource's watch sees it).
COMPACT_REV_KEY = "compact_rev_key"


@dataclass
class Compactor:
    """One API server's side of the shared compaction schedule.

    ``seen``: the key's mod revision at this server's last tick (0: not there), the
    "logical time" the next swap expects; ``rev``: etcd's revision then, what the next
    successful swap compacts to.
    """

    storage: Storage
    seen: int = 0
    rev: int = 0

    async def tick(self) -> int | None:
        """One interval's attempt: the revision compacted to, or None (another server
        won the swap, it was the first tick, or etcd failed)."""
        value = str(self.rev).encode()
        try:
            if self.seen == 0:
                written = await self.storage.create(COMPACT_REV_KEY, value)
            else:
                written = await self.storage.update(COMPACT_REV_KEY, value, self.seen)
        except ConflictError as e:
            # Another server compacted this interval (or the key is gone: start over).
            self.seen = e.current.mod_revision if e.current is not None else 0
            self.rev = await self.storage.current_revision()
            return None
        except KeyExistsError:
            kv = await self.storage.get(COMPACT_REV_KEY)
            self.seen = kv.mod_revision if kv is not None else 0
            self.rev = await self.storage.current_revision()
            return None
        target, self.seen, self.rev = self.rev, written, written
        if target == 0:
            return None  # the first tick only records where history starts
        await self.storage.compact(target)
        return target


async def compact_forever(storage: Storage, interval: float) -> None:
    compactor = Compactor(storage)
    while True:
        await asyncio.sleep(interval)
        try:
            done = await compactor.tick()
            if done:
                log.info("compacted etcd history up to revision %d", done)
        except StorageError as e:
            # Already compacted past it, or etcd away: the next tick tries again.
            log.warning("compaction skipped: %s", e)
