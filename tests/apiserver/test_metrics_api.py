"""metrics.k8s.io/v1beta1 from the kubelets' /stats/summary, on fake-runtime kubelet processes.

Two kubelets (``python -m kubelet --runtime fake``) serve synthetic usage: containers burn
MINIK8S_FAKE_CPU_MILLICORES and hold MINIK8S_FAKE_MEMORY_BYTES (kubelet/runtime/fake.py).
The API server reads their summaries; the real kubectl finds the group by discovery and
``kubectl top`` prints it. A third node whose kubelet does not answer has no metrics, and
reads about it come back at once with the reason instead of hanging.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from testing import kubectl as kubectl_cli
from testing.apiclient import Api
from testing.support import Process, free_port, http_ok, service, unique, wait_for

G = "/apis/metrics.k8s.io/v1beta1"


class FakeKubelet:
    def __init__(self, server: str, node: str, cpu: str = "4", memory: str = "8Gi",
                 *extra: str) -> None:
        self.node = node
        self.port = free_port()
        self.proc: Process = service(f"kubelet-{node}", "kubelet", [
            "--server", server, "--node-name", node, "--runtime", "fake",
            "--port", str(self.port), "--address", "127.0.0.1", "--node-ip", "127.0.0.1",
            "--cpu", cpu, "--memory", memory, "--relist-seconds", "1",
            "--heartbeat-seconds", "1", *extra])
        wait_for(lambda: http_ok(f"http://127.0.0.1:{self.port}/healthz"), timeout=20,
                 message=f"kubelet healthz:\n{self.proc.log_tail()}")


@pytest.fixture(scope="module")
def kubelets(server_url: str) -> Iterator[list[FakeKubelet]]:
    ks: list[FakeKubelet] = []
    try:
        for _ in range(2):
            ks.append(FakeKubelet(server_url, unique("mnode")))
        yield ks
    finally:
        for k in ks:
            k.proc.stop()


@pytest.fixture(scope="module")
def mns(api: Api) -> str:
    return api.namespace()


def make_pod(api: Api, ns: str, node: str, name: str, cpu_m: int, mem: int,
             labels: dict[str, str] | None = None, containers: int = 1) -> None:
    cs = [{"name": f"c{i}", "image": "busybox", "command": ["sh", "-c", "while true; do :; done"],
           "env": [{"name": "MINIK8S_FAKE_CPU_MILLICORES", "value": str(cpu_m)},
                   {"name": "MINIK8S_FAKE_MEMORY_BYTES", "value": str(mem)}]}
          for i in range(containers)]
    api.ok("POST", f"/api/v1/namespaces/{ns}/pods", {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"nodeName": node, "containers": cs}}, expect=201)


def running(api: Api, ns: str, name: str) -> bool:
    p = api.ok("GET", f"/api/v1/namespaces/{ns}/pods/{name}")
    return bool((p.get("status") or {}).get("phase") == "Running")


@pytest.fixture(scope="module")
def pods(api: Api, mns: str, kubelets: list[FakeKubelet]) -> list[str]:
    a, b = kubelets
    make_pod(api, mns, a.node, "busy", 250, 64 * 1024 * 1024, {"app": "busy"})
    make_pod(api, mns, b.node, "idle", 3, 8 * 1024 * 1024, {"app": "idle"})
    make_pod(api, mns, b.node, "pair", 100, 16 * 1024 * 1024, {"app": "pair"}, containers=2)
    for n in ("busy", "idle", "pair"):
        wait_for(lambda n=n: running(api, mns, n), timeout=20, message=f"{n} Running")
    return ["busy", "idle", "pair"]


def test_summary_shape(kubelets: list[FakeKubelet], pods: list[str], mns: str) -> None:
    import json
    import urllib.request
    a = kubelets[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{a.port}/stats/summary", timeout=10) as r:
        s = json.loads(r.read())
    node = s["node"]
    assert node["nodeName"] == a.node and node["startTime"].endswith("Z")
    assert {"time", "usageNanoCores", "usageCoreNanoSeconds"} <= set(node["cpu"])
    assert {"time", "usageBytes", "workingSetBytes", "rssBytes"} <= set(node["memory"])
    busy = next(p for p in s["pods"] if p["podRef"]["name"] == "busy")
    assert busy["podRef"]["namespace"] == mns and busy["podRef"]["uid"]
    c = busy["containers"][0]
    assert c["name"] == "c0" and c["memory"]["workingSetBytes"] == 64 * 1024 * 1024
    # 250m of synthetic load, measured over at least half a second
    assert 200_000_000 <= c["cpu"]["usageNanoCores"] <= 300_000_000
    assert busy["cpu"]["usageNanoCores"] == pytest.approx(c["cpu"]["usageNanoCores"], rel=0.2)
    # the node is its pods plus the hollow node's own 100m
    assert node["cpu"]["usageNanoCores"] >= 300_000_000


def test_discovery_lists_the_group(api: Api) -> None:
    groups = api.ok("GET", "/apis")["groups"]
    g = next(g for g in groups if g["name"] == "metrics.k8s.io")
    assert g["preferredVersion"]["groupVersion"] == "metrics.k8s.io/v1beta1"
    rl = api.ok("GET", G)
    assert {(r["name"], r["kind"], r["namespaced"]) for r in rl["resources"]} == {
        ("nodes", "NodeMetrics", False), ("pods", "PodMetrics", True)}


def test_node_and_pod_metrics(api: Api, kubelets: list[FakeKubelet], pods: list[str],
                              mns: str) -> None:
    a, b = kubelets
    nm = api.ok("GET", f"{G}/nodes/{a.node}")
    assert nm["kind"] == "NodeMetrics" and nm["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert nm["usage"]["cpu"].endswith("n") and nm["usage"]["memory"].endswith("Ki")
    assert nm["window"].endswith("s") and nm["timestamp"].endswith("Z")
    names = {i["metadata"]["name"] for i in api.ok("GET", f"{G}/nodes")["items"]}
    assert {a.node, b.node} <= names
    lst = api.ok("GET", f"{G}/namespaces/{mns}/pods")
    assert lst["kind"] == "PodMetricsList"
    assert [i["metadata"]["name"] for i in lst["items"]] == ["busy", "idle", "pair"]
    pair = api.ok("GET", f"{G}/namespaces/{mns}/pods/pair")
    assert [c["name"] for c in pair["containers"]] == ["c0", "c1"]
    assert pair["containers"][0]["usage"]["memory"] == f"{16 * 1024}Ki"
    sel = api.ok("GET", f"{G}/namespaces/{mns}/pods", labelSelector="app in (busy,idle)")
    assert [i["metadata"]["name"] for i in sel["items"]] == ["busy", "idle"]
    every = api.ok("GET", f"{G}/pods", fieldSelector=f"metadata.namespace={mns}")
    assert len(every["items"]) == 3
    code, body = api.call("GET", f"{G}/namespaces/{mns}/pods/nope")
    assert code == 404 and body["reason"] == "NotFound"
    assert body["message"] == 'podmetrics.metrics.k8s.io "nope" not found'
    assert api.call("DELETE", f"{G}/nodes/{a.node}")[0] == 405
    assert api.call("GET", f"{G}/namespaces/{mns}/pods", labelSelector="a in (")[0] == 400


def test_silent_kubelet_is_left_out_quickly(api: Api, kubelets: list[FakeKubelet]) -> None:
    # A Node whose kubelet address accepts connections but never answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    name = unique("silent")
    api.ok("POST", "/api/v1/nodes", {"metadata": {"name": name}}, expect=201)
    try:
        api.ok("PATCH", f"/api/v1/nodes/{name}/status", {"status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": silent.getsockname()[1]}}}},
            content_type="application/merge-patch+json")
        t0 = time.monotonic()
        items = api.ok("GET", f"{G}/nodes")["items"]
        assert time.monotonic() - t0 < 10
        assert name not in {i["metadata"]["name"] for i in items}
        assert kubelets[0].node in {i["metadata"]["name"] for i in items}
        code, body = api.call("GET", f"{G}/nodes/{name}")
        assert code == 404, body
        assert "did not answer" in body["message"]
    finally:
        api.call("DELETE", f"/api/v1/nodes/{name}")
        silent.close()


def test_hollow_nodes_share_a_port(server_url: str, api: Api) -> None:
    mns = api.namespace()
    k = FakeKubelet(server_url, unique("hollow"), "4", "8Gi", "--fake-nodes", "3")
    try:
        third = f"{k.node}-2"
        wait_for(lambda: api.call("GET", f"/api/v1/nodes/{third}")[0] == 200, timeout=20,
                 message="hollow node registered")
        make_pod(api, mns, third, "onhollow", 70, 1 << 20)
        wait_for(lambda: running(api, mns, "onhollow"), timeout=20, message="Running")
        nm = api.ok("GET", f"{G}/nodes/{third}")
        assert nm["metadata"]["name"] == third
        pm = api.ok("GET", f"{G}/namespaces/{mns}/pods/onhollow")
        assert pm["containers"][0]["usage"]["memory"] == "1024Ki"
        names = {i["metadata"]["name"] for i in api.ok(
            "GET", f"{G}/nodes", labelSelector="minik8s.io/hollow=true")["items"]}
        assert {f"{k.node}-{i}" for i in range(3)} <= names
    finally:
        k.proc.stop()


def test_kubectl_top(server_url: str, kubectl: kubectl_cli.Kubectl, kubelets: list[FakeKubelet],
                     pods: list[str], mns: str) -> None:
    out = kubectl("top", "pods", "-n", mns).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    rows = {ln.split()[0]: ln.split()[1:] for ln in lines[1:]}
    assert set(rows) == {"busy", "idle", "pair"}
    assert 200 <= int(rows["busy"][0].rstrip("m")) <= 300 and rows["busy"][1] == "64Mi"
    out = kubectl("top", "pods", "-n", mns, "--containers", "-l", "app=pair").stdout
    assert [ln.split()[:2] for ln in out.splitlines()[1:]] == [["pair", "c0"], ["pair", "c1"]]
    out = kubectl("get", "pods.metrics.k8s.io", "-n", mns).stdout
    head, *rows_ = out.splitlines()
    assert head.split() == ["NAME", "CPU", "MEMORY", "WINDOW"]
    got = {r.split()[0]: r.split()[1:3] for r in rows_}
    assert got["pair"][1] == "32Mi" and got["idle"][1] == "8Mi", out
    assert got["pair"][0].endswith(("m", "n")), out
    out = kubectl("get", "nodes.metrics.k8s.io", kubelets[1].node).stdout
    assert out.splitlines()[1].split()[0] == kubelets[1].node
    out = kubectl("top", "nodes", *[k.node for k in kubelets[:1]]).stdout
    head, row = out.splitlines()[:2]
    assert head.split() == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    assert row.split()[0] == kubelets[0].node
