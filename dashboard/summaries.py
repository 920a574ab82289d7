"""What the browser's live views need of each object: a small dict per object, so 1,000
pods cost the page a few hundred bytes each rather than their whole manifests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api import printers
from api.models import (
    Deployment,
    EndpointSlice,
    Event,
    Node,
    Pod,
    ReplicaSet,
    Service,
    TypedObject,
)
from api.models.apps import DaemonSet, StatefulSet
from api.models.batch import Job

JSON = dict[str, Any]


def key(kind: str, md: JSON) -> str:
    ns = md.get("namespace") or ""
    return f"{kind}/{ns}/{md.get('name') or ''}"


def _base(kind: str, d: JSON) -> JSON:
    md = d.get("metadata") or {}
    owner = next((r for r in md.get("ownerReferences") or [] if r.get("controller")), None)
    out: JSON = {"key": key(kind, md), "kind": kind, "name": md.get("name"),
                 "ns": md.get("namespace") or "", "uid": md.get("uid"),
                 "created": md.get("creationTimestamp")}
    if owner:
        out["owner"] = f"{owner.get('kind')}/{out['ns']}/{owner.get('name')}"
    if md.get("labels"):
        out["labels"] = md["labels"]
    if md.get("deletionTimestamp"):
        out["deleting"] = True
    return out


def pod(d: JSON) -> JSON:
    out = _base("Pod", d)
    spec, st = d.get("spec") or {}, d.get("status") or {}
    ready = printers.pod_ready(d)
    a, _, b = ready.partition("/")
    out.update(node=spec.get("nodeName") or "", status=printers.pod_status_reason(d),
               phase=st.get("phase") or "Pending", ready=ready,
               isReady=a == b and b not in ("", "0"),
               restarts=printers.pod_restarts(d), ip=st.get("podIP") or "",
               containers=[c.get("name") for c in spec.get("containers") or []])
    return out


def node(d: JSON) -> JSON:
    out = _base("Node", d)
    out.update(status=printers.node_status(d), roles=printers.node_roles(d))
    return out


def _workload(kind: str, d: JSON) -> JSON:
    out = _base(kind, d)
    spec, st = d.get("spec") or {}, d.get("status") or {}
    want = spec.get("replicas")
    if kind == "DaemonSet":
        want = st.get("desiredNumberScheduled") or 0
    sel = (spec.get("selector") or {}).get("matchLabels")
    out.update(replicas=1 if want is None else want, ready=st.get("readyReplicas")
               or st.get("numberReady") or 0, selector=sel or {})
    if kind == "ReplicaSet":
        ann = (d.get("metadata") or {}).get("annotations") or {}
        out["revision"] = ann.get("deployment.kubernetes.io/revision", "")
    return out


def job(d: JSON) -> JSON:
    out = _base("Job", d)
    out.update(status=printers.job_status(d), completions=printers.job_completions(d))
    return out


def service(d: JSON) -> JSON:
    out = _base("Service", d)
    spec = d.get("spec") or {}
    out.update(type=spec.get("type") or "ClusterIP", clusterIP=spec.get("clusterIP") or "",
               selector=spec.get("selector") or {}, ports=printers.service_ports(
                   spec.get("ports")))
    return out


def endpoint_slice(d: JSON) -> JSON:
    out = _base("EndpointSlice", d)
    eps = d.get("endpoints") or []
    # an endpoint whose ready condition is unset counts as ready (discovery/v1)
    ready = [e for e in eps if (e.get("conditions") or {}).get("ready") is not False]
    out.update(service=(out.pop("labels", None) or {}).get("kubernetes.io/service-name", ""),
               total=len(eps), readyCount=len(ready),
               pods=[(e.get("targetRef") or {}).get("name") for e in ready
                     if (e.get("targetRef") or {}).get("kind") == "Pod"])
    return out


def event(d: JSON) -> JSON:
    out = _base("Event", d)
    out.update(type=d.get("type") or "Normal", reason=d.get("reason") or "",
               message=d.get("message") or "", object=printers.event_object(d),
               source=printers.event_source(d), count=printers.event_count(d),
               last=printers.event_last_seen(d) or "")
    out.pop("labels", None)
    return out


SUMMARIES: dict[str, tuple[type[TypedObject], Callable[[JSON], JSON]]] = {
    "Node": (Node, node),
    "Pod": (Pod, pod),
    "Deployment": (Deployment, lambda d: _workload("Deployment", d)),
    "ReplicaSet": (ReplicaSet, lambda d: _workload("ReplicaSet", d)),
    "StatefulSet": (StatefulSet, lambda d: _workload("StatefulSet", d)),
    "DaemonSet": (DaemonSet, lambda d: _workload("DaemonSet", d)),
    "Job": (Job, job),
    "Service": (Service, service),
    "EndpointSlice": (EndpointSlice, endpoint_slice),
    "Event": (Event, event),
}

TOPOLOGY = ("Node", "Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job",
            "Service", "EndpointSlice")
