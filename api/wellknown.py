"""Well-known labels, annotations and taint keys, each written once.

The names are Kubernetes' own (k8s.io/api/core/v1/well_known_labels.go and
well_known_taints.go, k8s.io/api/apps/v1 DefaultDeploymentUniqueLabelKey,
pkg/controller/deployment/util RevisionAnnotation and friends, kubectl's
annotations), so that users and tools that search for them find them. Services,
controllers and minictl import them from here instead of spelling the strings.
"""

from __future__ import annotations

from typing import Protocol

# ---- Deployments and ReplicaSets (pkg/controller/deployment/util/deployment_util.go)
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"  # apps/v1 DefaultDeploymentUniqueLabelKey
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
DEPRECATED_ROLLBACK_TO_ANNOTATION = "deprecated.deployment.rollback.to"

# ---- kubectl
LAST_APPLIED_CONFIG_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"

# Annotations of a Deployment that describe the Deployment or its rollout rather than
# its pods: the controller does not copy them onto ReplicaSets, and a rollback leaves
# them alone (deployment_util.go annotationsToSkip, kubectl's rollback).
ROLLOUT_ANNOTATIONS = frozenset({
    LAST_APPLIED_CONFIG_ANNOTATION, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, DEPRECATED_ROLLBACK_TO_ANNOTATION,
})

# ---- namespaces (well_known_labels.go LabelMetadataName): every namespace carries its name
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

# ---- nodes (well_known_labels.go, well_known_taints.go)
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_OS = "kubernetes.io/os"
LABEL_ARCH = "kubernetes.io/arch"
NODE_ROLE_LABEL_PREFIX = "node-role.kubernetes.io/"
TAINT_NODE_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_NODE_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_NODE_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"

# ---- Services, Endpoints and EndpointSlices (k8s.io/api/core/v1 well_known_labels.go,
# annotation_key_constants.go; k8s.io/api/discovery/v1 well_known_labels.go)
LABEL_SERVICE_NAME = "kubernetes.io/service-name"  # discovery.LabelServiceName
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"  # discovery.LabelManagedBy
ENDPOINTSLICE_CONTROLLER_NAME = "endpointslice-controller.k8s.io"
IS_HEADLESS_SERVICE_LABEL = "service.kubernetes.io/headless"  # v1.IsHeadlessService
ENDPOINTS_LAST_CHANGE_TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
ENDPOINTS_OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"


class _Annotated(Protocol):
    @property
    def metadata(self) -> object: ...


def revision_of(obj: _Annotated) -> int:
    """The ``deployment.kubernetes.io/revision`` of a Deployment or ReplicaSet, 0 when it
    has none or it is not a number (deployment_util.go Revision)."""
    annotations = getattr(obj.metadata, "annotations", None) or {}
    try:
        return int(annotations.get(REVISION_ANNOTATION, "0"))
    except (TypeError, ValueError):
        return 0
