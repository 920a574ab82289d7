"""ServiceAccount admission (plugin/pkg/admission/serviceaccount/admission.go), on by
default as in Kubernetes: a new pod's serviceAccountName defaults to ``default`` and must
name an existing ServiceAccount (403 otherwise, Kubernetes' message); unless the pod or
its account sets automountServiceAccountToken false, every container (init containers
too) mounts the projected volume ``kube-api-access-<5 chars>`` (a token bound to the pod,
expiring in 3607 s; ``ca.crt`` from the kube-root-ca.crt ConfigMap; the ``namespace``)
read-only at /var/run/secrets/kubernetes.io/serviceaccount; the account's
imagePullSecrets are copied to a pod that has none. Mirror pods are left alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from api import resources
from api import serviceaccount as sat
from apiserver.admission_plugins import CREATE, AdmissionRequest, Plugin, register_plugin
from apiserver.admission_plugins.noderestriction import MIRROR_POD_ANNOTATION

DEFAULT_SERVICE_ACCOUNT = "default"
VOLUME_PREFIX = "kube-api-access-"
TOKEN_EXPIRATION_SECONDS = 3607  # WarnOnlyBoundTokenExpirationSeconds


def token_volume_source() -> dict[str, Any]:
    """TokenVolumeSource: what the kubelet projects into every container."""
    return {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS,
                                 "path": "token"}},
        {"configMap": {"name": sat.ROOT_CA_CONFIGMAP,
                       "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}


def _automount(sa: Mapping[str, Any] | None, spec: Mapping[str, Any]) -> bool:
    """shouldAutomount: the pod's setting, else the account's, else true."""
    if spec.get("automountServiceAccountToken") is not None:
        return bool(spec["automountServiceAccountToken"])
    if sa is not None and sa.get("automountServiceAccountToken") is not None:
        return bool(sa["automountServiceAccountToken"])
    return True


_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # names.SimpleNameGenerator's alphabet


def volume_name(namespace: str, service_account: str) -> str:
    """``kube-api-access-`` and five characters of SimpleNameGenerator's alphabet. Kubernetes
    draws them at random; here they are a hash of the namespace and account, so the pods of
    one template keep one spec and the API server's memo of valid pod specs still spares
    their validation (about 280 us a pod create otherwise)."""
    digest = hashlib.sha256(f"{namespace}/{service_account}".encode()).digest()
    return VOLUME_PREFIX + "".join(_NAME_CHARS[b % len(_NAME_CHARS)] for b in digest[:5])


def mount_token(spec: dict[str, Any], namespace: str = "") -> None:
    """mountServiceAccountToken: the volume (one already named kube-api-access-* is
    reused) and a read-only mount in each container without one at the path."""
    volumes = spec.get("volumes") or []
    name = next((v.get("name") for v in volumes if isinstance(v, dict)
                 and str(v.get("name") or "").startswith(VOLUME_PREFIX)), None)
    has_volume = name is not None
    name = name or volume_name(namespace, str(spec.get("serviceAccountName") or ""))
    needed = False
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            if not isinstance(c, dict):
                continue
            mounts = c.get("volumeMounts") or []
            if any(isinstance(m, dict) and m.get("mountPath") == sat.TOKEN_MOUNT_PATH
                   for m in mounts):
                continue
            c["volumeMounts"] = [*mounts, {"name": name, "readOnly": True,
                                           "mountPath": sat.TOKEN_MOUNT_PATH}]
            needed = True
    if needed and not has_volume:
        spec["volumes"] = [*volumes, {"name": name, "projected": token_volume_source()}]


class ServiceAccountAdmission(Plugin):
    name = "ServiceAccount"
    operations = frozenset({CREATE})
    resources = frozenset({"pods"})

    def __init__(self, state: Any) -> None:
        self.state = state

    def _account(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        co = self.state.caches["serviceaccounts"].get(
            f"/registry/serviceaccounts/{namespace}/{name}")
        return co.obj if co is not None else None

    @staticmethod
    def _mirror(pod: Mapping[str, Any]) -> bool:
        return MIRROR_POD_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {})

    def admit(self, req: AdmissionRequest) -> None:
        pod = req.obj
        if pod is None or self._mirror(pod) or not isinstance(pod.get("spec"), dict):
            return
        spec = pod["spec"]
        if not spec.get("serviceAccountName"):
            spec["serviceAccountName"] = DEFAULT_SERVICE_ACCOUNT
        # The account is read from the watch cache; ``validate`` insists that it exists.
        sa = self._account(req.namespace or "", str(spec["serviceAccountName"]))
        if _automount(sa, spec):
            mount_token(spec, req.namespace or "")
        if sa is not None and not spec.get("imagePullSecrets") and sa.get("imagePullSecrets"):
            spec["imagePullSecrets"] = [{"name": r.get("name")}
                                        for r in sa["imagePullSecrets"] if isinstance(r, dict)]

    async def validate(self, req: AdmissionRequest) -> None:
        pod = req.obj
        if pod is None or self._mirror(pod):
            return
        name = str((pod.get("spec") or {}).get("serviceAccountName") or DEFAULT_SERVICE_ACCOUNT)
        ns = req.namespace or ""
        if self._account(ns, name) is None:
            # Perhaps the cache has not caught up with this server's own write yet.
            await self.state.registry.fresh_cache(resources.SERVICEACCOUNTS)
            if self._account(ns, name) is None:
                raise req.forbidden(f"error looking up service account {ns}/{name}: "
                                    f'serviceaccount "{name}" not found')


register_plugin(ServiceAccountAdmission.name, ServiceAccountAdmission)
