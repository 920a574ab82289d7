"""NetworkPolicies (networking.k8s.io/v1, pkg/registry/networking/networkpolicy/strategy.go):
no status, a generation that counts spec changes; the Table row is printNetworkPolicy's
(NAME, POD-SELECTOR, AGE)."""

from __future__ import annotations

from datetime import datetime

from api.printers import format_label_selector
from apiserver.strategies.base import AGE, NAME, JSONDict, Row, Strategy, age_of, column, name_of


class NetworkPolicyStrategy(Strategy):
    has_generation = True
    columns = [NAME,
               column("Pod-Selector", description="podSelector selects the pods to which "
                      "this NetworkPolicy object applies. The array of rules is applied to "
                      "any pods selected by this field. An empty selector matches all pods "
                      "in the policy's namespace."),
               AGE]

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        spec = obj.get("spec") or {}
        return [name_of(obj), format_label_selector(spec.get("podSelector") or {}),
                age_of(obj, now)], []
