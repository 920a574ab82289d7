"""The VolumeBinding filter on claims, volumes and classes held in plain dicts (the
scheduler's informer stores in production): bound claims follow their volume's node
affinity, unbound Immediate claims wait, WaitForFirstConsumer claims need a fitting volume
on the node or a provisioner; PreBind annotates the claim with the chosen node."""

from __future__ import annotations

import asyncio
from typing import Any

from api.models import Node, Pod
from api.models.storage import PersistentVolume, PersistentVolumeClaim, StorageClass
from scheduler.framework import NodeInfo, PodInfo
from scheduler.plugins import FILTERS
from scheduler.plugins.volume_binding import (
    ERR_BIND_CONFLICT,
    ERR_NODE_CONFLICT,
    ERR_UNBOUND_IMMEDIATE,
    VolumeBinding,
    VolumeState,
)


def node(name: str) -> NodeInfo:
    return NodeInfo(name, Node.from_dict({"metadata": {"name": name, "labels": {
        "kubernetes.io/hostname": name}}}))


def pv(name: str, on: str | None = None, cls: str = "local", size: str = "1Gi") -> Any:
    spec: dict[str, Any] = {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                            "storageClassName": cls, "hostPath": {"path": f"/x/{name}"}}
    if on:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [on]}]}]}}
    return PersistentVolume.from_dict({"metadata": {"name": name}, "spec": spec})


def pvc(name: str, cls: str, volume: str = "") -> Any:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "storageClassName": cls,
                            "resources": {"requests": {"storage": "1Gi"}}}
    if volume:
        spec["volumeName"] = volume
    return PersistentVolumeClaim.from_dict({"metadata": {"name": name, "namespace": "ns"},
                                            "spec": spec})


def sc(name: str, mode: str, provisioner: str = "kubernetes.io/no-provisioner") -> Any:
    return StorageClass.from_dict({"metadata": {"name": name}, "provisioner": provisioner,
                                   "volumeBindingMode": mode})


def pod(*claims: str) -> PodInfo:
    return PodInfo(Pod.from_dict({"metadata": {"name": "p", "namespace": "ns"}, "spec": {
        "containers": [{"name": "c", "image": "x"}],
        "volumes": [{"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims]}}))


def plugin(claims: list[Any], volumes: list[Any], classes: list[Any]) -> VolumeBinding:
    c = {f"ns/{x.metadata.name}": x for x in claims}
    v = {x.metadata.name: x for x in volumes}
    s = {x.metadata.name: x for x in classes}
    p = VolumeBinding()
    p.state = VolumeState(c.get, v.get, s.get, lambda: list(v.values()))
    return p


def test_in_the_default_filters_and_irrelevant_without_claims() -> None:
    assert VolumeBinding in FILTERS
    assert not VolumeBinding().relevant(pod("a"))  # no state: off
    assert not plugin([], [], []).relevant(pod())


def test_filter() -> None:
    p = plugin(
        [pvc("bound", "local", "pv-n1"), pvc("wait", "local"), pvc("imm", "fast"),
         pvc("dyn", "dynamic")],
        [pv("pv-n1", on="n1"), pv("free-n2", on="n2")],
        [sc("local", "WaitForFirstConsumer"), sc("fast", "Immediate"),
         sc("dynamic", "WaitForFirstConsumer", "minik8s.io/local-path")])
    n1, n2, n3 = node("n1"), node("n2"), node("n3")
    assert p.filter(pod("bound"), n1).ok
    assert p.filter(pod("bound"), n2).reasons == (ERR_NODE_CONFLICT,)
    assert p.filter(pod("wait"), n2).ok  # free-n2 fits there
    assert p.filter(pod("wait"), n3).reasons == (ERR_BIND_CONFLICT,)
    assert p.filter(pod("imm"), n1).reasons == (ERR_UNBOUND_IMMEDIATE,)
    assert p.filter(pod("dyn"), n3).ok  # a provisioner can make one anywhere
    assert p.filter(pod("missing"), n1).reasons == ('persistentvolumeclaim "missing" not found',)


def test_pre_bind_annotates_delayed_claims() -> None:
    p = plugin([pvc("dyn", "dynamic"), pvc("bound", "dynamic", "v")], [],
               [sc("dynamic", "WaitForFirstConsumer", "minik8s.io/local-path")])
    calls: list[tuple[str, Any, str | None]] = []

    class FakeClient:
        async def patch(self, _cls: Any, name: str, body: Any, ns: str | None = None) -> None:
            calls.append((name, body, ns))

    asyncio.run(p.pre_bind(FakeClient(), pod("dyn", "bound"), "n7"))  # type: ignore[arg-type]
    assert calls == [("dyn", {"metadata": {"annotations": {
        "volume.kubernetes.io/selected-node": "n7"}}}, "ns")]
