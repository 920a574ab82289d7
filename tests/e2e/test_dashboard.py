"""The compose cluster's dashboard (127.0.0.1:9090) in a real browser (Debian's headless
Chromium through Playwright): signed in with the admin's token, its topology shows the pods
of `minictl create deployment` on the real Docker nodes, then the scaled number, on the same
page without a reload. tests/dashboard covers the views one by one on a cluster of local
processes; this checks the service as deploy/up.sh runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest

from testing.support import unique
from tests.dashboard.conftest import CHROMIUM, shot, sign_in, skip_reason
from tests.e2e.conftest import ADMIN_KUBECONFIG, DASHBOARD_PORT, token

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(300)]

DASHBOARD = f"http://127.0.0.1:{DASHBOARD_PORT}"


def minictl(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "KUBECONFIG": str(ADMIN_KUBECONFIG)})
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def page(cluster: str) -> Iterator[Any]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    ns = unique("dash-e2e")
    minictl("create", "namespace", ns)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox"] if os.geteuid() == 0 else [])
        try:
            # sign_in reads only the dashboard's address of its cluster
            p = sign_in(b, cast(Any, SimpleNamespace(dashboard_url=DASHBOARD)), token(), ns)
            p.namespace = ns
            yield p
        finally:
            b.close()
            minictl("delete", "namespace", ns, "--wait=false")


def running(page: Any, workload: str, n: int) -> None:
    sel = f'[data-workload="{workload}"] .pod[data-status="Running"]'
    page.wait_for_function("([sel, n]) => document.querySelectorAll(sel).length === n",
                           arg=[sel, n], timeout=120_000)


def test_topology_follows_create_and_scale_on_the_compose_cluster(page: Any) -> None:
    ns = page.namespace
    minictl("create", "deployment", "web", "--image=nginx:latest", "--replicas=3", "-n", ns)
    running(page, f"Deployment/{ns}/web", 3)
    # the pods sit in the boxes of the compose cluster's nodes
    on = [page.locator(f'#nodes [data-node="{n}"] .pod[data-key^="Pod/{ns}/web-"]').count()
          for n in ("node-1", "node-2")]
    assert sum(on) == 3, on
    page.evaluate("window.__reloaded = false")
    minictl("scale", "deployment", "web", "--replicas=5", "-n", ns)
    running(page, f"Deployment/{ns}/web", 5)
    assert page.evaluate("window.__reloaded") is False
    shot(page, "compose-topology")
