"""The repair pass of the ClusterIP and NodePort allocators.

After pkg/registry/core/service/ipallocator/controller/repair.go and
portallocator/controller/repair.go (runOnce): read the stored bitmap, then list every
Service from etcd, and write back (CAS on the bitmap's revision, so an allocation made
meanwhile makes the pass start over) a bitmap rebuilt from what the Services hold:
an item a Service holds but the bitmap lacks (a Service written behind the
allocator's back, or a bitmap lost) is marked; an item the bitmap holds that no
Service does is a possible leak, kept for ``LEAK_PASSES`` passes (it may belong to a
create that allocated but has not written its Service yet) and freed after.
It runs at start-up, before the server reports ready, and then periodically.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson

from apiserver.services.allocator import RangeAllocator
from apiserver.services.rest import ServiceAllocations, held_ips, held_node_ports
from apiserver.storage import ConflictError, Storage, StorageError

log = logging.getLogger("apiserver.services.repair")

LEAK_PASSES = 3  # numRepairsBeforeLeakCleanup
SERVICES_PREFIX = "/registry/services/"

JSONDict = dict[str, Any]


def _replace_with(bits: int) -> Callable[[int], tuple[int, list[Any]]]:
    return lambda _old: (bits, [])


class Repair:
    def __init__(self, storage: Storage, allocations: ServiceAllocations) -> None:
        self.storage = storage
        self.allocations = allocations
        # index -> passes left before a leaked item is freed, per allocator
        self._leaks: dict[str, dict[int, int]] = {"ips": {}, "ports": {}}

    async def run_once(self) -> None:
        await self._repair("ips", self.allocations.ips, held_ips)
        await self._repair("ports", self.allocations.ports, held_node_ports)

    async def run_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.run_once()
            except StorageError as e:
                log.warning("service allocation repair: %s", e)

    async def _repair(self, which: str, alloc: RangeAllocator,
                      held: Callable[[JSONDict], list[Any]]) -> None:
        for _ in range(16):
            leaks = dict(self._leaks[which])
            stored, rev = await alloc.snapshot()
            res = await self.storage.list_prefix(SERVICES_PREFIX)
            rebuilt = 0
            for kv in res.kvs:
                try:
                    svc = orjson.loads(kv.value)
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(svc, dict):
                    continue
                name = f"{(svc.get('metadata') or {}).get('namespace')}/" \
                       f"{(svc.get('metadata') or {}).get('name')}"
                for item in held(svc):
                    i = alloc.range.index(item)
                    if i is None:
                        log.warning("the %s %s of Service %s is not in the range %s", which,
                                    item, name, alloc.range.spec)
                        continue
                    if rebuilt >> i & 1:
                        log.warning("the %s %s of Service %s is held by another Service too",
                                    which, item, name)
                    elif not stored >> i & 1:
                        log.warning("the %s %s of Service %s was not allocated: repairing",
                                    which, item, name)
                    rebuilt |= 1 << i
                    leaks.pop(i, None)
            suspects = stored & ~rebuilt
            for i in list(leaks):
                if not suspects >> i & 1:
                    del leaks[i]
            for item in alloc.allocated(suspects):
                i = alloc.range.index(item)
                assert i is not None
                left = leaks.get(i, LEAK_PASSES) - 1
                if left > 0:
                    if i not in leaks:
                        log.info("the %s %s may have leaked: flagging for later clean up",
                                 which, item)
                    leaks[i] = left
                    rebuilt |= 1 << i
                else:
                    leaks.pop(i, None)
                    log.warning("the %s %s appears to have leaked: cleaning up", which, item)
            try:
                await alloc.update(_replace_with(rebuilt), expected_rev=rev)
                self._leaks[which] = leaks
                return
            except ConflictError:
                continue  # something allocated meanwhile: read both again
        log.warning("service allocation repair of %s gave up after repeated conflicts", which)
