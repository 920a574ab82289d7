"""The scheduler's cache: every node with the pods counted on it, bound and assumed.

"Assume" puts a pod on the chosen node at once, before its binding is even sent, so
the next cycle (microseconds later) already sees the node's resources taken; the
binding then goes out asynchronously. If the binding fails the assumption is
forgotten; when the pod informer shows the pod with spec.nodeName the assumption is
confirmed by the real thing.

All of this runs on one event loop thread and a scheduling cycle never awaits, so the
cycle reads the live NodeInfos with no snapshot copy: ``snapshot`` is updated in place,
each change marking only the run of nodes it touched (kube-scheduler's generation-based
incremental UpdateSnapshot, without a per-cycle copy).
"""

from __future__ import annotations

from api.models import Node
from scheduler.framework import NodeInfo, NodeSnapshot, PodInfo


class SchedulerCache:
    def __init__(self) -> None:
        # Nodes whose Node object was deleted while pods still count on them stay
        # here ("ghosts"), out of ``node_list``, until their pods are gone.
        self.nodes: dict[str, NodeInfo] = {}
        self.snapshot = NodeSnapshot()  # the schedulable nodes, in the order cycles walk
        self._pod_node: dict[str, str] = {}  # pod key -> node it counts on
        self._assumed: dict[str, bool] = {}  # pod key -> binding finished

    @property
    def node_list(self) -> list[NodeInfo]:
        return self.snapshot.nodes

    # ---- nodes ------------------------------------------------------------------

    def add_node(self, node: Node) -> NodeInfo:
        name = node.metadata.name or ""
        ni = self.nodes.get(name)
        if ni is None:
            ni = self.nodes[name] = NodeInfo(name)
        was_listed = ni.node is not None
        ni.set_node(node)
        if was_listed:
            self.snapshot.node_changed(ni)
        else:
            self.snapshot.append(ni)
        return ni

    update_node = add_node

    def remove_node(self, name: str) -> None:
        ni = self.nodes.get(name)
        if ni is None:
            return
        if ni.node is not None:
            self.snapshot.remove(ni)
            ni.node = None
        if not ni.pods:
            del self.nodes[name]

    def node_count(self) -> int:
        return len(self.snapshot.nodes)

    # ---- pods -------------------------------------------------------------------

    def _place(self, info: PodInfo, node_name: str) -> None:
        ni = self.nodes.get(node_name)
        if ni is None:
            ni = self.nodes[node_name] = NodeInfo(node_name)  # a ghost until the node shows
        ni.add_pod(info)
        self.snapshot.pod_added(ni, info)
        self._pod_node[info.key] = node_name

    def _unplace(self, key: str) -> PodInfo | None:
        name = self._pod_node.pop(key, None)
        if name is None:
            return None
        ni = self.nodes.get(name)
        if ni is None:
            return None
        p = ni.remove_pod(key)
        if p is not None:
            self.snapshot.pod_removed(ni)
        if ni.node is None and not ni.pods:
            del self.nodes[name]
        return p

    def assume(self, info: PodInfo, node_name: str) -> None:
        self._unplace(info.key)
        self._place(info, node_name)
        self._assumed[info.key] = False

    def finish_binding(self, key: str) -> None:
        if key in self._assumed:
            self._assumed[key] = True

    def forget(self, key: str, uid: str | None = None) -> None:
        """The binding failed: the pod no longer counts anywhere.

        With ``uid``, only that incarnation is forgotten: a pod deleted and re-created
        under the same name may have been assumed again meanwhile.
        """
        if key not in self._assumed:
            return
        if uid is not None:
            name = self._pod_node.get(key)
            ni = self.nodes.get(name) if name is not None else None
            p = ni.pods.get(key) if ni is not None else None
            if p is not None and p.uid != uid:
                return
        del self._assumed[key]
        self._unplace(key)

    def is_assumed(self, key: str) -> bool:
        return key in self._assumed

    def node_of(self, key: str) -> str | None:
        return self._pod_node.get(key)

    def add_pod(self, info: PodInfo, node_name: str) -> None:
        """A bound pod seen by the informer (new, updated, or confirming an assumption)."""
        self._assumed.pop(info.key, None)
        ni = self.nodes.get(node_name)
        old = ni.pods.get(info.key) if ni is not None else None
        if ni is not None and old is not None and self._pod_node.get(info.key) == node_name \
                and ni.same_footprint(old, info):
            ni.replace_pod(info)  # e.g. the assumption confirmed: the node's sums stay
            return
        self._unplace(info.key)
        self._place(info, node_name)

    update_pod = add_pod

    def remove_pod(self, key: str) -> bool:
        """The pod is gone or finished; true if it counted somewhere."""
        self._assumed.pop(key, None)
        return self._unplace(key) is not None

    def pod_count(self) -> int:
        return len(self._pod_node)

    def assumed_count(self) -> int:
        return len(self._assumed)
