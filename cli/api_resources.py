"""``minictl api-resources``: the served resources from the API server's discovery documents
(/api, /api/<v>, /apis, /apis/<group>/<preferred version>), printed as kubectl
api-resources prints them (k8s.io/kubectl/pkg/cmd/apiresources)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from cli import tables
from cli.context import state
from cli.errors import CliError
from cli.options import common, parse_bool
from client.rest import Client


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    raw: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.raw.get("name") or "")

    @property
    def kind(self) -> str:
        return str(self.raw.get("kind") or "")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def namespaced(self) -> bool:
        return bool(self.raw.get("namespaced"))

    @property
    def verbs(self) -> list[str]:
        return [str(v) for v in self.raw.get("verbs") or []]

    def row(self, wide: bool) -> list[str]:
        cells = [self.name, ",".join(self.raw.get("shortNames") or []), self.api_version,
                 "true" if self.namespaced else "false", self.kind]
        if wide:
            cells += [",".join(self.verbs), ",".join(self.raw.get("categories") or [])]
        return cells


def _get(client: Client, path: str) -> dict[str, Any]:
    data = client.request("GET", path)
    return data if isinstance(data, dict) else {}


def discover(client: Client) -> list[Resource]:
    """Every top-level resource of each group's preferred version, the core group first,
    each group's resources by name."""
    out: list[Resource] = []
    versions = _get(client, "/api").get("versions") or []
    gvs: list[tuple[str, str, str]] = [("", v, f"/api/{v}") for v in versions[:1]]
    for g in _get(client, "/apis").get("groups") or []:
        pref = (g.get("preferredVersion") or {}).get("version") or next(
            (v.get("version") for v in g.get("versions") or []), None)
        if pref:
            gvs.append((g.get("name") or "", pref, f"/apis/{g.get('name')}/{pref}"))
    for group, version, path in gvs:
        found = [Resource(group, version, r) for r in _get(client, path).get("resources") or []
                 if isinstance(r, dict) and "/" not in str(r.get("name") or "")]
        out.extend(sorted(found, key=lambda r: r.name))
    return out


@click.command("api-resources")
@click.option("-o", "--output", "output_", metavar="wide|name",
              help="wide adds VERBS and CATEGORIES; name prints resource.group only.")
@click.option("--namespaced", metavar="true|false",
              help="Only namespaced (true) or only cluster-scoped (false) resources.")
@click.option("--api-group", default=None, metavar="GROUP",
              help="Only this API group ('' is the core group).")
@click.option("--verbs", default="", metavar="VERB[,VERB...]",
              help="Only resources that support all these verbs, e.g. list,get.")
@click.option("--sort-by", type=click.Choice(["name", "kind"]), default=None,
              help="Sort by resource name or kind (default: by API group).")
@click.option("--no-headers", is_flag=True, help="Print rows without the header.")
@common
def api_resources_cmd(output_: str | None, namespaced: str | None, api_group: str | None,
                      verbs: str, sort_by: str | None, no_headers: bool) -> None:
    """Print the supported API resources on the server, from its discovery documents.

    \b
    Examples:
      minictl api-resources
      minictl api-resources -o wide --namespaced=false
      minictl api-resources --api-group=apps
      minictl api-resources --verbs=list,get -o name
    """
    if output_ not in (None, "", "wide", "name"):
        raise CliError(f'unable to match a printer suitable for the output format "{output_}",'
                       " allowed formats are: name,wide")
    want_ns = None if namespaced is None else parse_bool(namespaced, "--namespaced")
    want_verbs = [v for v in verbs.split(",") if v]
    rows = [r for r in discover(state().client)
            if (want_ns is None or r.namespaced == want_ns)
            and (api_group is None or r.group == api_group)
            and all(v in r.verbs for v in want_verbs)]
    # kubectl's sortableResource: by name or kind when asked, else by group, then by name.
    if sort_by == "name":
        rows.sort(key=lambda r: r.name)
    elif sort_by == "kind":
        rows.sort(key=lambda r: r.kind)
    else:
        rows.sort(key=lambda r: (r.group, r.name))
    if output_ == "name":
        for r in rows:
            click.echo(r.name + (f".{r.group}" if r.group else ""))
        return
    wide = output_ == "wide"
    head = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    head += ["VERBS", "CATEGORIES"] if wide else []
    lines = ([] if no_headers else [head]) + [r.row(wide) for r in rows]
    if lines:
        click.echo(tables.render(lines))
