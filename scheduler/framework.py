"""The scheduling framework: per-pod and per-node precomputed data, plugins, one cycle.

Shaped after kube-scheduler's framework: filter plugins say whether a node can take a
pod (and if not, why), score plugins rank the feasible nodes, and the cycle picks the
best. Everything a plugin needs is precomputed once per pod (``PodInfo``) and kept
incrementally per node (``NodeInfo``), so that a cycle over hundreds of nodes is a
tight loop over integers and small dicts.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
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
        "alloc_cpu", "alloc_memory", "alloc_pods", "generation", "hard_taints", "index",
        "labels", "name", "node", "nz_cpu", "nz_memory", "owner_counts", "pods", "ports",
        "ready", "req_cpu", "req_memory", "score_memo", "soft_taints", "unschedulable",
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
        self.index = -1  # position in the cache's NodeSnapshot, -1 when not listed
        # scores that depend only on this node's state and the pod's memo key, valid
        # until the node changes (cleared with every generation)
        self.score_memo: dict[int, int] = {}  # pod shape id -> score
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
        self.score_memo.clear()

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
        self.score_memo.clear()

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
        self.score_memo.clear()
        return p

    def same_footprint(self, a: PodInfo, b: PodInfo) -> bool:
        """True when ``b`` counts on a node exactly as ``a`` does (requests, ports, owner),
        so one can replace the other with no change to the node's sums."""
        return (a.cpu, a.memory, a.nz_cpu, a.nz_memory, a.host_ports, a.owner_uid) == \
            (b.cpu, b.memory, b.nz_cpu, b.nz_memory, b.host_ports, b.owner_uid)

    def replace_pod(self, p: PodInfo) -> None:
        """Swap in a newer PodInfo of a pod already counted here with the same footprint."""
        self.pods[p.key] = p

    @property
    def pod_count(self) -> int:
        return len(self.pods)


# Nodes are summarised in runs of BLOCK_SIZE consecutive nodes of the snapshot: a cycle
# passes a whole run through the filters, and scores it, in one step when it can.
BLOCK_SIZE = 32
_MEMO_LIMIT = 32  # pod shapes remembered per node before its score memo starts over
_LOG_LIMIT = 64  # pods added to a run's nodes before its remembered bests start over


class Block:
    """What every node of one run of the snapshot has in common (``fresh`` when known),
    and scores already worked out for the run.

    A pod added to one of its nodes only shrinks what is free and grows one owner's count,
    so the minima and ``owner_max`` follow at once, and the node's offset goes on
    ``changed``: a remembered best is brought up to date by scoring just the nodes changed
    since it was worked out. Anything else (a pod gone, a node changed) starts the run
    over.
    """

    __slots__ = ("all_ready", "best", "changed", "fresh", "min_free_cpu", "min_free_memory",
                 "min_free_pods", "no_hard_taints", "no_ports", "owner_max")

    def __init__(self) -> None:
        self.fresh = False
        self.all_ready = self.no_hard_taints = self.no_ports = False
        self.min_free_cpu = self.min_free_memory = self.min_free_pods = 0
        # score key -> [every node's total, the best total, the offset of the first node
        # with it, len(changed) when worked out]
        self.best: dict[tuple[object, ...], _RunScores] = {}
        self.changed: list[int] = []  # offsets of nodes that got a pod, oldest first
        self.owner_max: dict[str, int] = {}  # owner uid -> most of its pods on one node

    def compute(self, nodes: Sequence[NodeInfo]) -> None:
        all_ready = no_hard = no_ports = True
        cpu = memory = pods = None
        for ni in nodes:
            if ni.unschedulable or not ni.ready:
                all_ready = False
            if ni.hard_taints:
                no_hard = False
            if ni.ports:
                no_ports = False
            c = ni.alloc_cpu - ni.req_cpu
            m = ni.alloc_memory - ni.req_memory
            k = ni.alloc_pods - len(ni.pods)
            cpu = c if cpu is None or c < cpu else cpu
            memory = m if memory is None or m < memory else memory
            pods = k if pods is None or k < pods else pods
        self.all_ready, self.no_hard_taints, self.no_ports = all_ready, no_hard, no_ports
        self.min_free_cpu, self.min_free_memory, self.min_free_pods = cpu or 0, memory or 0, \
            pods or 0
        self.fresh = True

    def stale(self) -> None:
        self.fresh = False
        self.best.clear()
        self.changed.clear()
        self.owner_max.clear()

    def pod_added(self, ni: NodeInfo, p: PodInfo) -> None:
        """A pod more on ``ni``: what is free only shrinks, so the minima follow at once."""
        if self.fresh:
            c = ni.alloc_cpu - ni.req_cpu
            m = ni.alloc_memory - ni.req_memory
            k = ni.alloc_pods - len(ni.pods)
            if c < self.min_free_cpu:
                self.min_free_cpu = c
            if m < self.min_free_memory:
                self.min_free_memory = m
            if k < self.min_free_pods:
                self.min_free_pods = k
            if p.host_ports:
                self.no_ports = False
        uid = p.owner_uid
        if uid is not None and uid in self.owner_max:
            n = ni.owner_counts.get(uid, 0)
            if n > self.owner_max[uid]:
                self.owner_max[uid] = n
        if len(self.changed) >= _LOG_LIMIT:
            self.best.clear()
            self.changed.clear()
        elif self.best:
            self.changed.append(ni.index % BLOCK_SIZE)


class _RunScores:
    __slots__ = ("best", "offset", "seen", "totals")

    def __init__(self, totals: list[int], seen: int) -> None:
        self.totals = totals
        self.best = max(totals)
        self.offset = totals.index(self.best)  # the first node evaluated wins a tie
        self.seen = seen

    def patch(self, offsets: Iterable[int], totals: list[int], seen: int) -> None:
        for o, t in zip(offsets, totals, strict=True):
            self.totals[o] = t
        self.best = max(self.totals)
        self.offset = self.totals.index(self.best)
        self.seen = seen


class NodeSnapshot:
    """The schedulable nodes in the order cycles walk them, with a ``Block`` per run.

    The cache keeps one up to date in place as nodes and pods come and go (kube-scheduler's
    incremental UpdateSnapshot, without the copy: cycles run on the cache's own thread):
    a change marks only its own run. ``of`` wraps a plain list for one cycle.
    """

    def __init__(self) -> None:
        self.nodes: list[NodeInfo] = []
        self.blocks: list[Block] = []
        self._soft_tainted: int | None = None
        self._by_name: dict[str, NodeInfo] | None = None

    @classmethod
    def of(cls, nodes: Iterable[NodeInfo]) -> NodeSnapshot:
        snap = cls()
        snap.nodes = list(nodes)
        snap.blocks = [Block() for _ in range(0, len(snap.nodes), BLOCK_SIZE)]
        return snap

    def __len__(self) -> int:
        return len(self.nodes)

    def block(self, b: int) -> Block:
        blk = self.blocks[b]
        if not blk.fresh:
            blk.compute(self.nodes[b * BLOCK_SIZE:(b + 1) * BLOCK_SIZE])
        return blk

    def named(self, names: Iterable[str]) -> list[NodeInfo]:
        """The listed nodes among ``names`` (a DaemonSet pod's), without a scan."""
        by_name = self._by_name
        if by_name is None:
            by_name = self._by_name = {ni.name: ni for ni in self.nodes}
        return [by_name[n] for n in names if n in by_name]

    def soft_tainted(self) -> int:
        """How many nodes have PreferNoSchedule taints."""
        if self._soft_tainted is None:
            self._soft_tainted = sum(1 for ni in self.nodes if ni.soft_taints)
        return self._soft_tainted

    # ---- kept up to date by the cache --------------------------------------------------

    def append(self, ni: NodeInfo) -> None:
        ni.index = len(self.nodes)
        self.nodes.append(ni)
        if ni.index % BLOCK_SIZE == 0:
            self.blocks.append(Block())
        else:
            self.blocks[-1].stale()
        self._soft_tainted = None
        self._by_name = None

    def remove(self, ni: NodeInfo) -> None:
        i = ni.index
        del self.nodes[i]
        ni.index = -1
        for j in range(i, len(self.nodes)):
            self.nodes[j].index = j
        del self.blocks[(len(self.nodes) + BLOCK_SIZE - 1) // BLOCK_SIZE:]
        for blk in self.blocks[i // BLOCK_SIZE:]:
            blk.stale()
        self._soft_tainted = None
        self._by_name = None

    def node_changed(self, ni: NodeInfo) -> None:
        if ni.index >= 0:
            self.blocks[ni.index // BLOCK_SIZE].stale()
            self._soft_tainted = None

    def pod_added(self, ni: NodeInfo, p: PodInfo) -> None:
        if ni.index >= 0:
            self.blocks[ni.index // BLOCK_SIZE].pod_added(ni, p)

    def pod_removed(self, ni: NodeInfo) -> None:
        if ni.index >= 0:
            self.blocks[ni.index // BLOCK_SIZE].stale()


@runtime_checkable
class FilterPlugin(Protocol):
    """A filter may also have ``block_filter(pod, block) -> bool``: true when every node
    of the run passes (false: ask each node); the cycle then takes the run whole."""

    name: ClassVar[str]

    def relevant(self, pod: PodInfo) -> bool:
        """False when this filter can never reject this pod, so the cycle skips it."""
        ...

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status: ...


@runtime_checkable
class ScorePlugin(Protocol):
    """Optional marks a score plugin may carry for the cycle's fast path:
    ``memoizable = True``: the score depends only on the node's state and the pod's
    non-zero cpu and memory requests, and ``normalize`` does nothing;
    ``spread_by_owner = True``: the raw score is the node's count of pods of the pod's
    owner, normalized as DefaultNormalizeScore reversed;
    ``constant_on(pod, snapshot) -> bool``: every node of the snapshot scores the same."""

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
    """One scheduling profile: ordered filters, weighted scores, the node-sampling state.

    ``fast`` (the default) lets a cycle take whole runs of the snapshot through the filters
    and the scores by their ``Block`` summaries where the plugins allow it; the result is
    the same as asking every node (the tests compare the two).
    """

    def __init__(self, filters: Sequence[FilterPlugin],
                 scores: Sequence[tuple[ScorePlugin, int]],
                 percentage_of_nodes_to_score: int = DEFAULT_PERCENTAGE_OF_NODES_TO_SCORE,
                 fast: bool = True) -> None:
        self.filters = list(filters)
        self.scores = [(p, w) for p, w in scores if w > 0]
        self.percentage = percentage_of_nodes_to_score
        self.next_start_index = 0
        self.fast = fast
        # pod shapes (non-zero cpu, memory) -> small ints, the per-node memo's keys; ids
        # are unique across profiles (the memo is per node, the weights per profile)
        self._shapes: dict[tuple[int, int], int] = {}

    def _filter_named(self, pod: PodInfo, named: list[NodeInfo],
                      filters: Sequence[Callable[[PodInfo, NodeInfo], Status]]
                      ) -> ScheduleResult | None:
        """The PreFilter result's one feasible node, else None (none, or several to score
        on the usual path)."""
        feasible = [ni for ni in named if all(_passes(f(pod, ni)) for f in filters)]
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, len(named), 1)
        return None

    def schedule(self, pod: PodInfo, nodes: Sequence[NodeInfo] | NodeSnapshot
                 ) -> ScheduleResult:
        """Filter (from a rotating start, stopping after enough fits), score, pick the best.

        Ties go to the node evaluated first: deterministic, and since the start rotates
        they still spread over equal nodes.
        """
        snap = nodes if isinstance(nodes, NodeSnapshot) else NodeSnapshot.of(nodes)
        nl = snap.nodes
        n = len(nl)
        if n == 0:
            return ScheduleResult(None, 0, 0, ERR_NO_NODES_AVAILABLE)
        want = num_feasible_nodes_to_find(n, self.percentage)
        relevant = [f for f in self.filters if f.relevant(pod)]
        filters = [f.filter for f in relevant]
        block_filters: list[Callable[[PodInfo, Block], bool]] | None = None
        if self.fast:
            bfs = [getattr(f, "block_filter", None) for f in relevant]
            block_filters = [bf for bf in bfs if bf is not None]
            if len(block_filters) != len(bfs):
                block_filters = None
        if pod.node_names is not None:
            # only the named nodes can pass NodeAffinity: filter those (when none fits,
            # every node is evaluated below so that the failure message counts them all;
            # several that fit are scored there too)
            named = snap.named(pod.node_names) if self.fast else \
                [ni for ni in nl if ni.name in pod.node_names]
            result = self._filter_named(pod, named, filters)
            if result is not None:
                return result
        start = self.next_start_index % n
        # the feasible nodes as runs [i, j) of the snapshot, in the order evaluated
        runs: list[list[int]] = []
        statuses: dict[str, Status] = {}
        found = 0
        evaluated = 0
        ok = OK
        while evaluated < n and found < want:
            i = start + evaluated
            if i >= n:
                i -= n
            # to the end of i's run, without passing the end of the list or the start
            stop = min((i // BLOCK_SIZE + 1) * BLOCK_SIZE, n, i + n - evaluated)
            if block_filters is not None:
                blk = snap.block(i // BLOCK_SIZE)
                if all(bf(pod, blk) for bf in block_filters):
                    take = min(stop - i, want - found)
                    if runs and runs[-1][1] == i:
                        runs[-1][1] = i + take
                    else:
                        runs.append([i, i + take])
                    found += take
                    evaluated += take
                    continue
            # The hot loop of a run that is not passed whole. ``st is ok`` first: a
            # passing filter returns the OK singleton, so the common case costs one
            # identity check.
            for j in range(i, stop):
                ni = nl[j]
                evaluated += 1
                for f in filters:
                    st = f(pod, ni)
                    if st is not ok and st.reasons:
                        statuses[ni.name] = st
                        break
                else:
                    if runs and runs[-1][1] == j:
                        runs[-1][1] = j + 1
                    else:
                        runs.append([j, j + 1])
                    found += 1
                    if found >= want:
                        break
        self.next_start_index = (start + evaluated) % n
        if not found:
            return ScheduleResult(None, evaluated, 0, fit_error_message(n, statuses.values()),
                                  statuses)
        if found == 1:
            return ScheduleResult(nl[runs[0][0]].name, evaluated, 1)
        active = [(p, w) for p, w in self.scores if p.relevant(pod)]
        if not active:
            return ScheduleResult(nl[runs[0][0]].name, evaluated, found)
        if self.fast:
            best = self._score_fast(pod, snap, runs, active)
            if best is not None:
                return ScheduleResult(best.name, evaluated, found)
        feasible: list[NodeInfo] = []
        for i, j in runs:
            feasible.extend(nl[i:j])
        return ScheduleResult(self._score(pod, feasible, active).name, evaluated, found)

    @staticmethod
    def _score(pod: PodInfo, feasible: list[NodeInfo],
               active: list[tuple[ScorePlugin, int]]) -> NodeInfo:
        """Every plugin scores every feasible node; the first of the best totals wins."""
        totals: list[int] | None = None
        for plugin, weight in active:
            raw = plugin.score_all(pod, feasible)
            plugin.normalize(pod, raw)
            if totals is None:
                totals = [s * weight for s in raw] if weight != 1 else raw
            elif weight == 1:
                totals = [a + b for a, b in zip(totals, raw, strict=True)]
            else:
                totals = [a + b * weight for a, b in zip(totals, raw, strict=True)]
        assert totals is not None
        # max() keeps the first of equal maxima: the node evaluated first wins a tie
        return feasible[max(range(len(feasible)), key=totals.__getitem__)]

    def _score_fast(self, pod: PodInfo, snap: NodeSnapshot, runs: list[list[int]],
                    active: list[tuple[ScorePlugin, int]]) -> NodeInfo | None:
        """The same choice as ``_score`` when every active plugin is memoizable, spreads by
        owner, or is constant on the snapshot (None otherwise: the caller scores as usual).

        Scores that depend only on a node's state and the pod's requests are remembered per
        node until the node changes; a run passed whole remembers its best total until one
        of its nodes changes. So a cycle computes scores only for the nodes (and runs) that
        changed since a pod of the same shape looked at them, which keeps its cost nearly
        flat as the cluster grows. Constant scores shift every total alike and are left out.
        """
        memo: list[tuple[ScorePlugin, int]] = []
        spread_weight = 0
        for p, w in active:
            if getattr(p, "memoizable", False):
                memo.append((p, w))
            elif getattr(p, "spread_by_owner", False) and not spread_weight:
                spread_weight = w
            else:
                constant_on = getattr(p, "constant_on", None)
                if constant_on is None or not constant_on(pod, snap):
                    return None
        nl = snap.nodes
        uid = pod.owner_uid or ""
        top = 0  # the most pods of the owner on one feasible node
        if spread_weight:
            for i, j in runs:
                for lo, hi, b in _pieces(i, j, len(nl)):
                    if b >= 0:
                        blk = snap.blocks[b]
                        m = blk.owner_max.get(uid)
                        if m is None:
                            m = blk.owner_max[uid] = max(
                                ni.owner_counts.get(uid, 0) for ni in nl[lo:hi])
                    else:
                        m = max(ni.owner_counts.get(uid, 0) for ni in nl[lo:hi])
                    if m > top:
                        top = m
        shape = (pod.nz_cpu, pod.nz_memory)
        mk = self._shapes.get(shape)
        if mk is None:
            mk = self._shapes[shape] = next(_SHAPES)
        bkey: tuple[object, ...] = (mk, uid, top) if top else (mk,)

        def totals(nodes: list[NodeInfo]) -> list[int]:
            vals = [ni.score_memo.get(mk) for ni in nodes]
            if None in vals:
                for k, ni in enumerate(nodes):
                    if vals[k] is None:
                        v = 0
                        for p, w in memo:
                            v += w * p.score(pod, ni)
                        node_memo = ni.score_memo
                        if len(node_memo) >= _MEMO_LIMIT:
                            node_memo.clear()
                        node_memo[mk] = vals[k] = v
            out: list[int] = vals  # type: ignore[assignment]  # no None left
            if top:
                sw, mx = spread_weight, MAX_NODE_SCORE
                out = [v + sw * (mx - mx * ni.owner_counts.get(uid, 0) // top)
                       for v, ni in zip(out, nodes, strict=True)]
            return out

        best: NodeInfo | None = None
        best_total = -1
        for i, j in runs:
            for lo, hi, b in _pieces(i, j, len(nl)):
                if b >= 0:
                    blk = snap.blocks[b]
                    changed = blk.changed
                    hit = blk.best.get(bkey)
                    if hit is None:
                        hit = blk.best[bkey] = _RunScores(totals(nl[lo:hi]), len(changed))
                    elif hit.seen < len(changed):
                        # rescore only the nodes that got a pod since; the rest stand
                        since = sorted(set(changed[hit.seen:]))
                        hit.patch(since, totals([nl[lo + c] for c in since]), len(changed))
                    if hit.best > best_total:
                        best_total = hit.best
                        best = nl[lo + hit.offset]
                else:
                    part = nl[lo:hi]
                    ts = totals(part)
                    t = max(ts)
                    if t > best_total:
                        best_total = t
                        best = part[ts.index(t)]
        return best


_SHAPES = itertools.count()


def _pieces(i: int, j: int, n: int) -> Iterator[tuple[int, int, int]]:
    """[i, j) cut at run boundaries: (lo, hi, run number) for a whole run, (lo, hi, -1)
    for part of one."""
    while i < j:
        b = i // BLOCK_SIZE
        lo = b * BLOCK_SIZE
        hi = min(lo + BLOCK_SIZE, n)
        if i == lo and hi <= j:
            yield lo, hi, b
            i = hi
        else:
            end = min(hi, j)
            yield i, end, -1
            i = end
