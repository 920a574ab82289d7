"""Adoption and release (k8s ControllerRefManager): who owns which dependent.

A controller owns the dependents that carry its controllerRef. An orphan that matches
its selector is adopted (after a fresh read of the owner proves it still exists and is
not being deleted); an owned dependent that no longer matches is released. Both are
writes with the dependent's resourceVersion, so a concurrent change makes them fail
and the next reconcile decides again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from api.labels import Selector, SelectorError, from_label_selector
from api.models import Deployment, OwnerReference, ReplicaSet, TypedObject
from api.podutil import controller_ref
from client import AsyncClient, NotFound
from client.cache import CONTROLLER_UID_INDEX, LABEL_INDEX, NAMESPACE_INDEX, Store, meta_key

log = logging.getLogger(__name__)

T = TypeVar("T", bound=TypedObject)
Owner = TypeVar("Owner", Deployment, ReplicaSet)


def owner_reference(owner: TypedObject, api_version: str, kind: str) -> OwnerReference:
    return OwnerReference(api_version=api_version, kind=kind, name=owner.metadata.name or "",
                          uid=owner.metadata.uid or "", controller=True,
                          block_owner_deletion=True)


def _label_selector_of(owner: Any) -> Selector:
    return from_label_selector(owner.spec.selector)


def selecting_owners(dependent: TypedObject, owners: Store[Any],
                     selector_of: Callable[[Any], Selector] = _label_selector_of) -> list[Any]:
    """The owners in ``dependent``'s namespace whose selector matches its labels: who may
    adopt it as an orphan (an owner with an invalid selector adopts nothing).
    ``selector_of`` reads an owner's selector (a ReplicationController's is a plain map)."""
    found: list[Any] = []
    for o in owners.by_index(NAMESPACE_INDEX, dependent.metadata.namespace or ""):
        try:
            if selector_of(o).matches(dependent.metadata.labels):
                found.append(o)
        except SelectorError:
            continue
    return found


def claim_candidates(store: Store[T], namespace: str, selector: Selector,
                     owner_uid: str) -> list[T]:
    """What an owner might claim: what it already controls, plus the orphans its selector
    could match, found through the label index rather than a scan of the namespace."""
    found: dict[str, T] = {o.metadata.uid or "": o
                           for o in store.by_index(CONTROLLER_UID_INDEX, owner_uid)}
    pinned = next(((r.key, v) for r in selector.requirements
                   if (v := selector.requires_exact_match(r.key)) is not None), None)
    pool = (store.by_index(LABEL_INDEX, f"{pinned[0]}={pinned[1]}") if pinned
            else store.by_index(NAMESPACE_INDEX, namespace))
    for o in pool:
        if o.metadata.namespace == namespace and controller_ref(o) is None:
            found.setdefault(o.metadata.uid or "", o)
    return list(found.values())


def refetch(client: AsyncClient, owner: T) -> Callable[[], Awaitable[T | None]]:
    """The ``recheck`` of a ClaimManager: the owner read afresh from the API server by its
    name (RecheckDeletionTimestamp), None once it is gone."""
    async def get() -> T | None:
        try:
            return await client.get(type(owner), owner.metadata.name or "",
                                    owner.metadata.namespace)
        except NotFound:
            return None
    return get


def still_cached(store: Store[T], claimed: Iterable[T]) -> list[T]:
    """The claimed objects as the cache has them now (those deleted, or replaced by a new
    object of the same name, left out)."""
    out: list[T] = []
    for o in claimed:
        cur = store.get(meta_key(o))
        if cur is not None and cur.metadata.uid == o.metadata.uid:
            out.append(cur)
    return out


class ClaimManager:
    """Claims dependents for one owner during one reconcile."""

    def __init__(self, client: AsyncClient, owner: TypedObject, api_version: str, kind: str,
                 selector: Selector, recheck: Callable[[], Awaitable[TypedObject | None]]) -> None:
        self.client = client
        self.owner = owner
        self.ref = owner_reference(owner, api_version, kind)
        self.selector = selector
        self._recheck = recheck
        self._can_adopt: bool | None = None

    async def _may_adopt(self) -> bool:
        if self._can_adopt is None:
            fresh = await self._recheck()
            self._can_adopt = (fresh is not None and fresh.metadata.uid == self.owner.metadata.uid
                               and fresh.metadata.deletion_timestamp is None)
        return self._can_adopt

    async def claim(self, candidates: Iterable[T]) -> list[T]:
        owned: list[T] = []
        uid = self.owner.metadata.uid
        deleting = self.owner.metadata.deletion_timestamp is not None
        for obj in candidates:
            ref = controller_ref(obj)
            matches = self.selector.matches(obj.metadata.labels)
            if ref is not None:
                if ref.uid != uid:
                    continue
                if matches:
                    owned.append(obj)
                elif not deleting:
                    await self._release(obj)
                continue
            if deleting or not matches or obj.metadata.deletion_timestamp is not None:
                continue
            if not await self._may_adopt():
                continue
            adopted = await self._adopt(obj)
            if adopted is not None:
                owned.append(adopted)
        return owned

    async def _adopt(self, obj: T) -> T | None:
        copy = obj.copy_deep()
        copy.metadata.owner_references = [*(copy.metadata.owner_references or []), self.ref]
        try:
            updated = await self.client.update(copy)
        except NotFound:
            return None
        log.info("%s %s/%s adopted %s", self.ref.kind, self.owner.metadata.namespace,
                 self.ref.name, obj.metadata.name)
        return updated

    async def _release(self, obj: T) -> None:
        copy = obj.copy_deep()
        # a PUT replaces the whole object: leaving the reference out removes it
        copy.metadata.owner_references = [r for r in copy.metadata.owner_references or []
                                          if r.uid != self.owner.metadata.uid] or None
        try:
            await self.client.update(copy)
        except NotFound:
            return
        log.info("%s %s/%s released %s", self.ref.kind, self.owner.metadata.namespace,
                 self.ref.name, obj.metadata.name)
