"""The default RBAC policy, and its reconciliation at API server start.

After plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go (the roles and their
bindings) and the rbac/bootstrap-roles post-start hook (pkg/registry/rbac/rest/
storage_rbac.go with pkg/registry/rbac/reconciliation): missing objects are created; an
existing one annotated ``rbac.authorization.kubernetes.io/autoupdate: "true"`` (anything
but "false") gets the rules, aggregation selectors, labels, annotations and subjects it
lacks; nothing is ever removed. ``admin``, ``edit`` and ``view`` aggregate the
``system:aggregate-to-*`` roles (the clusterrole-aggregation controller fills them).

The component roles give each of minik8s's services what it does and no more: the
scheduler, the proxy and the DNS read what their informers list and watch; the
controller-manager runs every controller under one identity, so it may read and change
any resource (the garbage collector and the namespace controller act on every kind) and
create the kinds its controllers create, but not escalate, bind or impersonate, except
``escalate`` on ClusterRoles for the aggregation controller.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from api import resources
from api.resources import ResourceInfo
from apiserver.auth.rbac import READ, READ_WRITE, new_rule, node_rules
from apiserver.auth.user import (
    ALL_AUTHENTICATED,
    ALL_UNAUTHENTICATED,
    SERVICE_ACCOUNTS_GROUP,
    SYSTEM_MASTERS,
)

log = logging.getLogger("apiserver.rbac")

GROUP = "rbac.authorization.k8s.io"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
BOOTSTRAP_LABEL = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AGGREGATE_TO_ADMIN = "rbac.authorization.k8s.io/aggregate-to-admin"
AGGREGATE_TO_EDIT = "rbac.authorization.k8s.io/aggregate-to-edit"
AGGREGATE_TO_VIEW = "rbac.authorization.k8s.io/aggregate-to-view"

WRITE = ("create", "update", "patch", "delete", "deletecollection")
CORE, APPS, AUTOSCALING, BATCH = "", "apps", "autoscaling", "batch"
AUTHN, AUTHZ = "authentication.k8s.io", "authorization.k8s.io"
COORDINATION, DISCOVERY = "coordination.k8s.io", "discovery.k8s.io"
EVENTS = "events.k8s.io"
CERTIFICATES = "certificates.k8s.io"
# kubeadm's group for the bootstrap tokens that join nodes, and the ConfigMap they read
DEFAULT_NODE_TOKEN_GROUP = "system:bootstrappers:kubeadm:default-node-token"
CLUSTER_INFO = "cluster-info"
Rule = dict[str, Any]


def _events() -> list[Rule]:
    """eventsRule: events through core/v1 and events.k8s.io."""
    return [new_rule(["create", "update", "patch"], [CORE, EVENTS], ["events"])]


def _role(name: str, rules: list[Rule], labels: dict[str, str] | None = None,
          aggregate: list[str] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": f"{GROUP}/v1", "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {**BOOTSTRAP_LABEL, **(labels or {})},
                     "annotations": {AUTOUPDATE: "true"}},
        "rules": rules,
    }
    if aggregate:
        obj["aggregationRule"] = {"clusterRoleSelectors": [
            {"matchLabels": {label: "true"}} for label in aggregate]}
    return obj


def _binding(role: str, users: tuple[str, ...] = (), groups: tuple[str, ...] = (),
             sas: tuple[tuple[str, str], ...] = (), name: str = "") -> dict[str, Any]:
    subjects: list[dict[str, str]] = [
        *({"kind": "User", "apiGroup": GROUP, "name": u} for u in users),
        *({"kind": "Group", "apiGroup": GROUP, "name": g} for g in groups),
        *({"kind": "ServiceAccount", "name": n, "namespace": ns} for ns, n in sas)]
    obj: dict[str, Any] = {
        "apiVersion": f"{GROUP}/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name or role, "labels": dict(BOOTSTRAP_LABEL),
                     "annotations": {AUTOUPDATE: "true"}},
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role},
    }
    if subjects:
        obj["subjects"] = subjects
    return obj


def cluster_roles() -> list[dict[str, Any]]:
    return [
        _role("cluster-admin", [new_rule(["*"], ["*"], ["*"]), new_rule(["*"], urls=["*"])]),
        _role("system:discovery", [new_rule(["get"], urls=[
            "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
            "/openapi/*", "/readyz", "/version", "/version/"])]),
        _role("system:monitoring", [new_rule(["get"], urls=[
            "/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis",
            "/readyz", "/readyz/*"])]),
        _role("system:basic-user", [
            new_rule(["create"], [AUTHN], ["selfsubjectreviews"]),
            new_rule(["create"], [AUTHZ], ["selfsubjectaccessreviews",
                                           "selfsubjectrulesreviews"])]),
        _role("system:public-info-viewer", [new_rule(["get"], urls=[
            "/healthz", "/livez", "/readyz", "/version", "/version/"])]),
        # the user-facing roles, filled by aggregation
        _role("admin", [], aggregate=[AGGREGATE_TO_ADMIN]),
        _role("edit", [], labels={AGGREGATE_TO_ADMIN: "true"}, aggregate=[AGGREGATE_TO_EDIT]),
        _role("view", [], labels={AGGREGATE_TO_ADMIN: "true", AGGREGATE_TO_EDIT: "true"},
              aggregate=[AGGREGATE_TO_VIEW]),
        _role("system:aggregate-to-admin", [
            new_rule(["create"], [AUTHZ], ["localsubjectaccessreviews"]),
            new_rule(READ_WRITE, [GROUP], ["roles", "rolebindings"]),
        ], labels={AGGREGATE_TO_ADMIN: "true"}),
        _role("system:aggregate-to-edit", [
            new_rule(["impersonate"], [CORE], ["serviceaccounts"]),
            new_rule(WRITE, [CORE], ["pods", "pods/attach", "pods/proxy", "pods/exec",
                                     "pods/portforward"]),
            new_rule(["create"], [CORE], ["pods/eviction"]),
            new_rule(WRITE, [CORE], ["replicationcontrollers", "replicationcontrollers/scale",
                                     "serviceaccounts", "services", "services/proxy",
                                     "persistentvolumeclaims", "configmaps", "secrets"]),
            new_rule(["create"], [CORE], ["serviceaccounts/token"]),
            new_rule(WRITE, [APPS], ["statefulsets", "statefulsets/scale", "daemonsets",
                                     "deployments", "deployments/scale",
                                     "deployments/rollback", "replicasets",
                                     "replicasets/scale"]),
            new_rule(WRITE, [AUTOSCALING], ["horizontalpodautoscalers"]),
            new_rule(WRITE, [BATCH], ["jobs", "cronjobs"]),
            new_rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
            new_rule(WRITE, ["networking.k8s.io"], ["networkpolicies"]),
            new_rule(READ, [CORE], ["pods/attach", "pods/proxy", "pods/exec",
                                    "pods/portforward", "secrets", "services/proxy"]),
        ], labels={AGGREGATE_TO_EDIT: "true"}),
        _role("system:aggregate-to-view", [
            new_rule(READ, [CORE], ["pods", "replicationcontrollers",
                                    "replicationcontrollers/scale", "serviceaccounts",
                                    "services", "services/status", "endpoints",
                                    "persistentvolumeclaims", "persistentvolumeclaims/status",
                                    "configmaps"]),
            new_rule(READ, [CORE], ["limitranges", "resourcequotas", "bindings", "events",
                                    "pods/status", "resourcequotas/status", "namespaces/status",
                                    "replicationcontrollers/status", "pods/log"]),
            new_rule(READ, [CORE], ["namespaces"]),
            new_rule(READ, [DISCOVERY], ["endpointslices"]),
            new_rule(READ, [APPS], ["controllerrevisions", "statefulsets",
                                    "statefulsets/status", "statefulsets/scale", "daemonsets",
                                    "daemonsets/status", "deployments", "deployments/status",
                                    "deployments/scale", "replicasets", "replicasets/status",
                                    "replicasets/scale"]),
            new_rule(READ, [AUTOSCALING], ["horizontalpodautoscalers",
                                           "horizontalpodautoscalers/status"]),
            new_rule(READ, [BATCH], ["jobs", "jobs/status", "cronjobs", "cronjobs/status"]),
            new_rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
            new_rule(READ, ["networking.k8s.io"], ["networkpolicies"]),
        ], labels={AGGREGATE_TO_VIEW: "true"}),
        # nodes: not bound, the Node authorizer applies these rules to each node
        _role("system:node", node_rules()),
        _role("system:node-bootstrapper", [
            new_rule(["create", "get", "list", "watch"], ["certificates.k8s.io"],
                     ["certificatesigningrequests"])]),
        # the csrapproving controller's SubjectAccessReviews (controllers/certificates.py)
        _role("system:certificates.k8s.io:certificatesigningrequests:nodeclient", [
            new_rule(["create"], [CERTIFICATES], ["certificatesigningrequests/nodeclient"])]),
        _role("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", [
            new_rule(["create"], [CERTIFICATES],
                     ["certificatesigningrequests/selfnodeclient"])]),
        *(_role(f"system:certificates.k8s.io:{signer.split('/')[1]}-approver", [
            new_rule(["approve"], [CERTIFICATES], ["signers"], names=[signer])])
          for signer in ("kubernetes.io/kube-apiserver-client",
                         "kubernetes.io/kube-apiserver-client-kubelet",
                         "kubernetes.io/kubelet-serving", "kubernetes.io/legacy-unknown")),
        # kubeadm's: a joining node reads its Node (kubeadm join's pre-flight)
        _role("kubeadm:get-nodes", [new_rule(["get"], [CORE], ["nodes"])]),
        _role("system:auth-delegator", [
            new_rule(["create"], [AUTHN], ["tokenreviews"]),
            new_rule(["create"], [AUTHZ], ["subjectaccessreviews"])]),
        _role("system:kubelet-api-admin", [
            new_rule(["get", "list", "watch"], [CORE], ["nodes"]),
            new_rule(["proxy"], [CORE], ["nodes"]),
            new_rule(["*"], [CORE], ["nodes/proxy", "nodes/metrics", "nodes/stats",
                                     "nodes/log", "nodes/spec"])]),
        _role("system:service-account-issuer-discovery", [new_rule(["get"], urls=[
            "/.well-known/openid-configuration", "/.well-known/openid-configuration/",
            "/openid/v1/jwks", "/openid/v1/jwks/"])]),
        # the components (proxy/, scheduler/, controllers/, clusterdns/)
        _role("system:node-proxier", [
            new_rule(["list", "watch"], [CORE], ["services", "endpoints"]),
            new_rule(["get", "list", "watch"], [CORE], ["nodes"]),
            *_events(),
            new_rule(["list", "watch"], [DISCOVERY], ["endpointslices"])]),
        # the network policy agent (proxy/netpol), beside the proxy and as its user, as
        # kube-router's ClusterRole
        _role("system:minik8s-netpol", [
            new_rule(["list", "watch"], [CORE], ["pods", "namespaces"]),
            new_rule(["list", "watch"], ["networking.k8s.io"], ["networkpolicies"])]),
        _role("system:kube-scheduler", [
            *_events(),
            # leader election (scheduler/main.py: kube-system/minik8s-scheduler)
            new_rule(["create"], [COORDINATION], ["leases"]),
            new_rule(["get", "update"], [COORDINATION], ["leases"],
                     names=["kube-scheduler", "minik8s-scheduler"]),
            new_rule(["get", "list", "watch"], [CORE], ["nodes"]),
            # preemption deletes victims; bindings and the PodScheduled condition
            new_rule(["delete", "get", "list", "watch"], [CORE], ["pods"]),
            new_rule(["create"], [CORE], ["bindings", "pods/binding"]),
            new_rule(["patch", "update"], [CORE], ["pods/status"]),
            new_rule(["list", "watch"], [CORE], ["replicationcontrollers", "services",
                                                 "namespaces", "persistentvolumeclaims",
                                                 "persistentvolumes"]),
            new_rule(["list", "watch"], [APPS], ["replicasets", "statefulsets"]),
            # VolumeBinding (system:volume-scheduler): classes read, the selected-node
            # annotation written on claims
            new_rule(["get", "list", "watch"], ["storage.k8s.io"], ["storageclasses"]),
            new_rule(["get", "patch", "update"], [CORE], ["persistentvolumeclaims"]),
            new_rule(["create"], [AUTHN], ["tokenreviews"]),
            new_rule(["create"], [AUTHZ], ["subjectaccessreviews"])]),
        _role("system:kube-controller-manager", [
            # the garbage collector and the namespace controller act on every kind
            new_rule(["get", "list", "watch", "update", "patch", "delete", "deletecollection"],
                     ["*"], ["*"]),
            # what the controllers create
            new_rule(["create"], [CORE], ["pods", "pods/eviction", "events", "endpoints",
                                          "serviceaccounts", "serviceaccounts/token",
                                          "secrets", "configmaps",
                                          "persistentvolumeclaims", "persistentvolumes"]),
            new_rule(["create"], [APPS], ["replicasets", "controllerrevisions"]),
            new_rule(["create"], [BATCH], ["jobs"]),
            new_rule(["create"], [DISCOVERY], ["endpointslices"]),
            new_rule(["create"], [EVENTS], ["events"]),
            new_rule(["create"], [COORDINATION], ["leases"]),
            new_rule(["create"], [AUTHN], ["tokenreviews"]),
            new_rule(["create"], [AUTHZ], ["subjectaccessreviews"]),
            # the clusterrole-aggregation controller writes rules it need not hold
            new_rule(["escalate"], [GROUP], ["clusterroles"]),
            # csrapproving approves kubelet client CSRs, csrsigning issues for its signers
            # (system:controller:certificate-controller)
            new_rule(["approve"], [CERTIFICATES], ["signers"],
                     names=["kubernetes.io/kube-apiserver-client-kubelet"]),
            new_rule(["sign"], [CERTIFICATES], ["signers"],
                     names=["kubernetes.io/kube-apiserver-client",
                            "kubernetes.io/kube-apiserver-client-kubelet",
                            "kubernetes.io/kubelet-serving",
                            "kubernetes.io/legacy-unknown"])]),
        _role("system:kube-dns", [
            new_rule(["list", "watch"], [CORE], ["endpoints", "services", "namespaces",
                                                 "pods"]),
            new_rule(["list", "watch"], [DISCOVERY], ["endpointslices"])]),
    ]


def cluster_role_bindings() -> list[dict[str, Any]]:
    return [
        _binding("cluster-admin", groups=(SYSTEM_MASTERS,)),
        _binding("system:monitoring", groups=("system:monitoring",)),
        _binding("system:discovery", groups=(ALL_AUTHENTICATED,)),
        _binding("system:basic-user", groups=(ALL_AUTHENTICATED,)),
        _binding("system:public-info-viewer", groups=(ALL_AUTHENTICATED, ALL_UNAUTHENTICATED)),
        _binding("system:service-account-issuer-discovery", groups=(SERVICE_ACCOUNTS_GROUP,)),
        _binding("system:node"),  # no subjects: nodes are the Node authorizer's
        _binding("system:node-proxier", users=("system:kube-proxy",)),
        _binding("system:minik8s-netpol", users=("system:kube-proxy",)),
        _binding("system:kube-controller-manager", users=("system:kube-controller-manager",)),
        _binding("system:kube-scheduler", users=("system:kube-scheduler",)),
        _binding("system:kube-dns", sas=(("kube-system", "kube-dns"),)),
        # kubeadm's TLS bootstrap bindings (cmd/kubeadm/app/phases/bootstraptoken/node):
        # bootstrap tokens of the default group create CSRs that are auto-approved, and
        # nodes renew their own client certificates
        _binding("system:node-bootstrapper", groups=(DEFAULT_NODE_TOKEN_GROUP,),
                 name="kubeadm:kubelet-bootstrap"),
        _binding("system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                 groups=(DEFAULT_NODE_TOKEN_GROUP,), name="kubeadm:node-autoapprove-bootstrap"),
        _binding("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
                 groups=("system:nodes",), name="kubeadm:node-autoapprove-certificate-rotation"),
        _binding("kubeadm:get-nodes", groups=(DEFAULT_NODE_TOKEN_GROUP,),
                 name="kubeadm:get-nodes"),
    ]


def namespace_roles() -> list[dict[str, Any]]:
    """Roles in kube-public: the bootstrap signer's (bootstrappolicy.NamespaceRoles) and
    kubeadm's anonymous read of the cluster-info ConfigMap that ``join`` starts from."""
    return [
        _namespaced(_role("system:controller:bootstrap-signer", [
            new_rule(["get", "list", "watch"], [CORE], ["configmaps"]),
            new_rule(["update"], [CORE], ["configmaps"], names=[CLUSTER_INFO])])),
        _namespaced(_role("kubeadm:bootstrap-signer-clusterinfo", [
            new_rule(["get"], [CORE], ["configmaps"], names=[CLUSTER_INFO])])),
    ]


def namespace_role_bindings() -> list[dict[str, Any]]:
    return [
        _namespaced(_binding("system:controller:bootstrap-signer",
                             sas=(("kube-system", "bootstrap-signer"),))),
        _namespaced(_binding("kubeadm:bootstrap-signer-clusterinfo",
                             users=("system:anonymous",))),
    ]


def _namespaced(obj: dict[str, Any], namespace: str = "kube-public") -> dict[str, Any]:
    obj["kind"] = "Role" if obj["kind"] == "ClusterRole" else "RoleBinding"
    obj["metadata"]["namespace"] = namespace
    if "roleRef" in obj:
        obj["roleRef"]["kind"] = "Role"
    return obj


# ---- reconciliation (pkg/registry/rbac/reconciliation) ---------------------------------


def _merge_meta(cur: dict[str, Any], want: dict[str, Any]) -> bool:
    changed = False
    md, wmd = cur.setdefault("metadata", {}), want["metadata"]
    for field in ("labels", "annotations"):
        have = md.get(field) or {}
        for k, v in (wmd.get(field) or {}).items():
            if k not in have:
                have[k] = v
                changed = True
        if have:
            md[field] = have
    return changed


def _reconcile_role(cur: dict[str, Any], want: dict[str, Any]) -> bool:
    from apiserver.auth.escalation import covers

    changed = _merge_meta(cur, want)
    if want.get("aggregationRule"):
        agg = cur.get("aggregationRule") or {}
        sels = list(agg.get("clusterRoleSelectors") or [])
        for s in want["aggregationRule"]["clusterRoleSelectors"]:
            if s not in sels:
                sels.append(s)
                changed = True
        cur["aggregationRule"] = {**agg, "clusterRoleSelectors": sels}
        return changed
    rules = list(cur.get("rules") or [])
    for r in want["rules"]:
        if not covers(rules, [r])[0]:
            rules.append(r)
            changed = True
    cur["rules"] = rules
    return changed


def _reconcile_binding(cur: dict[str, Any], want: dict[str, Any]) -> bool:
    changed = _merge_meta(cur, want)
    subjects = list(cur.get("subjects") or [])
    for s in want.get("subjects") or []:
        if not any(all(x.get(k) == s.get(k) for k in ("kind", "name", "namespace"))
                   for x in subjects):
            subjects.append(s)
            changed = True
    if subjects:
        cur["subjects"] = subjects
    return changed


async def reconcile(registry: Any) -> None:
    """Create the missing default roles and bindings; complete the auto-updated ones."""
    plan: list[tuple[ResourceInfo, list[dict[str, Any]], Any]] = [
        (resources.CLUSTERROLES, cluster_roles(), _reconcile_role),
        (resources.CLUSTERROLEBINDINGS, cluster_role_bindings(), _reconcile_binding),
        (resources.ROLES, namespace_roles(), _reconcile_role),
        (resources.ROLEBINDINGS, namespace_role_bindings(), _reconcile_binding),
    ]
    for info, objs, merge in plan:
        cache = await registry.fresh_cache(info, 5.0)
        for want in objs:
            name = want["metadata"]["name"]
            ns = want["metadata"].get("namespace")
            key = f"/registry/{info.plural}/{ns}/{name}" if ns else \
                f"/registry/{info.plural}/{name}"
            co = cache.get(key) if cache is not None else None
            if co is None:
                try:
                    await registry.create(info, ns, copy.deepcopy(want))
                    continue
                except Exception as e:  # created meanwhile (another server): reconcile it
                    if getattr(e, "code", 0) != 409:
                        raise
                co = await registry.get(info, ns, name)
            cur = copy.deepcopy(co.obj)
            if (cur.get("metadata", {}).get("annotations") or {}).get(AUTOUPDATE) == "false":
                continue
            if info is resources.CLUSTERROLEBINDINGS and cur.get("roleRef") != want["roleRef"]:
                log.warning("clusterrolebinding %s refers to %s, not %s; left as it is",
                            name, cur.get("roleRef"), want["roleRef"])
                continue
            if merge(cur, want):
                log.info("reconciling %s %s", info.kind, name)
                await registry.update(info, None, name, cur)
