"""Logs and the terminal of a real container: a kubelet on Docker joins the dashboard's
cluster, and the browser follows a busybox container's log and runs an interactive shell in
it (xterm.js -> the dashboard's WebSocket -> pods/exec -> the kubelet -> docker exec)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.dashboard.conftest import Cluster, shot, sign_in
from tests.kubelet.helpers import kubelet_on_docker

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def docker_pod(cluster: Cluster, dk: Any) -> Iterator[str]:
    with kubelet_on_docker(cluster.api.insecure_url, dk, "dashd") as k:
        r = httpx.post(f"{cluster.api.insecure_url}/api/v1/namespaces/{cluster.namespace}/pods",
                       json={"metadata": {"name": "shell"}, "spec": {
                           "nodeName": k.node, "terminationGracePeriodSeconds": 0,
                           "containers": [{
                               "name": "box", "image": "minik8s/busybox:latest",
                               "imagePullPolicy": "Never",
                               "command": ["sh", "-c",
                                           "echo docker-log-line; exec sleep 3600"]}]}},
                       timeout=10)
        assert r.status_code == 201, r.text
        yield "shell"
        httpx.delete(f"{cluster.api.insecure_url}/api/v1/namespaces/{cluster.namespace}"
                     "/pods/shell?gracePeriodSeconds=0", timeout=10)


def test_logs_and_an_interactive_shell_of_a_docker_container(
        browser: Any, cluster: Cluster, docker_pod: str) -> None:
    page = sign_in(browser, cluster, cluster.api.admin_token.token, cluster.namespace)
    try:
        key = f"Pod/{cluster.namespace}/{docker_pod}"
        page.wait_for_selector(f'#nodes .pod[data-key="{key}"][data-status="Running"]',
                               timeout=60000)
        page.click(f'#nodes .pod[data-key="{key}"]')
        page.locator("#detail-actions").get_by_role("link", name="Logs").click()
        page.wait_for_selector("#logs-out:has-text('docker-log-line')")
        page.goto(cluster.dashboard_url + "/#/terminal")
        page.fill("#term-pod", docker_pod)
        page.fill("#term-command", "sh")
        page.get_by_role("button", name="Connect").click()
        page.wait_for_selector(".xterm-rows:has-text('#')", timeout=20000)  # the prompt
        page.keyboard.type("echo $((6*7))-$(hostname)\n")
        page.wait_for_selector(f".xterm-rows:has-text('42-{docker_pod}')", timeout=20000)
        shot(page, "exec-docker")
        page.keyboard.type("exit 3\n")
        page.wait_for_selector(".xterm-rows:has-text('[exit 3]')", timeout=20000)
    finally:
        page.context.close()
