"""Pods (pkg/registry/core/pod/strategy.go): a status subresource and a generation;
create starts the status over (Pending, QoS class); deletion is graceful once the
pod is on a node and still running (CheckGracefulDelete); a delete answers with
the pod (ReturnDeletedObject)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from api.defaults import prepare_pod_status_for_create
from api.printers import (
    format_restarts,
    or_none,
    pod_ip,
    pod_readiness_gates,
    pod_summary,
)
from api.timeutil import since
from apiserver import errors
from apiserver.strategies.base import AGE, NAME, JSONDict, Row, Strategy, column

_QOS_MEMO: dict[bytes, JSONDict] = {}


def _pending_status(pod: JSONDict) -> JSONDict:
    """``api.defaults.prepare_pod_status_for_create``, memoized on the containers'
    resources, the only input of the QoS class: pods stamped from one template
    (every ReplicaSet's) share it, and working it out costs as much as validation."""
    spec = pod.get("spec")
    try:
        key = orjson.dumps([[c.get("resources") for c in spec.get(f) or []]
                            for f in ("initContainers", "containers")]) \
            if isinstance(spec, dict) else b""
    except (AttributeError, TypeError):
        key = b""
    if key:
        hit = _QOS_MEMO.get(key)
        if hit is not None:
            return dict(hit)
    probe: JSONDict = dict(pod)
    prepare_pod_status_for_create(probe)
    status: JSONDict = probe["status"]
    if key and "qosClass" in status:  # not an invalid pod's (validation will refuse it)
        if len(_QOS_MEMO) > 4096:
            _QOS_MEMO.clear()
        _QOS_MEMO[key] = dict(status)
    return status


_EPHEMERAL_ON_CREATE = [{"reason": "FieldValueForbidden",
                         "message": "Forbidden: cannot be set on create",
                         "field": "spec.ephemeralContainers"}]


class PodStrategy(Strategy):
    status_subresource = True
    has_generation = True
    return_deleted_object = True
    writable_subresources = ("ephemeralcontainers",)
    columns = [NAME,
               column("Ready", description="The aggregate readiness state of this pod for "
                      "accepting traffic."),
               column("Status", description="The aggregate status of the containers in this "
                      "pod."),
               column("Restarts", description="The number of times the containers in this pod "
                      "have been restarted and when the last container in this pod has "
                      "restarted."),
               AGE,
               column("IP", priority=1, description="IP address allocated to the pod."),
               column("Node", priority=1, description="Name of the node the pod is assigned "
                      "to."),
               column("Nominated Node", priority=1, description="Name of the node the pod is "
                      "nominated to run on."),
               column("Readiness Gates", priority=1, description="Readiness gates of the pod.")]

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        # Like PodStrategy.PrepareForCreate: clients do not get to invent a status.
        obj["status"] = _pending_status(obj)

    def validate(self, obj: JSONDict, old: JSONDict | None = None,
                 subresource: str | None = None) -> None:
        """ValidatePodCreate: ephemeral containers come only through their subresource."""
        if old is None and (obj.get("spec") or {}).get("ephemeralContainers"):
            raise errors.invalid(self.info, (obj.get("metadata") or {}).get("name"),
                                 _EPHEMERAL_ON_CREATE)
        super().validate(obj, old, subresource)

    def prepare_for_subresource_update(self, subresource: str, new: JSONDict,
                                       old: JSONDict) -> JSONDict:
        """podEphemeralContainersStrategy (dropNonEphemeralContainerUpdates): the stored
        pod with the ephemeral containers sent, and nothing else of the request; the
        generation counts the change."""
        if subresource != "ephemeralcontainers":
            return super().prepare_for_subresource_update(subresource, new, old)
        out = dict(old)
        md = out["metadata"] = dict(old.get("metadata") or {})
        spec = out["spec"] = dict(old.get("spec") or {})
        sent = (new.get("spec") or {}).get("ephemeralContainers") \
            if isinstance(new.get("spec"), dict) else None
        if sent is None:
            spec.pop("ephemeralContainers", None)
        else:
            spec["ephemeralContainers"] = sent
        if spec != (old.get("spec") or {}):
            md["generation"] = int(md.get("generation") or 1) + 1
        return out

    def grace_period(self, obj: JSONDict, requested: int | None) -> int:
        """CheckGracefulDelete for pods: unscheduled or finished pods go at once."""
        spec = obj.get("spec") or {}
        grace = requested
        if grace is None:
            tg = spec.get("terminationGracePeriodSeconds")
            grace = int(tg) if isinstance(tg, int) else 30
        if not spec.get("nodeName"):
            return 0
        if (obj.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
            return 0
        return max(0, grace)

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        s = pod_summary(obj)
        cells: list[Any] = [
            meta.get("name", ""), f"{s.ready}/{s.total}", s.reason, format_restarts(s, now),
            since(meta.get("creationTimestamp"), now), or_none(pod_ip(obj)),
            or_none(spec.get("nodeName")), or_none(status.get("nominatedNodeName")),
            pod_readiness_gates(obj)]
        conditions: list[JSONDict] = []
        phase = status.get("phase") or ""
        if phase == "Succeeded":
            conditions = [{"type": "Completed", "status": "True", "reason": "Succeeded",
                           "message": "The pod has completed successfully."}]
        elif phase == "Failed":
            conditions = [{"type": "Completed", "status": "True", "reason": "Failed",
                           "message": "The pod failed."}]
        return cells, conditions
