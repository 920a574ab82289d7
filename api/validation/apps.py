"""Deployments, ReplicaSets, StatefulSets and their scale subresource.

Ports pkg/apis/apps/validation/validation.go: ValidateDeploymentSpec (with
ValidateDeploymentStrategy, ValidateRollingUpdateDeployment, progressDeadlineSeconds
after minReadySeconds) and ValidateReplicaSetSpec, which share the selector, the
template (ValidatePodTemplateSpecForReplicaSet: labels matching the selector, a pod
spec restarting Always, no activeDeadlineSeconds) and the replica counts; and the
Scale's replicas (pkg/apis/autoscaling/validation ValidateScale).
DaemonSets (ValidateDaemonSet with ValidateDaemonSetUpdateStrategy) and ControllerRevisions
(ValidateControllerRevisionCreate/Update) follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.base import dig
from api.labels import SelectorError, from_label_selector
from api.names import is_valid_percent
from api.validation.field import (
    JSON,
    NON_NEGATIVE,
    Errs,
    as_dict,
    as_int,
    child,
    forbidden,
    invalid,
    non_negative,
    not_supported,
    required,
)
from api.validation.meta import validate_label_selector, validate_template_meta
from api.validation.pod import RESTART_POLICIES, validate_pod_spec


def _replicated_spec(errs: Errs, spec: JSON, path: str) -> None:
    """What Deployment and ReplicaSet share: replicas, selector, template."""
    non_negative(errs, spec.get("replicas"), child(path, "replicas"))
    non_negative(errs, spec.get("minReadySeconds"), child(path, "minReadySeconds"))
    spath = child(path, "selector")
    sel = spec.get("selector")
    if sel is None:
        errs.append(required(spath))
    else:
        errs += validate_label_selector(sel, spath)
        if (
            isinstance(sel, Mapping)
            and not sel.get("matchLabels")
            and not sel.get("matchExpressions")
        ):
            errs.append(invalid(spath, sel, "empty selector is invalid for deployment"))
    tpath = child(path, "template")
    tmpl = as_dict(errs, spec.get("template"), tpath)
    try:
        selector = from_label_selector(sel if isinstance(sel, Mapping) else None)
    except SelectorError:
        errs.append(invalid(spath, sel, "invalid label selector"))
        return
    meta = as_dict(errs, tmpl.get("metadata"), child(tpath, "metadata"))
    labels = meta.get("labels") if isinstance(meta.get("labels"), Mapping) else None
    if not selector.empty and not selector.matches_nothing and not selector.matches(labels):
        errs.append(
            invalid(
                child(tpath, "metadata", "labels"),
                labels,
                "`selector` does not match template `labels`",
            )
        )
    errs += validate_template_meta(tmpl.get("metadata"), child(tpath, "metadata"))
    errs += validate_pod_spec(tmpl.get("spec"), child(tpath, "spec"))
    _always_running_template(errs, tmpl.get("spec"), child(tpath, "spec"), "ReplicaSet")


def _always_running_template(errs: Errs, pod_spec: Any, path: str, kind: str) -> None:
    """What Kubernetes checks of a ReplicaSet's, DaemonSet's or StatefulSet's pod template
    beyond ValidatePodTemplateSpec: restartPolicy Always only, no activeDeadlineSeconds."""
    if not isinstance(pod_spec, Mapping):
        return
    rp = pod_spec.get("restartPolicy")
    if rp is not None and rp != "Always" and rp in RESTART_POLICIES:
        errs.append(not_supported(child(path, "restartPolicy"), rp, ["Always"]))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        errs.append(invalid(child(path, "activeDeadlineSeconds"),
                            pod_spec.get("activeDeadlineSeconds"),
                            f"activeDeadlineSeconds in {kind} is not Supported"))


def _int_or_percent(errs: Errs, v: Any, path: str, at_most_100: bool) -> int | None:
    """A non-negative int or "N%"; returns the number (percent or int) for later checks."""
    if isinstance(v, str):
        msgs = is_valid_percent(v)
        for m in msgs:
            errs.append(invalid(path, v, m))
        if msgs:
            return None
        n = int(v[:-1])
        if at_most_100 and n > 100:
            errs.append(invalid(path, v, "must not be greater than 100%"))
        return n
    if isinstance(v, int) and not isinstance(v, bool):
        if v < 0:
            errs.append(invalid(path, v, NON_NEGATIVE))
        return v
    errs.append(invalid(path, v, "must be an integer or a percentage"))
    return None


def _validate_strategy(errs: Errs, strategy: Any, path: str) -> None:
    if strategy is None:
        return
    st = as_dict(errs, strategy, path)
    t = st.get("type")
    rpath = child(path, "rollingUpdate")
    if t == "Recreate":
        if st.get("rollingUpdate") is not None:
            errs.append(forbidden(rpath, "may not be specified when strategy `type` is 'Recreate'"))
    elif t == "RollingUpdate" or t is None:
        ru = as_dict(errs, st.get("rollingUpdate"), rpath)
        unavailable = ru.get("maxUnavailable")
        surge = ru.get("maxSurge")
        u = (
            _int_or_percent(errs, unavailable, child(rpath, "maxUnavailable"), True)
            if unavailable is not None
            else None
        )
        s = _int_or_percent(errs, surge, child(rpath, "maxSurge"), False) if surge is not None else None
        if u == 0 and s == 0:
            errs.append(
                invalid(
                    child(rpath, "maxUnavailable"),
                    unavailable,
                    "may not be 0 when `maxSurge` is 0",
                )
            )
    else:
        errs.append(not_supported(path, dict(st), ["Recreate", "RollingUpdate"]))


def validate_deployment(obj: JSON) -> Errs:
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    _replicated_spec(errs, spec, "spec")
    _validate_strategy(errs, spec.get("strategy"), "spec.strategy")
    non_negative(errs, spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
    pds = as_int(errs, spec.get("progressDeadlineSeconds"), "spec.progressDeadlineSeconds")
    if pds is not None:
        if pds < 0:
            errs.append(invalid("spec.progressDeadlineSeconds", pds, NON_NEGATIVE))
        mrs = spec.get("minReadySeconds")
        if pds <= (mrs if isinstance(mrs, int) else 0):
            errs.append(
                invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds")
            )
    if spec.get("paused") is not None and not isinstance(spec.get("paused"), bool):
        errs.append(invalid("spec.paused", spec.get("paused"), "must be a boolean"))
    return errs


def validate_replicaset(obj: JSON) -> Errs:
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    _replicated_spec(errs, spec, "spec")
    return errs


def validate_scale(obj: JSON) -> Errs:
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    non_negative(errs, spec.get("replicas"), "spec.replicas")
    return errs


# ---- DaemonSet and ControllerRevision ------------------------------------------------


def _int_or_percent_value(v: Any) -> int:
    """getIntOrPercentValue: the number of an int or of "N%" (0 when malformed)."""
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.endswith("%"):
        try:
            return int(v[:-1])
        except ValueError:
            return 0
    return 0


def _validate_daemonset_strategy(errs: Errs, strategy: Any, path: str) -> None:
    """ValidateDaemonSetUpdateStrategy and ValidateRollingUpdateDaemonSet."""
    st = as_dict(errs, strategy, path)
    t = st.get("type")
    if t == "OnDelete":
        return
    if t != "RollingUpdate":
        errs.append(not_supported(path, dict(st), ["RollingUpdate", "OnDelete"]))
        return
    rpath = child(path, "rollingUpdate")
    if st.get("rollingUpdate") is None:
        errs.append(required(rpath))
        return
    ru = as_dict(errs, st.get("rollingUpdate"), rpath)
    unavailable, surge = ru.get("maxUnavailable"), ru.get("maxSurge")
    for key, v in (("maxUnavailable", unavailable), ("maxSurge", surge)):
        if v is not None:
            _int_or_percent(errs, v, child(rpath, key), True)
    has_unavailable = _int_or_percent_value(unavailable) != 0
    has_surge = _int_or_percent_value(surge) != 0
    if has_unavailable and has_surge:
        errs.append(invalid(child(rpath, "maxSurge"), surge,
                            "may not be set when maxUnavailable is non-zero"))
    elif not has_unavailable and not has_surge:
        errs.append(required(child(rpath, "maxUnavailable"), "cannot be 0 when maxSurge is 0"))


def validate_daemonset(obj: JSON) -> Errs:
    """ValidateDaemonSet / ValidateDaemonSetSpec."""
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    sel = spec.get("selector")
    if sel is None:
        errs.append(required("spec.selector"))
    else:
        errs += validate_label_selector(sel, "spec.selector")
    tmpl = as_dict(errs, spec.get("template"), "spec.template")
    meta = as_dict(errs, tmpl.get("metadata"), "spec.template.metadata")
    labels = meta.get("labels") if isinstance(meta.get("labels"), Mapping) else None
    try:
        selector = from_label_selector(sel if isinstance(sel, Mapping) else None)
    except SelectorError:
        selector = None
    if selector is not None and sel is not None and not selector.matches(labels):
        errs.append(invalid("spec.template.metadata.labels", labels,
                            "`selector` does not match template `labels`"))
    if isinstance(sel, Mapping) and not sel.get("matchLabels") and \
            not sel.get("matchExpressions"):
        errs.append(invalid("spec.selector", sel, "empty selector is invalid for daemonset"))
    errs += validate_template_meta(tmpl.get("metadata"), "spec.template.metadata")
    errs += validate_pod_spec(tmpl.get("spec"), "spec.template.spec")
    _always_running_template(errs, tmpl.get("spec"), "spec.template.spec", "DaemonSet")
    non_negative(errs, spec.get("minReadySeconds"), "spec.minReadySeconds")
    _validate_daemonset_strategy(errs, spec.get("updateStrategy"), "spec.updateStrategy")
    non_negative(errs, spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
    return errs


def validate_controller_revision(obj: JSON) -> Errs:
    """ValidateControllerRevisionCreate: data is mandatory, revision not negative."""
    errs: Errs = []
    if obj.get("data") is None:
        errs.append(required("data", "data is mandatory"))
    non_negative(errs, obj.get("revision"), "revision")
    return errs


def validate_controller_revision_update(old: JSON, new: JSON) -> Errs:
    """ValidateControllerRevisionUpdate: data is immutable (the revision may change)."""
    errs: Errs = []
    if old.get("data") != new.get("data"):
        errs.append(invalid("data", new.get("data"), "field is immutable"))
    return errs


# ---- StatefulSet ---------------------------------------------------------------------

_STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
_RETENTION = ("Retain", "Delete")


def _validate_sts_rolling_update(errs: Errs, ru: JSON, path: str) -> None:
    """validateRollingUpdateStatefulSet: partition non-negative, maxUnavailable a positive
    int or percent, at most 100%."""
    non_negative(errs, ru.get("partition"), child(path, "partition"))
    mu = ru.get("maxUnavailable")
    if mu is not None:
        mpath = child(path, "maxUnavailable")
        n = _int_or_percent(errs, mu, mpath, True)
        if n == 0:
            errs.append(invalid(mpath, mu, "must be greater than 0"))


def _with_claim_volumes(pod_spec: Any, claim_templates: Any) -> Any:
    """The pod template's spec with a volume per volumeClaimTemplate, as the pods get them:
    their containers mount the claims by the templates' names. (Kubernetes skips the pod
    spec of a StatefulSet's template altogether, ValidatePodTemplateSpecForStatefulSet's
    TODO: "check that the union of the given volumes and volumeClaims validate against the
    pod spec"; this is that union.)"""
    if not isinstance(pod_spec, Mapping) or not isinstance(claim_templates, list):
        return pod_spec
    volumes = pod_spec.get("volumes")
    if volumes is not None and not isinstance(volumes, list):
        return pod_spec
    have = {v.get("name") for v in volumes or [] if isinstance(v, Mapping)}
    extra = [{"name": n, "persistentVolumeClaim": {"claimName": n}} for t in claim_templates
             if isinstance(n := dig(t, "metadata", "name"), str) and n and n not in have]
    return {**pod_spec, "volumes": [*(volumes or []), *extra]} if extra else pod_spec


def validate_statefulset(obj: JSON) -> Errs:
    """ValidateStatefulSet / ValidateStatefulSetSpec (pkg/apis/apps/validation)."""
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    policy = spec.get("podManagementPolicy")
    if policy in (None, ""):
        errs.append(required("spec.podManagementPolicy"))
    elif policy not in ("OrderedReady", "Parallel"):
        errs.append(invalid("spec.podManagementPolicy", policy,
                            "must be 'OrderedReady' or 'Parallel'"))
    strategy = as_dict(errs, spec.get("updateStrategy"), "spec.updateStrategy")
    st_type = strategy.get("type")
    rpath = "spec.updateStrategy.rollingUpdate"
    if st_type in (None, ""):
        errs.append(required("spec.updateStrategy"))
    elif st_type == "OnDelete":
        if strategy.get("rollingUpdate") is not None:
            errs.append(invalid(rpath, strategy.get("rollingUpdate"),
                                "only allowed for updateStrategy 'RollingUpdate'"))
    elif st_type == "RollingUpdate":
        if strategy.get("rollingUpdate") is not None:
            _validate_sts_rolling_update(errs, as_dict(errs, strategy.get("rollingUpdate"),
                                                       rpath), rpath)
    else:
        errs.append(invalid("spec.updateStrategy", dict(strategy),
                            "must be 'RollingUpdate' or 'OnDelete'"))
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if retention is not None:
        rp = as_dict(errs, retention, "spec.persistentVolumeClaimRetentionPolicy")
        for key in ("whenDeleted", "whenScaled"):
            v = rp.get(key)
            if v not in _RETENTION:
                errs.append(not_supported(
                    child("spec.persistentVolumeClaimRetentionPolicy", key), v,
                    list(_RETENTION)))
    non_negative(errs, spec.get("replicas"), "spec.replicas")
    non_negative(errs, spec.get("minReadySeconds"), "spec.minReadySeconds")
    ordinals = spec.get("ordinals")
    if ordinals is not None:
        od = as_dict(errs, ordinals, "spec.ordinals")
        non_negative(errs, od.get("start"), "spec.ordinals.start")
    sel = spec.get("selector")
    if sel is None:
        errs.append(required("spec.selector"))
    else:
        errs += validate_label_selector(sel, "spec.selector")
        if isinstance(sel, Mapping) and not sel.get("matchLabels") and \
                not sel.get("matchExpressions"):
            errs.append(invalid("spec.selector", sel,
                                "empty selector is invalid for statefulset"))
    tmpl = as_dict(errs, spec.get("template"), "spec.template")
    meta = as_dict(errs, tmpl.get("metadata"), "spec.template.metadata")
    labels = meta.get("labels") if isinstance(meta.get("labels"), Mapping) else None
    try:
        selector = from_label_selector(sel if isinstance(sel, Mapping) else None)
    except SelectorError:
        selector = None
    if selector is not None and sel is not None and not selector.matches(labels):
        errs.append(invalid("spec.template.metadata.labels", labels,
                            "`selector` does not match template `labels`"))
    errs += validate_template_meta(tmpl.get("metadata"), "spec.template.metadata")
    errs += validate_pod_spec(_with_claim_volumes(tmpl.get("spec"), spec.get(
        "volumeClaimTemplates")), "spec.template.spec")
    _always_running_template(errs, tmpl.get("spec"), "spec.template.spec", "StatefulSet")
    vcts = spec.get("volumeClaimTemplates")
    if vcts is not None and not isinstance(vcts, list):
        errs.append(invalid("spec.volumeClaimTemplates", vcts, "must be a list"))
    elif vcts:
        for i, t in enumerate(vcts):
            tp = f"spec.volumeClaimTemplates[{i}]"
            td = as_dict(errs, t, tp)
            name = dig(td, "metadata", "name")
            if not name:
                errs.append(required(child(tp, "metadata", "name"), "name or generateName is "
                                     "required"))
    non_negative(errs, spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
    return errs


def validate_statefulset_update(old: JSON, new: JSON) -> Errs:
    """ValidateStatefulSetUpdate: only the listed spec fields may change (so never the
    selector, the serviceName or the volumeClaimTemplates)."""
    errs: Errs = []
    o, n = old.get("spec"), new.get("spec")
    ospec: Mapping[str, Any] = o if isinstance(o, Mapping) else {}
    nspec: Mapping[str, Any] = n if isinstance(n, Mapping) else {}
    rest_old = {k: v for k, v in ospec.items() if k not in _STS_MUTABLE}
    rest_new = {k: v for k, v in nspec.items() if k not in _STS_MUTABLE}
    if rest_old != rest_new:
        errs.append(forbidden("spec", "updates to statefulset spec for fields other than "
                              "'replicas', 'ordinals', 'template', 'updateStrategy', "
                              "'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' "
                              "and 'minReadySeconds' are forbidden"))
    return errs
