"""kubectl's table columns, computed here from typed objects (not from the server's Table).

Each kind has a row function returning (columns, wide-only columns); ``render`` lays rows
out as kubectl does: columns padded to the widest cell, three spaces apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from api import resources
from api.models import (
    ConfigMap,
    Deployment,
    Event,
    Lease,
    Namespace,
    Node,
    Pod,
    ReplicaSet,
    Secret,
)
from api.models.core import TypedObject
from api.models.meta import LabelSelector
from api.resources import ResourceInfo
from api.timeutil import parse_time, since

NONE = "<none>"

Row = list[str]


def qualified_name(info: ResourceInfo, name: str) -> str:
    """``pod/web`` or ``deployment.apps/web``: how kubectl names an object of a kind."""
    kind = info.kind.lower() + (f".{info.group}" if info.group else "")
    return f"{kind}/{name}"


def selector_string(sel: LabelSelector | None) -> str:
    if sel is None:
        return NONE
    parts = [f"{k}={v}" for k, v in sorted((sel.match_labels or {}).items())]
    for req in sel.match_expressions or []:
        op = req.operator
        if op == "In":
            parts.append(f"{req.key} in ({','.join(req.values or [])})")
        elif op == "NotIn":
            parts.append(f"{req.key} notin ({','.join(req.values or [])})")
        elif op == "Exists":
            parts.append(req.key)
        elif op == "DoesNotExist":
            parts.append(f"!{req.key}")
    return ",".join(parts) or NONE


# ---- pods -------------------------------------------------------------------


def pod_status_reason(pod: Pod) -> str:
    """The STATUS column: kubectl's printPod logic (waiting/terminated reasons win)."""
    st = pod.status
    reason = (st.phase if st else None) or "Pending"
    if st and st.reason:
        reason = st.reason
    initializing = False
    if st:
        n_init = len(pod.spec.init_containers or [])
        for i, c in enumerate(st.init_container_statuses or []):
            t = c.state.terminated if c.state else None
            w = c.state.waiting if c.state else None
            if t and t.exit_code == 0:
                continue
            initializing = True
            if t:
                reason = f"Init:{t.reason}" if t.reason else (
                    f"Init:Signal:{t.signal}" if t.signal else f"Init:ExitCode:{t.exit_code}")
            elif w and w.reason and w.reason != "PodInitializing":
                reason = f"Init:{w.reason}"
            else:
                reason = f"Init:{i}/{n_init}"
            break
    if st and not initializing:
        has_running = False
        for c in reversed(st.container_statuses or []):
            state = c.state
            if state and state.waiting and state.waiting.reason:
                reason = state.waiting.reason
            elif state and state.terminated and state.terminated.reason:
                reason = state.terminated.reason
            elif state and state.terminated:
                t = state.terminated
                reason = f"Signal:{t.signal}" if t.signal else f"ExitCode:{t.exit_code}"
            elif c.ready and state and state.running:
                has_running = True
        if reason == "Completed" and has_running:
            ready = any(c.type == "Ready" and c.status == "True" for c in st.conditions or [])
            reason = "Running" if ready else "NotReady"
    if pod.metadata.deletion_timestamp:
        reason = "Unknown" if (st and st.reason == "NodeLost") else "Terminating"
    return reason


def pod_ready(pod: Pod) -> str:
    total = len(pod.spec.containers)
    statuses = (pod.status.container_statuses if pod.status else None) or []
    ready = sum(1 for c in statuses if c.ready and c.state and c.state.running)
    return f"{ready}/{total}"


def pod_restarts(pod: Pod, now: datetime | None = None) -> str:
    statuses = (pod.status.container_statuses if pod.status else None) or []
    restarts = sum(c.restart_count for c in statuses)
    last: str | None = None
    for c in statuses:
        t = c.last_state.terminated if c.last_state else None
        if t and t.finished_at and (last is None or parse_time(t.finished_at) > parse_time(last)):
            last = t.finished_at
    if restarts and last:
        return f"{restarts} ({since(last, now)} ago)"
    return str(restarts)


def _pod_row(o: TypedObject, now: datetime) -> tuple[Row, Row]:
    assert isinstance(o, Pod)
    st = o.status
    return (
        [pod_ready(o), pod_status_reason(o), pod_restarts(o, now),
         since(o.metadata.creation_timestamp, now)],
        [(st.pod_ip if st else None) or NONE, o.spec.node_name or NONE,
         (st.nominated_node_name if st else None) or NONE, NONE],
    )


# ---- apps -------------------------------------------------------------------


def _containers_images(template_containers: Sequence[object]) -> Row:
    names = ",".join(getattr(c, "name", "") for c in template_containers)
    images = ",".join(getattr(c, "image", "") or "" for c in template_containers)
    return [names, images]


def _deployment_row(o: TypedObject, now: datetime) -> tuple[Row, Row]:
    assert isinstance(o, Deployment)
    st = o.status
    desired = o.spec.replicas if o.spec.replicas is not None else 1
    return (
        [f"{(st.ready_replicas if st else None) or 0}/{desired}",
         str((st.updated_replicas if st else None) or 0),
         str((st.available_replicas if st else None) or 0),
         since(o.metadata.creation_timestamp, now)],
        [*_containers_images(o.spec.template.spec.containers), selector_string(o.spec.selector)],
    )


def _replicaset_row(o: TypedObject, now: datetime) -> tuple[Row, Row]:
    assert isinstance(o, ReplicaSet)
    st = o.status
    containers = o.spec.template.spec.containers if o.spec.template else []
    return (
        [str(o.spec.replicas if o.spec.replicas is not None else 1),
         str(st.replicas if st else 0), str((st.ready_replicas if st else None) or 0),
         since(o.metadata.creation_timestamp, now)],
        [*_containers_images(containers), selector_string(o.spec.selector)],
    )


# ---- cluster ------------------------------------------------------------------


def node_status(node: Node) -> str:
    conds = (node.status.conditions if node.status else None) or []
    ready = next((c for c in conds if c.type == "Ready"), None)
    if ready is None:
        out = "Unknown"
    else:
        out = {"True": "Ready", "False": "NotReady"}.get(ready.status, "Unknown")
    if node.spec and node.spec.unschedulable:
        out += ",SchedulingDisabled"
    return out


def node_roles(node: Node) -> str:
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix):] for k in (node.metadata.labels or {}) if k.startswith(prefix))
    return ",".join(r for r in roles if r) or NONE


def node_address(node: Node, kind: str) -> str:
    for a in (node.status.addresses if node.status else None) or []:
        if a.type == kind:
            return a.address
    return NONE


def _node_row(o: TypedObject, now: datetime) -> tuple[Row, Row]:
    assert isinstance(o, Node)
    info = o.status.node_info if o.status else None
    return (
        [node_status(o), node_roles(o), since(o.metadata.creation_timestamp, now),
         (info.kubelet_version if info else None) or ""],
        [node_address(o, "InternalIP"), node_address(o, "ExternalIP"),
         (info.os_image if info else None) or "<unknown>",
         (info.kernel_version if info else None) or "<unknown>",
         (info.container_runtime_version if info else None) or "<unknown>"],
    )


def _namespace_row(o: TypedObject, now: datetime) -> tuple[Row, Row]:
    assert isinstance(o, Namespace)
    phase = (o.status.phase if o.status else None) or "Active"
    return [phase, since(o.metadata.creation_timestamp, now)], []


def event_time(e: Event) -> str | None:
    return e.last_timestamp or e.event_time or e.first_timestamp or e.metadata.creation_timestamp


def event_object(e: Event) -> str:
    ref = e.involved_object
    return f"{(ref.kind or '').lower()}/{ref.name or ''}"


def _event_row(o: TypedObject, now: datetime) -> tuple[Row, Row]:
    assert isinstance(o, Event)
    src = o.source.component if o.source and o.source.component else (
        o.reporting_component or "")
    if o.source and o.source.host:
        src += f", {o.source.host}"
    return (
        [since(event_time(o), now), o.type or "", o.reason or "", event_object(o),
         (o.message or "").strip()],
        [o.involved_object.field_path or "", src,
         since(o.first_timestamp or o.event_time, now), str(o.count or 1),
         o.metadata.name or ""],
    )


def _lease_row(o: TypedObject, now: datetime) -> tuple[Row, Row]:
    assert isinstance(o, Lease)
    holder = (o.spec.holder_identity if o.spec else None) or ""
    return [holder, since(o.metadata.creation_timestamp, now)], []


def _configmap_row(o: TypedObject, now: datetime) -> tuple[Row, Row]:
    assert isinstance(o, ConfigMap)
    n = len(o.data or {}) + len(o.binary_data or {})
    return [str(n), since(o.metadata.creation_timestamp, now)], []


def _secret_row(o: TypedObject, now: datetime) -> tuple[Row, Row]:
    assert isinstance(o, Secret)
    return [o.type or "", str(len(o.data or {})), since(o.metadata.creation_timestamp, now)], []


RowFn = Callable[[TypedObject, datetime], tuple[Row, Row]]

# kind -> (columns after NAME, wide-only columns, row function)
COLUMNS: dict[str, tuple[list[str], list[str], RowFn]] = {
    "Pod": (["READY", "STATUS", "RESTARTS", "AGE"],
            ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"], _pod_row),
    "Deployment": (["READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
                   ["CONTAINERS", "IMAGES", "SELECTOR"], _deployment_row),
    "ReplicaSet": (["DESIRED", "CURRENT", "READY", "AGE"],
                   ["CONTAINERS", "IMAGES", "SELECTOR"], _replicaset_row),
    "Node": (["STATUS", "ROLES", "AGE", "VERSION"],
             ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"],
             _node_row),
    "Namespace": (["STATUS", "AGE"], [], _namespace_row),
    "Event": (["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
              ["SUBOBJECT", "SOURCE", "FIRST SEEN", "COUNT", "NAME"], _event_row),
    "Lease": (["HOLDER", "AGE"], [], _lease_row),
    "ConfigMap": (["DATA", "AGE"], [], _configmap_row),
    "Secret": (["TYPE", "DATA", "AGE"], [], _secret_row),
}


def header(info: ResourceInfo, *, wide: bool, with_namespace: bool) -> Row:
    cols, wide_cols, _ = COLUMNS[info.kind]
    # Events have no NAME column in kubectl's narrow view: the OBJECT says what it is about.
    head = [] if info.kind == "Event" else ["NAME"]
    head = head + cols + (wide_cols if wide else [])
    return (["NAMESPACE"] if with_namespace else []) + head


def row(info: ResourceInfo, obj: TypedObject, *, wide: bool, with_namespace: bool,
        with_kind: bool, now: datetime | None = None) -> Row:
    _, _, fn = COLUMNS[info.kind]
    main, extra = fn(obj, now or datetime.now(UTC))
    name = obj.metadata.name or ""
    if with_kind:
        name = qualified_name(info, name)
    cells = ([] if info.kind == "Event" else [name]) + main + (extra if wide else [])
    return ([obj.metadata.namespace or ""] if with_namespace else []) + cells


def widths(rows: Iterable[Row]) -> list[int]:
    out: list[int] = []
    for r in rows:
        for i, cell in enumerate(r):
            if i >= len(out):
                out.append(len(cell))
            else:
                out[i] = max(out[i], len(cell))
    return out


def format_row(r: Row, w: Sequence[int]) -> str:
    cells = [cell.ljust(w[i]) if i < len(w) else cell for i, cell in enumerate(r)]
    return "   ".join(cells).rstrip()


def render(rows: list[Row]) -> str:
    """kubectl's tabwriter layout: every column as wide as its widest cell, 3 spaces apart."""
    w = widths(rows)
    return "\n".join(format_row(r, w) for r in rows)


def sort_key(info: ResourceInfo, obj: TypedObject) -> tuple[str, str]:
    if info.kind == "Event" and isinstance(obj, Event):
        return (event_time(obj) or "", obj.metadata.name or "")
    return (obj.metadata.namespace or "", obj.metadata.name or "")


def supports(info: ResourceInfo) -> bool:
    return info.kind in COLUMNS


def all_kinds() -> list[ResourceInfo]:
    """What ``get all`` lists: the kinds in the ``all`` category, in kubectl's order."""
    order = {"Pod": 0, "Deployment": 1, "ReplicaSet": 2}
    kinds = [r for r in resources.ALL if "all" in r.categories]
    return sorted(kinds, key=lambda r: order.get(r.kind, 9))
