"""The garbage collector: deletes dependents whose owners are gone, and carries out
Foreground and Orphan deletion.

The graph of ownerReferences is the informer caches themselves, indexed both ways:
by each object's uid and by the uids of its owners. Work items are object uids:
- a dependent: if every owner is gone (confirmed with a live read, since one kind's
  cache may lag another's), delete it; if only some are, drop those references;
- an owner being deleted with the ``orphan`` finalizer: strip its references from
  the dependents, then remove the finalizer;
- an owner being deleted with ``foregroundDeletion``: delete the dependents, blocking
  ones first (those with dependents of their own in foreground, so that the whole
  subtree goes before the owner), and remove the finalizer once no dependent with
  ``blockOwnerDeletion`` remains.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from api import resources
from api.models import OwnerReference, TypedObject
from api.resources import ResourceInfo
from client import AsyncClient, Conflict, NotFound
from client.cache import OWNER_UID_INDEX
from client.controller import Controller, Result
from client.informer import Informer
from controllers.context import ControllerContext, retry_conflicts

log = logging.getLogger(__name__)

UID_INDEX = "metadata.uid"
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"

# Events are many and own nothing; everything else we serve can be owned, but for what
# cannot be watched and deleted (ComponentStatus), as Kubernetes' GC picks its resources.
GC_KINDS: tuple[ResourceInfo, ...] = tuple(
    r for r in resources.ALL if r.kind != "Event" and {"list", "watch", "delete"} <= set(r.verbs))


def _by_uid(obj: TypedObject) -> Iterable[str]:
    return (obj.metadata.uid,) if obj.metadata.uid else ()


class GarbageCollector:
    name = "garbagecollector"

    def __init__(self, ctx: ControllerContext, workers: int = 5) -> None:
        self.client: AsyncClient = ctx.client
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.informers: dict[str, Informer[Any]] = {}
        for info in GC_KINDS:
            inf = ctx.factory.informer(info.model)
            with contextlib.suppress(ValueError):  # shared: another GC may have added it
                inf.add_index(UID_INDEX, _by_uid)
            inf.add_handler(self._added, self._updated, self._deleted)
            self.informers[info.kind] = inf

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    # ---- handlers: enqueue uids only ----------------------------------------------

    def _enqueue(self, uid: str | None) -> None:
        if uid:
            self.controller.enqueue(uid)

    @staticmethod
    def _interesting_deletion(obj: TypedObject) -> bool:
        fins = obj.metadata.finalizers or []
        return obj.metadata.deletion_timestamp is not None and (ORPHAN in fins
                                                                or FOREGROUND in fins)

    def _added(self, obj: TypedObject) -> None:
        if obj.metadata.owner_references or self._interesting_deletion(obj):
            self._enqueue(obj.metadata.uid)

    def _updated(self, old: TypedObject, new: TypedObject) -> None:
        if (old.metadata.owner_references != new.metadata.owner_references
                or self._interesting_deletion(new)
                or (new.metadata.owner_references
                    and old.metadata.deletion_timestamp != new.metadata.deletion_timestamp)):
            self._enqueue(new.metadata.uid)
        if old.metadata.deletion_timestamp is None and self._interesting_deletion(new):
            # dependents must see that an owner now waits for them
            for dep in self.dependents(new.metadata.uid or ""):
                self._enqueue(dep.metadata.uid)

    def _deleted(self, obj: Any) -> None:
        if not isinstance(obj, TypedObject):
            return
        for dep in self.dependents(obj.metadata.uid or ""):
            self._enqueue(dep.metadata.uid)
        for ref in obj.metadata.owner_references or []:
            self._enqueue(ref.uid)  # a foreground owner may be waiting for this one

    # ---- the graph ----------------------------------------------------------------

    def by_uid(self, uid: str) -> tuple[ResourceInfo, TypedObject] | None:
        for kind, inf in self.informers.items():
            found = inf.store.by_index(UID_INDEX, uid)
            if found:
                return resources.by_kind(kind), found[0]
        return None

    def dependents(self, uid: str) -> list[TypedObject]:
        out: list[TypedObject] = []
        for inf in self.informers.values():
            out.extend(inf.store.by_index(OWNER_UID_INDEX, uid))
        return out

    async def _owner_state(self, ref: OwnerReference, dependent_ns: str | None
                           ) -> TypedObject | None:
        """The owner if it exists (this uid), else None; a cache miss is confirmed live."""
        try:
            info = resources.by_kind(ref.kind)
        except KeyError:
            return TypedObject()  # a kind we don't serve: never treat it as gone
        ns = dependent_ns if info.namespaced else None
        inf = self.informers.get(info.kind)
        if inf is not None:
            cached: list[TypedObject] = inf.store.by_index(UID_INDEX, ref.uid)
            if cached:
                return cached[0]
        try:
            live: TypedObject = await self.client.get(info.model, ref.name, ns)
        except NotFound:
            return None
        return live if live.metadata.uid == ref.uid else None

    # ---- reconcile ----------------------------------------------------------------

    async def reconcile(self, uid: str) -> Result | None:
        found = self.by_uid(uid)
        if found is None:
            return None
        info, obj = found
        if obj.metadata.deletion_timestamp is not None:
            fins = obj.metadata.finalizers or []
            if ORPHAN in fins:
                await self._orphan(info, obj)
            elif FOREGROUND in fins:
                return await self._foreground(info, obj)
            return None
        return await self._check_owners(info, obj)

    async def _check_owners(self, info: ResourceInfo, obj: TypedObject) -> Result | None:
        refs = obj.metadata.owner_references or []
        if not refs:
            return None
        solid: list[OwnerReference] = []
        dangling: list[OwnerReference] = []
        waiting: list[OwnerReference] = []
        for ref in refs:
            owner = await self._owner_state(ref, obj.metadata.namespace)
            if owner is None:
                dangling.append(ref)
            elif (owner.metadata.deletion_timestamp is not None
                  and FOREGROUND in (owner.metadata.finalizers or [])):
                waiting.append(ref)
            else:
                solid.append(ref)
        if solid:
            if dangling or waiting:
                gone = {r.uid for r in (*dangling, *waiting)}
                await self._remove_refs(info, obj, gone)
            return None
        if waiting and self.dependents(obj.metadata.uid or ""):
            policy = "Foreground"  # our owner waits for us: we wait for ours
        else:
            fins = obj.metadata.finalizers or []
            policy = "Orphan" if ORPHAN in fins else (
                "Foreground" if FOREGROUND in fins else "Background")
        log.info("garbage collecting %s %s/%s (owners gone: %s, policy %s)", info.kind,
                 obj.metadata.namespace or "", obj.metadata.name,
                 ",".join(r.name for r in (*dangling, *waiting)), policy)
        try:
            await self.client.delete(info.model, obj.metadata.name or "", obj.metadata.namespace,
                                     propagation_policy=policy,
                                     preconditions_uid=obj.metadata.uid)
        except (NotFound, Conflict):
            return None
        return None

    async def _remove_refs(self, info: ResourceInfo, obj: TypedObject, uids: set[str]) -> None:
        copy = obj.copy_deep()
        copy.metadata.owner_references = [r for r in copy.metadata.owner_references or []
                                          if r.uid not in uids] or None
        try:
            await self.client.update(copy)
        except NotFound:
            return

    async def _orphan(self, info: ResourceInfo, owner: TypedObject) -> None:
        uid = owner.metadata.uid or ""
        for dep in self.dependents(uid):
            dep_info = resources.for_model(type(dep))
            await self._remove_refs(dep_info, dep, {uid})
        await self._remove_finalizer(info, owner, ORPHAN)

    async def _foreground(self, info: ResourceInfo, owner: TypedObject) -> Result | None:
        uid = owner.metadata.uid or ""

        def blocks(dep: TypedObject) -> bool:
            return any(r.uid == uid and r.block_owner_deletion
                       for r in dep.metadata.owner_references or [])

        deps = sorted(self.dependents(uid), key=lambda dep: not blocks(dep))
        blocking = sum(1 for dep in deps if blocks(dep))
        for dep in deps:
            if dep.metadata.deletion_timestamp is not None:
                continue
            others_alive = False
            for other in dep.metadata.owner_references or []:
                if other.uid != uid and await self._owner_state(other, dep.metadata.namespace):
                    others_alive = True
            dep_info = resources.for_model(type(dep))
            if others_alive:
                await self._remove_refs(dep_info, dep, {uid})
                continue
            # a dependent with dependents of its own deletes them first (so that we wait
            # for the whole subtree); a leaf just goes
            has_own = bool(self.dependents(dep.metadata.uid or ""))
            try:
                await self.client.delete(dep_info.model, dep.metadata.name or "",
                                         dep.metadata.namespace,
                                         propagation_policy="Foreground" if has_own
                                         else "Background",
                                         preconditions_uid=dep.metadata.uid)
            except (NotFound, Conflict):
                continue
        if blocking == 0:
            await self._remove_finalizer(info, owner, FOREGROUND)
            return None
        # the dependents' deletions enqueue us again; this is only a safety net
        return Result(requeue_after=10.0)

    async def _remove_finalizer(self, info: ResourceInfo, obj: TypedObject, name: str) -> None:
        copy = obj.copy_deep()
        copy.metadata.finalizers = [f for f in copy.metadata.finalizers or [] if f != name]
        try:
            await self.client.update(copy)
        except NotFound:
            return
