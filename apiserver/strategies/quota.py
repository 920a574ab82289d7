"""ResourceQuotas (pkg/registry/core/resourcequota/strategy.go: a new quota starts
without status, which the resourcequota controller fills; status only through /status)
and LimitRanges (pkg/registry/core/limitrange); Tables as printers.go prints them
(printResourceQuota: REQUEST and LIMIT as ``name: used/hard``; printLimitRange: CREATED AT)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.base import dig
from apiserver.strategies.base import (
    _AGE_DOC,
    AGE,
    NAME,
    JSONDict,
    Row,
    Strategy,
    age_of,
    column,
    name_of,
)


def _resource_rank(name: str) -> tuple[int, str]:
    # SortableResourceNames: plain lexical order.
    return (0, name)


def quota_columns(obj: JSONDict) -> tuple[str, str]:
    """(REQUEST, LIMIT): ``resource: used/hard`` for each hard resource; those named
    ``limits.*`` in LIMIT."""
    status = obj.get("status") or {}
    hard: dict[str, Any] = status.get("hard") or {}
    used: dict[str, Any] = status.get("used") or {}
    req: list[str] = []
    lim: list[str] = []
    for r in sorted(hard, key=_resource_rank):
        w = lim if r.split(".")[0] == "limits" and "." in r else req
        w.append(f"{r}: {used.get(r, '0')}/{hard[r]}")
    return ", ".join(req), ", ".join(lim)


class ResourceQuotaStrategy(Strategy):
    status_subresource = True
    columns = [NAME, AGE,
               column("Request", description="Request represents a minimum amount of "
                                             "cpu/memory that a container may consume."),
               column("Limit", description="Limits control the maximum amount of cpu/memory "
                                           "that a container may use independent of "
                                           "contention on the node.")]

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        obj.pop("status", None)

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        request, limit = quota_columns(obj)
        return [name_of(obj), age_of(obj, now), request, limit], []


def default_limit_range(obj: JSONDict) -> None:
    """SetDefaults_LimitRangeItem: for a Container item, the default limit falls back to
    max, the default request to the default limit, then to min."""
    spec = obj.get("spec")
    for item in (spec.get("limits") if isinstance(spec, dict) else None) or []:
        if not isinstance(item, dict) or item.get("type") != "Container":
            continue
        dflt = dict(item.get("default") or {})
        dreq = dict(item.get("defaultRequest") or {})
        for k, v in (item.get("max") or {}).items():
            dflt.setdefault(k, v)
        for k, v in dflt.items():
            dreq.setdefault(k, v)
        for k, v in (item.get("min") or {}).items():
            dreq.setdefault(k, v)
        if dflt:
            item["default"] = dflt
        if dreq:
            item["defaultRequest"] = dreq


class LimitRangeStrategy(Strategy):
    columns = [NAME, column("Created At", "date", description=_AGE_DOC)]

    def default(self, obj: JSONDict) -> None:
        super().default(obj)
        try:
            default_limit_range(obj)
        except (AttributeError, TypeError):
            pass  # validation names what is wrong

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        return [name_of(obj), dig(obj, "metadata", "creationTimestamp") or ""], []
