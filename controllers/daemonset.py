"""The DaemonSet controller (pkg/controller/daemon/daemon_controller.go, update.go): one
daemon pod on each node that should run it.

Handlers only enqueue DaemonSet keys: a DaemonSet's own changes, its pods and
ControllerRevisions (through their controller reference, or every DaemonSet that may
adopt an orphan), and any node change (each DaemonSet decides for itself). ``reconcile``
builds the history (the current ControllerRevision and its hash), then, once the
expectations of earlier creates and deletes are met, manages the nodes (create where a
pod is missing, delete failed, extra and misplaced pods), runs the rolling update, prunes
the history, and writes the status. Pods are placed by the scheduler: each carries a
required node affinity on ``metadata.name`` (matchFields), as Kubernetes does.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from api.labels import SelectorError, from_label_selector
from api.models import ObjectMeta, Pod
from api.models.apps import ControllerRevision, DaemonSet
from api.models.core import Node
from client import AsyncClient, NotFound
from client.cache import meta_key
from client.controller import Controller, Result
from controllers import daemonset_util as du
from controllers import history
from controllers.context import (
    ControllerContext,
    namespace_terminating,
    raise_unless_terminating,
    retry_conflicts,
)
from controllers.expectations import Expectations
from controllers.ownership import (
    ClaimManager,
    claim_candidates,
    owner_reference,
    refetch,
    selecting_owners,
    still_cached,
)
from controllers.replicaset_util import pod_key, slow_start_batches

log = logging.getLogger(__name__)

KIND = "DaemonSet"
API_VERSION = "apps/v1"
# The failed-pods back-off (failedPodsBackoff: 1 s doubling to 15 min).
_BACKOFF_INITIAL = 1.0
_BACKOFF_MAX = 900.0


class DaemonSetsController:
    name = "daemonset"

    def __init__(self, ctx: ControllerContext, workers: int = 2) -> None:
        self.client: AsyncClient = ctx.client
        self.recorder = ctx.recorder
        self.ds_informer = ctx.factory.informer(DaemonSet)
        self.pod_informer = ctx.factory.informer(Pod)
        self.node_informer = ctx.factory.informer(Node)
        self.rev_informer = ctx.factory.informer(ControllerRevision)
        self.ds_store = self.ds_informer.store
        self.pod_store = self.pod_informer.store
        self.node_store = self.node_informer.store
        self.rev_store = self.rev_informer.store
        self.expectations = Expectations()
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.pods = self.controller.enqueue_owner(
            KIND, self.ds_store, orphan_owners=lambda o: selecting_owners(o, self.ds_store))
        self.revs = self.controller.enqueue_owner(
            KIND, self.ds_store, orphan_owners=lambda o: selecting_owners(o, self.ds_store))
        self._backoff: dict[str, tuple[float, float]] = {}  # key/node -> (delay, since)
        self.ds_informer.add_handler(self._ds_changed, lambda _o, n: self._ds_changed(n),
                                     self._ds_deleted)
        self.pod_informer.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.node_informer.add_handler(lambda _n: self._all(), self._node_updated,
                                       lambda _n: self._all())
        self.rev_informer.add_handler(self.revs.on_add, self.revs.on_update, self.revs.on_delete)

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    # ---- handlers: enqueue only --------------------------------------------------

    def _ds_changed(self, ds: DaemonSet) -> None:
        self.controller.enqueue(meta_key(ds))

    def _ds_deleted(self, ds: Any) -> None:
        key = meta_key(ds)
        self.expectations.delete(key)
        self.controller.enqueue(key)

    def _all(self) -> None:
        for ds in self.ds_store.list():
            self.controller.enqueue(meta_key(ds))

    def _node_updated(self, old: Node, new: Node) -> None:
        # shouldIgnoreNodeUpdate: only what the predicates read (labels, taints, the name)
        # and readiness matter
        if old.metadata.labels != new.metadata.labels or old.spec != new.spec or \
                _ready(old) != _ready(new):
            self._all()

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
        self.pods.on_update(old, new)

    def _pod_deleted(self, pod: Any) -> None:
        key = self.pods.on_delete(pod)
        if key is not None:
            self.expectations.deletion_observed(key, pod_key(pod))

    # ---- reconcile (syncDaemonSet) ---------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        cached = self.ds_store.get(key)
        if cached is None:
            self.expectations.delete(key)
            return None
        ds = cached.copy_deep()
        sel = ds.spec.selector
        if not sel.match_labels and not sel.match_expressions:
            self.recorder.event(ds, "Warning", "SelectingAll", "This daemon set is selecting "
                                "all pods. A non-empty selector is required.")
            return None
        if ds.metadata.deletion_timestamp is not None:
            return None
        try:
            selector = from_label_selector(sel)
        except SelectorError as exc:
            log.warning("daemonset %s: invalid selector: %s", key, exc)
            return None
        ns = ds.metadata.namespace or ""
        uid = ds.metadata.uid or ""
        fresh = refetch(self.client, ds)
        revs = await ClaimManager(self.client, ds, API_VERSION, KIND, selector, fresh).claim(
            claim_candidates(self.rev_store, ns, selector, uid))
        cur, old = await self._construct_history(ds, revs)
        hash_ = (cur.metadata.labels or {}).get(du.HASH_LABEL, "")
        pods = await ClaimManager(self.client, ds, API_VERSION, KIND, selector, fresh).claim(
            claim_candidates(self.pod_store, ns, selector, uid))
        nodes = self.node_store.list()
        now = datetime.now(UTC)
        after: float | None = None
        error: Exception | None = None
        satisfied = self.expectations.satisfied(key)
        if satisfied:
            try:
                after = await self._update_daemonset(key, ds, nodes, pods, hash_, old, now)
            except Exception as exc:  # the status is still written, then retried
                error = exc
        by_node = du.nodes_to_daemon_pods(still_cached(self.pod_store, pods))
        status = du.calculate_status(ds, nodes, by_node, hash_, now, observed=satisfied)
        if not du.status_equal(ds.status, status):
            ds.status = status
            try:
                await self.client.update_status(ds)
            except NotFound:
                return None
        if error is not None:
            raise error
        mrs = ds.spec.min_ready_seconds or 0
        if mrs > 0 and status.number_ready != status.number_available:
            after = min(after, mrs) if after else float(mrs)
        if not satisfied:
            expiry = self.expectations.timeout + 1.0
            after = min(after, expiry) if after else expiry
        return Result(requeue_after=after) if after else None

    async def _update_daemonset(self, key: str, ds: DaemonSet, nodes: list[Node],
                                pods: list[Pod], hash_: str, old: list[ControllerRevision],
                                now: datetime) -> float | None:
        """updateDaemonSet: manage, then the rolling update, then the history."""
        by_node = du.nodes_to_daemon_pods(pods)
        after = await self._manage(key, ds, nodes, by_node, hash_, now)
        st = ds.spec.update_strategy
        if self.expectations.satisfied(key) and (st is None or st.type == "RollingUpdate"):
            to_delete, create_on = du.rolling_update(ds, nodes, by_node, hash_, now)
            await self._sync_nodes(key, ds, to_delete, create_on, hash_)
        for rev in du.history_to_prune(ds, old, pods):
            try:
                await self.client.delete(ControllerRevision, rev.metadata.name or "",
                                         rev.metadata.namespace)
            except NotFound:
                pass
        return after

    async def _manage(self, key: str, ds: DaemonSet, nodes: list[Node],
                      by_node: dict[str, list[Pod]], hash_: str, now: datetime) -> float | None:
        plan = du.plan_nodes(ds, nodes, by_node, hash_, now)
        after: float | None = None
        delete = list(plan.delete)
        for pod, node in plan.failed:
            bkey = f"{key}/{node}"
            delay, since = self._backoff.get(bkey, (0.0, 0.0))
            t = now.timestamp()
            if delay and t < since + delay:
                delete = [p for p in delete if p.metadata.uid != pod.metadata.uid]
                after = min(after, since + delay - t) if after else since + delay - t
                continue
            self._backoff[bkey] = (min(max(delay * 2, _BACKOFF_INITIAL), _BACKOFF_MAX), t)
            self.recorder.event(ds, "Warning", du.FAILED_DAEMON_POD,
                                f"Found failed daemon pod {pod.metadata.namespace}/"
                                f"{pod.metadata.name} on node {node}, will try to kill it")
        await self._sync_nodes(key, ds, delete, plan.create_on, hash_)
        return after

    async def _sync_nodes(self, key: str, ds: DaemonSet, delete: list[Pod], create_on: list[str],
                          hash_: str) -> None:
        """syncNodes: create on ``create_on`` in slow-start batches, delete ``delete``."""
        if not delete and not create_on:
            return
        self.expectations.expect_creations(key, len(create_on))
        self.expectations.expect_deletions(key, [pod_key(p) for p in delete])
        errors: list[BaseException] = []
        created = 0
        try:
            start = 0
            for batch in slow_start_batches(len(create_on)):
                nodes = create_on[start:start + batch]
                start += batch
                results = await asyncio.gather(*(self._create_pod(ds, n, hash_) for n in nodes),
                                               return_exceptions=True)
                errs = [r for r in results if isinstance(r, BaseException)]
                created += len(nodes) - len(errs)
                if errs:
                    errors += errs
                    break
        finally:
            for _ in range(len(create_on) - created):
                self.expectations.creation_observed(key)
        results = await asyncio.gather(*(self._delete_pod(key, ds, p) for p in delete),
                                       return_exceptions=True)
        errors += [r for r in results if isinstance(r, BaseException)]
        raise_unless_terminating(errors)

    async def _create_pod(self, ds: DaemonSet, node_name: str, hash_: str) -> None:
        tmpl = du.create_pod_template(ds, hash_, node_name)
        meta = tmpl.metadata
        pod = Pod(metadata=ObjectMeta(
            generate_name=f"{ds.metadata.name}-", namespace=ds.metadata.namespace,
            labels=dict(meta.labels) if meta.labels else None,
            annotations=dict(meta.annotations) if meta.annotations else None,
            owner_references=[owner_reference(ds, API_VERSION, KIND)]), spec=tmpl.spec)
        try:
            created = await self.client.create(pod, ds.metadata.namespace)
        except Exception as exc:
            if not namespace_terminating(exc):
                self.recorder.event(ds, "Warning", "FailedCreate", f"Error creating: {exc}")
            raise
        self.recorder.event(ds, "Normal", "SuccessfulCreate",
                            f"Created pod: {created.metadata.name}")

    async def _delete_pod(self, key: str, ds: DaemonSet, pod: Pod) -> None:
        name = pod.metadata.name or ""
        node = du.target_node_name(pod)
        # a pod whose node is gone has no kubelet to finish it: delete it at once, as the
        # pod GC does (gcOrphaned)
        grace = 0 if node and self.node_store.get(node) is None else None
        try:
            await self.client.delete(Pod, name, pod.metadata.namespace,
                                     grace_period_seconds=grace)
        except Exception as exc:
            self.expectations.deletion_observed(key, pod_key(pod))
            if isinstance(exc, NotFound):
                return
            self.recorder.event(ds, "Warning", "FailedDelete", f"Error deleting: {exc}")
            raise
        self.recorder.event(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

    # ---- history (constructHistory, snapshot: controllers/history.py) -----------------

    async def _construct_history(self, ds: DaemonSet, revs: list[ControllerRevision]
                                 ) -> tuple[ControllerRevision, list[ControllerRevision]]:
        return await history.construct_history(self.client, ds, revs, API_VERSION, KIND)


def _ready(node: Node) -> bool:
    for c in (node.status.conditions or []) if node.status else []:
        if c.type == "Ready":
            return c.status == "True"
    return False
