"""Leases (coordination.k8s.io, pkg/registry/coordination/lease/strategy.go): the
default rules; the Table shows the holder."""

from __future__ import annotations

from datetime import datetime

from api.base import dig
from apiserver.strategies.base import AGE, NAME, JSONDict, Row, Strategy, age_of, column, name_of


class LeaseStrategy(Strategy):
    columns = [NAME, column("Holder", description="The holder of the lease."), AGE]

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        return [name_of(obj), dig(obj, "spec", "holderIdentity") or "", age_of(obj, now)], []
