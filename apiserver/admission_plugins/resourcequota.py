"""ResourceQuota admission (plugin/pkg/admission/resourcequota): a create is charged to
every quota of its namespace that tracks it, and refused with a 403 when that would
exceed one: ``exceeded quota: q, requested: pods=1, used: pods=5, limited: pods=5``.

The charge is a compare-and-swap on the quota's status.used (guaranteed_update on
resourcequotas/status, re-checked against the fresh quota on a lost race), so concurrent
creates never overshoot. A quota the resourcequota controller has not yet processed (no
status.hard) restricts nothing, as in Kubernetes; one whose status lacks the usage of a
resource it limits is "status unknown" (403). With a quota on cpu or memory a pod must
state them for every container ("must specify ..."). The controller later releases the
usage of deleted objects and corrects any drift (a charged create that then failed)."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import Any

from api import quota as q
from api import resources
from apiserver.admission_plugins import CREATE, AdmissionRequest, Plugin, register_plugin
from apiserver.errors import ApiError
from apiserver.registry import Registry, collection_prefix

JSONDict = dict[str, Any]
_Charge = tuple[AdmissionRequest, q.Usage, "asyncio.Future[None]"]


def _check(req: AdmissionRequest, quota: JSONDict, delta: q.Usage) -> q.Usage | None:
    """The quota's new usage with ``delta`` charged, or None when it tracks nothing of
    it; raises the 403 when a limit would be exceeded (checkRequest)."""
    status = quota.get("status") or {}
    hard_raw: dict[str, Any] = status.get("hard") or {}
    hard = q.parse_usage(hard_raw)
    used = q.parse_usage(status.get("used"))
    requested = {k: v for k, v in delta.items() if k in hard}
    if not requested:
        return None
    new = q.add(used, requested)
    exceeded = sorted(k for k in requested if new[k] > hard[k])
    if exceeded:
        name = (quota.get("metadata") or {}).get("name")
        failed_used = {k: used[k] for k in exceeded if k in used}
        raise req.forbidden(
            f"exceeded quota: {name}, requested: "
            f"{q.pretty({k: requested[k] for k in exceeded}, hard_raw)}, used: "
            f"{q.pretty(failed_used, hard_raw)}, limited: "
            f"{q.pretty({k: hard[k] for k in exceeded}, hard_raw)}")
    return new


class ResourceQuotaAdmission(Plugin):
    name = "ResourceQuota"
    operations = frozenset({CREATE})

    def __init__(self, state: Any) -> None:
        self.state = state
        # Charges waiting per quota, and the task writing them (see _charge).
        self._pending: dict[tuple[str, str], list[_Charge]] = {}
        self._writers: dict[tuple[str, str], asyncio.Future[None]] = {}

    async def _quotas(self, reg: Registry, req: AdmissionRequest) -> list[JSONDict]:
        cache = await reg.fresh_cache(resources.RESOURCEQUOTAS, 1.0) or \
            reg.cache(resources.RESOURCEQUOTAS)
        if not cache.objects or not req.namespace:
            return []
        items, _ = cache.list_objects(None, collection_prefix(resources.RESOURCEQUOTAS,
                                                              req.namespace))
        return [co.obj for co in items]

    async def validate(self, req: AdmissionRequest) -> None:
        reg: Registry = self.state.registry
        quotas = await self._quotas(reg, req)
        if not quotas or req.obj is None:
            return
        plural, group = req.info.plural, req.info.group
        obj = req.obj
        interesting: list[str] = []
        delta: q.Usage | None = None
        for quota in quotas:
            status = quota.get("status") or {}
            hard = status.get("hard") or {}
            restricted = q.matching_resources(plural, group, hard)
            if not restricted or not q.quota_matches(quota, plural, group, obj):
                continue
            name = str((quota.get("metadata") or {}).get("name"))
            if plural == "pods" and not group:
                missing = q.missing_requirements(restricted, obj)
                if missing:
                    raise req.forbidden(f"failed quota: {name}: {missing}")
            used = status.get("used") or {}
            if any(r not in used for r in restricted):
                raise req.forbidden(f"status unknown for quota: {name}, resources: "
                                    f"{','.join(sorted(restricted))}")
            if delta is None:
                delta = {k: v for k, v in q.object_usage(plural, group, obj).items()
                         if v != Fraction(0)}
                if not delta:
                    return
            # Refuse early on what the cache says, before charging any quota.
            if _check(req, quota, delta) is not None:
                interesting.append(name)
        if req.dry_run or delta is None:
            return
        for name in interesting:
            await self._charge(reg, req, name, delta)

    async def _charge(self, reg: Registry, req: AdmissionRequest, name: str,
                      delta: q.Usage) -> None:
        """Queue the charge; one writer per quota applies everything queued meanwhile in
        one compare-and-swap (kube-apiserver's quota evaluator batches them the same way),
        each request checked in turn against the usage before it."""
        key = (req.namespace or "", name)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append((req, delta, fut))
        if key not in self._writers:
            self._writers[key] = asyncio.ensure_future(self._flush(reg, key))
        await fut

    async def _flush(self, reg: Registry, key: tuple[str, str]) -> None:
        try:
            while self._pending.get(key):
                batch = self._pending.pop(key)
                denied: dict[int, Exception] = {}

                def mutate(quota: JSONDict, batch: list[_Charge] = batch,
                           denied: dict[int, Exception] = denied) -> JSONDict:
                    denied.clear()
                    for i, (req, delta, _) in enumerate(batch):
                        try:
                            new = _check(req, quota, delta)
                        except ApiError as e:
                            denied[i] = e
                            continue
                        if new is not None:
                            status = dict(quota.get("status") or {})
                            status["used"] = q.format_usage(new, status.get("hard"))
                            quota["status"] = status
                    return quota

                try:
                    await reg.guaranteed_update(resources.RESOURCEQUOTAS, key[0], key[1],
                                                mutate, subresource="status")
                except Exception as e:  # the quota is gone, etcd failed...: all fail
                    for _, _, fut in batch:
                        if not fut.done():
                            fut.set_exception(e)
                    continue
                for i, (_, _, fut) in enumerate(batch):
                    if fut.done():
                        continue
                    if i in denied:
                        fut.set_exception(denied[i])
                    else:
                        fut.set_result(None)
        finally:
            self._writers.pop(key, None)


register_plugin(ResourceQuotaAdmission.name, ResourceQuotaAdmission)
