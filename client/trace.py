"""The trace of a request (``minictl trace``, the dashboard's timeline): how the cluster
carried it out, as a tree of steps, and where it is stuck.

Built only from what the API already records: object creation times, status conditions,
container states and the Events each component wrote (Scheduled, Pulled, Started, ...).
The result is a tree (Deployment -> ReplicaSets -> Pods -> their steps; Job -> Pods), each
step with its time, each pod with how long it took to be Ready, and a ``STUCK`` step where
progress stopped (FailedScheduling, ImagePullBackOff, ...).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from api import printers
from api.models import Deployment, Event, Node, Pod, ReplicaSet
from api.models.batch import Job
from api.models.core import TypedObject
from api.resources import ResourceInfo
from api.timeutil import parse_time
from api.timeutil import parse_time_or_none as _t
from api.wellknown import REVISION_ANNOTATION

Lister = Callable[[type[TypedObject], str | None], Sequence[TypedObject]]

# Container waiting reasons that mean "this will not fix itself soon".
STUCK_REASONS = {
    "ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff", "CreateContainerError",
    "CreateContainerConfigError", "InvalidImageName", "RunContainerError", "ErrImageNeverPull",
}


@dataclass
class Step:
    text: str
    at: datetime | None = None
    children: list[Step] = field(default_factory=list)
    warning: bool = False


def _event_at(e: Event) -> datetime | None:
    # The first occurrence is when the step happened; eventTime has sub-second precision.
    return _t(e.event_time) or _t(e.first_timestamp) or _t(e.last_timestamp) or _t(
        e.metadata.creation_timestamp)


def _event_step(e: Event) -> Step:
    src = (e.source.component if e.source else None) or e.reporting_component or ""
    text = f"{e.reason}: {' '.join((e.message or '').split())}"
    if (e.count or 1) > 1:
        text += f" (x{e.count})"
    if src:
        text += f"  [{src}]"
    return Step(text, _event_at(e), warning=e.type == "Warning")


def _dur(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


class Tracer:
    """The steps of objects from what the API recorded. ``events`` are the Events of the
    namespace (all namespaces for a cluster-scoped root); ``lister(model, namespace)`` lists
    the objects of a kind (a client's list_all, or objects already at hand)."""

    def __init__(self, events: Iterable[Event], lister: Lister) -> None:
        self.lister = lister
        self.events: dict[str, list[Event]] = defaultdict(list)
        self.by_name: dict[tuple[str, str], list[Event]] = defaultdict(list)
        for e in events:
            ref = e.involved_object
            if ref.uid:
                self.events[ref.uid].append(e)
            self.by_name[(ref.kind or "", ref.name or "")].append(e)

    def events_of(self, obj: TypedObject) -> list[Event]:
        uid = obj.metadata.uid
        evs = list(self.events.get(uid, [])) if uid else []
        if not evs:
            evs = [e for e in self.by_name.get((obj.kind or "", obj.metadata.name or ""), [])
                   if not e.involved_object.uid]
        return sorted(evs, key=lambda e: _event_at(e) or _far())

    def owned(self, model: type[TypedObject], owner: TypedObject) -> list[TypedObject]:
        items = self.lister(model, owner.metadata.namespace)
        uid = owner.metadata.uid
        out = [o for o in items
               if any(r.uid == uid for r in o.metadata.owner_references or [])]
        return sorted(out, key=lambda o: o.metadata.creation_timestamp or "")

    # ---- per kind ---------------------------------------------------------------------

    def deployment(self, dep: Deployment) -> Step:
        c = dep.spec.template.spec.containers
        images = ", ".join(x.image or "" for x in c)
        desired = dep.spec.replicas if dep.spec.replicas is not None else 1
        s = dep.status
        ready = (s.ready_replicas if s else 0) or 0
        root = Step(f"deployment/{dep.metadata.name} created: {desired} "
                    f"replica{'' if desired == 1 else 's'} of {images}",
                    _t(dep.metadata.creation_timestamp))
        root.children += [_event_step(e) for e in self.events_of(dep)]
        for rs in self.owned(ReplicaSet, dep):
            assert isinstance(rs, ReplicaSet)
            root.children.append(self.replicaset(rs))
        for cond in (s.conditions if s else None) or []:
            if cond.type == "Progressing" and cond.reason == "ProgressDeadlineExceeded":
                root.children.append(Step(f"STUCK: {cond.message or cond.reason}",
                                          _t(cond.last_update_time), warning=True))
        summary = f"{ready}/{desired} ready"
        if ready >= desired and (s and (s.updated_replicas or 0) >= desired):
            done = self._latest_ready(dep)
            start = _t(dep.metadata.creation_timestamp)
            if done and start:
                summary += f" (all ready {_dur((done - start).total_seconds())} after creation)"
        root.text += f"  -> {summary}"
        return root

    def _latest_ready(self, dep: Deployment) -> datetime | None:
        latest: datetime | None = None
        for rs in self.owned(ReplicaSet, dep):
            for pod in self.owned(Pod, rs):
                assert isinstance(pod, Pod)
                t = self._ready_at(pod)
                if t and (latest is None or t > latest):
                    latest = t
        return latest

    def replicaset(self, rs: ReplicaSet) -> Step:
        desired = rs.spec.replicas if rs.spec.replicas is not None else 1
        rev = (rs.metadata.annotations or {}).get(REVISION_ANNOTATION)
        s = rs.status
        text = (f"replicaset/{rs.metadata.name} created"
                + (f" (revision {rev})" if rev else "")
                + f": {(s.ready_replicas if s else 0) or 0}/{desired} ready")
        node = Step(text, _t(rs.metadata.creation_timestamp))
        node.children += [_event_step(e) for e in self.events_of(rs)]
        for pod in self.owned(Pod, rs):
            assert isinstance(pod, Pod)
            node.children.append(self.pod(pod))
        return node

    def _ready_at(self, pod: Pod) -> datetime | None:
        for c in (pod.status.conditions if pod.status else None) or []:
            if c.type == "Ready" and c.status == "True":
                return _t(c.last_transition_time)
        return None

    def pod(self, pod: Pod) -> Step:
        created = _t(pod.metadata.creation_timestamp)
        s = pod.status
        phase = printers.pod_status_reason(pod.to_dict())
        where = f" on {pod.spec.node_name}" if pod.spec.node_name else ""
        ip = f" ({s.pod_ip})" if s and s.pod_ip else ""
        node = Step(f"pod/{pod.metadata.name} created -> {phase}{where}{ip}", created)
        events = self.events_of(pod)
        node.children += [_event_step(e) for e in events]
        reasons = {e.reason for e in events}
        conds = {c.type: c for c in (s.conditions if s else None) or []}
        sched = conds.get("PodScheduled")
        if "Scheduled" not in reasons and pod.spec.node_name:
            at = _t(sched.last_transition_time) if sched else None
            node.children.append(Step(f"Scheduled to {pod.spec.node_name}", at))
        ready_at = self._ready_at(pod)
        if ready_at:
            took = f" ({_dur((ready_at - created).total_seconds())} after creation)" if (
                created) else ""
            node.children.append(Step(f"Ready{took}", ready_at))
        stuck = self._pod_stuck(pod, events)
        if stuck:
            node.children.append(stuck)
        if pod.metadata.deletion_timestamp:
            node.children.append(Step("Terminating", _t(pod.metadata.deletion_timestamp)))
        return node

    def _pod_stuck(self, pod: Pod, events: list[Event]) -> Step | None:
        s = pod.status
        if pod.metadata.deletion_timestamp:
            return None
        if not pod.spec.node_name:
            failed = [e for e in events if e.reason == "FailedScheduling"]
            conds = [c for c in (s.conditions if s else None) or [] if c.type == "PodScheduled"]
            msg = (failed[-1].message if failed else None) or (
                conds[0].message if conds else None)
            return Step("STUCK: not scheduled" + (f": {msg}" if msg else
                                                   " yet (is the scheduler running?)"),
                        warning=True)
        for cs in (s.container_statuses if s else None) or []:
            w = cs.state.waiting if cs.state else None
            if w and w.reason in STUCK_REASONS:
                return Step(f"STUCK: container {cs.name} is waiting: {w.reason}"
                            + (f": {w.message}" if w.message else ""), warning=True)
        if not self._ready_at(pod) and not (s and s.phase in ("Succeeded", "Failed")):
            kubelet_seen = any(e.reason in ("Pulling", "Pulled", "Created", "Started")
                               for e in events)
            if not kubelet_seen and not (s and s.container_statuses):
                return Step(f"waiting for the kubelet of {pod.spec.node_name} to start the "
                            "pod", warning=True)
            return Step("not Ready yet", warning=True)
        return None

    def job(self, job: Job) -> Step:
        """Job -> the pods it ran (each with its steps), its Complete or Failed condition."""
        wire = job.to_dict()
        images = ", ".join(x.image or "" for x in job.spec.template.spec.containers)
        want = job.spec.completions
        text = (f"job/{job.metadata.name} created: "
                + (f"{want} completion{'' if want == 1 else 's'}" if want is not None
                   else "work queue")
                + f", parallelism {job.spec.parallelism or 1} of {images}")
        root = Step(text, _t(job.metadata.creation_timestamp))
        root.children += [_event_step(e) for e in self.events_of(job)]
        for pod in self.owned(Pod, job):
            assert isinstance(pod, Pod)
            root.children.append(self.pod(pod))
        for cond in (job.status.conditions if job.status else None) or []:
            if cond.type == "Failed" and cond.status == "True":
                root.children.append(Step(f"FAILED ({cond.reason}): {cond.message or ''}",
                                          _t(cond.last_transition_time), warning=True))
        summary = f"{printers.job_status(wire)} {printers.job_completions(wire)}"
        took = printers.job_duration(wire)
        if took:
            summary += f" in {took}"
        root.text += f"  -> {summary}"
        return root

    def node(self, node: Node) -> Step:
        root = Step(f"node/{node.metadata.name} registered -> {printers.node_status(node.to_dict())}",
                    _t(node.metadata.creation_timestamp))
        root.children += [_event_step(e) for e in self.events_of(node)]
        return root

    def generic(self, info: ResourceInfo, obj: TypedObject) -> Step:
        root = Step(f"{info.singular}/{obj.metadata.name} created",
                    _t(obj.metadata.creation_timestamp))
        root.children += [_event_step(e) for e in self.events_of(obj)]
        return root

    def tree(self, info: ResourceInfo, obj: TypedObject) -> Step:
        """The trace of any object: the kinds above get their own tree, any other its
        creation and Events; steps in time order at every level."""
        if isinstance(obj, Deployment):
            root = self.deployment(obj)
        elif isinstance(obj, ReplicaSet):
            root = self.replicaset(obj)
        elif isinstance(obj, Pod):
            root = self.pod(obj)
        elif isinstance(obj, Node):
            root = self.node(obj)
        elif isinstance(obj, Job):
            root = self.job(obj)
        else:
            root = self.generic(info, obj)
        _sort_steps(root.children)
        return root


def _far() -> datetime:
    return parse_time("9999-01-01T00:00:00Z")


def _sort_steps(steps: list[Step]) -> None:
    steps.sort(key=lambda s: (s.at or _far(), 1 if s.text.startswith("STUCK") else 0))
    for s in steps:
        _sort_steps(s.children)
