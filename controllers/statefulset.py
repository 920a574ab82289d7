"""The StatefulSet controller (pkg/controller/statefulset: stateful_set.go,
stateful_set_control.go, stateful_pod_control.go): pods with stable identities.

Handlers only enqueue StatefulSet keys: the set's own changes, its pods and
ControllerRevisions (through their controller reference, or every set that may adopt an
orphan). ``reconcile`` claims the pods and revisions, builds the history (the update
revision is the current template's, the current revision the one status names), plans one
round with ``statefulset_util.plan`` and carries it out: the claims of a pod's
volumeClaimTemplates before the pod, the pod ``<set>-<ordinal>`` itself, deletions; then
prunes the history and writes the status.

A pod's name is its identity: the API server refuses a second pod of one name, so a pod
is recreated only once the old one is gone from the store (AlreadyExists while it
terminates), across controller restarts too. Each volumeClaimTemplate gives the pod a
PersistentVolumeClaim made before it; persistentVolumeClaimRetentionPolicy's Delete sets
owner references (the set for whenDeleted, the condemned pod for whenScaled) and the
garbage collector does the rest, as in Kubernetes.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from api.labels import SelectorError, from_label_selector
from api.models import Pod
from api.models.apps import ControllerRevision, StatefulSet, StatefulSetStatus
from api.models.meta import OwnerReference
from api.models.storage import PersistentVolumeClaim
from client import AlreadyExists, AsyncClient, NotFound
from client.cache import meta_key
from client.controller import Controller, Result
from controllers import daemonset_util as du
from controllers import history
from controllers import statefulset_util as su
from controllers.context import (
    ControllerContext,
    namespace_terminating,
    raise_unless_terminating,
    retry_conflicts,
)
from controllers.ownership import (
    ClaimManager,
    claim_candidates,
    owner_reference,
    refetch,
    selecting_owners,
    still_cached,
)

log = logging.getLogger(__name__)

KIND = "StatefulSet"
API_VERSION = "apps/v1"

class StatefulSetController:
    name = "statefulset"

    def __init__(self, ctx: ControllerContext, workers: int = 5) -> None:
        self.client: AsyncClient = ctx.client
        self.recorder = ctx.recorder
        self.sts_informer = ctx.factory.informer(StatefulSet)
        self.pod_informer = ctx.factory.informer(Pod)
        self.rev_informer = ctx.factory.informer(ControllerRevision)
        self.sts_store = self.sts_informer.store
        self.pod_store = self.pod_informer.store
        self.rev_store = self.rev_informer.store
        self.pvc_store = ctx.factory.informer(PersistentVolumeClaim).store
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.pods = self.controller.enqueue_owner(
            KIND, self.sts_store, orphan_owners=lambda o: selecting_owners(o, self.sts_store))
        self.revs = self.controller.enqueue_owner(
            KIND, self.sts_store, orphan_owners=lambda o: selecting_owners(o, self.sts_store))
        self.sts_informer.add_handler(self._enqueue, lambda _o, n: self._enqueue(n),
                                      self._enqueue)
        self.pod_informer.add_handler(self.pods.on_add, self.pods.on_update,
                                      self.pods.on_delete)
        self.rev_informer.add_handler(self.revs.on_add, self.revs.on_update,
                                      self.revs.on_delete)

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    def _enqueue(self, sts: Any) -> None:
        self.controller.enqueue(meta_key(sts))

    # ---- reconcile (sync, updateStatefulSet) ------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        cached = self.sts_store.get(key)
        if cached is None or cached.metadata.deletion_timestamp is not None:
            return None
        sts = cached.copy_deep()
        sel = sts.spec.selector
        if not sel.match_labels and not sel.match_expressions:
            self.recorder.event(sts, "Warning", "SelectingAll", "This statefulset is selecting "
                                "all pods. A non-empty selector is required.")
            return None
        try:
            selector = from_label_selector(sel)
        except SelectorError as exc:
            log.warning("statefulset %s: invalid selector: %s", key, exc)
            return None
        ns = sts.metadata.namespace or ""
        uid = sts.metadata.uid or ""
        if sts.status is None:
            sts.status = StatefulSetStatus()
        fresh = refetch(self.client, sts)
        revs = await ClaimManager(self.client, sts, API_VERSION, KIND, selector, fresh).claim(
            claim_candidates(self.rev_store, ns, selector, uid))
        update_rev, old = await history.construct_history(self.client, sts, revs,
                                                         API_VERSION, KIND)
        current_rev = next((r for r in old if r.metadata.name == sts.status.current_revision),
                           update_rev)
        # ClaimPods with isMemberOf: an orphan is adopted only if its name is one of ours
        candidates = [p for p in claim_candidates(self.pod_store, ns, selector, uid)
                      if su.is_member_of(sts, p) or _controlled_by(p, uid)]
        pods = await ClaimManager(self.client, sts, API_VERSION, KIND, selector, fresh).claim(
            candidates)
        pods = [p for p in pods if su.is_member_of(sts, p)]
        now = datetime.now(UTC)
        step = su.plan(sts, pods, update_rev.metadata.name or "", now)
        error: BaseException | None = None
        try:
            await self._carry_out(sts, step, current_rev, update_rev)
            # truncateHistory: never the current or update revision, nor one a live pod
            # is at (a pod's controller-revision-hash is its revision's name)
            used = {su.revision_of(p) for p in still_cached(self.pod_store, pods)}
            prunable = [r for r in old if r is not current_rev and r.metadata.name not in used]
            for rev in du.history_to_prune(sts, prunable, []):
                try:
                    await self.client.delete(ControllerRevision, rev.metadata.name or "", ns)
                except NotFound:
                    pass
        except Exception as exc:  # the status is still written, then retried
            error = exc
        status = su.compute_status(sts, still_cached(self.pod_store, pods), current_rev.metadata.name or "",
                                   update_rev.metadata.name or "", now)
        if not su.status_equal(sts.status, status):
            sts.status = status
            try:
                await self.client.update_status(sts)
            except NotFound:
                return None
        if error is not None:
            raise error
        mrs = sts.spec.min_ready_seconds or 0
        if mrs > 0 and (status.ready_replicas or 0) != (status.available_replicas or 0):
            return Result(requeue_after=float(mrs))
        return None

    async def _carry_out(self, sts: StatefulSet, step: su.Plan, current_rev: ControllerRevision,
                         update_rev: ControllerRevision) -> None:
        current_tmpl = su.template_from_revision(sts, current_rev)
        results: list[Any] = []
        for o in step.create:
            if su.use_current_revision(sts, o):
                pod = su.new_pod(sts, current_tmpl, o, current_rev.metadata.name or "")
            else:
                pod = su.new_pod(sts, sts.spec.template, o, update_rev.metadata.name or "")
            results.append(self._create_pod(sts, pod))
        for p in step.delete:
            results.append(self._delete_pod(sts, p, p in step.condemned_deleted))
        raise_unless_terminating([r for r in await asyncio.gather(*results, return_exceptions=True)
                                  if isinstance(r, BaseException)])

    async def _create_pod(self, sts: StatefulSet, pod: Pod) -> None:
        """createPersistentVolumeClaims, then the pod (CreateStatefulPod)."""
        ordinal = su.ordinal_of(pod)
        await self._create_claims(sts, pod, ordinal)
        pod.metadata.owner_references = [owner_reference(sts, API_VERSION, KIND)]
        name = pod.metadata.name or ""
        try:
            await self.client.create(pod, sts.metadata.namespace)
        except AlreadyExists:
            return  # the old pod of this identity is still there: next round
        except Exception as exc:
            if not namespace_terminating(exc):
                self.recorder.event(sts, "Warning", "FailedCreate",
                                    f"create Pod {name} in StatefulSet {sts.metadata.name} "
                                    f"failed error: {exc}")
            raise
        self.recorder.event(sts, "Normal", "SuccessfulCreate",
                            f"create Pod {name} in StatefulSet {sts.metadata.name} successful")

    def _retention(self, sts: StatefulSet) -> tuple[str, str]:
        rp = sts.spec.persistent_volume_claim_retention_policy
        if rp is None:
            return "Retain", "Retain"
        return rp.when_deleted or "Retain", rp.when_scaled or "Retain"

    async def _create_claims(self, sts: StatefulSet, pod: Pod, ordinal: int) -> None:
        when_deleted, _ = self._retention(sts)
        ns = sts.metadata.namespace or ""
        for t in su.claim_templates(sts):
            claim = su.new_claim(sts, t, ordinal)
            cname = claim["metadata"]["name"]
            if self.pvc_store.get(f"{ns}/{cname}") is not None:
                continue
            if when_deleted == "Delete":
                ref = owner_reference(sts, API_VERSION, KIND)
                ref.controller = ref.block_owner_deletion = None  # setOwnerRef: plain
                claim["metadata"]["ownerReferences"] = [ref.to_dict()]
            try:
                await self.client.create(PersistentVolumeClaim.model_validate(claim), ns)
            except AlreadyExists:
                continue
            except Exception as exc:
                if not namespace_terminating(exc):
                    self.recorder.event(sts, "Warning", "FailedCreate",
                                        f"create Claim {cname} for Pod {pod.metadata.name} in "
                                        f"StatefulSet {sts.metadata.name} failed error: {exc}")
                raise
            self.recorder.event(sts, "Normal", "SuccessfulCreate",
                                f"create Claim {cname} Pod {pod.metadata.name} in "
                                f"StatefulSet {sts.metadata.name} success")

    async def _delete_pod(self, sts: StatefulSet, pod: Pod, condemned: bool) -> None:
        name = pod.metadata.name or ""
        set_name = f"{sts.metadata.namespace}/{sts.metadata.name}"
        if su.is_failed(pod):
            self.recorder.event(sts, "Warning", "RecreatingFailedPod",
                                f"StatefulSet {set_name} is recreating failed Pod {name}")
        elif su.is_succeeded(pod):
            self.recorder.event(sts, "Normal", "RecreatingTerminatedPod",
                                f"StatefulSet {set_name} is recreating terminated Pod {name}")
        if condemned and self._retention(sts)[1] == "Delete":
            await self._own_claims_by_pod(sts, pod)
        try:
            await self.client.delete(Pod, name, pod.metadata.namespace,
                                     preconditions_uid=pod.metadata.uid)
        except NotFound:
            return
        except Exception as exc:
            self.recorder.event(sts, "Warning", "FailedDelete",
                                f"delete Pod {name} in StatefulSet {sts.metadata.name} failed "
                                f"error: {exc}")
            raise
        self.recorder.event(sts, "Normal", "SuccessfulDelete",
                            f"delete Pod {name} in StatefulSet {sts.metadata.name} successful")

    async def _own_claims_by_pod(self, sts: StatefulSet, pod: Pod) -> None:
        """whenScaled: Delete: the condemned pod's claims get the pod as their owner, so the
        garbage collector deletes them once the pod is gone."""
        ns = sts.metadata.namespace or ""
        ref = OwnerReference(api_version="v1", kind="Pod", name=pod.metadata.name or "",
                             uid=pod.metadata.uid or "")
        for t in su.claim_templates(sts):
            cname = su.claim_name(su.template_name(t), sts, su.ordinal_of(pod))
            try:
                cur = await self.client.get(PersistentVolumeClaim, cname, ns)
            except NotFound:
                continue
            # updateClaimOwnerRefForSetAndPod: a scaled-down pod's claim is the pod's
            # alone (the set's reference goes, or the set would keep it alive)
            old = list(cur.metadata.owner_references or [])
            refs = [r for r in old if r.uid not in (sts.metadata.uid, ref.uid)] + [ref]
            if [r.uid for r in refs] == [r.uid for r in old]:
                continue
            await self.client.patch(PersistentVolumeClaim, cname, {"metadata": {
                "ownerReferences": [r.to_dict() for r in refs]}}, ns)


def _controlled_by(pod: Pod, uid: str) -> bool:
    return any(r.controller and r.uid == uid for r in pod.metadata.owner_references or [])
