"""RBAC (rbac.authorization.k8s.io/v1): does a PolicyRule allow a request.

``rule_allows`` is Kubernetes' rbac.RuleAllows (plugin/pkg/auth/authorizer/rbac/rbac.go)
over the matchers of pkg/apis/rbac/v1/evaluation_helpers.go; rules are the wire dicts
(``verbs``, ``apiGroups``, ``resources``, ``resourceNames``, ``nonResourceURLs``).
``node_rules`` is bootstrappolicy.NodeRules: what the Node authorizer allows a node
beyond the objects its graph grants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from apiserver.auth.attributes import Attributes
from apiserver.auth.authorizer import Decision, register_mode
from apiserver.auth.user import SERVICE_ACCOUNT_PREFIX, UserInfo

Rule = Mapping[str, Any]

VERB_ALL = "*"
API_GROUP_ALL = "*"
RESOURCE_ALL = "*"
NON_RESOURCE_ALL = "*"

READ = ("get", "list", "watch")
READ_WRITE = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


def verb_matches(rule: Rule, verb: str) -> bool:
    verbs = rule.get("verbs") or ()
    return VERB_ALL in verbs or verb in verbs


def api_group_matches(rule: Rule, group: str) -> bool:
    groups = rule.get("apiGroups") or ()
    return API_GROUP_ALL in groups or group in groups


def resource_matches(rule: Rule, combined: str, subresource: str) -> bool:
    """``*`` matches everything, ``pods/log`` exactly, ``*/scale`` any resource's scale."""
    for r in rule.get("resources") or ():
        if r == RESOURCE_ALL or r == combined:
            return True
        if subresource and len(r) == len(subresource) + 2 and r.startswith("*/") \
                and r.endswith(subresource):
            return True
    return False


def resource_name_matches(rule: Rule, name: str) -> bool:
    names = rule.get("resourceNames") or ()
    return not names or name in names


def non_resource_url_matches(rule: Rule, url: str) -> bool:
    for u in rule.get("nonResourceURLs") or ():
        if u == NON_RESOURCE_ALL or u == url:
            return True
        if u.endswith("*") and url.startswith(u.rstrip("*")):
            return True
    return False


def rule_allows(attrs: Attributes, rule: Rule) -> bool:
    """rbac.RuleAllows."""
    if attrs.resource_request:
        combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource \
            else attrs.resource
        return (verb_matches(rule, attrs.verb) and api_group_matches(rule, attrs.api_group)
                and resource_matches(rule, combined, attrs.subresource)
                and resource_name_matches(rule, attrs.name))
    return verb_matches(rule, attrs.verb) and non_resource_url_matches(rule, attrs.path)


def rules_allow(attrs: Attributes, rules: Iterable[Rule]) -> bool:
    return any(rule_allows(attrs, r) for r in rules)


def new_rule(verbs: Sequence[str], groups: Sequence[str] = (), resources: Sequence[str] = (),
             names: Sequence[str] = (), urls: Sequence[str] = ()) -> dict[str, Any]:
    """A PolicyRule as the wire has it (rbacv1helpers.NewRule(...).Groups().Resources())."""
    rule: dict[str, Any] = {"verbs": list(verbs)}
    if groups or resources:
        rule["apiGroups"] = list(groups)
        rule["resources"] = list(resources)
    if names:
        rule["resourceNames"] = list(names)
    if urls:
        rule["nonResourceURLs"] = list(urls)
    return rule


def node_rules() -> list[dict[str, Any]]:
    """bootstrappolicy.NodeRules: the system:node ClusterRole's rules, which the Node
    authorizer applies to nodes (and narrows for secrets, configmaps, PVCs, PVs, leases,
    tokens and the node object with its graph)."""
    core = ""
    return [
        # access checks; these creates do not mutate
        new_rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        new_rule(["create"], ["authorization.k8s.io"],
                 ["subjectaccessreviews", "localsubjectaccessreviews"]),
        # service env vars
        new_rule(READ, [core], ["services"]),
        # nodes register themselves and report status (NodeRestriction narrows to its own)
        new_rule(["create", "get", "list", "watch"], [core], ["nodes"]),
        new_rule(["update", "patch"], [core], ["nodes/status"]),
        new_rule(["update", "patch"], [core], ["nodes"]),
        new_rule(["create", "update", "patch"], [core], ["events"]),
        new_rule(READ, [core], ["pods"]),
        # mirror pods, pod status, evictions (NodeRestriction narrows to pods bound to it)
        new_rule(["create", "delete"], [core], ["pods"]),
        new_rule(["update", "patch"], [core], ["pods/status"]),
        new_rule(["create"], [core], ["pods/eviction"]),
        # the Node authorizer narrows these to what pods bound to the node reference
        new_rule(READ, [core], ["secrets", "configmaps"]),
        new_rule(["get"], [core], ["persistentvolumeclaims", "persistentvolumes"]),
        new_rule(["get"], [core], ["endpoints"]),
        new_rule(["create", "get", "list", "watch"], ["certificates.k8s.io"],
                 ["certificatesigningrequests"]),
        new_rule(["get", "create", "update", "patch", "delete"], ["coordination.k8s.io"],
                 ["leases"]),
        new_rule(["get"], ["storage.k8s.io"], ["volumeattachments"]),
        new_rule(["create"], [core], ["serviceaccounts/token"]),
        new_rule(["get", "update", "patch"], [core], ["persistentvolumeclaims/status"]),
        new_rule(["get", "watch", "list"], ["storage.k8s.io"], ["csidrivers"]),
        new_rule(["get", "create", "update", "patch", "delete"], ["storage.k8s.io"],
                 ["csinodes"]),
        new_rule(READ, ["node.k8s.io"], ["runtimeclasses"]),
    ]


# ---- the authorizer (plugin/pkg/auth/authorizer/rbac/rbac.go) over an index of the bindings
#
# Bindings are indexed by subject key: "u:<user name>" (User subjects, and ServiceAccount
# subjects as the user name system:serviceaccount:<ns>:<name> they authenticate as) and
# "g:<group>". A request looks up its user's keys only, so its cost does not grow with the
# number of bindings. The index follows the rbac watch caches: each request first applies
# the caches' events it has not seen (a dict lookup when nothing changed), and rebuilds a
# kind from the cache's objects only when its ring no longer holds the gap.

RBAC_GROUP = "rbac.authorization.k8s.io"
_PLURALS = ("clusterroles", "roles", "clusterrolebindings", "rolebindings")
CompiledRules = tuple[Rule, ...]


def compile_rules(rules: Any) -> CompiledRules:
    """Wire rules with their lists as frozensets (membership in O(1))."""
    out: list[Rule] = []
    for r in rules if isinstance(rules, list) else ():
        if not isinstance(r, Mapping):
            continue
        c: dict[str, Any] = {}
        for k in ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"):
            v = r.get(k)
            if isinstance(v, list) and v:
                c[k] = frozenset(x for x in v if isinstance(x, str))
        out.append(c)
    return tuple(out)


def subject_keys(user: UserInfo) -> list[str]:
    return [f"u:{user.name}", *(f"g:{g}" for g in user.groups)]


def _binding_subject_keys(subjects: Any, namespace: str) -> set[str]:
    """appliesToUser (pkg/registry/rbac/validation/rule.go) as keys."""
    keys: set[str] = set()
    for s in subjects if isinstance(subjects, list) else ():
        if not isinstance(s, Mapping) or not isinstance(s.get("name"), str):
            continue
        kind, name = s.get("kind"), s["name"]
        if kind == "User":
            keys.add(f"u:{name}")
        elif kind == "Group":
            keys.add(f"g:{name}")
        elif kind == "ServiceAccount":
            ns = s.get("namespace") or namespace
            if ns and name:
                keys.add(f"u:{SERVICE_ACCOUNT_PREFIX}{ns}:{name}")
    return keys


class _Binding:
    __slots__ = ("keys", "name", "namespace", "role_kind", "role_name")

    def __init__(self, obj: Mapping[str, Any]) -> None:
        md = obj.get("metadata") or {}
        ref = obj.get("roleRef") or {}
        self.name: str = md.get("name") or ""
        self.namespace: str = md.get("namespace") or ""
        self.role_kind: str = ref.get("kind") or ""
        self.role_name: str = ref.get("name") or ""
        self.keys = _binding_subject_keys(obj.get("subjects"), self.namespace)


class RBACIndex:
    """The roles' rules and the bindings by subject, kept in step with the watch caches."""

    def __init__(self, caches: Mapping[str, Any]) -> None:
        self._caches = [caches.get(p) for p in _PLURALS]
        self._seen = [-1] * len(_PLURALS)
        self._objs: list[Any] = [None] * len(_PLURALS)
        self.cluster_roles: dict[str, CompiledRules] = {}
        self.roles: dict[tuple[str, str], CompiledRules] = {}
        self._bindings: dict[str, _Binding] = {}  # storage key -> binding
        # subject key -> {storage key: binding}; role bindings by (namespace, subject key)
        self.cluster_by_subject: dict[str, dict[str, _Binding]] = {}
        self.ns_by_subject: dict[tuple[str, str], dict[str, _Binding]] = {}
        self.cluster_role_objects: dict[str, Mapping[str, Any]] = {}

    # -- keeping up with the caches ----------------------------------------------------

    def sync(self) -> None:
        for i, cache in enumerate(self._caches):
            if cache is None:
                continue
            if cache.revision == self._seen[i] and cache.objects is self._objs[i]:
                continue
            if self._seen[i] < cache.window_start or self._objs[i] is not cache.objects:
                self._rebuild(i, cache)
            else:
                for ev in cache._events_after(self._seen[i]):
                    self._apply(i, ev.key, None if ev.type == "DELETED" else ev.obj)
            self._seen[i] = cache.revision
            self._objs[i] = cache.objects

    def _rebuild(self, i: int, cache: Any) -> None:
        plural = _PLURALS[i]
        if plural == "clusterroles":
            self.cluster_roles.clear()
            self.cluster_role_objects.clear()
        elif plural == "roles":
            self.roles.clear()
        else:
            for key in [k for k in self._bindings if k.startswith(f"/registry/{plural}/")]:
                self._apply(i, key, None)
        for key, co in list(cache.objects.items()):
            self._apply(i, key, co.obj)

    def _apply(self, i: int, key: str, obj: Mapping[str, Any] | None) -> None:
        plural = _PLURALS[i]
        rest = key[len(f"/registry/{plural}/"):]
        if plural == "clusterroles":
            if obj is None:
                self.cluster_roles.pop(rest, None)
                self.cluster_role_objects.pop(rest, None)
            else:
                self.cluster_roles[rest] = compile_rules(obj.get("rules"))
                self.cluster_role_objects[rest] = obj
        elif plural == "roles":
            ns, _, name = rest.partition("/")
            if obj is None:
                self.roles.pop((ns, name), None)
            else:
                self.roles[(ns, name)] = compile_rules(obj.get("rules"))
        else:
            self._unbind(key)
            if obj is not None:
                self._bind(key, _Binding(obj), cluster=plural == "clusterrolebindings")

    def _bind(self, key: str, b: _Binding, cluster: bool) -> None:
        self._bindings[key] = b
        for k in b.keys:
            if cluster:
                self.cluster_by_subject.setdefault(k, {})[key] = b
            else:
                self.ns_by_subject.setdefault((b.namespace, k), {})[key] = b

    def _unbind(self, key: str) -> None:
        b = self._bindings.pop(key, None)
        if b is None:
            return
        cluster = key.startswith("/registry/clusterrolebindings/")
        for k in b.keys:
            d = self.cluster_by_subject.get(k) if cluster \
                else self.ns_by_subject.get((b.namespace, k))
            if d is not None:
                d.pop(key, None)
                if not d:
                    if cluster:
                        del self.cluster_by_subject[k]
                    else:
                        del self.ns_by_subject[(b.namespace, k)]

    # -- rule resolution (rule.go: VisitRulesFor, GetRoleReferenceRules) -----------------

    def role_rules(self, kind: str, name: str, namespace: str) -> CompiledRules | None:
        if kind == "ClusterRole":
            return self.cluster_roles.get(name)
        if kind == "Role":
            return self.roles.get((namespace, name))
        return None

    def role_error(self, kind: str, name: str) -> str:
        if kind in ("Role", "ClusterRole"):
            return f'{kind.lower()}.{RBAC_GROUP} "{name}" not found'
        return f"unsupported role reference kind: {kind!r}"

    def bindings_for(self, user: UserInfo, namespace: str) -> list[_Binding]:
        """Every ClusterRoleBinding, then every RoleBinding in ``namespace``, that applies
        to ``user``."""
        self.sync()
        keys = subject_keys(user)
        seen: dict[int, _Binding] = {}
        for k in keys:
            for b in self.cluster_by_subject.get(k, {}).values():
                seen.setdefault(id(b), b)
        if namespace:
            for k in keys:
                for b in self.ns_by_subject.get((namespace, k), {}).values():
                    seen.setdefault(id(b), b)
        return list(seen.values())

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[Rule], list[str]]:
        """RulesFor: the rules ``user`` holds in ``namespace`` (cluster-wide only for ""),
        and the resolution errors (bindings to missing roles)."""
        rules: list[Rule] = []
        errs: list[str] = []
        for b in self.bindings_for(user, namespace):
            rr = self.role_rules(b.role_kind, b.role_name, b.namespace)
            if rr is None:
                errs.append(self.role_error(b.role_kind, b.role_name))
            else:
                rules.extend(rr)
        return rules, errs

    def allows(self, attrs: Attributes) -> tuple[bool, list[str]]:
        self.sync()
        keys = subject_keys(attrs.user)
        errs: list[str] = []
        for k in keys:
            for b in self.cluster_by_subject.get(k, {}).values():
                rr = self.cluster_roles.get(b.role_name)
                if rr is None:
                    errs.append(self.role_error(b.role_kind, b.role_name))
                elif rules_allow(attrs, rr):
                    return True, errs
        if attrs.namespace:
            for k in keys:
                for b in self.ns_by_subject.get((attrs.namespace, k), {}).values():
                    rr = self.role_rules(b.role_kind, b.role_name, b.namespace)
                    if rr is None:
                        errs.append(self.role_error(b.role_kind, b.role_name))
                    elif rules_allow(attrs, rr):
                        return True, errs
        return False, errs


def index_for(state: Any) -> RBACIndex:
    """The app's one RBACIndex (the authorizer, escalation checks and the reviews share it)."""
    idx = getattr(state, "rbac_index", None)
    if idx is None:
        idx = RBACIndex(getattr(state, "caches", {}) or {})
        state.rbac_index = idx
    return idx


class RBACAuthorizer:
    def __init__(self, index: RBACIndex) -> None:
        self.index = index

    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        allowed, errs = self.index.allows(attrs)
        if allowed:
            return Decision.ALLOW, ""
        if errs:
            agg = errs[0] if len(errs) == 1 else "[" + ", ".join(dict.fromkeys(errs)) + "]"
            return Decision.NO_OPINION, f"RBAC: {agg}"
        return Decision.NO_OPINION, ""


register_mode("RBAC", lambda state: RBACAuthorizer(index_for(state)))
