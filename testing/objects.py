"""Builders of typed objects (Node, Pod, Deployment) for tests and benchmarks, and a fresh
namespace through the typed client."""

from __future__ import annotations

from typing import Any

from api.models import Deployment, Namespace, Node, ObjectMeta, Pod
from client.rest import AsyncClient
from testing.support import unique


def make_node(name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "110",
              labels: dict[str, str] | None = None, taints: list[dict[str, Any]] | None = None,
              unschedulable: bool = False, ready: bool = True) -> Node:
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    res = {"cpu": cpu, "memory": memory, "pods": pods}
    return Node.from_dict({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": spec,
        "status": {"capacity": res, "allocatable": res,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                   "reason": "KubeletReady"}]},
    })


def make_pod(name: str, namespace: str = "default", cpu: str | None = None,
             memory: str | None = None, node_selector: dict[str, str] | None = None,
             affinity_terms: list[dict[str, Any]] | None = None,
             tolerations: list[dict[str, Any]] | None = None,
             host_ports: list[int] | None = None, owner_uid: str | None = None,
             priority: int | None = None, labels: dict[str, str] | None = None,
             scheduler_name: str | None = None, uid: str | None = None) -> Pod:
    container: dict[str, Any] = {"name": "c", "image": "busybox"}
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    if requests:
        container["resources"] = {"requests": requests}
    if host_ports:
        container["ports"] = [{"containerPort": p, "hostPort": p} for p in host_ports]
    spec: dict[str, Any] = {"containers": [container]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    if affinity_terms is not None:
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": affinity_terms}}}
    if tolerations:
        spec["tolerations"] = tolerations
    if priority is not None:
        spec["priority"] = priority
    if scheduler_name:
        spec["schedulerName"] = scheduler_name
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels or {}}
    if uid:
        meta["uid"] = uid
    if owner_uid:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                    "name": "rs", "uid": owner_uid, "controller": True}]
    return Pod.from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})


def deployment(name: str, replicas: int = 3, image: str = "nginx:1", *,
               strategy: dict[str, Any] | None = None, **spec: Any) -> Deployment:
    labels = {"app": name}
    return Deployment.from_dict({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "app", "image": image}]}},
                 **({"strategy": strategy} if strategy else {}), **spec},
    })


async def new_namespace(client: AsyncClient, prefix: str = "ns") -> str:
    """Create a namespace named ``unique(prefix)`` and return its name."""
    name = unique(prefix)
    await client.create(Namespace(metadata=ObjectMeta(name=name)))
    return name
