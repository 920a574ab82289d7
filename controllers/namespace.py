"""The namespace controller: empties a Terminating namespace, then lets it go.

A deleted namespace keeps existing (phase Terminating) while its ``kubernetes``
finalizer is set. This controller deletes every namespaced object in it, kind by kind,
reading the API (not caches) so that nothing is missed; when a pass finds nothing
left, it removes the finalizer through ``namespaces/{name}/finalize`` and the API
server deletes the namespace.
"""

from __future__ import annotations

import asyncio
import logging

from api import resources
from api.models import Namespace, TypedObject
from client import AsyncClient, Conflict, NotFound
from client.controller import Controller, Result
from controllers.context import ControllerContext, retry_conflicts

log = logging.getLogger(__name__)

FINALIZER = "kubernetes"
# Owners before what they own, so that no controller recreates what was just deleted.
_ORDER = ("Deployment", "ReplicaSet", "Pod")
NAMESPACED = sorted((r for r in resources.ALL if r.namespaced and "list" in r.verbs),
                    key=lambda r: _ORDER.index(r.kind) if r.kind in _ORDER else len(_ORDER))
RETRY_SECONDS = 1.0


class NamespaceController:
    name = "namespace"

    def __init__(self, ctx: ControllerContext, workers: int = 2) -> None:
        self.client: AsyncClient = ctx.client
        self.informer = ctx.factory.informer(Namespace)
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.informer.add_handler(*self.controller.enqueue_handlers())

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    async def reconcile(self, key: str) -> Result | None:
        ns = self.informer.store.get(key)
        if ns is None or ns.metadata.deletion_timestamp is None:
            return None
        if FINALIZER not in ((ns.spec.finalizers if ns.spec else None) or []):
            return None
        name = ns.metadata.name or ""
        remaining = 0
        for info in NAMESPACED:
            try:
                items = (await self.client.list_all(info.model, name)).items
            except NotFound:
                continue
            remaining += len(items)
            victims = [o for o in items if o.metadata.deletion_timestamp is None]
            await asyncio.gather(*(self._delete(info.model, o.metadata.name or "", name)
                                   for o in victims))
        if remaining:
            log.info("namespace %s: %d objects left", name, remaining)
            return Result(requeue_after=RETRY_SECONDS)
        copy = ns.copy_deep()
        assert copy.spec is not None
        copy.spec.finalizers = [f for f in copy.spec.finalizers or [] if f != FINALIZER]
        try:
            await self.client.request("PUT", f"/api/v1/namespaces/{name}/finalize",
                                      json=copy.to_dict())
        except (NotFound, Conflict):
            return None
        log.info("namespace %s: emptied, finalizer removed", name)
        return None

    async def _delete(self, model: type[TypedObject], name: str, namespace: str) -> None:
        try:
            await self.client.delete(model, name, namespace, propagation_policy="Background")
        except NotFound:
            return
