"""RBAC on a private API server with --authorization-mode=RBAC: the default policy, the
kinds' validation and tables, the authorizer (via impersonation on the plain-HTTP port, as
``kubectl --as`` does), escalation prevention, and the access reviews."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from testing import kubectl as kubectl_cli
from testing.apiclient import Api
from testing.support import ApiServer, on_own_etcd, unique, wait_for

RBAC = "/apis/rbac.authorization.k8s.io/v1"
AUTHZ = "/apis/authorization.k8s.io/v1"
G = "rbac.authorization.k8s.io"


@pytest.fixture(scope="module")
def rbac_server() -> Iterator[ApiServer]:
    with on_own_etcd(lambda url: ApiServer(url, ["--authorization-mode", "RBAC"])) as s:
        yield s


@pytest.fixture(scope="module")
def server_url(rbac_server: ApiServer) -> str:
    return rbac_server.url


class As:
    """JSON calls impersonating a user (and groups) on the superuser port."""

    def __init__(self, url: str, user: str, *groups: str) -> None:
        headers = [("Impersonate-User", user), *(("Impersonate-Group", g) for g in groups)]
        self.client = httpx.Client(base_url=url, timeout=15, headers=headers)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        r = self.client.request(method, path, json=body)
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, r.text


def role(name: str, rules: list[dict[str, Any]], kind: str = "Role") -> dict[str, Any]:
    return {"apiVersion": f"{G}/v1", "kind": kind, "metadata": {"name": name}, "rules": rules}


def rule(verbs: list[str], resources: list[str], groups: tuple[str, ...] = ("",),
         **kw: Any) -> dict[str, Any]:
    return {"verbs": verbs, "apiGroups": list(groups), "resources": resources, **kw}


def binding(name: str, role_name: str, *, kind: str = "RoleBinding",
            role_kind: str = "Role", users: tuple[str, ...] = (),
            groups: tuple[str, ...] = (), sas: tuple[tuple[str, str], ...] = ()
            ) -> dict[str, Any]:
    subjects = [*({"kind": "User", "name": u} for u in users),
                *({"kind": "Group", "name": g} for g in groups),
                *({"kind": "ServiceAccount", "name": n, "namespace": ns} for ns, n in sas)]
    return {"apiVersion": f"{G}/v1", "kind": kind, "metadata": {"name": name},
            "roleRef": {"apiGroup": G, "kind": role_kind, "name": role_name},
            "subjects": subjects}


def allowed(url: str, user: str, method: str, path: str, *groups: str) -> bool:
    code, _ = As(url, user, *groups).call(method, path)
    return code != 403


# ---- the default policy ------------------------------------------------------------


def test_bootstrap_policy(api: Api) -> None:
    names = {i["metadata"]["name"] for i in api.ok("GET", f"{RBAC}/clusterroles")["items"]}
    assert {"cluster-admin", "admin", "edit", "view", "system:discovery", "system:basic-user",
            "system:public-info-viewer", "system:node", "system:node-proxier",
            "system:kube-scheduler", "system:kube-controller-manager", "system:kube-dns",
            "system:auth-delegator", "system:monitoring",
            "system:node-bootstrapper"} <= names
    admin = api.ok("GET", f"{RBAC}/clusterroles/cluster-admin")
    assert admin["metadata"]["labels"] == {"kubernetes.io/bootstrapping": "rbac-defaults"}
    assert admin["metadata"]["annotations"] == {
        "rbac.authorization.kubernetes.io/autoupdate": "true"}
    assert admin["rules"] == [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                              {"verbs": ["*"], "nonResourceURLs": ["*"]}]
    view = api.ok("GET", f"{RBAC}/clusterroles/view")
    assert view["aggregationRule"] == {"clusterRoleSelectors": [
        {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}]}
    crb = api.ok("GET", f"{RBAC}/clusterrolebindings/cluster-admin")
    assert crb["subjects"] == [{"kind": "Group", "apiGroup": G, "name": "system:masters"}]
    dns = api.ok("GET", f"{RBAC}/clusterrolebindings/system:kube-dns")
    assert dns["subjects"] == [{"kind": "ServiceAccount", "name": "kube-dns",
                                "namespace": "kube-system"}]
    piv = api.ok("GET", f"{RBAC}/clusterrolebindings/system:public-info-viewer")
    assert [s["name"] for s in piv["subjects"]] == ["system:authenticated",
                                                    "system:unauthenticated"]


def test_default_roles_of_components(server_url: str) -> None:
    # the scheduler lists pods and binds them, but may not create pods
    assert allowed(server_url, "system:kube-scheduler", "GET", "/api/v1/pods")
    assert allowed(server_url, "system:kube-scheduler", "POST",
                   "/api/v1/namespaces/default/pods/p/binding")
    assert not allowed(server_url, "system:kube-scheduler", "POST",
                       "/api/v1/namespaces/default/pods")
    assert not allowed(server_url, "system:kube-scheduler", "GET", "/api/v1/secrets")
    # the proxy watches services and endpointslices; its identity also runs the network
    # policy agent (system:minik8s-netpol), which lists and watches pods, namespaces and
    # networkpolicies; nothing else
    assert allowed(server_url, "system:kube-proxy", "GET",
                   "/apis/discovery.k8s.io/v1/endpointslices")
    assert allowed(server_url, "system:kube-proxy", "GET",
                   "/apis/networking.k8s.io/v1/networkpolicies")
    assert not allowed(server_url, "system:kube-proxy", "POST", "/api/v1/namespaces/default/pods")
    assert not allowed(server_url, "system:kube-proxy", "GET", "/api/v1/secrets")
    # DNS, as its ServiceAccount
    sa = "system:serviceaccount:kube-system:kube-dns"
    assert allowed(server_url, sa, "GET", "/api/v1/services")
    assert not allowed(server_url, sa, "DELETE", "/api/v1/namespaces/default/services/x")
    # everyone authenticated may discover and ask about themselves
    assert allowed(server_url, "nobody", "GET", "/version", "system:authenticated")
    assert not allowed(server_url, "nobody", "GET", "/metrics", "system:authenticated")


def test_autoupdate_restores_deleted_default_role(rbac_server: ApiServer, api: Api) -> None:
    """A changed default role gets its rules back at the next start; one annotated
    autoupdate=false is left alone."""
    api.ok("PUT", f"{RBAC}/clusterroles/system:node-bootstrapper",
           {**api.ok("GET", f"{RBAC}/clusterroles/system:node-bootstrapper"), "rules": []})
    mon = api.ok("GET", f"{RBAC}/clusterroles/system:monitoring")
    mon["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] = "false"
    mon["rules"] = []
    api.ok("PUT", f"{RBAC}/clusterroles/system:monitoring", mon)
    rbac_server.stop()
    rbac_server.start()
    fresh = Api(rbac_server.url)
    try:
        got = fresh.ok("GET", f"{RBAC}/clusterroles/system:node-bootstrapper")
        assert got["rules"] == [rule(["create", "get", "list", "watch"],
                                     ["certificatesigningrequests"],
                                     ("certificates.k8s.io",))]
        assert fresh.ok("GET", f"{RBAC}/clusterroles/system:monitoring").get("rules") in (
            None, [])
    finally:
        fresh.close()


# ---- validation --------------------------------------------------------------------


def test_validation(api: Api, ns: str) -> None:
    code, out = api.call("POST", f"{RBAC}/namespaces/{ns}/roles",
                         role("r", [{"apiGroups": [""], "resources": ["pods"]},
                                    {"verbs": ["get"], "nonResourceURLs": ["/x"]}]))
    assert code == 422, out
    assert [(c["field"], c["message"]) for c in out["details"]["causes"]] == [
        ("rules[0].verbs", "Required value: verbs must contain at least one value"),
        ("rules[1].nonResourceURLs",
         'Invalid value: ["/x"]: namespaced rules cannot apply to non-resource URLs')]
    code, out = api.call("POST", f"{RBAC}/clusterroles",
                         role(unique("cr"), [{"verbs": ["get"]}], kind="ClusterRole"))
    assert code == 422
    assert {c["field"] for c in out["details"]["causes"]} == {"rules[0].apiGroups",
                                                                "rules[0].resources"}
    bad = binding("b", "x", role_kind="Pod", users=("u",))
    bad["subjects"].append({"kind": "Robot", "name": "r"})
    bad["subjects"].append({"kind": "ServiceAccount", "name": "s", "apiGroup": G})
    code, out = api.call("POST", f"{RBAC}/namespaces/{ns}/rolebindings", bad)
    assert code == 422
    assert [(c["field"], c["message"]) for c in out["details"]["causes"]] == [
        ("roleRef.kind", 'Unsupported value: "Pod": supported values: "Role", "ClusterRole"'),
        ("subjects[1].kind", 'Unsupported value: "Robot": supported values: '
                             '"ServiceAccount", "User", "Group"'),
        ("subjects[2].apiGroup", f'Unsupported value: "{G}": supported values: ""')]
    crb = binding(unique("crb"), "view", kind="ClusterRoleBinding", role_kind="Role",
                  sas=(("", "x"),))
    code, out = api.call("POST", f"{RBAC}/clusterrolebindings", crb)
    assert code == 422
    assert [c["field"] for c in out["details"]["causes"]] == ["roleRef.kind",
                                                              "subjects[0].namespace"]


def test_names_are_path_segments_and_role_ref_is_immutable(api: Api, ns: str) -> None:
    api.ok("POST", f"{RBAC}/namespaces/{ns}/roles", role("team:readers", [
        rule(["get"], ["pods"])]), 201)
    code, out = api.call("POST", f"{RBAC}/namespaces/{ns}/roles", role("a/b", []))
    assert code in (404, 422)
    b = api.ok("POST", f"{RBAC}/namespaces/{ns}/rolebindings",
               binding("readers", "team:readers", users=("u",)), 201)
    # defaults: the subject's and the roleRef's apiGroup
    assert b["subjects"] == [{"kind": "User", "apiGroup": G, "name": "u"}]
    b["roleRef"]["name"] = "other"
    code, out = api.call("PUT", f"{RBAC}/namespaces/{ns}/rolebindings/readers", b)
    assert code == 422
    assert out["details"]["causes"][0]["field"] == "roleRef"
    assert "cannot change roleRef" in out["message"]


# ---- the authorizer ----------------------------------------------------------------


def test_rolebinding_grants_in_its_namespace_only(server_url: str, api: Api, ns: str) -> None:
    other = api.namespace()
    user = unique("alice")
    api.ok("POST", f"{RBAC}/namespaces/{ns}/roles",
           role("reader", [rule(["get", "list", "watch"], ["pods", "pods/log"])]), 201)
    assert not allowed(server_url, user, "GET", f"/api/v1/namespaces/{ns}/pods")
    api.ok("POST", f"{RBAC}/namespaces/{ns}/rolebindings",
           binding("reader", "reader", users=(user,)), 201)
    wait_for(lambda: allowed(server_url, user, "GET", f"/api/v1/namespaces/{ns}/pods"),
             message="the binding takes effect")
    assert allowed(server_url, user, "GET", f"/api/v1/namespaces/{ns}/pods/p/log")
    assert not allowed(server_url, user, "GET", f"/api/v1/namespaces/{other}/pods")
    assert not allowed(server_url, user, "GET", "/api/v1/pods")
    code, out = As(server_url, user).call("DELETE", f"/api/v1/namespaces/{ns}/pods/p")
    assert code == 403
    assert out["message"] == (f'pods "p" is forbidden: User "{user}" cannot delete resource '
                              f'"pods" in API group "" in the namespace "{ns}"')
    # removing the binding revokes it
    api.ok("DELETE", f"{RBAC}/namespaces/{ns}/rolebindings/reader")
    wait_for(lambda: not allowed(server_url, user, "GET", f"/api/v1/namespaces/{ns}/pods"),
             message="the binding's removal takes effect")


def test_groups_service_accounts_and_cluster_bindings(server_url: str, api: Api,
                                                      ns: str) -> None:
    cr = unique("cr")
    group = unique("g")
    api.ok("POST", f"{RBAC}/clusterroles", role(cr, [
        rule(["list"], ["configmaps"]), {"verbs": ["get"], "nonResourceURLs": ["/metrics"]}],
        kind="ClusterRole"), 201)
    api.ok("POST", f"{RBAC}/clusterrolebindings",
           binding(cr, cr, kind="ClusterRoleBinding", role_kind="ClusterRole",
                   groups=(group,)), 201)
    wait_for(lambda: allowed(server_url, "bob", "GET", "/api/v1/configmaps", group))
    assert allowed(server_url, "bob", "GET", "/metrics", group)
    assert not allowed(server_url, "bob", "GET", "/metrics")
    # a RoleBinding to the ClusterRole, for a ServiceAccount of the binding's namespace
    api.ok("POST", f"{RBAC}/namespaces/{ns}/rolebindings",
           binding("sa", cr, role_kind="ClusterRole", sas=(("", "robot"),)), 201)
    sa = f"system:serviceaccount:{ns}:robot"
    wait_for(lambda: allowed(server_url, sa, "GET", f"/api/v1/namespaces/{ns}/configmaps"))
    assert not allowed(server_url, sa, "GET", "/api/v1/configmaps")


def test_binding_to_a_missing_role_says_so(server_url: str, api: Api, ns: str) -> None:
    user = unique("carol")
    api.ok("POST", f"{RBAC}/namespaces/{ns}/rolebindings",
           binding("ghost", "nothing-here", users=(user,)), 201)

    def reason() -> str:
        code, out = As(server_url, user).call("GET", f"/api/v1/namespaces/{ns}/pods")
        assert code == 403
        return str(out["message"])
    msg = wait_for(lambda: reason() if "RBAC" in reason() else "")
    assert msg.endswith(f': RBAC: role.{G} "nothing-here" not found')


# ---- escalation prevention ---------------------------------------------------------


def test_escalation_prevented(server_url: str, api: Api, ns: str) -> None:
    user = unique("dave")
    api.ok("POST", f"{RBAC}/namespaces/{ns}/roles", role("role-admin", [
        # explicit verbs: "*" would include escalate and bind
        rule(["get", "list", "create", "update", "delete"], ["roles", "rolebindings"], (G,)),
        rule(["get", "list"], ["pods"])]), 201)
    api.ok("POST", f"{RBAC}/namespaces/{ns}/rolebindings",
           binding("role-admin", "role-admin", users=(user,)), 201)
    dave = As(server_url, user)
    wait_for(lambda: dave.call("GET", f"{RBAC}/namespaces/{ns}/roles")[0] == 200)
    # rules the user holds: fine
    code, out = dave.call("POST", f"{RBAC}/namespaces/{ns}/roles",
                          role("pod-reader", [rule(["get"], ["pods"])]))
    assert code == 201, out
    # more than they hold: refused, listing what is missing
    code, out = dave.call("POST", f"{RBAC}/namespaces/{ns}/roles", role("pod-admin", [
        rule(["get", "delete", "create"], ["pods"]), rule(["get"], ["secrets"])]))
    assert code == 403
    assert out["reason"] == "Forbidden"
    assert out["message"] == (
        f'roles.{G} "pod-admin" is forbidden: user "{user}" (groups=["system:authenticated"]) '
        "is attempting to grant RBAC permissions not currently held:\n"
        '{APIGroups:[""], Resources:["pods"], Verbs:["delete" "create"]}\n'
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}')
    # binding a role with more than they hold: refused; the role they hold: fine
    code, out = dave.call("POST", f"{RBAC}/namespaces/{ns}/rolebindings",
                          binding("b1", "cluster-admin", role_kind="ClusterRole", users=("eve",)))
    assert code == 403 and "attempting to grant RBAC permissions" in out["message"]
    code, out = dave.call("POST", f"{RBAC}/namespaces/{ns}/rolebindings",
                          binding("b2", "pod-reader", users=("eve",)))
    assert code == 201, out
    code, out = dave.call("POST", f"{RBAC}/namespaces/{ns}/rolebindings",
                          binding("b3", "absent", users=("eve",)))
    assert code == 404 and out["message"] == f'roles.{G} "absent" not found'
    # the escalate and bind verbs lift the checks
    api.ok("POST", f"{RBAC}/namespaces/{ns}/roles", role("escalator", [
        rule(["escalate"], ["roles"], (G,)),
        rule(["bind"], ["clusterroles"], (G,), resourceNames=["cluster-admin"])]), 201)
    api.ok("POST", f"{RBAC}/namespaces/{ns}/rolebindings",
           binding("escalator", "escalator", users=(user,)), 201)

    def escalated() -> bool:
        return dave.call("POST", f"{RBAC}/namespaces/{ns}/roles", role(
            "pod-admin", [rule(["delete"], ["pods"])]))[0] == 201
    wait_for(escalated)
    code, out = dave.call("POST", f"{RBAC}/namespaces/{ns}/rolebindings",
                          binding("b1", "cluster-admin", role_kind="ClusterRole", users=("eve",)))
    assert code == 201, out


# ---- access reviews ----------------------------------------------------------------


def test_subject_access_reviews(server_url: str, api: Api, ns: str) -> None:
    user = unique("frank")
    api.ok("POST", f"{RBAC}/namespaces/{ns}/roles",
           role("r", [rule(["get"], ["pods"], resourceNames=["one"])]), 201)
    api.ok("POST", f"{RBAC}/namespaces/{ns}/rolebindings", binding("r", "r", users=(user,)),
           201)

    def sar(verb: str, name: str) -> dict[str, Any]:
        out: dict[str, Any] = api.ok("POST", f"{AUTHZ}/subjectaccessreviews", {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "resourceAttributes": {
                "namespace": ns, "verb": verb, "resource": "pods", "name": name}}}, 201)
        status: dict[str, Any] = out["status"]
        return status
    wait_for(lambda: sar("get", "one")["allowed"])
    assert sar("get", "two") == {"allowed": False}
    lsar = api.ok("POST", f"{AUTHZ}/namespaces/{ns}/localsubjectaccessreviews", {
        "spec": {"user": user, "resourceAttributes": {"namespace": ns, "verb": "get",
                                                      "resource": "pods", "name": "one"}}},
        201)
    assert lsar["status"]["allowed"] is True
    code, out = api.call("POST", f"{AUTHZ}/namespaces/{ns}/localsubjectaccessreviews", {
        "spec": {"user": user, "resourceAttributes": {"namespace": "x", "verb": "get"}}})
    assert code == 422
    assert out["details"]["causes"][0]["field"] == "spec.resourceAttributes.namespace"
    code, out = api.call("POST", f"{AUTHZ}/subjectaccessreviews", {"spec": {}})
    assert code == 422
    assert [c["field"] for c in out["details"]["causes"]] == ["spec.resourceAttributes",
                                                              "spec.user"]
    # the self reviews answer for the requester
    me = As(server_url, user)
    code, out = me.call("POST", f"{AUTHZ}/selfsubjectaccessreviews", {"spec": {
        "resourceAttributes": {"namespace": ns, "verb": "get", "resource": "pods",
                               "name": "one"}}})
    assert code == 201 and out["status"]["allowed"] is True
    code, out = me.call("POST", f"{AUTHZ}/selfsubjectrulesreviews", {"spec": {"namespace": ns}})
    assert code == 201
    assert {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"],
            "resourceNames": ["one"]} in out["status"]["resourceRules"]
    assert out["status"]["incomplete"] is False
    code, out = me.call("POST", f"{AUTHZ}/selfsubjectrulesreviews", {"spec": {}})
    assert code == 400 and out["message"] == "no namespace on request"


# ---- kubectl -----------------------------------------------------------------------


def test_kubectl_create_get_and_can_i(kubectl: kubectl_cli.Kubectl, api: Api, ns: str) -> None:
    user = unique("gina")
    kubectl("create", "role", "pod-reader", "-n", ns, "--verb=get,list,watch",
            "--resource=pods,pods/log")
    kubectl("create", "clusterrole", unique("cr-"), "--verb=get",
            "--non-resource-url=/healthz")
    kubectl("create", "rolebinding", "pod-reader", "-n", ns, "--role=pod-reader",
            f"--user={user}", "--group=team", f"--serviceaccount={ns}:robot")
    r = api.ok("GET", f"{RBAC}/namespaces/{ns}/roles/pod-reader")
    assert r["rules"] == [{"verbs": ["get", "list", "watch"], "apiGroups": [""],
                           "resources": ["pods", "pods/log"]}]
    out = kubectl("get", "rolebindings", "-n", ns, "-o", "wide").stdout.splitlines()
    assert out[0].split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert out[1].split()[:2] == ["pod-reader", "Role/pod-reader"]
    assert out[1].split()[3:] == [user, "team", f"{ns}/robot"]
    out = kubectl("get", "roles", "-n", ns).stdout.splitlines()
    assert out[0].split() == ["NAME", "CREATED", "AT"]
    assert out[1].split()[0] == "pod-reader"

    def can(*args: str) -> str:
        p = kubectl("auth", "can-i", *args, f"--as={user}", check=False)
        return p.stdout.strip()
    wait_for(lambda: can("list", "pods", "-n", ns) == "yes")
    cases = [
        (("get", "pods", "-n", ns), "yes"),
        (("get", "pods/log", "-n", ns), "yes"),
        (("get", "pods", "--subresource=log", "-n", ns), "yes"),
        (("delete", "pods", "-n", ns), "no"),
        (("list", "pods", "-n", "default"), "no"),
        (("list", "pods", "--all-namespaces"), "no"),
        (("get", "/version"), "yes"),
        (("get", "/metrics"), "no"),
        (("create", "selfsubjectaccessreviews"), "yes"),
    ]
    got = [(args, can(*args)) for args, _ in cases]
    assert got == [(args, want) for args, want in cases]
    listing = kubectl("auth", "can-i", "--list", "-n", ns, f"--as={user}").stdout
    lines = [ln.split() for ln in listing.splitlines()]
    assert lines[0] == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    assert ["pods", "[]", "[]", "[get", "list", "watch]"] in lines
    assert ["pods/log", "[]", "[]", "[get", "list", "watch]"] in lines
    assert ["[/version]", "[]", "[get]"] in lines or any(
        "/version" in ln for ln in listing.splitlines())


def test_kubectl_forbidden_message(kubectl: kubectl_cli.Kubectl, ns: str) -> None:
    user = unique("hank")
    p = kubectl("delete", "pod", "x", "-n", ns, f"--as={user}", check=False)
    assert p.returncode == 1
    assert p.stderr.strip() == (
        f'Error from server (Forbidden): pods "x" is forbidden: User "{user}" cannot delete '
        f'resource "pods" in API group "" in the namespace "{ns}"')


def test_describe_role(kubectl: kubectl_cli.Kubectl, api: Api, ns: str) -> None:
    api.ok("POST", f"{RBAC}/namespaces/{ns}/roles", role("d", [
        rule(["get", "list"], ["pods", "deployments"], ("", "apps")),
        rule(["get"], ["configmaps"], resourceNames=["cfg"])]), 201)
    out = kubectl("describe", "role", "d", "-n", ns).stdout
    assert "PolicyRule:" in out
    assert json.dumps(out)  # printable


def test_aggregation_rule_needs_full_authority(server_url: str, api: Api) -> None:
    user = unique("ivy")
    cr = unique("cr-admin")
    api.ok("POST", f"{RBAC}/clusterroles", role(cr, [
        rule(["get", "list", "create", "update"], ["clusterroles"], (G,))],
        kind="ClusterRole"), 201)
    api.ok("POST", f"{RBAC}/clusterrolebindings", binding(
        cr, cr, kind="ClusterRoleBinding", role_kind="ClusterRole", users=(user,)), 201)
    ivy = As(server_url, user)
    wait_for(lambda: ivy.call("GET", f"{RBAC}/clusterroles")[0] == 200)
    name = unique("agg")
    code, out = ivy.call("POST", f"{RBAC}/clusterroles", {
        "metadata": {"name": name},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]}})
    assert code == 403
    assert out["message"] == (f'clusterroles.{G} "{name}" is forbidden: must have '
                              "cluster-admin privileges to use the aggregationRule")
    code, out = ivy.call("POST", f"{RBAC}/clusterroles", role(name, [], kind="ClusterRole"))
    assert code == 201, out


MANIFEST = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: applied
rules:
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "watch", "list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: applied
subjects:
- kind: User
  name: jane
  apiGroup: rbac.authorization.k8s.io
roleRef:
  kind: Role
  name: applied
  apiGroup: rbac.authorization.k8s.io
"""


def test_kubectl_apply_and_auth_reconcile(kubectl: kubectl_cli.Kubectl, api: Api,
                                          ns: str) -> None:
    other = api.namespace()
    # reconcile takes the objects' own namespaces (without one kubectl 1.37 panics, on any
    # server: it asks for the role at the cluster scope)
    manifest = MANIFEST.replace("  name: applied\n", f"  name: applied\n  namespace: {other}\n")
    out = kubectl("auth", "reconcile", "-f", "-", stdin=manifest).stdout
    assert "role.rbac.authorization.k8s.io/applied" in out
    assert api.ok("GET", f"{RBAC}/namespaces/{other}/rolebindings/applied")["subjects"][0][
        "name"] == "jane"
    out = kubectl("apply", "-n", ns, "-f", "-", stdin=MANIFEST).stdout
    assert out.splitlines() == ["role.rbac.authorization.k8s.io/applied created",
                                "rolebinding.rbac.authorization.k8s.io/applied created"]
    out = kubectl("apply", "-n", ns, "-f", "-",
                  stdin=MANIFEST.replace('"list"]', '"list", "delete"]')).stdout
    assert out.splitlines()[0] == "role.rbac.authorization.k8s.io/applied configured"
    r = api.ok("GET", f"{RBAC}/namespaces/{ns}/roles/applied")
    assert r["rules"][0]["verbs"] == ["get", "watch", "list", "delete"]
    out = kubectl("get", "rolebinding", "applied", "-n", ns, "-o", "wide").stdout
    assert out.splitlines()[1].split()[:2] == ["applied", "Role/applied"]
