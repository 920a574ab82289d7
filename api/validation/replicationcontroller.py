"""core/v1 ReplicationControllers.

Ports pkg/apis/core/validation/validation.go: ValidateReplicationControllerSpec
(minReadySeconds, ValidateNonEmptySelector, replicas, ValidatePodTemplateSpecForRC: the
template is required, its labels must match the selector, a pod spec restarting Always and
no activeDeadlineSeconds) and ValidateReplicationControllerStatus. Unlike a ReplicaSet's,
an RC's selector is a plain map and may change on update.
"""

from __future__ import annotations

from collections.abc import Mapping

from api.labels import SelectorError, selector_from_set
from api.validation.field import (
    JSON,
    Errs,
    as_dict,
    as_int,
    child,
    invalid,
    non_negative,
    not_supported,
    required,
)
from api.validation.meta import validate_template_meta
from api.validation.pod import validate_pod_spec


def _template_for_rc(errs: Errs, template: object, selector: object, path: str) -> None:
    """ValidatePodTemplateSpecForRC."""
    if template is None:
        errs.append(required(path))
        return
    tmpl = as_dict(errs, template, path)
    meta = as_dict(errs, tmpl.get("metadata"), child(path, "metadata"))
    labels = meta.get("labels") if isinstance(meta.get("labels"), Mapping) else None
    if isinstance(selector, Mapping) and selector:
        try:
            sel = selector_from_set({str(k): str(v) for k, v in selector.items()})
        except SelectorError:
            sel = None  # reported by the selector's own check
        if sel is not None and not sel.matches(labels):
            errs.append(invalid(child(path, "metadata", "labels"), labels,
                                "`selector` does not match template `labels`"))
    errs += validate_template_meta(tmpl.get("metadata"), child(path, "metadata"))
    pod_spec = tmpl.get("spec")
    errs += validate_pod_spec(pod_spec, child(path, "spec"))
    if isinstance(pod_spec, Mapping):
        rp = pod_spec.get("restartPolicy")
        if rp is not None and rp != "Always":
            errs.append(not_supported(child(path, "spec", "restartPolicy"), rp, ["Always"]))
        ads = pod_spec.get("activeDeadlineSeconds")
        if ads is not None:
            errs.append(invalid(child(path, "spec", "activeDeadlineSeconds"), ads,
                                "must not be specified"))


def validate_rc_spec(spec: JSON, path: str = "spec") -> Errs:
    """ValidateReplicationControllerSpec."""
    errs: Errs = []
    non_negative(errs, spec.get("minReadySeconds"), child(path, "minReadySeconds"))
    spath = child(path, "selector")
    selector = spec.get("selector")
    sel = as_dict(errs, selector, spath)
    if not sel:
        errs.append(required(spath))
    else:
        for k, v in sel.items():
            if not isinstance(v, str):
                errs.append(invalid(child(spath, str(k)), v, "must be a string"))
        try:
            selector_from_set({str(k): str(v) for k, v in sel.items()})
        except SelectorError as exc:
            errs.append(invalid(spath, dict(sel), str(exc)))
    non_negative(errs, spec.get("replicas"), child(path, "replicas"))
    _template_for_rc(errs, spec.get("template"), sel, child(path, "template"))
    return errs


def validate_replication_controller(obj: JSON) -> Errs:
    """ValidateReplicationController (the metadata is checked by the caller)."""
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    errs += validate_rc_spec(spec)
    if isinstance(obj.get("status"), Mapping):
        errs += validate_rc_status(obj["status"])
    return errs


def validate_rc_status(status: JSON, path: str = "status") -> Errs:
    """ValidateReplicationControllerStatus."""
    errs: Errs = []
    counts: dict[str, int] = {}
    for f in ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas",
              "observedGeneration"):
        non_negative(errs, status.get(f), child(path, f))
        counts[f] = as_int([], status.get(f), "") or 0
    msg = "cannot be greater than status.replicas"
    for f in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
        if counts[f] > counts["replicas"]:
            errs.append(invalid(child(path, f), counts[f], msg))
    if counts["availableReplicas"] > counts["readyReplicas"]:
        errs.append(invalid(child(path, "availableReplicas"), counts["availableReplicas"],
                            "cannot be greater than readyReplicas"))
    return errs
