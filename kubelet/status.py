"""Pod status from what the runtime shows: container states, phase and conditions.

Pure functions, so the rules (Kubernetes' getPhase and condition logic) are tested
without a runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.timeutil import now
from kubelet.runtime.base import ContainerInfo

# Status keys the kubelet owns: a key it does not set is cleared (merge patch: null).
OWNED_KEYS = ("phase", "conditions", "message", "reason", "hostIP", "hostIPs", "podIP", "podIPs",
              "startTime", "containerStatuses", "initContainerStatuses", "qosClass")


@dataclass
class ContainerView:
    """What the kubelet knows about one spec container at the end of a sync."""

    name: str
    image: str
    current: ContainerInfo | None = None  # the newest container of this name
    last_terminated: ContainerInfo | None = None  # the one before it, for lastState
    waiting_reason: str | None = None  # overrides the current container's state
    waiting_message: str | None = None
    ready: bool = False
    started: bool = True  # the startup probe (if any) has succeeded
    restart_count: int = 0
    # the spec container's resources and volumeMounts (wire form), for the status' copies
    resources: dict[str, Any] | None = None
    volume_mounts: list[dict[str, Any]] | None = None
    # the pod has been stopped for good: a container without a runtime instance is reported
    # as TerminatePod reports it (ContainerStatusUnknown)
    gone: bool = False


def terminated_state(c: ContainerInfo, runtime: str) -> dict[str, Any]:
    code = c.exit_code if c.exit_code is not None else -1
    if c.oom_killed:
        reason = "OOMKilled"
    elif c.state == "created" or (c.error and code in (126, 127, 128)):
        reason = "StartError"
    elif code == 0:
        reason = "Completed"
    else:
        reason = "Error"
    t: dict[str, Any] = {"exitCode": code, "reason": reason,
                         "containerID": f"{runtime}://{c.id}"}
    if c.error:
        t["message"] = c.error
    if code > 128 and not c.oom_killed:
        t["signal"] = code - 128
    if c.started_at:
        t["startedAt"] = c.started_at
    if c.finished_at:
        t["finishedAt"] = c.finished_at
    return t


# TerminatePod's state for a container the runtime no longer shows when the pod ends.
UNKNOWN_TERMINATED = {"exitCode": 137, "reason": "ContainerStatusUnknown",
                      "message": "The container could not be located when the pod was terminated"}


def volume_mount_statuses(mounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """containerStatuses[].volumeMounts as the kubelet writes them (RecursiveReadOnlyMounts):
    name, mountPath, readOnly, and for a read-only mount its recursiveReadOnly mode."""
    out = []
    for m in mounts:
        st: dict[str, Any] = {"name": m.get("name"), "mountPath": m.get("mountPath")}
        if m.get("readOnly"):
            st["readOnly"] = True
            st["recursiveReadOnly"] = "Enabled" if m.get("recursiveReadOnly") == "Enabled" \
                else "Disabled"
        out.append(st)
    return out


def container_status(v: ContainerView, runtime: str) -> dict[str, Any]:
    # imageID has no omitempty in the API: "" until a container exists (client models
    # reject a status without it)
    s: dict[str, Any] = {"name": v.name, "image": v.image, "imageID": "", "ready": False,
                         "restartCount": v.restart_count, "started": False}
    if v.volume_mounts:
        s["volumeMounts"] = volume_mount_statuses(v.volume_mounts)
    c = v.current
    if c is None and v.gone:
        s["state"] = {"terminated": dict(UNKNOWN_TERMINATED)}
    elif v.waiting_reason is not None or c is None:
        s["state"] = {"waiting": {"reason": v.waiting_reason or "ContainerCreating",
                                  **({"message": v.waiting_message} if v.waiting_message else {})}}
    elif c.running:
        s["state"] = {"running": {"startedAt": c.started_at or now()}}
        s["ready"] = v.ready
        s["started"] = v.started
    else:
        s["state"] = {"terminated": terminated_state(c, runtime)}
    if c is not None:
        s["containerID"] = f"{runtime}://{c.id}"
        if c.image_id:
            s["imageID"] = f"{runtime}://{c.image_id}"
        # InPlacePodVerticalScaling (on since v1.33): a container the runtime shows reports
        # its resources and the requests allocated to it
        res = v.resources or {}
        s["resources"] = {k: dict(res[k]) for k in ("limits", "requests") if res.get(k)}
        if res.get("requests"):
            s["allocatedResources"] = dict(res["requests"])
    last = v.last_terminated
    s["lastState"] = {"terminated": terminated_state(last, runtime)} if last is not None else {}
    return s


def pod_phase(restart_policy: str, statuses: list[dict[str, Any]], terminal: bool = False
              ) -> str:
    """Kubernetes' getPhase for pods without init containers; ``terminal``: the pod has
    been stopped for good (podIsTerminal), so stopped containers won't restart."""
    running = waiting = stopped = succeeded = 0
    for s in statuses:
        state = s.get("state") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"].get("exitCode") == 0:
                succeeded += 1
        elif "waiting" in state:
            if (s.get("lastState") or {}).get("terminated"):
                stopped += 1  # restarting: it ran before
            else:
                waiting += 1
        else:
            waiting += 1
    if waiting > 0:
        return "Pending"
    if running > 0:
        return "Running"
    if stopped > 0:
        if terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Running" if restart_policy == "OnFailure" else "Failed"
    return "Pending"


def _condition(prev: dict[str, dict[str, Any]], type_: str, ok: bool,
               reason: str | None = None, message: str | None = None) -> dict[str, Any]:
    status = "True" if ok else "False"
    old = prev.get(type_)
    c: dict[str, Any] = {"type": type_, "status": status,
                         "lastTransitionTime": (old or {}).get("lastTransitionTime") if old
                         and old.get("status") == status else now()}
    if reason and not ok:
        c["reason"] = reason
    if message and not ok:
        c["message"] = message
    return c


def build_status(restart_policy: str, views: list[ContainerView], runtime: str,
                 pod_ip: str | None, host_ip: str | None, start_time: str | None,
                 qos_class: str, prev: dict[str, Any],
                 init_views: list[ContainerView] | None = None,
                 terminal: bool = False) -> dict[str, Any]:
    """The pod's whole status (keys in OWNED_KEYS), reusing transition times from ``prev``;
    ``terminal``: the status once the pod's containers are stopped for good (deletion), in
    a terminal phase as SyncTerminatingPod's last generateAPIPodStatus writes it."""
    statuses = [container_status(v, runtime) for v in views]
    init_statuses = [container_status(v, runtime) for v in init_views or []]
    for s in init_statuses:
        t = (s.get("state") or {}).get("terminated") or {}
        s["ready"] = t.get("exitCode") == 0
    incomplete = [s["name"] for s in init_statuses if not s["ready"]]
    init_failed = restart_policy == "Never" and any(
        ((s.get("state") or {}).get("terminated") or {}).get("exitCode", 0) != 0
        for s in init_statuses)
    if init_failed:
        phase = "Failed"
    elif incomplete:
        phase = "Pending"
    else:
        phase = pod_phase(restart_policy, statuses, terminal)
    if terminal and phase not in ("Succeeded", "Failed"):
        phase = "Failed"  # TerminatePod: a pod that never finished is marked Failed
    prev_conds = {c.get("type", ""): c for c in prev.get("conditions") or []}
    not_ready = [s["name"] for s in statuses if not s["ready"]]
    ready = not not_ready and phase == "Running"
    msg = f"containers with unready status: [{' '.join(not_ready)}]" if not_ready else None
    reason = "ContainersNotReady"
    if phase in ("Succeeded", "Failed"):
        # generate{ContainersReady,PodReady}ConditionForTerminalPhase: no message
        reason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
        msg = None
    conditions = [
        _condition(prev_conds, "PodReadyToStartContainers", pod_ip is not None),
        _condition(prev_conds, "Initialized", not incomplete, "ContainersNotInitialized",
                   f"containers with incomplete status: [{' '.join(incomplete)}]"),
        _condition(prev_conds, "Ready", ready, reason, msg),
        _condition(prev_conds, "ContainersReady", ready, reason, msg),
        _condition(prev_conds, "PodScheduled", True),
    ]
    out: dict[str, Any] = {"phase": phase, "conditions": conditions,
                           "containerStatuses": statuses, "qosClass": qos_class}
    if init_statuses:
        out["initContainerStatuses"] = init_statuses
    if host_ip:
        out["hostIP"] = host_ip
        out["hostIPs"] = [{"ip": host_ip}]
    if pod_ip:
        out["podIP"] = pod_ip
        out["podIPs"] = [{"ip": pod_ip}]
    if start_time:
        out["startTime"] = start_time
    return out


def comparable(status: dict[str, Any]) -> dict[str, Any]:
    """The status without the fields that change on their own, to tell real changes."""
    return {k: status.get(k) for k in OWNED_KEYS}


def default_waiting(pod_spec: dict[str, Any]) -> str:
    """The waiting reason of a container no sync has reported yet (convertToAPIContainer-
    Statuses' default): PodInitializing when the pod has init containers."""
    return "PodInitializing" if pod_spec.get("initContainers") else "ContainerCreating"


def log_container_id(pod_name: str, status: dict[str, Any], container: str,
                     previous: bool) -> str:
    """The runtime id of the container instance whose log is wanted, from the pod's status
    as the kubelet last wrote it (validateContainerLogStatus); ValueError with Kubernetes'
    message when there is none."""
    found = None
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        found = next((s for s in status.get(key) or [] if s.get("name") == container), None)
        if found is not None:
            break
    if found is None:
        raise ValueError(f'container "{container}" in pod "{pod_name}" is not available')
    state = found.get("state") or {}
    last = (found.get("lastState") or {}).get("terminated")
    waiting, running, terminated = state.get("waiting"), state.get("running"), \
        state.get("terminated")
    cid = ""
    if previous:
        if not last or not last.get("containerID"):
            raise ValueError(f'previous terminated container "{container}" in pod '
                             f'"{pod_name}" not found')
        cid = last["containerID"]
    elif running is not None:
        cid = found.get("containerID") or ""
    elif terminated is not None:
        cid = terminated.get("containerID") or (last or {}).get("containerID") or ""
        if not cid:
            raise ValueError(f'container "{container}" in pod "{pod_name}" is terminated')
    elif last is not None:
        cid = last.get("containerID") or ""
        if not cid:
            raise ValueError(f'container "{container}" in pod "{pod_name}" is terminated')
    elif waiting is not None:
        reason = waiting.get("reason") or ""
        why = {"ErrImagePull": "image can't be pulled",
               "ImagePullBackOff": "trying and failing to pull image"}.get(reason, reason)
        raise ValueError(f'container "{container}" in pod "{pod_name}" is waiting to start: '
                         f"{why}")
    else:
        raise ValueError(f'container "{container}" in pod "{pod_name}" is waiting to start - '
                         "no logs yet")
    return cid.split("://", 1)[-1]
