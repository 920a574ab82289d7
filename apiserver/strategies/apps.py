"""Deployments, ReplicaSets, DaemonSets and StatefulSets (pkg/registry/apps/{deployment,
replicaset,daemonset,statefulset}/strategy.go): a status subresource and a generation;
create starts the status empty. ControllerRevisions (pkg/registry/apps/controllerrevision) are plain objects.
Tables as pkg/printers/internalversion/printers.go prints them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.base import dig
from api.printers import containers_and_images, format_label_selector, format_labels
from apiserver.strategies.base import (
    AGE,
    NAME,
    JSONDict,
    Row,
    Strategy,
    age_of,
    column,
    meta,
    name_of,
)

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
    # the deployment controller writes its revision annotation through /status
    status_metadata = ("annotations",)
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


# The annotation apps/v1 carries the internal spec.templateGeneration in.
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"


def _template_generation(obj: JSONDict) -> int:
    v = (meta(obj).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
    try:
        return int(v) if v is not None else 0
    except (TypeError, ValueError):
        return 0


def _set_template_generation(obj: JSONDict, generation: int) -> None:
    md = meta(obj)
    annotations = md.get("annotations")
    if not isinstance(annotations, dict):
        annotations = md["annotations"] = {}
    annotations[TEMPLATE_GENERATION_ANNOTATION] = str(generation)


# DaemonSetStatus's int32 fields without omitempty: Kubernetes always shows them (the
# official clients require them).
_REQUIRED_COUNTS = ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled",
                    "numberReady")


def _with_required_counts(status: JSONDict) -> JSONDict:
    for k in _REQUIRED_COUNTS:
        if status.get(k) is None:
            status[k] = 0
    return status


class DaemonSetStrategy(Strategy):
    """daemonSetStrategy: status subresource, generation, and the template generation
    (+1 on each template change) in the deprecated.daemonset.template.generation
    annotation, as the apps/v1 conversion shows it."""

    status_subresource = True
    has_generation = True
    columns = [NAME,
               column("Desired", "integer", description="The total number of nodes that "
                      "should be running the daemon pod (including nodes correctly running "
                      "the daemon pod). More info: https://kubernetes.io/docs/concepts/"
                      "workloads/controllers/daemonset/"),
               column("Current", "integer", description="The number of nodes that are "
                      "running at least 1 daemon pod and are supposed to run the daemon pod. "
                      "More info: https://kubernetes.io/docs/concepts/workloads/controllers/"
                      "daemonset/"),
               column("Ready", "integer", description="numberReady is the number of nodes "
                      "that should be running the daemon pod and have one or more of the "
                      "daemon pod running with a Ready Condition."),
               column("Up-to-date", "integer", description="The total number of nodes that "
                      "are running updated daemon pod"),
               column("Available", "integer", description="The number of nodes that should "
                      "be running the daemon pod and have one or more of the daemon pod "
                      "running and available (ready for at least spec.minReadySeconds)"),
               column("Node Selector", description="NodeSelector is a selector which must be "
                      "true for the pod to fit on a node. Selector which must match a node's "
                      "labels for the pod to be scheduled on that node. More info: https://"
                      "kubernetes.io/docs/concepts/configuration/assign-pod-node/"),
               AGE,
               column("Containers", priority=1, description="Names of each container in the "
                      "template."),
               column("Images", priority=1, description="Images referenced by each container "
                      "in the template."),
               column("Selector", priority=1, description="A label query over pods that are "
                      "managed by the daemon set. Must match in order to be controlled. It "
                      "must match the pod template's labels. More info: https://kubernetes.io/"
                      "docs/concepts/overview/working-with-objects/labels/#label-selectors")]

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        obj["status"] = _with_required_counts({})
        if _template_generation(obj) < 1:
            _set_template_generation(obj, 1)

    def prepare_for_update(self, new: JSONDict, old: JSONDict) -> None:
        super().prepare_for_update(new, old)
        generation = max(_template_generation(old), 1)
        old_template = (old.get("spec") or {}).get("template")
        new_template = (new.get("spec") or {}).get("template")
        _set_template_generation(new, generation + 1 if old_template != new_template
                                 else generation)

    def prepare_for_status_update(self, new_status: Any, old: JSONDict) -> JSONDict:
        return super().prepare_for_status_update(
            _with_required_counts(new_status) if isinstance(new_status, dict) else new_status,
            old)

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        pod_spec = dig(spec, "template", "spec") or {}
        names, images = containers_and_images(pod_spec)
        return [name_of(obj), int(status.get("desiredNumberScheduled") or 0),
                int(status.get("currentNumberScheduled") or 0),
                int(status.get("numberReady") or 0),
                int(status.get("updatedNumberScheduled") or 0),
                int(status.get("numberAvailable") or 0),
                format_labels(pod_spec.get("nodeSelector")), age_of(obj, now), names, images,
                format_label_selector(spec.get("selector"))], []


def _with_sts_counts(status: JSONDict) -> JSONDict:
    """StatefulSetStatus's replicas and availableReplicas have no omitempty."""
    for k in ("replicas", "availableReplicas"):
        if status.get(k) is None:
            status[k] = 0
    return status


class StatefulSetStrategy(Strategy):
    """statefulSetStrategy (pkg/registry/apps/statefulset/strategy.go): status subresource,
    generation; printStatefulSet's NAME READY AGE (-o wide CONTAINERS IMAGES)."""

    status_subresource = True
    has_generation = True
    columns = [NAME,
               column("Ready", description="Number of the pod with ready state"),
               AGE,
               column("Containers", priority=1, description="Names of each container in the "
                      "template."),
               column("Images", priority=1, description="Images referenced by each container "
                      "in the template.")]

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        obj["status"] = _with_sts_counts({})

    def prepare_for_status_update(self, new_status: Any, old: JSONDict) -> JSONDict:
        return super().prepare_for_status_update(
            _with_sts_counts(new_status) if isinstance(new_status, dict) else new_status, old)

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        names, images = containers_and_images(dig(spec, "template", "spec") or {})
        return [name_of(obj), f"{int(status.get('readyReplicas') or 0)}/{_desired(spec)}",
                age_of(obj, now), names, images], []


def controller_name(obj: JSONDict) -> str:
    """printControllerRevision's CONTROLLER: ``kind.group/name`` of the controller
    owner reference, lower case, or <none>."""
    for ref in meta(obj).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            api_version = str(ref.get("apiVersion") or "")
            group = api_version.split("/", 1)[0] if "/" in api_version else ""
            kind = str(ref.get("kind") or "")
            gk = f"{kind}.{group}" if group else kind
            return f"{gk.lower()}/{ref.get('name') or ''}" if kind else str(ref.get("name"))
    return "<none>"


class ControllerRevisionStrategy(Strategy):
    spec_and_status = False
    columns = [NAME,
               column("Controller", description="Controller of the object"),
               column("Revision", description="Revision indicates the revision of the state "
                      "represented by Data."),
               AGE]

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        return [name_of(obj), controller_name(obj), int(obj.get("revision") or 0),
                age_of(obj, now)], []
