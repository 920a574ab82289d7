"""The ClusterRole aggregation controller (pkg/controller/clusterroleaggregation): a
ClusterRole with an ``aggregationRule`` gets, as its rules, the rules of every other
ClusterRole its selectors match (in name order, duplicates once).

Any ClusterRole change enqueues every aggregating ClusterRole, as Kubernetes does: an
added, changed or removed role may be picked by any selector. ``reconcile`` writes the
rules only when they differ, so a settled cluster costs no writes.
"""

from __future__ import annotations

import logging
from typing import Any

from api.labels import SelectorError, from_label_selector
from api.models.rbac import ClusterRole, PolicyRule
from client import AsyncClient
from client.cache import meta_key
from client.controller import Controller, Result
from controllers.context import ControllerContext, retry_conflicts

log = logging.getLogger(__name__)


def aggregated_rules(role: ClusterRole, roles: list[ClusterRole]) -> list[PolicyRule]:
    """The rules of the ClusterRoles ``role``'s selectors match, each once."""
    rules: list[PolicyRule] = []
    seen: list[dict[str, Any]] = []
    agg = role.aggregation_rule
    for sel in (agg.cluster_role_selectors if agg else None) or []:
        try:
            selector = from_label_selector(sel)
        except SelectorError:
            continue
        for other in sorted(roles, key=lambda r: r.metadata.name or ""):
            if other.metadata.name == role.metadata.name:
                continue
            if not selector.matches(other.metadata.labels or {}):
                continue
            for r in other.rules or []:
                wire = r.to_dict()
                if wire not in seen:
                    seen.append(wire)
                    rules.append(r)
    return rules


class ClusterRoleAggregationController:
    name = "clusterrole-aggregation"

    def __init__(self, ctx: ControllerContext, workers: int = 5) -> None:
        self.client: AsyncClient = ctx.client
        self.informer = ctx.factory.informer(ClusterRole)
        self.store = self.informer.store
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        self.informer.add_handler(lambda _o: self._enqueue_all(),
                                  lambda _o, _n: self._enqueue_all(),
                                  lambda _o: self._enqueue_all())

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    def _enqueue_all(self) -> None:
        for role in self.store.list():
            if role.aggregation_rule is not None:
                self.controller.enqueue(meta_key(role))

    async def reconcile(self, key: str) -> Result | None:
        role = self.store.get(key)
        if role is None or role.aggregation_rule is None:
            return None
        rules = aggregated_rules(role, self.store.list())
        if [r.to_dict() for r in rules] == [r.to_dict() for r in role.rules or []]:
            return None
        new = role.copy_deep()
        new.rules = rules
        await self.client.update(new)
        log.info("aggregated %d rules into clusterrole %s", len(rules), role.metadata.name)
        return None
