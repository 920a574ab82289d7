"""kubelet.status without a runtime: validateContainerLogStatus' choices and messages, the
terminal phase and conditions of a stopped pod, and the fields every container status has."""

from __future__ import annotations

from typing import Any

import pytest

from api import podlogs
from kubelet.runtime.base import ContainerInfo
from kubelet.status import ContainerView, build_status, container_status, log_container_id


def _st(state: dict[str, Any], last: dict[str, Any] | None = None, cid: str = "") -> dict[str, Any]:
    s: dict[str, Any] = {"name": "app", "state": state, "lastState": last or {}}
    if cid:
        s["containerID"] = cid
    return {"containerStatuses": [s]}


@pytest.mark.parametrize("status,previous,want", [
    (_st({"running": {}}, cid="docker://abc"), False, "abc"),
    (_st({"terminated": {"containerID": "docker://t1", "exitCode": 0}}), False, "t1"),
    (_st({"waiting": {"reason": "CrashLoopBackOff"}},
         {"terminated": {"containerID": "docker://old"}}), False, "old"),
    (_st({"running": {}}, {"terminated": {"containerID": "docker://old"}}, "docker://new"),
     True, "old"),
])
def test_log_container_chosen(status: dict[str, Any], previous: bool, want: str) -> None:
    assert log_container_id("p", status, "app", previous) == want


@pytest.mark.parametrize("status,previous,message", [
    (_st({"waiting": {"reason": "ContainerCreating"}}), False,
     'container "app" in pod "p" is waiting to start: ContainerCreating'),
    (_st({"waiting": {"reason": "PodInitializing"}}), False,
     'container "app" in pod "p" is waiting to start: PodInitializing'),
    (_st({"waiting": {"reason": "ErrImagePull"}}), False,
     'container "app" in pod "p" is waiting to start: image can\'t be pulled'),
    (_st({"waiting": {"reason": "ImagePullBackOff"}}), False,
     'container "app" in pod "p" is waiting to start: trying and failing to pull image'),
    (_st({"running": {}}, cid="docker://x"), True,
     'previous terminated container "app" in pod "p" not found'),
    (_st({"terminated": {"exitCode": 137}}), False, 'container "app" in pod "p" is terminated'),
    (_st({}), False, 'container "app" in pod "p" is waiting to start - no logs yet'),
    ({}, False, 'container "app" in pod "p" is not available'),
])
def test_log_container_refused(status: dict[str, Any], previous: bool, message: str) -> None:
    with pytest.raises(ValueError) as e:
        log_container_id("p", status, "app", previous)
    assert str(e.value) == message


def _exited(code: int, cid: str = "c1") -> ContainerInfo:
    return ContainerInfo(id=cid, name="k8s_app", pod_uid="u", pod_name="p", pod_namespace="d",
                         container_name="app", restart_count=0, is_sandbox=False,
                         state="exited", exit_code=code, started_at="2026-01-01T00:00:00Z",
                         finished_at="2026-01-01T00:00:05Z", image_id="sha256:i")


def test_terminal_status_of_a_stopped_pod() -> None:
    views = [ContainerView(name="app", image="busybox:latest", current=_exited(0)),
             ContainerView(name="side", image="busybox:latest", current=_exited(137, "c2"))]
    st = build_status("Always", views, "docker", "10.0.0.1", "1.2.3.4", None, "BestEffort",
                      {}, terminal=True)
    assert st["phase"] == "Failed"
    conds = {c["type"]: c for c in st["conditions"]}
    assert (conds["Ready"]["status"], conds["Ready"]["reason"]) == ("False", "PodFailed")
    assert "message" not in conds["Ready"] and conds["ContainersReady"]["reason"] == "PodFailed"
    ok = build_status("Always", views[:1], "docker", None, None, None, "BestEffort", {},
                      terminal=True)
    assert ok["phase"] == "Succeeded"
    assert {c["type"]: c for c in ok["conditions"]}["Ready"]["reason"] == "PodCompleted"
    # A container that never ran, once the pod is stopped for good (TerminatePod).
    gone = build_status("Always", [ContainerView(name="app", image="x:1", gone=True)],
                        "docker", None, None, None, "BestEffort", {}, terminal=True)
    assert gone["phase"] == "Failed"
    assert gone["containerStatuses"][0]["state"]["terminated"] == {
        "exitCode": 137, "reason": "ContainerStatusUnknown",
        "message": "The container could not be located when the pod was terminated"}


def test_every_container_status_has_its_fields() -> None:
    waiting = container_status(ContainerView(name="app", image="x:1"), "docker")
    assert waiting == {"name": "app", "image": "x:1", "imageID": "", "ready": False,
                       "restartCount": 0, "started": False,
                       "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}
    v = ContainerView(name="app", image="x:1", current=_exited(0),
                      resources={"requests": {"cpu": "1"}, "limits": {"cpu": "2"}},
                      volume_mounts=[{"name": "t", "mountPath": "/t", "readOnly": True},
                                     {"name": "d", "mountPath": "/d"}])
    s = container_status(v, "docker")
    assert s["imageID"] == "docker://sha256:i" and s["allocatedResources"] == {"cpu": "1"}
    assert s["resources"] == {"requests": {"cpu": "1"}, "limits": {"cpu": "2"}}
    assert s["volumeMounts"] == [
        {"name": "t", "mountPath": "/t", "readOnly": True, "recursiveReadOnly": "Disabled"},
        {"name": "d", "mountPath": "/d"}]
    assert container_status(ContainerView(name="a", image="x", current=_exited(0)),
                            "docker")["resources"] == {}


def test_log_options_decode_and_validate() -> None:
    o = podlogs.decode({"tail": "5", "sinceTime": "2026-01-02T03:04:05.25+01:00",
                        "follow": "true"})
    assert (o.tail_lines, o.follow, o.since_time) == (5, True, 1767319445.25)
    assert podlogs.decode({"tail": "all", "tailLines": "3"}).tail_lines is None
    with pytest.raises(ValueError):
        podlogs.decode({"limitBytes": "x"})
    assert [f for f, _, _ in podlogs.validate(podlogs.decode(
        {"tailLines": "-1", "limitBytes": "0", "sinceSeconds": "0"}))] == [
        "tailLines", "limitBytes", "sinceSeconds"]
    assert podlogs.validate(podlogs.decode({"sinceSeconds": "1", "sinceTime":
                                            "2026-01-01T00:00:00Z"}))[0][0] == ""


class _Runtime:
    name = "docker"

    def __init__(self) -> None:
        self.stopped: list[str] = []
        self.removed: list[str] = []

    async def stop_container(self, cid: str, grace: int) -> None:
        self.stopped.append(cid)

    async def remove_container(self, cid: str) -> None:
        self.removed.append(cid)

    async def remove_pod_dirs(self, uid: str) -> None:
        pass


class _Host:
    """A PodHost whose API server refuses every status write."""

    node_name = "n"
    node_ip = "10.0.0.1"
    metrics = None

    def __init__(self) -> None:
        self.runtime = _Runtime()
        self.deleted = False

    async def runtime_containers(self, uid: str) -> list[ContainerInfo]:
        return []

    def record_event(self, *args: Any) -> None:
        pass

    async def patch_status(self, pod: Any, patch: Any) -> None:
        raise RuntimeError("the API server is away")

    async def delete_pod(self, pod: Any) -> None:
        self.deleted = True

    def forget_pod(self, pod: Any) -> None:
        pass


async def test_termination_does_not_wait_on_status_writes() -> None:
    from api.models import Pod
    from kubelet.podworker import PodWorker
    host = _Host()
    pod = Pod.from_dict({"metadata": {"name": "p", "namespace": "d", "uid": "u",
                                      "deletionTimestamp": "2026-01-01T00:00:00Z"},
                         "spec": {"containers": [{"name": "app", "image": "x"}],
                                  "terminationGracePeriodSeconds": 1}})
    w = PodWorker(host, pod)  # type: ignore[arg-type]
    running = _exited(0)
    running.state = "running"
    await w.terminate([running])
    assert host.runtime.stopped == ["c1"] and host.runtime.removed == ["c1"] and host.deleted
