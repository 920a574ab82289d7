"""The Endpoints controller: one core/v1 Endpoints per selecting Service, named as the
Service, listing its pods' addresses (ready and not ready) per port.

A port of Kubernetes' ``pkg/controller/endpoint/endpoints_controller.go``. Handlers only
enqueue Service keys: a Service event its own key; a pod event the keys of the Services
selecting it (before and after a label change; found through an index of the Service
informer, not a scan), after ``--endpoint-updates-batch-period`` so that a burst of pod
changes becomes one write; the deletion of an Endpoints object its Service (which then
gets it back). ``reconcile`` (syncService) reads the caches, builds the subsets
(``endpoints_util.compute_subsets``: readiness, publishNotReadyAddresses, terminating
pods, named targetPorts per pod, RepackSubsets) and writes only when they, the labels
or the capacity annotation changed.

Services of type ExternalName and Services without a selector are left alone: the
Endpoints of the latter are the user's. When a Service goes, its Endpoints go. At
start-up, Endpoints seen in the first list whose Service is gone are deleted
(checkLeftoverEndpoints), except leader-election records.
"""

from __future__ import annotations

import logging
from typing import Any

from api import wellknown as wk
from api.models import Endpoints, ObjectMeta, Pod, Service
from client import AlreadyExists, AsyncClient, Conflict, NotFound
from client.cache import meta_key, split_key
from client.controller import Controller, Result
from controllers import endpoints_util as eu
from controllers.context import ControllerContext, namespace_terminating, retry_conflicts
from controllers.servicepods import PodServiceHandlers

log = logging.getLogger(__name__)

# resourcelock.LeaderElectionRecordAnnotationKey: Endpoints used as a lock, not a Service's
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"


class EndpointsController:
    name = "endpoints"

    def __init__(self, ctx: ControllerContext, workers: int = 5) -> None:
        self.client: AsyncClient = ctx.client
        self.recorder = ctx.recorder
        self.batch_period = ctx.options.endpoint_updates_batch_period
        self.svc_informer = ctx.factory.informer(Service)
        self.pod_informer = ctx.factory.informer(Pod)
        self.ep_informer = ctx.factory.informer(Endpoints)
        self.services = self.svc_informer.store
        self.pods = self.pod_informer.store
        self.endpoints = self.ep_informer.store
        eu.ensure_index(self.services, eu.SELECTOR_INDEX, eu.selector_index)
        self.writes = eu.WriteTracker()
        self.trigger_times = eu.TriggerTimeTracker()
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        svc = self.controller.enqueue_handlers()
        self.svc_informer.add_handler(svc.on_add, svc.on_update, svc.on_delete)
        pods = PodServiceHandlers(self.services, self.controller, self.batch_period)
        self.pod_informer.add_handler(pods.on_add, pods.on_update, pods.on_delete)
        self.ep_informer.add_handler(self._ep_added, self._ep_updated, self._ep_deleted)

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    # ---- handlers: enqueue only --------------------------------------------------

    def _ep_added(self, ep: Endpoints) -> None:
        key = meta_key(ep)
        self.writes.observed(key, ep.metadata.name or "", ep.metadata.resource_version, False)
        # the first list: leftovers of Services deleted while no controller ran
        if not self.ep_informer.has_synced and key not in self.services and \
                LEADER_ANNOTATION not in (ep.metadata.annotations or {}):
            self.controller.enqueue(key)

    def _ep_updated(self, old: Endpoints, new: Endpoints) -> None:
        self.writes.observed(meta_key(new), new.metadata.name or "",
                             new.metadata.resource_version, False)

    def _ep_deleted(self, ep: Any) -> None:
        if isinstance(ep, Endpoints):
            key = meta_key(ep)
            self.writes.observed(key, ep.metadata.name or "", None, True)
            self.controller.enqueue(key)

    # ---- reconcile (syncService) --------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        ns, name = split_key(key)
        svc = self.services.get(key)
        if svc is None:
            # the Service is gone: so are its Endpoints
            self.trigger_times.delete(key)
            self.writes.forget(key)
            if key in self.endpoints:
                try:
                    await self.client.delete(Endpoints, name, ns)
                except NotFound:
                    pass
            return None
        if svc.spec.type == "ExternalName" or svc.spec.selector is None:
            return None  # no endpoints from us; a selector-less Service's are the user's
        if self.writes.stale(key):
            # our last write is not in the cache yet: look again once it is
            return Result(requeue_after=0.05)

        pods = eu.pods_for_service(self.pods, svc)
        trigger = self.trigger_times.compute(key, svc, pods)
        subsets, counts = eu.compute_subsets(svc, pods)
        current = self.endpoints.get(key)
        svc_labels = dict(svc.metadata.labels or {})
        if current is not None:
            have = {k: v for k, v in (current.metadata.labels or {}).items()
                    if k != wk.IS_HEADLESS_SERVICE_LABEL}
            annotations = current.metadata.annotations or {}
            capacity_ok = (eu.count_addresses(current.subsets) <= eu.MAX_CAPACITY
                           and wk.ENDPOINTS_OVER_CAPACITY_ANNOTATION not in annotations)
            if (eu.subsets_equal(current.subsets, subsets) and have == svc_labels
                    and capacity_ok):
                return None
            new = current.copy_deep()
        else:
            new = Endpoints(metadata=ObjectMeta(name=name, namespace=ns))

        new.subsets = subsets or None
        labels = dict(svc_labels)
        if eu.is_service_ip_set(svc):
            labels.pop(wk.IS_HEADLESS_SERVICE_LABEL, None)
        else:
            labels[wk.IS_HEADLESS_SERVICE_LABEL] = ""
        new.metadata.labels = labels
        annotations = dict(new.metadata.annotations or {})
        if trigger:
            annotations[wk.ENDPOINTS_LAST_CHANGE_TRIGGER_TIME_ANNOTATION] = trigger
        else:
            annotations.pop(wk.ENDPOINTS_LAST_CHANGE_TRIGGER_TIME_ANNOTATION, None)
        if new.subsets is not None and eu.truncate_subsets(new.subsets):
            annotations[wk.ENDPOINTS_OVER_CAPACITY_ANNOTATION] = "truncated"
        else:
            annotations.pop(wk.ENDPOINTS_OVER_CAPACITY_ANNOTATION, None)
        new.metadata.annotations = annotations or None

        log.debug("endpoints %s: %d ready, %d not ready", key, counts.ready, counts.not_ready)
        try:
            if current is None:
                written = await self.client.create(new, ns)
            else:
                written = await self.client.update(new)
        except (AlreadyExists, Conflict):
            return Result(requeue=True)  # our cache is behind: once it has caught up
        except Exception as exc:
            if current is None and namespace_terminating(exc):
                return None
            if current is None:
                self.recorder.event(new, "Warning", "FailedToCreateEndpoint",
                                    f"Failed to create endpoint for service {key}: {exc}")
            else:
                self.recorder.event(new, "Warning", "FailedToUpdateEndpoint",
                                    f"Failed to update endpoint {key}: {exc}")
            raise
        self.writes.wrote(key, name, written.metadata.resource_version, self.endpoints.get(key))
        return None
