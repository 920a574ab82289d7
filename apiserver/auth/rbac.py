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
