"""HorizontalPodAutoscalers (pkg/registry/autoscaling/horizontalpodautoscaler/strategy.go):
a status subresource and a generation; create starts the status empty. The Table is
printHorizontalPodAutoscaler (pkg/printers/internalversion/printers.go) with kubectl 1.37's
TARGETS (``cpu: 50%/80%``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.models.autoscaling import default_hpa
from apiserver.strategies.base import AGE, NAME, JSONDict, Row, Strategy, age_of, column, name_of


def _current(statuses: list[Any], i: int, source: str) -> JSONDict | None:
    if len(statuses) > i and isinstance(statuses[i], dict):
        st = statuses[i].get(source)
        if isinstance(st, dict):
            cur = st.get("current")
            return cur if isinstance(cur, dict) else {}
    return None


def format_hpa_metrics(specs: list[Any], statuses: list[Any]) -> str:
    """formatHPAMetrics: at most two targets as ``name: current/target``, then ``+ N more...``."""
    if not specs:
        return "<none>"
    out: list[str] = []
    for i, spec in enumerate(specs):
        spec = spec if isinstance(spec, dict) else {}
        t = spec.get("type")
        source = {"Resource": "resource", "ContainerResource": "containerResource",
                  "Pods": "pods", "Object": "object", "External": "external"}.get(str(t))
        src = spec.get(source) if source else None
        if not isinstance(src, dict):
            out.append("<unknown type>")
            continue
        raw_target = src.get("target")
        target: JSONDict = raw_target if isinstance(raw_target, dict) else {}
        cur = _current(statuses, i, source or "")
        if t in ("Resource", "ContainerResource"):
            if target.get("averageValue") is not None:
                current = str((cur or {}).get("averageValue") or "<unknown>") \
                    if cur is not None else "<unknown>"
                out.append(f"{src.get('name')}: {current}/{target['averageValue']}")
            else:
                current = "<unknown>"
                if cur is not None and cur.get("averageUtilization") is not None:
                    current = f"{cur['averageUtilization']}%"
                tgt = "<auto>"
                if target.get("averageUtilization") is not None:
                    tgt = f"{target['averageUtilization']}%"
                out.append(f"{src.get('name')}: {current}/{tgt}")
        elif t == "Pods":
            current = str((cur or {}).get("averageValue") or "<unknown>")
            out.append(f"{current}/{target.get('averageValue')}")
        elif target.get("averageValue") is not None:
            current = str((cur or {}).get("averageValue") or "<unknown>")
            out.append(f"{current}/{target['averageValue']} (avg)")
        else:
            current = str((cur or {}).get("value") or "<unknown>")
            out.append(f"{current}/{target.get('value')}")
    if len(out) > 2:
        return f"{', '.join(out[:2])} + {len(out) - 2} more..."
    return ", ".join(out)


class HorizontalPodAutoscalerStrategy(Strategy):
    status_subresource = True
    has_generation = True
    columns = [NAME,
               column("Reference", description="scaleTargetRef points to the target resource "
                      "to scale, and is used to the pods for which metrics should be "
                      "collected, as well as to actually change the replica count."),
               column("Targets", description="metrics contains the specifications for which "
                      "to use to calculate the desired replica count (the maximum replica "
                      "count across all metrics will be used)."),
               column("MinPods", description="minReplicas is the lower limit for the number "
                      "of replicas to which the autoscaler can scale down."),
               column("MaxPods", "integer", description="maxReplicas is the upper limit for "
                      "the number of replicas to which the autoscaler can scale up."),
               column("Replicas", "integer", description="currentReplicas is current number "
                      "of replicas of pods managed by this autoscaler, as last seen by the "
                      "autoscaler."),
               AGE]

    def default(self, obj: JSONDict) -> None:
        # SetDefaults_HorizontalPodAutoscaler lives beside the model (clients share it).
        super().default(obj)
        try:
            default_hpa(obj)
        except (TypeError, AttributeError, ValueError, KeyError):
            pass  # defaulting assumes the right shapes; validation names what is wrong

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"desiredReplicas": 0}

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        ref = spec.get("scaleTargetRef") or {}
        mn = spec.get("minReplicas")
        return [name_of(obj), f"{ref.get('kind', '')}/{ref.get('name', '')}",
                format_hpa_metrics(spec.get("metrics") or [], status.get("currentMetrics") or []),
                "<unset>" if mn is None else str(mn), int(spec.get("maxReplicas") or 0),
                int(status.get("currentReplicas") or 0), age_of(obj, now)], []
