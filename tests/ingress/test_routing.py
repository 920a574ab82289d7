"""minik8s-ingress with the host's nginx against the test API server, nginx:latest
containers as the backends: routing by host (exact, wildcard) and path (Exact, Prefix
element-wise, /foo vs /foobar), the default backend, 503 for a missing Service while the
other paths work, TLS with SNI from kubernetes.io/tls Secrets, the annotations, status,
and an Ingress nginx refuses left out and reported while the others are served."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pki
from testing.apiclient import Api
from testing.support import unique, wait_for
from tests.ingress.helpers import (
    Backend,
    Controller,
    backend,
    backends,
    controller,
    get,
    get_tls,
    path,
    service_and_slice,
)

pytestmark = pytest.mark.docker

ING = "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"


@pytest.fixture(scope="module")
def apps() -> Iterator[list[Backend]]:
    with backends(["app-a", "app-b"]) as bs:
        yield bs


@pytest.fixture(scope="module")
def ctl(server_url: str) -> Iterator[Controller]:
    with controller(server_url, unique("cls")) as c:
        yield c


def _ingress(name: str, cls: str, spec: dict[str, Any],
             annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"ingressClassName": cls, **spec}}


def _app(ctl: Controller, host: str, uri: str) -> tuple[int, str]:
    code, body = ctl.get(host, uri)
    return code, body.split(" ")[0] if code == 200 else ""


def test_hosts_paths_default_backend_and_missing_service(api: Api, ctl: Controller,
                                                         apps: list[Backend]) -> None:
    ns = api.namespace()
    a, b = apps
    service_and_slice(api, ns, "web-a", [a.ip])
    service_and_slice(api, ns, "web-b", [b.ip])
    before = ctl.workers()
    api.ok("POST", ING.format(ns=ns), _ingress("routes", ctl.ingress_class, {"rules": [
        {"host": "a.localhost", "http": {"paths": [path("/", "Prefix", "web-a")]}},
        {"host": "b.localhost", "http": {"paths": [path("/", "Prefix", "web-b")]}},
        {"host": "*.wild.localhost", "http": {"paths": [path("/", "Prefix", "web-b")]}},
        {"host": "paths.localhost", "http": {"paths": [
            path("/foo", "Prefix", "web-a"), path("/foobar", "Exact", "web-b"),
            path("/gone", "Prefix", "missing-svc")]}},
    ]}), expect=201)
    # Right after a reload the old workers may take a last connection: wait for both.
    wait_for(lambda: _app(ctl, "a.localhost", "/") == (200, "app-a") and
             _app(ctl, "b.localhost", "/x/y") == (200, "app-b"), timeout=15,
             message="a.localhost and b.localhost routed")
    ctl.settle(before)
    # Wildcard: exactly one label in front.
    assert _app(ctl, "x.wild.localhost", "/") == (200, "app-b")
    assert ctl.get("y.x.wild.localhost", "/")[0] == 404
    assert ctl.get("wild.localhost", "/")[0] == 404
    # Prefix /foo element-wise; Exact /foobar.
    assert _app(ctl, "paths.localhost", "/foo") == (200, "app-a")
    assert _app(ctl, "paths.localhost", "/foo/") == (200, "app-a")
    assert _app(ctl, "paths.localhost", "/foo/bar") == (200, "app-a")
    assert _app(ctl, "paths.localhost", "/foobar") == (200, "app-b")
    assert ctl.get("paths.localhost", "/foobar/x")[0] == 404
    assert ctl.get("paths.localhost", "/foob")[0] == 404
    # A backend whose Service does not exist: 503 for its paths, the others still work.
    assert ctl.get("paths.localhost", "/gone/x")[0] == 503
    assert _app(ctl, "paths.localhost", "/foo") == (200, "app-a")
    # The body the backend saw: the path unchanged.
    assert ctl.get("paths.localhost", "/foo/bar?q=1")[1].split()[2] == "/foo/bar?q=1"

    # Status: the published address.
    wait_for(lambda: (api.ok("GET", ING.format(ns=ns) + "/routes").get("status") or {})
             .get("loadBalancer", {}).get("ingress") == [{"ip": "127.0.0.1"}], timeout=10,
             message="status.loadBalancer.ingress")

    # A default backend: every request no rule matches.
    assert ctl.get("nobody.localhost", "/")[0] == 404
    before = ctl.workers()
    api.ok("POST", ING.format(ns=ns), _ingress("fallback", ctl.ingress_class, {
        "defaultBackend": backend("web-b")}), expect=201)
    wait_for(lambda: _app(ctl, "nobody.localhost", "/") == (200, "app-b"), timeout=15,
             message="default backend")
    ctl.settle(before)
    assert _app(ctl, "paths.localhost", "/foob") == (200, "app-b")
    assert _app(ctl, "a.localhost", "/") == (200, "app-a")

    # The Service appears: its paths are served.
    service_and_slice(api, ns, "missing-svc", [a.ip])
    wait_for(lambda: _app(ctl, "paths.localhost", "/gone/x") == (200, "app-a"), timeout=15,
             message="the missing Service served once it exists")
    for name in ("routes", "fallback"):
        api.ok("DELETE", ING.format(ns=ns) + f"/{name}")
    wait_for(lambda: ctl.get("a.localhost", "/")[0] == 404, timeout=15, message="removed")


def test_tls_sni_redirect_and_annotations(api: Api, ctl: Controller, apps: list[Backend],
                                          tmp_path: Path) -> None:
    ns = api.namespace()
    a, b = apps
    service_and_slice(api, ns, "web-a", [a.ip])
    service_and_slice(api, ns, "web-b", [b.ip])
    ca = pki.new_ca("ingress-test-ca")
    cafile = tmp_path / "ca.crt"
    cafile.write_bytes(ca.cert_pem)
    for host in ("secure.localhost", "other.localhost"):
        kc = pki.issue(ca, host, dns_names=[host], server=True)
        api.ok("POST", f"/api/v1/namespaces/{ns}/secrets", {
            "metadata": {"name": host.split(".")[0] + "-tls"}, "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64.b64encode(kc.cert_pem).decode(),
                     "tls.key": base64.b64encode(kc.key_pem).decode()}}, expect=201)
    before = ctl.workers()
    api.ok("POST", ING.format(ns=ns), _ingress("tls", ctl.ingress_class, {
        "tls": [{"hosts": ["secure.localhost"], "secretName": "secure-tls"},
                {"hosts": ["other.localhost"], "secretName": "other-tls"}],
        "rules": [{"host": "secure.localhost", "http": {"paths": [path("/", "Prefix", "web-a")]}},
                  {"host": "other.localhost", "http": {"paths": [path("/", "Prefix", "web-b")]}}],
    }), expect=201)
    # One certificate per host (SNI), each verified against the CA.
    wait_for(lambda: _tls_ok(ctl, "secure.localhost", str(cafile)), timeout=15,
             message="TLS served")
    ctl.settle(before)
    code, body, cn = get_tls(ctl.https_port, "secure.localhost", str(cafile), "/p")
    assert (code, body.split()[0], cn) == (200, "app-a", "secure.localhost")
    code, body, cn = get_tls(ctl.https_port, "other.localhost", str(cafile))
    assert (code, body.split()[0], cn) == (200, "app-b", "other.localhost")
    # A renewed certificate (another CA's here) is served once the Secret changes.
    ca2 = pki.new_ca("ingress-test-ca-2")
    ca2file = tmp_path / "ca2.crt"
    ca2file.write_bytes(ca2.cert_pem)
    kc2 = pki.issue(ca2, "secure.localhost", dns_names=["secure.localhost"], server=True)
    sec = api.ok("GET", f"/api/v1/namespaces/{ns}/secrets/secure-tls")
    sec["data"] = {"tls.crt": base64.b64encode(kc2.cert_pem).decode(),
                   "tls.key": base64.b64encode(kc2.key_pem).decode()}
    before = ctl.workers()
    api.ok("PUT", f"/api/v1/namespaces/{ns}/secrets/secure-tls", sec)
    wait_for(lambda: _tls_ok(ctl, "secure.localhost", str(ca2file)), timeout=15,
             message="the renewed certificate served")
    ctl.settle(before)
    # ssl-redirect (default true): plain HTTP to a TLS host is redirected.
    code, _ = ctl.get("secure.localhost", "/x")
    assert code == 308

    # ssl-redirect "false", rewrite-target and backend-protocol HTTP.
    before = ctl.workers()
    api.ok("POST", ING.format(ns=ns), _ingress("annotated", ctl.ingress_class, {
        "rules": [{"host": "rw.localhost", "http": {"paths": [path("/api", "Prefix", "web-a")]}}],
    }, {"nginx.ingress.kubernetes.io/rewrite-target": "/",
        "nginx.ingress.kubernetes.io/backend-protocol": "HTTP",
        "nginx.ingress.kubernetes.io/ssl-redirect": "false"}), expect=201)
    wait_for(lambda: ctl.get("rw.localhost", "/api/v1/things")[0] == 200, timeout=15,
             message="rewritten route")
    ctl.settle(before)
    assert ctl.get("rw.localhost", "/api/v1/things")[1].split()[2] == "/"

    # An Ingress nginx refuses (an unknown variable) is left out and reported; the others
    # keep working, and it is served once fixed.
    api.ok("POST", ING.format(ns=ns), _ingress("broken", ctl.ingress_class, {
        "rules": [{"host": "broken.localhost", "http": {"paths": [
            path("/", "Prefix", "web-b")]}}],
    }, {"nginx.ingress.kubernetes.io/rewrite-target": "/$no_such_variable"}), expect=201)
    wait_for(lambda: _events(api, ns, "broken", "Rejected"), timeout=15,
             message="the broken Ingress reported")
    ev = _events(api, ns, "broken", "Rejected")[0]
    assert ev["type"] == "Warning" and "no_such_variable" in ev["message"], ev
    assert ctl.get("broken.localhost", "/")[0] == 404
    assert ctl.get("rw.localhost", "/api/x")[0] == 200
    assert get_tls(ctl.https_port, "secure.localhost", str(ca2file))[0] == 200
    st = api.ok("GET", ING.format(ns=ns) + "/broken").get("status") or {}
    assert not (st.get("loadBalancer") or {}).get("ingress"), st
    fixed = api.ok("GET", ING.format(ns=ns) + "/broken")
    fixed["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/rewrite-target": "/ok"}
    before = ctl.workers()
    api.ok("PUT", ING.format(ns=ns) + "/broken", fixed)
    wait_for(lambda: ctl.get("broken.localhost", "/")[0] == 200, timeout=15,
             message="the fixed Ingress served")
    ctl.settle(before)
    assert ctl.get("broken.localhost", "/zzz")[1].split()[2] == "/ok"
    for name in ("tls", "annotated", "broken"):
        api.ok("DELETE", ING.format(ns=ns) + f"/{name}")


def _tls_ok(ctl: Controller, host: str, cafile: str) -> bool:
    try:
        return get_tls(ctl.https_port, host, cafile)[0] == 200
    except OSError:
        return False


def _events(api: Api, ns: str, name: str, reason: str) -> list[dict[str, Any]]:
    evs = api.ok("GET", f"/api/v1/namespaces/{ns}/events")["items"]
    return [e for e in evs if e["involvedObject"].get("name") == name
            and e["involvedObject"].get("kind") == "Ingress" and e.get("reason") == reason]


def test_http_port_plain_get(ctl: Controller) -> None:
    # Nothing configured for this host: the default server's 404, from nginx.
    assert get(ctl.http_port, "nothing.localhost")[0] == 404
