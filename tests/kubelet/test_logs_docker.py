"""Logs as Kubernetes answers them, on Docker, with the real kubectl and minictl side by side:
a container waiting (ContainerCreating, PodInitializing, an unpullable image at a closed
loopback port) or unknown, a crashed one (``--previous``), a finished one with the options
(--timestamps, --tail, --limit-bytes, --since, --since-time), ``-f`` that ends when the
container does, ``--all-containers --prefix``, ``deploy/NAME`` and ``-l``."""

from __future__ import annotations

import json
import re
import subprocess
import time
from typing import Any

import pytest

from api.models import Pod
from client.rest import Client
from testing.kubectl import Kubectl
from testing.support import unique, wait_for
from tests.cli.helpers import mctl
from tests.kubelet import helpers
from tests.kubelet.helpers import KubeletProc

pytestmark = pytest.mark.docker

UNPULLABLE = "127.0.0.1:1/minik8s-test/none:1"
BUSYBOX = {"image": "busybox", "imagePullPolicy": "Never"}


kubelet, api = helpers.docker_fixtures("lgnode")


def both(kubectl: Kubectl, server: str, *args: str, unordered: bool = False
         ) -> tuple[int, str, str]:
    """kubectl's (exit code, stdout, stderr), asserted equal to minictl's; ``unordered``:
    the lines in any order (kubectl reads several logs in its map's order)."""
    k = kubectl("logs", *args, check=False)
    m = mctl(server, "logs", *args)
    kerr = k.stderr.replace("\nSee 'kubectl logs -h' for help and examples", "").strip()
    kout, mout = k.stdout, m.stdout
    if unordered:
        kout, mout = "".join(sorted(kout.splitlines(True))), "".join(sorted(
            mout.splitlines(True)))
    assert (m.exit_code, mout, m.stderr.strip()) == (k.returncode, kout, kerr), args
    return k.returncode, kout, kerr


def pod(api: Client, node: str, containers: list[dict[str, Any]], **spec: Any) -> Pod:
    return helpers.make_pod(api, node, containers, "lg", **spec)


def waiting_reason(p: Pod, i: int = 0) -> str:
    st = (helpers.cstatus(p, i).get("state") or {}).get("waiting") or {}
    return str(st.get("reason") or "")


def test_waiting_and_unknown_containers(api: Client, kubelet: KubeletProc, kubectl: Kubectl,
                                        server_url: str) -> None:
    creating = pod(api, kubelet.node, [{"name": "app", **BUSYBOX, "command": ["true"],
                                        "volumeMounts": [{"name": "cm", "mountPath": "/c"}]}],
                   volumes=[{"name": "cm", "configMap": {"name": unique("missing")}}])
    init = pod(api, kubelet.node, [{"name": "app", **BUSYBOX, "command": ["true"]}],
               initContainers=[{"name": "wait", **BUSYBOX, "command": ["sleep", "3600"]}])
    pull = pod(api, kubelet.node, [{"name": "app", "image": UNPULLABLE}])
    helpers.wait_pod(api, creating, lambda g: waiting_reason(g) == "ContainerCreating", 30)
    helpers.wait_pod(api, init, lambda g: waiting_reason(g) == "PodInitializing", 30)
    helpers.wait_pod(api, pull, lambda g: waiting_reason(g) in (
        "ErrImagePull", "ImagePullBackOff"), 30)
    for p, why in ((creating, "ContainerCreating"), (init, "PodInitializing")):
        name = p.metadata.name
        assert both(kubectl, server_url, name or "", "-c", "app") == (
            1, "", f'Error from server (BadRequest): container "app" in pod "{name}" is '
                   f"waiting to start: {why}")
    name = pull.metadata.name
    # (the state moves between ErrImagePull and ImagePullBackOff: each tool sees one)
    pulls = (f'Error from server (BadRequest): container "app" in pod "{name}" is waiting to '
             "start: trying and failing to pull image",
             f'Error from server (BadRequest): container "app" in pod "{name}" is waiting to '
             "start: image can't be pulled")
    k = kubectl("logs", name or "", check=False)
    m = mctl(server_url, "logs", name or "")
    assert (k.returncode, k.stdout, m.exit_code, m.stdout) == (1, "", 1, "")
    assert k.stderr.strip() in pulls and m.stderr.strip() in pulls, (k.stderr, m.stderr)
    # An unknown container: kubectl's own check, and the API server's 400 to other clients.
    assert both(kubectl, server_url, name or "", "-c", "nope") == (
        1, "", f"error: container nope is not valid for pod {name} out of: app")
    with pytest.raises(Exception, match=f"container nope is not valid for pod {name}"):
        api.pod_logs(name or "", "default", container="nope")
    # The init container itself is running: its log is there.
    wait_for(lambda: both(kubectl, server_url, init.metadata.name or "", "-c", "wait")[0] == 0,
             timeout=10, message="init container's log")
    assert both(kubectl, server_url, init.metadata.name or "", "-c", "app", "--previous") == (
        1, "", f'Error from server (BadRequest): previous terminated container "app" in pod '
               f'"{init.metadata.name}" not found')
    # Not on a node yet: no log at all (204), and no error.
    unbound = api.create(Pod.from_dict({"metadata": {"name": unique("lgu"),
                                                     "namespace": "default"},
                                        "spec": {"containers": [{"name": "app", **BUSYBOX}]}}))
    assert both(kubectl, server_url, unbound.metadata.name or "") == (0, "", "")
    for p in (creating, init, pull, unbound):
        api.delete(Pod, p.metadata.name or "", "default", grace_period_seconds=0)


def test_crashed_and_finished_containers(api: Client, kubelet: KubeletProc, kubectl: Kubectl,
                                         server_url: str) -> None:
    # Fails on its first run, succeeds on its second (a marker in an emptyDir).
    script = ("if [ -f /d/ran ]; then echo second; echo again; exit 0; fi; "
              "touch /d/ran; echo first; exit 1")
    p = pod(api, kubelet.node, [{"name": "app", **BUSYBOX, "command": ["sh", "-c", script],
                                 "volumeMounts": [{"name": "d", "mountPath": "/d"}]}],
            volumes=[{"name": "d", "emptyDir": {}}], restartPolicy="OnFailure")
    helpers.wait_pod(api, p, lambda g: g.status.phase == "Succeeded", 40, "Succeeded")
    name = p.metadata.name or ""
    assert both(kubectl, server_url, name) == (0, "second\nagain\n", "")
    assert both(kubectl, server_url, name, "--previous") == (0, "first\n", "")
    assert both(kubectl, server_url, name, "--tail=1") == (0, "again\n", "")
    assert both(kubectl, server_url, name, "--tail=0") == (0, "", "")
    assert both(kubectl, server_url, name, "--limit-bytes=3") == (0, "sec", "")
    assert both(kubectl, server_url, name, "--since=1h") == (0, "second\nagain\n", "")
    assert both(kubectl, server_url, name, "--since-time=2099-01-01T00:00:00Z") == (0, "", "")
    assert both(kubectl, server_url, name, "--since-time=2001-01-01T00:00:00Z")[1] == \
        "second\nagain\n"
    code, out, _ = both(kubectl, server_url, name, "--timestamps", "--prefix")
    assert code == 0 and re.fullmatch(
        rf"(\[pod/{name}/app\] \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (second|again)\n){{2}}",
        out), out
    # Nothing previous to a first run.
    once = pod(api, kubelet.node, [{"name": "app", **BUSYBOX, "command": ["echo", "hi"]}],
               restartPolicy="Never")
    helpers.wait_pod(api, once, lambda g: g.status.phase == "Succeeded", 30, "Succeeded")
    assert both(kubectl, server_url, once.metadata.name or "", "-p") == (
        1, "", f'Error from server (BadRequest): previous terminated container "app" in pod '
               f'"{once.metadata.name}" not found')
    for q in (p, once):
        api.delete(Pod, q.metadata.name or "", "default", grace_period_seconds=0)


def test_follow_ends_with_the_container(api: Client, kubelet: KubeletProc, kubectl: Kubectl,
                                        server_url: str) -> None:
    p = pod(api, kubelet.node, [{"name": "app", **BUSYBOX, "command": [
        "sh", "-c", "for i in 1 2 3 4 5 6; do echo line-$i; sleep 0.5; done"]}],
        restartPolicy="Never")
    helpers.wait_pod(api, p, lambda g: g.status.phase == "Running", 30, "Running")
    name = p.metadata.name or ""
    t0 = time.monotonic()
    k = subprocess.Popen([*kubectl.argv, "logs", "-f", name], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=kubectl.env)
    m = mctl(server_url, "logs", "-f", name)
    kout, kerr = k.communicate(timeout=20)
    assert time.monotonic() - t0 < 15
    want = "".join(f"line-{i}\n" for i in range(1, 7))
    assert (k.returncode, kout) == (0, want), kerr
    assert (m.exit_code, m.stdout) == (0, want)
    api.delete(Pod, name, "default", grace_period_seconds=0)


def test_all_containers_deployment_and_selector(api: Client, kubelet: KubeletProc,
                                                kubectl: Kubectl, server_url: str) -> None:
    app = unique("lgapp")
    labels = {"app": app}
    two = [{"name": "one", **BUSYBOX, "command": ["sh", "-c", "echo from-one; sleep 3600"]},
           {"name": "two", **BUSYBOX, "command": ["sh", "-c", "echo from-two; sleep 3600"]}]
    pods = []
    for _ in range(2):
        p = Pod.from_dict({"metadata": {"name": unique("lgp"), "namespace": "default",
                                        "labels": labels},
                           "spec": {"nodeName": kubelet.node, "containers": two,
                                    "terminationGracePeriodSeconds": 0}})
        pods.append(api.create(p))
    for p in pods:
        helpers.wait_pod(api, p, lambda g: all(s.ready for s in g.status.container_statuses
                                               or []) and g.status.phase == "Running", 30)
    first = pods[0].metadata.name
    wait_for(lambda: "from-two" in api.pod_logs(first or "", "default", container="two"),
             timeout=10, message="logs written")
    code, out, err = both(kubectl, server_url, first or "")
    assert (code, out) == (0, "from-one\n")
    assert err == 'Defaulted container "one" out of: one, two'
    assert both(kubectl, server_url, first or "", "--all-containers", "--prefix",
                unordered=True) == (
        0, f"[pod/{first}/one] from-one\n[pod/{first}/two] from-two\n", "")
    # deploy/NAME: a pod of its selector, chosen as kubectl does (no controller runs here:
    # the Deployment, with no replicas of its own, only selects).
    d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": app},
         "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {"containers": two}}}}
    kubectl("create", "-f", "-", stdin=json.dumps(d))
    code, out, err = both(kubectl, server_url, f"deployment/{app}", "-c", "two")
    assert code == 0 and out == "from-two\n"
    assert re.fullmatch(r"Found 2 pods, using pod/lgp-\S+", err), err
    # -l: every pod, the default container's log (with the message per pod).
    code, out, err = both(kubectl, server_url, "-l", f"app={app}", "-c", "one", "--prefix",
                          unordered=True)
    assert code == 0 and sorted(out.splitlines()) == sorted(
        f"[pod/{p.metadata.name}/one] from-one" for p in pods)
    assert both(kubectl, server_url, "-l", f"app={app}", "--all-containers", "-f",
                "--max-log-requests=3") == (
        1, "", "error: you are attempting to follow 4 log streams, but maximum allowed "
               "concurrency is 3, use --max-log-requests to increase the limit")
    kubectl("delete", "deployment", app, "--wait=false")
    # job/NAME: the pod of the Job's (generated) selector.
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": app},
           "spec": {"suspend": True, "template": {"spec": {
               "restartPolicy": "Never", "containers": [two[0]]}}}}
    kubectl("create", "-f", "-", stdin=json.dumps(job))
    sel = json.loads(kubectl("get", "job", app, "-o", "json").stdout)["spec"]["selector"]
    jp = api.create(Pod.from_dict({
        "metadata": {"name": unique("lgj"), "namespace": "default",
                     "labels": sel["matchLabels"]},
        "spec": {"nodeName": kubelet.node, "containers": [two[0]],
                 "terminationGracePeriodSeconds": 0}}))
    helpers.wait_pod(api, jp, lambda g: g.status.phase == "Running", 30)
    wait_for(lambda: api.pod_logs(jp.metadata.name or "", "default") == "from-one\n",
             timeout=10, message="job pod's log")
    assert both(kubectl, server_url, f"job/{app}") == (0, "from-one\n", "")
    kubectl("delete", "job", app, "--wait=false")
    for p in [*pods, jp]:
        api.delete(Pod, p.metadata.name or "", "default", grace_period_seconds=0)
