"""``minictl top nodes|pods`` beside the real ``kubectl top`` on the same cluster.

Two fake-runtime kubelet processes serve synthetic usage (kubelet/runtime/fake.py: the
containers' MINIK8S_FAKE_CPU_MILLICORES / MINIK8S_FAKE_MEMORY_BYTES); the API server caches
each kubelet's summary for 5 s, so the two tools read the same numbers when run back to
back (a comparison is retried once if a refresh fell between them).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator

import pytest

from testing import kubectl as kubectl_cli
from testing.apiclient import Api
from testing.support import Process, free_port, http_ok, service, unique, wait_for
from tests.cli.helpers import fails, mctl, ok


class FakeKubelet:
    def __init__(self, server: str, node: str) -> None:
        self.node = node
        self.port = free_port()
        self.proc: Process = service(f"kubelet-{node}", "kubelet", [
            "--server", server, "--node-name", node, "--runtime", "fake",
            "--port", str(self.port), "--address", "127.0.0.1", "--node-ip", "127.0.0.1",
            "--cpu", "2", "--memory", "4Gi", "--relist-seconds", "1", "--heartbeat-seconds", "1"])
        wait_for(lambda: http_ok(f"http://127.0.0.1:{self.port}/healthz"), timeout=20,
                 message=f"kubelet healthz:\n{self.proc.log_tail()}")


@pytest.fixture(scope="module")
def group() -> str:
    return unique("top")


@pytest.fixture(scope="module")
def cluster(server_url: str, group: str) -> Iterator[tuple[list[FakeKubelet], str]]:
    api = Api(server_url)
    ks: list[FakeKubelet] = []
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    dead = unique("deadnode")
    try:
        for _ in range(2):
            ks.append(FakeKubelet(server_url, unique("tnode")))
        for k in ks:
            wait_for(lambda k=k: api.call("GET", f"/api/v1/nodes/{k.node}")[0] == 200,
                     timeout=20, message="node registered")
            api.ok("PATCH", f"/api/v1/nodes/{k.node}", {"metadata": {"labels": {"top": group}}},
                   content_type="application/merge-patch+json")
        # a node whose kubelet takes the connection and never answers
        api.ok("POST", "/api/v1/nodes", {"metadata": {"name": dead, "labels": {"top": group}}},
               expect=201)
        api.ok("PATCH", f"/api/v1/nodes/{dead}/status", {"status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "allocatable": {"cpu": "1", "memory": "1Gi"},
            "daemonEndpoints": {"kubeletEndpoint": {"Port": silent.getsockname()[1]}}}},
            content_type="application/merge-patch+json")
        ns = api.namespace()
        specs = [("alpha", ks[0], 250, 64, 1), ("beta", ks[1], 40, 200, 1),
                 ("gamma", ks[1], 120, 16, 2)]
        for name, k, cpu, mib, n in specs:
            api.ok("POST", f"/api/v1/namespaces/{ns}/pods", {
                "metadata": {"name": name, "labels": {"app": name, "tier": "t" if n > 1 else "s"}},
                "spec": {"nodeName": k.node, "containers": [
                    {"name": f"c{i}", "image": "busybox", "env": [
                        {"name": "MINIK8S_FAKE_CPU_MILLICORES", "value": str(cpu * (i + 1))},
                        {"name": "MINIK8S_FAKE_MEMORY_BYTES", "value": str(mib << 20)}]}
                    for i in range(n)]}}, expect=201)
        for name, *_ in specs:
            wait_for(lambda name=name: (api.ok("GET", f"/api/v1/namespaces/{ns}/pods/{name}")
                                        .get("status") or {}).get("phase") == "Running",
                     timeout=20, message=f"{name} Running")
        yield ks, ns
    finally:
        for k in ks:
            k.proc.stop()
        api.call("DELETE", f"/api/v1/nodes/{dead}")
        silent.close()
        api.close()


def same(server: str, kubectl: kubectl_cli.Kubectl, *args: str,
         check: Callable[[str], None] | None = None) -> str:
    """minictl and kubectl print the same lines (trailing blanks aside)."""
    def norm(s: str) -> list[str]:
        return [ln.rstrip() for ln in s.splitlines()]

    def close(a: str, b: str) -> bool:
        """The same lines, but for CPU figures read a moment apart (the usage is a rate
        of two samples, so a later read may differ by a millicore or two)."""
        la, lb = norm(a), norm(b)
        if len(la) != len(lb):
            return False
        for x, y in zip(la, lb, strict=True):
            tx, ty = x.split(), y.split()
            if len(tx) != len(ty):
                return False
            for u, v in zip(tx, ty, strict=True):
                if u == v:
                    continue
                mu, mv = re.fullmatch(r"(\d+)m", u), re.fullmatch(r"(\d+)m", v)
                if not (mu and mv) or abs(int(mu[1]) - int(mv[1])) > 3:
                    return False
        return True
    for attempt in range(3):
        want = kubectl(*args).stdout
        got = ok(server, *args)
        if norm(got) == norm(want) or attempt == 2:
            break
    assert norm(got) == norm(want) or close(got, want), f"minictl:\n{got}\nkubectl:\n{want}"
    if check is not None:
        check(got)
    return got


def test_top_nodes(server_url: str, kubectl: kubectl_cli.Kubectl,
                   cluster: tuple[list[FakeKubelet], str], group: str) -> None:
    ks, _ = cluster
    out = same(server_url, kubectl, "top", "nodes", "-l", f"top={group}")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    rows = {ln.split()[0]: ln.split()[1:] for ln in lines[1:]}
    assert len(rows) == 3
    # node 0: 100m of its own + alpha's 250m, of 2 cores; 256Mi + 64Mi of 4Gi
    r0 = rows[ks[0].node]
    assert 345 <= int(r0[0].rstrip("m")) <= 355 and r0[1] in ("17%", "18%")
    assert (r0[2], r0[3]) == ("320Mi", "7%")
    dead = next(n for n in rows if n.startswith("deadnode"))
    assert rows[dead] == ["<unknown>"] * 4 and lines[-1].startswith(dead)
    same(server_url, kubectl, "top", "node", ks[1].node)
    same(server_url, kubectl, "top", "no", "-l", f"top={group}", "--sort-by=memory",
         "--no-headers", "--show-capacity")
    out = same(server_url, kubectl, "top", "nodes", "-l", f"top={group}", "--sort-by=cpu")
    assert out.splitlines()[1].split()[0] == ks[1].node  # 100m + 40m + 360m


def test_top_pods(server_url: str, kubectl: kubectl_cli.Kubectl,
                  cluster: tuple[list[FakeKubelet], str]) -> None:
    _, ns = cluster
    out = same(server_url, kubectl, "top", "pods", "-n", ns)
    assert [ln.split()[0] for ln in out.splitlines()] == ["NAME", "alpha", "beta", "gamma"]
    # gamma: 120m + 240m, 2 x 16Mi (a rate of two samples: a millicore or two either way)
    cpu, mem = out.splitlines()[3].split()[1:]
    assert abs(int(cpu.removesuffix("m")) - 360) <= 3 and mem == "32Mi", out
    out = same(server_url, kubectl, "top", "pod", "-n", ns, "--containers")
    assert out.splitlines()[0].split() == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    same(server_url, kubectl, "top", "pods", "-n", ns, "--sort-by=cpu")
    out = same(server_url, kubectl, "top", "pods", "-n", ns, "--sort-by=memory", "--containers",
               "--no-headers")
    assert out.splitlines()[0].split()[0] == "beta"
    same(server_url, kubectl, "top", "po", "-A", "-l", "tier=t", "--containers")
    same(server_url, kubectl, "top", "pods", "-A", "-l", "app in (alpha,beta)", "--sum")
    same(server_url, kubectl, "top", "pod", "gamma", "-n", ns, "--sum")
    same(server_url, kubectl, "top", "pods", "-n", ns, "--field-selector", "metadata.name=beta")


def test_top_errors(server_url: str, kubectl: kubectl_cli.Kubectl,
                    cluster: tuple[list[FakeKubelet], str]) -> None:
    _, ns = cluster
    err = fails(server_url, "top", "pod", "nope", "-n", ns)
    want = kubectl("top", "pod", "nope", "-n", ns, check=False)
    assert want.returncode == 1 and err == want.stderr.strip()
    empty = unique("empty")
    r = mctl(server_url, "top", "pods", "-n", empty)
    assert r.exit_code == 0 and r.stdout == ""
    want = kubectl("top", "pods", "-n", empty, check=False)
    assert r.stderr.strip() == want.stderr.strip() == f"No resources found in {empty} namespace."
    assert fails(server_url, "top", "pods", "--sort-by=name") == \
        "error: --sort-by accepts only cpu or memory"
