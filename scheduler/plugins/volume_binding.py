"""VolumeBinding (pkg/scheduler/framework/plugins/volumebinding): a pod's
PersistentVolumeClaims must be satisfiable on the node.

- a claim that does not exist, or is being deleted, keeps the pod off every node;
- a bound claim: its volume's node affinity must allow the node ("node(s) had volume node
  affinity conflict");
- an unbound claim of an Immediate class (or of no class): the pod waits ("pod has unbound
  immediate PersistentVolumeClaims");
- an unbound WaitForFirstConsumer claim: a free volume that fits and whose node affinity
  allows the node, or a class with a provisioner ("node(s) didn't find available
  persistent volumes to bind").

PreBind: the chosen node goes on every unbound WaitForFirstConsumer claim as the
``volume.kubernetes.io/selected-node`` annotation; the PV controller binds or provisions
on that node, and the kubelet waits for the claim to be bound before it mounts it.

The claims, volumes and classes come from the scheduler's informers (``state``); without
them (a framework built for tests of other plugins) the plugin is not relevant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from api import storage as st
from api.models.storage import PersistentVolumeClaim
from client import AsyncClient, NotFound
from scheduler.framework import OK, NodeInfo, PodInfo, Status

ERR_NODE_CONFLICT = "node(s) had volume node affinity conflict"
ERR_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
ERR_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
NO_PROVISIONER = "kubernetes.io/no-provisioner"  # static volumes only

Lookup = Callable[[str], Any]


class VolumeState:
    """Reads of the informers' stores: claims by ``ns/name``, volumes and classes by name."""

    def __init__(self, claim: Lookup, volume: Lookup, storage_class: Lookup,
                 volumes: Callable[[], list[Any]]) -> None:
        self.claim = claim
        self.volume = volume
        self.storage_class = storage_class
        self.volumes = volumes


def claim_names(pod: PodInfo) -> list[str]:
    out = []
    for v in pod.pod.spec.volumes or ():
        src = (v.model_extra or {}).get("persistentVolumeClaim")
        if isinstance(src, dict) and src.get("claimName"):
            out.append(str(src["claimName"]))
    return out


def _d(obj: Any) -> dict[str, Any] | None:
    return obj.to_dict() if obj is not None else None


class VolumeBinding:
    name: ClassVar[str] = "VolumeBinding"

    def __init__(self) -> None:
        self.state: VolumeState | None = None

    def relevant(self, pod: PodInfo) -> bool:
        return self.state is not None and bool(claim_names(pod))

    def _delayed(self, pvc: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
        assert self.state is not None
        sc = _d(self.state.storage_class(st.volume_class(pvc))) if st.volume_class(pvc) \
            else None
        return (sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer"), sc

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        state = self.state
        if state is None:
            return OK
        for name in claim_names(pod):
            pvc = _d(state.claim(f"{pod.namespace}/{name}"))
            if pvc is None:
                return Status.fail(f'persistentvolumeclaim "{name}" not found')
            if pvc["metadata"].get("deletionTimestamp"):
                return Status.fail(f'persistentvolumeclaim "{name}" is being deleted')
            bound_to = (pvc.get("spec") or {}).get("volumeName")
            if bound_to:
                pv = _d(state.volume(bound_to))
                if pv is None:
                    return Status.fail(ERR_BIND_CONFLICT)
                if not st.node_affinity_allows(pv, node.name, node.labels):
                    return Status.fail(ERR_NODE_CONFLICT)
                continue
            delayed, sc = self._delayed(pvc)
            if not delayed:
                return Status.fail(ERR_UNBOUND_IMMEDIATE)
            match = st.best_match((v.to_dict() for v in state.volumes()), pvc,
                                  (node.name, node.labels))
            if match is None and (sc or {}).get("provisioner") in (None, "", NO_PROVISIONER):
                return Status.fail(ERR_BIND_CONFLICT)
        return OK

    async def pre_bind(self, client: AsyncClient, pod: PodInfo, node: str) -> None:
        """Annotate the pod's unbound WaitForFirstConsumer claims with the chosen node."""
        state = self.state
        if state is None:
            return
        for name in claim_names(pod):
            pvc = _d(state.claim(f"{pod.namespace}/{name}"))
            if pvc is None or (pvc.get("spec") or {}).get("volumeName"):
                continue
            if not self._delayed(pvc)[0]:
                continue
            ann = (pvc["metadata"].get("annotations") or {})
            if ann.get(st.ANN_SELECTED_NODE) == node:
                continue
            try:
                await client.patch(PersistentVolumeClaim, name, {"metadata": {
                    "annotations": {st.ANN_SELECTED_NODE: node}}}, pod.namespace)
            except NotFound:
                pass
