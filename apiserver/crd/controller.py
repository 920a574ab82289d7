"""What kube-apiextensions-apiserver's controllers do, in the API server's own process:

- serving: every CustomResourceDefinition's versions are served (apiserver/crd/served.py,
  a watch cache and a strategy per CRD) as soon as the write that made them returns on
  this server (store hooks) and, on every other API server, on the CRD's watch event;
- naming and establishing (pkg/controller/{status,establish}): status.acceptedNames and
  the NamesAccepted and Established conditions;
- finalizer (pkg/controller/finalizer): a deleted CRD's objects are deleted, then its
  customresourcecleanup finalizer removed, and the CRD goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from api import resources
from apiserver import customresources as served
from apiserver import errors, strategies
from apiserver.crd.strategy import strategy_for_crd
from apiserver.registry import DeleteOptions, Registry
from apiserver.storage import Storage, StorageError
from apiserver.strategies.apiextensions import CLEANUP_FINALIZER, set_condition
from apiserver.watchcache import ADDED, DELETED, FRESH_SECONDS, WatchCache, Watcher, WatchEvent

log = logging.getLogger("apiserver.crd")

JSONDict = dict[str, Any]
Finish = Callable[[bool], Awaitable[None]]
CRDS = resources.CUSTOMRESOURCEDEFINITIONS


class _Feed(Watcher):
    """Every event of the CRD watch cache, in order, for the controller."""

    def __init__(self, cache: WatchCache) -> None:
        super().__init__(cache, None, 1 << 30)
        self.events: asyncio.Queue[WatchEvent] = asyncio.Queue()

    def offer(self, ev: WatchEvent) -> None:
        self.events.put_nowait(ev)


def _fingerprint(crd: JSONDict) -> bytes:
    return orjson.dumps([crd.get("spec"), (crd.get("status") or {}).get("acceptedNames")],
                        option=orjson.OPT_SORT_KEYS)


class CRDController:
    def __init__(self, registry: Registry, storage: Storage, caches: dict[str, WatchCache],
                 capacity: int, watcher_queue: int,
                 fresh_seconds: float = FRESH_SECONDS) -> None:
        self.registry = registry
        self.storage = storage
        self.caches = caches
        self.capacity = capacity
        self.fresh_seconds = fresh_seconds
        self.watcher_queue = watcher_queue
        self._installed: dict[str, bytes] = {}
        self._resource: dict[str, str] = {}  # CRD name -> its storage resource
        self._finalizing: dict[str, asyncio.Task[None]] = {}
        self._stopping: set[asyncio.Task[None]] = set()

    # ---- serving ---------------------------------------------------------------------

    def install(self, crd: JSONDict) -> None:
        """Serve the CRD's versions as it is now (idempotent; synchronous)."""
        name = str((crd.get("metadata") or {}).get("name") or "")
        fp = _fingerprint(crd)
        if not name or self._installed.get(name) == fp:
            return
        infos, storage = served.infos_from_crd(crd)
        if storage is None or not storage.plural or not storage.kind:
            if name in self._installed:
                self.uninstall(name)
            return
        key = storage.storage_resource
        if key not in self.caches:
            cache = WatchCache(storage, self.storage, self.capacity, self.watcher_queue,
                               fresh_seconds=self.fresh_seconds)
            self.caches[key] = cache
            cache.start()
        versions = {i.version: i for i in infos}
        versions.setdefault(storage.version, storage)
        strategies.register(strategy_for_crd(storage, versions))
        served.install(name, infos, storage)
        self._installed[name] = fp
        self._resource[name] = key

    def uninstall(self, name: str) -> None:
        storage = served.storage_of(name)
        served.remove(name)
        self._installed.pop(name, None)
        key = self._resource.pop(name, None)
        served.terminating.discard(name)
        if storage is not None:
            strategies.unregister(storage)
        if key is not None and key not in self._resource.values():
            cache = self.caches.pop(key, None)
            if cache is not None:
                t = asyncio.get_running_loop().create_task(cache.stop())
                self._stopping.add(t)
                t.add_done_callback(self._stopping.discard)

    # ---- store hooks on CRD writes (this server's own writes, at once) ----------------

    async def begin_create(self, obj: JSONDict, dry_run: bool) -> Finish:
        async def finish(ok: bool) -> None:
            # names in conflict with another CRD's wait for the naming step's verdict
            if ok and not dry_run and self._conflicts(obj) is None:
                self.install(obj)
        return finish

    async def begin_update(self, new: JSONDict, old: JSONDict, dry_run: bool) -> Finish:
        async def finish(ok: bool) -> None:
            if ok and not dry_run:
                self.install(new)
        return finish

    async def after_delete(self, obj: JSONDict) -> None:
        self.uninstall(str((obj.get("metadata") or {}).get("name") or ""))

    # ---- the loop --------------------------------------------------------------------

    async def run(self) -> None:
        cache = self.registry.cache(CRDS)
        await cache.synced.wait()
        feed = _Feed(cache)
        items, _ = cache.list_objects(None)
        cache.watchers.add(feed)  # no await since the list: nothing slips between
        try:
            for co in items:
                await self._handle(ADDED, co.obj)
            while True:
                ev = await feed.events.get()
                await self._handle(ev.type, ev.obj)
        finally:
            feed.close()
            for t in list(self._finalizing.values()):
                t.cancel()

    async def _handle(self, typ: str, crd: JSONDict) -> None:
        name = str((crd.get("metadata") or {}).get("name") or "")
        if typ == DELETED:
            self.uninstall(name)
            return
        try:
            self.install(crd)
        except Exception:
            log.exception("serving CRD %s", name)
        md = crd.get("metadata") or {}
        if md.get("deletionTimestamp"):
            if CLEANUP_FINALIZER in (md.get("finalizers") or []) and \
                    name not in self._finalizing:
                t = asyncio.get_running_loop().create_task(self._finalize(name))
                self._finalizing[name] = t
                t.add_done_callback(lambda _t: self._finalizing.pop(name, None))
            return
        try:
            await self._sync_status(crd)
        except (errors.ApiError, StorageError) as e:
            log.info("status of CRD %s: %s", name, e)

    # ---- naming + establishing ---------------------------------------------------------

    def _conflicts(self, crd: JSONDict) -> tuple[str, str] | None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        me = (crd.get("metadata") or {}).get("name")
        group = spec.get("group")
        for co in self.registry.cache(CRDS).objects.values():
            other = co.obj
            if (other.get("metadata") or {}).get("name") == me or \
                    (other.get("spec") or {}).get("group") != group:
                continue
            acc = (other.get("status") or {}).get("acceptedNames") or {}
            if names.get("kind") and names.get("kind") in (acc.get("kind"), acc.get("listKind")):
                return "KindConflict", f'"{names["kind"]}" is already in use'
            if names.get("singular") and names.get("singular") in (acc.get("singular"),
                                                                   acc.get("plural")):
                return "SingularConflict", f'"{names["singular"]}" is already in use'
            taken = set(acc.get("shortNames") or ())
            for s in names.get("shortNames") or ():
                if s in taken:
                    return "ShortNamesConflict", f'"{s}" is already in use'
        return None

    async def _sync_status(self, crd: JSONDict) -> None:
        name = str(crd["metadata"]["name"])

        def mutate(old: JSONDict) -> JSONDict:
            new = orjson.loads(orjson.dumps(old))
            status = new.setdefault("status", {})
            conflict = self._conflicts(new)
            names = (new.get("spec") or {}).get("names") or {}
            if conflict is None:
                status["acceptedNames"] = {k: v for k, v in names.items()}
                set_condition(status, "NamesAccepted", "True", "NoConflicts",
                              "no conflicts found")
                set_condition(status, "Established", "True", "InitialNamesAccepted",
                              "the initial names have been accepted")
            else:
                status.setdefault("acceptedNames", {"plural": "", "kind": ""})
                set_condition(status, "NamesAccepted", "False", conflict[0], conflict[1])
                if not any(c.get("type") == "Established" for c in
                           status.get("conditions") or []):
                    set_condition(status, "Established", "False", "NotAccepted",
                                  "not all names are accepted")
            if _same_status(new.get("status"), old.get("status")):
                return old
            return dict(new)

        if _same_status(_desired_probe(crd, self._conflicts(crd)), crd.get("status")):
            return
        await self.registry.guaranteed_update(CRDS, None, name, mutate, subresource="status")

    # ---- finalizer -------------------------------------------------------------------------

    async def _finalize(self, name: str) -> None:
        served.terminating.add(name)
        storage = served.storage_of(name)
        try:
            await self._set_terminating(name, "InstanceDeletionInProgress",
                                        "CustomResource deletion is in progress")
            if storage is not None:
                for _ in range(600):  # bounded: objects held by their own finalizers
                    cache = self.caches.get(storage.storage_resource)
                    if cache is None:
                        break
                    await self.registry.fresh_cache(storage)
                    items, _ = cache.list_objects(None)
                    if not items:
                        break
                    for co in items:
                        md = co.obj.get("metadata") or {}
                        if md.get("deletionTimestamp"):
                            continue
                        with contextlib.suppress(errors.ApiError):
                            await self.registry.delete(storage, md.get("namespace"),
                                                       str(md.get("name")), DeleteOptions())
                    await self.registry.fresh_cache(storage)
                    if cache.objects:
                        await asyncio.sleep(0.2)
            await self._set_terminating(name, "InstanceDeletionCompleted",
                                        "removed all instances")

            def drop(old: JSONDict) -> JSONDict:
                new = dict(old)
                md = dict(new.get("metadata") or {})
                md["finalizers"] = [f for f in md.get("finalizers") or []
                                    if f != CLEANUP_FINALIZER]
                if not md["finalizers"]:
                    del md["finalizers"]
                new["metadata"] = md
                return new

            await self.registry.guaranteed_update(CRDS, None, name, drop)
        except errors.ApiError as e:
            if e.code != 404:
                log.warning("finalizing CRD %s: %s", name, e)
        except StorageError as e:
            log.warning("finalizing CRD %s: %s", name, e)

    async def _set_terminating(self, name: str, reason: str, message: str) -> None:
        def mutate(old: JSONDict) -> JSONDict:
            new = orjson.loads(orjson.dumps(old))
            set_condition(new.setdefault("status", {}), "Terminating", "True", reason, message)
            return dict(new)

        await self.registry.guaranteed_update(CRDS, None, name, mutate, subresource="status")


def _strip_times(status: Any) -> Any:
    if not isinstance(status, dict):
        return status
    out = dict(status)
    out["conditions"] = sorted(
        ({k: v for k, v in c.items() if k != "lastTransitionTime"}
         for c in status.get("conditions") or [] if isinstance(c, dict)),
        key=lambda c: str(c.get("type")))
    return out


def _same_status(a: Any, b: Any) -> bool:
    return bool(_strip_times(a) == _strip_times(b))


def _desired_probe(crd: JSONDict, conflict: tuple[str, str] | None) -> JSONDict:
    """The status the naming/establishing step would write (times aside)."""
    status = orjson.loads(orjson.dumps(crd.get("status") or {}))
    names = (crd.get("spec") or {}).get("names") or {}
    if conflict is None:
        status["acceptedNames"] = dict(names)
        set_condition(status, "NamesAccepted", "True", "NoConflicts", "no conflicts found")
        set_condition(status, "Established", "True", "InitialNamesAccepted",
                      "the initial names have been accepted")
    else:
        status.setdefault("acceptedNames", {"plural": "", "kind": ""})
        set_condition(status, "NamesAccepted", "False", conflict[0], conflict[1])
        if not any(c.get("type") == "Established" for c in status.get("conditions") or []):
            set_condition(status, "Established", "False", "NotAccepted",
                          "not all names are accepted")
    return dict(status)
