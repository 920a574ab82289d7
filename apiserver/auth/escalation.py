"""RBAC's privilege-escalation prevention (pkg/registry/rbac/{role,clusterrole,rolebinding,
clusterrolebinding}/policybased and pkg/registry/rbac/validation/rule.go).

A user may write a Role or ClusterRole only with rules they already hold (in the role's
namespace, or cluster-wide for a ClusterRole), unless they may ``escalate`` it; and a
RoleBinding or ClusterRoleBinding only to a role whose rules they hold, unless they may
``bind`` it. Superusers (system:masters) skip both checks, and so does a write that
changes only what the garbage collector changes (ownerReferences, finalizers). The
checks run as storage hooks, after validation and before the write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from api import resources
from apiserver import errors
from apiserver.auth import context
from apiserver.auth.attributes import Attributes
from apiserver.auth.authorizer import Decision
from apiserver.auth.rbac import RBAC_GROUP, index_for
from apiserver.auth.user import UserInfo

Rule = Mapping[str, Any]
FULL_AUTHORITY: list[Rule] = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                              {"verbs": ["*"], "nonResourceURLs": ["*"]}]
Finish = Callable[[bool], Awaitable[None]]


def _has(values: Iterable[str] | None, v: str) -> bool:
    return v in (values or ())


def _has_all(values: Iterable[str] | None, want: Iterable[str] | None) -> bool:
    have = set(values or ())
    return all(w in have for w in want or ())


def _resources_cover(owner: Sequence[str] | frozenset[str], want: Sequence[str]) -> bool:
    if _has(owner, "*") or _has_all(owner, want):
        return True
    for path in want:
        if _has(owner, path):
            continue
        if "/" not in path:
            return False
        if not _has(owner, "*/" + path.split("/", 1)[1]):
            return False
    return True


def _url_covers(owner: str, sub: str) -> bool:
    return owner == sub or (owner.endswith("*") and sub.startswith(owner.rstrip("*")))


def rule_covers(owner: Rule, sub: Rule) -> bool:
    """ruleCovers (pkg/registry/rbac/validation/policy_comparator.go)."""
    ov, og, onames = owner.get("verbs"), owner.get("apiGroups"), owner.get("resourceNames")
    if not (_has(ov, "*") or _has_all(ov, sub.get("verbs"))):
        return False
    if not (_has(og, "*") or _has_all(og, sub.get("apiGroups"))):
        return False
    if not _resources_cover(owner.get("resources") or (), sub.get("resources") or ()):
        return False
    if not all(any(_url_covers(o, u) for o in owner.get("nonResourceURLs") or ())
               for u in sub.get("nonResourceURLs") or ()):
        return False
    if not sub.get("resourceNames"):
        return not onames
    return not onames or _has_all(onames, sub.get("resourceNames"))


def breakdown(rule: Rule) -> list[dict[str, list[str]]]:
    """BreakdownRule: one rule per group, resource, verb (and name)."""
    out: list[dict[str, list[str]]] = []
    verbs = list(rule.get("verbs") or ())
    for g in rule.get("apiGroups") or ():
        for r in rule.get("resources") or ():
            for v in verbs:
                names = list(rule.get("resourceNames") or ())
                if names:
                    out += [{"apiGroups": [g], "resources": [r], "verbs": [v],
                             "resourceNames": [n]} for n in names]
                else:
                    out.append({"apiGroups": [g], "resources": [r], "verbs": [v]})
    for u in rule.get("nonResourceURLs") or ():
        out += [{"nonResourceURLs": [u], "verbs": [v]} for v in verbs]
    return out


def covers(owner: Sequence[Rule], wanted: Sequence[Rule]) -> tuple[bool, list[dict[str, Any]]]:
    """Covers: whether ``owner`` grants every part of ``wanted``, and the parts it does not."""
    missing = [s for w in wanted for s in breakdown(w)
               if not any(rule_covers(o, s) for o in owner)]
    return not missing, missing


def _q(values: Sequence[str]) -> str:
    """Go's %q of a []string."""
    return "[" + " ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for v in values) + "]"


def compact_string(rule: Mapping[str, Any]) -> str:
    """rbacv1helpers.CompactString."""
    parts = [f"{label}:{_q(list(rule[k]))}" for k, label in (
        ("apiGroups", "APIGroups"), ("resources", "Resources"),
        ("nonResourceURLs", "NonResourceURLs"), ("resourceNames", "ResourceNames"),
        ("verbs", "Verbs")) if rule.get(k)]
    return "{" + ", ".join(parts) + "}"


def compact(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CompactRules: simple resource rules that differ only in their verb, merged."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for r in rules:
        if r.get("nonResourceURLs"):
            out.append(r)
            continue
        key = (tuple(r.get("apiGroups") or ()), tuple(r.get("resources") or ()),
               tuple(r.get("resourceNames") or ()))
        if key in merged:
            if r["verbs"][0] not in merged[key]["verbs"]:
                merged[key]["verbs"].append(r["verbs"][0])
        else:
            merged[key] = {**r, "verbs": list(r["verbs"])}
            out.append(merged[key])
    return out


class EscalationCheck:
    """The storage hooks of one RBAC kind."""

    def __init__(self, info: resources.ResourceInfo, state: Any) -> None:
        self.info = info
        self.state = state
        self.binding = info in (resources.ROLEBINDINGS, resources.CLUSTERROLEBINDINGS)

    async def _done(self, ok: bool) -> None:
        return None

    def _authorized(self, user: UserInfo, verb: str, resource: str, name: str,
                    namespace: str) -> bool:
        attrs = Attributes(user, verb, True, namespace=namespace, api_group=RBAC_GROUP,
                           api_version="v1", resource=resource, name=name)
        decision, _ = self.state.authorizer.authorize(attrs)
        return bool(decision is Decision.ALLOW)

    def _confirm(self, user: UserInfo, rules: Sequence[Rule], namespace: str,
                 name: str) -> None:
        """ConfirmNoEscalation."""
        owner, errs = index_for(self.state).rules_for(user, namespace)
        ok, missing = covers(owner, rules)
        if ok:
            return
        lines = sorted({compact_string(r) for r in compact(missing)})
        msg = (f"user {_q([user.name])[1:-1]} (groups={_q(list(user.groups))}) is attempting "
               "to grant RBAC permissions not currently held:\n" + "\n".join(lines))
        if errs:
            msg += "; resolution errors: [" + " ".join(errs) + "]"  # Go %v of []error
        raise errors.forbidden(self.info, name, msg)

    def check(self, obj: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> None:
        user = context.user()
        if user.is_superuser():
            return
        md = obj.get("metadata") or {}
        name, namespace = md.get("name") or "", md.get("namespace") or ""
        if not self.binding:
            if self._authorized(user, "escalate", self.info.plural, name, namespace):
                return
            self._confirm(user, obj.get("rules") or [], namespace, name)
            # an aggregationRule can gather anything: it takes * on *.* to set or change
            if obj.get("aggregationRule") or (old is not None and old.get("aggregationRule")):
                owner, _ = index_for(self.state).rules_for(user, namespace)
                if not covers(owner, FULL_AUTHORITY)[0]:
                    raise errors.forbidden(self.info, name, "must have cluster-admin "
                                           "privileges to use the aggregationRule")
            return
        ref = obj.get("roleRef") or {}
        kind, role = ref.get("kind") or "", ref.get("name") or ""
        plural = "clusterroles" if kind == "ClusterRole" else "roles"
        if self._authorized(user, "bind", plural, role, namespace):
            return
        index = index_for(self.state)
        index.sync()
        rules = index.role_rules(kind, role, namespace)
        if rules is None:
            info = resources.CLUSTERROLES if kind == "ClusterRole" else resources.ROLES
            raise errors.not_found(info, role)
        self._confirm(user, rules, namespace, name)

    async def begin_create(self, obj: dict[str, Any], dry_run: bool) -> Finish:
        self.check(obj)
        return self._done

    async def begin_update(self, new: dict[str, Any], old: dict[str, Any],
                           dry_run: bool) -> Finish:
        if not _only_gc_fields(new, old):
            self.check(new, old)
        return self._done

    async def after_delete(self, obj: dict[str, Any]) -> None:
        return None


_GC_META = ("ownerReferences", "finalizers", "resourceVersion", "managedFields")


def _only_gc_fields(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """IsOnlyMutatingGCFields."""
    def strip(o: Mapping[str, Any]) -> dict[str, Any]:
        md = {k: v for k, v in (o.get("metadata") or {}).items() if k not in _GC_META}
        return {**o, "metadata": md}
    return strip(new) == strip(old)


def store_hooks(state: Any) -> dict[str, EscalationCheck]:
    """Registry hooks (plural -> hooks) for the four RBAC kinds."""
    return {info.plural: EscalationCheck(info, state) for info in (
        resources.ROLES, resources.CLUSTERROLES, resources.ROLEBINDINGS,
        resources.CLUSTERROLEBINDINGS)}
