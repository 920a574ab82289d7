"""On real Docker: pods that finish (restartPolicy Never / OnFailure reach Succeeded or Failed
with the exit code), the kubelet's /stats/summary of a busy container, and ``kubectl top``
(the real kubectl) through the API server's metrics.k8s.io with two kubelets."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from api.models import Pod
from client.errors import NotFound
from client.rest import Client
from testing import kubectl as kubectl_cli
from testing.support import wait_for
from tests.kubelet import helpers
from tests.kubelet.helpers import KubeletProc, kubelet_on_docker

pytest.importorskip("docker")

pytestmark = pytest.mark.docker

BUSY = ["sh", "-c", "trap 'exit 0' TERM; while true; do :; done"]


kubelet, api = helpers.docker_fixtures("snode")


def make_pod(api: Client, node: str, containers: list[dict[str, Any]], **spec: Any) -> Pod:
    return helpers.make_pod(api, node, containers, "sp", **spec)


def wait_pod(api: Client, p: Pod, pred: Any, timeout: float = 30, what: str = "pod") -> Pod:
    return helpers.wait_pod(api, p, pred, timeout, what, interval=0.2)


cs = helpers.cstatus


def delete_now(api: Client, p: Pod) -> None:
    try:
        api.delete(Pod, p.metadata.name or "", "default", grace_period_seconds=0)
    except NotFound:
        pass


def test_never_pods_finish_with_their_exit_codes(api: Client, kubelet: KubeletProc) -> None:
    bad = make_pod(api, kubelet.node, [{"name": "a", "image": "busybox",
                                        "command": ["sh", "-c", "exit 3"]}], restartPolicy="Never")
    good = make_pod(api, kubelet.node, [{"name": "a", "image": "busybox", "command": ["true"]}],
                    restartPolicy="Never")
    got = wait_pod(api, bad, lambda g: g.status.phase == "Failed", what="Failed")
    term = cs(got)["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (3, "Error")
    assert cs(got)["restartCount"] == 0
    got = wait_pod(api, good, lambda g: g.status.phase == "Succeeded", what="Succeeded")
    term = cs(got)["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (0, "Completed")
    assert got.status is not None and got.status.container_statuses
    assert got.status.container_statuses[0].ready is False
    delete_now(api, bad)
    delete_now(api, good)


def test_onfailure_restarts_until_it_succeeds(api: Client, kubelet: KubeletProc) -> None:
    # fails on the first run, succeeds on the second (the emptyDir outlives the container)
    p = make_pod(api, kubelet.node, [{
        "name": "a", "image": "busybox", "volumeMounts": [{"name": "d", "mountPath": "/d"}],
        "command": ["sh", "-c", "if [ -f /d/ran ]; then exit 0; fi; touch /d/ran; exit 1"]}],
        restartPolicy="OnFailure", volumes=[{"name": "d", "emptyDir": {}}])
    got = wait_pod(api, p, lambda g: g.status.phase == "Succeeded", what="Succeeded")
    assert cs(got)["restartCount"] == 1
    assert cs(got)["lastState"]["terminated"]["exitCode"] == 1
    assert cs(got)["state"]["terminated"]["reason"] == "Completed"
    delete_now(api, p)


def _summary(k: KubeletProc) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{k.port}/stats/summary", timeout=15) as r:
        out: dict[str, Any] = json.loads(r.read())
    return out


def test_summary_and_kubectl_top_show_a_busy_container(
        api: Client, kubelet: KubeletProc, server_url: str, dk: Any,
        kubectl: kubectl_cli.Kubectl) -> None:
    p = make_pod(api, kubelet.node, [{"name": "burn", "image": "busybox", "command": BUSY,
                                      "resources": {"limits": {"cpu": "300m", "memory": "32Mi"}}}])
    with kubelet_on_docker(server_url, dk, "snode2") as second:
        try:
            wait_pod(api, p, lambda g: g.status.phase == "Running", what="Running")
            s = _summary(kubelet)
            assert s["node"]["nodeName"] == kubelet.node
            assert s["node"]["cpu"]["usageNanoCores"] > 0
            assert s["node"]["memory"]["workingSetBytes"] > 0
            mine = next(x for x in s["pods"] if x["podRef"]["name"] == p.metadata.name)
            assert mine["podRef"]["uid"] == p.metadata.uid
            [c] = mine["containers"]
            assert c["name"] == "burn" and c["memory"]["workingSetBytes"] > 0
            assert c["cpu"]["usageCoreNanoSeconds"] > 0
            assert 50_000_000 <= c["cpu"]["usageNanoCores"] <= 400_000_000  # quota: 300m

            def top_pod() -> int | None:
                r = kubectl("top", "pod", p.metadata.name or "", "-n", "default", check=False)
                if r.returncode != 0:
                    return None
                row = r.stdout.splitlines()[1].split()
                millis = int(row[1].rstrip("m"))
                return millis if millis >= 100 else None
            millis = wait_for(top_pod, timeout=40, interval=1, message="top >= 100m")
            assert millis is not None and 100 <= millis <= 400

            def top_nodes() -> list[list[str]] | None:
                r = kubectl("top", "nodes", check=False)
                if r.returncode != 0:
                    return None
                rows = [ln.split() for ln in r.stdout.splitlines()[1:]]
                mine = [x for x in rows if x[0] in (kubelet.node, second.node)]
                return mine if len(mine) == 2 and all("<unknown>" not in x for x in mine) else None
            rows = wait_for(top_nodes, timeout=30, interval=1, message="top nodes")
            for row in rows or []:
                assert row[1].endswith("m") and row[2].endswith("%") and row[3].endswith("Mi")
        finally:
            delete_now(api, p)
