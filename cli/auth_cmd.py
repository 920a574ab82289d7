"""``minictl auth``: inspect who you are (``whoami``, a SelfSubjectReview) as
``kubectl auth`` does; authorization checks (``can-i``) join this group."""

from __future__ import annotations

from typing import Any

import click

from cli import output
from cli.context import state
from cli.options import common

SELF_SUBJECT_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


@click.group("auth")
def auth_cmd() -> None:
    """Inspect authorization."""


def whoami_table(user_info: dict[str, Any]) -> str:
    """kubectl's printTableSelfSubjectAccessReview (pkg/cmd/auth/whoami.go): ATTRIBUTE and
    VALUE through a tabwriter (padding 3); Username, UID, Groups, then each Extra key in
    order, lists as Go's %v prints them."""
    rows = [("ATTRIBUTE", "VALUE")]
    if user_info.get("username"):
        rows.append(("Username", str(user_info["username"])))
    if user_info.get("uid"):
        rows.append(("UID", str(user_info["uid"])))
    if user_info.get("groups"):
        rows.append(("Groups", "[" + " ".join(user_info["groups"]) + "]"))
    for key in sorted(user_info.get("extra") or {}):
        rows.append((f"Extra: {key}", "[" + " ".join(user_info["extra"][key]) + "]"))
    width = max(len(r[0]) for r in rows) + 3
    return "\n".join(f"{a.ljust(width)}{b}" for a, b in rows)


@auth_cmd.command("whoami")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="json or yaml.")
@common
def whoami_cmd(output_: str | None) -> None:
    """Experimental: Check self subject attributes.

    Show the user the server sees for these credentials: its name, uid, groups and
    extra attributes (a SelfSubjectReview)."""
    st = state()
    fmt = output.check_output(output_, ("json", "yaml"))
    review = {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
              "metadata": {"creationTimestamp": None}, "status": {"userInfo": {}}}
    answer: Any = st.client.request("POST", SELF_SUBJECT_REVIEWS, json=review)
    if fmt == "json":
        click.echo(output.dump_json(answer))
    elif fmt == "yaml":
        click.echo(output.dump_yaml(answer).rstrip("\n"))
    else:
        user_info = ((answer or {}).get("status") or {}).get("userInfo") or {}
        click.echo(whoami_table(user_info))
