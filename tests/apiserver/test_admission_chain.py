"""The admission plugin chain (apiserver.admission_plugins): plugins chosen by
--enable-admission-plugins / --disable-admission-plugins run in Kubernetes' order, and a
denial is a 403 worded as admission.NewForbidden words it, on create, update, status,
delete and connect."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from apiserver import admission_plugins as ap
from apiserver.admission_plugins import basic  # noqa: F401 (registers AlwaysAdmit/AlwaysDeny)
from testing.apiclient import Api, pod
from testing.support import ApiServer

DENIED = "admission control is denying all modifications"


def test_enabled_names_follow_kubernetes_order() -> None:
    # (default-on plugins, such as ServiceAccount once registered, come in their places)
    assert [n for n in ap.enabled_names(["AlwaysDeny", "AlwaysAdmit"])
            if n.startswith("Always")] == ["AlwaysAdmit", "AlwaysDeny"]
    with pytest.raises(ValueError, match="both enabled and disabled"):
        ap.enabled_names(["AlwaysDeny"], ["AlwaysDeny"])
    assert "AlwaysDeny" not in ap.enabled_names()
    with pytest.raises(ValueError, match="unknown admission plugin"):
        ap.enabled_names(["NoSuchPlugin"])


def test_unknown_plugin_stops_the_server() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "apiserver", "--etcd-servers", "http://127.0.0.1:1",
         "--enable-admission-plugins", "NoSuchPlugin"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "unknown admission plugin(s) ['NoSuchPlugin']" in out.stderr


@pytest.fixture(scope="module")
def deny(etcd: Any) -> Iterator[Api]:
    s = ApiServer(etcd.url, ["--enable-admission-plugins", "AlwaysDeny"]).start()
    a = Api(s.url)
    yield a
    a.client.close()
    s.stop()


def forbidden(code: int, body: object, message: str) -> None:
    assert code == 403, (code, body)
    assert isinstance(body, dict)
    assert body["reason"] == "Forbidden" and body["message"] == message, body


def test_always_deny_refuses_every_write(api: Api, deny: Api) -> None:
    ns = api.namespace()
    forbidden(*deny.call("POST", f"/api/v1/namespaces/{ns}/pods", pod("web")),
              f'pods "web" is forbidden: {DENIED}')
    # Before a name is generated, the generateName names the object.
    body = pod("x")
    body["metadata"] = {"generateName": "web-"}
    forbidden(*deny.call("POST", f"/api/v1/namespaces/{ns}/pods", body),
              f'pods "web-" is forbidden: {DENIED}')
    # ?dryRun=All is admitted (and refused) the same way.
    forbidden(*deny.call("POST", f"/api/v1/namespaces/{ns}/pods", pod("web"), dryRun="All"),
              f'pods "web" is forbidden: {DENIED}')
    cm = api.ok("POST", f"/api/v1/namespaces/{ns}/configmaps",
                {"metadata": {"name": "c"}, "data": {"a": "1"}}, 201)
    cm["data"] = {"a": "2"}
    forbidden(*deny.call("PUT", f"/api/v1/namespaces/{ns}/configmaps/c", cm),
              f'configmaps "c" is forbidden: {DENIED}')
    forbidden(*deny.call("PATCH", f"/api/v1/namespaces/{ns}/configmaps/c", {"data": {"b": "3"}},
                         content_type="application/merge-patch+json"),
              f'configmaps "c" is forbidden: {DENIED}')
    forbidden(*deny.call("DELETE", f"/api/v1/namespaces/{ns}/configmaps/c"),
              f'configmaps "c" is forbidden: {DENIED}')
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("p"), 201)
    st = {"status": {"phase": "Running"}}
    forbidden(*deny.call("PATCH", f"/api/v1/namespaces/{ns}/pods/p/status", st,
                         content_type="application/merge-patch+json"),
              f'pods "p" is forbidden: {DENIED}')
    forbidden(*deny.call("POST", f"/api/v1/namespaces/{ns}/pods/p/binding",
                         {"metadata": {"name": "p"}, "target": {"name": "n1"}}),
              f'pods "p" is forbidden: {DENIED}')
    forbidden(*deny.call("GET", f"/api/v1/namespaces/{ns}/pods/p/exec", command="ls",
                         stdout="true"),
              f'pods "p" is forbidden: {DENIED}')
    # Reads are not admission's business; nothing was written.
    assert deny.ok("GET", f"/api/v1/namespaces/{ns}/configmaps/c")["data"] == {"a": "1"}
    assert api.ok("GET", f"/api/v1/namespaces/{ns}/pods/p")["spec"].get("nodeName") is None
    api.ok("DELETE", f"/api/v1/namespaces/{ns}")
