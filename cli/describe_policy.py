"""``minictl describe poddisruptionbudget``, as kubectl's PodDisruptionBudgetDescriber
(describePodDisruptionBudgetV1): the budget (min available or max unavailable), the
selector, the status counts, then the events."""

from __future__ import annotations

from api.models.core import TypedObject
from api.models.policy import PodDisruptionBudget
from cli.context import State
from cli.describe import EXTRA_DESCRIBERS, Writer, _selector, _with_events, events_for


def describe_pdb(st: State, obj: TypedObject) -> str:
    assert isinstance(obj, PodDisruptionBudget)
    w = Writer()
    w.kv(0, "Name", obj.metadata.name)
    w.kv(0, "Namespace", obj.metadata.namespace)
    spec = obj.spec
    if spec.min_available is not None:
        w.kv(0, "Min available", spec.min_available)
    elif spec.max_unavailable is not None:
        w.kv(0, "Max unavailable", spec.max_unavailable)
    w.kv(0, "Selector", _selector(spec.selector) if spec.selector is not None else "")
    status = obj.status
    w.kv(0, "Status")
    w.kv(2, "Allowed disruptions", status.disruptions_allowed if status else 0)
    w.kv(2, "Current", status.current_healthy if status else 0)
    w.kv(2, "Desired", status.desired_healthy if status else 0)
    w.kv(2, "Total", status.expected_pods if status else 0)
    return _with_events(w, events_for(st, obj))


EXTRA_DESCRIBERS.update({PodDisruptionBudget: describe_pdb})
