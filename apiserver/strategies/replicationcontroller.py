"""ReplicationControllers (pkg/registry/core/replicationcontroller/strategy.go): a status
subresource and a generation, create starts the status empty, as for ReplicaSets; the
Table is printReplicationController's (pkg/printers/internalversion/printers.go), whose
SELECTOR is labels.FormatLabels of the plain-map selector."""

from __future__ import annotations

from datetime import datetime

from api.base import dig
from api.printers import containers_and_images, format_labels
from apiserver.strategies.base import AGE, NAME, JSONDict, Row, Strategy, age_of, column, name_of

_RC_DOC = "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller"


class ReplicationControllerStrategy(Strategy):
    status_subresource = True
    has_generation = True
    columns = [
        NAME,
        column("Desired", "integer", description="Replicas is the number of desired replicas. "
               "This is a pointer to distinguish between explicit zero and unspecified. "
               f"Defaults to 1. More info: {_RC_DOC}#what-is-a-replicationcontroller"),
        column("Current", "integer", description="Replicas is the most recently observed "
               f"number of replicas. More info: {_RC_DOC}#what-is-a-replicationcontroller"),
        column("Ready", "integer", description="The number of ready replicas for this "
               "replication controller."),
        AGE,
        column("Containers", priority=1, description="Names of each container in the "
               "template."),
        column("Images", priority=1, description="Images referenced by each container in the "
               "template."),
        column("Selector", priority=1, description="Selector is a label query over pods that "
               "should match the Replicas count. If Selector is empty, it is defaulted to the "
               "labels present on the Pod template. Label keys and values that must match in "
               "order to be controlled by this replication controller, if empty defaulted to "
               "labels on Pod template. More info: https://kubernetes.io/docs/concepts/"
               "overview/working-with-objects/labels/#label-selectors"),
    ]

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"replicas": 0}

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        names, images = containers_and_images(dig(spec, "template", "spec") or {})
        desired = int(spec["replicas"]) if spec.get("replicas") is not None else 1
        selector = spec.get("selector")
        return [name_of(obj), desired, int(status.get("replicas") or 0),
                int(status.get("readyReplicas") or 0), age_of(obj, now), names, images,
                format_labels(selector if isinstance(selector, dict) else None)], []
