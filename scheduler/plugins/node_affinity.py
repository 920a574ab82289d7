"""NodeAffinity: spec.nodeSelector and required node affinity (nodeSelectorTerms).

Terms are ORed, the requirements inside a term ANDed; a term with no requirements
matches nothing (as in Kubernetes). matchFields supports metadata.name only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from api.nodeaffinity import term_matches, terms_match
from scheduler.framework import OK, NodeInfo, PodInfo, Status, default_normalize

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"

_FAIL = Status.fail(ERR_REASON_POD)


class NodeAffinity:
    name: ClassVar[str] = "NodeAffinity"

    def relevant(self, pod: PodInfo) -> bool:
        return bool(pod.node_selector) or pod.affinity_terms is not None

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        labels = node.labels
        for k, v in pod.node_selector.items():
            if labels.get(k) != v:
                return _FAIL
        if pod.affinity_terms is not None and \
                not terms_match(pod.affinity_terms, labels, node.name):
            return _FAIL
        return OK


class NodeAffinityScore:
    """Preferred node affinity: the sum of the weights of the preferred terms a node matches."""

    name: ClassVar[str] = "NodeAffinity"

    def relevant(self, pod: PodInfo) -> bool:
        return bool(pod.preferred_terms)

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        labels = node.labels
        return sum(w for w, term in pod.preferred_terms if term_matches(term, labels, node.name))

    def score_all(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        score = self.score
        return [score(pod, n) for n in nodes]

    def normalize(self, pod: PodInfo, scores: list[int]) -> None:
        default_normalize(scores)
