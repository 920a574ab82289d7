"""NodeAffinity: spec.nodeSelector and required node affinity (nodeSelectorTerms).

Terms are ORed, the requirements inside a term ANDed; a term with no requirements
matches nothing (as in Kubernetes). matchFields supports metadata.name only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from api.models import NodeSelectorRequirement, NodeSelectorTerm
from scheduler.framework import OK, NodeInfo, PodInfo, Status, default_normalize

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"

_FAIL = Status.fail(ERR_REASON_POD)


def _as_int(s: str) -> int | None:
    try:
        return int(s)
    except ValueError:
        return None


def requirement_matches(req: NodeSelectorRequirement, labels: dict[str, str]) -> bool:
    op = req.operator
    values = req.values or []
    if op == "In":
        return req.key in labels and labels[req.key] in values
    if op == "NotIn":
        return req.key not in labels or labels[req.key] not in values
    if op == "Exists":
        return req.key in labels
    if op == "DoesNotExist":
        return req.key not in labels
    if op in ("Gt", "Lt"):
        if req.key not in labels or len(values) != 1:
            return False
        have, want = _as_int(labels[req.key]), _as_int(values[0])
        if have is None or want is None:
            return False
        return have > want if op == "Gt" else have < want
    return False  # an unknown operator never matches


def _field_matches(req: NodeSelectorRequirement, node_name: str) -> bool:
    if req.key != "metadata.name":
        return False
    values = req.values or []
    if req.operator == "In":
        return node_name in values
    if req.operator == "NotIn":
        return node_name not in values
    return False


def term_matches(term: NodeSelectorTerm, labels: dict[str, str], node_name: str) -> bool:
    exprs = term.match_expressions or ()
    fields = term.match_fields or ()
    if not exprs and not fields:
        return False
    return all(requirement_matches(r, labels) for r in exprs) and \
        all(_field_matches(r, node_name) for r in fields)


def terms_match(terms: Sequence[NodeSelectorTerm], labels: dict[str, str], node_name: str) -> bool:
    return any(term_matches(t, labels, node_name) for t in terms)


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
