"""``minictl describe`` of ResourceQuota and LimitRange, as kubectl's ResourceQuotaDescriber
(the scopes with their help text, then ``Resource  Used  Hard`` for each hard resource,
used in the hard value's format) and LimitRangeDescriber (one line per resource of each
limit: Min, Max, Default Request, Default Limit, Max Limit/Request Ratio; ``-`` for
none). kubectl walks a Go map there, so its line order within a limit varies; here it is
sorted."""

from __future__ import annotations

from typing import Any

from api.models.core import TypedObject
from api.models.quota import LimitRange, ResourceQuota
from api.quantity import QuantityError, canonical, format_quantity, parse_quantity, quantity_format
from cli.context import State
from cli.describe import EXTRA_DESCRIBERS, tabwrite

SCOPE_HELP = {
    "Terminating": "Matches all pods that have an active deadline. These pods have a limited "
                   "lifespan on a node before being actively terminated by the system.",
    "NotTerminating": "Matches all pods that do not have an active deadline. These pods "
                      "usually include long running pods whose container command is not "
                      "expected to terminate.",
    "BestEffort": "Matches all pods that do not have resource requirements set. These pods "
                  "have a best effort quality of service.",
    "NotBestEffort": "Matches all pods that have at least one resource requirement set. "
                     "These pods have a burstable or guaranteed quality of service.",
}


def _c(v: Any) -> str:
    try:
        return canonical(v)
    except (QuantityError, TypeError, ValueError):
        return str(v)


def _used_like(used: Any, hard: Any) -> str:
    """Used printed in the hard value's format (usedQuantity re-made in hardQuantity.Format)."""
    try:
        fmt = quantity_format(str(hard))
        return format_quantity(parse_quantity(used if used is not None else "0"), fmt)
    except (QuantityError, TypeError, ValueError):
        return str(used)


def describe_quota(st: State, obj: TypedObject) -> str:
    assert isinstance(obj, ResourceQuota)
    d = obj.to_dict()
    lines = [f"Name:\t{obj.metadata.name}", f"Namespace:\t{obj.metadata.namespace}"]
    spec = d.get("spec") or {}
    scopes = sorted(str(s) for s in spec.get("scopes") or [])
    if scopes:
        lines.append(f"Scopes:\t{', '.join(scopes)}")
        lines += [f" * {SCOPE_HELP[s]}" for s in scopes if s in SCOPE_HELP]
    sel = (spec.get("scopeSelector") or {}).get("matchExpressions") or []
    if sel:
        lines.append("Scope Selector:\t")
        for e in sel:
            vals = e.get("values") or []
            lines.append(f"  * {e.get('scopeName')} {e.get('operator')}"
                         + (f" [{' '.join(vals)}]" if vals else ""))
    lines += ["Resource\tUsed\tHard", "--------\t----\t----"]
    status = d.get("status") or {}
    hard = status.get("hard") or {}
    used = status.get("used") or {}
    for r in sorted(hard):
        lines.append(f"{r}\t{_used_like(used.get(r), hard[r])}\t{_c(hard[r])}")
    return tabwrite("\n".join(lines)) + "\n"


def describe_limitrange(st: State, obj: TypedObject) -> str:
    assert isinstance(obj, LimitRange)
    d = obj.to_dict()
    lines = [f"Name:\t{obj.metadata.name}", f"Namespace:\t{obj.metadata.namespace}",
             "Type\tResource\tMin\tMax\tDefault Request\tDefault Limit\t"
             "Max Limit/Request Ratio",
             "----\t--------\t---\t---\t---------------\t-------------\t"
             "-----------------------"]
    for item in (d.get("spec") or {}).get("limits") or []:
        fields = [item.get(f) or {} for f in ("min", "max", "defaultRequest", "default",
                                              "maxLimitRequestRatio")]
        names = sorted(set().union(*[set(f) for f in fields]))
        for r in names:
            cells = [_c(f[r]) if r in f else "-" for f in fields]
            lines.append("\t".join([str(item.get("type")), r, *cells]))
    return tabwrite("\n".join(lines)) + "\n"


EXTRA_DESCRIBERS.update({ResourceQuota: describe_quota, LimitRange: describe_limitrange})
