"""minictl create role/clusterrole/rolebinding/clusterrolebinding, get and describe beside
the real kubectl on the same server: the same stored objects, tables and descriptions."""

from __future__ import annotations

from typing import Any

import pytest

from testing.kubectl import Kubectl
from testing.support import unique
from tests.cli.helpers import fails, get, ok, post, without_age

RBAC = "/apis/rbac.authorization.k8s.io/v1"


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata",)}


@pytest.mark.parametrize("args", [
    ("--verb=get,list,watch", "--resource=pods,pods/log"),
    ("--verb=get", "--verb=list", "--resource=deployments.apps,rs,pods"),
    ("--verb=get", "--resource=configmaps", "--resource-name=a", "--resource-name=b"),
    ("--verb=patch", "--resource=deployments/scale,jobs.batch"),
])
def test_create_role_as_kubectl(server_url: str, ns: str, kubectl: Kubectl,
                                args: tuple[str, ...]) -> None:
    mine, theirs = unique("mr"), unique("kr")
    out = ok(server_url, "create", "role", mine, "-n", ns, *args)
    assert out.strip() == f"role.rbac.authorization.k8s.io/{mine} created"
    kubectl("create", "role", theirs, "-n", ns, *args)
    a = get(server_url, f"{RBAC}/namespaces/{ns}/roles/{mine}")
    b = get(server_url, f"{RBAC}/namespaces/{ns}/roles/{theirs}")
    assert _content(a) == _content(b)
    m = ok(server_url, "describe", "role", mine, "-n", ns)
    k = kubectl("describe", "role", theirs, "-n", ns).stdout
    assert m.replace(mine, "N") == k.replace(theirs, "N")


def test_create_clusterrole_as_kubectl(server_url: str, kubectl: Kubectl) -> None:
    for args in (("--verb=get", "--non-resource-url=/logs/*", "--non-resource-url=/healthz"),
                 ("--verb=get", "--resource=nodes,pods", "--non-resource-url=/metrics"),
                 ("--aggregation-rule=example.com/aggregate-to-x=true",)):
        mine, theirs = unique("mcr"), unique("kcr")
        out = ok(server_url, "create", "clusterrole", mine, *args)
        assert out.strip() == f"clusterrole.rbac.authorization.k8s.io/{mine} created"
        kubectl("create", "clusterrole", theirs, *args)
        a = get(server_url, f"{RBAC}/clusterroles/{mine}")
        b = get(server_url, f"{RBAC}/clusterroles/{theirs}")
        assert _content(a) == _content(b), args
        m = ok(server_url, "describe", "clusterrole", mine)
        k = kubectl("describe", "clusterrole", theirs).stdout
        assert m.replace(mine, "N") == k.replace(theirs, "N")


def test_create_bindings_as_kubectl(server_url: str, ns: str, kubectl: Kubectl) -> None:
    subjects = ("--user=alice", "--user=bob", "--group=devs", f"--serviceaccount={ns}:robot")
    for kind, args in (("rolebinding", ("--clusterrole=view", "-n", ns)),
                       ("rolebinding", ("--role=some-role", "-n", ns)),
                       ("clusterrolebinding", ("--clusterrole=view",))):
        mine, theirs = unique("mb"), unique("kb")
        out = ok(server_url, "create", kind, mine, *args, *subjects)
        assert out.strip() == f"{kind}.rbac.authorization.k8s.io/{mine} created"
        kubectl("create", kind, theirs, *args, *subjects)
        plural = kind + "s"
        base = f"{RBAC}/namespaces/{ns}/{plural}" if kind == "rolebinding" \
            else f"{RBAC}/{plural}"
        a, b = get(server_url, f"{base}/{mine}"), get(server_url, f"{base}/{theirs}")
        assert _content(a) == _content(b)
        extra = ("-n", ns) if kind == "rolebinding" else ()
        for wide in ((), ("-o", "wide")):
            m = ok(server_url, "get", plural, mine, *extra, *wide)
            k = kubectl("get", plural, theirs, *extra, *wide).stdout
            assert without_age(m.replace(mine, "N")) == without_age(k.replace(theirs, "N"))
        m = ok(server_url, "describe", kind, mine, *extra)
        k = kubectl("describe", kind, theirs, *extra).stdout
        assert m.replace(mine, "N") == k.replace(theirs, "N")


def test_get_roles_table(server_url: str, ns: str, kubectl: Kubectl) -> None:
    post(server_url, f"{RBAC}/namespaces/{ns}/roles", {
        "metadata": {"name": "r1"},
        "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]})
    m = ok(server_url, "get", "roles", "-n", ns)
    k = kubectl("get", "roles", "-n", ns).stdout
    assert m == k
    assert m.splitlines()[0].split() == ["NAME", "CREATED", "AT"]


def test_create_errors(server_url: str, ns: str) -> None:
    assert fails(server_url, "create", "role", "x", "-n", ns, "--resource=pods") == \
        "error: at least one verb must be specified"
    assert fails(server_url, "create", "role", "x", "-n", ns, "--verb=get") == \
        "error: at least one resource must be specified"
    assert fails(server_url, "create", "role", "x", "-n", ns, "--verb=fly",
                 "--resource=pods") == "error: invalid verb: 'fly'"
    assert fails(server_url, "create", "role", "x", "-n", ns, "--verb=get",
                 "--resource=nosuch") == 'error: the server doesn\'t have a resource type "nosuch"'
    assert fails(server_url, "create", "rolebinding", "x", "-n", ns, "--user=u") == \
        "error: exactly one of clusterrole or role must be specified"
    assert fails(server_url, "create", "rolebinding", "x", "-n", ns, "--clusterrole=view",
                 "--serviceaccount=robot") == \
        "error: serviceaccount must be <namespace>:<name>"
