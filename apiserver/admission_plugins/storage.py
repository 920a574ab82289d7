"""DefaultStorageClass (plugin/pkg/admission/storage/storageclass/setdefault): a claim
created without spec.storageClassName gets the default StorageClass (annotation
storageclass.kubernetes.io/is-default-class "true"; the newest of several);
StorageObjectInUseProtection (plugin/pkg/admission/storage/storageobjectinuseprotection):
new PersistentVolumes and PersistentVolumeClaims get the kubernetes.io/pv-protection and
kubernetes.io/pvc-protection finalizers, which the pv-protection and pvc-protection
controllers remove once nothing uses the object."""

from __future__ import annotations

from typing import Any

from api import resources as api_resources
from api.storage import (
    BETA_CLASS_ANNOTATION,
    PV_PROTECTION,
    PVC_PROTECTION,
    claim_request,
    volume_class,
)
from apiserver.admission_plugins import (
    CREATE,
    UPDATE,
    AdmissionRequest,
    Plugin,
    register_plugin,
)
from apiserver.registry import Registry
from apiserver.strategies.storage import is_default_class

JSONDict = dict[str, Any]


def default_class(classes: list[JSONDict]) -> JSONDict | None:
    """GetDefaultClass: of the default classes, the newest (then by name)."""
    defaults = [c for c in classes if is_default_class(c)]
    if not defaults:
        return None
    return max(defaults, key=lambda c: (str((c.get("metadata") or {}).get(
        "creationTimestamp") or ""), str((c.get("metadata") or {}).get("name") or "")))


class DefaultStorageClass(Plugin):
    name = "DefaultStorageClass"
    operations = frozenset({CREATE})
    resources = frozenset({"persistentvolumeclaims"})

    def __init__(self, state: Any) -> None:
        self.state = state

    async def prepare(self) -> None:
        reg: Registry = self.state.registry
        await reg.fresh_cache(api_resources.STORAGECLASSES, 1.0)

    def admit(self, req: AdmissionRequest) -> None:
        pvc = req.obj
        if pvc is None:
            return
        spec = pvc.get("spec")
        ann = (pvc.get("metadata") or {}).get("annotations") or {}
        if not isinstance(spec, dict) or spec.get("storageClassName") is not None or \
                (isinstance(ann, dict) and BETA_CLASS_ANNOTATION in ann):
            return
        reg: Registry = self.state.registry
        cache = reg.cache(api_resources.STORAGECLASSES)
        found = default_class([co.obj for co in cache.objects.values()])
        if found is not None:
            spec["storageClassName"] = (found.get("metadata") or {}).get("name")


class StorageObjectInUseProtection(Plugin):
    name = "StorageObjectInUseProtection"
    operations = frozenset({CREATE})
    resources = frozenset({"persistentvolumes", "persistentvolumeclaims"})

    def admit(self, req: AdmissionRequest) -> None:
        obj = req.obj
        if obj is None:
            return
        md = obj.get("metadata")
        if not isinstance(md, dict):
            return
        fin = PV_PROTECTION if req.info.plural == "persistentvolumes" else PVC_PROTECTION
        have = md.get("finalizers")
        if not isinstance(have, list):
            have = []
        if fin not in have:
            md["finalizers"] = [*have, fin]


class PersistentVolumeClaimResize(Plugin):
    """plugin/pkg/admission/storage/persistentvolume/resize: a claim's storage request may
    grow only when its class allows volume expansion."""

    name = "PersistentVolumeClaimResize"
    operations = frozenset({UPDATE})
    resources = frozenset({"persistentvolumeclaims"})

    def __init__(self, state: Any) -> None:
        self.state = state

    async def validate(self, req: AdmissionRequest) -> None:
        new, old = req.obj, req.old
        if new is None or old is None or claim_request(new) <= claim_request(old):
            return
        if (old.get("status") or {}).get("phase") != "Bound":
            return  # validation refuses it with Kubernetes' words
        reg: Registry = self.state.registry
        cls = volume_class(new)
        sc = reg.cache(api_resources.STORAGECLASSES).objects.get(
            f"{reg.cache(api_resources.STORAGECLASSES).prefix}{cls}") if cls else None
        if sc is None or sc.obj.get("allowVolumeExpansion") is not True:
            raise req.forbidden("only dynamically provisioned pvc can be resized and the "
                                "storageclass that provisions the pvc must support resize")


register_plugin(DefaultStorageClass.name, DefaultStorageClass)
register_plugin(PersistentVolumeClaimResize.name, PersistentVolumeClaimResize)
register_plugin(StorageObjectInUseProtection.name, lambda state: StorageObjectInUseProtection())
