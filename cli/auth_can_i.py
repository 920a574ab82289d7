"""``minictl auth can-i VERB [TYPE | TYPE/NAME | NONRESOURCEURL]`` and ``--list``, as
kubectl's pkg/cmd/auth/cani.go: a SelfSubjectAccessReview answered ``yes`` (exit 0) or
``no`` (with the server's reason; exit 1), or a SelfSubjectRulesReview printed as
kubectl's table (rules broken down, compacted and sorted as cli/describe_rbac.py does)."""

from __future__ import annotations

import sys
from typing import Any

import click

from api import resources
from cli.auth_cmd import auth_cmd
from cli.context import state
from cli.describe import tabwrite
from cli.describe_rbac import _resource_group, _v, compact_rules
from cli.errors import CliError
from cli.options import common

SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
SSRR = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"


def _resource_attributes(target: str, subresource: str, namespace: str) -> dict[str, Any]:
    """resourceFor: TYPE[.group][/NAME], resolved through the served kinds (an unknown type
    is asked about as given, with kubectl's warning)."""
    kind, _, name = target.partition("/")
    attrs: dict[str, Any] = {"namespace": namespace}
    if kind == "*":
        attrs["resource"] = "*"
    else:
        info = resources.lookup(kind)
        if info is None:
            click.echo(f"Warning: the server doesn't have a resource type '{kind}'",
                       err=True)
            res, _, group = kind.partition(".")
            attrs["resource"], attrs["group"] = res, group
        else:
            attrs["resource"], attrs["group"] = info.plural, info.group
            if not info.namespaced:
                attrs["namespace"] = ""
    if subresource:
        attrs["subresource"] = subresource
    if name:
        attrs["name"] = name
    return attrs


def list_table(status: dict[str, Any]) -> str:
    rules: list[dict[str, Any]] = [dict(r) for r in status.get("resourceRules") or []]
    rules += [dict(r) for r in status.get("nonResourceRules") or []]
    lines = ["Resources\tNon-Resource URLs\tResource Names\tVerbs"]
    for r in compact_rules(rules):
        lines.append(f"{_resource_group(r.get('resources', []), r.get('apiGroups', []))}\t"
                     f"{_v(r.get('nonResourceURLs'))}\t{_v(r.get('resourceNames'))}\t"
                     f"{_v(r.get('verbs'))}")
    return tabwrite("\n".join(lines) + "\n", padding=3)


@click.command("can-i")
@click.argument("args", nargs=-1)
@click.option("-A", "--all-namespaces", is_flag=True,
              help="If true, check the specified action in all namespaces.")
@click.option("--list", "list_", is_flag=True,
              help="If true, prints all allowed actions.")
@click.option("-q", "--quiet", is_flag=True,
              help="If true, suppress output and just return the exit code.")
@click.option("--subresource", default="", help="SubResource such as pod/log or "
                                                "deployment/scale")
@common
def can_i_cmd(args: tuple[str, ...], all_namespaces: bool, list_: bool, quiet: bool,
              subresource: str) -> None:
    """Check whether an action is allowed.

    VERB is a logical Kubernetes API verb like 'get', 'list', 'watch', 'delete', etc.
    TYPE is a Kubernetes resource. NONRESOURCEURL is a partial URL that starts with "/".

    \b
    Examples:
      minictl auth can-i create pods --all-namespaces
      minictl auth can-i list deployments.apps
      minictl auth can-i get pods --subresource=log
      minictl auth can-i get /logs/
      minictl auth can-i --list --namespace=foo
    """
    st = state()
    if list_:
        if args:
            raise CliError("list option must be specified with no arguments")
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
                  "spec": {"namespace": "" if all_namespaces else st.namespace}}
        answer: Any = st.client.request("POST", SSRR, json=review)
        status = (answer or {}).get("status") or {}
        if status.get("incomplete") and not quiet:
            click.echo(f"warning: the list may be incomplete: "
                       f"{status.get('evaluationError') or '<nil>'}", err=True)
        if not quiet:
            click.echo(list_table(status), nl=False)
        return
    if len(args) != 2:
        raise CliError("you must specify two arguments: verb resource or verb "
                       "resource/resourceName.")
    verb, target = args
    if target.startswith("/"):
        spec: dict[str, Any] = {"nonResourceAttributes": {"path": target, "verb": verb}}
    else:
        ns = "" if all_namespaces else st.namespace
        spec = {"resourceAttributes": {"verb": verb,
                                       **_resource_attributes(target, subresource, ns)}}
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": spec}
    answer = st.client.request("POST", SSAR, json=review)
    status = (answer or {}).get("status") or {}
    if status.get("allowed"):
        if not quiet:
            click.echo("yes")
        return
    if not quiet:
        line = "no"
        if status.get("reason"):
            line += f" - {status['reason']}"
        if status.get("evaluationError"):
            line += f" - {status['evaluationError']}"
        click.echo(line)
    sys.exit(1)


auth_cmd.add_command(can_i_cmd)
