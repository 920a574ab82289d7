"""NodeRestriction (plugin/pkg/admission/noderestriction/admission.go): a kubelet
(``system:node:<name>`` in ``system:nodes``) may change only its own Node (not its taints,
nor labels of the node-restriction.kubernetes.io/ namespace or kubernetes.io/k8s.io
labels a kubelet may not set), only its own Lease, create only mirror pods bound to
itself and owned by its Node, delete only pods bound to it and update only their status
(not their labels). Off unless --enable-admission-plugins names it, as in Kubernetes.

The token subresource (TokenRequest) is not written through the registry: its handler
calls ``check_token_request`` for node users (a token bound to a pod on that node).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apiserver.admission_plugins import (
    CREATE,
    DELETE,
    UPDATE,
    AdmissionRequest,
    Plugin,
    register_plugin,
)
from apiserver.auth.node import NODE_LEASE_NAMESPACE, node_identity

MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
NODE_RESTRICTION_LABEL_NAMESPACE = "node-restriction.kubernetes.io"
# kubeletapis: labels a kubelet may set on its own Node (IsKubeletLabel).
_KUBELET_LABELS = frozenset({
    "kubernetes.io/hostname", "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type",
    "kubernetes.io/os", "kubernetes.io/arch", "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch"})
_KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")


def _label_namespace(label: str) -> str:
    return label.split("/", 1)[0] if "/" in label else ""


def _is_kubernetes_label(label: str) -> bool:
    ns = _label_namespace(label)
    return ns in ("kubernetes.io", "k8s.io") or ns.endswith((".kubernetes.io", ".k8s.io"))


def _is_kubelet_label(label: str) -> bool:
    if label in _KUBELET_LABELS:
        return True
    ns = _label_namespace(label)
    return any(ns == n or ns.endswith("." + n) for n in _KUBELET_LABEL_NAMESPACES)


def forbidden_labels(modified: set[str]) -> list[str]:
    out = set()
    for label in modified:
        ns = _label_namespace(label)
        if ns == NODE_RESTRICTION_LABEL_NAMESPACE or \
                ns.endswith("." + NODE_RESTRICTION_LABEL_NAMESPACE):
            out.add(label)
        if _is_kubernetes_label(label) and not _is_kubelet_label(label):
            out.add(label)
    return sorted(out)


def _modified_labels(new: Mapping[str, str], old: Mapping[str, str]) -> set[str]:
    return {k for k in set(new) | set(old) if new.get(k) != old.get(k)}


def _labels(obj: Mapping[str, Any] | None) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get("labels") or {})


def _pod_references(pod: Mapping[str, Any]) -> str | None:
    """What a mirror pod may not reference (the first kind found), else None."""
    from apiserver.auth.node import CONFIGMAP, PVC, SECRET, SERVICEACCOUNT, pod_refs

    kinds = {kind for kind, _, _ in pod_refs(pod)}
    for kind, word in ((SERVICEACCOUNT, "a service account"), (SECRET, "secrets"),
                       (CONFIGMAP, "configmaps"), (PVC, "persistentvolumeclaims")):
        if kind in kinds:
            return word
    return None


class NodeRestriction(Plugin):
    name = "NodeRestriction"
    operations = frozenset({CREATE, UPDATE, DELETE})
    resources = frozenset({"pods", "nodes", "leases"})
    subresources = frozenset({"status", "eviction"})

    def __init__(self, state: Any) -> None:
        self.state = state

    def _node(self, name: str) -> Mapping[str, Any] | None:
        co = self.state.caches["nodes"].get(f"/registry/nodes/{name}")
        return co.obj if co is not None else None

    async def validate(self, req: AdmissionRequest) -> None:
        node, is_node = node_identity(req.user)
        if not is_node:
            return
        if not node:
            raise req.forbidden(f'could not determine node from user "{req.user.name}"')
        plural = req.info.plural
        if plural == "pods":
            if req.subresource is None:
                self._pod(node, req)
            elif req.subresource == "status":
                self._pod_status(node, req)
            elif req.subresource == "eviction":
                self._pod_eviction(node, req)
            else:
                raise req.forbidden(f'unexpected pod subresource "{req.subresource}", only '
                                    "'status' and 'eviction' are allowed")
        elif plural == "nodes":
            self._node_write(node, req)
        elif plural == "leases" and req.info.group == "coordination.k8s.io":
            self._lease(node, req)

    def _pod_eviction(self, node: str, req: AdmissionRequest) -> None:
        """admitPodEviction: a node evicts only pods bound to itself (a pod not found is
        the eviction's own 404)."""
        if req.operation != CREATE:
            return
        name = req.name or ((req.obj or {}).get("metadata") or {}).get("name") or ""
        if not name:
            raise req.forbidden("could not determine pod from request data")
        co = self.state.caches["pods"].get(f"/registry/pods/{req.namespace}/{name}")
        if co is None:
            return
        if (co.obj.get("spec") or {}).get("nodeName") != node:
            raise req.forbidden(f"node {node} can only evict pods with spec.nodeName set to "
                                "itself")

    def _pod(self, node: str, req: AdmissionRequest) -> None:
        if req.operation == CREATE:
            self._mirror_pod(node, req)
        elif req.operation == DELETE:
            if ((req.old or {}).get("spec") or {}).get("nodeName") != node:
                raise req.forbidden(f'node "{node}" can only delete pods with spec.nodeName '
                                    "set to itself")
        else:
            raise req.forbidden(f'unexpected operation "{req.operation}", node "{node}" can '
                                "only create and delete mirror pods")

    def _mirror_pod(self, node: str, req: AdmissionRequest) -> None:
        pod = req.obj or {}
        md = pod.get("metadata") or {}
        if MIRROR_POD_ANNOTATION not in (md.get("annotations") or {}):
            raise req.forbidden(f'pod does not have "{MIRROR_POD_ANNOTATION}" annotation, '
                                f'node "{node}" can only create mirror pods')
        if (pod.get("spec") or {}).get("nodeName") != node:
            raise req.forbidden(f'node "{node}" can only create pods with spec.nodeName set '
                                "to itself")
        owners = md.get("ownerReferences") or []
        if len(owners) > 1:
            raise req.forbidden(f'node "{node}" can only create pods with a single owner '
                                "reference set to itself")
        if not owners:
            raise req.forbidden(f'node "{node}" can only create pods with an owner reference '
                                "set to itself")
        owner = owners[0]
        if owner.get("apiVersion") != "v1" or owner.get("kind") != "Node" or \
                owner.get("name") != node:
            raise req.forbidden(f'node "{node}" can only create pods with an owner reference '
                                "set to itself")
        if not owner.get("controller"):
            raise req.forbidden(f'node "{node}" can only create pods with a controller owner '
                                "reference set to itself")
        if owner.get("blockOwnerDeletion"):
            raise req.forbidden(f'node "{node}" must not set blockOwnerDeletion on an owner '
                                "reference")
        stored = self._node(node)
        uid = ((stored or {}).get("metadata") or {}).get("uid")
        if owner.get("uid") != uid:
            raise req.forbidden(f"node {node} UID mismatch: expected {uid} got "
                                f"{owner.get('uid')}")
        what = _pod_references(pod)
        if what is not None:
            raise req.forbidden(f'node "{node}" can not create pods that reference {what}')

    def _pod_status(self, node: str, req: AdmissionRequest) -> None:
        if req.operation != UPDATE:
            raise req.forbidden(f'unexpected operation "{req.operation}"')
        if ((req.old or {}).get("spec") or {}).get("nodeName") != node:
            raise req.forbidden(f'node "{node}" can only update pod status for pods with '
                                "spec.nodeName set to itself")
        if _labels(req.obj) != _labels(req.old):
            raise req.forbidden(f'node "{node}" cannot update labels through pod status')

    def _node_write(self, node: str, req: AdmissionRequest) -> None:
        name = req.name or str(((req.obj or {}).get("metadata") or {}).get("name") or "")
        if name != node:
            raise req.forbidden(f'node "{node}" is not allowed to modify node "{name}"')
        if req.operation == CREATE:
            bad = forbidden_labels(set(_labels(req.obj)))
            if bad:
                raise req.forbidden(f'node "{node}" is not allowed to set the following '
                                    f"labels: {', '.join(bad)}")
        elif req.operation == UPDATE:
            new_taints = ((req.obj or {}).get("spec") or {}).get("taints") or []
            old_taints = ((req.old or {}).get("spec") or {}).get("taints") or []
            if new_taints != old_taints:
                raise req.forbidden(f'node "{node}" is not allowed to modify taints')
            bad = forbidden_labels(_modified_labels(_labels(req.obj), _labels(req.old)))
            if bad:
                raise req.forbidden(f"is not allowed to modify labels: {', '.join(bad)}")

    def _lease(self, node: str, req: AdmissionRequest) -> None:
        if req.namespace != NODE_LEASE_NAMESPACE:
            raise req.forbidden(f'can only access leases in the "{NODE_LEASE_NAMESPACE}" '
                                "system namespace")
        name = req.name if req.operation != CREATE else \
            str(((req.obj or {}).get("metadata") or {}).get("name") or "")
        if name != node:
            raise req.forbidden("can only access node lease with the same name as the "
                                "requesting node")


def check_token_request(node: str, pod: Mapping[str, Any] | None,
                        ref: Mapping[str, Any] | None) -> str | None:
    """admitServiceAccount: why a node may not have this token (None: it may)."""
    if not ref or ref.get("apiVersion") != "v1" or ref.get("kind") != "Pod" or \
            not ref.get("name"):
        return "node requested token not bound to a pod"
    if not ref.get("uid"):
        return "node requested token with a pod binding without a uid"
    if pod is None:
        return None  # the handler answers 404
    if ref["uid"] != (pod.get("metadata") or {}).get("uid"):
        return (f"the UID in the bound object reference ({ref['uid']}) does not match the UID "
                "in record. The object might have been deleted and then recreated")
    if (pod.get("spec") or {}).get("nodeName") != node:
        return "node requested token bound to a pod scheduled on a different node"
    return None


register_plugin(NodeRestriction.name, NodeRestriction)
