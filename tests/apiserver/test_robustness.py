"""No wrong answer to any input: each bad request found by fuzzing answers as
kube-apiserver does (a Status with its code and reason, never a 500), and Status bodies
and headers are byte for byte what kube-apiserver sends.

The shared API server serves the input tests; the stalled-etcd test runs its own etcd
and server (it stops etcd with SIGSTOP).
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from testing.apiclient import Api, deployment, pod
from testing.support import ApiServer, Etcd, wait_for

INT64_OVER = str(2**63)  # one past int64
DEEP = 1000


def _cm(name: str, **extra: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, **extra}


def _status(code: int, body: object, reason: str) -> None:
    assert isinstance(body, dict) and body.get("kind") == "Status", body
    assert (body["code"], body["reason"]) == (code, reason), body


def test_resource_version_beyond_int64_is_400(api: Api, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/configmaps"
    for params in ({"resourceVersion": INT64_OVER, "resourceVersionMatch": "Exact"},
                   {"resourceVersion": "9" * 30, "resourceVersionMatch": "NotOlderThan"},
                   {"resourceVersion": INT64_OVER, "watch": "1"},
                   {"limit": "9" * 25},
                   {"timeoutSeconds": "9" * 25, "watch": "1"}):
        _, body = api.call("GET", base, **params)
        _status(400, body, "BadRequest")
    api.ok("POST", base, _cm("rv"), 201)
    _, body = api.call("PUT", f"{base}/rv", _cm("rv") | {
        "metadata": {"name": "rv", "resourceVersion": INT64_OVER}})
    _status(400, body, "BadRequest")


def test_deep_json_is_400_everywhere(api: Api, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/configmaps"
    deep = "[" * DEEP + "]" * DEEP
    body = ('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"x":'
            + deep + "}").encode()
    _, out = api.call("POST", base, body)
    _status(400, out, "BadRequest")
    assert "max depth" in out["message"]
    api.ok("POST", base, _cm("target", data={"a": "b"}), 201)
    patches = {
        "application/merge-patch+json": '{"metadata":{"labels":' + deep + "}}",
        "application/strategic-merge-patch+json": '{"data":' + deep + "}",
        "application/json-patch+json": '[{"op":"add","path":"/x","value":' + deep + "}]",
        "application/apply-patch+yaml": '{"apiVersion":"v1","kind":"ConfigMap",'
                                        '"metadata":{"name":"target"},"x":' + deep + "}",
    }
    for ctype, patch in patches.items():
        _, out = api.call("PATCH", f"{base}/target", patch.encode(), content_type=ctype,
                             fieldManager="fuzz")
        _status(400, out, "BadRequest")
    # The object is as it was: nothing half-written.
    assert api.ok("GET", f"{base}/target")["data"] == {"a": "b"}
    assert [i["metadata"]["name"] for i in api.ok("GET", base)["items"]] == ["target"]
    # A depth any real object has is fine.
    nested: object = "leaf"
    for _ in range(40):
        nested = {"k": nested}
    api.ok("PATCH", f"{base}/target", {"metadata": {"annotations": {
        "deep": json.dumps(nested)}}}, content_type="application/merge-patch+json")


@pytest.mark.parametrize("yaml_body", [
    b"a: &a [*a]",  # a recursive alias
    b"{" * 5000,
    b"[" * 5000,
    b"a: &a ['x','x']\nb: &b [*a,*a]\nc: &c [*b,*b]\nd: [*c,*c]",  # aliases of aliases
])
def test_apply_yaml_bombs_are_400(api: Api, ns: str, yaml_body: bytes) -> None:
    _, out = api.call("PATCH", f"/api/v1/namespaces/{ns}/configmaps/bomb", yaml_body,
                         content_type="application/apply-patch+yaml", fieldManager="fuzz")
    _status(400, out, "BadRequest")
    _, out = api.call("POST", f"/api/v1/namespaces/{ns}/configmaps", yaml_body,
                         content_type="application/yaml")
    _status(400, out, "BadRequest")
    assert api.call("GET", f"/api/v1/namespaces/{ns}/configmaps/bomb")[0] == 404


def test_objects_over_the_limits_are_413(api: Api, ns: str) -> None:
    # Over etcd's 1.5 MiB request limit, under the 3 MiB body limit: 413 naming the
    # limit (not gRPC's "larger than max" as a 503), and nothing stored.
    big = pod("big")
    big["spec"]["containers"][0]["args"] = ["x" * 1_700_000]
    _, out = api.call("POST", f"/api/v1/namespaces/{ns}/pods", big)
    _status(413, out, "RequestEntityTooLarge")
    assert out["message"] == "Request entity too large: limit is 1572864"
    assert api.call("GET", f"/api/v1/namespaces/{ns}/pods/big")[0] == 404
    # An update that grows an object past it: the same, and the old object stays.
    deployments = f"/apis/apps/v1/namespaces/{ns}/deployments"
    d = api.ok("POST", deployments, deployment("grow"), 201)
    container = d["spec"]["template"]["spec"]["containers"][0]["name"]
    _, out = api.call("PATCH", f"{deployments}/grow", {"spec": {"template": {"spec": {
        "containers": [{"name": container, "args": ["y" * 1_600_000]}]}}}},
                         content_type="application/strategic-merge-patch+json")
    _status(413, out, "RequestEntityTooLarge")
    after = api.ok("GET", f"{deployments}/grow")
    assert after["metadata"]["resourceVersion"] == d["metadata"]["resourceVersion"]
    # The request body limit, for JSON and protobuf alike.
    huge = json.dumps(_cm("huge", data={"a": "x" * 3_200_000})).encode()
    for ctype in ("application/json", "application/vnd.kubernetes.protobuf"):
        _, out = api.call("POST", f"/api/v1/namespaces/{ns}/configmaps", huge,
                             content_type=ctype)
        _status(413, out, "RequestEntityTooLarge")
        assert out["message"] == "Request entity too large: limit is 3145728"


def test_protobuf_body_for_an_unserved_kind_is_404(api: Api, ns: str) -> None:
    # Prefix "k8s\0", then a runtime.Unknown naming a kind nobody serves.
    body = b"k8s\x00\x0a\x0d\x0a\x07apps/v1\x12\x02Xy"
    for path in (f"/apis/apps/v1/namespaces/{ns}/nosuchkinds", f"/api/v1/nosuch/{ns}",
                 f"/apis/nosuch.example.com/v1/namespaces/{ns}/things"):
        code, out = api.call("POST", path, body,
                             content_type="application/vnd.kubernetes.protobuf")
        code_json, out_json = api.call("POST", path, {"kind": "Xy"})
        _status(404, out, "NotFound")
        assert (code, out) == (code_json, out_json)


def _raw_request(url: str, request: bytes) -> bytes:
    host, port = url.rsplit("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def test_unknown_http_method_is_a_405_status(server_url: str) -> None:
    raw = _raw_request(server_url, b"FOO /api/v1/namespaces/default/pods HTTP/1.1\r\n"
                                   b"Host: x\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 405 "), raw
    assert b"cache-control: no-cache, private" in head.lower()
    st = json.loads(body)
    _status(405, st, "MethodNotAllowed")
    assert st["message"] == "the server does not allow this method on the requested resource"
    # A known method the resource does not allow: the same Status.
    r = httpx.request("OPTIONS", f"{server_url}/api/v1/namespaces/default/pods/x")
    assert r.status_code == 405 and r.json() == st


# kube-apiserver's answer for a missing pod, from Kubernetes' API conventions
# (community/contributors/devel/sig-architecture/api-conventions.md, "Response Status
# Kind"), compact as the server writes it, newline-terminated by Go's json.Encoder.
K8S_NOT_FOUND = (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                 b'"message":"pods \\"grafana\\" not found","reason":"NotFound",'
                 b'"details":{"name":"grafana","kind":"pods"},"code":404}\n')


def test_status_bytes_and_headers_as_kube_apiserver(server_url: str, ns: str) -> None:
    r = httpx.get(f"{server_url}/api/v1/namespaces/{ns}/pods/grafana")
    assert r.status_code == 404
    assert r.content == K8S_NOT_FOUND
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-cache, private"
    audit_ids = {r.headers["audit-id"]}
    # Audit-Id on every answer (successes, errors, non-resource paths), new per request,
    # the client's own when it sends one.
    for path in ("/api/v1/namespaces", "/version", "/readyz", "/nosuch", "/apis"):
        r = httpx.get(server_url + path)
        assert r.headers["cache-control"] == "no-cache, private", path
        audit_ids.add(r.headers["audit-id"])
    assert len(audit_ids) == 6
    r = httpx.get(f"{server_url}/api/v1/namespaces", headers={"Audit-ID": "mine-1"})
    assert r.headers["audit-id"] == "mine-1"
    # Field order of a Status with causes: ..., reason, details (name, group, kind,
    # causes), code.
    r = httpx.post(f"{server_url}/apis/apps/v1/namespaces/{ns}/deployments",
                   json={"metadata": {"name": "Bad_Name"}, "spec": {}})
    assert r.status_code == 422
    assert list(r.json()) == ["kind", "apiVersion", "metadata", "status", "message", "reason",
                              "details", "code"]
    assert list(r.json()["details"])[:3] == ["name", "group", "kind"]
    # Warning headers as net.NewWarningHeader writes them: 299 - "<text, quotes escaped>".
    r = httpx.post(f"{server_url}/api/v1/namespaces/{ns}/configmaps", json={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "warned"}, "x": 1})
    assert r.status_code == 201
    assert r.headers["warning"] == '299 - "unknown field \\"x\\""'
    assert r.headers["cache-control"] == "no-cache, private" and r.headers["audit-id"]


def test_watch_error_is_a_status_with_the_official_client(server_url: str, ns: str) -> None:
    from kubernetes import client as k8s

    cfg = k8s.Configuration()
    cfg.host = server_url
    with k8s.ApiClient(cfg) as c:
        v1 = k8s.CoreV1Api(c)
        with pytest.raises(k8s.ApiException) as e:
            v1.list_namespaced_config_map(ns, resource_version=INT64_OVER,
                                          resource_version_match="Exact")
        assert e.value.status == 400
        st = json.loads(e.value.body)
        assert st["reason"] == "BadRequest" and st["kind"] == "Status"
        assert e.value.headers["Cache-Control"] == "no-cache, private"
        assert e.value.headers["Audit-Id"]


# ---- a stalled etcd ------------------------------------------------------------------


@pytest.fixture
def stalled() -> Iterator[tuple[Etcd, ApiServer, Api]]:
    e = Etcd().start()
    s = ApiServer(e.url).start()
    api = Api(s.url)
    api.client.timeout = httpx.Timeout(30)
    try:
        yield e, s, api
    finally:
        api.close()
        if e.proc is not None and e.proc.poll() is None:
            e.proc.send_signal(signal.SIGCONT)
        s.stop()
        e.stop()


def test_stalled_etcd_is_504_then_no_duplicate_and_no_lost_write(
        stalled: tuple[Etcd, ApiServer, Api]) -> None:
    etcd, _, api = stalled
    ns = api.namespace()
    base = f"/api/v1/namespaces/{ns}/configmaps"
    api.ok("POST", base, _cm("before"), 201)
    assert etcd.proc is not None
    etcd.proc.send_signal(signal.SIGSTOP)
    try:
        # /readyz answers within a second, naming the failing check.
        t0 = time.monotonic()
        code, text = api.call("GET", "/readyz")
        assert time.monotonic() - t0 < 1.5
        assert code == 500 and "[-]etcd failed: reason withheld" in text, text
        # A write whose outcome is unknown: 504 Timeout, not 503.
        code, out = api.call("POST", base, _cm("during", data={"k": "v"}))
        _status(504, out, "Timeout")
    finally:
        etcd.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: api.call("GET", "/readyz")[0] == 200, timeout=30, message="readyz")
    # The retry: created now (201) or found created by the first try (409), never twice.
    code, out = api.call("POST", base, _cm("during", data={"k": "v"}))
    assert code in (201, 409), (code, out)
    if code == 409:
        _status(409, out, "AlreadyExists")
    items = api.ok("GET", base)["items"]
    assert sorted(i["metadata"]["name"] for i in items) == ["before", "during"]
    assert api.ok("GET", f"{base}/during")["data"] == {"k": "v"}


# ObjectMeta's fields in the order of its Go struct (k8s.io/apimachinery/pkg/apis/meta/v1
# types.go), which is the order kube-apiserver's JSON has them in.
OBJECT_META_ORDER = ["name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
                     "generation", "creationTimestamp", "deletionTimestamp",
                     "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
                     "finalizers", "managedFields"]


def test_objects_in_kube_apiserver_field_order(server_url: str, ns: str) -> None:
    base = f"{server_url}/api/v1/namespaces/{ns}/configmaps"
    # Sent in another order: data first, metadata's fields reversed, kind last.
    body = (b'{"data":{"a":"b"},"metadata":{"finalizers":["example.com/f"],'
            b'"annotations":{"k":"v"},"labels":{"a":"b"},"name":"ordered"},'
            b'"apiVersion":"v1","kind":"ConfigMap"}')

    def check(obj: dict[str, object]) -> None:
        assert list(obj)[:3] == ["kind", "apiVersion", "metadata"], list(obj)
        md = obj["metadata"]
        assert isinstance(md, dict)
        assert list(md) == [k for k in OBJECT_META_ORDER if k in md], list(md)

    created = httpx.post(base, content=body, headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.text
    check(created.json())
    check(httpx.get(f"{base}/ordered").json())
    check(httpx.get(base).json()["items"][0])
    patched = httpx.patch(f"{base}/ordered", content=b'{"metadata":{"labels":{"c":"d"}}}',
                          headers={"Content-Type": "application/merge-patch+json"})
    check(patched.json())
    with httpx.stream("GET", base, params={"watch": "1", "resourceVersion": "0",
                                           "timeoutSeconds": "2"}) as r:
        first = json.loads(next(r.iter_lines()))
    check(first["object"])
