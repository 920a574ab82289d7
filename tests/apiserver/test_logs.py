"""pods/{name}/log is proxied to the kubelet found in the node's status (a stand-in
kubelet HTTP server here: the real one is tested with the kubelet)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from testing.apiclient import Api, pod
from testing.support import unique

SEEN: list[tuple[str, dict[str, list[str]]]] = []


class FakeKubelet(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        u = urlparse(self.path)
        SEEN.append((u.path, parse_qs(u.query)))
        if not u.path.startswith("/containerLogs/"):
            self.send_response(404)
            self.end_headers()
            return
        if u.path.endswith("/missing"):
            body = b"container not found"
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        for i in range(3):
            self.wfile.write(f"line {i}\n".encode())
            self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def kubelet() -> Iterator[int]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeKubelet)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_pod_log_proxy(api: Api, kubelet: int) -> None:
    ns = api.namespace()
    node = unique("node")
    api.ok("POST", "/api/v1/nodes", {"metadata": {"name": node}, "status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet}}}}, 201)
    two = pod("logs")
    two["spec"]["containers"].append({"name": "side", "image": "busybox"})
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", two, 201)
    # No node yet: no log (LogREST's LocationStreamer without a location: 204).
    r = api.client.get(f"/api/v1/namespaces/{ns}/pods/logs/log", params={"container": "c"})
    assert r.status_code == 204 and r.text == ""
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods/logs/binding", {"target": {"name": node}}, 201)
    r = api.client.get(f"/api/v1/namespaces/{ns}/pods/logs/log",
                       params={"container": "c", "tailLines": "2", "timestamps": "true",
                               "follow": "false", "ignored": "x"})
    assert r.status_code == 200, r.text
    assert r.text == "line 0\nline 1\nline 2\n"
    path, query = SEEN[-1]
    assert path == f"/containerLogs/{ns}/logs/c"
    assert query == {"tailLines": ["2"], "timestamps": ["true"]}
    r = api.client.get(f"/api/v1/namespaces/{ns}/pods/logs/log", params={
        "container": "side", "sinceTime": "2026-01-02T03:04:05.5Z", "limitBytes": "7",
        "previous": "true", "follow": "1"})
    assert r.status_code == 200, r.text
    assert SEEN[-1] == (f"/containerLogs/{ns}/logs/side", {
        "sinceTime": ["2026-01-02T03:04:05.5Z"], "limitBytes": ["7"], "previous": ["true"],
        "follow": ["true"]})
    # ValidatePodLogOptions: 422 Invalid PodLogOptions.
    code, st = api.call("GET", f"/api/v1/namespaces/{ns}/pods/logs/log", container="c",
                        tailLines="-1")
    assert (code, st["reason"], st["message"]) == (
        422, "Invalid", 'PodLogOptions "logs" is invalid: tailLines: Invalid value: -1: '
        "must be greater than or equal to 0")
    code, st = api.call("GET", f"/api/v1/namespaces/{ns}/pods/logs/log", container="c",
                        sinceSeconds="5", sinceTime="2026-01-02T03:04:05Z")
    assert code == 422 and st["message"].endswith(
        ": Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified")
    # Two containers and none named: Kubernetes' message listing the choices.
    code, st = api.call("GET", f"/api/v1/namespaces/{ns}/pods/logs/log")
    assert code == 400 and st["reason"] == "BadRequest"
    assert "a container name must be specified for pod logs, choose one of: [c side]" \
        == st["message"]
    code, st = api.call("GET", f"/api/v1/namespaces/{ns}/pods/logs/log", container="nope")
    assert (code, st["message"]) == (400, "container nope is not valid for pod logs")
    code, st = api.call("GET", f"/api/v1/namespaces/{ns}/pods/ghost/log")
    assert code == 404 and st["reason"] == "NotFound"


def test_pod_log_kubelet_errors(api: Api, kubelet: int) -> None:
    ns = api.namespace()
    node = unique("node")
    api.ok("POST", "/api/v1/nodes", {"metadata": {"name": node}, "status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet}}}}, 201)
    p = pod("lk")
    p["spec"]["containers"][0]["name"] = "missing"
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", p, 201)
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods/lk/binding", {"target": {"name": node}}, 201)
    code, st = api.call("GET", f"/api/v1/namespaces/{ns}/pods/lk/log")
    assert (code, st["kind"], st["reason"], st["message"]) == (
        404, "Status", "NotFound", "the server could not find the requested resource "
        "( pods/log lk)")
    assert st["details"]["causes"][0]["message"] == "container not found"
    # A node whose kubelet is unreachable: an error Status, not a hang or a traceback.
    dead = unique("node")
    api.ok("POST", "/api/v1/nodes", {"metadata": {"name": dead}, "status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 1}}}}, 201)
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", pod("lk2"), 201)
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods/lk2/binding", {"target": {"name": dead}}, 201)
    code, st = api.call("GET", f"/api/v1/namespaces/{ns}/pods/lk2/log")
    assert code == 503 and st["reason"] == "ServiceUnavailable"
