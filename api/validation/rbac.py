"""RBAC kinds: pkg/apis/rbac/validation/validation.go (ValidateRole, ValidateClusterRole,
ValidatePolicyRule, ValidateRoleBinding(Update), ValidateClusterRoleBinding(Update),
ValidateRoleBindingSubject). Names are path segments (``system:node`` is valid), as
ValidateRBACName says; the metadata checks know that through api.validation.meta."""

from __future__ import annotations

from api.names import is_dns1123_subdomain, is_valid_path_segment_name
from api.validation.field import (
    JSON,
    Errs,
    as_dict,
    as_list,
    as_str,
    at_index,
    child,
    invalid,
    not_supported,
    required,
)
from api.validation.meta import validate_label_selector

GROUP = "rbac.authorization.k8s.io"
_SUBJECT_KINDS = ["ServiceAccount", "User", "Group"]


def _strings(errs: Errs, value: object, path: str) -> list[str]:
    out = []
    for i, v in enumerate(as_list(errs, value, path)):
        out.append(as_str(errs, v, at_index(path, i)))
    return out


def validate_policy_rule(rule: object, namespaced: bool, path: str) -> Errs:
    errs: Errs = []
    r = as_dict(errs, rule, path)
    verbs = _strings(errs, r.get("verbs"), child(path, "verbs"))
    groups = _strings(errs, r.get("apiGroups"), child(path, "apiGroups"))
    res = _strings(errs, r.get("resources"), child(path, "resources"))
    names = _strings(errs, r.get("resourceNames"), child(path, "resourceNames"))
    urls = _strings(errs, r.get("nonResourceURLs"), child(path, "nonResourceURLs"))
    if not verbs:
        errs.append(required(child(path, "verbs"), "verbs must contain at least one value"))
    if urls:
        if namespaced:
            errs.append(invalid(child(path, "nonResourceURLs"), urls,
                                "namespaced rules cannot apply to non-resource URLs"))
        if groups or res or names:
            errs.append(invalid(child(path, "nonResourceURLs"), urls,
                                "rules cannot apply to both regular resources and "
                                "non-resource URLs"))
        return errs
    if not groups:
        errs.append(required(child(path, "apiGroups"),
                             "resource rules must supply at least one api group"))
    if not res:
        errs.append(required(child(path, "resources"),
                             "resource rules must supply at least one resource"))
    return errs


def _rules(obj: JSON, namespaced: bool) -> Errs:
    errs: Errs = []
    for i, rule in enumerate(as_list(errs, obj.get("rules"), "rules")):
        errs += validate_policy_rule(rule, namespaced, at_index("rules", i))
    return errs


def validate_role(obj: JSON) -> Errs:
    return _rules(obj, True)


def validate_cluster_role(obj: JSON) -> Errs:
    errs = _rules(obj, False)
    agg = obj.get("aggregationRule")
    if agg is not None:
        a = as_dict(errs, agg, "aggregationRule")
        path = child("aggregationRule", "clusterRoleSelectors")
        selectors = as_list(errs, a.get("clusterRoleSelectors"), path)
        if not selectors:
            errs.append(required(path, "at least one clusterRoleSelector required if "
                                       "aggregationRule is non-nil"))
        for i, s in enumerate(selectors):
            errs += validate_label_selector(s, at_index(path, i))
    return errs


def _subject(subject: object, namespaced: bool, path: str) -> Errs:
    errs: Errs = []
    s = as_dict(errs, subject, path)
    name = as_str(errs, s.get("name"), child(path, "name"))
    kind = as_str(errs, s.get("kind"), child(path, "kind"))
    group = as_str(errs, s.get("apiGroup"), child(path, "apiGroup"))
    if not name:
        errs.append(required(child(path, "name")))
    if kind == "ServiceAccount":
        if name:
            # ValidateServiceAccountName: a DNS-1123 subdomain
            for m in is_dns1123_subdomain(name):
                errs.append(invalid(child(path, "name"), name, m))
        if group:
            errs.append(not_supported(child(path, "apiGroup"), group, [""]))
        if not namespaced and not as_str(errs, s.get("namespace"), child(path, "namespace")):
            errs.append(required(child(path, "namespace")))
    elif kind in ("User", "Group"):
        if group != GROUP:
            errs.append(not_supported(child(path, "apiGroup"), group, [GROUP]))
    else:
        errs.append(not_supported(child(path, "kind"), kind, _SUBJECT_KINDS))
    return errs


def _binding(obj: JSON, namespaced: bool) -> Errs:
    errs: Errs = []
    ref = as_dict(errs, obj.get("roleRef"), "roleRef")
    group = as_str(errs, ref.get("apiGroup"), "roleRef.apiGroup")
    kind = as_str(errs, ref.get("kind"), "roleRef.kind")
    name = as_str(errs, ref.get("name"), "roleRef.name")
    if group != GROUP:
        errs.append(not_supported("roleRef.apiGroup", group, [GROUP]))
    kinds = ["Role", "ClusterRole"] if namespaced else ["ClusterRole"]
    if kind not in kinds:
        errs.append(not_supported("roleRef.kind", kind, kinds))
    if not name:
        errs.append(required("roleRef.name"))
    else:
        for m in is_valid_path_segment_name(name):
            errs.append(invalid("roleRef.name", name, m))
    for i, s in enumerate(as_list(errs, obj.get("subjects"), "subjects")):
        errs += _subject(s, namespaced, at_index("subjects", i))
    return errs


def validate_role_binding(obj: JSON) -> Errs:
    return _binding(obj, True)


def validate_cluster_role_binding(obj: JSON) -> Errs:
    return _binding(obj, False)


def validate_binding_update(old: JSON, new: JSON) -> Errs:
    """The roleRef is immutable (delete and re-create the binding to change it)."""
    o, n = old.get("roleRef"), new.get("roleRef")
    if isinstance(o, dict) and isinstance(n, dict) and \
            {k: o.get(k) or "" for k in ("apiGroup", "kind", "name")} != \
            {k: n.get(k) or "" for k in ("apiGroup", "kind", "name")}:
        return [invalid("roleRef", n, "cannot change roleRef")]
    return []
