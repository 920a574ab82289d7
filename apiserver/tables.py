"""``as=Table`` output: the server-side printing kubectl relies on for its columns.

kubectl get asks for ``application/json;as=Table;v=v1;g=meta.k8s.io``; given a plain
object it prints only NAME and AGE. The columns and cell values follow Kubernetes'
pkg/printers/internalversion (pod STATUS is computed the same way), including the
priority-1 columns that kubectl shows with ``-o wide``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from api.resources import ResourceInfo
from api.timeutil import parse_time, since

JSONDict = dict[str, Any]

TABLE_API_VERSION = "meta.k8s.io/v1"

_NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, "
             "although some resources may allow a client to request the generation of an "
             "appropriate name automatically. Name is primarily intended for creation "
             "idempotence and configuration definition. Cannot be updated. More info: "
             "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
_AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object "
            "was created. It is not guaranteed to be set in happens-before order across "
            "separate operations. Clients may not set this value. It is represented in "
            "RFC3339 form and is in UTC.")


FORMS = ("Table", "PartialObjectMetadata", "PartialObjectMetadataList")


def wanted_form(accept: str | None) -> str | None:
    """The meta.k8s.io form (Table or PartialObjectMetadata[List]) the first acceptable
    media type asks for, or None for the object itself."""
    if not accept:
        return None
    for media in accept.split(","):
        params = {}
        parts = [p.strip() for p in media.split(";")]
        for p in parts[1:]:
            if "=" in p:
                k, v = p.split("=", 1)
                params[k.strip()] = v.strip()
        json_like = parts[0] in ("application/json", "*/*", "application/*")
        form = params.get("as")
        if form in FORMS and params.get("g", "meta.k8s.io") == "meta.k8s.io":
            if json_like:
                return form
            continue
        if json_like and form is None:
            return None
    return None


def wants_table(accept: str | None) -> bool:
    """True when the first acceptable media type asks for a meta.k8s.io Table."""
    return wanted_form(accept) == "Table"


def include_object_mode(query: dict[str, str]) -> str:
    """includeObject: None, Metadata (the default) or Object."""
    mode = query.get("includeObject", "Metadata")
    return mode if mode in ("None", "Metadata", "Object") else "Metadata"


# ---- columns and rows per kind --------------------------------------------------


def _col(name: str, type_: str = "string", priority: int = 0, fmt: str = "",
         description: str = "") -> JSONDict:
    return {"name": name, "type": type_, "format": fmt, "description": description,
            "priority": priority}


_NAME = _col("Name", fmt="name", description=_NAME_DOC)
_AGE = _col("Age", description=_AGE_DOC)


def _dig(obj: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(p)
    return obj


def _none(s: str | None) -> str:
    return s if s else "<none>"


def _pod_row(pod: JSONDict, now: datetime | None) -> tuple[list[Any], list[JSONDict]]:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}

    def restartable(name: str | None) -> bool:
        return (init_specs.get(name) or {}).get("restartPolicy") == "Always"

    total = len(spec.get("containers") or []) + sum(1 for n in init_specs if restartable(n))
    ready = 0
    restarts = 0
    sidecar_restarts = 0
    last_restart: str | None = None
    sidecar_last_restart: str | None = None
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    def later(a: str | None, b: str | None) -> str | None:
        if not b:
            return a
        return b if not a or parse_time(b) > parse_time(a) else a

    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, cs in enumerate(init_statuses):
        restarts += int(cs.get("restartCount") or 0)
        finished = _dig(cs, "lastState", "terminated", "finishedAt")
        last_restart = later(last_restart, finished)
        if restartable(cs.get("name")):
            sidecar_restarts += int(cs.get("restartCount") or 0)
            sidecar_last_restart = later(sidecar_last_restart, finished)
        state = cs.get("state") or {}
        term = state.get("terminated")
        waiting = state.get("waiting")
        if term is not None and int(term.get("exitCode") or 0) == 0:
            continue
        if restartable(cs.get("name")) and cs.get("started"):
            if cs.get("ready"):
                ready += 1
            continue
        if term is not None:
            if term.get("reason"):
                reason = "Init:" + term["reason"]
            elif term.get("signal"):
                reason = f"Init:Signal:{term['signal']}"
            else:
                reason = f"Init:ExitCode:{term.get('exitCode', 0)}"
        elif waiting is not None and waiting.get("reason") and \
                waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    initialized = any(c.get("type") == "Initialized" and c.get("status") == "True"
                      for c in status.get("conditions") or [])
    if not initializing or initialized:
        restarts = sidecar_restarts
        last_restart = sidecar_last_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount") or 0)
            last_restart = later(last_restart, _dig(cs, "lastState", "terminated", "finishedAt"))
            state = cs.get("state") or {}
            waiting = state.get("waiting")
            term = state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif term is not None and term.get("reason"):
                reason = term["reason"]
            elif term is not None:
                reason = (f"Signal:{term['signal']}" if term.get("signal")
                          else f"ExitCode:{term.get('exitCode', 0)}")
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in status.get("conditions") or [])
            reason = "Running" if pod_ready else "NotReady"

    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_str = str(restarts)
    if restarts and last_restart:
        restarts_str = f"{restarts} ({since(last_restart, now)} ago)"
    ips = status.get("podIPs") or []
    pod_ip = (ips[0].get("ip") if ips else None) or status.get("podIP")
    gates = spec.get("readinessGates") or []
    gates_str = "<none>"
    if gates:
        true_types = {c.get("type") for c in status.get("conditions") or []
                      if c.get("status") == "True"}
        gates_str = f"{sum(1 for g in gates if g.get('conditionType') in true_types)}/{len(gates)}"
    cells = [meta.get("name", ""), f"{ready}/{total}", reason, restarts_str,
             since(meta.get("creationTimestamp"), now), _none(pod_ip),
             _none(spec.get("nodeName")), _none(status.get("nominatedNodeName")), gates_str]
    conditions: list[JSONDict] = []
    if phase == "Succeeded":
        conditions = [{"type": "Completed", "status": "True", "reason": "Succeeded",
                       "message": "The pod has completed successfully."}]
    elif phase == "Failed":
        conditions = [{"type": "Completed", "status": "True", "reason": "Failed",
                       "message": "The pod failed."}]
    return cells, conditions


def _format_selector(selector: JSONDict | None) -> str:
    """metav1.FormatLabelSelector."""
    if not selector:
        return "<none>"
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for e in selector.get("matchExpressions") or []:
        op = e.get("operator")
        values = ",".join(e.get("values") or [])
        if op == "In":
            parts.append(f"{e.get('key')} in ({values})")
        elif op == "NotIn":
            parts.append(f"{e.get('key')} notin ({values})")
        elif op == "Exists":
            parts.append(str(e.get("key")))
        elif op == "DoesNotExist":
            parts.append(f"!{e.get('key')}")
    return ",".join(parts) if parts else "<none>"


def _containers_images(template_spec: JSONDict) -> tuple[str, str]:
    containers = template_spec.get("containers") or []
    return (",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers))


def _deployment_row(d: JSONDict, now: datetime | None) -> tuple[list[Any], list[JSONDict]]:
    spec = d.get("spec") or {}
    status = d.get("status") or {}
    desired = spec.get("replicas", 1) if spec.get("replicas") is not None else 1
    names, images = _containers_images(_dig(spec, "template", "spec") or {})
    return [_dig(d, "metadata", "name") or "",
            f"{status.get('readyReplicas') or 0}/{desired}",
            int(status.get("updatedReplicas") or 0), int(status.get("availableReplicas") or 0),
            since(_dig(d, "metadata", "creationTimestamp"), now), names, images,
            _format_selector(spec.get("selector"))], []


def _replicaset_row(rs: JSONDict, now: datetime | None) -> tuple[list[Any], list[JSONDict]]:
    spec = rs.get("spec") or {}
    status = rs.get("status") or {}
    desired = spec.get("replicas", 1) if spec.get("replicas") is not None else 1
    names, images = _containers_images(_dig(spec, "template", "spec") or {})
    return [_dig(rs, "metadata", "name") or "", int(desired), int(status.get("replicas") or 0),
            int(status.get("readyReplicas") or 0),
            since(_dig(rs, "metadata", "creationTimestamp"), now), names, images,
            _format_selector(spec.get("selector"))], []


def _node_row(node: JSONDict, now: datetime | None) -> tuple[list[Any], list[JSONDict]]:
    meta = node.get("metadata") or {}
    status = node.get("status") or {}
    states: list[str] = []
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            states = ["Ready" if cond.get("status") == "True" else "NotReady"]
    if not states:
        states = ["Unknown"]
    if _dig(node, "spec", "unschedulable"):
        states.append("SchedulingDisabled")
    roles = sorted(
        {k[len("node-role.kubernetes.io/"):] for k in (meta.get("labels") or {})
         if k.startswith("node-role.kubernetes.io/") and k != "node-role.kubernetes.io/"}
        | ({(meta.get("labels") or {})["kubernetes.io/role"]}
           if (meta.get("labels") or {}).get("kubernetes.io/role") else set()))
    info = status.get("nodeInfo") or {}

    def address(kind: str) -> str:
        return next((a.get("address", "") for a in status.get("addresses") or []
                     if a.get("type") == kind), "<none>")

    return [meta.get("name", ""), ",".join(states), ",".join(roles) or "<none>",
            since(meta.get("creationTimestamp"), now), info.get("kubeletVersion", ""),
            address("InternalIP"), address("ExternalIP"), _none(info.get("osImage")),
            _none(info.get("kernelVersion")), _none(info.get("containerRuntimeVersion"))], []


def _namespace_row(ns: JSONDict, now: datetime | None) -> tuple[list[Any], list[JSONDict]]:
    return [_dig(ns, "metadata", "name") or "", _dig(ns, "status", "phase") or "",
            since(_dig(ns, "metadata", "creationTimestamp"), now)], []


def _event_row(ev: JSONDict, now: datetime | None) -> tuple[list[Any], list[JSONDict]]:
    first = ev.get("firstTimestamp") or ev.get("eventTime")
    first_s = since(first, now)
    last_s = since(ev.get("lastTimestamp"), now) if ev.get("lastTimestamp") else first_s
    count = ev.get("count") or 1
    series = ev.get("series")
    if isinstance(series, dict):
        last_s = since(series.get("lastObservedTime"), now)
        count = series.get("count") or count
    involved = ev.get("involvedObject") or {}
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = ev.get("source") or {}
    component = source.get("component") or ev.get("reportingComponent") or ""
    host = source.get("host") or ev.get("reportingInstance") or ""
    src = f"{component}, {host}" if host else component
    return [last_s, ev.get("type", ""), ev.get("reason", ""), target,
            involved.get("fieldPath", ""), src, str(ev.get("message") or "").strip(), first_s,
            str(count), _dig(ev, "metadata", "name") or ""], []


def _lease_row(lease: JSONDict, now: datetime | None) -> tuple[list[Any], list[JSONDict]]:
    return [_dig(lease, "metadata", "name") or "",
            _dig(lease, "spec", "holderIdentity") or "",
            since(_dig(lease, "metadata", "creationTimestamp"), now)], []


def _configmap_row(cm: JSONDict, now: datetime | None) -> tuple[list[Any], list[JSONDict]]:
    n = len(cm.get("data") or {}) + len(cm.get("binaryData") or {})
    return [_dig(cm, "metadata", "name") or "", n,
            since(_dig(cm, "metadata", "creationTimestamp"), now)], []


def _secret_row(secret: JSONDict, now: datetime | None) -> tuple[list[Any], list[JSONDict]]:
    return [_dig(secret, "metadata", "name") or "", secret.get("type") or "",
            len(secret.get("data") or {}),
            since(_dig(secret, "metadata", "creationTimestamp"), now)], []


def _default_row(obj: JSONDict, now: datetime | None) -> tuple[list[Any], list[JSONDict]]:
    return [_dig(obj, "metadata", "name") or "",
            since(_dig(obj, "metadata", "creationTimestamp"), now)], []


RowFn = Callable[[JSONDict, datetime | None], tuple[list[Any], list[JSONDict]]]

_TEMPLATE_COLS = [_col("Containers", priority=1, description="Names of each container in the "
                       "template."),
                  _col("Images", priority=1, description="Images referenced by each container "
                       "in the template."),
                  _col("Selector", priority=1, description="Label selector for pods.")]

PRINTERS: dict[str, tuple[list[JSONDict], RowFn]] = {
    "Pod": ([_NAME,
             _col("Ready", description="The aggregate readiness state of this pod for "
                  "accepting traffic."),
             _col("Status", description="The aggregate status of the containers in this pod."),
             _col("Restarts", description="The number of times the containers in this pod "
                  "have been restarted and when the last container in this pod has restarted."),
             _AGE,
             _col("IP", priority=1, description="IP address allocated to the pod."),
             _col("Node", priority=1, description="Name of the node the pod is assigned to."),
             _col("Nominated Node", priority=1, description="Name of the node the pod is "
                  "nominated to run on."),
             _col("Readiness Gates", priority=1, description="Readiness gates of the pod.")],
            _pod_row),
    "Deployment": ([_NAME,
                    _col("Ready", description="Number of the pod with ready state"),
                    _col("Up-to-date", "integer", description="Total number of non-terminated "
                         "pods targeted by this deployment that have the desired template spec."),
                    _col("Available", "integer", description="Total number of available pods "
                         "(ready for at least minReadySeconds) targeted by this deployment."),
                    _AGE, *_TEMPLATE_COLS], _deployment_row),
    "ReplicaSet": ([_NAME,
                    _col("Desired", "integer", description="Replicas is the number of desired "
                         "replicas."),
                    _col("Current", "integer", description="Replicas is the most recently "
                         "observed number of replicas."),
                    _col("Ready", "integer", description="The number of ready replicas for "
                         "this replica set."),
                    _AGE, *_TEMPLATE_COLS], _replicaset_row),
    "Node": ([_NAME,
              _col("Status", description="The status of the node"),
              _col("Roles", description="The roles of the node"),
              _AGE,
              _col("Version", description="Kubelet Version reported by the node."),
              _col("Internal-IP", priority=1, description="List of internal IPs."),
              _col("External-IP", priority=1, description="List of external IPs."),
              _col("OS-Image", priority=1, description="OS image reported by the node."),
              _col("Kernel-Version", priority=1, description="Kernel version."),
              _col("Container-Runtime", priority=1, description="Container runtime version.")],
             _node_row),
    "Namespace": ([_NAME, _col("Status", description="The status of the namespace"), _AGE],
                  _namespace_row),
    "Event": ([_col("Last Seen", description="Time when last event occurred"),
               _col("Type", description="Type of this event (Normal, Warning)."),
               _col("Reason", description="Reason is why the action was taken."),
               _col("Object", description="The object this Event is about."),
               _col("Subobject", priority=1, description="The field of the object."),
               _col("Source", priority=1, description="The component reporting this event."),
               _col("Message", description="A human-readable description of the status of "
                    "this operation."),
               _col("First Seen", priority=1, description="The time at which the event was "
                    "first recorded."),
               _col("Count", priority=1, description="The number of times this event has "
                    "occurred."),
               _col("Name", priority=1, fmt="name", description=_NAME_DOC)], _event_row),
    "Lease": ([_NAME, _col("Holder", description="The holder of the lease."), _AGE],
              _lease_row),
    "ConfigMap": ([_NAME, _col("Data", "integer", description="Number of data keys."), _AGE],
                  _configmap_row),
    "Secret": ([_NAME, _col("Type", description="The type of the secret."),
                _col("Data", "integer", description="Number of data keys."), _AGE],
               _secret_row),
}


def columns(kind: str) -> list[JSONDict]:
    return PRINTERS.get(kind, ([_NAME, _AGE], _default_row))[0]


def _partial_metadata(obj: JSONDict) -> JSONDict:
    return {"kind": "PartialObjectMetadata", "apiVersion": TABLE_API_VERSION,
            "metadata": obj.get("metadata") or {}}


def row(kind: str, obj: JSONDict, include_object: str = "Metadata",
        now: datetime | None = None) -> JSONDict:
    fn = PRINTERS.get(kind, ([], _default_row))[1]
    cells, conditions = fn(obj, now)
    out: JSONDict = {"cells": cells}
    if conditions:
        out["conditions"] = conditions
    if include_object == "Object":
        out["object"] = obj
    elif include_object == "Metadata":
        out["object"] = _partial_metadata(obj)
    return out


def table(kind: str, objects: list[JSONDict], list_meta: JSONDict | None = None,
          include_object: str = "Metadata", now: datetime | None = None) -> JSONDict:
    now = now or datetime.now(UTC)
    return {"kind": "Table", "apiVersion": TABLE_API_VERSION,
            "metadata": dict(list_meta or {}),
            "columnDefinitions": columns(kind),
            "rows": [row(kind, o, include_object, now) for o in objects]}


def convert_body(info: ResourceInfo, body: JSONDict, include_object: str = "Metadata",
                 form: str = "Table") -> JSONDict:
    """A get or list response body in ``form``; anything else (a Status) unchanged."""
    kind = body.get("kind")
    is_list = kind == info.list_kind or (kind is None and isinstance(body.get("items"), list))
    if form != "Table":
        if is_list:
            return {"kind": "PartialObjectMetadataList", "apiVersion": TABLE_API_VERSION,
                    "metadata": dict(body.get("metadata") or {}),
                    "items": [_partial_metadata(o) for o in body.get("items") or []]}
        return _partial_metadata(body) if kind == info.kind else body
    if is_list:
        return table(info.kind, list(body.get("items") or []), body.get("metadata"),
                     include_object)
    if kind == info.kind:
        rv = _dig(body, "metadata", "resourceVersion")
        return table(info.kind, [body], {"resourceVersion": rv} if rv else {}, include_object)
    return body


def convert_event(info: ResourceInfo, event: JSONDict, include_object: str = "Metadata",
                  form: str = "Table") -> JSONDict:
    """A watch event whose object becomes a one-row Table or its PartialObjectMetadata
    (ERROR and BOOKMARK untouched)."""
    obj = event.get("object")
    if event.get("type") in ("ADDED", "MODIFIED", "DELETED") and isinstance(obj, dict):
        return {"type": event["type"],
                "object": convert_body(info, obj, include_object, form)}
    return event
