"""The Deployment controller: rolls a Deployment's pod template out through ReplicaSets.

Each reconcile reads the Deployment and its ReplicaSets from the caches, works on a
copy, scales ReplicaSets by the rules in ``deployment_util`` (RollingUpdate within
maxSurge/maxUnavailable, Recreate, proportional scaling, paused), and writes the
Deployment's status once at the end, only if it changed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from api import wellknown as wk
from api.labels import SelectorError, from_label_selector
from api.models import Deployment, DeploymentStatus, ObjectMeta, Pod, ReplicaSet, ReplicaSetSpec
from api.podutil import controller_ref
from client import AlreadyExists, AsyncClient, NotFound
from client.cache import CONTROLLER_UID_INDEX, meta_key
from client.controller import Controller, Result, owner_key
from controllers import deployment_util as du
from controllers.context import ControllerContext, namespace_terminating, retry_conflicts
from controllers.ownership import (
    ClaimManager,
    claim_candidates,
    owner_reference,
    selecting_owners,
)

log = logging.getLogger(__name__)

KIND = "Deployment"
API_VERSION = "apps/v1"


class _Sync:
    """One reconcile's working state: the Deployment copy and fresh ReplicaSet copies.
    ``revised``: the copy's revision annotation changed, to be written with its status."""

    def __init__(self, d: Deployment, rss: list[ReplicaSet]) -> None:
        self.d = d
        self.rss = rss
        self.revised = False

    def replace(self, rs: ReplicaSet) -> None:
        self.rss = [rs if r.metadata.uid == rs.metadata.uid else r for r in self.rss]
        if all(r.metadata.uid != rs.metadata.uid for r in self.rss):
            self.rss.append(rs)


class DeploymentController:
    name = "deployment"

    def __init__(self, ctx: ControllerContext, workers: int = 5) -> None:
        self.client: AsyncClient = ctx.client
        self.recorder = ctx.recorder
        self.d_informer = ctx.factory.informer(Deployment)
        self.rs_informer = ctx.factory.informer(ReplicaSet)
        self.pod_informer = ctx.factory.informer(Pod)
        self.d_store = self.d_informer.store
        self.rs_store = self.rs_informer.store
        self.pod_store = self.pod_informer.store
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.d_informer.add_handler(*self.controller.enqueue_handlers())
        self.rs_informer.add_handler(*self.controller.enqueue_owner(
            KIND, self.d_store, orphan_owners=lambda rs: selecting_owners(rs, self.d_store)
        ).handlers)
        self.pod_informer.add_handler(None, None, self._pod_deleted)

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    # ---- handlers: enqueue only --------------------------------------------------

    def _pod_deleted(self, pod: Any) -> None:
        # Recreate waits for the old pods to be gone, and only a pod's delete says so.
        if not isinstance(pod, Pod):
            return
        rs_key = owner_key(pod, "ReplicaSet", self.rs_store)
        rs = self.rs_store.get(rs_key) if rs_key is not None else None
        if rs is None:
            return
        key = owner_key(rs, KIND, self.d_store)
        if key is not None:
            d = self.d_store.get(key)
            if d is not None and not du.is_rolling(d):
                self.controller.enqueue(key)

    # ---- reconcile ----------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        cached = self.d_store.get(key)
        if cached is None:
            return None
        d = cached.copy_deep()
        try:
            selector = from_label_selector(d.spec.selector)
        except SelectorError as exc:
            log.warning("deployment %s: invalid selector: %s", key, exc)
            return None
        if selector.empty:
            self.recorder.event(d, "Warning", "SelectingAll",
                                "This deployment is selecting all pods. A non-empty selector "
                                "is required.")
            return None
        # cached objects, read only: every write below works on a copy
        candidates = claim_candidates(self.rs_store, d.metadata.namespace or "", selector,
                                      d.metadata.uid or "")
        claimer = ClaimManager(self.client, d, API_VERSION, KIND, selector,
                               lambda: self._fresh(d))
        s = _Sync(d, await claimer.claim(candidates))
        if d.metadata.deletion_timestamp is not None:
            new, old = du.split_new_old(d, s.rss)
            return await self._write_status(cached, s, du.calculate_status(
                [*old, *([new] if new else [])], new, d, _now()))
        self._check_paused_condition(d)
        if d.spec.paused:
            return await self._sync(cached, s)
        if self._is_scaling_event(s):
            return await self._sync(cached, s)
        if du.is_rolling(d):
            return await self._rollout_rolling(cached, s)
        return await self._rollout_recreate(cached, s)

    async def _fresh(self, d: Deployment) -> Deployment | None:
        try:
            return await self.client.get(Deployment, d.metadata.name or "", d.metadata.namespace)
        except NotFound:
            return None

    # ---- strategies -----------------------------------------------------------------

    async def _rollout_rolling(self, cached: Deployment, s: _Sync) -> Result | None:
        new, old = await self._new_and_old(s, create=True)
        assert new is not None
        d = s.d
        all_rss = [*old, new]
        # scale up the new ReplicaSet as far as maxSurge allows
        want = du.replicas_of(d)
        if du.replicas_of(new) != want:
            target = want if du.replicas_of(new) > want else du.new_rs_new_replicas(d, all_rss, new)
            if await self._scale(s, new, target):
                return await self._rollout_status(cached, s)
        # then scale old ones down as far as maxUnavailable allows
        new = self._current(s, new)
        old = [self._current(s, r) for r in old]
        plan = du.plan_old_scale_down(d, [*old, new], old, new)
        if plan:
            for rs in old:
                size = plan.get(rs.metadata.name or "")
                if size is not None:
                    await self._scale(s, rs, size)
            return await self._rollout_status(cached, s)
        if du.deployment_complete(d, d.status or DeploymentStatus()):
            await self._cleanup(s, old)
        return await self._rollout_status(cached, s)

    async def _rollout_recreate(self, cached: Deployment, s: _Sync) -> Result | None:
        new, old = await self._new_and_old(s, create=False)
        scaled = False
        for rs in du.active(old):
            scaled = await self._scale(s, rs, 0) or scaled
        if scaled:
            return await self._rollout_status(cached, s)
        if self._old_pods_running(old):
            return await self._rollout_status(cached, s)
        if new is None:
            new, old = await self._new_and_old(s, create=True)
            assert new is not None
        new = self._current(s, new)
        if du.replicas_of(new) != du.replicas_of(s.d):
            await self._scale(s, new, du.replicas_of(s.d))
        if du.deployment_complete(s.d, s.d.status or DeploymentStatus()):
            await self._cleanup(s, old)
        return await self._rollout_status(cached, s)

    def _old_pods_running(self, old: list[ReplicaSet]) -> bool:
        if du.count_actual(old) > 0:
            return True
        for rs in old:
            for pod in self.pod_store.by_index(CONTROLLER_UID_INDEX, rs.metadata.uid or ""):
                phase = pod.status.phase if pod.status else None
                if phase not in ("Failed", "Succeeded"):
                    return True
        return False

    async def _sync(self, cached: Deployment, s: _Sync) -> Result | None:
        """Scaling (and paused) without a rollout: sizes change, templates don't."""
        new, old = await self._new_and_old(s, create=False)
        d = s.d
        plan = du.plan_scale(d, new, old)
        for rs in [*old, *([new] if new else [])]:
            size = plan.get(rs.metadata.name or "")
            if size is not None:
                await self._scale(s, rs, size)
        if d.spec.paused:
            await self._cleanup(s, [self._current(s, r) for r in old])
        new = self._current(s, new) if new else None
        old = [self._current(s, r) for r in old]
        return await self._write_status(cached, s, du.calculate_status(
            [*old, *([new] if new else [])], new, d, _now()))

    def _is_scaling_event(self, s: _Sync) -> bool:
        new, old = du.split_new_old(s.d, s.rss)
        if new is None:
            return False
        for rs in du.active([*old, new]):
            desired = (rs.metadata.annotations or {}).get(wk.DESIRED_REPLICAS_ANNOTATION)
            if desired is not None and desired != str(du.replicas_of(s.d)):
                return True
        return False

    def _check_paused_condition(self, d: Deployment) -> None:
        if not du.has_progress_deadline(d):
            return
        status = d.status = d.status or DeploymentStatus()
        cond = du.get_condition(status, "Progressing")
        if cond is not None and cond.reason == du.TIMED_OUT_REASON:
            return
        paused_cond = cond is not None and cond.reason == du.PAUSED_REASON
        if d.spec.paused and not paused_cond:
            du.set_condition(status, du.new_condition("Progressing", "Unknown", du.PAUSED_REASON,
                                                      "Deployment is paused", _now()))
        elif not d.spec.paused and paused_cond:
            du.set_condition(status, du.new_condition("Progressing", "Unknown",
                                                      du.RESUMED_REASON, "Deployment is resumed",
                                                      _now()))

    # ---- ReplicaSets ----------------------------------------------------------------

    @staticmethod
    def _current(s: _Sync, rs: ReplicaSet) -> ReplicaSet:
        return next((r for r in s.rss if r.metadata.uid == rs.metadata.uid), rs)

    async def _new_and_old(self, s: _Sync, create: bool) -> tuple[ReplicaSet | None,
                                                                  list[ReplicaSet]]:
        """The new ReplicaSet (annotations and revision synced), created if asked."""
        d = s.d
        new, old = du.split_new_old(d, s.rss)
        revision = du.max_revision(old) + 1
        if new is not None:
            copy = new.copy_deep()
            changed = du.set_new_rs_annotations(d, copy, revision, exists=True)
            if changed or (copy.spec.min_ready_seconds or 0) != (d.spec.min_ready_seconds or 0):
                copy.spec.min_ready_seconds = d.spec.min_ready_seconds
                new = await self.client.update(copy)
                s.replace(new)
            await self._sync_revision(
                s, (new.metadata.annotations or {}).get(wk.REVISION_ANNOTATION, ""))
            if du.has_progress_deadline(d) and du.get_condition(d.status, "Progressing") is None:
                d.status = d.status or DeploymentStatus()
                du.set_condition(d.status, du.new_condition(
                    "Progressing", "True", du.FOUND_NEW_RS_REASON,
                    f'Found new replica set "{new.metadata.name}"', _now()))
            return new, old
        if not create:
            return None, old
        new = await self._create_new(s, old, revision)
        return new, old

    async def _create_new(self, s: _Sync, old: list[ReplicaSet], revision: int) -> ReplicaSet:
        d = s.d
        collisions = d.status.collision_count if d.status else None
        h = du.compute_hash(d.spec.template, collisions)
        template = d.spec.template.copy_deep()
        template.metadata.labels = du.with_hash_label(template.metadata.labels, h)
        rs = ReplicaSet(
            metadata=ObjectMeta(name=f"{d.metadata.name}-{h}", namespace=d.metadata.namespace,
                                labels=dict(template.metadata.labels),
                                owner_references=[owner_reference(d, API_VERSION, KIND)]),
            spec=ReplicaSetSpec(replicas=0, min_ready_seconds=d.spec.min_ready_seconds,
                                selector=du.selector_with_hash(d.spec.selector, h),
                                template=template),
        )
        rs.spec.replicas = du.new_rs_new_replicas(d, [*old, rs], rs)
        du.set_new_rs_annotations(d, rs, revision, exists=False)
        existed = False
        try:
            created = await self.client.create(rs, d.metadata.namespace)
        except AlreadyExists:
            existed = True
            found = self.rs_store.get(meta_key(rs))
            if found is None:
                try:
                    found = await self.client.get(ReplicaSet, rs.metadata.name or "",
                                                  d.metadata.namespace)
                except NotFound:
                    raise
            ref = controller_ref(found)
            if not (ref is not None and ref.uid == d.metadata.uid
                    and du.equal_ignore_hash(found.spec.template, d.spec.template)):
                # a hash collision: a different template under this name; try the next
                status = d.status = d.status or DeploymentStatus()
                status.collision_count = (status.collision_count or 0) + 1
                await self.client.update_status(d)
                raise
            created = found
        except Exception as exc:
            if namespace_terminating(exc):
                raise
            msg = f'Failed to create new replica set "{rs.metadata.name}": {exc}'
            self.recorder.event(d, "Warning", du.FAILED_RS_CREATE_REASON, msg)
            if du.has_progress_deadline(d):
                d.status = d.status or DeploymentStatus()
                du.set_condition(d.status, du.new_condition("Progressing", "False",
                                                            du.FAILED_RS_CREATE_REASON, msg,
                                                            _now()))
                await self.client.update_status(d)
            raise
        s.replace(created)
        if not existed and du.replicas_of(created) > 0:
            self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled up replica set {created.metadata.name} from 0 to "
                                f"{du.replicas_of(created)}")
        await self._sync_revision(s, str(revision))
        if not existed and du.has_progress_deadline(d):
            d.status = d.status or DeploymentStatus()
            du.set_condition(d.status, du.new_condition(
                "Progressing", "True", du.NEW_RS_REASON,
                f'Created new replica set "{created.metadata.name}"', _now()))
        return created

    async def _sync_revision(self, s: _Sync, revision: str) -> None:
        """The Deployment carries its newest revision (kubectl rollout history shows it),
        written with the status at the end of the sync, as Kubernetes' UpdateStatus
        carries it (a Deployment's /status keeps the request's annotations)."""
        d = s.d
        if not revision or (d.metadata.annotations or {}).get(wk.REVISION_ANNOTATION) == revision:
            return
        try:
            current = int((d.metadata.annotations or {}).get(wk.REVISION_ANNOTATION, "0"))
            if current >= int(revision):
                return
        except ValueError:
            pass
        d.metadata.annotations = {**(d.metadata.annotations or {}),
                                  wk.REVISION_ANNOTATION: revision}
        s.revised = True

    async def _scale(self, s: _Sync, rs: ReplicaSet, size: int) -> bool:
        """Set ``rs`` to ``size`` (and its size annotations); True if the size changed."""
        d = s.d
        rs = self._current(s, rs)
        old_size = du.replicas_of(rs)
        changed = old_size != size
        max_replicas = du.replicas_of(d) + du.max_surge(d)
        if not changed and not du.replicas_annotations_need_update(rs, du.replicas_of(d),
                                                                   max_replicas):
            return False
        copy = rs.copy_deep()
        copy.spec.replicas = size
        du.set_replicas_annotations(copy, du.replicas_of(d), max_replicas)
        updated = await self.client.update(copy)
        s.replace(updated)
        if changed:
            direction = "up" if size > old_size else "down"
            self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled {direction} replica set {rs.metadata.name} "
                                f"from {old_size} to {size}")
        return changed

    async def _cleanup(self, s: _Sync, old: list[ReplicaSet]) -> None:
        for rs in du.rs_to_cleanup(s.d, [self._current(s, r) for r in old]):
            try:
                await self.client.delete(ReplicaSet, rs.metadata.name or "", rs.metadata.namespace)
            except NotFound:
                continue
            s.rss = [r for r in s.rss if r.metadata.uid != rs.metadata.uid]

    # ---- status -------------------------------------------------------------------

    async def _rollout_status(self, cached: Deployment, s: _Sync) -> Result | None:
        new, old = du.split_new_old(s.d, s.rss)
        status = du.rollout_status(s.d, [*old, *([new] if new else [])], new, _now())
        return await self._write_status(cached, s, status)

    async def _write_status(self, cached: Deployment, s: _Sync,
                            status: DeploymentStatus) -> Result | None:
        d = s.d
        if s.revised or not du.status_equal(cached.status, status):
            d.status = status
            try:
                updated = await self.client.update_status(d)
            except NotFound:
                return None
            d.metadata.resource_version = updated.metadata.resource_version
            s.revised = False
        after = du.progress_requeue_after(d, status, _now())
        return Result(requeue_after=after) if after else None


def _now() -> datetime:
    return datetime.now(UTC)
