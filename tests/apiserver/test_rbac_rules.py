"""RBAC's rule matching (rbac.RuleAllows over pkg/apis/rbac/v1/evaluation_helpers.go) and
bootstrappolicy.NodeRules, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver.auth.attributes import Attributes, from_request
from apiserver.auth.authorizer import Decision
from apiserver.auth.rbac import (
    RBACAuthorizer,
    RBACIndex,
    new_rule,
    node_rules,
    rule_allows,
    rules_allow,
)
from apiserver.auth.user import UserInfo

U = UserInfo("alice")


def req(method: str, path: str, query: str = "") -> Attributes:
    return from_request(U, method, path, query)


PODS_READ = new_rule(["get", "list", "watch"], [""], ["pods"])


@pytest.mark.parametrize(("rule", "method", "path", "want"), [
    (PODS_READ, "GET", "/api/v1/namespaces/d/pods", True),
    (PODS_READ, "GET", "/api/v1/namespaces/d/pods/p", True),
    (PODS_READ, "DELETE", "/api/v1/namespaces/d/pods/p", False),
    (PODS_READ, "GET", "/api/v1/namespaces/d/pods/p/log", False),  # subresource: not pods
    (PODS_READ, "GET", "/apis/apps/v1/namespaces/d/pods", False),  # group
    (new_rule(["*"], ["*"], ["*"]), "DELETE", "/apis/apps/v1/namespaces/d/deployments/x", True),
    (new_rule(["get"], [""], ["pods/log"]), "GET", "/api/v1/namespaces/d/pods/p/log", True),
    (new_rule(["get"], [""], ["pods/log"]), "GET", "/api/v1/namespaces/d/pods/p", False),
    (new_rule(["patch"], ["*"], ["*/scale"]), "PATCH",
     "/apis/apps/v1/namespaces/d/deployments/web/scale", True),
    (new_rule(["patch"], ["*"], ["*/scale"]), "PATCH",
     "/apis/apps/v1/namespaces/d/deployments/web", False),
    (new_rule(["patch"], ["*"], ["*/scale"]), "PATCH",
     "/apis/apps/v1/namespaces/d/deployments/web/status", False),
    # Kubernetes has no "resource/*" wildcard: it is a literal resource name
    (new_rule(["get"], [""], ["pods/*"]), "GET", "/api/v1/namespaces/d/pods/p/log", False),
    (new_rule(["get"], [""], ["pods"], names=["a"]), "GET", "/api/v1/namespaces/d/pods/a", True),
    (new_rule(["get"], [""], ["pods"], names=["a"]), "GET", "/api/v1/namespaces/d/pods/b", False),
    (new_rule(["list"], [""], ["pods"], names=["a"]), "GET", "/api/v1/namespaces/d/pods", False),
    (new_rule(["get"], urls=["/healthz"]), "GET", "/healthz", True),
    (new_rule(["get"], urls=["/healthz"]), "GET", "/healthz/etcd", False),
    (new_rule(["get"], urls=["/healthz*"]), "GET", "/healthz/etcd", True),
    (new_rule(["get"], urls=["/apis/*"]), "GET", "/apis/apps", True),
    (new_rule(["get"], urls=["/apis/*"]), "GET", "/apis", False),
    (new_rule(["get"], urls=["*"]), "GET", "/metrics", True),
    (new_rule(["get"], urls=["*"]), "POST", "/metrics", False),
    (new_rule(["get"], urls=["*"]), "GET", "/api/v1/namespaces/d/pods", False),  # resource
    (new_rule(["get"], ["*"], ["*"]), "GET", "/healthz", False),  # non-resource
])
def test_rule_allows(rule: dict[str, object], method: str, path: str, want: bool) -> None:
    assert rule_allows(req(method, path), rule) is want


def test_field_selector_on_name_matches_resource_names() -> None:
    rule = new_rule(["list"], [""], ["pods"], names=["a"])
    assert rule_allows(req("GET", "/api/v1/namespaces/d/pods", "fieldSelector=metadata.name%3Da"),
                       rule)


def test_rules_allow_any() -> None:
    rules = [PODS_READ, new_rule(["create"], ["apps"], ["deployments"])]
    assert rules_allow(req("POST", "/apis/apps/v1/namespaces/d/deployments"), rules)
    assert not rules_allow(req("POST", "/api/v1/namespaces/d/pods"), rules)
    assert not rules_allow(req("GET", "/api/v1/pods"), [])


def test_node_rules() -> None:
    rules = node_rules()
    assert rules_allow(req("PATCH", "/api/v1/nodes/n1/status"), rules)
    assert rules_allow(req("PUT", "/api/v1/namespaces/d/pods/p/status"), rules)
    assert rules_allow(req("GET", "/api/v1/pods", "watch=1"), rules)
    assert rules_allow(req("POST", "/api/v1/namespaces/d/serviceaccounts/sa/token"), rules)
    assert rules_allow(req("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease"
                                  "/leases/n1"), rules)
    assert not rules_allow(req("PUT", "/api/v1/namespaces/d/pods/p"), rules)
    assert not rules_allow(req("DELETE", "/api/v1/nodes/n1"), rules)
    assert not rules_allow(req("POST", "/api/v1/namespaces/d/secrets"), rules)
    assert not rules_allow(req("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles"), rules)


# ---- the index follows the watch caches ---------------------------------------------


class _Obj:
    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj


class _Event:
    def __init__(self, type_: str, rv: int, key: str, obj: dict[str, Any]) -> None:
        self.type, self.rv, self.key, self.obj = type_, rv, key, obj


class FakeCache:
    """What RBACIndex reads of a WatchCache: objects, revision, window_start, the ring."""

    def __init__(self) -> None:
        self.objects: dict[str, _Obj] = {}
        self.revision = 0
        self.window_start = 0
        self.ring: list[_Event] = []

    def put(self, key: str, obj: dict[str, Any]) -> None:
        self.revision += 1
        typ = "MODIFIED" if key in self.objects else "ADDED"
        self.objects[key] = _Obj(obj)
        self.ring.append(_Event(typ, self.revision, key, obj))

    def delete(self, key: str) -> None:
        self.revision += 1
        obj = self.objects.pop(key).obj
        self.ring.append(_Event("DELETED", self.revision, key, obj))

    def _events_after(self, rv: int) -> list[_Event]:
        return [e for e in self.ring if e.rv > rv]


def _binding(name: str, ns: str, role_kind: str, role: str,
             subjects: list[dict[str, str]]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind,
                        "name": role}, "subjects": subjects}


def test_index_follows_cache_events() -> None:
    caches = {p: FakeCache() for p in ("clusterroles", "roles", "clusterrolebindings",
                                       "rolebindings")}
    idx = RBACIndex(caches)
    authz = RBACAuthorizer(idx)
    alice = UserInfo("alice", groups=("devs",))
    list_pods = from_request(alice, "GET", "/api/v1/namespaces/d/pods")
    assert authz.authorize(list_pods)[0] is Decision.NO_OPINION
    caches["roles"].put("/registry/roles/d/r", {
        "metadata": {"name": "r", "namespace": "d"}, "rules": [PODS_READ]})
    caches["rolebindings"].put("/registry/rolebindings/d/b", _binding(
        "b", "d", "Role", "r", [{"kind": "Group", "name": "devs"}]))
    assert authz.authorize(list_pods)[0] is Decision.ALLOW
    # the binding moves to another group: alice loses it
    caches["rolebindings"].put("/registry/rolebindings/d/b", _binding(
        "b", "d", "Role", "r", [{"kind": "Group", "name": "ops"}]))
    assert authz.authorize(list_pods)[0] is Decision.NO_OPINION
    assert idx.ns_by_subject.get(("d", "g:devs")) is None
    # a ServiceAccount subject without a namespace is one of the binding's namespace
    caches["rolebindings"].put("/registry/rolebindings/d/sa", _binding(
        "sa", "d", "Role", "r", [{"kind": "ServiceAccount", "name": "robot"}]))
    robot = UserInfo("system:serviceaccount:d:robot")
    assert authz.authorize(from_request(robot, "GET", "/api/v1/namespaces/d/pods"))[0] \
        is Decision.ALLOW
    # a missing role is the reason
    caches["roles"].delete("/registry/roles/d/r")
    decision, reason = authz.authorize(from_request(robot, "GET", "/api/v1/namespaces/d/pods"))
    assert decision is Decision.NO_OPINION
    assert reason == 'RBAC: role.rbac.authorization.k8s.io "r" not found'
    # the ring lost the gap (a relist): rebuilt from the objects
    caches["clusterroles"].objects["/registry/clusterroles/all"] = _Obj(
        {"metadata": {"name": "all"}, "rules": [new_rule(["*"], ["*"], ["*"])]})
    caches["clusterrolebindings"].objects["/registry/clusterrolebindings/all"] = _Obj(
        _binding("all", "", "ClusterRole", "all", [{"kind": "User", "name": "alice"}]))
    for c in (caches["clusterroles"], caches["clusterrolebindings"]):
        c.revision += 5
        c.window_start = c.revision
    assert authz.authorize(list_pods)[0] is Decision.ALLOW
    rules, errs = idx.rules_for(alice, "d")
    assert errs == [] and len(rules) == 1
