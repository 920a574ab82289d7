"""Fixtures of the real-nodes end-to-end tests: ONE cluster of three real nodes (node
containers with their own containerd, the kubelet over CRI, the node's proxy and network
agent; `deploy/up.sh --real-nodes --nodes 3`) for the package, under its own compose project
(minik8s-nodes), API port (7643; the dashboard 7690) and MINIK8S_HOME (~/.minik8s-nodes), so it never meets
tests/e2e's default cluster (which is stopped after that package, before this one runs).
A cluster that was already up is left up; one this fixture started is stopped after the last
test here (deploy/down.sh, volumes kept: the next run starts from warm images).
MINIK8S_NODES_REUSE=1 uses a cluster that is already up as it is, without deploy/up.sh.

The tests reach the API server as the admin, with real kubectl and the admin kubeconfig that
up.sh wrote, and the nodes with `docker exec` (their runtime, their iptables and routes);
traffic goes only to this machine's containers and pod addresses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testing.kubectl import KUBECTL
from testing.support import ROOT

PROJECT = os.environ.get("MINIK8S_NODES_PROJECT", "minik8s-nodes")
PORT = int(os.environ.get("MINIK8S_NODES_API_PORT", "7643"))
HOME = Path(os.environ.get("MINIK8S_NODES_HOME") or Path.home() / ".minik8s-nodes")
NODES = ("node-1", "node-2", "node-3")
ENV = {"COMPOSE_PROJECT_NAME": PROJECT, "MINIK8S_API_PORT": str(PORT),
       "MINIK8S_DASHBOARD_PORT": str(PORT + 47),
       "MINIK8S_HOME": str(HOME), "KUBECONFIG": str(HOME / "kubeconfig")}


def sh(argv: list[str], timeout: float = 60, check: bool = True,
       stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                       input=stdin, env={**os.environ, **ENV})
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {p.returncode}\n"
                             f"stdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}")
    return p


def container(node: str) -> str:
    """The node's container on the Docker host."""
    return f"{PROJECT}-{node}"


def node_exec(node: str, *argv: str, timeout: float = 30,
              check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh(["docker", "exec", container(node), *argv], timeout=timeout, check=check)


@dataclass
class Cluster:
    server: str
    kubeconfig: Path

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return sh([str(KUBECTL), "--kubeconfig", str(self.kubeconfig), *args],
                  check=check, stdin=stdin, timeout=timeout)

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, doc: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", stdin=json.dumps(doc))


def _docker_ok() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def _ready(c: Cluster) -> bool:
    if not c.kubeconfig.exists():
        return False
    p = c.kubectl("get", "nodes", "-o", "json", "--request-timeout", "3s", check=False,
                  timeout=10)
    if p.returncode != 0:
        return False
    ready = {n["metadata"]["name"] for n in json.loads(p.stdout)["items"]
             for cond in n["status"].get("conditions") or []
             if cond["type"] == "Ready" and cond["status"] == "True"}
    return set(NODES) <= ready


@pytest.fixture(scope="package")
def cluster() -> Iterator[Cluster]:
    if not _docker_ok():
        pytest.skip("needs a Docker daemon (docker info failed)")
    if shutil.which("apt-get") is None and not (ROOT / "deploy/.build/node/debs").is_dir():
        pytest.skip("the node image is built from Debian packages (apt-get download)")
    c = Cluster(f"https://127.0.0.1:{PORT}", HOME / "admin.conf")
    was_up = _ready(c)
    if was_up and os.environ.get("MINIK8S_NODES_REUSE"):
        # a cluster that is up is used as it is (developing these tests)
        yield c
        return
    started = time.monotonic()
    sh(["bash", str(ROOT / "deploy" / "up.sh"), "--real-nodes", "--nodes", str(len(NODES))],
       timeout=900)
    print(f"deploy/up.sh --real-nodes took {time.monotonic() - started:.1f}s (cluster was "
          f"{'already up' if was_up else 'down'})")
    yield c
    if not was_up:
        sh(["bash", str(ROOT / "deploy" / "down.sh")], timeout=300, check=False)
