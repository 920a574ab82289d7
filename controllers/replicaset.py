"""The ReplicaSet controller: keeps ``spec.replicas`` pods matching the selector.

Handlers only enqueue ReplicaSet keys (and lower expectations as the informer
confirms our own writes); ``reconcile`` reads the caches, claims pods, creates or
deletes the difference in slow-start batches, and writes status when it changed.

One reconciler serves ReplicaSets and, as Kubernetes' replication manager does through
its conversion adapter (pkg/controller/replication), ReplicationControllers: a subclass
names its kind and model and overrides the seam (``as_replicaset``, ``selector_of``,
``set_status``); ``controllers/replication.py`` is that subclass.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from api.labels import Selector, SelectorError, from_label_selector
from api.models import ObjectMeta, Pod, ReplicaSet, ReplicaSetStatus, TypedObject
from api.podutil import controller_ref, is_pod_active, is_pod_ready
from client import AsyncClient, NotFound
from client.cache import CONTROLLER_UID_INDEX, NAMESPACE_INDEX, meta_key, split_key
from client.controller import Controller, Result
from controllers import replicaset_util as ru
from controllers.context import ControllerContext, namespace_terminating, retry_conflicts
from controllers.expectations import Expectations
from controllers.ownership import (
    ClaimManager,
    claim_candidates,
    owner_reference,
    selecting_owners,
)

log = logging.getLogger(__name__)

KIND = "ReplicaSet"
API_VERSION = "apps/v1"


class ReplicaSetController:
    name = "replicaset"
    # The kind this reconciler serves (what its pods' controllerRefs and events name).
    kind = KIND
    api_version = API_VERSION
    model: type[TypedObject] = ReplicaSet

    def __init__(self, ctx: ControllerContext, workers: int = 5) -> None:
        self.client: AsyncClient = ctx.client
        self.recorder = ctx.recorder
        self.rs_informer: Any = ctx.factory.informer(self.model)
        self.pod_informer = ctx.factory.informer(Pod)
        self.rs_store = self.rs_informer.store
        self.pod_store = self.pod_informer.store
        self.expectations = Expectations()
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.pods = self.controller.enqueue_owner(
            self.kind, self.rs_store,
            orphan_owners=lambda pod: selecting_owners(pod, self.rs_store, self.selector_of))
        self.rs_informer.add_handler(self._rs_added, self._rs_updated, self._rs_deleted)
        self.pod_informer.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    # ---- the seam: what differs for another kind on this reconciler ------------------

    def as_replicaset(self, obj: Any) -> ReplicaSet:
        """The served object as the ReplicaSet the decisions read (itself here)."""
        assert isinstance(obj, ReplicaSet)
        return obj

    def selector_of(self, obj: Any) -> Selector:
        """Its pod selector; raises SelectorError for one that does not convert."""
        return from_label_selector(obj.spec.selector)

    def set_status(self, obj: Any, status: ReplicaSetStatus) -> None:
        """Put ``status`` on the served object before its status write."""
        obj.status = status

    # ---- handlers: enqueue only --------------------------------------------------

    def _rs_added(self, rs: ReplicaSet) -> None:
        self.controller.enqueue(meta_key(rs))

    def _rs_updated(self, old: ReplicaSet, new: ReplicaSet) -> None:
        self.controller.enqueue(meta_key(new))

    def _rs_deleted(self, rs: Any) -> None:
        key = meta_key(rs)
        self.expectations.delete(key)
        self.controller.enqueue(key)

    # Pods enqueue their owner (or, orphans, every ReplicaSet that may adopt them) through
    # ``self.pods``; these wrappers add what only this controller does with the owner key.

    def _pod_added(self, pod: Pod) -> None:
        if pod.metadata.deletion_timestamp is not None:
            self._pod_deleted(pod)
            return
        key = self.pods.on_add(pod)
        if key is not None:
            self.expectations.creation_observed(key)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        if new.metadata.deletion_timestamp is not None and old.metadata.deletion_timestamp is None:
            self._pod_deleted(new)
            return
        key = self.pods.on_update(old, new)
        if key is not None:
            rs = self.rs_store.get(key)
            mrs = rs.spec.min_ready_seconds if rs else 0
            if mrs and not is_pod_ready(old) and is_pod_ready(new):
                # available only minReadySeconds later, and no event will say so
                self.controller.enqueue_after(key, mrs + 1)

    def _pod_deleted(self, pod: Any) -> None:
        key = self.pods.on_delete(pod)
        if key is not None:
            self.expectations.deletion_observed(key, ru.pod_key(pod))

    # ---- reconcile ----------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        cached = self.rs_store.get(key)
        if cached is None:
            self.expectations.delete(key)
            return None
        owner = cached.copy_deep()  # the served object: a ReplicaSet, or an RC
        rs = self.as_replicaset(owner)
        ns, _ = split_key(key)
        try:
            selector = self.selector_of(owner)
        except SelectorError as exc:
            log.warning("%s %s: invalid selector: %s", self.kind, key, exc)
            return None
        needs_sync = self.expectations.satisfied(key)
        candidates = [p for p in claim_candidates(self.pod_store, ns or "", selector,
                                                  rs.metadata.uid or "")
                      if is_pod_active(p)]
        claimer = ClaimManager(self.client, owner, self.api_version, self.kind, selector,
                               lambda: self._fresh(owner))
        pods = await claimer.claim(candidates)
        error: Exception | None = None
        if needs_sync and rs.metadata.deletion_timestamp is None:
            try:
                await self._manage(key, owner, rs, pods)
            except Exception as exc:  # reported in status, then retried with backoff
                error = exc
        diff = len(pods) - (rs.spec.replicas if rs.spec.replicas is not None else 1)
        status = ru.calculate_status(
            rs, pods, datetime.now(UTC), str(error) if error else None,
            "FailedCreate" if diff < 0 else "FailedDelete")
        if not ru.status_equal(rs.status, status):
            self.set_status(owner, status)
            try:
                await self.client.update_status(owner)
            except NotFound:
                return None
        if error is not None:
            raise error
        after = ru.minready_requeue(rs, status)
        if not needs_sync:
            # if an expected event never comes, look again once the expectations expire
            expiry = self.expectations.timeout + 1.0
            after = min(after, expiry) if after else expiry
        return Result(requeue_after=after) if after else None

    async def _fresh(self, owner: TypedObject) -> TypedObject | None:
        try:
            return await self.client.get(self.model, owner.metadata.name or "",
                                         owner.metadata.namespace)
        except NotFound:
            return None

    async def _manage(self, key: str, owner: TypedObject, rs: ReplicaSet,
                      pods: list[Pod]) -> None:
        diff = ru.replicas_diff(rs, len(pods))
        if diff > 0:
            await self._create(key, owner, rs, diff)
        elif diff < 0:
            await self._delete(key, owner,
                               ru.pods_to_delete(pods, -diff, self._related_pods(owner)))

    def _related_pods(self, owner: TypedObject) -> list[Pod]:
        """getIndirectlyRelatedPods: the pods selected by each ReplicaSet that has the
        same controller as ``owner`` (itself included); none without a controller."""
        ref = controller_ref(owner)
        if ref is None or not ref.uid:
            return []
        seen: dict[str, Pod] = {}
        for other in self.rs_store.by_index(CONTROLLER_UID_INDEX, ref.uid):
            try:
                selector = self.selector_of(other)
            except SelectorError:
                continue
            for pod in self.pod_store.by_index(NAMESPACE_INDEX, other.metadata.namespace or ""):
                if selector.matches(pod.metadata.labels):
                    seen.setdefault(pod.metadata.uid or "", pod)
        return list(seen.values())

    async def _create(self, key: str, owner: TypedObject, rs: ReplicaSet, count: int) -> None:
        self.expectations.expect_creations(key, count)
        created = 0
        try:
            for batch in ru.slow_start_batches(count):
                results = await asyncio.gather(
                    *(self._create_pod(owner, rs) for _ in range(batch)), return_exceptions=True)
                errors = [r for r in results if isinstance(r, BaseException)]
                created += batch - len(errors)
                if errors:
                    err = errors[0]
                    if isinstance(err, Exception) and namespace_terminating(err):
                        return
                    raise err
        finally:
            # creates never attempted (or failed) will never be observed
            for _ in range(count - created):
                self.expectations.creation_observed(key)

    async def _create_pod(self, owner: TypedObject, rs: ReplicaSet) -> None:
        template = rs.spec.template
        if template is None:
            raise ValueError("replicaset has no pod template")
        meta = template.metadata
        pod = Pod(
            metadata=ObjectMeta(
                generate_name=f"{rs.metadata.name}-", namespace=rs.metadata.namespace,
                labels=dict(meta.labels) if meta.labels else None,
                annotations=dict(meta.annotations) if meta.annotations else None,
                owner_references=[owner_reference(owner, self.api_version, self.kind)],
            ),
            # ``rs`` is this sync's own copy and a create only reads the pod: no copy per pod
            spec=template.spec,
        )
        try:
            created = await self.client.create(pod, rs.metadata.namespace)
        except Exception as exc:
            if not namespace_terminating(exc):
                self.recorder.event(owner, "Warning", "FailedCreate", f"Error creating: {exc}")
            raise
        self.recorder.event(owner, "Normal", "SuccessfulCreate",
                            f"Created pod: {created.metadata.name}")

    async def _delete(self, key: str, owner: TypedObject, victims: list[Pod]) -> None:
        self.expectations.expect_deletions(key, [ru.pod_key(p) for p in victims])

        async def one(pod: Pod) -> None:
            name = pod.metadata.name or ""
            try:
                await self.client.delete(Pod, name, pod.metadata.namespace)
            except Exception as exc:
                self.expectations.deletion_observed(key, ru.pod_key(pod))
                if isinstance(exc, NotFound):
                    return
                self.recorder.event(owner, "Warning", "FailedDelete", f"Error deleting: {exc}")
                raise
            self.recorder.event(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

        results = await asyncio.gather(*(one(p) for p in victims), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
