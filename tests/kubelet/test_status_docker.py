"""Pod status as the kubelet writes it, read by real clients, on Docker: Ready=False as soon
as a deletion starts (``kubectl wait --for=condition=Ready=false`` returns within the grace
period), the containers' terminated states in the object's last version, ``imageID`` "" for
a container that never started (the official client's models require the field), and the
resources/allocatedResources of a running container."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from api.models import Pod
from client.errors import NotFound
from client.rest import Client
from testing.kubectl import Kubectl
from tests.kubelet import helpers
from tests.kubelet.helpers import KubeletProc

pytestmark = pytest.mark.docker

# A registry address on loopback where nothing listens: every pull fails at once.
UNPULLABLE = "127.0.0.1:1/minik8s-test/none:1"


kubelet, api = helpers.docker_fixtures("stnode")


def _cond(p: Pod, type_: str) -> dict[str, Any]:
    return next((c.to_dict() for c in (p.status.conditions if p.status else None) or []
                 if c.type == type_), {})


def _last_version(server_url: str, name: str, out: list[dict[str, Any]],
                  ready: threading.Event) -> None:
    """Watch pod ``name`` in default until DELETED; ``out`` gets every event's object."""
    url = f"{server_url}/api/v1/namespaces/default/pods"
    params = {"watch": "1", "fieldSelector": f"metadata.name={name}", "timeoutSeconds": "60"}
    with httpx.stream("GET", url, params=params, timeout=httpx.Timeout(10, read=70)) as r:
        ready.set()
        for line in r.iter_lines():
            if not line:
                continue
            ev = json.loads(line)
            out.append(ev)
            if ev.get("type") == "DELETED":
                return


def test_deletion_reports_not_ready_then_terminated_states(
        api: Client, kubelet: KubeletProc, kubectl: Kubectl, server_url: str) -> None:
    # "polite" exits 0 three seconds after SIGTERM (within its 20 s grace period); "stubborn"
    # ignores SIGTERM (PID 1) and is killed at the end of its 2 s grace period.
    polite = helpers.make_pod(api, kubelet.node, [{
        "name": "app", "image": "busybox", "imagePullPolicy": "Never",
        "command": ["sh", "-c", "trap 'sleep 3; exit 0' TERM; while true; do sleep 1; done"],
        "resources": {"requests": {"cpu": "50m", "memory": "32Mi"},
                      "limits": {"memory": "64Mi"}}}], "sp",
        terminationGracePeriodSeconds=20)
    stubborn = helpers.make_pod(api, kubelet.node, [{
        "name": "app", "image": "busybox", "imagePullPolicy": "Never",
        "command": ["sleep", "3600"]}], "sk")
    for p in (polite, stubborn):
        got = helpers.wait_pod(api, p, lambda g: _cond(g, "Ready").get("status") == "True",
                               30, "Ready")
    got = api.get(Pod, polite.metadata.name or "", "default")
    st = helpers.cstatus(got)
    assert st["resources"] == {"requests": {"cpu": "50m", "memory": "32Mi"},
                               "limits": {"memory": "64Mi"}}
    assert st["allocatedResources"] == {"cpu": "50m", "memory": "32Mi"}
    assert st["started"] is True and st["imageID"].startswith("docker://sha256:")
    assert got.status is not None and got.status.host_ips is not None

    events: dict[str, list[dict[str, Any]]] = {}
    watchers = []
    for p in (polite, stubborn):
        name = p.metadata.name or ""
        events[name] = []
        ready = threading.Event()
        t = threading.Thread(target=_last_version, args=(server_url, name, events[name], ready),
                             daemon=True)
        t.start()
        assert ready.wait(10)
        watchers.append(t)
    t0 = time.monotonic()
    for p in (polite, stubborn):
        api.delete(Pod, p.metadata.name or "", "default")
    # kubectl wait returns while the 20 s grace period runs (the pod still exists).
    kubectl("wait", "--for=condition=Ready=false", f"pod/{polite.metadata.name}",
            "--timeout=15s")
    waited = time.monotonic() - t0
    assert waited < 10, waited
    mid = api.get(Pod, polite.metadata.name or "", "default")
    assert mid.metadata.deletion_timestamp is not None
    for type_ in ("Ready", "ContainersReady"):
        c = _cond(mid, type_)
        assert (c.get("status"), c.get("reason"), c.get("message")) == (
            "False", "ContainersNotReady", "containers with unready status: [app]"), c
    for t in watchers:
        t.join(40)
    for p, phase, code, reason in ((polite, "Succeeded", 0, "Completed"),
                                   (stubborn, "Failed", 137, "Error")):
        evs = events[p.metadata.name or ""]
        assert evs and evs[-1]["type"] == "DELETED", [e["type"] for e in evs]
        last = evs[-1]["object"]["status"]
        assert last["phase"] == phase
        cs = last["containerStatuses"][0]
        term = cs["state"]["terminated"]
        assert (term["exitCode"], term["reason"]) == (code, reason), term
        assert term["containerID"] == cs["containerID"] and term["containerID"]
        assert term["startedAt"] <= term["finishedAt"]
        assert cs["ready"] is False and cs["started"] is False
        conds = {c["type"]: c for c in last["conditions"]}
        want = "PodCompleted" if phase == "Succeeded" else "PodFailed"
        assert conds["Ready"]["reason"] == want and "message" not in conds["Ready"]
    with pytest.raises(NotFound):
        api.get(Pod, polite.metadata.name or "", "default")


def test_official_client_reads_a_waiting_pod(api: Client, kubelet: KubeletProc,
                                             server_url: str) -> None:
    kc = pytest.importorskip("kubernetes.client")
    p = helpers.make_pod(api, kubelet.node, [{"name": "app", "image": UNPULLABLE}], "sw")
    helpers.wait_pod(api, p, lambda g: bool(g.status and g.status.container_statuses), 30,
                     "a container status")
    with kc.ApiClient(kc.Configuration(host=server_url)) as c:
        got = kc.CoreV1Api(c).read_namespaced_pod(p.metadata.name, "default")
    cs = got.status.container_statuses[0]
    assert cs.image_id == "" and cs.state.waiting is not None
    assert cs.state.waiting.reason in ("ErrImagePull", "ImagePullBackOff")
    assert cs.last_state is not None and cs.last_state.terminated is None
    assert cs.started is False and cs.ready is False and cs.restart_count == 0
    assert cs.allocated_resources is None and cs.resources is None
    api.delete(Pod, p.metadata.name or "", "default")
