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


def qos_cgroup_parent(pod: Pod) -> str:
    return QOS_PARENTS.get(qos_class(pod), QOS_PARENTS["BestEffort"])
