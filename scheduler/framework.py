"""The scheduling framework: per-pod and per-node precomputed data, plugins, one cycle.

Shaped after kube-scheduler's framework: filter plugins say whether a node can take a
pod (and if not, why), score plugins rank the feasible nodes, and the cycle picks the
best. Everything a plugin needs is precomputed once per pod (``PodInfo``) and kept
incrementally per node (``NodeInfo``), so that a cycle over hundreds of nodes is a
tight loop over integers and small dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable

from api.models import Node, NodeSelectorTerm, Pod, Taint, Toleration
from scheduler.resources import node_allocatable, pod_nonzero_requests, pod_requests

# Kubernetes' "default" requests, used for scoring only, so that pods without requests
# still spread instead of all landing on one node (k8s: DefaultMilliCPURequest and
# DefaultMemoryRequest in pkg/scheduler/util).
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

MAX_NODE_SCORE = 100
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
DEFAULT_PERCENTAGE_OF_NODES_TO_SCORE = 0  # 0: adaptive, as in kube-scheduler

HARD_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
ERR_NO_NODES_AVAILABLE = "no nodes available to schedule pods"


@dataclass(frozen=True, slots=True)
class Status:
    """A filter's verdict: ``ok`` or the reasons the node cannot take the pod."""

    reasons: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.reasons

    @staticmethod
    def fail(*reasons: str) -> Status:
        return Status(tuple(reasons))


OK = Status()


def _controller_uid(pod: Pod) -> str | None:
    for ref in pod.metadata.owner_references or ():
        if ref.controller:
            return ref.uid
    return None


class PodInfo:
    """What the plugins need to know about a pod, computed once per pod version."""

    __slots__ = (
        "affinity_terms", "cpu", "created", "host_ports", "key", "memory", "name",
        "namespace", "node_names", "node_selector", "nz_cpu", "nz_memory", "owner_uid", "pod",
        "preferred_terms", "priority", "soft_tolerations", "tolerations", "uid",
    )

    def __init__(self, pod: Pod) -> None:
        meta = pod.metadata
        spec = pod.spec
        self.pod = pod
        self.namespace = meta.namespace or "default"
        self.name = meta.name or ""
        self.key = f"{self.namespace}/{self.name}"
        self.uid = meta.uid or self.key
        self.priority = spec.priority or 0
        self.created = meta.creation_timestamp or ""
        self.cpu, self.memory = pod_requests(pod)
        self.nz_cpu, self.nz_memory = pod_nonzero_requests(
            pod, DEFAULT_MILLI_CPU_REQUEST, DEFAULT_MEMORY_REQUEST)
        ports: list[tuple[str, str, int]] = []
        for c in spec.containers:
            for p in c.ports or ():
                if p.host_port:
                    ports.append((p.host_ip or "0.0.0.0", p.protocol or "TCP", p.host_port))
        self.host_ports = tuple(ports)
        self.node_selector = dict(spec.node_selector or {})
        aff = spec.affinity.node_affinity if spec.affinity else None
        req = aff.required_during_scheduling_ignored_during_execution if aff else None
        self.affinity_terms = tuple(req.node_selector_terms) if req is not None else None
        self.node_names = _required_node_names(self.affinity_terms)
        pref = aff.preferred_during_scheduling_ignored_during_execution if aff else None
        self.preferred_terms = tuple((t.weight, t.preference) for t in pref or () if t.weight)
        self.tolerations = tuple(spec.tolerations or ())
        # the tolerations that can matter for PreferNoSchedule taints (scoring)
        self.soft_tolerations = tuple(t for t in self.tolerations
                                      if not t.effect or t.effect == "PreferNoSchedule")
        self.owner_uid = _controller_uid(pod)

    def tolerates(self, key: str, value: str, effect: str) -> bool:
        return tolerates(self.tolerations, key, value, effect)


def _required_node_names(terms: tuple[NodeSelectorTerm, ...] | None) -> frozenset[str] | None:
    """NodeAffinity's PreFilter: when every required term names its nodes with matchFields
    metadata.name In [...] (a DaemonSet's pod), only those nodes can fit; None otherwise."""
    if not terms:
        return None
    names: set[str] = set()
    for t in terms:
        found = [r for r in t.match_fields or ()
                 if r.key == "metadata.name" and r.operator == "In"]
        if not found:
            return None
        names.update(found[0].values or ())
    return frozenset(names)


def tolerates(tolerations: Iterable[Toleration], key: str, value: str, effect: str) -> bool:
    """k8s' Toleration.ToleratesTaint, true if any of ``tolerations`` tolerates the taint."""
    for t in tolerations:
        if t.effect and t.effect != effect:
            continue
        if t.key and t.key != key:
            continue
        op = t.operator or "Equal"
        if op == "Exists" or (op == "Equal" and (t.value or "") == value):
            return True
    return False


def _is_ready(node: Node) -> bool:
    for c in (node.status.conditions or ()) if node.status else ():
        if c.type == "Ready":
            return c.status == "True"
    return False


class NodeInfo:
    """A node plus the pods counted on it (bound and assumed), kept up to date incrementally."""

    __slots__ = (
        "alloc_cpu", "alloc_memory", "alloc_pods", "generation", "hard_taints", "labels",
        "name", "node", "nz_cpu", "nz_memory", "owner_counts", "pods", "ports", "ready",
        "req_cpu", "req_memory", "soft_taints", "unschedulable",
    )

    def __init__(self, name: str, node: Node | None = None) -> None:
        self.name = name
        self.node: Node | None = None
        self.labels: dict[str, str] = {}
        self.alloc_cpu = self.alloc_memory = self.alloc_pods = 0
        self.unschedulable = False
        self.ready = False
        self.hard_taints: tuple[Taint, ...] = ()
        self.soft_taints: tuple[Taint, ...] = ()
        self.pods: dict[str, PodInfo] = {}
        self.req_cpu = self.req_memory = 0
        self.nz_cpu = self.nz_memory = 0
        # (protocol, port) -> ip -> number of pods using it
        self.ports: dict[tuple[str, int], dict[str, int]] = {}
        self.owner_counts: dict[str, int] = {}
        self.generation = 0
        if node is not None:
            self.set_node(node)

    def set_node(self, node: Node) -> None:
        self.node = node
        self.labels = dict(node.metadata.labels or {})
        self.alloc_cpu, self.alloc_memory, self.alloc_pods = node_allocatable(node)
        spec = node.spec
        self.unschedulable = bool(spec and spec.unschedulable)
        taints = (spec.taints or ()) if spec else ()
        self.hard_taints = tuple(t for t in taints if t.effect in HARD_EFFECTS)
        self.soft_taints = tuple(t for t in taints if t.effect == "PreferNoSchedule")
        self.ready = _is_ready(node)
        self.generation += 1

    def add_pod(self, p: PodInfo) -> None:
        if p.key in self.pods:
            self.remove_pod(p.key)
        self.pods[p.key] = p
        self.req_cpu += p.cpu
        self.req_memory += p.memory
        self.nz_cpu += p.nz_cpu
        self.nz_memory += p.nz_memory
        for ip, proto, port in p.host_ports:
            ips = self.ports.setdefault((proto, port), {})
            ips[ip] = ips.get(ip, 0) + 1
        if p.owner_uid is not None:
            self.owner_counts[p.owner_uid] = self.owner_counts.get(p.owner_uid, 0) + 1
        self.generation += 1

    def remove_pod(self, key: str) -> PodInfo | None:
        p = self.pods.pop(key, None)
        if p is None:
            return None
        self.req_cpu -= p.cpu
        self.req_memory -= p.memory
        self.nz_cpu -= p.nz_cpu
        self.nz_memory -= p.nz_memory
        for ip, proto, port in p.host_ports:
            ips = self.ports.get((proto, port))
            if ips is not None:
                n = ips.get(ip, 0) - 1
                if n > 0:
                    ips[ip] = n
                else:
                    ips.pop(ip, None)
                    if not ips:
                        del self.ports[(proto, port)]
        if p.owner_uid is not None:
            n = self.owner_counts.get(p.owner_uid, 0) - 1
            if n > 0:
                self.owner_counts[p.owner_uid] = n
            else:
                self.owner_counts.pop(p.owner_uid, None)
        self.generation += 1
        return p

    @property
    def pod_count(self) -> int:
        return len(self.pods)


@runtime_checkable
class FilterPlugin(Protocol):
    name: ClassVar[str]

    def relevant(self, pod: PodInfo) -> bool:
        """False when this filter can never reject this pod, so the cycle skips it."""
        ...

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status: ...


@runtime_checkable
class ScorePlugin(Protocol):
    name: ClassVar[str]

    def relevant(self, pod: PodInfo) -> bool: ...

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        """0..MAX_NODE_SCORE, or a raw value that ``normalize`` maps into that range."""
        ...

    def score_all(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        """``score`` for each node, in one call (what the cycle uses: no per-node call)."""
        ...

    def normalize(self, pod: PodInfo, scores: list[int]) -> None:
        """Map raw scores into 0..MAX_NODE_SCORE in place (most plugins: nothing to do)."""
        ...


def num_feasible_nodes_to_find(num_all_nodes: int, percentage: int) -> int:
    """kube-scheduler's numFeasibleNodesToFind: stop filtering after this many fits."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    adaptive = percentage
    if adaptive <= 0:
        adaptive = 50 - num_all_nodes // 125
        if adaptive < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND:
            adaptive = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND
    if adaptive >= 100:
        return num_all_nodes
    n = num_all_nodes * adaptive // 100
    return max(n, MIN_FEASIBLE_NODES_TO_FIND)


def default_normalize(scores: list[int], reverse: bool = False) -> None:
    """k8s' DefaultNormalizeScore: scale to 0..MAX_NODE_SCORE by the maximum (reversed:
    the node with the most gets 0)."""
    top = max(scores, default=0)
    if top == 0:
        if reverse:
            scores[:] = [MAX_NODE_SCORE] * len(scores)
        return
    for i, s in enumerate(scores):
        v = MAX_NODE_SCORE * s // top
        scores[i] = MAX_NODE_SCORE - v if reverse else v


def fit_error_message(num_all_nodes: int, statuses: Iterable[Status]) -> str:
    """kube-scheduler's FitError.Error(): reasons counted, ``"<n> <reason>"`` sorted as strings."""
    counts: dict[str, int] = {}
    for st in statuses:
        for r in st.reasons:
            counts[r] = counts.get(r, 0) + 1
    msg = f"0/{num_all_nodes} nodes are available:"
    parts = sorted(f"{n} {r}" for r, n in counts.items())
    if parts:
        msg += f" {', '.join(parts)}."
    return msg


@dataclass(slots=True)
class ScheduleResult:
    node: str | None
    evaluated: int
    feasible: int
    message: str = ""
    statuses: dict[str, Status] = field(default_factory=dict)


def _passes(st: Status) -> bool:
    return st is OK or not st.reasons


class Framework:
    """One scheduling profile: ordered filters, weighted scores, the node-sampling state."""

    def __init__(self, filters: Sequence[FilterPlugin],
                 scores: Sequence[tuple[ScorePlugin, int]],
                 percentage_of_nodes_to_score: int = DEFAULT_PERCENTAGE_OF_NODES_TO_SCORE
                 ) -> None:
        self.filters = list(filters)
        self.scores = [(p, w) for p, w in scores if w > 0]
        self.percentage = percentage_of_nodes_to_score
        self.next_start_index = 0

    def _filter_named(self, pod: PodInfo, named: list[NodeInfo],
                      filters: Sequence[Callable[[PodInfo, NodeInfo], Status]]
                      ) -> ScheduleResult | None:
        """The PreFilter result's one feasible node, else None (none, or several to score
        on the usual path)."""
        feasible = [ni for ni in named if all(_passes(f(pod, ni)) for f in filters)]
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, len(named), 1)
        return None

    def schedule(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> ScheduleResult:
        """Filter (from a rotating start, stopping after enough fits), score, pick the best.

        Ties go to the node evaluated first: deterministic, and since the start rotates
        they still spread over equal nodes.
        """
        n = len(nodes)
        if n == 0:
            return ScheduleResult(None, 0, 0, ERR_NO_NODES_AVAILABLE)
        want = num_feasible_nodes_to_find(n, self.percentage)
        filters = [f.filter for f in self.filters if f.relevant(pod)]
        feasible: list[NodeInfo] = []
        statuses: dict[str, Status] = {}
        start = self.next_start_index % n
        order = [*nodes[start:], *nodes[:start]] if start else nodes
        if pod.node_names is not None:
            # only the named nodes can pass NodeAffinity: filter those (when none fits,
            # every node is evaluated below so that the failure message counts them all;
            # several that fit are scored there too)
            named = [ni for ni in nodes if ni.name in pod.node_names]
            result = self._filter_named(pod, named, filters)
            if result is not None:
                return result
        found = 0
        evaluated = 0
        ok = OK
        # The hot loop: hundreds of nodes per pod. ``st is ok`` first: a passing filter
        # returns the OK singleton, so the common case costs one identity check.
        for ni in order:
            evaluated += 1
            for f in filters:
                st = f(pod, ni)
                if st is not ok and st.reasons:
                    statuses[ni.name] = st
                    break
            else:
                feasible.append(ni)
                found += 1
                if found >= want:
                    break
        self.next_start_index = (start + evaluated) % n
        if not feasible:
            return ScheduleResult(None, evaluated, 0, fit_error_message(n, statuses.values()),
                                  statuses)
        if found == 1:
            return ScheduleResult(feasible[0].name, evaluated, 1)
        totals: list[int] | None = None
        for plugin, weight in self.scores:
            if not plugin.relevant(pod):
                continue
            raw = plugin.score_all(pod, feasible)
            plugin.normalize(pod, raw)
            if totals is None:
                totals = [s * weight for s in raw] if weight != 1 else raw
            elif weight == 1:
                totals = [a + b for a, b in zip(totals, raw, strict=True)]
            else:
                totals = [a + b * weight for a, b in zip(totals, raw, strict=True)]
        if totals is None:
            return ScheduleResult(feasible[0].name, evaluated, found)
        # max() keeps the first of equal maxima: the node evaluated first wins a tie
        best = max(range(found), key=totals.__getitem__)
        return ScheduleResult(feasible[best].name, evaluated, found)
