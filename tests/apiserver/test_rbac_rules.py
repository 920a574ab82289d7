"""RBAC's rule matching (rbac.RuleAllows over pkg/apis/rbac/v1/evaluation_helpers.go) and
bootstrappolicy.NodeRules, without a server."""

from __future__ import annotations

import pytest

from apiserver.auth.attributes import Attributes, from_request
from apiserver.auth.rbac import new_rule, node_rules, rule_allows, rules_allow
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
