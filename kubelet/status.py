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
OWNED_KEYS = ("phase", "conditions", "message", "reason", "hostIP", "podIP", "podIPs",
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


def container_status(v: ContainerView, runtime: str) -> dict[str, Any]:
    s: dict[str, Any] = {"name": v.name, "image": v.image, "ready": False,
                         "restartCount": v.restart_count, "started": False}
    c = v.current
    if v.waiting_reason is not None or c is None:
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
    last = v.last_terminated
    s["lastState"] = {"terminated": terminated_state(last, runtime)} if last is not None else {}
    return s


def pod_phase(restart_policy: str, statuses: list[dict[str, Any]]) -> str:
    """Kubernetes' getPhase for pods without init containers."""
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
                 init_views: list[ContainerView] | None = None) -> dict[str, Any]:
    """The pod's whole status (keys in OWNED_KEYS), reusing transition times from ``prev``."""
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
        phase = pod_phase(restart_policy, statuses)
    prev_conds = {c.get("type", ""): c for c in prev.get("conditions") or []}
    not_ready = [s["name"] for s in statuses if not s["ready"]]
    ready = not not_ready and phase == "Running"
    msg = f"containers with unready status: [{' '.join(not_ready)}]" if not_ready else None
    reason = "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"
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
    if pod_ip:
        out["podIP"] = pod_ip
        out["podIPs"] = [{"ip": pod_ip}]
    if start_time:
        out["startTime"] = start_time
    return out


def comparable(status: dict[str, Any]) -> dict[str, Any]:
    """The status without the fields that change on their own, to tell real changes."""
    return {k: status.get(k) for k in OWNED_KEYS}
