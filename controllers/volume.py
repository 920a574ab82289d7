"""The PersistentVolume controller (pkg/controller/volume/persistentvolume): binds claims
to volumes, provisions volumes for claims of the local-path class, and reclaims released
volumes; with the pvc-protection and pv-protection controllers
(pkg/controller/volume/{pvcprotection,pvprotection}) that let a deleted claim go once no
pod uses it and a deleted volume once no claim is bound to it.

Binding (syncUnboundClaim / syncVolume): an unbound claim takes the smallest volume that
fits (class, access modes, volume mode, size, selector; a volume pre-bound to it first).
A claim of a WaitForFirstConsumer class waits for the scheduler's
``volume.kubernetes.io/selected-node`` annotation, and then only volumes whose node
affinity allows that node fit. The volume is bound first (claimRef,
``pv.kubernetes.io/bound-by-controller``, phase Bound), then the claim (volumeName,
``pv.kubernetes.io/bind-completed``, phase Bound with the volume's access modes and
capacity). A claim whose volume is gone is Lost; a volume whose claim is gone is Released,
then kept (Retain) or deleted (Delete).

Provisioning (the local-path provisioner, after rancher's local-path-provisioner): for a
claim of a class whose provisioner is ``minik8s.io/local-path`` and a selected node, a
volume ``pvc-<claim uid>`` is made: a hostPath (DirectoryOrCreate) directory
``<basePath>/<node>/<volume>_<namespace>_<claim>`` with node affinity to that node, the
class's reclaim policy, pre-bound to the claim. The kubelet of that node makes the
directory when a pod mounts it; deleting it is a helper pod on that node (``rm -rf``), so
nothing here touches a node's filesystem.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from api import storage as st
from api.models import Node, Pod
from api.models.storage import PersistentVolume, PersistentVolumeClaim, StorageClass
from client import AlreadyExists, AsyncClient, NotFound
from client.cache import meta_key, split_key
from client.controller import Controller, Result
from controllers.context import ControllerContext, Recorder, retry_conflicts

log = logging.getLogger(__name__)

DEFAULT_BASE_PATH = "/var/lib/minik8s/local-path"
DEFAULT_HELPER_IMAGE = "minik8s/busybox:latest"
HELPER_NAMESPACE = "kube-system"
HELPER_LABEL = "minik8s.io/local-path-helper"
JSONDict = dict[str, Any]


def _ann(obj: JSONDict) -> dict[str, str]:
    md = obj.setdefault("metadata", {})
    ann: dict[str, str] | None = md.get("annotations")
    if not isinstance(ann, dict):
        ann = md["annotations"] = {}
    return ann


def helper_pod_name(pv_name: str) -> str:
    return f"helper-delete-{pv_name}"[:63].rstrip("-.")


def pod_uses_claim(pod: JSONDict, claim: str) -> bool:
    for v in (pod.get("spec") or {}).get("volumes") or ():
        if ((v or {}).get("persistentVolumeClaim") or {}).get("claimName") == claim:
            return True
        if (v or {}).get("ephemeral") is not None and \
                f"{pod['metadata'].get('name')}-{v.get('name')}" == claim:
            return True
    return False


def pod_terminated(pod: JSONDict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


class PersistentVolumeController:
    """persistentvolume-binder: claims and volumes, two queues over shared informers."""

    name = "persistentvolume-binder"

    def __init__(self, ctx: ControllerContext, workers: int = 2) -> None:
        self.client: AsyncClient = ctx.client
        self.recorder: Recorder = ctx.recorder
        self.pvs = ctx.factory.informer(PersistentVolume)
        self.pvcs = ctx.factory.informer(PersistentVolumeClaim)
        self.classes = ctx.factory.informer(StorageClass)
        self.nodes = ctx.factory.informer(Node)
        self.pods = ctx.factory.informer(Pod, HELPER_NAMESPACE)
        n = ctx.options.workers.get(self.name, workers)
        self.claim_queue = Controller("persistentvolume-claims",
                                      retry_conflicts(self.sync_claim), workers=n)
        self.volume_queue = Controller("persistentvolume-volumes",
                                       retry_conflicts(self.sync_volume), workers=n)
        self.pvcs.add_handler(self.claim_queue.enqueue_object,
                              lambda _o, new: self.claim_queue.enqueue_object(new),
                              self._claim_deleted)
        self.pvs.add_handler(self._volume_changed, lambda _o, new: self._volume_changed(new),
                             self._volume_changed)
        self.classes.add_handler(self._class_changed,
                                 lambda _o, new: self._class_changed(new), None)
        self.pods.add_handler(self._helper_changed, lambda _o, new: self._helper_changed(new),
                              self._helper_changed)

    @property
    def controllers(self) -> list[Controller]:
        return [self.claim_queue, self.volume_queue]

    # ---- events --------------------------------------------------------------------

    def _claim_deleted(self, obj: Any) -> None:
        pvc = getattr(obj, "obj", obj)
        if not isinstance(pvc, PersistentVolumeClaim):
            return
        name = pvc.spec.volume_name if pvc.spec else None
        if name:
            self.volume_queue.enqueue(name)

    def _volume_changed(self, obj: Any) -> None:
        pv = getattr(obj, "obj", obj)
        if not isinstance(pv, PersistentVolume):
            return
        self.volume_queue.enqueue_object(pv)
        ref = pv.spec.claim_ref if pv.spec else None
        if ref is not None and ref.name:
            self.claim_queue.enqueue(f"{ref.namespace}/{ref.name}")

    def _class_changed(self, _sc: Any) -> None:
        for pvc in self.pvcs.store.list():
            if not (pvc.spec and pvc.spec.volume_name):
                self.claim_queue.enqueue_object(pvc)

    def _helper_changed(self, obj: Any) -> None:
        pod = getattr(obj, "obj", obj)
        if isinstance(pod, Pod):
            pv = (pod.metadata.labels or {}).get(HELPER_LABEL)
            if pv:
                self.volume_queue.enqueue(pv)

    # ---- claims --------------------------------------------------------------------

    def _class(self, name: str) -> JSONDict | None:
        sc = self.classes.store.get(name) if name else None
        return sc.to_dict() if sc is not None else None

    def _node_labels(self, name: str) -> dict[str, str]:
        node = self.nodes.store.get(name)
        if node is None:
            return {st.HOSTNAME_LABEL: name}
        return dict(node.metadata.labels or {})

    async def sync_claim(self, key: str) -> Result | None:
        obj = self.pvcs.store.get(key)
        if obj is None:
            return None
        pvc = obj.to_dict()
        if pvc["metadata"].get("deletionTimestamp"):
            return None
        spec = pvc.get("spec") or {}
        if spec.get("volumeName"):
            return await self._sync_bound_claim(pvc)
        return await self._sync_unbound_claim(pvc)

    async def _sync_bound_claim(self, pvc: JSONDict) -> Result | None:
        name = pvc["spec"]["volumeName"]
        obj = self.pvs.store.get(name)
        if obj is None:
            if (pvc.get("status") or {}).get("phase") != "Lost" and \
                    _ann(pvc).get(st.ANN_BIND_COMPLETED):
                pvc["status"] = {**(pvc.get("status") or {}), "phase": "Lost"}
                await self.client.update_status(PersistentVolumeClaim.from_dict(pvc))
                self.recorder.event(PersistentVolumeClaim.from_dict(pvc), "Warning",
                                    "ClaimLost", "Bound claim has lost its PersistentVolume. "
                                    "Data on the volume is lost!")
            return None
        pv = obj.to_dict()
        ref = (pv.get("spec") or {}).get("claimRef")
        if not ref:
            # pre-bound by the user (spec.volumeName): bind the volume to it
            return await self._bind(pv, pvc)
        if st.claim_ref_is(pv, pvc):
            await self._bind(pv, pvc)
            have = ((pvc.get("status") or {}).get("capacity") or {}).get("storage")
            if _ann(pv).get(st.ANN_PROVISIONED_BY) == st.LOCAL_PATH_PROVISIONER and (
                    st.claim_request(pvc) > st.volume_capacity(pv) or
                    have != (pv["spec"].get("capacity") or {}).get("storage")):
                return await self._expand(name, pvc["metadata"]["namespace"],
                                          pvc["metadata"]["name"])
        return None

    async def _expand(self, pv_name: str, ns: str, claim: str) -> Result | None:
        """The resize of a local-path volume (a directory: nothing to grow on disk): a
        claim's larger request (PersistentVolumeClaimResize admitted it) becomes the
        volume's capacity and then the claim's status capacity."""
        pvc = (await self.client.get(PersistentVolumeClaim, claim, ns)).to_dict()
        pv = (await self.client.get(PersistentVolume, pv_name)).to_dict()
        if _ann(pv).get(st.ANN_PROVISIONED_BY) != st.LOCAL_PATH_PROVISIONER:
            return None
        want = ((pvc["spec"].get("resources") or {}).get("requests") or {}).get("storage")
        if st.claim_request(pvc) > st.volume_capacity(pv):
            pv["spec"]["capacity"] = {**(pv["spec"].get("capacity") or {}), "storage": want}
            pv = (await self.client.update(PersistentVolume.from_dict(pv))).to_dict()
            self.recorder.event(PersistentVolumeClaim.from_dict(pvc), "Normal",
                                "VolumeResizeSuccessful",
                                f'resize volume "{pv_name}" by resizer '
                                f'"{st.LOCAL_PATH_PROVISIONER}" succeeded')
        have = ((pvc.get("status") or {}).get("capacity") or {}).get("storage")
        cap = (pv["spec"].get("capacity") or {}).get("storage")
        if (pvc.get("status") or {}).get("phase") == "Bound" and have != cap and \
                st.volume_capacity(pv) >= st.claim_request(pvc):
            pvc["status"]["capacity"] = {**(pvc["status"].get("capacity") or {}),
                                         "storage": cap}
            await self.client.update_status(PersistentVolumeClaim.from_dict(pvc))
        return None

    async def _sync_unbound_claim(self, pvc: JSONDict) -> Result | None:
        cls_name = st.volume_class(pvc)
        sc = self._class(cls_name)
        delayed = sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer"
        selected = _ann(pvc).get(st.ANN_SELECTED_NODE)
        volumes = [pv.to_dict() for pv in self.pvs.store.list()]
        node = (selected, self._node_labels(selected)) if selected else None
        prebound = [pv for pv in volumes if st.claim_ref_is(pv, pvc)]
        match = st.best_match(prebound or volumes, pvc, node)
        if match is not None and (not delayed or selected or prebound):
            return await self._bind(dict(match), pvc)
        if delayed and not selected:
            self.recorder.event(PersistentVolumeClaim.from_dict(pvc), "Normal",
                                "WaitForFirstConsumer",
                                "waiting for first consumer to be created before binding")
            return None
        if sc is None or not cls_name:
            if cls_name and sc is None:
                self.recorder.event(PersistentVolumeClaim.from_dict(pvc), "Warning",
                                    "ProvisioningFailed",
                                    f'storageclass.storage.k8s.io "{cls_name}" not found')
            else:
                self.recorder.event(PersistentVolumeClaim.from_dict(pvc), "Normal",
                                    "FailedBinding", "no persistent volumes available for "
                                    "this claim and no storage class is set")
            return None
        return await self._provision(pvc, sc, selected)

    async def _provision(self, pvc: JSONDict, sc: JSONDict, node: str | None) -> Result | None:
        provisioner = str(sc.get("provisioner") or "")
        ann = _ann(pvc)
        if ann.get(st.ANN_STORAGE_PROVISIONER) != provisioner:
            ann[st.ANN_STORAGE_PROVISIONER] = provisioner
            ann[st.ANN_BETA_STORAGE_PROVISIONER] = provisioner
            await self.client.update(PersistentVolumeClaim.from_dict(pvc))
            return None  # the update brings the claim back
        if provisioner != st.LOCAL_PATH_PROVISIONER:
            self.recorder.event(PersistentVolumeClaim.from_dict(pvc), "Normal",
                                "ExternalProvisioning",
                                f"Waiting for a volume to be created either by the external "
                                f"provisioner '{provisioner}' or manually by the system "
                                f"administrator. If volume creation is delayed, please verify "
                                f"that the provisioner is running and correctly registered.")
            return None
        md = pvc["metadata"]
        if not node:
            self.recorder.event(PersistentVolumeClaim.from_dict(pvc), "Warning",
                                "ProvisioningFailed", "configuration error, no node was "
                                "specified (the local-path class wants volumeBindingMode "
                                "WaitForFirstConsumer)")
            return None
        pv_name = f"pvc-{md['uid']}"
        params = sc.get("parameters") or {}
        base = str(params.get("basePath") or DEFAULT_BASE_PATH)
        path = os.path.join(base, node, f"{pv_name}_{md['namespace']}_{md['name']}")
        spec = pvc.get("spec") or {}
        pv: JSONDict = {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": pv_name, "annotations": {
                st.ANN_PROVISIONED_BY: provisioner,
                "local.path.provisioner/selected-node": node}},
            "spec": {
                "capacity": {"storage": ((spec.get("resources") or {}).get("requests")
                                         or {}).get("storage")},
                "accessModes": spec.get("accessModes"),
                "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
                "storageClassName": st.volume_class(pvc),
                "volumeMode": spec.get("volumeMode") or "Filesystem",
                "hostPath": {"path": path, "type": "DirectoryOrCreate"},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": st.HOSTNAME_LABEL, "operator": "In",
                     "values": [self._node_labels(node).get(st.HOSTNAME_LABEL, node)]}]}]}},
                "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                             "namespace": md["namespace"], "name": md["name"],
                             "uid": md["uid"],
                             "resourceVersion": md.get("resourceVersion")},
            }}
        if sc.get("mountOptions"):
            pv["spec"]["mountOptions"] = sc["mountOptions"]
        try:
            await self.client.create(PersistentVolume.from_dict(pv))
        except AlreadyExists:
            return None
        log.info("provisioned %s for claim %s/%s on %s", pv_name, md["namespace"],
                 md["name"], node)
        self.recorder.event(PersistentVolumeClaim.from_dict(pvc), "Normal",
                            "ProvisioningSucceeded",
                            f"Successfully provisioned volume {pv_name} using {provisioner}")
        return None

    async def _bind(self, pv: JSONDict, pvc: JSONDict) -> Result | None:
        """bind: the volume (claimRef, phase Bound), then the claim (volumeName and
        annotations, then phase Bound with the volume's modes and capacity)."""
        pmd, cmd = pv["metadata"], pvc["metadata"]
        ref = {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
               "namespace": cmd["namespace"], "name": cmd["name"], "uid": cmd["uid"],
               "resourceVersion": cmd.get("resourceVersion")}
        old_ref = (pv.get("spec") or {}).get("claimRef") or {}
        if old_ref.get("uid") != cmd["uid"] or old_ref.get("name") != cmd["name"]:
            if not old_ref:
                _ann(pv)[st.ANN_BOUND_BY_CONTROLLER] = "yes"
            pv["spec"]["claimRef"] = ref
            pv = (await self.client.update(PersistentVolume.from_dict(pv))).to_dict()
        if (pv.get("status") or {}).get("phase") != "Bound":
            pv["status"] = {**(pv.get("status") or {}), "phase": "Bound"}
            pv["status"].pop("reason", None)
            pv["status"].pop("message", None)
            pv = (await self.client.update_status(PersistentVolume.from_dict(pv))).to_dict()
        ann = _ann(pvc)
        if pvc["spec"].get("volumeName") != pmd["name"] or \
                ann.get(st.ANN_BIND_COMPLETED) != "yes":
            if pvc["spec"].get("volumeName") != pmd["name"]:
                ann[st.ANN_BOUND_BY_CONTROLLER] = "yes"
            pvc["spec"]["volumeName"] = pmd["name"]
            ann[st.ANN_BIND_COMPLETED] = "yes"
            pvc = (await self.client.update(PersistentVolumeClaim.from_dict(pvc))).to_dict()
        want = {"phase": "Bound", "accessModes": pv["spec"].get("accessModes"),
                "capacity": pv["spec"].get("capacity")}
        status = pvc.get("status") or {}
        if any(status.get(k) != v for k, v in want.items()):
            pvc["status"] = {**status, **want}
            await self.client.update_status(PersistentVolumeClaim.from_dict(pvc))
        return None

    # ---- volumes -------------------------------------------------------------------

    async def _set_phase(self, pv: JSONDict, phase: str, reason: str = "",
                         message: str = "") -> JSONDict:
        status = {**(pv.get("status") or {}), "phase": phase}
        for k, v in (("reason", reason), ("message", message)):
            if v:
                status[k] = v
            else:
                status.pop(k, None)
        if status == pv.get("status"):
            return pv
        pv["status"] = status
        return (await self.client.update_status(PersistentVolume.from_dict(pv))).to_dict()

    async def sync_volume(self, key: str) -> Result | None:
        obj = self.pvs.store.get(key)
        if obj is None:
            return None
        pv = obj.to_dict()
        ref = (pv.get("spec") or {}).get("claimRef")
        phase = (pv.get("status") or {}).get("phase")
        if not ref:
            if phase not in ("Available", "Failed"):
                await self._set_phase(pv, "Available")
            return None
        claim_obj = self.pvcs.store.get(f"{ref.get('namespace')}/{ref.get('name')}")
        claim = claim_obj.to_dict() if claim_obj is not None else None
        if claim is not None and (not ref.get("uid") or
                                  ref.get("uid") == claim["metadata"].get("uid")):
            if (claim.get("spec") or {}).get("volumeName") == pv["metadata"]["name"]:
                if phase != "Bound":
                    await self._set_phase(pv, "Bound")
            elif phase not in ("Available", "Bound"):
                await self._set_phase(pv, "Available")
            if not (claim.get("spec") or {}).get("volumeName"):
                self.claim_queue.enqueue(f"{ref.get('namespace')}/{ref.get('name')}")
            return None
        if claim is None and not ref.get("uid"):
            # pre-bound to a claim that does not exist yet
            if phase != "Available":
                await self._set_phase(pv, "Available")
            return None
        # the claim is gone (or another claim of that name): Released, then reclaim
        if phase not in ("Released", "Failed"):
            pv = await self._set_phase(pv, "Released")
        if phase == "Failed" or pv["metadata"].get("deletionTimestamp"):
            return None  # being deleted: nothing to reclaim, pv-protection lets it go
        return await self._reclaim(pv)

    async def _reclaim(self, pv: JSONDict) -> Result | None:
        policy = (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") or "Retain"
        name = pv["metadata"]["name"]
        if policy == "Retain":
            return None
        if policy == "Recycle":
            await self._set_phase(pv, "Failed", "VolumeFailedRecycle",
                                  "recycling is not supported")
            return None
        if _ann(pv).get(st.ANN_PROVISIONED_BY) != st.LOCAL_PATH_PROVISIONER:
            await self._set_phase(pv, "Failed", "VolumeFailedDelete",
                                  f'error getting deleter volume plugin for volume "{name}": '
                                  f"no deletable volume plugin matched")
            return None
        return await self._delete_local(pv)

    async def _delete_local(self, pv: JSONDict) -> Result | None:
        name = pv["metadata"]["name"]
        path = st.volume_host_path(pv)
        node = _ann(pv).get("local.path.provisioner/selected-node")
        helper = helper_pod_name(name)
        pod_obj = self.pods.store.get(f"{HELPER_NAMESPACE}/{helper}")
        if pod_obj is None:
            if not path or not node:
                await self.client.delete(PersistentVolume, name)
                return None
            parent, leaf = os.path.split(path.rstrip("/"))
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": helper, "namespace": HELPER_NAMESPACE,
                "labels": {HELPER_LABEL: name}},
                "spec": {
                    "nodeName": node, "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [{"name": "helper", "image": DEFAULT_HELPER_IMAGE,
                                    "imagePullPolicy": "IfNotPresent",
                                    "command": ["rm", "-rf", f"/data/{leaf}"],
                                    "volumeMounts": [{"name": "data",
                                                      "mountPath": "/data"}]}],
                    "volumes": [{"name": "data", "hostPath": {
                        "path": parent, "type": "DirectoryOrCreate"}}]}}
            try:
                await self.client.create(Pod.from_dict(pod))
            except AlreadyExists:
                pass
            return Result(requeue_after=5.0)
        phase = pod_obj.status.phase if pod_obj.status else None
        if phase == "Succeeded":
            try:
                await self.client.delete(PersistentVolume, name)
            except NotFound:
                pass
            await self._delete_helper(helper)
            log.info("deleted local-path volume %s (%s on %s)", name, path, node)
            return None
        if phase == "Failed":
            await self._set_phase(pv, "Failed", "VolumeFailedDelete",
                                  f"helper pod {HELPER_NAMESPACE}/{helper} failed to remove "
                                  f"{path} on {node}")
            await self._delete_helper(helper)
            return None
        return Result(requeue_after=5.0)

    async def _delete_helper(self, helper: str) -> None:
        try:
            await self.client.delete(Pod, helper, HELPER_NAMESPACE, grace_period_seconds=0)
        except NotFound:
            pass


class PVCProtectionController:
    """pvc-protection: a claim being deleted keeps kubernetes.io/pvc-protection while a
    pod that is not terminated uses it."""

    name = "pvc-protection"

    def __init__(self, ctx: ControllerContext, workers: int = 1) -> None:
        self.client: AsyncClient = ctx.client
        self.pvcs = ctx.factory.informer(PersistentVolumeClaim)
        self.pods = ctx.factory.informer(Pod)
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.pvcs.add_handler(self._claim, lambda _o, new: self._claim(new), None)
        self.pods.add_handler(None, lambda _o, new: self._pod(new), self._pod)

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    def _claim(self, pvc: Any) -> None:
        if pvc.metadata.deletion_timestamp and st.PVC_PROTECTION in \
                (pvc.metadata.finalizers or ()):
            self.controller.enqueue_object(pvc)

    def _pod(self, obj: Any) -> None:
        pod = getattr(obj, "obj", obj)
        if not isinstance(pod, Pod):
            return
        for v in pod.spec.volumes or () if pod.spec else ():
            src = (v.model_extra or {}).get("persistentVolumeClaim")
            if isinstance(src, dict) and src.get("claimName"):
                self.controller.enqueue(f"{pod.metadata.namespace}/{src['claimName']}")

    async def reconcile(self, key: str) -> Result | None:
        pvc = self.pvcs.store.get(key)
        if pvc is None or not pvc.metadata.deletion_timestamp or \
                st.PVC_PROTECTION not in (pvc.metadata.finalizers or ()):
            return None
        ns, name = split_key(key)
        # the cache may be behind a pod created a moment ago: ask the server (podUsesPVC)
        pods = await self.client.list(Pod, ns)
        for p in pods.items:
            d = p.to_dict()
            if not pod_terminated(d) and pod_uses_claim(d, name):
                return None
        fin = [f for f in pvc.metadata.finalizers or () if f != st.PVC_PROTECTION]
        await self.client.patch(PersistentVolumeClaim, name,
                                {"metadata": {"finalizers": fin or None,
                                              "resourceVersion": pvc.metadata.resource_version}},
                                ns)
        return None


class PVProtectionController:
    """pv-protection: a volume being deleted keeps kubernetes.io/pv-protection while it is
    Bound to a claim."""

    name = "pv-protection"

    def __init__(self, ctx: ControllerContext, workers: int = 1) -> None:
        self.client: AsyncClient = ctx.client
        self.pvs = ctx.factory.informer(PersistentVolume)
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.pvs.add_handler(self._volume, lambda _o, new: self._volume(new), None)

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    def _volume(self, pv: Any) -> None:
        if pv.metadata.deletion_timestamp and st.PV_PROTECTION in \
                (pv.metadata.finalizers or ()):
            self.controller.enqueue(meta_key(pv))

    async def reconcile(self, key: str) -> Result | None:
        pv = self.pvs.store.get(key)
        if pv is None or not pv.metadata.deletion_timestamp or \
                st.PV_PROTECTION not in (pv.metadata.finalizers or ()):
            return None
        if pv.status is not None and pv.status.phase == "Bound":
            return None
        fin = [f for f in pv.metadata.finalizers or () if f != st.PV_PROTECTION]
        await self.client.patch(PersistentVolume, key,
                                {"metadata": {"finalizers": fin or None,
                                              "resourceVersion": pv.metadata.resource_version}})
        return None
