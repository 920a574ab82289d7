"""PodDisruptionBudgets (policy/v1, pkg/registry/policy/poddisruptionbudget/strategy.go):
status subresource and generation; a new budget starts with an empty status; the Table as
printers.go's printPodDisruptionBudget."""

from __future__ import annotations

from datetime import datetime

from apiserver.strategies.base import AGE, NAME, JSONDict, Row, Strategy, age_of, column, name_of


class PodDisruptionBudgetStrategy(Strategy):
    status_subresource = True
    has_generation = True
    columns = [NAME,
               column("Min Available", description="The minimum number of pods that must be "
                      "available."),
               column("Max Unavailable", description="The maximum number of pods that may be "
                      "unavailable."),
               column("Allowed Disruptions", "integer", description="Calculated number of "
                      "pods that may be disrupted at this time."),
               AGE]

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
                         "expectedPods": 0}

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        mn, mx = spec.get("minAvailable"), spec.get("maxUnavailable")
        return [name_of(obj), "N/A" if mn is None else str(mn),
                "N/A" if mx is None else str(mx), int(status.get("disruptionsAllowed") or 0),
                age_of(obj, now)], []
