"""What kubectl prints about an object, as pure functions over wire dicts.

Ported from Kubernetes' pkg/printers/internalversion/printers.go (printPod,
printNode, getNodeStatus/findNodeRoles, printEvent) and
k8s.io/apimachinery/pkg/apis/meta/v1 FormatLabelSelector (over ``api.labels``). The API server's
Table rows (``apiserver.strategies``) and minictl's describe both use them, so
a pod's STATUS or a node's ROLES reads the same everywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from api.base import dig
from api.labels import SelectorError, from_label_selector
from api.timeutil import human_duration, parse_time, since
from api.wellknown import NODE_ROLE_LABEL_PREFIX

JSONDict = dict[str, Any]

NONE = "<none>"
UNKNOWN = "<unknown>"


def or_none(s: str | None) -> str:
    return s if s else NONE


def or_unknown(s: str | None) -> str:
    """printNode's wide OS-IMAGE, KERNEL-VERSION and CONTAINER-RUNTIME when not reported."""
    return s if s else UNKNOWN


# ---- pods (printPod) ---------------------------------------------------------------


class PodSummary(NamedTuple):
    ready: int
    total: int
    reason: str  # the STATUS column
    restarts: int
    last_restart: str | None  # the newest lastState.terminated.finishedAt counted


def _later(a: str | None, b: str | None) -> str | None:
    if not b:
        return a
    return b if not a or parse_time(b) > parse_time(a) else a


def pod_summary(pod: JSONDict) -> PodSummary:
    """printPod's READY, STATUS and RESTARTS inputs: sidecars (restartable init
    containers) count towards ready/total and restarts, SchedulingGated shows as such,
    waiting/terminated reasons win over the phase, Terminating/Unknown while deleted."""
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

    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, cs in enumerate(init_statuses):
        restarts += int(cs.get("restartCount") or 0)
        finished = dig(cs, "lastState", "terminated", "finishedAt")
        last_restart = _later(last_restart, finished)
        if restartable(cs.get("name")):
            sidecar_restarts += int(cs.get("restartCount") or 0)
            sidecar_last_restart = _later(sidecar_last_restart, finished)
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
            last_restart = _later(last_restart, dig(cs, "lastState", "terminated", "finishedAt"))
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
    return PodSummary(ready, total, reason, restarts, last_restart)


def pod_status_reason(pod: JSONDict) -> str:
    """The STATUS column of ``kubectl get pods``."""
    return pod_summary(pod).reason


def pod_ready(pod: JSONDict) -> str:
    """The READY column: ``ready/total`` containers, sidecars included."""
    s = pod_summary(pod)
    return f"{s.ready}/{s.total}"


def format_restarts(s: PodSummary, now: datetime | None = None) -> str:
    """The RESTARTS column: ``3 (5m ago)`` once a container has restarted."""
    if s.restarts and s.last_restart:
        return f"{s.restarts} ({since(s.last_restart, now)} ago)"
    return str(s.restarts)


def pod_restarts(pod: JSONDict, now: datetime | None = None) -> str:
    return format_restarts(pod_summary(pod), now)


def pod_ip(pod: JSONDict) -> str | None:
    """The first of status.podIPs, else status.podIP."""
    status = pod.get("status") or {}
    ips = status.get("podIPs") or []
    return (ips[0].get("ip") if ips else None) or status.get("podIP")


def pod_readiness_gates(pod: JSONDict) -> str:
    """READINESS GATES: ``met/declared``, or <none>."""
    gates = dig(pod, "spec", "readinessGates") or []
    if not gates:
        return NONE
    true_types = {c.get("type") for c in dig(pod, "status", "conditions") or []
                  if c.get("status") == "True"}
    return f"{sum(1 for g in gates if g.get('conditionType') in true_types)}/{len(gates)}"


# ---- workloads ---------------------------------------------------------------------


def format_label_selector(selector: JSONDict | None) -> str:
    """metav1.FormatLabelSelector: LabelSelectorAsSelector(selector).String() (requirements
    sorted by key, ``app=web,tier in (a,b)``), ``<none>`` when that is empty (a nil or empty
    selector) and ``<error>`` for a selector that does not convert."""
    try:
        text = str(from_label_selector(selector))
    except SelectorError:
        return "<error>"
    return text or NONE


def containers_and_images(pod_spec: JSONDict) -> tuple[str, str]:
    """CONTAINERS and IMAGES of a pod template: names and images, comma-joined."""
    containers = pod_spec.get("containers") or []
    return (",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers))


# ---- nodes -------------------------------------------------------------------------


def node_status(node: JSONDict) -> str:
    """getNodeStatus: Ready / NotReady / Unknown, plus SchedulingDisabled."""
    states: list[str] = []
    for cond in dig(node, "status", "conditions") or []:
        if cond.get("type") == "Ready":
            states = ["Ready" if cond.get("status") == "True" else "NotReady"]
    if not states:
        states = ["Unknown"]
    if dig(node, "spec", "unschedulable"):
        states.append("SchedulingDisabled")
    return ",".join(states)


def node_roles(node: JSONDict) -> str:
    """findNodeRoles: ``node-role.kubernetes.io/<role>`` labels and ``kubernetes.io/role``."""
    labels = dig(node, "metadata", "labels") or {}
    roles = sorted(
        {k[len(NODE_ROLE_LABEL_PREFIX):] for k in labels
         if k.startswith(NODE_ROLE_LABEL_PREFIX) and k != NODE_ROLE_LABEL_PREFIX}
        | ({labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role") else set()))
    return ",".join(roles) or NONE


def node_address(node: JSONDict, kind: str) -> str:
    """The node's first address of type ``kind`` (InternalIP, ExternalIP ...), or <none>."""
    return next((a.get("address", "") for a in dig(node, "status", "addresses") or []
                 if a.get("type") == kind), NONE)


# ---- events (printEvent) -----------------------------------------------------------


def event_first_seen(ev: JSONDict) -> str | None:
    return ev.get("firstTimestamp") or ev.get("eventTime")


def event_last_seen(ev: JSONDict) -> str | None:
    """The series' last observation, else lastTimestamp, else the first sighting."""
    series = ev.get("series")
    if isinstance(series, dict):
        return series.get("lastObservedTime")
    return ev.get("lastTimestamp") or event_first_seen(ev)


def event_count(ev: JSONDict) -> int:
    count = ev.get("count") or 1
    series = ev.get("series")
    if isinstance(series, dict):
        count = series.get("count") or count
    return int(count)


def event_object(ev: JSONDict) -> str:
    """OBJECT: ``kind/name`` of the involved object, kind in lower case."""
    involved = ev.get("involvedObject") or {}
    kind = str(involved.get("kind") or "").lower()
    return f"{kind}/{involved['name']}" if involved.get("name") else kind


def event_source(ev: JSONDict) -> str:
    """SOURCE: ``component, host`` (the reporting controller and instance if unset)."""
    source = ev.get("source") or {}
    component = source.get("component") or ev.get("reportingComponent") or ""
    host = source.get("host") or ev.get("reportingInstance") or ""
    return f"{component}, {host}" if host else component


# ---- services (printService, printEndpoints, printEndpointSlice) ----------------------


def format_labels(labels: JSONDict | None) -> str:
    """labels.FormatLabels: ``k=v`` sorted by key and comma-joined, <none> when empty."""
    if not labels:
        return NONE
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def service_ports(ports: list[JSONDict] | None) -> str:
    """makePortString: ``80/TCP``, ``80:30080/TCP`` with a nodePort, comma-joined."""
    pieces = []
    for p in ports or []:
        proto = p.get("protocol") or "TCP"
        if p.get("nodePort"):
            pieces.append(f"{p.get('port')}:{p['nodePort']}/{proto}")
        else:
            pieces.append(f"{p.get('port')}/{proto}")
    return ",".join(pieces)


def _load_balancer_ips(svc: JSONDict, wide: bool) -> str:
    """loadBalancerStatusStringer: ingress IPs / hostnames; past 16 characters cut to
    13 plus ``...`` unless wide."""
    out = []
    for ing in dig(svc, "status", "loadBalancer", "ingress") or []:
        if ing.get("ip"):
            out.append(ing["ip"])
        elif ing.get("hostname"):
            out.append(ing["hostname"])
    r = ",".join(out)
    if not wide and len(r) > 16:
        r = r[:13] + "..."
    return r


def service_external_ip(svc: JSONDict, wide: bool = False) -> str:
    """getServiceExternalIP: the EXTERNAL-IP column of ``kubectl get svc``."""
    spec = svc.get("spec") or {}
    typ = spec.get("type") or "ClusterIP"
    external = [str(x) for x in spec.get("externalIPs") or []]
    if typ in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else NONE
    if typ == "LoadBalancer":
        lb = _load_balancer_ips(svc, wide)
        if external:
            return ",".join(([*lb.split(",")] if lb else []) + external)
        return lb or "<pending>"
    if typ == "ExternalName":
        return str(spec.get("externalName") or "")
    return UNKNOWN


def service_cluster_ip(svc: JSONDict) -> str:
    """CLUSTER-IP: the first of spec.clusterIPs, else <none>."""
    ips = dig(svc, "spec", "clusterIPs") or []
    return str(ips[0]) if ips else NONE


def _with_more(items: list[str], count: int, cap: int, empty: str) -> str:
    """listWithMoreString: the first ``cap`` items and `` + N more...``."""
    ret = ",".join(items)
    if count > cap:
        return f"{ret} + {count - cap} more..."
    return ret or empty


def _host_port(ip: str, port: Any) -> str:
    """net.JoinHostPort: IPv6 addresses in brackets."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def format_endpoints(endpoints: JSONDict, port_names: set[str] | None = None) -> str:
    """formatEndpoints: ``ip:port`` per ready address and port (bare IPs for a subset
    without ports), at most three and `` + N more...``, <none> when empty."""
    subsets = endpoints.get("subsets") or []
    if not subsets:
        return NONE
    cap = 3
    items: list[str] = []
    count = 0
    for ss in subsets:
        addresses = [a.get("ip", "") for a in ss.get("addresses") or []]
        ports = ss.get("ports") or []
        if not ports:
            count += len(addresses)
            items.extend(addresses[: cap - len(items)] if len(items) < cap else [])
            continue
        for p in ports:
            if port_names is not None and (p.get("name") or "") not in port_names:
                continue
            count += len(addresses)
            for ip in addresses:
                if len(items) == cap:
                    break
                items.append(_host_port(ip, p.get("port")))
    return _with_more(items, count, cap, NONE)


def format_slice_ports(ports: list[JSONDict] | None) -> str:
    """formatDiscoveryPorts: port numbers (the name when unset, ``*`` without either),
    at most three, <unset> when none."""
    items: list[str] = []
    for p in ports or []:
        if len(items) < 3:
            if p.get("port") is not None:
                items.append(str(p["port"]))
            elif p.get("name") is not None:
                items.append(str(p["name"]))
            else:
                items.append("*")
    return _with_more(items, len(ports or []), 3, "<unset>")


def format_slice_endpoints(endpoints: list[JSONDict] | None) -> str:
    """formatDiscoveryEndpoints: every endpoint's addresses, at most three, <unset>."""
    items: list[str] = []
    count = 0
    for ep in endpoints or []:
        for a in ep.get("addresses") or []:
            if len(items) < 3:
                items.append(str(a))
            count += 1
    return _with_more(items, count, 3, "<unset>")


# ---- jobs (printJob) -----------------------------------------------------------------


def _job_condition_true(status: JSONDict, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in status.get("conditions") or [] if isinstance(c, dict))


def job_status(job: JSONDict) -> str:
    """printJob's STATUS: the first of Complete, Failed, Terminating, Suspended,
    FailureTarget, SuccessCriteriaMet that holds, else Running."""
    status = job.get("status") or {}
    if _job_condition_true(status, "Complete"):
        return "Complete"
    if _job_condition_true(status, "Failed"):
        return "Failed"
    if dig(job, "metadata", "deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if _job_condition_true(status, kind):
            return kind
    return "Running"


def job_completions(job: JSONDict) -> str:
    """printJob's COMPLETIONS: ``succeeded/completions``, or ``n/1 of P`` for a work queue
    Job (no completions) with parallelism above 1."""
    spec = job.get("spec") or {}
    succeeded = int((job.get("status") or {}).get("succeeded") or 0)
    if spec.get("completions") is not None:
        return f"{succeeded}/{spec['completions']}"
    parallelism = int(spec.get("parallelism") or 0)
    if parallelism > 1:
        return f"{succeeded}/1 of {parallelism}"
    return f"{succeeded}/1"


def job_duration(job: JSONDict, now: datetime | None = None) -> str:
    """printJob's DURATION: start to completion, or to now while it runs; empty before
    it starts."""
    status = job.get("status") or {}
    start = status.get("startTime")
    if not start:
        return ""
    done = status.get("completionTime")
    if not done:
        return since(start, now)
    try:
        return human_duration((parse_time(done) - parse_time(start)).total_seconds())
    except ValueError:
        return ""
