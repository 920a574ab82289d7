"""The EndpointSlice controller: a selecting Service's pods as discovery.k8s.io/v1
EndpointSlices of at most ``--max-endpoints-per-slice`` (100) endpoints, which the
proxy and the cluster DNS watch.

A port of Kubernetes' ``pkg/controller/endpointslice/endpointslice_controller.go``
(syncService, the handlers, the EndpointSliceTracker's staleness check) over
``staging/src/k8s.io/endpointslice/reconciler.go``, whose decisions are the pure
``endpointslice_util.plan_slices``. Slices are named ``<svc>-<random>``
(generateName), labelled ``kubernetes.io/service-name`` and
``endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io``, and
owned (controller) by the Service, so that the garbage collector deletes them with
it. Each endpoint carries ready/serving/terminating, nodeName, the pod as targetRef
and a hostname when the pod's subdomain is the Service.

Handlers only enqueue Service keys: Service events; pod events (the Services that
select the pod, through an index of the Service informer), after
``--endpoint-updates-batch-period``; changes to our slices that are not our own
writes (endpointSliceChangeMinSyncDelay later), so that a slice someone edited or
deleted is put right.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from api import wellknown as wk
from api.models import Pod, Service
from api.models.discovery import EndpointSlice
from client import AsyncClient, Conflict, NotFound
from client.cache import meta_key
from client.controller import Controller, Result
from controllers import endpoints_util as eu
from controllers import endpointslice_util as su
from controllers.context import ControllerContext, namespace_terminating, retry_conflicts
from controllers.servicepods import PodServiceHandlers

log = logging.getLogger(__name__)

SERVICE_INDEX = "service"  # slices by "<ns>/<kubernetes.io/service-name>"
# endpointslice_controller.go endpointSliceChangeMinSyncDelay: someone else's change to
# one of our slices is answered after this long (the change may be one of several)
SLICE_CHANGE_MIN_SYNC_DELAY = 1.0


def _service_index(obj: Any) -> list[str]:
    key = su.service_key_of_slice(obj) if isinstance(obj, EndpointSlice) else None
    return [key] if key else []


class EndpointSliceController:
    name = "endpointslice"

    def __init__(self, ctx: ControllerContext, workers: int = 5) -> None:
        self.client: AsyncClient = ctx.client
        self.recorder = ctx.recorder
        self.batch_period = ctx.options.endpoint_updates_batch_period
        self.max_per_slice = ctx.options.max_endpoints_per_slice
        self.controller_name = wk.ENDPOINTSLICE_CONTROLLER_NAME
        self.svc_informer = ctx.factory.informer(Service)
        self.pod_informer = ctx.factory.informer(Pod)
        # only the slices this controller manages (the proxy and DNS watch all of them)
        self.slice_informer = ctx.factory.informer(
            EndpointSlice, label_selector=f"{wk.LABEL_MANAGED_BY}={self.controller_name}")
        self.services = self.svc_informer.store
        self.pods = self.pod_informer.store
        self.slices = self.slice_informer.store
        eu.ensure_index(self.services, eu.SELECTOR_INDEX, eu.selector_index)
        eu.ensure_index(self.slices, SERVICE_INDEX, _service_index)
        self.writes = eu.WriteTracker()
        self.trigger_times = eu.TriggerTimeTracker()
        self.controller = Controller(self.name, retry_conflicts(self.reconcile),
                                     workers=ctx.options.workers.get(self.name, workers))
        svc = self.controller.enqueue_handlers()
        self.svc_informer.add_handler(svc.on_add, svc.on_update, svc.on_delete)
        pods = PodServiceHandlers(self.services, self.controller, self.batch_period)
        self.pod_informer.add_handler(pods.on_add, pods.on_update, pods.on_delete)
        self.slice_informer.add_handler(self._slice_added, self._slice_updated,
                                        self._slice_deleted)
        # counters, for tests and the benchmark
        self.creates = self.updates = self.deletes = 0

    @property
    def controllers(self) -> list[Controller]:
        return [self.controller]

    # ---- handlers: enqueue only --------------------------------------------------

    def _slice_event(self, s: EndpointSlice, deleted: bool) -> None:
        key = su.service_key_of_slice(s)
        if key is None:
            return
        if not self.writes.observed(key, s.metadata.name or "", s.metadata.resource_version,
                                    deleted):
            self.controller.enqueue_after(key, SLICE_CHANGE_MIN_SYNC_DELAY
                                          if self.slice_informer.has_synced else 0)

    def _slice_added(self, s: EndpointSlice) -> None:
        self._slice_event(s, False)

    def _slice_updated(self, old: EndpointSlice, new: EndpointSlice) -> None:
        if old.metadata.resource_version != new.metadata.resource_version:
            self._slice_event(new, False)

    def _slice_deleted(self, s: Any) -> None:
        if isinstance(s, EndpointSlice):
            self._slice_event(s, True)

    # ---- reconcile (syncService) --------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        svc = self.services.get(key)
        if svc is None:
            # the garbage collector deletes the slices through their ownerReferences
            self.trigger_times.delete(key)
            self.writes.forget(key)
            return None
        if svc.spec.type == "ExternalName" or svc.spec.selector is None:
            return None  # no slices from us: a selector-less Service's are the user's
        if self.writes.stale(key):
            # "EndpointSlice informer cache is out of date": once our writes are back
            return Result(requeue_after=0.05)
        pods = eu.pods_for_service(self.pods, svc)
        existing = [s for s in self.slices.by_index(SERVICE_INDEX, key)
                    if (s.metadata.labels or {}).get(wk.LABEL_MANAGED_BY) ==
                    self.controller_name]
        trigger = self.trigger_times.compute(key, svc, pods)
        plan = su.plan_slices(svc, pods, existing, max_per_slice=self.max_per_slice,
                              controller_name=self.controller_name)
        if plan.empty:
            return None
        try:
            await self._finalize(key, svc, plan, trigger)
        except Conflict:
            raise  # a retry once the cache has caught up, without an event
        except Exception as exc:
            if namespace_terminating(exc):
                return None
            self.recorder.event(svc, "Warning", "FailedToUpdateEndpointSlices",
                                f"Error updating Endpoint Slices for Service {key}: {exc}")
            raise
        return None

    async def _finalize(self, key: str, svc: Service, plan: su.SlicePlan,
                        trigger: str | None) -> None:
        """finalize: creates (not while the Service is being deleted, which would race
        the garbage collector), then updates, then deletes; each recorded until the
        cache shows it. Independent writes go out together."""
        ns = svc.metadata.namespace

        async def create(s: EndpointSlice) -> None:
            _annotate(s, trigger)
            made = await self.client.create(s, ns)
            self.creates += 1
            self.writes.wrote(key, made.metadata.name or "", made.metadata.resource_version,
                              self.slices.get(meta_key(made)))

        async def update(s: EndpointSlice) -> None:
            _annotate(s, trigger)
            done = await self.client.update(s)
            self.updates += 1
            self.writes.wrote(key, done.metadata.name or "", done.metadata.resource_version,
                              self.slices.get(meta_key(done)))

        async def delete(s: EndpointSlice) -> None:
            try:
                await self.client.delete(EndpointSlice, s.metadata.name or "", ns)
            except NotFound:
                return
            self.deletes += 1
            self.writes.wrote(key, s.metadata.name or "", None, self.slices.get(meta_key(s)))

        creates = plan.to_create if svc.metadata.deletion_timestamp is None else []
        results = await asyncio.gather(*(create(s) for s in creates),
                                       *(update(s) for s in plan.to_update),
                                       return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if not errors:
            results = await asyncio.gather(*(delete(s) for s in plan.to_delete),
                                           return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
        for err in errors:
            if isinstance(err, Conflict):
                raise err
        if errors:
            raise errors[0]


def _annotate(s: EndpointSlice, trigger: str | None) -> None:
    """addTriggerTimeAnnotation."""
    annotations = dict(s.metadata.annotations or {})
    if trigger:
        annotations[wk.ENDPOINTS_LAST_CHANGE_TRIGGER_TIME_ANNOTATION] = trigger
    else:
        annotations.pop(wk.ENDPOINTS_LAST_CHANGE_TRIGGER_TIME_ANNOTATION, None)
    s.metadata.annotations = annotations or None
