"""The clusterrole-aggregation controller (controller-manager process) on a private
RBAC API server: admin, edit and view get the system:aggregate-to-* rules, a new labelled
ClusterRole adds its rules, and a ``view`` RoleBinding reads but cannot delete."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from testing import kubectl as kubectl_cli
from testing.apiclient import Api
from testing.support import ApiServer, on_own_etcd, service, unique, wait_for

RBAC = "/apis/rbac.authorization.k8s.io/v1"
G = "rbac.authorization.k8s.io"


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with on_own_etcd(lambda url: ApiServer(url, ["--authorization-mode", "RBAC"])) as s:
        cm = service("controller-manager", "controllers",
                     ["--server", s.url, "--controllers", "clusterrole-aggregation"])
        try:
            yield s.url
        finally:
            cm.stop()


def rules_of(api: Api, name: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = api.ok("GET", f"{RBAC}/clusterroles/{name}").get("rules") or []
    return rules


def test_default_roles_are_aggregated(api: Api) -> None:
    view = wait_for(lambda: rules_of(api, "view"), 30, message="view aggregated")
    assert {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["namespaces"]} \
        in view
    # the aggregation converges: view's rules into edit, edit's into admin
    edit = wait_for(lambda: (lambda e: e if all(r in e for r in view) else [])(
        rules_of(api, "edit")), 30, message="view aggregated into edit")
    assert len(edit) > len(view)
    admin = wait_for(lambda: (lambda a: a if all(r in a for r in edit) else [])(
        rules_of(api, "admin")), 30, message="edit aggregated into admin")
    assert {"verbs": ["get", "list", "watch", "create", "update", "patch", "delete",
                      "deletecollection"], "apiGroups": [G],
            "resources": ["roles", "rolebindings"]} in admin


def test_labelled_role_adds_its_rules(api: Api) -> None:
    name = unique("crd-viewer")
    rule = {"verbs": ["get"], "apiGroups": ["example.com"], "resources": ["widgets"]}
    api.ok("POST", f"{RBAC}/clusterroles", {
        "metadata": {"name": name,
                     "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [rule]}, 201)
    wait_for(lambda: rule in rules_of(api, "view"), 30, message="view gets the rule")
    wait_for(lambda: rule in rules_of(api, "admin"), 30, message="admin gets it through edit")
    api.ok("DELETE", f"{RBAC}/clusterroles/{name}")
    wait_for(lambda: rule not in rules_of(api, "view"), 30, message="the rule goes with it")


def test_view_binding_reads_but_cannot_delete(server_url: str, api: Api, ns: str,
                                              kubectl: kubectl_cli.Kubectl) -> None:
    wait_for(lambda: rules_of(api, "view"), 30)
    user = unique("viewer")
    api.ok("POST", "/api/v1/namespaces/" + ns + "/configmaps",
           {"metadata": {"name": "cfg"}, "data": {"a": "b"}}, 201)
    api.ok("POST", f"{RBAC}/namespaces/{ns}/rolebindings", {
        "metadata": {"name": "viewers"},
        "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "apiGroup": G, "name": user}]}, 201)
    as_user = httpx.Client(base_url=server_url, headers={"Impersonate-User": user})
    wait_for(lambda: as_user.get(f"/api/v1/namespaces/{ns}/configmaps").status_code == 200)
    out = kubectl("get", "configmaps", "-n", ns, f"--as={user}").stdout
    assert "cfg" in out
    p = kubectl("delete", "configmap", "cfg", "-n", ns, f"--as={user}", check=False)
    assert p.returncode == 1
    assert p.stderr.strip() == (
        f'Error from server (Forbidden): configmaps "cfg" is forbidden: User "{user}" cannot '
        f'delete resource "configmaps" in API group "" in the namespace "{ns}"')
    # view does not show secrets
    r = as_user.get(f"/api/v1/namespaces/{ns}/secrets")
    assert r.status_code == 403
    as_user.close()
