"""``minictl explain TYPE[.field.path] [--recursive]``: a kind's schema from the API server's
OpenAPI v3 document, printed as kubectl explain prints it.

A port of kubectl's plaintext template (k8s.io/kubectl/pkg/explain/v2/templates/
plaintext.tmpl): KIND/VERSION (and GROUP), then for the kind or the field the path leads to
its DESCRIPTION (wrapped at 76 columns as sprig's ``wrap``) and FIELDS, each field with its
type guess (``[]Container``, ``map[string]string``, ``Object``), ``-required-``, enum and
description; ``--recursive`` prints the field tree without descriptions, stopping at
reference cycles.
"""

from __future__ import annotations

from typing import Any

import click

from cli.api_resources import Resource, discover
from cli.context import state
from cli.errors import CliError
from cli.options import common
from client.rest import Client

Schema = dict[str, Any]


class Explainer:
    def __init__(self, document: Schema) -> None:
        self.doc = document
        self.schemas: dict[str, Schema] = (document.get("components") or {}).get("schemas") or {}

    # ---- helpers of the template (kubectl's funcs.go, sprig) --------------------------------

    def resolve(self, ref: str | None) -> Schema | None:
        prefix = "#/components/schemas/"
        if not ref or not ref.startswith(prefix):
            return None
        return self.schemas.get(ref[len(prefix):])

    def find_kind(self, group: str, version: str, kind: str) -> Schema | None:
        want = {"group": group, "version": version, "kind": kind}
        for name in sorted(self.schemas):
            gvks = self.schemas[name].get("x-kubernetes-group-version-kind") or []
            if any(isinstance(g, dict) and {k: g.get(k, "") for k in want} == want
                   for g in gvks):
                return self.schemas[name]
        return None

    def type_guess(self, s: Schema) -> str:
        if s.get("items"):
            return "[]" + self.type_guess(s["items"])
        ap = s.get("additionalProperties")
        if ap and not isinstance(ap, bool):
            return "map[string]" + self.type_guess(ap)
        all_of = s.get("allOf")
        if all_of and not s.get("properties") and len(all_of) == 1:
            return self.type_guess(all_of[0])
        ref = s.get("$ref")
        if ref:
            target = self.resolve(ref)
            if not target or not target.get("type") or target.get("type") == "object":
                return str(ref).split("/")[-1].split(".")[-1] or "Object"
            return str(target["type"])
        if s.get("type") == "object":
            return "Object"
        return str(s.get("type") or "Object")

    @staticmethod
    def enum(s: Schema, long_view: bool, limit: int, indent: int = 0) -> str:
        values = s.get("enum")
        if not values:
            return ""
        out = "ENUM:" if long_view else "\n" + " " * indent + "enum: "
        for i, v in enumerate(values):
            if limit > -1 and i >= limit:
                out += ", ...."
                break
            if i > 0 and not long_view:
                out += ", "
            elif long_view:
                out += "\n    "
            out += '""' if v == "" else _go_print(v)
        return out

    def description(self, s: Schema, width: int = 76) -> str:
        """The schema's description and those of what it wraps (allOf, items, map values),
        each wrapped at ``width`` on its own, as kubectl's template does."""
        s = self.resolve(s.get("$ref")) or s
        out = (wrap(str(s["description"]), width) + "\n") if s.get("description") else ""
        for sub in s.get("allOf") or []:
            out += self.description(sub, width)
        if s.get("items"):
            out += self.description(s["items"], width)
        ap = s.get("additionalProperties")
        if ap and not isinstance(ap, bool):
            out += self.description(ap, width)
        return out

    @staticmethod
    def external_docs(s: Schema, indent: int = 0, width: int = 76) -> str:
        docs = s.get("externalDocs")
        if not docs:
            return ""
        out = _indent(indent, "EXTERNAL DOCS:") + "\n"
        if docs.get("description"):
            out += _indent(indent + 4, wrap(str(docs["description"]), width)) + "\n"
        if docs.get("url"):
            out += _indent(indent + 4, "URL: " + str(docs["url"])) + "\n"
        return out

    # ---- the templates ----------------------------------------------------------------------

    def field_detail(self, parent: Schema, name: str, short: bool, level: int) -> str:
        n = level * 2
        fs: Schema = (parent.get("properties") or {})[name]
        out = _indent(n, name) + f"\t<{self.type_guess(fs)}>"
        if name in (parent.get("required") or []):
            out += " -required-"
        out += self.enum(fs, False, 4, n) + "\n"
        if not short:
            out += _indent(n + 2, wrap(str(fs.get("description") or "<no description>"),
                                        78 - n)) + "\n"
            docs = fs.get("externalDocs")
            if docs:
                out += "\n" + _indent(n + 2, "EXTERNAL DOCS:") + "\n"
                if docs.get("description"):
                    out += _indent(n + 4, wrap(str(docs["description"]), 76 - n)) + "\n"
                if docs.get("url"):
                    out += _indent(n + 4, "URL: " + str(docs["url"])) + "\n"
            out += "\n"
        return out

    def field_list(self, s: Schema, level: int, recursive: bool,
                   history: frozenset[str] = frozenset()) -> str:
        ref = s.get("$ref") or ""
        if ref and ref in history:
            return ""
        history = history | {ref}
        resolved = self.resolve(ref) or s
        out = ""
        for name in sorted(resolved.get("properties") or {}):
            out += self.field_detail(resolved, name, recursive, level)
            if recursive:
                out += self.field_list(resolved["properties"][name], level + 1, recursive,
                                       history)
        for sub in resolved.get("allOf") or []:
            out += self.field_list(sub, level, recursive, history)
        if resolved.get("items"):
            out += self.field_list(resolved["items"], level, recursive, history)
        ap = resolved.get("additionalProperties")
        if ap and not isinstance(ap, bool):
            out += self.field_list(ap, level, recursive, history)
        return out

    def output(self, s: Schema, path: list[str], recursive: bool,
               history: frozenset[str] = frozenset()) -> str:
        ref = s.get("$ref") or ""
        nxt = history | {ref}
        resolved = self.resolve(ref) or s
        if not path:
            out = "DESCRIPTION:\n"
            out += _indent(4, self.description(resolved) or "<empty>") + "\n"
            docs = self.external_docs(resolved)
            if docs:
                out += "\n" + docs
            fields = self.field_list(resolved, 1, recursive)
            if fields:
                out += "FIELDS:\n" + fields
            return out
        if ref and ref in history:
            return ""
        props = resolved.get("properties") or {}
        if props.get(path[0]):
            sub = props[path[0]]
            out = ""
            if len(path) == 1:
                out = (f"FIELD: {path[0]} <{self.type_guess(sub)}>\n"
                       + self.enum(sub, True, -1) + "\n\n")
            return out + self.output(sub, path[1:], recursive)
        if resolved.get("items"):
            return self.output(resolved["items"], path, recursive, nxt)
        ap = resolved.get("additionalProperties")
        if ap and not isinstance(ap, bool):
            return self.output(ap, path, recursive, nxt)
        for sub in resolved.get("allOf") or []:
            text = self.output(sub, path, recursive, nxt)
            if text:
                return text
        return ""


def _go_print(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _indent(n: int, text: str) -> str:
    """sprig's indent: every line (and the empty one after a final newline) padded."""
    pad = " " * n
    return pad + text.replace("\n", "\n" + pad)


def wrap(text: str, width: int) -> str:
    """sprig's wrap (goutils.WrapCustom without breaking long words): lines break at the
    last space within ``width``; existing newlines are not special, as in kubectl."""
    out: list[str] = []
    offset, length = 0, len(text)
    while length - offset > width:
        if text[offset] == " ":
            offset += 1
            continue
        at = text.rfind(" ", offset, offset + width + 1)
        if at >= offset:
            out.append(text[offset:at] + "\n")
            offset = at + 1
            continue
        at = text.find(" ", offset + width)
        if at >= 0:
            out.append(text[offset:at] + "\n")
            offset = at + 1
        else:
            out.append(text[offset:])
            offset = length
    out.append(text[offset:])
    return "".join(out)


def _document(client: Client, res: Resource) -> Schema:
    key = f"apis/{res.group}/{res.version}" if res.group else f"api/{res.version}"
    index = client.request("GET", "/openapi/v3")
    entry = ((index or {}).get("paths") or {}).get(key) if isinstance(index, dict) else None
    url = (entry or {}).get("serverRelativeURL") or f"/openapi/v3/{key}"
    path, _, query = str(url).partition("?")
    params = dict(p.partition("=")[::2] for p in query.split("&") if p)
    doc = client.request("GET", path, params=params or None)
    if not isinstance(doc, dict):
        raise CliError(f"couldn't read the OpenAPI v3 document of {key}")
    return doc


def find_resource(resources: list[Resource], name: str, api_version: str | None) -> Resource:
    n = name.lower()
    group = None
    if "." in n:  # deployments.apps
        n, _, group = n.partition(".")
    for r in resources:
        if group is not None and r.group != group:
            continue
        if api_version and r.api_version != api_version:
            continue
        names = {r.name, str(r.raw.get("singularName") or ""), r.kind.lower(),
                 *(r.raw.get("shortNames") or [])}
        if n in names:
            return r
    raise CliError(f'the server doesn\'t have a resource type "{name}"')


@click.command("explain")
@click.argument("spec", required=False)
@click.option("--recursive", is_flag=True,
              help="Print every field's name and type, nested, without descriptions.")
@click.option("--api-version", default=None, metavar="GROUP/VERSION",
              help="The API version of the resource (default: the preferred one).")
@common
def explain_cmd(spec: str | None, recursive: bool, api_version: str | None) -> None:
    """Describe a kind's fields, from the API server's OpenAPI v3 schema.

    \b
    Fields are named by a path: TYPE[.FIELD[.FIELD...]].
    \b
    Examples:
      minictl explain pods
      minictl explain pods.spec.containers
      minictl explain deployment.spec --recursive
    """
    if not spec:
        raise click.UsageError("You must specify the type of resource to explain. Use "
                               '"minictl api-resources" for a complete list of supported '
                               "resources.")
    st = state()
    parts = spec.split(".")
    resources = discover(st.client)
    # "deployments.apps.spec": the longest resource.group prefix the server knows.
    res: Resource | None = None
    fields: list[str] = parts[1:]
    for cut in range(len(parts), 1, -1):
        candidate = ".".join(parts[:cut])
        try:
            res = find_resource(resources, candidate, api_version)
            fields = parts[cut:]
            break
        except CliError:
            continue
    if res is None:
        res = find_resource(resources, parts[0], api_version)
    ex = Explainer(_document(st.client, res))
    head = (f"GROUP:      {res.group}\n" if res.group else "") + \
        f"KIND:       {res.kind}\nVERSION:    {res.version}\n\n"
    schema = ex.find_kind(res.group, res.version, res.kind)
    if schema is None:
        raise CliError(f"GVK {res.api_version}, Kind={res.kind} not found in OpenAPI schema")
    body = ex.output(schema, fields, recursive)
    if not body:
        click.echo(head, nl=False)
        raise CliError(f'field "{fields[-1]}" does not exist')
    click.echo(head + body, nl=True)
