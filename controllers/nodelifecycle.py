"""The node lifecycle controller: notices silent nodes and evicts their pods.

A kubelet proves it is alive by renewing its Lease in ``kube-node-lease`` (and by
posting node status). Times are measured on this process's monotonic clock from
the moment a renewal was *observed*, so clock skew between hosts does not matter,
and every node gets a full grace period when the controller starts.

Silent for ``--node-monitor-grace-period``: the node's conditions become Unknown
(NodeStatusUnknown), it gets the ``node.kubernetes.io/unreachable:NoExecute`` taint,
its pods are marked not ready, and each pod is deleted once its toleration of that
taint runs out (``--default-unreachable-toleration-seconds`` when it has none, as
Kubernetes' DefaultTolerationSeconds admission would have given it), so that its
ReplicaSet recreates it elsewhere. A renewal removes the taint again.

A node that is heard from but whose kubelet reports Ready=False gets the
``node.kubernetes.io/not-ready`` taints instead, with the same eviction rule
(``--default-not-ready-toleration-seconds``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from api.models import Condition, Lease, Node, NodeSpec, NodeStatus, Pod, Taint, Toleration
from api.timeutil import format_time, parse_time
from api.wellknown import TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE
from client import AsyncClient, NotFound
from client.cache import NODE_NAME_INDEX
from client.controller import Controller, Result
from controllers.context import ControllerContext, retry_conflicts

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
CONDITION_TAINTS = (TAINT_NODE_UNREACHABLE, TAINT_NODE_NOT_READY)
NO_EXECUTE = "NoExecute"
NO_SCHEDULE = "NoSchedule"
NODE_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


@dataclass
class _Heartbeat:
    marker: tuple[str | None, str | None]
    observed: float
    # a renewal seen by this process: what the first look at a node cannot tell (a
    # restarted controller must not untaint a node that is still silent)
    renewed: bool = False


def tolerates(t: Toleration, taint: Taint) -> bool:
    if t.effect and t.effect != taint.effect:
        return False
    if (t.operator or "Equal") == "Exists":
        return not t.key or t.key == taint.key
    return t.key == taint.key and (t.value or "") == (taint.value or "")


def toleration_seconds(pod: Pod, taint: Taint, default: int) -> float | None:
    """How long ``pod`` may stay on a node with ``taint``; None means forever."""
    matching = [t for t in pod.spec.tolerations or [] if tolerates(t, taint)]
    if not matching:
        return float(default)
    seconds = [t.toleration_seconds for t in matching if t.toleration_seconds is not None]
    if not seconds:
        return None
    return float(max(0, min(seconds)))


def _ready_condition(node: Node) -> Condition | None:
    for c in (node.status.conditions if node.status else None) or []:
        if c.type == "Ready":
            return c
    return None


def _condition_taint_keys(node: Node) -> set[str]:
    return {t.key for t in (node.spec.taints if node.spec else None) or []
            if t.key in CONDITION_TAINTS}


def _no_execute_taint(node: Node, key: str) -> Taint | None:
    for t in (node.spec.taints if node.spec else None) or []:
        if t.key == key and t.effect == NO_EXECUTE:
            return t
    return None


class NodeLifecycleController:
    name = "nodelifecycle"

    def __init__(self, ctx: ControllerContext, workers: int = 2) -> None:
        self.client: AsyncClient = ctx.client
        self.recorder = ctx.recorder
        self.grace = ctx.options.node_monitor_grace_period
        self.default_toleration = {
            TAINT_NODE_UNREACHABLE: ctx.options.default_unreachable_toleration_seconds,
            TAINT_NODE_NOT_READY: ctx.options.default_not_ready_toleration_seconds}
        self.monitor_period = ctx.options.node_monitor_period
        self.nodes = ctx.factory.informer(Node)
        self.leases = ctx.factory.informer(Lease)
        self.pods = ctx.factory.informer(Pod)
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.nodes.add_handler(*self.controller.enqueue_handlers())
        self.leases.add_handler(self._lease_changed, lambda _o, n: self._lease_changed(n), None)
        self.pods.add_handler(self._pod_changed, lambda _o, n: self._pod_changed(n), None)
        self._heartbeats: dict[str, _Heartbeat] = {}

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    def _lease_changed(self, lease: Lease) -> None:
        if lease.metadata.namespace == LEASE_NAMESPACE and lease.metadata.name:
            self.controller.enqueue(lease.metadata.name)

    def _pod_changed(self, pod: Any) -> None:
        node = pod.spec.node_name if isinstance(pod, Pod) else None
        if node and pod.metadata.deletion_timestamp is None:
            n = self.nodes.store.get(node)
            if n is not None and _condition_taint_keys(n):
                self.controller.enqueue(node)

    # ---- reconcile ------------------------------------------------------------------

    def _silent_for(self, node: Node) -> float:
        name = node.metadata.name or ""
        lease = self.leases.store.get(f"{LEASE_NAMESPACE}/{name}")
        ready = _ready_condition(node)
        marker = (lease.spec.renew_time if lease else None,
                  ready.last_heartbeat_time if ready else None)
        now = time.monotonic()
        hb = self._heartbeats.get(name)
        if hb is None:
            hb = self._heartbeats[name] = _Heartbeat(marker, now)
        elif hb.marker != marker:
            hb.marker, hb.observed, hb.renewed = marker, now, True
        return now - hb.observed

    async def reconcile(self, name: str) -> Result | None:
        cached = self.nodes.store.get(name)
        if cached is None:
            self._heartbeats.pop(name, None)
            return None
        silent = self._silent_for(cached)
        ready = _ready_condition(cached)
        node = cached
        if silent >= self.grace:
            node = await self._mark_unknown(cached)
            want: str | None = TAINT_NODE_UNREACHABLE
        elif ready is not None and ready.status == "False":
            want = TAINT_NODE_NOT_READY  # the kubelet itself says the node cannot run pods
        elif (TAINT_NODE_UNREACHABLE in _condition_taint_keys(cached)
              and not self._heartbeats[name].renewed):
            # not heard from since we started: still silent as far as we know
            want = TAINT_NODE_UNREACHABLE
        else:
            want = None
        before = _condition_taint_keys(node)
        node = await self._set_taints(node, want)
        if want is None:
            if before:
                log.info("node %s is ready again: taints %s removed", name, sorted(before))
            return Result(requeue_after=self.grace - silent + 0.05)
        taint = _no_execute_taint(node, want)
        wait = await self._evict(node, taint) if taint else None
        after = min(self.monitor_period, wait or self.monitor_period)
        if silent < self.grace:
            after = min(after, self.grace - silent + 0.05)
        return Result(requeue_after=after)

    async def _mark_unknown(self, node: Node) -> Node:
        ready = _ready_condition(node)
        if ready is not None and ready.status == "Unknown":
            return node
        copy = node.copy_deep()
        now = format_time(datetime.now(UTC))
        conds = {c.type: c for c in (copy.status.conditions if copy.status else None) or []}
        for ctype in NODE_CONDITIONS:
            c = conds.get(ctype)
            if ctype != "Ready" and c is None:
                continue
            if c is None:
                c = conds[ctype] = Condition(type=ctype, status="Unknown")
            c.status = "Unknown"
            c.reason = "NodeStatusUnknown"
            c.message = "Kubelet stopped posting node status."
            c.last_transition_time = now
        if copy.status is None:
            copy.status = NodeStatus()
        copy.status.conditions = list(conds.values())
        updated = await self.client.update_status(copy)
        log.warning("node %s stopped renewing its lease: Ready=Unknown", node.metadata.name)
        self.recorder.event(node, "Normal", "NodeNotReady",
                            f"Node {node.metadata.name} status is now: NodeNotReady")
        await self._mark_pods_not_ready(node)
        return updated

    async def _mark_pods_not_ready(self, node: Node) -> None:
        for pod in self.pods.store.by_index(NODE_NAME_INDEX, node.metadata.name or ""):
            conds = (pod.status.conditions if pod.status else None) or []
            ready = next((c for c in conds if c.type == "Ready"), None)
            if ready is None or ready.status == "False":
                continue
            copy = pod.copy_deep()
            assert copy.status is not None
            for c in copy.status.conditions or []:
                if c.type == "Ready":
                    c.status = "False"
                    c.last_transition_time = format_time(datetime.now(UTC))
            try:
                await self.client.update_status(copy)
            except NotFound:
                continue

    async def _set_taints(self, node: Node, key: str | None) -> Node:
        """Exactly the taints of ``key`` (None: none) among the condition taints. The
        NoExecute one evicts; its NoSchedule twin (TaintNodesByCondition) keeps new pods
        off the node, even pods that tolerate the eviction."""
        taints = (node.spec.taints if node.spec else None) or []
        ours = [t for t in taints if t.key in CONDITION_TAINTS]
        want = {(key, NO_SCHEDULE), (key, NO_EXECUTE)} if key else set()
        if {(t.key, t.effect) for t in ours} == want and len(ours) == len(want):
            return node
        now = format_time(datetime.now(UTC))
        kept = {(t.key, t.effect): t for t in ours}
        copy = node.copy_deep()
        copy.spec = copy.spec or NodeSpec()
        new = [t for t in copy.spec.taints or [] if t.key not in CONDITION_TAINTS]
        for k, effect in sorted(want):
            new.append(kept.get((k, effect)) or Taint(key=k, effect=effect, time_added=now))
        copy.spec.taints = new or None
        return await self.client.update(copy)

    async def _evict(self, node: Node, taint: Taint) -> float | None:
        """Delete the pods whose toleration ran out; seconds until the next one does."""
        added = parse_time(taint.time_added) if taint.time_added else datetime.now(UTC)
        now = datetime.now(UTC)
        next_due: float | None = None
        for pod in self.pods.store.by_index(NODE_NAME_INDEX, node.metadata.name or ""):
            if pod.metadata.deletion_timestamp is not None:
                continue
            seconds = toleration_seconds(pod, taint, self.default_toleration[taint.key])
            if seconds is None:
                continue
            due = added + timedelta(seconds=seconds)
            if due > now:
                left = (due - now).total_seconds()
                next_due = left if next_due is None else min(next_due, left)
                continue
            try:
                await self.client.delete(Pod, pod.metadata.name or "", pod.metadata.namespace,
                                         preconditions_uid=pod.metadata.uid)
            except NotFound:
                continue
            log.info("evicted pod %s/%s from unreachable node %s", pod.metadata.namespace,
                     pod.metadata.name, node.metadata.name)
            self.recorder.event(pod, "Normal", "TaintManagerEviction",
                                f"Marking for deletion Pod {pod.metadata.namespace}/"
                                f"{pod.metadata.name}")
        return next_due
