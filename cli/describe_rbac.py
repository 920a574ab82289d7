"""``minictl describe`` of RBAC kinds, as kubectl's RoleDescriber/ClusterRoleDescriber
(the rules broken down, compacted and sorted as rbac.CompactRules and SortableRuleSlice
leave them: one line per resource with its verbs) and RoleBindingDescriber/
ClusterRoleBindingDescriber (the role, then the subjects)."""

from __future__ import annotations

from typing import Any

from api.models.core import TypedObject
from api.models.rbac import ClusterRole, ClusterRoleBinding, Role, RoleBinding
from cli.context import State
from cli.describe import EXTRA_DESCRIBERS, tabwrite

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _go_string(r: dict[str, list[str]]) -> str:
    """rbacv1.PolicyRule's String() (generated.pb.go), what SortableRuleSlice sorts by."""
    return "&PolicyRule{" + "".join(
        f"{label}:[{' '.join(r.get(k) or [])}]," for k, label in (
            ("verbs", "Verbs"), ("apiGroups", "APIGroups"), ("resources", "Resources"),
            ("resourceNames", "ResourceNames"), ("nonResourceURLs", "NonResourceURLs"))) + "}"


def _breakdown(rule: dict[str, Any]) -> list[dict[str, list[str]]]:
    out: list[dict[str, list[str]]] = []
    verbs = list(rule.get("verbs") or ())
    names = list(rule.get("resourceNames") or ())
    for g in rule.get("apiGroups") or ():
        for res in rule.get("resources") or ():
            for v in verbs:
                if names:
                    out += [{"apiGroups": [g], "resources": [res], "verbs": [v],
                             "resourceNames": [n]} for n in names]
                else:
                    out.append({"apiGroups": [g], "resources": [res], "verbs": [v]})
    for u in rule.get("nonResourceURLs") or ():
        out += [{"nonResourceURLs": [u], "verbs": [v]} for v in verbs]
    return out


def compact_rules(rules: list[dict[str, Any]]) -> list[dict[str, list[str]]]:
    """BreakdownRule, CompactRules, then sorted by the rules' strings."""
    simple: dict[tuple[str, str, str], dict[str, list[str]]] = {}
    other: list[dict[str, list[str]]] = []
    for rule in rules:
        for r in _breakdown(rule):
            if r.get("nonResourceURLs"):
                other.append(r)
                continue
            key = (r["apiGroups"][0], r["resources"][0], (r.get("resourceNames") or [""])[0])
            if key in simple:
                simple[key]["verbs"] += r["verbs"]
            else:
                simple[key] = {k: list(v) for k, v in r.items()}
    return sorted([*other, *simple.values()], key=_go_string)


def _resource_group(resources: list[str], groups: list[str]) -> str:
    """CombineResourceGroup."""
    if not resources:
        return ""
    res, _, sub = resources[0].partition("/")
    if groups and groups[0]:
        res += "." + groups[0]
    return res + (f"/{sub}" if sub else "")


def _v(values: list[str] | None) -> str:
    return "[" + " ".join(values or []) + "]"


def _multiline(key: str, data: dict[str, str] | None, sep: str) -> list[str]:
    items = [f"{k}{sep}{v}" for k, v in sorted((data or {}).items())]
    if not items:
        return [f"{key}:\t<none>"]
    return [f"{key}:\t{items[0]}", *(f"\t{i}" for i in items[1:])]


def _head(obj: TypedObject) -> list[str]:
    md = obj.metadata
    annotations = {k: v for k, v in (md.annotations or {}).items() if k != LAST_APPLIED}
    return [f"Name:\t{md.name}", *_multiline("Labels", md.labels, "="),
            *_multiline("Annotations", annotations, ": ")]


def describe_role(st: State, role: TypedObject) -> str:
    assert isinstance(role, Role | ClusterRole)
    lines = _head(role)
    lines += ["PolicyRule:", "  Resources\tNon-Resource URLs\tResource Names\tVerbs",
              "  ---------\t-----------------\t--------------\t-----"]
    for r in compact_rules([x.to_dict() for x in role.rules or []]):
        lines.append(f"  {_resource_group(r.get('resources', []), r.get('apiGroups', []))}\t"
                     f"{_v(r.get('nonResourceURLs'))}\t{_v(r.get('resourceNames'))}\t"
                     f"{_v(r.get('verbs'))}")
    return tabwrite("\n".join(lines) + "\n")


def describe_binding(st: State, b: TypedObject) -> str:
    assert isinstance(b, RoleBinding | ClusterRoleBinding)
    ref = b.role_ref
    lines = _head(b)
    lines += ["Role:", f"  Kind:\t{ref.kind if ref else ''}",
              f"  Name:\t{ref.name if ref else ''}", "Subjects:",
              "  Kind\tName\tNamespace", "  ----\t----\t---------"]
    for s in b.subjects or []:
        lines.append(f"  {s.kind or ''}\t{s.name or ''}\t{s.namespace or ''}")
    return tabwrite("\n".join(lines) + "\n")


EXTRA_DESCRIBERS.update({Role: describe_role, ClusterRole: describe_role,
                         RoleBinding: describe_binding, ClusterRoleBinding: describe_binding})
