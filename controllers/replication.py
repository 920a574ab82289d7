"""The ReplicationController controller: the ReplicaSet reconciler over RCs.

As pkg/controller/replication (replication_controller.go + conversion.go): Kubernetes
runs the ReplicaSet controller's code on ReplicationControllers through adapters that
convert an RC into a ReplicaSet (its plain-map selector as ``matchLabels``) for the
decisions, and the ReplicaSet's status back onto the RC for the write. Pods it creates
carry a controllerRef of kind ReplicationController (v1) and its events name the RC.
"""

from __future__ import annotations

from typing import Any

from api.labels import Selector, selector_from_set
from api.models import LabelSelector, ReplicaSet, ReplicaSetSpec, ReplicaSetStatus
from api.models.core import ReplicationController, ReplicationControllerStatus
from controllers.context import ControllerContext
from controllers.replicaset import ReplicaSetController


def rc_to_rs(rc: ReplicationController) -> ReplicaSet:
    """convertRCtoRS: the same object as a ReplicaSet (metadata shared, not copied)."""
    spec = rc.spec
    return ReplicaSet(
        metadata=rc.metadata,
        spec=ReplicaSetSpec(
            replicas=spec.replicas, min_ready_seconds=spec.min_ready_seconds,
            selector=LabelSelector(match_labels=dict(spec.selector or {})),
            template=spec.template),
        status=rs_status(rc.status) if rc.status is not None else None,
    )


def rs_status(status: ReplicationControllerStatus) -> ReplicaSetStatus:
    return ReplicaSetStatus.model_validate(status.to_dict())


def rc_status(status: ReplicaSetStatus) -> ReplicationControllerStatus:
    """The ReplicaSet's status as the RC's (the two have the same fields)."""
    return ReplicationControllerStatus.model_validate(status.to_dict())


class ReplicationManager(ReplicaSetController):
    name = "replicationcontroller"
    kind = "ReplicationController"
    api_version = "v1"
    model = ReplicationController

    def __init__(self, ctx: ControllerContext, workers: int = 5) -> None:
        super().__init__(ctx, workers)

    def as_replicaset(self, obj: Any) -> ReplicaSet:
        assert isinstance(obj, ReplicationController)
        return rc_to_rs(obj)

    def selector_of(self, obj: Any) -> Selector:
        # labels.SelectorFromSet: an RC's selector is equality only
        return selector_from_set(obj.spec.selector)

    def set_status(self, obj: Any, status: ReplicaSetStatus) -> None:
        obj.status = rc_status(status)
