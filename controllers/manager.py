"""The controller-manager: one informer factory, many controllers, one leader.

Informers start (and caches fill) before leadership is won, so that a standby takes
over warm. Controllers' workers run only while this process leads; handlers may
enqueue keys before that, and the workers drain them once they start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from client.controller import Controller
from controllers.bootstrapsigner import BootstrapSignerController, TokenCleanerController
from controllers.certificates import (
    CSRApprovingController,
    CSRCleanerController,
    CSRSigningController,
)
from controllers.clusterroleaggregation import ClusterRoleAggregationController
from controllers.context import ControllerContext
from controllers.cronjob import CronJobController
from controllers.daemonset import DaemonSetsController
from controllers.deployment import DeploymentController
from controllers.disruption import DisruptionController
from controllers.endpoints import EndpointsController
from controllers.endpointslice import EndpointSliceController
from controllers.garbagecollector import GarbageCollector
from controllers.job import JobController
from controllers.namespace import NamespaceController
from controllers.nodeipam import NodeIpamController
from controllers.nodelifecycle import NodeLifecycleController
from controllers.podautoscaler import HorizontalPodAutoscalerController
from controllers.replicaset import ReplicaSetController
from controllers.replication import ReplicationManager
from controllers.resourcequota import ResourceQuotaController
from controllers.serviceaccounts import (
    RootCACertPublisher,
    ServiceAccountsController,
    TokensController,
)
from controllers.servicelb import ServiceLBController
from controllers.statefulset import StatefulSetController
from controllers.ttlafterfinished import TTLAfterFinishedController
from controllers.volume import (
    PersistentVolumeController,
    PVCProtectionController,
    PVProtectionController,
)

log = logging.getLogger(__name__)


class Part(Protocol):
    name: str

    @property
    def controllers(self) -> list[Controller]: ...


REGISTRY: dict[str, Callable[[ControllerContext], Part]] = {
    "deployment": DeploymentController,
    "replicaset": ReplicaSetController,
    "replicationcontroller": ReplicationManager,
    "garbagecollector": GarbageCollector,
    "namespace": NamespaceController,
    "nodelifecycle": NodeLifecycleController,
    "endpoints": EndpointsController,
    "endpointslice": EndpointSliceController,
    "horizontalpodautoscaling": HorizontalPodAutoscalerController,
    "job": JobController,
    "daemonset": DaemonSetsController,
    "statefulset": StatefulSetController,
    "cronjob": CronJobController,
    "ttl-after-finished": TTLAfterFinishedController,
    "serviceaccount": ServiceAccountsController,
    "serviceaccount-token": TokensController,
    "root-ca-cert-publisher": RootCACertPublisher,
    "resourcequota": ResourceQuotaController,
    "clusterrole-aggregation": ClusterRoleAggregationController,
    "disruption": DisruptionController,
    "persistentvolume-binder": PersistentVolumeController,
    "pvc-protection": PVCProtectionController,
    "pv-protection": PVProtectionController,
    "servicelb": ServiceLBController,
    "nodeipam": NodeIpamController,
    "csrapproving": CSRApprovingController,
    "csrsigning": CSRSigningController,
    "csrcleaner": CSRCleanerController,
    "bootstrapsigner": BootstrapSignerController,
    "tokencleaner": TokenCleanerController,
}


class ControllersFlagError(ValueError):
    pass


def enabled_controllers(spec: str | Iterable[str]) -> list[str]:
    """kube-controller-manager's ``--controllers``: ``*`` is all, ``name`` enables,
    ``-name`` disables; later items win."""
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    on: set[str] = set()
    off: set[str] = set()
    for item in filter(None, items):
        name = item.lstrip("-")
        if item != "*" and name not in REGISTRY:
            raise ControllersFlagError(
                f"unknown controller {name!r}; known: {', '.join(sorted(REGISTRY))}")
        if item == "*":
            on.update(REGISTRY)
        elif item.startswith("-"):
            off.add(name)
            on.discard(name)
        else:
            on.add(name)
            off.discard(name)
    return [n for n in REGISTRY if n in on and n not in off]


class ControllerManager:
    def __init__(self, ctx: ControllerContext, names: Iterable[str]) -> None:
        self.ctx = ctx
        self.parts: list[Part] = [REGISTRY[n](ctx) for n in names]

    @property
    def controllers(self) -> list[Controller]:
        return [c for p in self.parts for c in p.controllers]

    async def start_informers(self, sync_timeout: float = 30.0) -> None:
        await self.ctx.factory.start_all()
        while not await self.ctx.factory.wait_for_sync(timeout=sync_timeout):
            log.warning("waiting for caches to sync with %s", self.ctx.client.server)
        log.info("caches synced: %s", ", ".join(
            f"{inf.model_cls.__name__}={len(inf.store)}" for inf in self.ctx.factory.informers))

    async def run_controllers(self, stop: asyncio.Event | None = None) -> None:
        """Run every controller's workers until ``stop`` is set or this is cancelled."""
        log.info("starting controllers: %s", ", ".join(p.name for p in self.parts))
        await asyncio.gather(*(c.run(stop) for c in self.controllers))

    async def stop(self) -> None:
        await self.ctx.factory.stop_all()
