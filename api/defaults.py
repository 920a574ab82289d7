"""Kubernetes' defaulting (SetDefaults_*) on wire dicts, in place.

The API server applies these before validation on create and update, so stored
objects always carry the defaults; clients may call them too to predict what the
server will store.  Defaulting never overwrites a value that is present.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.podutil import qos_class
from api.volumes import VOLUME_SOURCES

__all__ = [
    "add_default_tolerations",
    "apply_defaults",
    "default_image_pull_policy",
    "default_pod_spec",
    "prepare_pod_status_for_create",
]

JSON = dict[str, Any]


def _obj(d: JSON, key: str) -> JSON:
    """``d[key]`` as a dict, created when missing or null."""
    v = d.get(key)
    if not isinstance(v, dict):
        v = {}
        d[key] = v
    return v


def _items(v: Any) -> list[Any]:
    """The elements of a list; anything else has none (validation reports the shape)."""
    return v if isinstance(v, list) else []


def default_image_pull_policy(image: str | None) -> str:
    """Always for ``:latest`` or an untagged image, IfNotPresent otherwise; digests pin."""
    if not image:
        return "IfNotPresent"
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "Always"
    return "Always" if last.rsplit(":", 1)[1] == "latest" else "IfNotPresent"


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def _default_container(c: Any) -> None:
    if not isinstance(c, dict):
        return
    if not c.get("imagePullPolicy"):
        image = c.get("image")
        c["imagePullPolicy"] = default_image_pull_policy(image if isinstance(image, str) else None)
    # Go encodes the non-pointer struct as {}, so Kubernetes always shows it.
    if not isinstance(c.get("resources"), dict):
        c["resources"] = {}
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    for p in _items(c.get("ports")):
        if isinstance(p, dict) and not p.get("protocol"):
            p["protocol"] = "TCP"
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(key))
    res = c.get("resources")
    if isinstance(res, dict):
        # Requests default to limits for every resource that sets only a limit.
        limits = res.get("limits")
        if isinstance(limits, dict) and limits:
            requests = _obj(res, "requests")
            for name, value in limits.items():
                requests.setdefault(name, value)
    for e in _items(c.get("env")):
        vf = e.get("valueFrom") if isinstance(e, dict) else None
        ref = vf.get("fieldRef") if isinstance(vf, dict) else None
        if isinstance(ref, dict):
            ref.setdefault("apiVersion", "v1")


def default_pod_spec(spec: JSON) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    for c in _items(spec.get("containers")):
        _default_container(c)
    for c in _items(spec.get("initContainers")):
        _default_container(c)
    for c in _items(spec.get("ephemeralContainers")):
        _default_container(c)  # SetDefaults_EphemeralContainer
    for v in _items(spec.get("volumes")):
        if not isinstance(v, dict):
            continue
        # A volume with no source is an emptyDir (SetDefaults_Volume).
        if not any(k in v for k in VOLUME_SOURCES):
            v["emptyDir"] = {}
        hp = v.get("hostPath")
        if isinstance(hp, dict):
            hp.setdefault("type", "")


# Kubernetes' DefaultTolerationSeconds admission plugin.  Not applied by apply_defaults:
# in minik8s the node lifecycle controller applies its own default
# (--default-unreachable-toleration-seconds) to pods without such a toleration, and
# stamping 300 s into every pod here would override that setting.
DEFAULT_NOT_READY_TOLERATION_SECONDS = 300
_DEFAULT_TOLERATION_KEYS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def _tolerates_no_execute(tolerations: list[Any], key: str) -> bool:
    for t in tolerations:
        if not isinstance(t, dict) or t.get("effect") not in (None, "", "NoExecute"):
            continue
        if t.get("key") == key or (not t.get("key") and t.get("operator") == "Exists"):
            return True
    return False


def add_default_tolerations(spec: JSON) -> None:
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = []
    if not isinstance(tolerations, list):
        return
    for key in _DEFAULT_TOLERATION_KEYS:
        if not _tolerates_no_execute(tolerations, key):
            tolerations.append({
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_NOT_READY_TOLERATION_SECONDS,
            })
    spec["tolerations"] = tolerations


def _pod(obj: JSON) -> None:
    default_pod_spec(_obj(obj, "spec"))


def prepare_pod_status_for_create(obj: JSON) -> None:
    """What the pod registry does on create: status starts as Pending with its QoS class.

    Separate from ``apply_defaults`` because it replaces any status the client sent,
    which is right on create only.
    """
    status: JSON = {"phase": "Pending"}
    try:
        status["qosClass"] = qos_class(obj)
    except ValueError:
        pass  # an invalid pod; validation reports why
    obj["status"] = status


def _template(spec: JSON) -> None:
    tmpl = spec.get("template")
    if isinstance(tmpl, dict):
        default_pod_spec(_obj(tmpl, "spec"))


def _deployment(obj: JSON) -> None:
    spec = _obj(obj, "spec")
    spec.setdefault("replicas", 1)
    strategy = _obj(spec, "strategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        ru = _obj(strategy, "rollingUpdate")
        ru.setdefault("maxUnavailable", "25%")
        ru.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(spec)


def _replicaset(obj: JSON) -> None:
    spec = _obj(obj, "spec")
    spec.setdefault("replicas", 1)
    _template(spec)


def _daemonset(obj: JSON) -> None:
    """SetDefaults_DaemonSet (pkg/apis/apps/v1/defaults.go): updateStrategy RollingUpdate
    with maxUnavailable 1 and maxSurge 0, revisionHistoryLimit 10."""
    spec = _obj(obj, "spec")
    strategy = _obj(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        ru = _obj(strategy, "rollingUpdate")
        if ru.get("maxUnavailable") is None:
            ru["maxUnavailable"] = 1
        if ru.get("maxSurge") is None:
            ru["maxSurge"] = 0
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    _template(spec)


def _statefulset(obj: JSON) -> None:
    """SetDefaults_StatefulSet (pkg/apis/apps/v1/defaults.go): podManagementPolicy
    OrderedReady, updateStrategy RollingUpdate with partition 0, replicas 1,
    revisionHistoryLimit 10, persistentVolumeClaimRetentionPolicy Retain/Retain; each
    volumeClaimTemplate's volumeMode Filesystem and status phase Pending."""
    spec = _obj(obj, "spec")
    if not spec.get("podManagementPolicy"):
        spec["podManagementPolicy"] = "OrderedReady"
    strategy = _obj(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        ru = _obj(strategy, "rollingUpdate")
        if ru.get("partition") is None:
            ru["partition"] = 0
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    retention = _obj(spec, "persistentVolumeClaimRetentionPolicy")
    for key in ("whenDeleted", "whenScaled"):
        if not retention.get(key):
            retention[key] = "Retain"
    for vct in spec.get("volumeClaimTemplates") or []:
        if isinstance(vct, dict):
            vspec = _obj(vct, "spec")
            if not vspec.get("volumeMode"):
                vspec["volumeMode"] = "Filesystem"
            status = _obj(vct, "status")
            if not status.get("phase"):
                status["phase"] = "Pending"
    _template(spec)


def _replicationcontroller(obj: JSON) -> None:
    """v1 SetDefaults_ReplicationController: the selector and the RC's labels default to
    the template's labels when empty; replicas to 1."""
    spec = _obj(obj, "spec")
    tmpl = spec.get("template")
    tmeta = tmpl.get("metadata") if isinstance(tmpl, dict) else None
    labels = tmeta.get("labels") if isinstance(tmeta, dict) else None
    if isinstance(labels, dict) and labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        md = _obj(obj, "metadata")
        if not md.get("labels"):
            md["labels"] = dict(labels)
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    _template(spec)


def _node(obj: JSON) -> None:
    status = obj.get("status")
    if isinstance(status, dict):
        # Allocatable defaults to capacity (SetDefaults_NodeStatus).
        cap = status.get("capacity")
        if isinstance(cap, dict) and status.get("allocatable") is None:
            status["allocatable"] = dict(cap)


def _namespace(obj: JSON) -> None:
    spec = _obj(obj, "spec")
    if spec.get("finalizers") is None:
        spec["finalizers"] = ["kubernetes"]
    status = _obj(obj, "status")
    if not status.get("phase"):
        status["phase"] = "Active"


def _secret(obj: JSON) -> None:
    if not obj.get("type"):
        obj["type"] = "Opaque"


DEFAULT_CLIENT_IP_AFFINITY_SECONDS = 10800  # v1.DefaultClientIPServiceAffinitySeconds


def _externally_accessible(spec: JSON) -> bool:
    t = spec.get("type")
    return t in ("LoadBalancer", "NodePort") or (t == "ClusterIP"
                                                 and bool(spec.get("externalIPs")))


def _service(obj: JSON) -> None:
    """SetDefaults_Service (pkg/apis/core/v1/defaults.go): sessionAffinity None (its
    config dropped) or ClientIP with a 10800 s timeout, type ClusterIP, protocol TCP and
    targetPort = port per port, externalTrafficPolicy Cluster when externally
    accessible, internalTrafficPolicy Cluster, allocateLoadBalancerNodePorts for a
    LoadBalancer, ipMode VIP for a load-balancer ingress IP. The IP families are the
    allocator's (the service registry sets them)."""
    spec = _obj(obj, "spec")
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    if spec["sessionAffinity"] == "ClientIP":
        cfg = spec.get("sessionAffinityConfig")
        cip = cfg.get("clientIP") if isinstance(cfg, dict) else None
        if not isinstance(cip, dict) or cip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {
                "clientIP": {"timeoutSeconds": DEFAULT_CLIENT_IP_AFFINITY_SECONDS}}
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    for p in _items(spec.get("ports")):
        if not isinstance(p, dict):
            continue
        if not p.get("protocol"):
            p["protocol"] = "TCP"
        if p.get("targetPort") in (None, 0, ""):
            p["targetPort"] = p.get("port")
    if _externally_accessible(spec) and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and \
            spec["type"] in ("NodePort", "LoadBalancer", "ClusterIP"):
        spec["internalTrafficPolicy"] = "Cluster"
    if spec["type"] == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    # LoadBalancerIPMode (GA): an ingress point with an IP and no ipMode is a VIP
    status = obj.get("status")
    lb = status.get("loadBalancer") if isinstance(status, dict) else None
    for ing in _items(lb.get("ingress") if isinstance(lb, dict) else None):
        if isinstance(ing, dict) and ing.get("ip") and ing.get("ipMode") is None:
            ing["ipMode"] = "VIP"


def _endpoints(obj: JSON) -> None:
    """SetDefaults_Endpoints: every port's protocol is TCP unless given."""
    for ss in _items(obj.get("subsets")):
        for p in _items(ss.get("ports") if isinstance(ss, dict) else None):
            if isinstance(p, dict) and not p.get("protocol"):
                p["protocol"] = "TCP"


def _endpoint_slice(obj: JSON) -> None:
    """discovery/v1 SetDefaults_EndpointPort: name "" and protocol TCP."""
    for p in _items(obj.get("ports")):
        if isinstance(p, dict):
            if p.get("name") is None:
                p["name"] = ""
            if p.get("protocol") is None:
                p["protocol"] = "TCP"


def _job(obj: JSON) -> None:
    """batch/v1 SetDefaults_Job (pkg/apis/batch/v1/defaults.go)."""
    spec = _obj(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6
    tmpl = spec.get("template")
    tmeta = tmpl.get("metadata") if isinstance(tmpl, dict) else None
    labels = tmeta.get("labels") if isinstance(tmeta, dict) else None
    md = _obj(obj, "metadata")
    if isinstance(labels, dict) and not md.get("labels"):
        md["labels"] = dict(labels)
    if spec.get("completionMode") is None:
        spec["completionMode"] = "NonIndexed"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    if spec.get("manualSelector") is None:
        spec["manualSelector"] = False
    pfp = spec.get("podFailurePolicy")
    if isinstance(pfp, dict):
        for rule in _items(pfp.get("rules")):
            for pattern in _items(rule.get("onPodConditions") if isinstance(rule, dict) else None):
                if isinstance(pattern, dict) and not pattern.get("status"):
                    pattern["status"] = "True"
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if pfp is not None else "TerminatingOrFailed"
    _template(spec)


def _cronjob(obj: JSON) -> None:
    """batch/v1 SetDefaults_CronJob, and the pod template's defaults inside jobTemplate
    (its Job spec is defaulted when the controller creates the Job)."""
    spec = _obj(obj, "spec")
    if not spec.get("concurrencyPolicy"):
        spec["concurrencyPolicy"] = "Allow"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    if spec.get("successfulJobsHistoryLimit") is None:
        spec["successfulJobsHistoryLimit"] = 3
    if spec.get("failedJobsHistoryLimit") is None:
        spec["failedJobsHistoryLimit"] = 1
    tmpl = spec.get("jobTemplate")
    if isinstance(tmpl, dict) and isinstance(tmpl.get("spec"), dict):
        _template(tmpl["spec"])


def _network_policy(obj: JSON) -> None:
    """networking/v1 SetDefaults_NetworkPolicy: policyTypes [Ingress], plus Egress when
    there are egress rules; SetDefaults_NetworkPolicyPort: protocol TCP."""
    spec = _obj(obj, "spec")
    _obj(spec, "podSelector")
    for key in ("ingress", "egress"):
        for rule in _items(spec.get(key)):
            for port in _items(rule.get("ports") if isinstance(rule, dict) else None):
                if isinstance(port, dict) and port.get("protocol") is None:
                    port["protocol"] = "TCP"
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", "Egress"] if _items(spec.get("egress")) \
            else ["Ingress"]


_BY_KIND: dict[str, Callable[[JSON], None]] = {
    "Pod": _pod,
    "Deployment": _deployment,
    "ReplicaSet": _replicaset,
    "DaemonSet": _daemonset,
    "StatefulSet": _statefulset,
    "Node": _node,
    "Namespace": _namespace,
    "Secret": _secret,
    "Service": _service,
    "Endpoints": _endpoints,
    "EndpointSlice": _endpoint_slice,
    "Job": _job,
    "ReplicationController": _replicationcontroller,
    "CronJob": _cronjob,
    "NetworkPolicy": _network_policy,
}


def apply_defaults(kind: str, obj: JSON) -> None:
    """Fill in Kubernetes' defaults for ``kind`` in the wire dict ``obj`` (in place).

    Kinds without defaults (Event, Lease, ...) are left alone.
    """
    fn = _BY_KIND.get(kind)
    if fn is not None:
        fn(obj)
