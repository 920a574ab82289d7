"""The disruption controller (pkg/controller/disruption/disruption.go): each
PodDisruptionBudget's status from the pods its selector picks.

expectedPods and desiredHealthy as getExpectedPodCount: an integer minAvailable counts the
selected pods; maxUnavailable or a percentage minAvailable needs the scale of the pods'
controllers (a ReplicaSet, the Deployment above one, a ReplicationController, or any
controller with a scale subresource such as a StatefulSet), and fails ("found no
controllers for pod") for a pod whose controller has none. currentHealthy counts the
ready pods that are not being deleted nor in status.disruptedPods (which the eviction
subresource fills); an entry older than two minutes is dropped (the pod was expected to
go but did not). disruptionsAllowed = currentHealthy - desiredHealthy (never below 0, 0
with no expected pods), the DisruptionAllowed condition (SufficientPods,
InsufficientPods, SyncFailed when the count fails), observedGeneration. A pod left with the
DisruptionTarget condition (an eviction whose delete failed) but not deleted gets it set to
False after two minutes (syncStalePodDisruption)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from api import resources
from api.intstr import IntOrStringError, is_percent, scaled_value
from api.labels import SelectorError, from_label_selector
from api.models import Deployment, Pod, ReplicaSet
from api.models.core import ReplicationController
from api.models.policy import (
    DISRUPTION_ALLOWED_CONDITION,
    INSUFFICIENT_PODS_REASON,
    SUFFICIENT_PODS_REASON,
    SYNC_FAILED_REASON,
    PodDisruptionBudget,
)
from api.podutil import is_pod_ready
from api.timeutil import now as now_str
from api.timeutil import parse_time
from client import AsyncClient, NotFound
from client.cache import NAMESPACE_INDEX
from client.controller import Controller, Result
from controllers.context import ControllerContext, Recorder, retry_conflicts

log = logging.getLogger(__name__)

DELETION_TIMEOUT = timedelta(minutes=2)
STALE_POD_DISRUPTION_TIMEOUT = 120.0
DISRUPTION_TARGET = "DisruptionTarget"
STRATEGIC = "application/strategic-merge-patch+json"
JSONDict = dict[str, Any]


class ExpectedCountError(Exception):
    pass


def _controller_of(obj: Any) -> Any:
    for ref in obj.metadata.owner_references or []:
        if ref.controller:
            return ref
    return None


def _group(api_version: str | None) -> str:
    return (api_version or "").rpartition("/")[0]


def set_condition(status: JSONDict, type_: str, cond_status: str, reason: str,
                  message: str, observed_generation: int, when: str) -> None:
    """apimeta.SetStatusCondition: lastTransitionTime moves only when the status does."""
    conds = list(status.get("conditions") or [])
    for i, c in enumerate(conds):
        if c.get("type") == type_:
            new = {"type": type_, "status": cond_status,
                   "observedGeneration": observed_generation,
                   "lastTransitionTime": c.get("lastTransitionTime") or when
                   if c.get("status") == cond_status else when,
                   "reason": reason, "message": message}
            conds[i] = new
            break
    else:
        conds.append({"type": type_, "status": cond_status,
                      "observedGeneration": observed_generation, "lastTransitionTime": when,
                      "reason": reason, "message": message})
    status["conditions"] = conds


def _allowed_condition(status: JSONDict) -> tuple[str, str]:
    if int(status.get("disruptionsAllowed") or 0) > 0:
        return "True", SUFFICIENT_PODS_REASON
    return "False", INSUFFICIENT_PODS_REASON


def conditions_up_to_date(status: JSONDict, generation: int) -> bool:
    cond = next((c for c in status.get("conditions") or []
                 if c.get("type") == DISRUPTION_ALLOWED_CONDITION), None)
    if cond is None or int(status.get("observedGeneration") or 0) != generation:
        return False
    return (cond.get("status"), cond.get("reason")) == _allowed_condition(status)


class DisruptionController:
    name = "disruption"

    def __init__(self, ctx: ControllerContext, workers: int = 2,
                 stale_pod_disruption_timeout: float = STALE_POD_DISRUPTION_TIMEOUT) -> None:
        self.client: AsyncClient = ctx.client
        self.stale_timeout = stale_pod_disruption_timeout
        self.recorder: Recorder = ctx.recorder
        self.pdbs = ctx.factory.informer(PodDisruptionBudget)
        self.pods = ctx.factory.informer(Pod)
        self.replicasets = ctx.factory.informer(ReplicaSet)
        self.deployments = ctx.factory.informer(Deployment)
        self.rcs = ctx.factory.informer(ReplicationController)
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.stale = Controller("disruption-stale-pod", self.sync_stale_pod_disruption,
                                workers=1)
        self.pdbs.add_handler(*self.controller.enqueue_handlers())
        self.pods.add_handler(self._pod_changed, lambda o, n: self._pod_changed(n, o),
                              self._pod_changed)
        for inf in (self.replicasets, self.deployments, self.rcs):
            inf.add_handler(self._scale_changed, lambda o, n: self._scale_changed(n),
                            self._scale_changed)

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller, self.stale]

    # ---- events ------------------------------------------------------------------

    def _budgets_for(self, namespace: str, labels: dict[str, str] | None) -> list[Any]:
        out = []
        for pdb in self.pdbs.store.by_index(NAMESPACE_INDEX, namespace):
            try:
                sel = from_label_selector(pdb.spec.selector)
            except SelectorError:
                continue
            if sel.matches(labels or {}):
                out.append(pdb)
        return out

    def _pod_changed(self, pod: Any, old: Any = None) -> None:
        ns = pod.metadata.namespace or ""
        stale, wait = self._stale_disruption(pod)
        if stale:
            self.stale.enqueue_after(f"{ns}/{pod.metadata.name}", wait)
        keys = {f"{ns}/{p.metadata.name}" for p in self._budgets_for(ns, pod.metadata.labels)}
        if old is not None and old.metadata.labels != pod.metadata.labels:
            keys |= {f"{ns}/{p.metadata.name}"
                     for p in self._budgets_for(ns, old.metadata.labels)}
        for key in keys:
            self.controller.enqueue(key)

    def _scale_changed(self, obj: Any) -> None:
        # A controller's replicas change the expected count of the budgets over its pods.
        ns = obj.metadata.namespace or ""
        for pdb in self.pdbs.store.by_index(NAMESPACE_INDEX, ns):
            self.controller.enqueue(f"{ns}/{pdb.metadata.name}")

    # ---- stale DisruptionTarget conditions ---------------------------------------------

    def _stale_disruption(self, pod: Any) -> tuple[bool, float]:
        """nonTerminatingPodHasStaleDisruptionCondition: (has one, seconds until stale)."""
        if pod.metadata.deletion_timestamp or (pod.status and pod.status.phase in (
                "Succeeded", "Failed")):
            return False, 0.0
        cond = next((c for c in (pod.status.conditions if pod.status else None) or []
                     if c.type == DISRUPTION_TARGET), None)
        if cond is None or cond.status != "True" or cond.reason == "TerminationByKubelet":
            return False, 0.0
        try:
            since = (datetime.now(UTC) - parse_time(cond.last_transition_time or "")
                     ).total_seconds()
        except ValueError:
            since = self.stale_timeout
        return True, max(self.stale_timeout - since, 0.0)

    async def sync_stale_pod_disruption(self, key: str) -> Result | None:
        pod = self.pods.store.get(key)
        if pod is None:
            return None
        stale, wait = self._stale_disruption(pod)
        if not stale:
            return None
        if wait > 0:
            return Result(requeue_after=wait)
        ns, name = pod.metadata.namespace or "", pod.metadata.name or ""
        patch = {"status": {"conditions": [{"type": DISRUPTION_TARGET, "status": "False",
                                            "lastTransitionTime": now_str()}]}}
        try:
            await self.client.request(
                "PATCH", resources.PODS.object_path(name, ns) + "/status", json=patch,
                content_type=STRATEGIC)
        except NotFound:
            pass
        return None

    # ---- expected pods -------------------------------------------------------------

    def _get(self, store: Any, ns: str, name: str, uid: str | None) -> Any:
        obj = store.get(f"{ns}/{name}")
        return obj if obj is not None and obj.metadata.uid == uid else None

    async def _scale_of(self, ref: Any, ns: str) -> tuple[str, int] | None:
        """The finders: (controller uid, replicas), None when no finder knows it."""
        group = _group(ref.api_version)
        if ref.kind == "ReplicaSet" and group in ("apps", "extensions"):
            rs = self._get(self.replicasets.store, ns, ref.name, ref.uid)
            if rs is None:
                return None
            owner = _controller_of(rs)
            if owner is not None and owner.kind == "Deployment":
                dep = self._get(self.deployments.store, ns, owner.name, owner.uid)
                if dep is None:
                    return None
                return dep.metadata.uid, int(dep.spec.replicas if dep.spec.replicas
                                              is not None else 1)
            return rs.metadata.uid, int(rs.spec.replicas if rs.spec.replicas is not None
                                        else 1)
        if ref.kind == "ReplicationController" and group == "":
            rc = self._get(self.rcs.store, ns, ref.name, ref.uid)
            if rc is None:
                return None
            return rc.metadata.uid, int(rc.spec.replicas if rc.spec.replicas is not None
                                        else 1)
        # getScaleController: any kind served with a scale subresource.
        info = next((r for r in resources.ALL if r.kind == ref.kind and r.group == group
                     and "scale" in r.subresources), None)
        if info is None:
            return None
        try:
            scale = await self.client.request("GET", info.object_path(ref.name, ns) + "/scale")
        except NotFound:
            return None
        if not isinstance(scale, dict) or (scale.get("metadata") or {}).get("uid") != ref.uid:
            return None
        return ref.uid, int((scale.get("spec") or {}).get("replicas") or 0)

    async def _expected_scale(self, pods: list[Any]) -> tuple[int, list[str]]:
        scales: dict[str, int] = {}
        unmanaged: list[str] = []
        for pod in pods:
            ref = _controller_of(pod)
            if ref is None:
                unmanaged.append(pod.metadata.name or "")
                continue
            if ref.uid in scales:
                continue
            found = await self._scale_of(ref, pod.metadata.namespace or "")
            if found is None:
                raise ExpectedCountError(f'found no controllers for pod "{pod.metadata.name}"')
            scales[found[0]] = found[1]
        return sum(scales.values()), unmanaged

    async def expected_pod_count(self, spec: JSONDict, pods: list[Any]
                                 ) -> tuple[int, int, list[str]]:
        """getExpectedPodCount: (expectedCount, desiredHealthy, unmanaged pods)."""
        mx, mn = spec.get("maxUnavailable"), spec.get("minAvailable")
        try:
            if mx is not None:
                expected, unmanaged = await self._expected_scale(pods)
                desired = max(expected - scaled_value(mx, expected, True), 0)
                return expected, desired, unmanaged
            if mn is not None:
                if not is_percent(mn) and isinstance(mn, int):
                    return len(pods), mn, []
                expected, unmanaged = await self._expected_scale(pods)
                return expected, scaled_value(mn, expected, True), unmanaged
        except IntOrStringError as e:
            raise ExpectedCountError(str(e)) from None
        return 0, 0, []

    # ---- sync ------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        pdb = self.pdbs.store.get(key)
        if pdb is None or pdb.metadata.deletion_timestamp:
            return None
        d = pdb.to_dict()
        spec = d.get("spec") or {}
        generation = int(d["metadata"].get("generation") or 0)
        status = dict(d.get("status") or {})
        ns = pdb.metadata.namespace or ""
        try:
            sel = from_label_selector(spec.get("selector"))
        except SelectorError:
            pods: list[Any] = []
        else:
            pods = [p for p in self.pods.store.by_index(NAMESPACE_INDEX, ns)
                    if sel.matches(p.metadata.labels or {})]
        if not pods:
            self.recorder.event(pdb, "Normal", "NoPods", "No matching pods found")
        try:
            expected, desired, unmanaged = await self.expected_pod_count(spec, pods)
        except ExpectedCountError as e:
            self.recorder.event(pdb, "Warning", "CalculateExpectedPodCountFailed",
                                f"Failed to calculate the number of expected pods: {e}")
            # failSafe: no disruption allowed while the count is unknown.
            status["disruptionsAllowed"] = 0
            set_condition(status, DISRUPTION_ALLOWED_CONDITION, "False", SYNC_FAILED_REASON,
                          str(e), int(status.get("observedGeneration") or 0), now_str())
            await self._write(d, status)
            return Result(requeue=True)
        if unmanaged:
            self.recorder.event(
                pdb, "Warning", "UnmanagedPods",
                "Pods selected by this PodDisruptionBudget (selector: "
                f"{from_label_selector(spec.get('selector'))}) were found to be unmanaged. As "
                "a result, the status of the PDB cannot be calculated correctly, which may "
                "result in undefined behavior. To account for these pods please set "
                "\".spec.minAvailable\" field of the PDB to an integer value.")
        current = datetime.now(UTC)
        disrupted, recheck = self._disrupted_pods(pods, status.get("disruptedPods") or {},
                                                  current)
        healthy = sum(1 for p in pods if not p.metadata.deletion_timestamp
                      and p.metadata.name not in disrupted and is_pod_ready(p))
        allowed = healthy - desired
        if expected <= 0 or allowed <= 0:
            allowed = 0
        new = {"observedGeneration": generation, "disruptionsAllowed": allowed,
               "currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
               "conditions": status.get("conditions") or []}
        if disrupted:
            new["disruptedPods"] = disrupted
        same = all(int(status.get(k) or 0) == new[k] for k in (
            "currentHealthy", "desiredHealthy", "expectedPods", "disruptionsAllowed",
            "observedGeneration")) and (status.get("disruptedPods") or {}) == disrupted
        if not (same and conditions_up_to_date(status, generation)):
            cond_status, reason = _allowed_condition(new)
            set_condition(new, DISRUPTION_ALLOWED_CONDITION, cond_status, reason, "",
                          generation, now_str())
            await self._write(d, new)
        if recheck is not None:
            return Result(requeue_after=max((recheck - current).total_seconds(), 0.1))
        return None

    def _disrupted_pods(self, pods: list[Any], disrupted: dict[str, str], current: datetime
                        ) -> tuple[dict[str, str], datetime | None]:
        """buildDisruptedPodMap: the entries of pods still there and not yet deleted,
        younger than DELETION_TIMEOUT; and when the first of them expires."""
        result: dict[str, str] = {}
        recheck: datetime | None = None
        for pod in pods:
            name = pod.metadata.name or ""
            if pod.metadata.deletion_timestamp or name not in disrupted:
                continue
            try:
                expected = parse_time(disrupted[name]) + DELETION_TIMEOUT
            except (TypeError, ValueError):
                continue
            if expected < current:
                self.recorder.event(pod, "Warning", "NotDeleted",
                                    f"Pod was expected by PDB {pod.metadata.namespace}/"
                                    f"{pod.metadata.namespace} to be deleted but it wasn't")
            else:
                if recheck is None or expected < recheck:
                    recheck = expected
                result[name] = disrupted[name]
        return result, recheck

    async def _write(self, d: JSONDict, status: JSONDict) -> None:
        d = dict(d)
        d["status"] = status
        try:
            await self.client.update_status(PodDisruptionBudget.from_dict(d))
        except NotFound:
            pass
