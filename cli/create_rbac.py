"""``minictl create role|clusterrole|rolebinding|clusterrolebinding``, as kubectl's
create_role.go, create_clusterrole.go, create_rolebinding.go and
create_clusterrolebinding.go build them: one rule per API group (resources resolved to
their plural and group, ``resource.group/subresource``), non-resource URLs as a rule of
their own, subjects in the order users, groups, service accounts."""

from __future__ import annotations

import click

from api import resources
from api.models.meta import LabelSelector, ObjectMeta
from api.models.rbac import (
    AggregationRule,
    ClusterRole,
    ClusterRoleBinding,
    PolicyRule,
    Role,
    RoleBinding,
    RoleRef,
    Subject,
)
from cli import output, write_util
from cli.context import state
from cli.create import _emit, _send, create_cmd
from cli.errors import CliError
from cli.options import common

GROUP = "rbac.authorization.k8s.io"
# create_role.go: validResourceVerbs, and the verbs of non-resource URLs
RESOURCE_VERBS = ("*", "get", "delete", "list", "create", "update", "patch", "watch", "proxy",
                  "deletecollection", "use", "bind", "escalate", "impersonate")
NON_RESOURCE_VERBS = ("*", "get", "post", "put", "delete", "patch", "head", "options")
SPECIAL_VERBS = {"use": ("podsecuritypolicies",), "bind": ("roles", "clusterroles"),
                 "escalate": ("roles", "clusterroles"),
                 "impersonate": ("users", "serviceaccounts", "groups", "uids",
                                 "userextras")}


def _split(values: tuple[str, ...]) -> list[str]:
    return [v for value in values for v in value.split(",") if v]


def _resource(spec: str) -> tuple[str, str, str]:
    """``resource.group/subresource`` -> (resource, group, subresource), the resource
    resolved through the served kinds as kubectl's RESTMapper does."""
    res, _, sub = spec.partition("/")
    name, _, group = res.partition(".")
    if name == "*":
        return name, group, sub
    info = resources.lookup(res) or resources.lookup(name)
    if info is not None and (not group or info.group == group):
        return info.plural, info.group, sub
    if group:
        return name, group, sub  # an API group this server does not serve: kept as given
    raise CliError(f'the server doesn\'t have a resource type "{name}"')


def build_rules(verbs: list[str], resource_specs: list[str], names: list[str],
                urls: list[str]) -> list[PolicyRule]:
    """generateResourcePolicyRules."""
    if not verbs:
        raise CliError("at least one verb must be specified")
    by_group: dict[str, list[str]] = {}
    for spec in resource_specs:
        res, group, sub = _resource(spec)
        if not res:
            raise CliError("resource must be specified if apiGroup/subresource specified")
        full = f"{res}/{sub}" if sub else res
        if full not in by_group.setdefault(group, []):
            by_group[group].append(full)
    for v in verbs:
        if resource_specs and v not in RESOURCE_VERBS:
            raise CliError(f"invalid verb: '{v}'")
        if urls and v not in NON_RESOURCE_VERBS:
            raise CliError(f"invalid verb: '{v}' for nonResourceURL")
        special = SPECIAL_VERBS.get(v)
        if special and resource_specs and not any(
                r.split("/")[0] in special or r == "*" for rs in by_group.values()
                for r in rs):
            raise CliError(f"can not perform '{v}' on '{resource_specs[0]}' in group ''")
    rules = [PolicyRule(verbs=verbs, api_groups=[g], resources=rs,
                        resource_names=names or None)
             for g, rs in sorted(by_group.items())]
    if urls:
        rules.append(PolicyRule(verbs=verbs, non_resource_urls=urls))
    return rules


_VERB = click.option("--verb", "verbs", multiple=True,
                     help="Verb that applies to the resources contained in the rule.")
_RESOURCE = click.option("--resource", "resource_", multiple=True,
                         help="Resource that the rule applies to (resource.group/subresource).")
_NAMES = click.option("--resource-name", "names", multiple=True,
                      help="Resource in the white list that the rule applies to, repeat this "
                           "flag for multiple items.")
_OUTPUT = click.option("-o", "--output", "output_", metavar="FORMAT",
                       help="yaml, json or name.")


@create_cmd.command("role")
@click.argument("name")
@_VERB
@_RESOURCE
@_NAMES
@_OUTPUT
@write_util.dry_run_option
@common
def create_role(name: str, verbs: tuple[str, ...], resource_: tuple[str, ...],
                names: tuple[str, ...], output_: str | None, dry_run: str) -> None:
    """Create a role with single rule.

    \b
    Examples:
      minictl create role pod-reader --verb=get --verb=list --verb=watch --resource=pods
      minictl create role foo --verb=get,list,watch --resource=pods,pods/status
    """
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    mode = write_util.parse_dry_run(dry_run)
    rs = _split(resource_)
    if not rs:
        raise CliError("at least one resource must be specified")
    role = Role(metadata=ObjectMeta(name=name, namespace=st.namespace),
                rules=build_rules(_split(verbs), rs, _split(names), []))
    role = _send(st, resources.ROLES, role, st.namespace, mode)
    _emit(resources.ROLES, role, fmt, mode)


@create_cmd.command("clusterrole")
@click.argument("name")
@_VERB
@_RESOURCE
@_NAMES
@click.option("--non-resource-url", "urls", multiple=True,
              help="A partial url that user should have access to.")
@click.option("--aggregation-rule", "aggregation", default="",
              help="An aggregation label selector for combining ClusterRoles.")
@_OUTPUT
@write_util.dry_run_option
@common
def create_clusterrole(name: str, verbs: tuple[str, ...], resource_: tuple[str, ...],
                       names: tuple[str, ...], urls: tuple[str, ...], aggregation: str,
                       output_: str | None, dry_run: str) -> None:
    """Create a cluster role.

    \b
    Examples:
      minictl create clusterrole pod-reader --verb=get,list,watch --resource=pods
      minictl create clusterrole "foo" --verb=get --non-resource-url=/logs/*
      minictl create clusterrole monitoring --aggregation-rule="rbac.example.com/aggregate-to-monitoring=true"
    """
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    mode = write_util.parse_dry_run(dry_run)
    rs, url_list = _split(resource_), _split(urls)
    if aggregation:
        if rs or verbs or url_list:
            raise CliError("aggregation rule must be specified without nonResourceURLs, "
                           "resources, verbs or resourceNames")
        labels: dict[str, str] = {}
        for term in aggregation.split(","):
            k, sep, v = term.partition("=")
            if not sep or not k:
                raise CliError(f"invalid aggregation rule: {aggregation}")
            labels[k] = v
        role = ClusterRole(metadata=ObjectMeta(name=name), aggregation_rule=AggregationRule(
            cluster_role_selectors=[LabelSelector(match_labels=labels)]))
    else:
        if not rs and not url_list:
            raise CliError("one of resource or nonResourceURL must be specified")
        for u in url_list:
            if not u.startswith("/"):
                raise CliError("nonResourceURL should start with /")
            if "*" in u[:-1]:
                raise CliError("nonResourceURL only supports wildcard matches when '*' "
                               "is at the end")
        role = ClusterRole(metadata=ObjectMeta(name=name),
                           rules=build_rules(_split(verbs), rs, _split(names), url_list))
    role = _send(st, resources.CLUSTERROLES, role, None, mode)
    _emit(resources.CLUSTERROLES, role, fmt, mode)


def subjects(users: tuple[str, ...], groups: tuple[str, ...],
             sas: tuple[str, ...]) -> list[Subject]:
    out = [Subject(kind="User", api_group=GROUP, name=u) for u in users]
    out += [Subject(kind="Group", api_group=GROUP, name=g) for g in groups]
    for sa in sas:
        ns, sep, name = sa.partition(":")
        if not sep or not ns or not name:
            raise CliError("serviceaccount must be <namespace>:<name>")
        out.append(Subject(kind="ServiceAccount", namespace=ns, name=name))
    return out


_USER = click.option("--user", "users", multiple=True,
                     help="Usernames to bind to the clusterrole.")
_GROUP = click.option("--group", "groups", multiple=True,
                      help="Groups to bind to the clusterrole.")
_SA = click.option("--serviceaccount", "sas", multiple=True,
                   help="Service accounts to bind to the clusterrole, in the format "
                        "<namespace>:<name>.")


@create_cmd.command("rolebinding")
@click.argument("name")
@click.option("--role", default="", help="Role this RoleBinding should reference.")
@click.option("--clusterrole", default="", help="ClusterRole this RoleBinding should reference.")
@_USER
@_GROUP
@_SA
@_OUTPUT
@write_util.dry_run_option
@common
def create_rolebinding(name: str, role: str, clusterrole: str, users: tuple[str, ...],
                       groups: tuple[str, ...], sas: tuple[str, ...], output_: str | None,
                       dry_run: str) -> None:
    """Create a role binding for a particular role or cluster role.

    \b
    Examples:
      minictl create rolebinding admin --clusterrole=admin --user=user1 --group=group1
      minictl create rolebinding myapp-view --clusterrole=view --serviceaccount=acme:myapp
    """
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    mode = write_util.parse_dry_run(dry_run)
    if bool(role) == bool(clusterrole):
        raise CliError("exactly one of clusterrole or role must be specified")
    rb = RoleBinding(
        metadata=ObjectMeta(name=name, namespace=st.namespace),
        role_ref=RoleRef(api_group=GROUP, kind="Role" if role else "ClusterRole",
                         name=role or clusterrole),
        subjects=subjects(users, groups, sas) or None)
    rb = _send(st, resources.ROLEBINDINGS, rb, st.namespace, mode)
    _emit(resources.ROLEBINDINGS, rb, fmt, mode)


@create_cmd.command("clusterrolebinding")
@click.argument("name")
@click.option("--clusterrole", default="",
              help="ClusterRole this ClusterRoleBinding should reference.")
@_USER
@_GROUP
@_SA
@_OUTPUT
@write_util.dry_run_option
@common
def create_clusterrolebinding(name: str, clusterrole: str, users: tuple[str, ...],
                              groups: tuple[str, ...], sas: tuple[str, ...],
                              output_: str | None, dry_run: str) -> None:
    """Create a cluster role binding for a particular cluster role.

    \b
    Examples:
      minictl create clusterrolebinding cluster-admin --clusterrole=cluster-admin --user=user1
    """
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    mode = write_util.parse_dry_run(dry_run)
    if not clusterrole:
        raise CliError("clusterrole must be specified")
    crb = ClusterRoleBinding(
        metadata=ObjectMeta(name=name),
        role_ref=RoleRef(api_group=GROUP, kind="ClusterRole", name=clusterrole),
        subjects=subjects(users, groups, sas) or None)
    crb = _send(st, resources.CLUSTERROLEBINDINGS, crb, None, mode)
    _emit(resources.CLUSTERROLEBINDINGS, crb, fmt, mode)
