"""Pod resources as the runtime needs them: cgroup limits, shares and the QoS parent."""

from __future__ import annotations

from dataclasses import dataclass

from api.models import Container, Pod
from api.podutil import qos_class
from api.quantity import cpu_millis, to_bytes

QOS_PARENTS = {
    "Guaranteed": "/kubepods/guaranteed",
    "Burstable": "/kubepods/burstable",
    "BestEffort": "/kubepods/besteffort",
}


@dataclass
class ContainerResources:
    memory_limit: int | None = None  # bytes
    cpu_quota: int | None = None  # microseconds per 100 ms period
    cpu_shares: int | None = None


def container_resources(c: Container) -> ContainerResources:
    """limits -> memory limit and CPU quota; requests -> CPU shares (as the kubelet maps them)."""
    out = ContainerResources()
    limits = (c.resources.limits if c.resources else None) or {}
    requests = (c.resources.requests if c.resources else None) or {}
    if "memory" in limits:
        out.memory_limit = int(to_bytes(limits["memory"]))
    if "cpu" in limits:
        # 1 CPU = 100,000 us per 100,000 us period; the kernel refuses less than 1 ms.
        out.cpu_quota = max(1000, cpu_millis(limits["cpu"]) * 100)
    cpu_request = requests.get("cpu") or limits.get("cpu")
    if cpu_request:
        out.cpu_shares = max(2, cpu_millis(cpu_request) * 1024 // 1000)
    else:
        # BestEffort gets the minimum, as in Kubernetes.
        out.cpu_shares = 2
    return out


def _field_ref(pod: Pod, path: str, pod_ip: str) -> str:
    m = pod.metadata
    simple = {
        "metadata.name": m.name, "metadata.namespace": m.namespace, "metadata.uid": m.uid,
        "spec.nodeName": pod.spec.node_name, "spec.serviceAccountName": pod.spec.service_account_name,
        "status.podIP": pod_ip, "status.podIPs": pod_ip,
        "status.hostIP": pod.status.host_ip if pod.status else None,
    }
    if path in simple:
        return simple[path] or ""
    for prefix, source in (("metadata.labels", m.labels), ("metadata.annotations", m.annotations)):
        if path.startswith(prefix + "['") and path.endswith("']"):
            return (source or {}).get(path[len(prefix) + 2:-2], "")
    return ""


def container_env(pod: Pod, c: Container, pod_ip: str) -> dict[str, str]:
    """The container's environment: values, and the downward API's fieldRef/resourceFieldRef.

    ``$(VAR)`` references to earlier variables are expanded, as Kubernetes does.
    """
    out: dict[str, str] = {}
    for e in c.env or []:
        value = e.value
        source = e.value_from
        if value is None and isinstance(source, dict):
            field = source.get("fieldRef")
            res = source.get("resourceFieldRef")
            if isinstance(field, dict):
                value = _field_ref(pod, str(field.get("fieldPath", "")), pod_ip)
            elif isinstance(res, dict):
                value = _resource_ref(c, res)
        out[e.name] = _expand(value or "", out)
    return out


def _resource_ref(c: Container, ref: dict[str, str]) -> str:
    which, _, name = str(ref.get("resource", "")).partition(".")
    values = (getattr(c.resources, which, None) if c.resources else None) or {}
    q = values.get(name)
    if q is None:
        return ""
    if name == "cpu":
        return str(max(1, -(-cpu_millis(q) // 1000)))
    return str(to_bytes(q))


def _expand(value: str, env: dict[str, str]) -> str:
    if "$(" not in value:
        return value
    out = []
    i = 0
    while i < len(value):
        if value.startswith("$$(", i):
            out.append("$(")
            i += 3
        elif value.startswith("$(", i) and (j := value.find(")", i)) != -1:
            name = value[i + 2:j]
            out.append(env.get(name, value[i:j + 1]))
            i = j + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def qos_cgroup_parent(pod: Pod) -> str:
    return QOS_PARENTS.get(qos_class(pod), QOS_PARENTS["BestEffort"])
