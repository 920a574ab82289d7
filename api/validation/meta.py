"""Object metadata, labels, annotations and label selectors.

Kubernetes' ValidateObjectMeta (k8s.io/apimachinery/pkg/api/validation/objectmeta.go:
names, generateName, namespace, ownerReferences, finalizers), ValidateLabels and
ValidateAnnotations, and metav1validation.ValidateLabelSelector with its
ValidateLabelSelectorRequirement (pkg/apis/meta/v1/validation/validation.go). The
requirement check also serves node selector requirements (core's
validateNodeSelectorRequirement), which allow Gt and Lt as well.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.names import (
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
    is_valid_path_segment_name,
    mask_trailing_dash,
)
from api.validation.field import (
    Errs,
    as_dict,
    as_list,
    as_str,
    at_index,
    child,
    forbidden,
    invalid,
    non_negative,
    required,
    too_long,
)

NameCheck = Callable[[str], list[str]]

NAMESPACED_KINDS = frozenset(
    {"ReplicationController",
     "Role", "RoleBinding",
     "Pod", "Deployment", "ReplicaSet", "Event", "Lease", "Binding", "Scale", "ConfigMap",
     "Secret", "Service", "Endpoints", "EndpointSlice", "Job", "CronJob", "ServiceAccount",
     "ResourceQuota", "LimitRange", "PersistentVolumeClaim", "PodDisruptionBudget",
     "Ingress"}
)
_CLUSTER_KINDS = frozenset({"Node", "Namespace", "ClusterRole", "ClusterRoleBinding",
                            "PersistentVolume", "StorageClass", "IngressClass",
                            "CertificateSigningRequest"})
# ValidateServiceName is NameIsDNS1035Label; the rest are DNS-1123 subdomains.
_NAME_CHECKS: dict[str, NameCheck] = {"Namespace": is_dns1123_label,
                                      "Service": is_dns1035_label,
                                      **dict.fromkeys(("Role", "ClusterRole", "RoleBinding",
                                                       "ClusterRoleBinding",
                                                       "CertificateSigningRequest"),
                                                      is_valid_path_segment_name)}
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


def validate_labels(labels: Any, path: str) -> Errs:
    errs: Errs = []
    for k, v in as_dict(errs, labels, path).items():
        for m in is_qualified_name(str(k)):
            errs.append(invalid(path, k, m))
        if not isinstance(v, str):
            errs.append(invalid(path, v, "must be a string"))
            continue
        for m in is_valid_label_value(v):
            errs.append(invalid(path, v, m))
    return errs


def validate_annotations(annotations: Any, path: str) -> Errs:
    errs: Errs = []
    total = 0
    for k, v in as_dict(errs, annotations, path).items():
        for m in is_qualified_name(str(k).lower()):
            errs.append(invalid(path, k, m))
        if not isinstance(v, str):
            errs.append(invalid(path, v, "must be a string"))
            continue
        total += len(str(k)) + len(v)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def _owner_references(errs: Errs, refs: Any, path: str) -> None:
    first_controller = ""
    items = as_list(errs, refs, path)
    for ref in items:
        r = as_dict(errs, ref, path)
        api_version = str(r.get("apiVersion") or "")
        if not api_version.rsplit("/", 1)[-1]:
            errs.append(
                invalid(child(path, "apiVersion"), api_version, "version must not be empty")
            )
        for f, label in (("kind", "kind"), ("name", "name"), ("uid", "uid")):
            if not r.get(f):
                errs.append(invalid(child(path, f), r.get(f) or "", f"{label} must not be empty"))
        if r.get("controller") is True:
            cur = f"{r.get('kind')}/{r.get('name')}"
            if first_controller:
                errs.append(
                    invalid(
                        path,
                        items,
                        'Only one reference can have Controller set to true. Found "true" in '
                        f"references for {first_controller} and {cur}",
                    )
                )
            else:
                first_controller = cur


def validate_object_meta(meta: Any, kind: str, path: str = "metadata") -> Errs:
    errs: Errs = []
    md = as_dict(errs, meta, path)
    check = _NAME_CHECKS.get(kind, is_dns1123_subdomain)
    name = as_str(errs, md.get("name"), child(path, "name"))
    generate_name = as_str(errs, md.get("generateName"), child(path, "generateName"))
    if generate_name:
        for m in check(mask_trailing_dash(generate_name)):
            errs.append(invalid(child(path, "generateName"), generate_name, m))
    if name:
        for m in check(name):
            errs.append(invalid(child(path, "name"), name, m))
    elif not generate_name:
        errs.append(required(child(path, "name"), "name or generateName is required"))
    ns = as_str(errs, md.get("namespace"), child(path, "namespace"))
    if kind in NAMESPACED_KINDS:
        if not ns:
            errs.append(required(child(path, "namespace")))
        else:
            for m in is_dns1123_label(ns):
                errs.append(invalid(child(path, "namespace"), ns, m))
    elif kind in _CLUSTER_KINDS and ns:
        errs.append(forbidden(child(path, "namespace"), "not allowed on this type"))
    non_negative(errs, md.get("generation"), child(path, "generation"))
    errs += validate_labels(md.get("labels"), child(path, "labels"))
    errs += validate_annotations(md.get("annotations"), child(path, "annotations"))
    if md.get("ownerReferences") is not None:
        _owner_references(errs, md.get("ownerReferences"), child(path, "ownerReferences"))
    fpath = child(path, "finalizers")
    for f in as_list(errs, md.get("finalizers"), fpath):
        for m in is_qualified_name(str(f)):
            errs.append(invalid(fpath, f, m))
    return errs


def validate_template_meta(meta: Any, path: str) -> Errs:
    """A pod template's metadata: only labels and annotations matter."""
    errs: Errs = []
    md = as_dict(errs, meta, path)
    errs += validate_labels(md.get("labels"), child(path, "labels"))
    errs += validate_annotations(md.get("annotations"), child(path, "annotations"))
    return errs


def validate_label_selector(sel: Any, path: str) -> Errs:
    """unversioned ValidateLabelSelector: operators, values, keys and matchLabels."""
    errs: Errs = []
    s = as_dict(errs, sel, path)
    epath = child(path, "matchExpressions")
    for i, e in enumerate(as_list(errs, s.get("matchExpressions"), epath)):
        validate_selector_requirement(errs, e, at_index(epath, i), gt_lt=False)
    errs += validate_labels(s.get("matchLabels"), child(path, "matchLabels"))
    return errs


def validate_selector_requirement(errs: Errs, r: Any, path: str, *, gt_lt: bool) -> None:
    """A label selector requirement (ValidateLabelSelectorRequirement); with ``gt_lt`` a node
    selector requirement (validateNodeSelectorRequirement), which also allows Gt and Lt."""
    req = as_dict(errs, r, path)
    op = req.get("operator")
    values = as_list(errs, req.get("values"), child(path, "values"))
    if op in ("In", "NotIn"):
        if not values:
            errs.append(
                required(
                    child(path, "values"), "must be specified when `operator` is 'In' or 'NotIn'"
                )
            )
    elif op in ("Exists", "DoesNotExist"):
        if values:
            errs.append(
                forbidden(
                    child(path, "values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            )
    elif gt_lt and op in ("Gt", "Lt"):
        if len(values) != 1:
            errs.append(
                required(
                    child(path, "values"),
                    "must be specified single value when `operator` is 'Lt' or 'Gt'",
                )
            )
    else:
        errs.append(invalid(child(path, "operator"), op, "not a valid selector operator"))
    key = str(req.get("key") or "")
    for m in is_qualified_name(key):
        errs.append(invalid(child(path, "key"), key, m))
    for i, v in enumerate(values):
        for m in is_valid_label_value(str(v)):
            errs.append(invalid(at_index(child(path, "values"), i), v, m))
