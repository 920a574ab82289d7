"""Requests and allocatable as integers (millicores, bytes, pods) for the plugins.

Quantities are parsed with api.quantity; the string -> int conversions are cached,
since a cluster uses a handful of distinct quantity strings over and over and exact
Fraction parsing is the slowest step of turning a pod into a PodInfo.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from api.models import Container, Node, Pod
from api.quantity import QuantityError, cpu_millis, to_bytes

DEFAULT_MAX_PODS = 110  # kubelet's default --max-pods, when a node reports no "pods"


@lru_cache(maxsize=4096)
def _millis(q: str) -> int:
    try:
        return max(cpu_millis(q), 0)
    except QuantityError:
        return 0  # the API server validates quantities; a bad one counts as no request


@lru_cache(maxsize=4096)
def _value(q: str) -> int:
    try:
        return max(to_bytes(q), 0)
    except QuantityError:
        return 0


def _req(c: Container) -> Mapping[str, str]:
    r = c.resources
    if r is None:
        return {}
    # Kubernetes defaults requests to limits when only limits are given.
    if r.requests:
        return {**(r.limits or {}), **r.requests} if r.limits else r.requests
    return r.limits or {}


def _container_requests(c: Container, default_cpu: int | None,
                        default_memory: int | None) -> tuple[int, int]:
    req = _req(c)
    cpu_s, mem_s = req.get("cpu"), req.get("memory")
    cpu = _millis(str(cpu_s)) if cpu_s is not None else 0
    mem = _value(str(mem_s)) if mem_s is not None else 0
    if default_cpu is not None and cpu_s is None:
        cpu = default_cpu
    if default_memory is not None and mem_s is None:
        mem = default_memory
    return cpu, mem


def _pod_requests(pod: Pod, default_cpu: int | None,
                  default_memory: int | None) -> tuple[int, int]:
    cpu = mem = 0
    for c in pod.spec.containers:
        cc, cm = _container_requests(c, default_cpu, default_memory)
        cpu += cc
        mem += cm
    # Init containers run one at a time before the app containers: the pod needs the
    # largest of them, or the sum of the app containers, whichever is more.
    for c in pod.spec.init_containers or ():
        cc, cm = _container_requests(c, default_cpu, default_memory)
        cpu = max(cpu, cc)
        mem = max(mem, cm)
    return cpu, mem


def pod_requests(pod: Pod) -> tuple[int, int]:
    """(millicores, bytes) the pod requests, as the resource-fit filter counts them."""
    return _pod_requests(pod, None, None)


def pod_nonzero_requests(pod: Pod, default_cpu: int, default_memory: int) -> tuple[int, int]:
    """Requests with a default for each container that sets none (used for scoring)."""
    return _pod_requests(pod, default_cpu, default_memory)


def node_allocatable(node: Node) -> tuple[int, int, int]:
    """(millicores, bytes, pods) allocatable, falling back to capacity."""
    st = node.status
    res: Mapping[str, str] = {}
    if st is not None:
        res = st.allocatable or st.capacity or {}
    cpu = _millis(str(res["cpu"])) if "cpu" in res else 0
    mem = _value(str(res["memory"])) if "memory" in res else 0
    pods = _value(str(res["pods"])) if "pods" in res else DEFAULT_MAX_PODS
    return cpu, mem, pods
