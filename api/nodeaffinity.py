"""Node selector terms matched against a node, as k8s.io/component-helpers/scheduling/corev1/
nodeaffinity does it; shared, as there, by the scheduler's NodeAffinity plugin and the
DaemonSet controller's nodeShouldRunDaemonPod.

Terms are ORed, the requirements inside a term ANDed; a term with no requirements matches
nothing; an unknown operator never matches; matchFields supports metadata.name only
(metav1.ObjectNameField, the one field Kubernetes allows there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from api.models import NodeSelectorRequirement, NodeSelectorTerm

OBJECT_NAME_FIELD = "metadata.name"  # metav1.ObjectNameField


def _as_int(s: str) -> int | None:
    try:
        return int(s)
    except ValueError:
        return None


def requirement_matches(req: NodeSelectorRequirement, labels: Mapping[str, str]) -> bool:
    """A matchExpressions requirement against the node's labels (labels.Requirement.Matches)."""
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
    return False


def field_matches(req: NodeSelectorRequirement, node_name: str) -> bool:
    """A matchFields requirement: metadata.name In / NotIn."""
    if req.key != OBJECT_NAME_FIELD:
        return False
    values = req.values or []
    if req.operator == "In":
        return node_name in values
    if req.operator == "NotIn":
        return node_name not in values
    return False


def term_matches(term: NodeSelectorTerm, labels: Mapping[str, str], node_name: str) -> bool:
    exprs = term.match_expressions or ()
    fields = term.match_fields or ()
    if not exprs and not fields:
        return False
    return all(requirement_matches(r, labels) for r in exprs) and \
        all(field_matches(r, node_name) for r in fields)


def terms_match(terms: Sequence[NodeSelectorTerm], labels: Mapping[str, str],
                node_name: str) -> bool:
    return any(term_matches(t, labels, node_name) for t in terms)
