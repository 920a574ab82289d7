"""Deployments and ReplicaSets (pkg/registry/apps/{deployment,replicaset}/strategy.go):
a status subresource and a generation; create starts the status empty."""

from __future__ import annotations

from datetime import datetime

from api.base import dig
from api.printers import containers_and_images, format_label_selector
from apiserver.strategies.base import AGE, NAME, JSONDict, Row, Strategy, age_of, column, name_of

_TEMPLATE_COLUMNS = [
    column("Containers", priority=1, description="Names of each container in the template."),
    column("Images", priority=1, description="Images referenced by each container in the "
           "template."),
    column("Selector", priority=1, description="Label selector for pods.")]


def _desired(spec: JSONDict) -> int:
    return int(spec["replicas"]) if spec.get("replicas") is not None else 1


class DeploymentStrategy(Strategy):
    status_subresource = True
    has_generation = True
    columns = [NAME,
               column("Ready", description="Number of the pod with ready state"),
               column("Up-to-date", "integer", description="Total number of non-terminated "
                      "pods targeted by this deployment that have the desired template spec."),
               column("Available", "integer", description="Total number of available pods "
                      "(ready for at least minReadySeconds) targeted by this deployment."),
               AGE, *_TEMPLATE_COLUMNS]

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {}

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        names, images = containers_and_images(dig(spec, "template", "spec") or {})
        return [name_of(obj), f"{status.get('readyReplicas') or 0}/{_desired(spec)}",
                int(status.get("updatedReplicas") or 0),
                int(status.get("availableReplicas") or 0), age_of(obj, now), names, images,
                format_label_selector(spec.get("selector"))], []


class ReplicaSetStrategy(Strategy):
    status_subresource = True
    has_generation = True
    columns = [NAME,
               column("Desired", "integer", description="Replicas is the number of desired "
                      "replicas."),
               column("Current", "integer", description="Replicas is the most recently "
                      "observed number of replicas."),
               column("Ready", "integer", description="The number of ready replicas for "
                      "this replica set."),
               AGE, *_TEMPLATE_COLUMNS]

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"replicas": 0}

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        names, images = containers_and_images(dig(spec, "template", "spec") or {})
        return [name_of(obj), _desired(spec), int(status.get("replicas") or 0),
                int(status.get("readyReplicas") or 0), age_of(obj, now), names, images,
                format_label_selector(spec.get("selector"))], []
