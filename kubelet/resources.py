"""Pod resources as the runtime needs them: cgroup limits, shares and the QoS parent
(pkg/kubelet/kuberuntime/kuberuntime_container_linux.go ``calculateLinuxResources``)."""

from __future__ import annotations

from api.models import Container, Pod
from api.podutil import qos_class
from api.quantity import cpu_millis, to_bytes
from kubelet.runtime.base import LinuxContainerResources

QOS_PARENTS = {
    "Guaranteed": "/kubepods/guaranteed",
    "Burstable": "/kubepods/burstable",
    "BestEffort": "/kubepods/besteffort",
}
CPU_PERIOD = 100_000  # microseconds: the CFS period a CPU limit is a quota of


def container_resources(c: Container) -> LinuxContainerResources:
    """limits -> memory limit and CPU quota; requests -> CPU shares (as the kubelet maps them)."""
    limits = (c.resources.limits if c.resources else None) or {}
    requests = (c.resources.requests if c.resources else None) or {}
    memory_limit = int(to_bytes(limits["memory"])) if "memory" in limits else None
    cpu_period = cpu_quota = None
    if "cpu" in limits:
        # 1 CPU = 100,000 us per 100,000 us period; the kernel refuses less than 1 ms.
        cpu_period = CPU_PERIOD
        cpu_quota = max(1000, cpu_millis(limits["cpu"]) * 100)
    cpu_request = requests.get("cpu") or limits.get("cpu")
    # BestEffort gets the minimum, as in Kubernetes.
    cpu_shares = max(2, cpu_millis(cpu_request) * 1024 // 1000) if cpu_request else 2
    return LinuxContainerResources(cpu_period=cpu_period, cpu_quota=cpu_quota,
                                   cpu_shares=cpu_shares, memory_limit=memory_limit)


def qos_cgroup_parent(pod: Pod) -> str:
    return QOS_PARENTS.get(qos_class(pod), QOS_PARENTS["BestEffort"])
