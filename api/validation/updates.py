"""What an update may not change: the rules Kubernetes checks only on update.

``validate_update`` runs these besides ``validate`` of the new object. They port
ValidateObjectMetaUpdate (apimachinery's objectmeta.go: name, namespace, uid and
creationTimestamp are fixed), ValidatePodUpdate (pkg/apis/core/validation), the
immutable selector of ValidateDeploymentUpdate and ValidateReplicaSetUpdate
(pkg/apis/apps/validation), ValidateNodeUpdate's podCIDR and providerID, and the
``immutable`` ConfigMaps and Secrets of ValidateConfigMapUpdate and
ValidateSecretUpdate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.base import dig
from api.validation.field import (
    INT32_MAX,
    JSON,
    Errs,
    FieldError,
    as_dict,
    as_list,
    forbidden,
    invalid,
)

_IMMUTABLE = "field is immutable"
POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def validate_meta_update(old: JSON, new: JSON) -> Errs:
    errs: Errs = []
    for f in ("name", "namespace", "uid", "creationTimestamp"):
        o, n = dig(old, "metadata", f), dig(new, "metadata", f)
        # An unset value in the new object means "keep"; the server copies it over.
        if n not in (None, "") and o not in (None, "") and n != o:
            errs.append(invalid(f"metadata.{f}", n, _IMMUTABLE))
    return errs


def validate_pod_update(old: JSON, new: JSON) -> Errs:
    """ValidatePodUpdate's spec rules: the same containers; activeDeadlineSeconds set
    or lowered; nothing else changed but images, tolerations (added), scheduling gates
    (removed), nodeName (set once) and a negative grace period (to 1)."""
    old_spec = dict(as_dict([], dig(old, "spec"), "spec"))
    new_spec = dict(as_dict([], dig(new, "spec"), "spec"))
    count = _container_count_changed(old_spec, new_spec)
    if count is not None:
        return [count]
    errs, final = _active_deadline_update(old_spec, new_spec)
    if final:
        return errs
    errs += _only_allowed_changes(old_spec, new_spec)
    errs += _only_deleted_scheduling_gates(old_spec, new_spec)
    errs += _only_added_tolerations(old_spec, new_spec)
    return errs


def _container_count_changed(old_spec: JSON, new_spec: JSON) -> FieldError | None:
    """Pod updates may not add or remove containers, nor init containers."""
    for key in ("containers", "initContainers"):
        if len(as_list([], old_spec.get(key), "")) != len(as_list([], new_spec.get(key), "")):
            return forbidden(f"spec.{key}", "pod updates may not add or remove containers")
    return None


def _active_deadline_update(old_spec: JSON, new_spec: JSON) -> tuple[Errs, bool]:
    """activeDeadlineSeconds may be set, or lowered, never raised or removed. The bool
    says the error is final: Kubernetes returns at once on a value out of range or
    raised, and goes on checking after a removal."""
    new_ads, old_ads = new_spec.get("activeDeadlineSeconds"), old_spec.get("activeDeadlineSeconds")
    path = "spec.activeDeadlineSeconds"
    if new_ads is not None:
        if not isinstance(new_ads, int) or not 0 <= new_ads <= INT32_MAX:
            return [invalid(path, new_ads, f"must be between 0 and {INT32_MAX}, inclusive")], True
        if isinstance(old_ads, int) and old_ads < new_ads:
            return [invalid(path, new_ads, "must be less than or equal to previous value")], True
    elif old_ads is not None:
        return [invalid(path, None, "must not update from a positive integer to nil value")], False
    return [], False


def _munged_spec(spec: JSON, images_from: JSON) -> dict[str, Any]:
    """The spec with what an update may change masked out (ValidatePodUpdate's
    mungedPodSpec): containers' images taken from ``images_from``, and no
    activeDeadlineSeconds, tolerations or schedulingGates."""
    out = dict(spec)
    for key in ("containers", "initContainers"):
        cs = [dict(c) if isinstance(c, Mapping) else c for c in as_list([], out.get(key), "")]
        src = as_list([], images_from.get(key), "")
        for i, c in enumerate(cs):
            if isinstance(c, dict) and i < len(src) and isinstance(src[i], Mapping):
                c["image"] = src[i].get("image")
        if key in out:
            out[key] = cs
    out.pop("activeDeadlineSeconds", None)
    out.pop("tolerations", None)
    out.pop("schedulingGates", None)
    return out


def _only_allowed_changes(old_spec: JSON, new_spec: JSON) -> Errs:
    """Forbidden: any change but the ones ``_munged_spec`` masks, nodeName going from
    unset to set (binding), and terminationGracePeriodSeconds from negative to 1."""
    masked_new = _munged_spec(new_spec, old_spec)
    masked_old = _munged_spec(old_spec, old_spec)
    if not old_spec.get("nodeName"):
        masked_new.pop("nodeName", None)
        masked_old.pop("nodeName", None)
    otg = old_spec.get("terminationGracePeriodSeconds")
    ntg = new_spec.get("terminationGracePeriodSeconds")
    if isinstance(otg, int) and otg < 0 and ntg == 1:
        masked_new["terminationGracePeriodSeconds"] = otg
    if masked_new == masked_old:
        return []
    changed = sorted(
        k for k in set(masked_new) | set(masked_old) if masked_new.get(k) != masked_old.get(k)
    )
    return [
        forbidden(
            "spec",
            POD_UPDATE_FORBIDDEN + f" (changed: {', '.join('spec.' + c for c in changed)})",
        )
    ]


def _only_deleted_scheduling_gates(old_spec: JSON, new_spec: JSON) -> Errs:
    """validateOnlyDeletedSchedulingGates: releasing a gated pod to the scheduler."""
    errs: Errs = []
    old_gates = as_list([], old_spec.get("schedulingGates"), "")
    for i, gate in enumerate(as_list([], new_spec.get("schedulingGates"), "")):
        if gate not in old_gates:
            name = gate.get("name") if isinstance(gate, Mapping) else gate
            errs.append(
                forbidden(
                    f"spec.schedulingGates[{i}]",
                    f"only deletion is allowed, but found new scheduling gate '{name}'",
                )
            )
    return errs


def _only_added_tolerations(old_spec: JSON, new_spec: JSON) -> Errs:
    """validateOnlyAddedTolerations: every old toleration is still there."""
    old_tols = as_list([], old_spec.get("tolerations"), "")
    new_tols = as_list([], new_spec.get("tolerations"), "")
    if all(t in new_tols for t in old_tols):
        return []
    return [
        forbidden(
            "spec.tolerations",
            "existing toleration can not be modified except its tolerationSeconds",
        )
    ]


def validate_selector_update(old: JSON, new: JSON) -> Errs:
    o, n = dig(old, "spec", "selector"), dig(new, "spec", "selector")
    if o is not None and n != o:
        return [invalid("spec.selector", n, _IMMUTABLE)]
    return []


def validate_node_update(old: JSON, new: JSON) -> Errs:
    errs: Errs = []
    for f, alias in (("podCIDR", "podCIDRs"), ("providerID", "providerID")):
        o, n = dig(old, "spec", f), dig(new, "spec", f)
        if o and n != o:
            errs.append(
                forbidden(
                    f"spec.{alias}", f'node updates may not change {f} except from "" to valid'
                )
            )
    o_cidrs, n_cidrs = dig(old, "spec", "podCIDRs"), dig(new, "spec", "podCIDRs")
    if o_cidrs and n_cidrs != o_cidrs and not any(e.field == "spec.podCIDRs" for e in errs):
        errs.append(
            forbidden(
                "spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid'
            )
        )
    return errs


_IMMUTABLE_SET = "field is immutable when `immutable` is set"


def _immutable_data(old: JSON, new: JSON, fields: tuple[str, ...]) -> Errs:
    if old.get("immutable") is not True:
        return []
    errs: Errs = []
    if new.get("immutable") is not True:
        errs.append(forbidden("immutable", _IMMUTABLE_SET))
    for f in fields:
        # An absent map and an empty one are the same object in Go.
        if (old.get(f) or {}) != (new.get(f) or {}):
            errs.append(forbidden(f, _IMMUTABLE_SET))
    return errs


def validate_configmap_update(old: JSON, new: JSON) -> Errs:
    return _immutable_data(old, new, ("data", "binaryData"))


def validate_secret_update(old: JSON, new: JSON) -> Errs:
    errs: Errs = []
    if (old.get("type") or "") != (new.get("type") or ""):
        errs.append(invalid("type", new.get("type"), _IMMUTABLE))
    # stringData is already merged into data by now, as in Kubernetes.
    return errs + _immutable_data(old, new, ("data",))


_MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"


def _ephemeral_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """A short account of what changed, where Kubernetes prints cmp.Diff's."""
    keys = sorted(set(old) | set(new))
    return "\n".join(f"  {k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys
                     if old.get(k) != new.get(k))


def validate_ephemeral_containers_update(old: JSON, new: JSON) -> Errs:
    """ValidatePodEphemeralContainersUpdate's own part (the new pod is validated whole
    besides): no ephemeral container of a static pod; none removed; none changed.
    Patches do not keep the order, so each is found by name."""
    if _MIRROR_POD_ANNOTATION in (as_dict([], dig(old, "metadata", "annotations"), "")):
        return [forbidden("", "static pods do not support ephemeral containers")]
    errs: Errs = []
    path = "spec.ephemeralContainers"
    by_name = {c.get("name"): c for c in as_list([], dig(new, "spec", "ephemeralContainers"), "")
               if isinstance(c, Mapping)}
    for c in as_list([], dig(old, "spec", "ephemeralContainers"), ""):
        if not isinstance(c, Mapping):
            continue
        name = c.get("name")
        now = by_name.get(name)
        if now is None:
            errs.append(forbidden(path, f'existing ephemeral containers "{name}" may not be '
                                        "removed\n"))
        elif dict(now) != dict(c):
            errs.append(forbidden(path, f'existing ephemeral containers "{name}" may not be '
                                        f"changed\n{_ephemeral_diff(c, now)}"))
    return errs
