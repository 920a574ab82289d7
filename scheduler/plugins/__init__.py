"""The built-in plugins and the default profile: filters in kube-scheduler's order, scores
with their default weights."""

from __future__ import annotations

from collections.abc import Mapping

from scheduler.framework import (
    DEFAULT_PERCENTAGE_OF_NODES_TO_SCORE,
    FilterPlugin,
    Framework,
    ScorePlugin,
)
from scheduler.plugins.balanced_allocation import BalancedAllocation
from scheduler.plugins.least_allocated import LeastAllocated
from scheduler.plugins.node_affinity import NodeAffinity, NodeAffinityScore
from scheduler.plugins.node_ports import NodePorts
from scheduler.plugins.node_resources_fit import NodeResourcesFit
from scheduler.plugins.node_unschedulable import NodeUnschedulable
from scheduler.plugins.selector_spread import SelectorSpread
from scheduler.plugins.taint_toleration import TaintToleration, TaintTolerationScore
from scheduler.plugins.volume_binding import VolumeBinding

FILTERS: tuple[type[FilterPlugin], ...] = (
    NodeUnschedulable, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit,
    VolumeBinding,
)
SCORES: dict[str, type[ScorePlugin]] = {
    LeastAllocated.name: LeastAllocated,
    BalancedAllocation.name: BalancedAllocation,
    SelectorSpread.name: SelectorSpread,
    NodeAffinityScore.name: NodeAffinityScore,
    TaintTolerationScore.name: TaintTolerationScore,
}
DEFAULT_WEIGHTS: dict[str, int] = {
    LeastAllocated.name: 1,
    BalancedAllocation.name: 1,
    SelectorSpread.name: 2,
    NodeAffinityScore.name: 2,
    TaintTolerationScore.name: 3,
}


def default_framework(weights: Mapping[str, int] | None = None,
                      percentage_of_nodes_to_score: int = DEFAULT_PERCENTAGE_OF_NODES_TO_SCORE
                      ) -> Framework:
    """The default profile; ``weights`` overrides score weights by plugin name (0 disables)."""
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    unknown = set(w) - set(SCORES)
    if unknown:
        raise ValueError(f"unknown score plugin(s): {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(sorted(SCORES))}")
    return Framework([f() for f in FILTERS],
                     [(SCORES[name](), weight) for name, weight in w.items()],
                     percentage_of_nodes_to_score)


__all__ = [
    "DEFAULT_WEIGHTS", "FILTERS", "SCORES", "BalancedAllocation", "LeastAllocated",
    "NodeAffinity", "NodeAffinityScore", "NodePorts", "NodeResourcesFit", "NodeUnschedulable", "SelectorSpread",
    "TaintToleration", "TaintTolerationScore", "VolumeBinding", "default_framework",
]
