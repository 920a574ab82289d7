"""The HA profile's cluster (deploy/up.sh --ha), once for this package: three etcd members,
two API servers behind HAProxy, two schedulers and controller-managers with leader
election. It is its own compose project (minik8s-ha) on its own port (16443) with its own
MINIK8S_HOME and kubeconfig, so it never touches the default cluster's (tests/e2e)
containers, volumes or credentials; but both would run kubelets named node-1 and node-2 on
this Docker host and a proxy in its network namespace, so this package skips while another
minik8s cluster's kubelets run. Leases are short here (4/3/1 s) to keep the failover tests
brief; bench/failover.py measures Kubernetes' defaults."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from testing.support import ROOT

PROJECT = "minik8s-ha"
PORT = int(os.environ.get("MINIK8S_HA_API_PORT", "16443"))
HOME = Path(os.environ.get("MINIK8S_HA_HOME") or Path.home() / ".minik8s-ha")
LEASE = {"MINIK8S_LEASE_DURATION": "4", "MINIK8S_RENEW_DEADLINE": "3",
         "MINIK8S_RETRY_PERIOD": "1"}
ENV = {"COMPOSE_PROJECT_NAME": PROJECT, "MINIK8S_API_PORT": str(PORT),
       "MINIK8S_HOME": str(HOME), "KUBECONFIG": str(HOME / "kubeconfig"), **LEASE}


@dataclass
class HaCluster:
    server: str
    kubeconfig: Path

    def sh(self, argv: list[str], timeout: float = 60,
           check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh(argv, timeout=timeout, check=check)

    def kubectl(self, *args: str, timeout: float = 30,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh([str(ROOT / ".venv" / "bin" / "kubectl"), "--kubeconfig",
                   str(self.kubeconfig), "--request-timeout", "15s", *args],
                  timeout=timeout, check=check)

    def container(self, service: str) -> str:
        out = sh(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}",
                  "--filter", f"label=com.docker.compose.service={service}"]).stdout.split()
        assert out, f"no container for {service}"
        return out[0]


def sh(argv: list[str], timeout: float = 60,
       check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                       env={**os.environ, **ENV})
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {p.returncode}\n"
                             f"stdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}")
    return p


def _docker_ok() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def _other_cluster_running() -> str | None:
    out = subprocess.run(
        ["docker", "ps", "--filter", "label=com.docker.compose.service=kubelet-1",
         "--format", '{{.Label "com.docker.compose.project"}}'],
        capture_output=True, text=True, timeout=30).stdout.split()
    others = [p for p in out if p != PROJECT]
    return others[0] if others else None


def _running() -> bool:
    out = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}",
         "--filter", "label=com.docker.compose.service=apiserver"],
        capture_output=True, text=True, timeout=30).stdout.split()
    return bool(out)


@pytest.fixture(scope="package")
def ha() -> Iterator[HaCluster]:
    if not _docker_ok():
        pytest.skip("needs a Docker daemon (docker info failed)")
    other = _other_cluster_running()
    if other:
        pytest.skip(f"the minik8s cluster of compose project {other} is running on this host")
    HOME.mkdir(parents=True, exist_ok=True)
    was_up = _running()
    started = time.monotonic()
    sh(["bash", str(ROOT / "deploy" / "up.sh"), "--ha"], timeout=600)
    print(f"deploy/up.sh --ha took {time.monotonic() - started:.1f}s")
    yield HaCluster(f"https://127.0.0.1:{PORT}", HOME / "admin.conf")
    if not was_up:
        sh(["bash", str(ROOT / "deploy" / "down.sh")], timeout=180, check=False)
