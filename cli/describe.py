"""``minictl describe``: kubectl's human summary of an object, followed by its Events."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar

import click

from api import printers, resources
from api.models import (
    ConfigMap,
    Deployment,
    Endpoints,
    EndpointSlice,
    Event,
    Namespace,
    Node,
    Pod,
    ReplicaSet,
    Secret,
    Service,
)
from api.models.apps import DaemonSet, StatefulSet
from api.models.autoscaling import HorizontalPodAutoscaler, HPAScalingRules
from api.models.batch import CronJob, Job
from api.models.core import (
    Container,
    ContainerState,
    PodTemplateSpec,
    ReplicationController,
    Toleration,
    TypedObject,
)
from api.models.meta import LabelSelector
from api.models.serviceaccount import ServiceAccount
from api.resources import ResourceInfo
from api.timeutil import parse_time, since
from api.validation import decode_bytes
from api.wellknown import LABEL_SERVICE_NAME, LAST_APPLIED_CONFIG_ANNOTATION, revision_of
from cli import output, tables
from cli.context import State, resolve_kind, split_ref, state
from cli.deployment_util import owned_replicasets
from cli.errors import CliError, format_api_error
from cli.options import common
from client.errors import ApiError, NotFound

NONE = "<none>"


def _selector(sel: LabelSelector | None) -> str:
    return printers.format_label_selector(sel.to_dict() if sel is not None else None)


def fmt_time(ts: str | None) -> str:
    if not ts:
        return NONE
    try:
        return parse_time(ts).strftime("%a, %d %b %Y %H:%M:%S +0000")
    except ValueError:
        return ts


class Writer:
    """``Key:  value`` lines at indent levels, laid out as kubectl's tabwriter does: a run
    of consecutive key/value lines is one block whose values start in one column (the
    widest ``Key:`` plus two spaces); a bare header line (``Containers:``) ends the block."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str, str | None]] = []

    def kv(self, level: int, key: str, value: object = None) -> None:
        self.lines.append((level, key, None if value is None else str(value)))

    def map(self, level: int, key: str, data: dict[str, str] | None, sep: str = "=") -> None:
        items = [f"{k}{sep}{v}" for k, v in sorted((data or {}).items())]
        self.lines.append((level, key, "\n".join(items) if items else NONE))

    def section(self, level: int, key: str, data: dict[str, str] | None) -> None:
        """``Capacity:`` then one aligned ``name:  value`` line per entry."""
        if not data:
            self.kv(level, key, NONE)
            return
        self.kv(level, key)
        for k, v in sorted(data.items()):
            self.kv(level + 1, k, v)

    def raw(self, text: str) -> None:
        self.lines.append((-1, text, None))

    def render(self) -> str:
        out: list[str] = []
        i = 0
        n = len(self.lines)
        while i < n:
            level, key, value = self.lines[i]
            if level < 0:
                out.append(key)
                i += 1
                continue
            if value is None:
                out.append(f"{'  ' * level}{key}:")
                i += 1
                continue
            j = i
            while j < n and self.lines[j][0] >= 0 and self.lines[j][2] is not None:
                j += 1
            block = self.lines[i:j]
            width = max(len("  " * lv + k) + 1 for lv, k, _ in block) + 2
            for lv, k, v in block:
                first, *rest = (v or "").split("\n")
                # An empty value keeps the key's padding, as Go's tabwriter does.
                out.append(f"{('  ' * lv + k + ':').ljust(width)}{first.rstrip()}")
                out.extend(f"{' ' * width}{r}".rstrip() for r in rest)
            i = j
        return "\n".join(out) + "\n"


def _controlled_by(obj: TypedObject) -> str | None:
    for o in obj.metadata.owner_references or []:
        if o.controller:
            return f"{o.kind}/{o.name}"
    return None


def _state_lines(w: Writer, level: int, title: str, s: ContainerState | None) -> None:
    if s is None or (s.running is None and s.waiting is None and s.terminated is None):
        if title == "State":
            w.kv(level, title, "Waiting")
        return
    if s.running:
        w.kv(level, title, "Running")
        w.kv(level + 1, "Started", fmt_time(s.running.started_at))
    elif s.waiting:
        w.kv(level, title, "Waiting")
        if s.waiting.reason:
            w.kv(level + 1, "Reason", s.waiting.reason)
        if s.waiting.message:
            w.kv(level + 1, "Message", s.waiting.message)
    elif s.terminated:
        t = s.terminated
        w.kv(level, title, "Terminated")
        w.kv(level + 1, "Reason", t.reason or "")
        if t.message:
            w.kv(level + 1, "Message", t.message)
        w.kv(level + 1, "Exit Code", t.exit_code)
        w.kv(level + 1, "Started", fmt_time(t.started_at))
        w.kv(level + 1, "Finished", fmt_time(t.finished_at))


def _container(w: Writer, level: int, c: Container, pod: Pod | None) -> None:
    w.kv(level, f" {c.name}")
    cs = None
    if pod and pod.status:
        # names are unique among all of a pod's containers: init, regular, ephemeral
        cs = next((s for s in [*(pod.status.container_statuses or []),
                               *(pod.status.init_container_statuses or []),
                               *(pod.status.ephemeral_container_statuses or [])]
                   if s.name == c.name), None)
    if cs is not None:
        w.kv(level + 1, "Container ID", cs.container_id or "")
    w.kv(level + 1, "Image", c.image or "")
    if cs is not None:
        w.kv(level + 1, "Image ID", cs.image_id or "")
    ports = ", ".join(f"{p.container_port}/{p.protocol or 'TCP'}" for p in c.ports or [])
    w.kv(level + 1, "Port", ports or NONE)
    hports = ", ".join(f"{p.host_port or 0}/{p.protocol or 'TCP'}" for p in c.ports or [])
    w.kv(level + 1, "Host Port", hports or NONE)
    if c.command:
        w.kv(level + 1, "Command", "\n".join(c.command))
    if c.args:
        w.kv(level + 1, "Args", "\n".join(c.args))
    if cs is not None:
        _state_lines(w, level + 1, "State", cs.state)
        _state_lines(w, level + 1, "Last State", cs.last_state)
        w.kv(level + 1, "Ready", str(cs.ready))
        w.kv(level + 1, "Restart Count", cs.restart_count)
    res = c.resources
    if res and res.limits:
        w.section(level + 1, "Limits", res.limits)
    if res and res.requests:
        w.section(level + 1, "Requests", res.requests)
    for title, probe in (("Liveness", c.liveness_probe), ("Readiness", c.readiness_probe)):
        if probe is None:
            continue
        if probe.http_get:
            how = f"http-get http://:{probe.http_get.port}{probe.http_get.path or '/'}"
        elif probe.tcp_socket:
            how = f"tcp-socket :{probe.tcp_socket.port}"
        elif probe.exec:
            how = "exec [" + " ".join(probe.exec.command or []) + "]"
        else:
            how = "unknown"
        w.kv(level + 1, title, f"{how} delay={probe.initial_delay_seconds or 0}s "
             f"timeout={probe.timeout_seconds or 1}s period={probe.period_seconds or 10}s "
             f"#success={probe.success_threshold or 1} #failure={probe.failure_threshold or 3}")
    env = [f"{e.name}:  {e.value or ''}" for e in c.env or []]
    w.kv(level + 1, "Environment", "\n".join(env) if env else NONE)
    mounts = [f"{m.mount_path} from {m.name} ({'ro' if m.read_only else 'rw'})"
              for m in c.volume_mounts or []]
    w.kv(level + 1, "Mounts", "\n".join(mounts) if mounts else NONE)


def _template(w: Writer, level: int, t: PodTemplateSpec) -> None:
    w.map(level, "Labels", t.metadata.labels)
    if t.metadata.annotations:
        w.map(level, "Annotations", t.metadata.annotations, ": ")
    w.kv(level, "Containers")
    for c in t.spec.containers:
        _container(w, level, c, None)
    _volumes(w, level, t.spec.volumes)


def _volumes(w: Writer, level: int, volumes: Iterable[object] | None) -> None:
    vols = list(volumes or [])
    if not vols:
        w.kv(level, "Volumes", NONE)
        return
    w.kv(level, "Volumes")
    for v in vols:
        name = getattr(v, "name", "")
        w.kv(level + 1, f"{name}")
        if getattr(v, "empty_dir", None) is not None:
            w.kv(level + 2, "Type", "EmptyDir (a temporary directory that shares a pod's lifetime)")
        host_path = getattr(v, "host_path", None)
        if host_path is not None:
            w.kv(level + 2, "Type", "HostPath (bare host directory volume)")
            w.kv(level + 2, "Path", getattr(host_path, "path", ""))
        pvc = (getattr(v, "model_extra", None) or {}).get("persistentVolumeClaim")
        if isinstance(pvc, dict):
            w.kv(level + 2, "Type", "PersistentVolumeClaim (a reference to a "
                                    "PersistentVolumeClaim in the same namespace)")
            w.kv(level + 2, "ClaimName", pvc.get("claimName") or "")
            w.kv(level + 2, "ReadOnly", _optional(pvc.get("readOnly")))
        _config_volume(w, level + 2, v)


def _optional(value: object) -> str:
    return "true" if value else "false"


def _config_volume(w: Writer, level: int, v: object) -> None:
    """kubectl's printConfigMapVolumeSource, printSecretVolumeSource,
    printDownwardAPIVolumeSource and printProjectedVolumeSource."""
    cm, secret = getattr(v, "config_map", None), getattr(v, "secret", None)
    projected, downward = getattr(v, "projected", None), getattr(v, "downward_api", None)
    if cm is not None:
        w.kv(level, "Type", "ConfigMap (a volume populated by a ConfigMap)")
        w.kv(level, "Name", cm.name or "")
        w.kv(level, "Optional", _optional(cm.optional))
    elif secret is not None:
        w.kv(level, "Type", "Secret (a volume populated by a Secret)")
        w.kv(level, "SecretName", secret.secret_name or "")
        w.kv(level, "Optional", _optional(secret.optional))
    elif downward is not None:
        w.kv(level, "Type", "DownwardAPI (a volume populated by information about the pod)")
        w.kv(level, "Items")
        for it in downward.items or []:
            if it.field_ref is not None:
                w.raw(f"{'  ' * (level + 1)}{it.field_ref.field_path} -> {it.path}")
    elif projected is not None:
        w.kv(level, "Type", "Projected (a volume that contains injected data from multiple "
                            "sources)")
        for src in projected.sources or []:
            if src.secret is not None:
                w.kv(level, "SecretName", src.secret.name or "")
                w.kv(level, "Optional", _optional(src.secret.optional))
            elif src.downward_api is not None:
                w.kv(level, "DownwardAPI", "true")
            elif src.config_map is not None:
                w.kv(level, "ConfigMapName", src.config_map.name or "")
                w.kv(level, "Optional", _optional(src.config_map.optional))
            elif src.service_account_token is not None:
                w.kv(level, "TokenExpirationSeconds",
                     src.service_account_token.expiration_seconds or 3600)


def describe_template(t: PodTemplateSpec) -> str:
    """rollout history --revision's printTemplate: DescribePodTemplate, with its last lines
    (Node-Selectors, Tolerations) as kubectl 1.37 prints them."""
    w = Writer()
    _pod_template_with_placement(w, t)
    return w.render()


def _pod_template_with_placement(w: Writer, t: PodTemplateSpec) -> None:
    """``Pod Template:`` as DescribePodTemplate prints it whole (kubectl 1.37): the shared
    ``_template`` lines, then Node-Selectors and Tolerations."""
    w.kv(0, "Pod Template")
    _template(w, 1, t)
    w.map(1, "Node-Selectors", t.spec.node_selector)
    tol = [_toleration(x) for x in t.spec.tolerations or []]
    w.kv(1, "Tolerations", "\n".join(tol) if tol else NONE)


def _conditions_table(w: Writer, conds: Sequence[tuple[str, ...]], head: tuple[str, ...]) -> None:
    rows = [list(head), ["-" * len(h) for h in head], *[list(c) for c in conds]]
    widths = tables.widths(rows)
    for r in rows:
        w.raw("  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())


# kubectl describes events only when it describes one object (or --show-events says so):
# cmd/describe Run turns DescriberSettings.ShowEvents off for several.
SHOW_EVENTS: ContextVar[bool] = ContextVar("SHOW_EVENTS", default=True)


def events_for(st: State, obj: TypedObject) -> list[Event] | None:
    """The object's events, or None when they are not to be shown."""
    if not SHOW_EVENTS.get():
        return None
    uid = obj.metadata.uid
    ns = obj.metadata.namespace
    sel = f"involvedObject.uid={uid}" if uid else f"involvedObject.name={obj.metadata.name}"
    try:
        items = st.client.list_all(Event, ns, field_selector=sel).items
    except ApiError:
        return []
    return tables.sort_objects(resources.EVENTS, items)


def events_section(events: list[Event] | None) -> str:
    if events is None:
        return ""
    if not events:
        return "Events:  <none>\n"
    rows = [["Type", "Reason", "Age", "From", "Message"],
            ["----", "------", "----", "----", "-------"]]
    for e in events:
        age = since(printers.event_last_seen(e.to_dict()))
        if (e.count or 1) > 1 and e.first_timestamp:
            age = f"{age} (x{e.count} over {since(e.first_timestamp)})"
        src = (e.source.component if e.source else None) or e.reporting_component or ""
        if e.source and e.source.host:
            src += f", {e.source.host}"
        rows.append([e.type or "", e.reason or "", age, src, " ".join((e.message or "").split())])
    widths = tables.widths(rows)
    lines = ["  " + "  ".join(c.ljust(widths[i]) if i < 4 else c for i, c in enumerate(r))
             for r in rows]
    return "Events:\n" + "\n".join(line.rstrip() for line in lines) + "\n"


def _meta(w: Writer, obj: TypedObject, namespaced: bool) -> None:
    w.kv(0, "Name", obj.metadata.name)
    if namespaced:
        w.kv(0, "Namespace", obj.metadata.namespace)


def describe_pod(st: State, pod: Pod) -> str:
    w = Writer()
    _meta(w, pod, True)
    w.kv(0, "Priority", pod.spec.priority or 0)
    w.kv(0, "Service Account", pod.spec.service_account_name or "default")
    s = pod.status
    node = pod.spec.node_name
    w.kv(0, "Node", f"{node}/{s.host_ip}" if node and s and s.host_ip else (node or NONE))
    w.kv(0, "Start Time", fmt_time(s.start_time if s else None))
    w.map(0, "Labels", pod.metadata.labels)
    w.map(0, "Annotations", pod.metadata.annotations, ": ")
    status = printers.pod_status_reason(pod.to_dict())
    if pod.metadata.deletion_timestamp:
        status = (f"Terminating (lasts {since(pod.metadata.deletion_timestamp)})")
    w.kv(0, "Status", status)
    if s and s.reason:
        w.kv(0, "Reason", s.reason)
    if s and s.message:
        w.kv(0, "Message", s.message)
    w.kv(0, "IP", (s.pod_ip if s else None) or "")
    w.kv(0, "IPs", None if s and s.pod_ip else NONE)
    if s and s.pod_ip:
        for ip in s.pod_ips or [type("X", (), {"ip": s.pod_ip})()]:
            w.kv(1, "IP", ip.ip)
    ctl = _controlled_by(pod)
    if ctl:
        w.kv(0, "Controlled By", ctl)
    w.kv(0, "Containers")
    for c in pod.spec.containers:
        _container(w, 1, c, pod)
    if pod.spec.ephemeral_containers:
        w.kv(0, "Ephemeral Containers")
        for c in pod.spec.ephemeral_containers:
            _container(w, 1, c, pod)
    conds = (s.conditions if s else None) or []
    if conds:
        w.kv(0, "Conditions")
        _conditions_table(w, [(c.type, c.status) for c in conds], ("Type", "Status"))
    _volumes(w, 0, pod.spec.volumes)
    w.kv(0, "QoS Class", (s.qos_class if s else None) or "BestEffort")
    w.map(0, "Node-Selectors", pod.spec.node_selector)
    tol = [f"{t.key or ''}{(':' + t.effect) if t.effect else ''} op={t.operator or 'Equal'}"
           + (f" for {t.toleration_seconds}s" if t.toleration_seconds is not None else "")
           for t in pod.spec.tolerations or []]
    w.kv(0, "Tolerations", "\n".join(tol) if tol else NONE)
    return w.render() + events_section(events_for(st, pod))


def describe_deployment(st: State, dep: Deployment) -> str:
    w = Writer()
    _meta(w, dep, True)
    w.kv(0, "CreationTimestamp", fmt_time(dep.metadata.creation_timestamp))
    w.map(0, "Labels", dep.metadata.labels)
    w.map(0, "Annotations", {k: v for k, v in (dep.metadata.annotations or {}).items()
                             if k != LAST_APPLIED_CONFIG_ANNOTATION}, ": ")
    w.kv(0, "Selector", _selector(dep.spec.selector))
    s = dep.status
    desired = dep.spec.replicas if dep.spec.replicas is not None else 1
    w.kv(0, "Replicas", f"{desired} desired | {(s.updated_replicas if s else 0) or 0} updated | "
         f"{(s.replicas if s else 0) or 0} total | {(s.available_replicas if s else 0) or 0} "
         f"available | {(s.unavailable_replicas if s else 0) or 0} unavailable")
    strategy = dep.spec.strategy
    stype = (strategy.type if strategy else None) or "RollingUpdate"
    w.kv(0, "StrategyType", stype)
    w.kv(0, "MinReadySeconds", dep.spec.min_ready_seconds or 0)
    if stype == "RollingUpdate":
        ru = strategy.rolling_update if strategy else None
        mu = ru.max_unavailable if ru and ru.max_unavailable is not None else "25%"
        ms = ru.max_surge if ru and ru.max_surge is not None else "25%"
        w.kv(0, "RollingUpdateStrategy", f"{mu} max unavailable, {ms} max surge")
    if dep.spec.paused:
        w.kv(0, "Paused", "true")
    w.kv(0, "Pod Template")
    _template(w, 1, dep.spec.template)
    conds = (s.conditions if s else None) or []
    if conds:
        w.kv(0, "Conditions")
        _conditions_table(w, [(c.type, c.status, c.reason or "") for c in conds],
                          ("Type", "Status", "Reason"))
    rss = owned_replicasets(st, dep)
    current = max((revision_of(r) for r in rss), default=0)
    new = [r for r in rss if revision_of(r) == current and current]
    old = [r for r in rss if r not in new and (r.spec.replicas or 0) > 0]

    def rs_line(r: ReplicaSet) -> str:
        created = (r.status.replicas if r.status else 0) or 0
        return f"{r.metadata.name} ({created}/{r.spec.replicas or 0} replicas created)"

    w.kv(0, "OldReplicaSets", ", ".join(rs_line(r) for r in old) or NONE)
    w.kv(0, "NewReplicaSet", ", ".join(rs_line(r) for r in new) or NONE)
    return w.render() + events_section(events_for(st, dep))


def describe_replicaset(st: State, rs: ReplicaSet) -> str:
    w = Writer()
    _meta(w, rs, True)
    w.kv(0, "Selector", _selector(rs.spec.selector))
    w.map(0, "Labels", rs.metadata.labels)
    w.map(0, "Annotations", rs.metadata.annotations, ": ")
    ctl = _controlled_by(rs)
    if ctl:
        w.kv(0, "Controlled By", ctl)
    s = rs.status
    w.kv(0, "Replicas", f"{(s.replicas if s else 0) or 0} current / "
         f"{rs.spec.replicas if rs.spec.replicas is not None else 1} desired")
    w.kv(0, "Pods Status", _pods_status(st, rs))
    if rs.spec.template is not None:
        w.kv(0, "Pod Template")
        _template(w, 1, rs.spec.template)
    return w.render() + events_section(events_for(st, rs))


def _pods_status(st: State, owner: TypedObject) -> str:
    """kubectl's getPodStatusForController: the phases of the pods the owner controls."""
    pods = [p for p in st.client.list_all(Pod, owner.metadata.namespace).items
            if any(o.uid == owner.metadata.uid for o in p.metadata.owner_references or [])]
    phases = [(p.status.phase if p.status else None) or "Pending" for p in pods]
    return (f"{phases.count('Running')} Running / {phases.count('Pending')} Waiting / "
            f"{phases.count('Succeeded')} Succeeded / {phases.count('Failed')} Failed")


def describe_replicationcontroller(st: State, rc: ReplicationController) -> str:
    """kubectl's ReplicationControllerDescriber: a ReplicaSet's, with the selector a map."""
    w = Writer()
    _meta(w, rc, True)
    w.kv(0, "Selector", printers.format_labels(rc.spec.selector))
    w.map(0, "Labels", rc.metadata.labels)
    w.map(0, "Annotations", rc.metadata.annotations, ": ")
    s = rc.status
    w.kv(0, "Replicas", f"{(s.replicas if s else 0) or 0} current / "
         f"{rc.spec.replicas if rc.spec.replicas is not None else 1} desired")
    w.kv(0, "Pods Status", _pods_status(st, rc))
    if rc.spec.template is not None:
        w.kv(0, "Pod Template")
        _template(w, 1, rc.spec.template)
    return w.render() + events_section(events_for(st, rc))


def describe_daemonset(st: State, ds: DaemonSet) -> str:
    """kubectl's describeDaemonSet (the counts as plain lines, out of the tab layout)."""
    w = Writer()
    _meta(w, ds, True)
    w.kv(0, "Selector", _selector(ds.spec.selector))
    w.kv(0, "Node-Selector", printers.format_labels(ds.spec.template.spec.node_selector))
    w.map(0, "Labels", ds.metadata.labels)
    w.map(0, "Annotations", ds.metadata.annotations, ": ")
    s = ds.status
    for text, n in (("Desired Number of Nodes Scheduled", s.desired_number_scheduled if s else 0),
                    ("Current Number of Nodes Scheduled", s.current_number_scheduled if s else 0),
                    ("Number of Nodes Scheduled with Up-to-date Pods",
                     s.updated_number_scheduled if s else 0),
                    ("Number of Nodes Scheduled with Available Pods",
                     s.number_available if s else 0),
                    ("Number of Nodes Misscheduled", s.number_misscheduled if s else 0)):
        w.raw(f"{text}: {n or 0}")
    w.kv(0, "Pods Status", _pods_status(st, ds))
    _pod_template_with_placement(w, ds.spec.template)
    return _with_events(w, events_for(st, ds))


def describe_statefulset(st: State, sts: StatefulSet) -> str:
    """kubectl 1.37's describeStatefulSet: service name, pod management policy, replicas,
    update strategy (Partition, MaxUnavailable), the claims' retention policy, pods status,
    pod template, then describeVolumeClaimTemplates."""
    w = Writer()
    _meta(w, sts, True)
    w.kv(0, "CreationTimestamp", fmt_time(sts.metadata.creation_timestamp))
    w.kv(0, "Selector", _selector(sts.spec.selector))
    w.map(0, "Labels", sts.metadata.labels)
    w.map(0, "Annotations", {k: v for k, v in (sts.metadata.annotations or {}).items()
                             if k != LAST_APPLIED_CONFIG_ANNOTATION}, ": ")
    w.kv(0, "Service Name", sts.spec.service_name or "")
    w.kv(0, "Pod Management Policy", sts.spec.pod_management_policy or "")
    desired = sts.spec.replicas if sts.spec.replicas is not None else 1
    w.kv(0, "Replicas", f"{desired} desired | {sts.status.replicas if sts.status else 0} total")
    strategy = sts.spec.update_strategy
    w.kv(0, "Update Strategy", (strategy.type if strategy else None) or "RollingUpdate")
    ru = strategy.rolling_update if strategy else None
    if ru is not None and ru.partition is not None:
        w.kv(1, "Partition", ru.partition)
        if ru.max_unavailable is not None:
            w.kv(1, "MaxUnavailable", ru.max_unavailable)
    rp = sts.spec.persistent_volume_claim_retention_policy
    if rp is not None:
        w.kv(0, "Persistent Volume Claim Retention Policy")
        w.kv(1, "WhenDeleted", rp.when_deleted or "")
        w.kv(1, "WhenScaled", rp.when_scaled or "")
    w.kv(0, "Pods Status", _pods_status(st, sts))
    _pod_template_with_placement(w, sts.spec.template)
    claims = sts.spec.volume_claim_templates or []
    if not claims:
        w.kv(0, "Volume Claims", NONE)
    else:
        w.kv(0, "Volume Claims")
        for c in claims:
            md = c.get("metadata") or {}
            spec = c.get("spec") or {}
            w.kv(1, "Name", md.get("name") or "")
            cls = spec.get("storageClassName") or (md.get("annotations") or {}).get(
                "volume.beta.kubernetes.io/storage-class") or ""
            w.kv(1, "StorageClass", cls)
            w.map(1, "Labels", md.get("labels"))
            w.map(1, "Annotations", md.get("annotations"), ": ")
            storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
            w.kv(1, "Capacity", storage if storage is not None else "<default>")
            w.kv(1, "Access Modes", "[" + " ".join(spec.get("accessModes") or []) + "]")
    return _with_events(w, events_for(st, sts))


def _toleration(t: Toleration) -> str:
    """printTolerationsMultilineWithIndent's ``key=value:effect op=Exists for Ns``."""
    out = (t.key or "") + (f"={t.value}" if t.value else "") + (f":{t.effect}" if t.effect
                                                                 else "")
    if t.operator == "Exists" and not t.value:
        out += " op=Exists" if t.key or t.effect else "op=Exists"
    if t.toleration_seconds is not None:
        out += f" for {t.toleration_seconds}s"
    return out


def describe_node(st: State, node: Node) -> str:
    w = Writer()
    w.kv(0, "Name", node.metadata.name)
    w.kv(0, "Roles", printers.node_roles(node.to_dict()))
    w.map(0, "Labels", node.metadata.labels)
    w.map(0, "Annotations", node.metadata.annotations, ": ")
    w.kv(0, "CreationTimestamp", fmt_time(node.metadata.creation_timestamp))
    taints = [f"{t.key}{'=' + t.value if t.value else ''}:{t.effect}"
              for t in (node.spec.taints if node.spec else None) or []]
    w.kv(0, "Taints", "\n".join(taints) if taints else NONE)
    w.kv(0, "Unschedulable", str(bool(node.spec and node.spec.unschedulable)).lower())
    s = node.status
    conds = (s.conditions if s else None) or []
    if conds:
        w.kv(0, "Conditions")
        _conditions_table(w, [(c.type, c.status, fmt_time(c.last_heartbeat_time),
                               fmt_time(c.last_transition_time), c.reason or "",
                               c.message or "") for c in conds],
                          ("Type", "Status", "LastHeartbeatTime", "LastTransitionTime",
                           "Reason", "Message"))
    w.kv(0, "Addresses")
    for a in (s.addresses if s else None) or []:
        w.kv(1, a.type, a.address)
    w.section(0, "Capacity", s.capacity if s else None)
    w.section(0, "Allocatable", s.allocatable if s else None)
    info = s.node_info if s else None
    if info:
        w.kv(0, "System Info")
        for label, value in (("Machine ID", info.machine_id), ("Kernel Version",
                             info.kernel_version), ("OS Image", info.os_image),
                             ("Operating System", info.operating_system),
                             ("Architecture", info.architecture),
                             ("Container Runtime Version", info.container_runtime_version),
                             ("Kubelet Version", info.kubelet_version)):
            w.kv(1, label, value or "")
    spec = node.spec
    if spec is not None and spec.pod_cidr:  # describeNode: the node IPAM's allocation
        w.kv(0, "PodCIDR", spec.pod_cidr)
        w.kv(0, "PodCIDRs", ",".join(spec.pod_cidrs or []))
    if spec is not None and spec.provider_id:
        w.kv(0, "ProviderID", spec.provider_id)
    pods = st.client.list_all(Pod, None, field_selector=f"spec.nodeName={node.metadata.name}").items
    live = [p for p in pods if not (p.status and p.status.phase in ("Succeeded", "Failed"))]
    w.kv(0, "Non-terminated Pods", f"({len(live)} in total)")
    if live:
        rows = [("Namespace", "Name", "Age")] + [
            (p.metadata.namespace or "", p.metadata.name or "",
             since(p.metadata.creation_timestamp)) for p in live]
        _conditions_table(w, rows[1:], rows[0])
    return w.render() + events_section(events_for(st, node))


def describe_namespace(st: State, ns: Namespace) -> str:
    w = Writer()
    w.kv(0, "Name", ns.metadata.name)
    w.map(0, "Labels", ns.metadata.labels)
    w.map(0, "Annotations", ns.metadata.annotations, ": ")
    w.kv(0, "Status", (ns.status.phase if ns.status else None) or "Active")
    return w.render() + "\nNo resource quota.\n\nNo LimitRange resource.\n"


def describe_configmap(st: State, cm: ConfigMap) -> str:
    w = Writer()
    _meta(w, cm, True)
    w.map(0, "Labels", cm.metadata.labels)
    w.map(0, "Annotations", cm.metadata.annotations, ": ")
    w.raw("\nData\n====")
    for k, v in sorted((cm.data or {}).items()):
        w.raw(f"{k}:\n----\n{v}\n")
    w.raw("\nBinaryData\n====")
    for k, b in sorted((cm.binary_data or {}).items()):
        w.raw(f"{k}: {len(decode_bytes(b) or b'')} bytes")
    w.raw("")
    return w.render() + events_section(events_for(st, cm))


def describe_secret(st: State, secret: Secret) -> str:
    """Keys and sizes only: describe never shows a Secret's values."""
    w = Writer()
    _meta(w, secret, True)
    w.map(0, "Labels", secret.metadata.labels)
    w.map(0, "Annotations", secret.metadata.annotations, ": ")
    w.raw("")
    w.kv(0, "Type", secret.type or "")
    w.raw("\nData\n====")
    for k, b in sorted((secret.data or {}).items()):
        w.kv(0, k, f"{len(decode_bytes(b) or b'')} bytes")
    return w.render()


def describe_serviceaccount(st: State, sa: ServiceAccount) -> str:
    """kubectl's describeServiceAccount (1.37: the image pull secrets; mountable secrets and
    legacy tokens are no longer shown)."""
    w = Writer()
    _meta(w, sa, True)
    w.map(0, "Labels", sa.metadata.labels)
    _annotations(w, sa)
    pull = [r.name or "" for r in sa.image_pull_secrets or []]
    w.kv(0, "Image pull secrets", "\n".join(pull) if pull else NONE)
    return _with_events(w, events_for(st, sa))


def _annotations(w: Writer, obj: TypedObject) -> None:
    """printAnnotationsMultiline: every annotation but kubectl's last-applied one."""
    w.map(0, "Annotations", {k: v for k, v in (obj.metadata.annotations or {}).items()
                             if k != LAST_APPLIED_CONFIG_ANNOTATION}, ": ")


def _with_events(w: Writer, events: list[Event] | None) -> str:
    """DescribeEvents after a block: ``Events:  <none>`` aligned with the block above it."""
    if events is not None and not events:
        w.kv(0, "Events", NONE)
        return w.render()
    return w.render() + events_section(events)


def format_endpoint_slices(slices: Sequence[EndpointSlice], port_names: set[str] | None) -> str:
    """kubectl's formatEndpointSlices (describe.go): the ready endpoints' ``ip:port`` for the
    named service ports (all when ``port_names`` is None; just the IPs of a slice without
    ports), at most three, then `` + N more...``; ``<none>`` when there is no slice."""
    if not slices:
        return NONE
    shown: list[str] = []
    limit = 3
    more = False
    count = 0
    for sl in slices:
        if not sl.ports:
            targets: list[int | None] = [None]
        else:
            targets = [p.port for p in sl.ports
                       if port_names is None or (p.name or "") in port_names]
        for port in targets:
            for ep in sl.endpoints:
                if len(shown) == limit:
                    more = True
                ready = ep.conditions is None or ep.conditions.ready is None or ep.conditions.ready
                if not ready:
                    continue
                if not more:
                    addr = ep.addresses[0]
                    if port is None:
                        shown.append(addr)
                    else:
                        host = f"[{addr}]" if ":" in addr else addr
                        shown.append(f"{host}:{port}")
                count += 1
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if more else text


def describe_service(st: State, svc: Service) -> str:
    """kubectl's describeService (describe.go), endpoints from the Service's EndpointSlices
    (label ``kubernetes.io/service-name``) as kubectl 1.33+ reads them."""
    try:
        slices = list(st.client.list_all(EndpointSlice, svc.metadata.namespace,
                                         label_selector=f"{LABEL_SERVICE_NAME}="
                                                        f"{svc.metadata.name}").items)
    except ApiError:
        slices = []
    slices.sort(key=lambda s: s.metadata.name or "")
    spec = svc.spec
    w = Writer()
    _meta(w, svc, True)
    w.map(0, "Labels", svc.metadata.labels)
    _annotations(w, svc)
    w.kv(0, "Selector", ",".join(f"{k}={v}" for k, v in sorted((spec.selector or {}).items()))
         or NONE)
    w.kv(0, "Type", spec.type or "")
    if spec.ip_family_policy:
        w.kv(0, "IP Family Policy", spec.ip_family_policy)
    w.kv(0, "IP Families", ",".join(spec.ip_families or []) or NONE)
    w.kv(0, "IP", spec.cluster_ip or "")
    w.kv(0, "IPs", ",".join(spec.cluster_ips or []) or NONE)
    if spec.external_ips:
        w.kv(0, "External IPs", ",".join(spec.external_ips))
    if spec.load_balancer_ip:
        w.kv(0, "Desired LoadBalancer IP", spec.load_balancer_ip)
    if spec.external_name:
        w.kv(0, "External Name", spec.external_name)
    ingress = (svc.status.load_balancer.ingress if svc.status and svc.status.load_balancer
               else None) or []
    if ingress:
        w.kv(0, "LoadBalancer Ingress", ", ".join(
            (i.ip + (f" ({i.ip_mode})" if i.ip_mode else "")) if i.ip else (i.hostname or "")
            for i in ingress))
    for sp in spec.ports or []:
        name = sp.name or "<unset>"
        proto = sp.protocol or ""
        # Go's tabwriter pads the name cell, alone in its column, by two spaces.
        w.kv(0, "Port", f"{name}  {sp.port}/{proto}")
        target = sp.target_port if sp.target_port is not None else 0
        w.kv(0, "TargetPort", f"{target}/{proto}")
        if sp.app_protocol:
            w.kv(0, "AppProtocol", sp.app_protocol)
        if sp.node_port:
            w.kv(0, "NodePort", f"{name}  {sp.node_port}/{proto}")
        w.kv(0, "Endpoints", format_endpoint_slices(slices, {sp.name or ""}))
    w.kv(0, "Session Affinity", spec.session_affinity or "")
    if spec.external_traffic_policy:
        w.kv(0, "External Traffic Policy", spec.external_traffic_policy)
    if spec.internal_traffic_policy:
        w.kv(0, "Internal Traffic Policy", spec.internal_traffic_policy)
    if spec.health_check_node_port:
        w.kv(0, "HealthCheck NodePort", spec.health_check_node_port)
    if spec.load_balancer_source_ranges:
        w.kv(0, "LoadBalancer Source Ranges", ",".join(spec.load_balancer_source_ranges))
    traffic = (spec.model_extra or {}).get("trafficDistribution")
    if traffic:
        w.kv(0, "Traffic Distribution", traffic)
    return _with_events(w, events_for(st, svc))


def describe_endpoints(st: State, ep: Endpoints) -> str:
    """kubectl's describeEndpoints."""
    w = Writer()
    _meta(w, ep, True)
    w.map(0, "Labels", ep.metadata.labels)
    _annotations(w, ep)
    w.kv(0, "Subsets")
    for ss in ep.subsets or []:
        w.kv(1, "Addresses", ",".join(a.ip for a in ss.addresses or []) or NONE)
        w.kv(1, "NotReadyAddresses", ",".join(a.ip for a in ss.not_ready_addresses or [])
             or NONE)
        if ss.ports:
            w.kv(1, "Ports")
            rows = [(p.name or "<unset>", str(p.port), p.protocol or "") for p in ss.ports]
            table = [["Name", "Port", "Protocol"], ["----", "----", "--------"],
                     *[list(r) for r in rows]]
            widths = tables.widths(table)
            for r in table:
                w.raw("    " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
        w.raw("")
    return _with_events(w, events_for(st, ep))


def tabwrite(text: str, padding: int = 2) -> str:
    """Go's text/tabwriter as kubectl's describers use it (minwidth 0, padding 2, flags 0):
    a column's cells line up over each run of lines that have a tab-terminated cell in it."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []

    def emit(a: int, b: int, widths: list[int]) -> None:
        for cells in lines[a:b]:
            parts = []
            for j, c in enumerate(cells):
                parts.append(c.ljust(widths[j]) if j < len(widths) and j < len(cells) - 1
                             else c)
            out.append("".join(parts))

    def fmt(a: int, b: int, widths: list[int]) -> None:
        col = len(widths)
        i = a
        while i < b:
            if col >= len(lines[i]) - 1:
                i += 1
                continue
            emit(a, i, widths)
            a = i
            width = 0
            while i < b and col < len(lines[i]) - 1:
                width = max(width, len(lines[i][col]) + padding)
                i += 1
            fmt(a, i, [*widths, width])
            a = i
        emit(a, b, widths)

    fmt(0, len(lines), [])
    return "\n".join(out)


def _direction_behavior(lines: list[str], direction: str, rules: HPAScalingRules | None
                        ) -> None:
    """printDirectionBehavior."""
    if rules is None:
        return
    lines.append(f"  {direction}:")
    if rules.stabilization_window_seconds is not None:
        lines.append(f"    Stabilization Window: {rules.stabilization_window_seconds} seconds")
    if rules.policies:
        lines.append(f"    Select Policy: {rules.select_policy or 'Max'}")
        lines.append("    Policies:")
        lines.extend(f"      - Type: {p.type}\tValue: {p.value}\tPeriod: {p.period_seconds} "
                     f"seconds" for p in rules.policies)


def describe_hpa(st: State, hpa: HorizontalPodAutoscaler) -> str:
    """describeHorizontalPodAutoscalerV2 (k8s.io/kubectl/pkg/describe/describe.go), laid out
    by the same tabwriter rules."""
    md = hpa.metadata
    lines = [f"Name:\t{md.name}", f"Namespace:\t{md.namespace}"]
    for title, data, sep in (("Labels", md.labels, "="), ("Annotations", md.annotations, ": ")):
        items = [f"{k}{sep}{v}" for k, v in sorted((data or {}).items())] or [NONE]
        lines.append(f"{title}:\t{items[0]}")
        lines.extend(f"\t{i}" for i in items[1:])
    lines.append(f"CreationTimestamp:\t{fmt_time(md.creation_timestamp)}")
    ref = hpa.spec.scale_target_ref
    lines += [f"Reference:\t{ref.kind}/{ref.name}", "Metrics:\t( current / target )"]
    cur = (hpa.status.current_metrics if hpa.status else None) or []
    for i, m in enumerate(hpa.spec.metrics or []):
        src = m.resource or m.container_resource
        if src is None:
            lines.append(f"  {m.type} metric:\t<unknown> / <unknown>")
            continue
        on = "on pods" if m.container_resource is None else \
            f"of container \"{m.container_resource.container}\" on pods"
        now = None
        if i < len(cur):
            st_ = cur[i].resource or cur[i].container_resource
            now = st_.current if st_ is not None else None
        if src.target.average_value is not None:
            current = (now.average_value if now else None) or "<unknown>"
            lines.append(f"  resource {src.name} {on}:\t{current} / "
                         f"{src.target.average_value}")
        else:
            current = "<unknown>"
            if now is not None and now.average_utilization is not None:
                current = f"{now.average_utilization}% ({now.average_value or 0})"
            target = "<auto>" if src.target.average_utilization is None else \
                f"{src.target.average_utilization}%"
            lines.append(f"  resource {src.name} {on}  (as a percentage of request):\t"
                         f"{current} / {target}")
    mn = hpa.spec.min_replicas
    lines.append(f"Min replicas:\t{'<unset>' if mn is None else mn}")
    lines.append(f"Max replicas:\t{hpa.spec.max_replicas}")
    b = hpa.spec.behavior
    if b is not None:
        lines.append("Behavior:")
        _direction_behavior(lines, "Scale Up", b.scale_up)
        _direction_behavior(lines, "Scale Down", b.scale_down)
    s = hpa.status
    lines.append(f"{ref.kind} pods:\t{(s.current_replicas if s else 0) or 0} current / "
                 f"{(s.desired_replicas if s else 0) or 0} desired")
    conds = (s.conditions if s else None) or []
    if conds:
        lines += ["Conditions:", "  Type\tStatus\tReason\tMessage",
                  "  ----\t------\t------\t-------"]
        lines.extend(f"  {c.type}\t{c.status}\t{c.reason or ''}\t{c.message or ''}"
                     for c in conds)
    events = events_for(st, hpa)
    if events is not None and not events:
        lines.append("Events:\t<none>")
        events = None
    return tabwrite("\n".join(lines)) + "\n" + events_section(events)

def describe_cronjob(st: State, cj: CronJob) -> str:
    """kubectl's describeCronJob (with describeJobTemplate and printActiveJobs)."""
    w = Writer()
    _meta(w, cj, True)
    w.map(0, "Labels", cj.metadata.labels)
    _annotations(w, cj)
    spec = cj.spec
    w.kv(0, "Schedule", spec.schedule)
    w.kv(0, "Concurrency Policy", spec.concurrency_policy or "")
    w.kv(0, "Suspend", "<unset>" if spec.suspend is None else str(spec.suspend))
    w.kv(0, "Time Zone", spec.time_zone if spec.time_zone is not None else "<unset>")

    def opt(v: int | None, unit: str = "") -> str:
        return "<unset>" if v is None else f"{v}{unit}"

    w.kv(0, "Successful Job History Limit", opt(spec.successful_jobs_history_limit))
    w.kv(0, "Failed Job History Limit", opt(spec.failed_jobs_history_limit))
    w.kv(0, "Starting Deadline Seconds", opt(spec.starting_deadline_seconds, "s"))
    jspec = spec.job_template.spec
    w.kv(0, "Selector", _selector(jspec.selector) if jspec and jspec.selector else "<unset>")
    w.kv(0, "Parallelism", opt(jspec.parallelism if jspec else None))
    w.kv(0, "Completions", opt(jspec.completions if jspec else None))
    if jspec is not None and jspec.active_deadline_seconds is not None:
        w.kv(0, "Active Deadline Seconds", f"{jspec.active_deadline_seconds}s")
    if jspec is not None:
        w.kv(0, "Pod Template")
        _template(w, 1, jspec.template)
    last = cj.status.last_schedule_time if cj.status else None
    w.kv(0, "Last Schedule Time", fmt_time(last) if last else "<unset>")
    active = (cj.status.active if cj.status else None) or []
    w.kv(0, "Active Jobs", ", ".join(r.name or "" for r in active) or NONE)
    return _with_events(w, events_for(st, cj))


def _cap_indexes(text: str | None, cap: int = 50) -> str:
    """capIndexesListOrNone: the indexes list cut after ``cap`` characters at a comma."""
    if not text:
        return NONE
    if len(text) <= cap:
        return text
    cut = text[:cap]
    return cut[:cut.rfind(",")] + ",..." if "," in cut else cut + "..."


def describe_job(st: State, job: Job) -> str:
    """kubectl's describeJob."""
    w = Writer()
    _meta(w, job, True)
    w.kv(0, "Selector", _selector(job.spec.selector))
    w.map(0, "Labels", job.metadata.labels)
    _annotations(w, job)
    ctl = _controlled_by(job)
    if ctl:
        w.kv(0, "Controlled By", ctl)
    spec = job.spec
    if spec.parallelism is not None:
        w.kv(0, "Parallelism", spec.parallelism)
    w.kv(0, "Completions", spec.completions if spec.completions is not None else "<unset>")
    if spec.completion_mode is not None:
        w.kv(0, "Completion Mode", spec.completion_mode)
    if spec.suspend is not None:
        w.kv(0, "Suspend", str(spec.suspend).lower())
    if spec.backoff_limit is not None:
        w.kv(0, "Backoff Limit", spec.backoff_limit)
    if spec.ttl_seconds_after_finished is not None:
        w.kv(0, "TTL Seconds After Finished", spec.ttl_seconds_after_finished)
    st_ = job.status
    start = st_.start_time if st_ else None
    done = st_.completion_time if st_ else None
    if start:
        w.kv(0, "Start Time", fmt_time(start))
    if done:
        w.kv(0, "Completed At", fmt_time(done))
    if start and done:
        w.kv(0, "Duration", printers.job_duration(output.wire(resources.JOBS, job)))
    if spec.active_deadline_seconds is not None:
        w.kv(0, "Active Deadline Seconds", f"{spec.active_deadline_seconds}s")
    active = (st_.active if st_ else None) or 0
    succeeded = (st_.succeeded if st_ else None) or 0
    failed = (st_.failed if st_ else None) or 0
    ready = st_.ready if st_ else None
    if ready is None:
        w.kv(0, "Pods Statuses", f"{active} Active / {succeeded} Succeeded / {failed} Failed")
    else:
        w.kv(0, "Pods Statuses", f"{active} Active ({ready} Ready) / {succeeded} Succeeded / "
             f"{failed} Failed")
    if spec.completion_mode == "Indexed":
        w.kv(0, "Completed Indexes", _cap_indexes(st_.completed_indexes if st_ else None))
        if spec.backoff_limit_per_index is not None:
            w.kv(0, "Failed Indexes", _cap_indexes(st_.failed_indexes if st_ else None))
    w.kv(0, "Pod Template")
    _template(w, 1, spec.template)
    return _with_events(w, events_for(st, job))


def describe_generic(st: State, info: ResourceInfo, obj: TypedObject) -> str:
    body = output.dump_yaml(output.wire(info, obj))
    text = "\n".join("  " + line for line in body.splitlines())
    return f"Name:         {obj.metadata.name}\n" + (
        f"Namespace:    {obj.metadata.namespace}\n" if info.namespaced else "") + (
        f"Object:\n{text}\n")


_ACRONYMS = ("API", "URL", "UID", "OSB", "GUID")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+|[^A-Za-z0-9]+")
_SKIP_FIELDS = (".metadata.managedFields", ".metadata.name", ".metadata.namespace",
                ".metadata.labels", ".metadata.annotations")


def smart_label(field: str) -> str:
    """kubectl's smartLabelFor: ``creationTimestamp`` -> ``Creation Timestamp``, ``uid`` ->
    ``UID``; a name with characters other than letters and '-' unchanged."""
    if any(not (c.isalpha() or c == "-") for c in field):
        return field
    parts = [p for p in _CAMEL.findall(field) if p != "_"]
    return " ".join(p.upper() if p.upper() in _ACRONYMS else p[:1].upper() + p[1:]
                    for p in parts)


def _go_value(v: object) -> str:
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _unstructured(w: Writer, level: int, content: dict[str, object], prefix: str) -> None:
    """printUnstructuredContent: fields sorted, maps and lists as indented sections."""
    for field in sorted(content):
        value = content[field]
        path = f"{prefix}.{field}"
        if path in _SKIP_FIELDS:
            continue
        if isinstance(value, dict):
            w.kv(level, smart_label(field))
            _unstructured(w, level + 1, value, path)
        elif isinstance(value, list):
            w.kv(level, smart_label(field))
            for child in value:
                if isinstance(child, dict):
                    _unstructured(w, level + 1, child, path)
                else:
                    w.raw("  " * (level + 1) + _go_value(child))
        else:
            w.kv(level, smart_label(field), _go_value(value))


def describe_custom(st: State, info: ResourceInfo, obj: TypedObject) -> str:
    """kubectl's genericDescriber, for kinds the server's discovery named (custom
    resources): name, namespace, labels, annotations, then every other field."""
    w = Writer()
    w.kv(0, "Name", obj.metadata.name)
    w.kv(0, "Namespace", obj.metadata.namespace or "")
    w.map(0, "Labels", obj.metadata.labels)
    _annotations(w, obj)
    _unstructured(w, 0, output.wire(info, obj), "")
    return _with_events(w, events_for(st, obj))


# Describers of kinds kept in modules of their own (cli/describe_rbac.py), by model class.
EXTRA_DESCRIBERS: dict[type, Callable[[State, TypedObject], str]] = {}


def describe_object(st: State, info: ResourceInfo, obj: TypedObject) -> str:
    if isinstance(obj, Pod):
        return describe_pod(st, obj)
    if isinstance(obj, Deployment):
        return describe_deployment(st, obj)
    if isinstance(obj, ReplicaSet):
        return describe_replicaset(st, obj)
    if isinstance(obj, ReplicationController):
        return describe_replicationcontroller(st, obj)
    if isinstance(obj, DaemonSet):
        return describe_daemonset(st, obj)
    if isinstance(obj, StatefulSet):
        return describe_statefulset(st, obj)
    if isinstance(obj, Node):
        return describe_node(st, obj)
    if isinstance(obj, Namespace):
        return describe_namespace(st, obj)
    if isinstance(obj, ConfigMap):
        return describe_configmap(st, obj)
    if isinstance(obj, Secret):
        return describe_secret(st, obj)
    if isinstance(obj, ServiceAccount):
        return describe_serviceaccount(st, obj)
    if isinstance(obj, Service):
        return describe_service(st, obj)
    if isinstance(obj, Endpoints):
        return describe_endpoints(st, obj)
    if isinstance(obj, HorizontalPodAutoscaler):
        return describe_hpa(st, obj)
    if isinstance(obj, CronJob):
        return describe_cronjob(st, obj)
    if isinstance(obj, Job):
        return describe_job(st, obj)
    extra = EXTRA_DESCRIBERS.get(type(obj))
    if extra is not None:
        return extra(st, obj)
    if info in resources.discovered():
        return describe_custom(st, info, obj)
    return describe_generic(st, info, obj)


def _find(st: State, info: ResourceInfo, name: str) -> list[TypedObject]:
    """The object called ``name``, or else those whose names start with it (as kubectl)."""
    ns = st.namespace if info.namespaced else None
    try:
        return [st.client.get(info.model, name, ns)]
    except NotFound as exc:
        matches = [o for o in st.client.list_all(info.model, ns).items
                   if (o.metadata.name or "").startswith(name)]
        if not matches:
            raise exc from None
        return sorted(matches, key=lambda o: o.metadata.name or "")


@click.command("describe")
@click.argument("args", nargs=-1, required=True)
@click.option("-l", "--selector", help="Describe the objects matching this label selector.")
@click.option("-A", "--all-namespaces", is_flag=True, help="Across all namespaces.")
@click.option("--show-events", type=bool, default=None, metavar="BOOL",
              help="Show events (default: when one object is described).")
@common
def describe_cmd(args: tuple[str, ...], selector: str | None, all_namespaces: bool,
                 show_events: bool | None) -> None:
    """Show details of resources, with their events.

    \b
    Examples:
      minictl describe deployment nginx
      minictl describe pod/nginx-7c5ddbdf54-abcde
      minictl describe pods -l app=nginx
      minictl describe node node-1
      minictl describe service nginx
    """
    st = state()
    found: list[tuple[ResourceInfo, TypedObject]] = []
    failed = False
    if all("/" in a for a in args):
        refs = [split_ref(a) for a in args]
    elif any("/" in a for a in args):
        raise CliError("there is no need to specify a resource type as a separate argument "
                       "when passing arguments in resource/name form")
    else:
        info = resolve_kind(args[0])
        refs = [(info, n) for n in args[1:]]
        if not refs:
            ns = None if (all_namespaces or not info.namespaced) else st.namespace
            items = st.client.list_all(info.model, ns, label_selector=selector).items
            if not items:
                click.echo(f"No resources found in {st.namespace} namespace."
                           if info.namespaced and not all_namespaces else "No resources found",
                           err=True)
                return
            found = [(info, o) for o in tables.sort_objects(info, list(items))]
    for info, name in refs:
        try:
            found.extend((info, o) for o in _find(st, info, name))
        except NotFound as exc:
            click.echo(format_api_error(exc, st.server), err=True)
            failed = True
    token = SHOW_EVENTS.set(show_events if show_events is not None else len(found) <= 1)
    try:
        texts = [describe_object(st, info, obj) for info, obj in found]
    finally:
        SHOW_EVENTS.reset(token)
    if texts:
        # Each text ends its last line; kubectl puts "\n\n" between two.
        click.echo("\n\n".join(t if t.endswith("\n") else t + "\n" for t in texts), nl=False)
    if failed:
        raise SystemExit(1)


__all__ = ["describe_cmd", "describe_template", "resources"]
