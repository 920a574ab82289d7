"""Pod events -> the Services whose endpoints they may change: the pod handlers that the
Endpoints and EndpointSlice controllers share (addPod / updatePod / deletePod of
endpoints_controller.go and endpointslice_controller.go, which are the same in both).

Handlers only enqueue keys (client-go's rule), after the controller's batch period.
"""

from __future__ import annotations

from typing import Any

from api.models import Pod, Service
from client.cache import Store
from client.controller import Controller
from controllers import endpoints_util as eu


class PodServiceHandlers:
    def __init__(self, services: Store[Service], controller: Controller,
                 batch_period: float) -> None:
        self.services = services
        self.controller = controller
        self.batch_period = batch_period

    def _services_for(self, namespace: str, labels: Any) -> set[str]:
        return eu.services_for_pod(self.services, namespace, labels)

    def _enqueue(self, old: Pod | None, new: Pod | None) -> None:
        for key in eu.services_to_update(self._services_for, old, new):
            self.controller.enqueue_after(key, self.batch_period)

    def on_add(self, pod: Pod) -> None:
        self._enqueue(None, pod)

    def on_update(self, old: Pod, new: Pod) -> None:
        self._enqueue(old, new)

    def on_delete(self, pod: Any) -> None:
        if isinstance(pod, Pod):  # a tombstone of an unknown object concerns no Service
            self._enqueue(pod, None)
