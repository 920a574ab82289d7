"""Fixtures of the e2e tests. test_compose and test_tour (marked ``docker`` and ``e2e``: need
Docker and minutes) share ONE docker-compose cluster per run, brought up by deploy/up.sh (the
session-scoped ``cluster`` fixture); test_compose drives it with minictl, curl and docker,
test_tour runs every command of docs/inside.md on it. test_readme checks the README's promises
against docs/ and needs nothing running. None uses the session etcd and API server of
tests/conftest.py.

The cluster is secure as deploy/up.sh leaves it: HTTPS on 127.0.0.1 only, and the admin's
credentials that up.sh writes ($MINIK8S_HOME/admin.conf, ca.crt, admin-token) are what the
tests use, with minictl, kubectl, the official client and curl."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testing.support import ROOT

PORT = int(os.environ.get("MINIK8S_API_PORT", "6443"))
DASHBOARD_PORT = int(os.environ.get("MINIK8S_DASHBOARD_PORT", "9090"))
SERVER = f"https://127.0.0.1:{PORT}"
HOME = Path(os.environ.get("MINIK8S_HOME") or Path.home() / ".minik8s")
ADMIN_KUBECONFIG = HOME / "admin.conf"
CA_FILE = HOME / "ca.crt"
TOKEN_FILE = HOME / "admin-token"
COMPOSE = ["docker", "compose", "--project-directory", str(ROOT), "-f",
           str(ROOT / "docker-compose.yml")]


def _docker_ok() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def tls_context() -> ssl.SSLContext:
    """Verifies the API server with the cluster's CA (up.sh wrote it)."""
    return ssl.create_default_context(cafile=str(CA_FILE))


def token() -> str:
    return TOKEN_FILE.read_text().strip()


def api_request(path: str, *, method: str = "GET", auth: bool = True,
                timeout: float = 10) -> Any:
    """The decoded JSON at ``path``, as the admin (its bearer token) over TLS."""
    req = urllib.request.Request(SERVER + path, method=method)
    if auth:
        req.add_header("Authorization", f"Bearer {token()}")
    with urllib.request.urlopen(req, timeout=timeout, context=tls_context()) as r:
        return json.loads(r.read())


def _api_ready() -> bool:
    try:
        req = urllib.request.Request(SERVER + "/readyz",
                                     headers={"Authorization": f"Bearer {token()}"})
        with urllib.request.urlopen(req, timeout=2, context=tls_context()) as r:
            return bool(r.status == 200)
    except Exception:
        return False


def sh(argv: list[str], timeout: float = 120, check: bool = True,
       env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                       env={**os.environ, **(env or {})})
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {p.returncode}\n"
                             f"stdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}")
    return p


@pytest.fixture(scope="package")
def cluster() -> Iterator[str]:
    """The compose cluster at SERVER, once for the e2e tests. A cluster that was already up
    is left up; one this fixture started is stopped after the last e2e test (deploy/down.sh,
    state kept), before the tests that run their own proxy or policy agent on this host's
    tables (they skip while another one owns them)."""
    if not _docker_ok():
        pytest.skip("needs a Docker daemon (docker info failed)")
    was_up = _api_ready()
    started = time.monotonic()
    sh(["bash", str(ROOT / "deploy" / "up.sh")], timeout=900,
       env={"MINIK8S_API_PORT": str(PORT)})
    print(f"deploy/up.sh took {time.monotonic() - started:.1f}s (cluster was "
          f"{'already up' if was_up else 'down'})")
    yield SERVER
    if not was_up:
        sh(["bash", str(ROOT / "deploy" / "down.sh")], timeout=180, check=False)
