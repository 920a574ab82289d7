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
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from api.timeutil import now
from apiserver.services.allocator import RangeAllocator
from apiserver.services.rest import ServiceAllocations, held_ips, held_node_ports
from apiserver.storage import ConflictError, Storage, StorageError

log = logging.getLogger("apiserver.services.repair")

LEAK_PASSES = 3  # numRepairsBeforeLeakCleanup
SERVICES_PREFIX = "/registry/services/"

JSONDict = dict[str, Any]


def _replace_with(bits: int) -> Callable[[int], tuple[int, list[Any]]]:
    return lambda _old: (bits, [])


Recorder = Callable[[JSONDict, str, str, str], Awaitable[None]]

# which -> (component, action, the reasons for: not allocated, already allocated, out of
# range), as repair.go's recorders write them.
_EVENTS = {
    "ips": ("ipallocator-repair-controller", "ClusterIPAllocation",
            "ClusterIPNotAllocated", "ClusterIPAlreadyAllocated", "ClusterIPOutOfRange"),
    "ports": ("portallocator-repair-controller", "PortAllocation",
              "PortNotAllocated", "PortAlreadyAllocated", "PortOutOfRange"),
}


def _messages(which: str, item: Any, spec: str) -> tuple[str, str, str]:
    if which == "ips":
        return (f"Cluster IP [IPv4]:{item} is not allocated; repairing",
                f"Cluster IP [IPv4]:{item} was assigned to multiple services; please "
                "recreate service",
                f"Cluster IP [IPv4]:{item} is not within the configured Service CIDR {spec}; "
                "please recreate service")
    return (f"Port {item} is not allocated; repairing",
            f"Port {item} was assigned to multiple services; please recreate service",
            f"Port {item} is not within the port range {spec}; please recreate service")


def event_recorder(create: Callable[[str, JSONDict], Awaitable[Any]]) -> Recorder:
    """Warning events about a Service, written with ``create(namespace, event)``."""

    async def record(svc: JSONDict, component: str, reason: str, message: str) -> None:
        md = svc.get("metadata") or {}
        ts = now()
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{md.get('name')}.{time.time_ns():x}",
                         "namespace": md.get("namespace")},
            "involvedObject": {"apiVersion": "v1", "kind": "Service",
                               "namespace": md.get("namespace"), "name": md.get("name"),
                               "uid": md.get("uid"),
                               "resourceVersion": md.get("resourceVersion")},
            "reason": reason, "message": message, "type": "Warning",
            "source": {"component": component}, "reportingComponent": component,
            "firstTimestamp": ts, "lastTimestamp": ts, "count": 1}
        try:
            await create(str(md.get("namespace")), event)
        except Exception as e:  # an event is best effort
            log.debug("event %s about %s not recorded: %s", reason, md.get("name"), e)

    return record


class Repair:
    def __init__(self, storage: Storage, allocations: ServiceAllocations,
                 record: Recorder | None = None) -> None:
        self.storage = storage
        self.allocations = allocations
        self.record = record
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
        component, _action, not_allocated, already, out_of_range = _EVENTS[which]
        for _ in range(16):
            leaks = dict(self._leaks[which])
            events: list[tuple[JSONDict, str, str]] = []
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
                svc.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
                for item in held(svc):
                    msg_missing, msg_twice, msg_range = _messages(which, item, alloc.range.spec)
                    i = alloc.range.index(item)
                    if i is None:
                        log.warning("Service %s: %s", name, msg_range)
                        events.append((svc, out_of_range, msg_range))
                        continue
                    if rebuilt >> i & 1:
                        log.warning("Service %s: %s", name, msg_twice)
                        events.append((svc, already, msg_twice))
                    elif not stored >> i & 1:
                        log.warning("Service %s: %s", name, msg_missing)
                        events.append((svc, not_allocated, msg_missing))
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
            except ConflictError:
                continue  # something allocated meanwhile: read both again
            self._leaks[which] = leaks
            if self.record is not None:
                for svc, reason, message in events:
                    await self.record(svc, component, reason, message)
            return
        log.warning("service allocation repair of %s gave up after repeated conflicts", which)
