"""Validation of wire dicts with Kubernetes' field paths, reasons and messages.

``validate(kind, obj)`` mirrors pkg/apis/*/validation for the kinds minik8s serves
and returns every problem it finds, so one 422 can name them all.  It expects the
object after defaulting (as the API server does), but fields that defaulting
would fill in are accepted when absent, so clients may validate early too.
It never raises on odd input: a value of the wrong type is itself a field error.

``validate_update(kind, old, new)`` returns only the update-specific errors
(immutable fields); callers run ``validate(kind, new)`` as well.

One module per group or concern, as Kubernetes splits pkg/apis/<group>/validation:
``field`` (errors, paths, readers of wire values), ``meta`` (object metadata, labels,
selectors), ``container`` and ``pod`` (core pods, and the memo of valid pod specs),
``apps``, ``config`` (ConfigMaps, Secrets), ``node`` (Nodes, Namespaces), ``events``,
``coordination`` (Leases), ``service`` (Services, Endpoints), ``discovery``
(EndpointSlices) and ``updates``. This module maps each kind to its checks;
adding a kind is a validation module and a line in each table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from api.names import is_dns1123_label, is_dns1123_subdomain
from api.validation.apps import (
    validate_controller_revision,
    validate_controller_revision_update,
    validate_daemonset,
    validate_deployment,
    validate_replicaset,
    validate_scale,
    validate_statefulset,
    validate_statefulset_update,
)
from api.validation.autoscaling import validate_hpa
from api.validation.batch import validate_cronjob, validate_job, validate_job_update
from api.validation.certificates import (
    validate_certificate_signing_request,
    validate_certificate_signing_request_update,
)
from api.validation.config import decode_bytes, validate_configmap, validate_secret
from api.validation.coordination import validate_lease
from api.validation.discovery import validate_endpoint_slice, validate_endpoint_slice_update
from api.validation.events import validate_event
from api.validation.field import (
    DUPLICATE,
    FORBIDDEN,
    INVALID,
    JSON,
    NOT_FOUND,
    NOT_SUPPORTED,
    REQUIRED,
    TOO_LONG,
    Errs,
    FieldError,
    invalid,
    invalid_message,
)
from api.validation.meta import (
    NAMESPACED_KINDS,
    validate_annotations,
    validate_label_selector,
    validate_labels,
    validate_object_meta,
)
from api.validation.networking import (
    validate_ingress,
    validate_ingress_class,
    validate_ingress_class_update,
)
from api.validation.networkpolicy import validate_network_policy
from api.validation.node import validate_namespace, validate_node
from api.validation.pod import (
    memo_key,
    remember_valid_spec,
    spec_known_valid,
    validate_binding,
    validate_pod,
    validate_pod_spec,
)
from api.validation.policy import validate_pod_disruption_budget
from api.validation.quota import validate_limit_range, validate_resource_quota
from api.validation.rbac import (
    validate_binding_update,
    validate_cluster_role,
    validate_cluster_role_binding,
    validate_role,
    validate_role_binding,
)
from api.validation.replicationcontroller import validate_replication_controller
from api.validation.service import (
    validate_endpoints,
    validate_service,
    validate_service_update,
)
from api.validation.serviceaccount import validate_service_account
from api.validation.storage import (
    validate_persistent_volume,
    validate_persistent_volume_claim,
    validate_persistent_volume_claim_update,
    validate_persistent_volume_update,
    validate_storage_class,
    validate_storage_class_update,
)
from api.validation.updates import (
    validate_configmap_update,
    validate_ephemeral_containers_update,
    validate_meta_update,
    validate_node_update,
    validate_pod_update,
    validate_secret_update,
    validate_selector_update,
)

__all__ = [
    "DUPLICATE",
    "FORBIDDEN",
    "INVALID",
    "NOT_FOUND",
    "NOT_SUPPORTED",
    "REQUIRED",
    "TOO_LONG",
    "FieldError",
    "NAMESPACED_KINDS",
    "decode_bytes",
    "invalid_message",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "memo_key",
    "remember_valid_spec",
    "spec_known_valid",
    "validate",
    "validate_annotations",
    "validate_label_selector",
    "validate_labels",
    "validate_object_meta",
    "validate_pod_spec",
    "validate_update",
]

_KIND_VALIDATORS: dict[str, Callable[[JSON], Errs]] = {
    "Pod": validate_pod,
    "Deployment": validate_deployment,
    "ReplicaSet": validate_replicaset,
    "DaemonSet": validate_daemonset,
    "ControllerRevision": validate_controller_revision,
    "StatefulSet": validate_statefulset,
    "Node": validate_node,
    "Namespace": validate_namespace,
    "Event": validate_event,
    "Lease": validate_lease,
    "Binding": validate_binding,
    "Scale": validate_scale,
    "ConfigMap": validate_configmap,
    "Secret": validate_secret,
    "Service": validate_service,
    "Endpoints": validate_endpoints,
    "EndpointSlice": validate_endpoint_slice,
    "HorizontalPodAutoscaler": validate_hpa,
    "Job": validate_job,
    "ReplicationController": validate_replication_controller,
    "CronJob": validate_cronjob,
    "Role": validate_role,
    "ClusterRole": validate_cluster_role,
    "RoleBinding": validate_role_binding,
    "ClusterRoleBinding": validate_cluster_role_binding,
    "ServiceAccount": validate_service_account,
    "ResourceQuota": validate_resource_quota,
    "LimitRange": validate_limit_range,
    "PersistentVolume": validate_persistent_volume,
    "PersistentVolumeClaim": validate_persistent_volume_claim,
    "StorageClass": validate_storage_class,
    "PodDisruptionBudget": validate_pod_disruption_budget,
    "NetworkPolicy": validate_network_policy,
    "Ingress": validate_ingress,
    "IngressClass": validate_ingress_class,
    "CertificateSigningRequest": validate_certificate_signing_request,
}


def validate(kind: str, obj: Mapping[str, Any]) -> list[FieldError]:
    """Every problem with ``obj`` (a wire dict of ``kind``), in Kubernetes' terms."""
    if not isinstance(obj, Mapping):
        return [invalid("", obj, "must be an object")]
    errs = validate_object_meta(obj.get("metadata"), kind)
    fn = _KIND_VALIDATORS.get(kind)
    if fn is not None:
        errs += fn(obj)
    return errs


_UPDATE_VALIDATORS: dict[str, Callable[[JSON, JSON], Errs]] = {
    "Pod": validate_pod_update,
    "Deployment": validate_selector_update,
    "ReplicaSet": validate_selector_update,
    "DaemonSet": validate_selector_update,
    "ControllerRevision": validate_controller_revision_update,
    "StatefulSet": validate_statefulset_update,
    "Node": validate_node_update,
    "ConfigMap": validate_configmap_update,
    "Secret": validate_secret_update,
    "Service": validate_service_update,
    "EndpointSlice": validate_endpoint_slice_update,
    "Job": validate_job_update,
    "RoleBinding": validate_binding_update,
    "ClusterRoleBinding": validate_binding_update,
    "PersistentVolume": validate_persistent_volume_update,
    "PersistentVolumeClaim": validate_persistent_volume_claim_update,
    "StorageClass": validate_storage_class_update,
    "IngressClass": validate_ingress_class_update,
    "CertificateSigningRequest": validate_certificate_signing_request_update,
}


# Writes through a subresource that replaces the kind's own update rules.
_SUBRESOURCE_UPDATE_VALIDATORS: dict[tuple[str, str], Callable[[JSON, JSON], Errs]] = {
    ("Pod", "ephemeralcontainers"): validate_ephemeral_containers_update,
    ("CertificateSigningRequest", "approval"): validate_certificate_signing_request_update,
}


def validate_update(kind: str, old: Mapping[str, Any], new: Mapping[str, Any],
                    subresource: str | None = None) -> list[FieldError]:
    """Errors for changes Kubernetes forbids on update (immutable fields) only;
    ``subresource``: a write through it (pods/ephemeralcontainers) has its own rules."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return [invalid("", new, "must be an object")]
    errs = validate_meta_update(old, new)
    fn = (_SUBRESOURCE_UPDATE_VALIDATORS.get((kind, subresource)) if subresource
          else _UPDATE_VALIDATORS.get(kind))
    if fn is not None:
        errs += fn(old, new)
    return errs
