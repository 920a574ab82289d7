"""minictl wait next to the real kubectl wait, both waiting on the same objects while the test
changes them: the same lines, the same exit codes, and the answer comes with the change."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from testing.apiclient import Api
from testing.kubectl import Kubectl
from testing.support import ROOT, json_request
from tests.cli.helpers import get, post, put_status


def minictl_popen(server: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "cli", "-s", server, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def kubectl_popen(k: Kubectl, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*k.argv, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=k.env)


def finish(p: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=40)
    return p.returncode, out, err


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"w": "1"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def both(server: str, k: Kubectl, *args: str) -> list[subprocess.Popen[str]]:
    return [minictl_popen(server, *args), kubectl_popen(k, *args)]


def test_wait_condition_jsonpath_and_delete_like_kubectl(server_url: str, api: Api,
                                                         kubectl: Kubectl) -> None:
    ns = api.namespace()
    path = f"/api/v1/namespaces/{ns}/pods"
    post(server_url, path, pod("p"))
    ready = both(server_url, kubectl, "-n", ns, "wait", "pod/p", "--for=condition=Ready",
                 "--timeout=30s")
    running = both(server_url, kubectl, "-n", ns, "wait", "pods", "-l", "w=1",
                   "--for=jsonpath={.status.phase}=Running", "--timeout=30s")
    # Not a wait for a condition: time for the waiters to start, read the pod and open
    # their watches, so that (most likely) they learn of the change from the watch.
    time.sleep(1.5)
    assert all(p.poll() is None for p in ready + running)
    obj = get(server_url, f"{path}/p")
    obj["status"] = {"phase": "Running",
                     "conditions": [{"type": "Ready", "status": "True"}]}
    t0 = time.monotonic()
    put_status(server_url, f"{path}/p", obj)
    results = [finish(p) for p in ready + running]
    took = time.monotonic() - t0
    assert results[0] == results[1] == (0, "pod/p condition met\n", ""), results
    assert results[2] == results[3] == (0, "pod/p condition met\n", ""), results
    assert took < 5, took

    gone = both(server_url, kubectl, "-n", ns, "wait", "pod/p", "--for=delete",
                "--timeout=30s")
    time.sleep(1.5)
    assert all(p.poll() is None for p in gone)
    code, _ = json_request("DELETE", f"{server_url}{path}/p?gracePeriodSeconds=0")
    assert code == 200
    results = [finish(p) for p in gone]
    assert results[0] == results[1] == (0, "pod/p condition met\n", ""), results


def test_wait_timeouts_and_errors_like_kubectl(server_url: str, api: Api,
                                               kubectl: Kubectl) -> None:
    ns = api.namespace()
    post(server_url, f"/api/v1/namespaces/{ns}/pods", pod("q"))
    cases = [
        ("pod/q", "--for=condition=Ready", "--timeout=1s"),
        ("pod/q", "--for=condition=Ready=false", "--timeout=1s"),
        ("pods", "--all", "--for=jsonpath={.status.phase}=Running", "--timeout=1s"),
        ("pod/q", "--for=jsonpath={.spec.containers[0].image}=nginx"),
        ("pod/nope", "--for=delete"),
        ("pod/nope", "--for=condition=Ready"),
        ("pods", "-l", "w=zzz", "--for=condition=Ready"),
        ("pod/q", "--for=bogus"),
    ]
    for args in cases:
        procs = both(server_url, kubectl, "-n", ns, "wait", *args)
        m, k = (finish(p) for p in procs)
        assert m == k, (args, m, k)
