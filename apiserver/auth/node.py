"""The Node authorizer (plugin/pkg/auth/authorizer/node/node_authorizer.go and graph.go):
a kubelet (user ``system:node:<name>`` in group ``system:nodes``) may read the Secrets,
ConfigMaps and PersistentVolumeClaims the pods bound to its node use, create tokens for
their ServiceAccounts, and touch its own Lease in kube-node-lease; everything else it asks
is judged by the system:node rules (rbac.node_rules). Anything it may not do is
NO_OPINION with Kubernetes' reason, so the next authorizer (RBAC) is asked.

The graph is Kubernetes' pod -> node edges with the pod's secrets, configmaps, PVCs and
service account hanging off the pod, kept as reference counts per (kind, namespace,
name) and node. It follows the pods watch cache: each request first applies the pod
events it has not seen (nothing to do when nothing changed), and rebuilds from the
cache's objects only when its ring no longer holds the gap.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from apiserver.auth import rbac
from apiserver.auth.attributes import Attributes
from apiserver.auth.authorizer import Decision, register_mode
from apiserver.auth.user import NODE_USER_PREFIX, NODES_GROUP, UserInfo

NODE_LEASE_NAMESPACE = "kube-node-lease"

SECRET, CONFIGMAP, PVC, SERVICEACCOUNT = "secrets", "configmaps", "persistentvolumeclaims", \
    "serviceaccounts"
POD = "pods"  # the pod's own vertex: pods bound to the node
Ref = tuple[str, str, str]  # (kind, namespace, name)


def node_identity(user: UserInfo) -> tuple[str, bool]:
    """NodeIdentity: (node name, is a node); the name is "" for an unidentifiable node."""
    if NODES_GROUP not in user.groups or not user.name.startswith(NODE_USER_PREFIX):
        return "", False
    return user.name[len(NODE_USER_PREFIX):], True


def pod_refs(pod: Mapping[str, Any]) -> Iterator[Ref]:
    """What a pod uses, as graph.go's AddPod walks it (podutil.VisitPodSecretNames,
    VisitPodConfigmapNames, the PVC volumes and the service account)."""
    ns = str((pod.get("metadata") or {}).get("namespace") or "")
    spec = pod.get("spec") or {}
    sa = spec.get("serviceAccountName")
    if sa:
        yield SERVICEACCOUNT, ns, str(sa)
    for ref in spec.get("imagePullSecrets") or ():
        if isinstance(ref, Mapping) and ref.get("name"):
            yield SECRET, ns, str(ref["name"])
    for c in (*(spec.get("initContainers") or ()), *(spec.get("containers") or ()),
              *(spec.get("ephemeralContainers") or ())):
        if not isinstance(c, Mapping):
            continue
        for ef in c.get("envFrom") or ():
            if not isinstance(ef, Mapping):
                continue
            if (ef.get("secretRef") or {}).get("name"):
                yield SECRET, ns, str(ef["secretRef"]["name"])
            if (ef.get("configMapRef") or {}).get("name"):
                yield CONFIGMAP, ns, str(ef["configMapRef"]["name"])
        for e in c.get("env") or ():
            vf = e.get("valueFrom") if isinstance(e, Mapping) else None
            if not isinstance(vf, Mapping):
                continue
            if (vf.get("secretKeyRef") or {}).get("name"):
                yield SECRET, ns, str(vf["secretKeyRef"]["name"])
            if (vf.get("configMapKeyRef") or {}).get("name"):
                yield CONFIGMAP, ns, str(vf["configMapKeyRef"]["name"])
    for v in spec.get("volumes") or ():
        if not isinstance(v, Mapping):
            continue
        if (v.get("secret") or {}).get("secretName"):
            yield SECRET, ns, str(v["secret"]["secretName"])
        if (v.get("configMap") or {}).get("name"):
            yield CONFIGMAP, ns, str(v["configMap"]["name"])
        if (v.get("persistentVolumeClaim") or {}).get("claimName"):
            yield PVC, ns, str(v["persistentVolumeClaim"]["claimName"])
        for src in (v.get("projected") or {}).get("sources") or ():
            if not isinstance(src, Mapping):
                continue
            if (src.get("secret") or {}).get("name"):
                yield SECRET, ns, str(src["secret"]["name"])
            if (src.get("configMap") or {}).get("name"):
                yield CONFIGMAP, ns, str(src["configMap"]["name"])
        for key in ("cephfs", "cinder", "flexVolume", "rbd", "scaleIO", "storageos",
                    "iscsi", "azureFile", "csi"):
            src = v.get(key)
            if isinstance(src, Mapping):
                ref = src.get("secretRef") or src.get("nodePublishSecretRef")
                if isinstance(ref, Mapping) and ref.get("name"):
                    yield SECRET, ns, str(ref["name"])


class NodeGraph:
    """Which node's pods use which objects: (kind, namespace, name) -> {node: count}."""

    def __init__(self, caches: Mapping[str, Any]) -> None:
        self._cache = caches.get("pods")
        self._claims = caches.get(PVC)
        self._seen = -1
        self._objs: Any = None
        self._pods: dict[str, tuple[str, tuple[Ref, ...]]] = {}  # key -> (node, refs)
        self.uses: dict[Ref, dict[str, int]] = {}

    def sync(self) -> None:
        cache = self._cache
        if cache is None:
            return
        if cache.revision == self._seen and cache.objects is self._objs:
            return
        if self._seen < cache.window_start or cache.objects is not self._objs:
            for key in list(self._pods):
                self._apply(key, None)
            for key, co in list(cache.objects.items()):
                self._apply(key, co.obj)
        else:
            for ev in cache._events_after(self._seen):
                self._apply(ev.key, None if ev.type == "DELETED" else ev.obj)
        self._seen = cache.revision
        self._objs = cache.objects

    def _apply(self, key: str, pod: Mapping[str, Any] | None) -> None:
        old = self._pods.pop(key, None)
        if old is not None:
            node, refs = old
            for r in refs:
                counts = self.uses.get(r)
                if counts is None:
                    continue
                counts[node] -= 1
                if counts[node] <= 0:
                    del counts[node]
                    if not counts:
                        del self.uses[r]
        if pod is None:
            return
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if not node:
            return  # graph.go: only pods bound to a node
        md = pod.get("metadata") or {}
        refs = tuple({*pod_refs(pod), (POD, str(md.get("namespace") or ""),
                                       str(md.get("name") or ""))})
        self._pods[key] = (node, refs)
        for r in refs:
            counts = self.uses.setdefault(r, {})
            counts[node] = counts.get(node, 0) + 1

    def has_path(self, node: str, kind: str, namespace: str, name: str) -> bool:
        self.sync()
        return node in self.uses.get((kind, namespace, name), ())

    def has_volume_path(self, node: str, pv: str) -> bool:
        """graph.go's pv -> pvc -> pod -> node: a claim bound to ``pv`` (its
        spec.volumeName, from the claims' watch cache) is used by a pod on ``node``."""
        self.sync()
        if self._claims is None:
            return False
        for (kind, ns, name), nodes in list(self.uses.items()):
            if kind != PVC or node not in nodes:
                continue
            co = self._claims.objects.get(f"{self._claims.prefix}{ns}/{name}")
            if co is not None and (co.obj.get("spec") or {}).get("volumeName") == pv:
                return True
        return False


class NodeAuthorizer:
    def __init__(self, graph: NodeGraph) -> None:
        self.graph = graph
        self.rules = rbac.node_rules()

    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        node, is_node = node_identity(attrs.user)
        if not is_node:
            return Decision.NO_OPINION, ""
        if not node:
            return Decision.NO_OPINION, f'unknown node for user "{attrs.user.name}"'
        if attrs.resource_request:
            r, group = attrs.resource, attrs.api_group
            if group == "" and r in (SECRET, CONFIGMAP):
                return self._read_namespaced(node, r, attrs)
            if group == "" and r == PVC:
                if attrs.subresource == "status":
                    return self._status_update(node, attrs)
                return self._get(node, r, attrs)
            if group == "" and r == SERVICEACCOUNT:
                return self._create_token(node, attrs)
            if group == "" and r == "persistentvolumes":
                return self._volume(node, attrs)
            if group == "coordination.k8s.io" and r == "leases":
                return self._lease(node, attrs)
            # AuthorizeNodeWithSelectors (on by default since Kubernetes 1.32)
            if group == "" and r == "nodes":
                return self._node(node, attrs)
            if group == "" and r == POD:
                return self._pod(node, attrs)
        if rbac.rules_allow(attrs, self.rules):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""

    def _node(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        """authorizeNode: its own Node only for reads; writes are NodeRestriction's."""
        if attrs.subresource == "":
            if attrs.verb in ("create", "update", "patch"):
                return Decision.ALLOW, ""
            if attrs.verb in ("get", "list", "watch"):
                if attrs.name == node:
                    return Decision.ALLOW, ""
                if not attrs.name:
                    return Decision.NO_OPINION, (f"node '{node}' cannot read all nodes, only "
                                                 "its own Node object")
                return Decision.NO_OPINION, (f"node '{node}' cannot read '{attrs.name}', only "
                                             "its own Node object")
        elif attrs.subresource == "status" and attrs.verb in ("update", "patch"):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""

    def _pod(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        """authorizePod: reads of pods bound to it (list/watch with its spec.nodeName
        field selector); mirror pod writes, status and evictions are NodeRestriction's."""
        if attrs.subresource == "":
            if attrs.verb == "get":
                return self._get(node, POD, attrs)
            if attrs.verb in ("list", "watch"):
                if _selects_node(attrs.field_selector, node):
                    return Decision.ALLOW, ""
                if attrs.name:
                    return self._path(node, POD, attrs)
                return Decision.NO_OPINION, ("can only list/watch pods with spec.nodeName field "
                                             "selector")
            if attrs.verb in ("create", "delete"):
                return Decision.ALLOW, ""
        elif attrs.subresource == "status" and attrs.verb in ("update", "patch"):
            return Decision.ALLOW, ""
        elif attrs.subresource == "eviction" and attrs.verb == "create":
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""

    def _path(self, node: str, kind: str, attrs: Attributes) -> tuple[Decision, str]:
        if not attrs.name:
            return Decision.NO_OPINION, "No Object name found"
        if self.graph.has_path(node, kind, attrs.namespace, attrs.name):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, f"no relationship found between node '{node}' and this object"

    def _read_namespaced(self, node: str, kind: str, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.verb not in ("get", "list", "watch"):
            return Decision.NO_OPINION, "can only read resources of this type"
        if attrs.subresource:
            return Decision.NO_OPINION, "cannot read subresource"
        if not attrs.namespace:
            return Decision.NO_OPINION, "can only read namespaced object of this type"
        return self._path(node, kind, attrs)

    def _get(self, node: str, kind: str, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.verb != "get":
            return Decision.NO_OPINION, "can only get individual resources of this type"
        if attrs.subresource:
            return Decision.NO_OPINION, "cannot get subresource"
        return self._path(node, kind, attrs)

    def _volume(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        """authorizeGet for persistentvolumes: the volume of a claim its pods use."""
        if attrs.verb != "get":
            return Decision.NO_OPINION, "can only get individual resources of this type"
        if attrs.subresource:
            return Decision.NO_OPINION, "cannot get subresource"
        if not attrs.name:
            return Decision.NO_OPINION, "No Object name found"
        if self.graph.has_volume_path(node, attrs.name):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, f"no relationship found between node '{node}' and this object"

    def _status_update(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.verb not in ("update", "patch"):
            return Decision.NO_OPINION, "can only get, update or patch a PVC status"
        return self._path(node, PVC, attrs)

    def _create_token(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.verb != "create" or not attrs.name:
            return Decision.NO_OPINION, "can only create tokens for individual service accounts"
        if attrs.subresource != "token":
            return Decision.NO_OPINION, "can only create token subresource of serviceaccount"
        return self._path(node, SERVICEACCOUNT, attrs)

    def _lease(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.verb not in ("get", "create", "update", "patch", "delete"):
            return Decision.NO_OPINION, ("can only get, create, update, patch, or delete a "
                                         "node lease")
        if attrs.namespace != NODE_LEASE_NAMESPACE:
            return Decision.NO_OPINION, ("can only access leases in the "
                                         f'"{NODE_LEASE_NAMESPACE}" system namespace')
        # The name is not known to the authorizer on create: NodeRestriction checks it.
        if attrs.verb != "create" and attrs.name != node:
            return Decision.NO_OPINION, ("can only access node lease with the same name as "
                                         "the requesting node")
        return Decision.ALLOW, ""


def _selects_node(field_selector: str, node: str) -> bool:
    """The field selector requires spec.nodeName=<node> (= or ==)."""
    for term in field_selector.split(","):
        for op in ("==", "="):
            key, sep, value = term.partition(op)
            if sep and not key.endswith("!"):
                if key.strip() == "spec.nodeName" and value.strip() == node:
                    return True
                break
    return False


def graph_for(state: Any) -> NodeGraph:
    """One graph per API server (the authorizer and NodeRestriction share it)."""
    g: NodeGraph | None = getattr(state, "node_graph", None)
    if g is None:
        g = state.node_graph = NodeGraph(state.caches)
    return g


register_mode("Node", lambda state: NodeAuthorizer(graph_for(state)))
