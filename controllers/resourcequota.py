"""The resourcequota controller (pkg/controller/resourcequota): each ResourceQuota's
status.hard follows spec.hard and status.used is recomputed from what its namespace
holds (pods by their compute requests and limits unless finished, object counts,
services.nodeports...), scopes applied as the admission plugin applies them
(api.quota, shared with it).

Admission charges creates to status.used before the objects are written; a
recomputation from the informers could miss objects charged a moment ago, so usage only
goes down on evidence: a tracked object deleted (or a pod finished) in the namespace, a
change of the quota's spec, or a full resync every ``resync`` seconds (which also
corrects a charge whose create then failed). Object counts of kinds without an informer
here (``count/deployments.apps``...) are listed from the API at each sync."""

from __future__ import annotations

import logging
import time
from fractions import Fraction
from typing import Any

from api import quota as q
from api import resources
from api.models import ConfigMap, Pod, Secret, Service
from api.models.core import ReplicationController, TypedObject
from api.models.quota import ResourceQuota
from client import AsyncClient, NotFound
from client.cache import NAMESPACE_INDEX
from client.controller import Controller, Result
from client.informer import Informer
from controllers.context import ControllerContext, retry_conflicts

log = logging.getLogger(__name__)

# Informer-backed kinds: plural -> model.
_TRACKED: dict[str, type[TypedObject]] = {
    "pods": Pod, "services": Service, "configmaps": ConfigMap, "secrets": Secret,
    "replicationcontrollers": ReplicationController, "resourcequotas": ResourceQuota,
}


def _terminal(obj: Any) -> bool:
    status = getattr(obj, "status", None)
    return getattr(status, "phase", None) in ("Succeeded", "Failed")


class ResourceQuotaController:
    name = "resourcequota"

    def __init__(self, ctx: ControllerContext, workers: int = 5, resync: float = 300.0) -> None:
        self.client: AsyncClient = ctx.client
        self.resync = resync
        self.quotas = ctx.factory.informer(ResourceQuota)
        self.informers: dict[str, Informer[Any]] = {
            plural: (self.quotas if model is ResourceQuota else ctx.factory.informer(model))
            for plural, model in _TRACKED.items()}
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        # Quota keys allowed to lower their usage at the next sync, and the time of each
        # quota's last full recomputation.
        self.release: set[str] = set()
        self.last_full: dict[str, float] = {}
        self.quotas.add_handler(self._quota_changed, lambda o, n: self._quota_changed(n, o),
                                self._quota_deleted)
        for plural, inf in self.informers.items():
            if plural == "resourcequotas":
                continue
            inf.add_handler(lambda o: self._touched(o, False),
                            (lambda o, n: self._touched(n, _terminal(n) and not _terminal(o)))
                            if plural == "pods" else None,
                            lambda o: self._touched(o, True))

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    def _key(self, quota: Any) -> str:
        return f"{quota.metadata.namespace}/{quota.metadata.name}"

    def _quota_changed(self, quota: Any, old: Any = None) -> None:
        key = self._key(quota)
        if old is None or old.spec != quota.spec:
            self.release.add(key)
        self.controller.enqueue(key)

    def _quota_deleted(self, quota: Any) -> None:
        key = self._key(quota)
        self.release.discard(key)
        self.last_full.pop(key, None)
        # Another quota of the namespace counts resourcequotas.
        self._touched(quota, True)

    def _touched(self, obj: Any, released: bool) -> None:
        ns = getattr(obj.metadata, "namespace", None)
        if not ns:
            return
        for quota in self.quotas.store.by_index(NAMESPACE_INDEX, ns):
            key = self._key(quota)
            if released:
                self.release.add(key)
            self.controller.enqueue(key)

    async def _objects(self, plural: str, group: str, ns: str) -> list[dict[str, Any]]:
        if not group and plural in self.informers:
            return [o.to_dict() for o in self.informers[plural].store.by_index(
                NAMESPACE_INDEX, ns)]
        info = resources.lookup(f"{plural}.{group}" if group else plural)
        if info is None or info.plural != plural or info.group != group:
            return []
        res = await self.client.list_all(info.model, ns)
        return [o.to_dict() for o in res.items]

    async def compute(self, quota: dict[str, Any], ns: str) -> q.Usage:
        """status.used for the quota's spec.hard (CalculateUsage)."""
        hard = (quota.get("spec") or {}).get("hard") or {}
        used: q.Usage = {k: Fraction(0) for k in hard}
        wanted: set[tuple[str, str]] = set()
        for name in hard:
            if name.startswith("count/"):
                res, _, group = name[len("count/"):].partition(".")
                wanted.add((res, group))
            elif name in q.LEGACY_COUNTS:
                wanted.add((q.LEGACY_COUNTS[name], ""))
            elif name.startswith("services."):
                wanted.add(("services", ""))
            else:
                wanted.add(("pods", ""))
        for plural, group in sorted(wanted):
            names = set(q.matching_resources(plural, group, hard))
            for obj in await self._objects(plural, group, ns):
                if not q.quota_matches(quota, plural, group, obj):
                    continue
                for k, v in q.object_usage(plural, group, obj).items():
                    if k in names:
                        used[k] = used.get(k, Fraction(0)) + v
        return used

    async def reconcile(self, key: str) -> Result | None:
        quota = self.quotas.store.get(key)
        if quota is None:
            return None
        ns = quota.metadata.namespace or ""
        d = quota.to_dict()
        spec_hard = (d.get("spec") or {}).get("hard") or {}
        status = d.get("status") or {}
        computed = await self.compute(d, ns)
        now = time.monotonic()
        full = key in self.release or now - self.last_full.get(key, 0.0) >= self.resync \
            or status.get("hard") != spec_hard
        current = q.parse_usage(status.get("used"))
        if not full:
            # No evidence of a release: keep charges the informers may not show yet.
            computed = {k: max(v, current.get(k, Fraction(0))) for k, v in computed.items()}
        used = q.format_usage(computed, spec_hard)
        if status.get("hard") != spec_hard or status.get("used") != used:
            d["status"] = {"hard": spec_hard, "used": used}
            try:
                await self.client.update_status(ResourceQuota.from_dict(d))
            except NotFound:
                return None
        self.release.discard(key)
        if full:
            self.last_full[key] = now
        return Result(requeue_after=self.resync)
