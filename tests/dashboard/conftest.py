"""A cluster for the dashboard's browser tests: etcd, an HTTPS API server with RBAC, the
scheduler, the controller-manager and two kubelets on the fake runtime, the dashboard, and
headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testing.secure import SecureApiServer, StaticToken
from testing.support import Etcd, Process, free_port, http_ok, service, unique, wait_for

CHROMIUM = os.environ.get("MINIK8S_CHROMIUM", "/usr/bin/chromium")
WEB = Path(__file__).resolve().parents[2] / "dashboard" / "web"
SHOTS = Path(os.environ.get("MINIK8S_LOG_DIR") or os.environ.get("MINIK8S_TEST_LOGS")
             or tempfile.gettempdir() + "/minik8s-ci-logs") / "screenshots"

ALICE = StaticToken("alice-token-" + unique("a"), "alice", "alice-uid", ("dev",))


def skip_reason() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if not (WEB / "node_modules" / "@xterm" / "xterm").exists():
        return "the dashboard's assets are not installed (npm ci in dashboard/web)"
    return None


@dataclass
class Cluster:
    api: SecureApiServer
    dashboard_url: str
    namespace: str
    limited_namespace: str

    def minictl(self, *args: str) -> str:
        r = subprocess.run([sys.executable, "-m", "cli", "--server", self.api.insecure_url,
                            *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout


def _apply(api: SecureApiServer, path: str, body: dict[str, Any]) -> None:
    import httpx

    r = httpx.post(api.insecure_url + path, json=body, timeout=10)
    assert r.status_code in (200, 201), r.text


@pytest.fixture(scope="package")
def cluster() -> Iterator[Cluster]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    etcd = Etcd().start()
    procs: list[Process] = []
    api = SecureApiServer(etcd.url, authorization_mode="RBAC", tokens=[ALICE])
    try:
        api.start()
        ns, limited = unique("dash"), unique("team")
        for n in (ns, limited):
            _apply(api, "/api/v1/namespaces", {"metadata": {"name": n}})
        rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{limited}"
        _apply(api, rbac + "/roles", {
            "metadata": {"name": "all-here"},
            "rules": [{"apiGroups": ["", "apps", "batch"], "resources": ["*"],
                       "verbs": ["*"]}]})
        _apply(api, rbac + "/rolebindings", {
            "metadata": {"name": "alice-all-here"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": "all-here"},
            "subjects": [{"kind": "User", "name": "alice",
                          "apiGroup": "rbac.authorization.k8s.io"}]})
        server = api.insecure_url
        procs += [
            service("controller-manager", "controllers", ["--server", server]),
            service("scheduler", "scheduler", ["--server", server]),
            *(service(f"kubelet-{n}", "kubelet", [
                "--server", server, "--runtime", "fake", "--node-name", n,
                "--address", "127.0.0.1", "--port", str(free_port())])
              for n in (unique("dash-node"), unique("dash-node"))),
        ]
        port = free_port()
        procs.append(service("dashboard", "dashboard", [
            "--server", api.url, "--certificate-authority", str(api.ca_file),
            "--port", str(port)]))
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_ok(url + "/healthz"), timeout=20, message="the dashboard")
        SHOTS.mkdir(parents=True, exist_ok=True)
        yield Cluster(api, url, ns, limited)
    finally:
        for p in reversed(procs):
            p.stop()
        api.stop()
        etcd.stop()


@pytest.fixture(scope="package")
def browser(cluster: Cluster) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox"] if os.geteuid() == 0 else [])
        try:
            yield b
        finally:
            b.close()


def sign_in(browser: Any, cluster: Cluster, token: str, namespace: str) -> Any:
    """A new page (own cookies) signed in with ``token``, showing ``namespace``."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.goto(cluster.dashboard_url + "/#/topology")
    page.get_by_label("Bearer token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#tabs:not([hidden])")
    page.fill("#namespace", namespace)
    page.dispatch_event("#namespace", "change")
    page.wait_for_selector("#live.on")
    return page


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"dashboard-{name}.png"))


__all__ = ["Cluster", "shot", "sign_in"]
