"""The request attributes authorization sees: RequestInfoFactory's cases
(staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo_test.go), and the 403
message Kubernetes words."""

from __future__ import annotations

import pytest

from apiserver.auth.attributes import from_request
from apiserver.auth.authorizer import forbidden_status
from apiserver.auth.user import UserInfo

U = UserInfo("alice")


@pytest.mark.parametrize(("method", "path", "query", "want"), [
    ("GET", "/api/v1/namespaces", "", ("list", "", "", "v1", "namespaces", "", "")),
    ("GET", "/api/v1/namespaces/other", "", ("get", "other", "", "v1", "namespaces", "", "other")),
    ("GET", "/api/v1/namespaces/other/pods", "", ("list", "other", "", "v1", "pods", "", "")),
    ("GET", "/api/v1/namespaces/other/pods/foo", "", ("get", "other", "", "v1", "pods", "", "foo")),
    ("HEAD", "/api/v1/namespaces/other/pods/foo", "", ("get", "other", "", "v1", "pods", "", "foo")),
    ("GET", "/api/v1/pods", "watch=true", ("watch", "", "", "v1", "pods", "", "")),
    ("GET", "/api/v1/watch/pods", "", ("watch", "", "", "v1", "pods", "", "")),
    ("GET", "/api/v1/namespaces/other/pods", "fieldSelector=metadata.name%3Dfoo",
     ("list", "other", "", "v1", "pods", "", "foo")),
    ("POST", "/api/v1/namespaces/other/pods", "", ("create", "other", "", "v1", "pods", "", "")),
    ("PUT", "/api/v1/namespaces/other/pods/foo/status", "",
     ("update", "other", "", "v1", "pods", "status", "foo")),
    ("PUT", "/api/v1/namespaces/other/finalize", "",
     ("update", "other", "", "v1", "namespaces", "finalize", "other")),
    ("DELETE", "/api/v1/namespaces/other/pods", "",
     ("deletecollection", "other", "", "v1", "pods", "", "")),
    ("PATCH", "/apis/apps/v1/namespaces/other/deployments/web/scale", "",
     ("patch", "other", "apps", "v1", "deployments", "scale", "web")),
    ("GET", "/api/v1/namespaces/other/pods/foo/proxy/some/path", "",
     ("get", "other", "", "v1", "pods", "proxy", "foo")),
    ("GET", "/api/v1/proxy/namespaces/other/pods/foo", "",
     ("proxy", "other", "", "v1", "pods", "", "foo")),
])
def test_resource_requests(method: str, path: str, query: str,
                           want: tuple[str, ...]) -> None:
    a = from_request(U, method, path, query)
    assert a.resource_request
    assert (a.verb, a.namespace, a.api_group, a.api_version, a.resource, a.subresource,
            a.name) == want


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/healthz"), ("GET", "/api"), ("GET", "/api/v1"), ("GET", "/apis/apps/v1"),
    ("POST", "/version"), ("GET", "/openapi/v2"),
])
def test_nonresource_requests(method: str, path: str) -> None:
    a = from_request(U, method, path)
    assert not a.resource_request and a.verb == method.lower() and a.path == path


def test_forbidden_messages_as_kubernetes_words_them() -> None:
    s = forbidden_status(from_request(U, "DELETE", "/api/v1/namespaces/dev/pods/web"))
    assert s["code"] == 403 and s["reason"] == "Forbidden"
    assert s["message"] == ('pods "web" is forbidden: User "alice" cannot delete resource '
                            '"pods" in API group "" in the namespace "dev"')
    assert s["details"] == {"kind": "pods", "name": "web"}
    s = forbidden_status(from_request(U, "GET", "/apis/apps/v1/deployments"), "no RBAC policy")
    assert s["message"] == ('deployments.apps is forbidden: User "alice" cannot list resource '
                            '"deployments" in API group "apps" at the cluster scope: '
                            "no RBAC policy")
    s = forbidden_status(from_request(U, "GET", "/metrics"))
    assert s["message"] == 'forbidden: User "alice" cannot get path "/metrics"'
