"""Printing objects: ``-o yaml|json|name|jsonpath=|custom-columns=``, the output formats'
checks, and kubectl's status lines (tables are the server's, laid out by cli.tables)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import click
import yaml

from api import timeutil
from api.models.core import TypedObject
from api.resources import ResourceInfo
from cli import jsonpath, tables
from cli.errors import CliError

# Formats that carry their argument: ``-o jsonpath={.metadata.name}``.
TEMPLATE_OUTPUTS = ("jsonpath", "jsonpath-file", "jsonpath-as-json", "custom-columns",
                    "custom-columns-file")
OUTPUTS = ("wide", "yaml", "json", "name", *TEMPLATE_OUTPUTS)


def _format_name(output: str) -> str:
    name = output.split("=", 1)[0]
    return name if name in TEMPLATE_OUTPUTS else output


def check_output(output: str | None, allowed: Sequence[str] = OUTPUTS) -> str | None:
    if output is None or output == "":
        return None
    if _format_name(output) not in allowed:
        raise CliError(f'unable to match a printer suitable for the output format "{output}", '
                       f"allowed formats are: {','.join(sorted(allowed))}")
    return output


def wire(info: ResourceInfo, obj: TypedObject) -> dict[str, Any]:
    """The object as the server sends it, with apiVersion/kind filled in for lists' items."""
    d = obj.to_dict()
    md = d.get("metadata")
    if isinstance(md, dict):
        md.pop("managedFields", None)  # as kubectl prints (--show-managed-fields=false)
    d.setdefault("apiVersion", info.api_version)
    d.setdefault("kind", info.kind)
    d["apiVersion"] = d.get("apiVersion") or info.api_version
    d["kind"] = d.get("kind") or info.kind
    head: dict[str, Any] = {k: d.pop(k) for k in ("apiVersion", "kind", "metadata") if k in d}
    return {**head, **d}


class _KubeDumper(yaml.SafeDumper):
    """Quotes like kubectl (Go's yaml): double quotes where a string needs quoting."""

    def choose_scalar_style(self) -> Any:
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


def dump_yaml(data: Any) -> str:
    return str(yaml.dump(data, Dumper=_KubeDumper, sort_keys=True, default_flow_style=False,
                         allow_unicode=True))


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=4, ensure_ascii=False)


def as_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "items": items, "kind": "List",
            "metadata": {"resourceVersion": ""}}


def print_objects(pairs: list[tuple[ResourceInfo, TypedObject]], output: str | None, *,
                  single: bool, printer: TemplatePrinter | None = None) -> None:
    """What ``get`` prints for a finished list in the object formats (-o
    yaml|json|name|jsonpath|custom-columns; tables are the server's: cli.get)."""
    if printer is not None:
        one = single and len(pairs) == 1
        dicts = [wire(info, obj) if one else jsonpath.json_round_trip(wire(info, obj))
                 for info, obj in pairs]
    if isinstance(printer, JsonPathPrinter):
        # kubectl runs the template once, on the object or on a List of all of them.
        click.echo(printer.text(dicts[0] if one else as_list(dicts)), nl=False)
        return
    if isinstance(printer, CustomColumnsPrinter):
        text = printer.emit(dicts)
        if text:
            click.echo(text)
        return
    if output == "name":
        for info, obj in pairs:
            click.echo(tables.qualified_name(info, obj.metadata.name or ""))
        return
    dicts = [wire(info, obj) for info, obj in pairs]
    data = dicts[0] if single and len(dicts) == 1 else as_list(dicts)
    text = dump_yaml(data) if output == "yaml" else dump_json(data)
    click.echo(text.rstrip("\n"))


# ---- -o jsonpath / custom-columns ---------------------------------------------------------


def _read(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        reason = (exc.strerror or str(exc))
        raise CliError(f"error reading {what} {path}, open {path}: "
                       f"{reason[:1].lower()}{reason[1:]}") from None
    except UnicodeDecodeError as exc:
        raise CliError(f"error reading {what} {path}, {exc}") from None


def _go_quote(text: str) -> str:
    """Go's ``%q`` (close enough: JSON's escapes)."""
    return json.dumps(text, ensure_ascii=False)


@dataclass
class JsonPathPrinter:
    """``-o jsonpath=TEMPLATE``: kubectl's JSONPath printer (no newline of its own)."""

    template: jsonpath.Template
    allow_missing: bool = True
    as_json: bool = False

    def text(self, data: dict[str, Any]) -> str:
        try:
            return jsonpath.execute(self.template, data, allow_missing=self.allow_missing,
                                    as_json=self.as_json)
        except jsonpath.JsonPathError as exc:
            # kubectl goes on with a dump of the whole object; one line is enough here.
            raise CliError(f"error executing jsonpath {_go_quote(self.template.text)}: "
                           f"Error executing template: {exc}") from None


@dataclass
class CustomColumnsPrinter:
    """``-o custom-columns=HEADER:PATH,...``: one row per object.

    Keeps what it printed so far, like kubectl's tabwriter under ``-w``: the header comes
    once, and columns only ever widen."""

    headers: list[str]
    paths: list[jsonpath.Template]
    no_headers: bool = False
    widths: list[int] = field(default_factory=list)
    printed_header: bool = False

    def cells(self, data: dict[str, Any]) -> list[str]:
        try:
            return [jsonpath.column(path, data) for path in self.paths]
        except jsonpath.JsonPathError as exc:
            raise CliError(str(exc)) from None

    def emit(self, objs: list[dict[str, Any]]) -> str:
        """The lines for these objects (and the header, the first time)."""
        rows: list[list[str]] = []
        if not self.printed_header and not self.no_headers:
            rows.append(list(self.headers))
        self.printed_header = True
        try:
            for obj in objs:
                rows.append(self.cells(obj))
        except CliError:
            # kubectl's tabwriter still flushes the rows before the failing one.
            if rows:
                click.echo(self._render(rows))
            raise
        return self._render(rows)

    def _render(self, rows: list[list[str]]) -> str:
        self.widths = tables.widths([*rows, [" " * w for w in self.widths]])
        return "\n".join(columns_line(r, self.widths) for r in rows)


def columns_line(cells: list[str], widths: Sequence[int]) -> str:
    """kubectl's tabwriter (minwidth 6, padding 3): every cell but the last is padded."""
    return "".join(c.ljust(max(w + 3, 6)) for c, w in zip(cells[:-1], widths, strict=False)) \
        + (cells[-1] if cells else "")


TemplatePrinter = JsonPathPrinter | CustomColumnsPrinter


def _columns_from_spec(spec: str, no_headers: bool) -> CustomColumnsPrinter:
    headers: list[str] = []
    paths: list[jsonpath.Template] = []
    for part in spec.split(","):
        header, sep, path = part.partition(":")
        if not sep:
            raise CliError(f"unexpected custom-columns spec: {part}, expected "
                           "<header>:<json-path-expr>")
        headers.append(header)
        paths.append(_column_path(path))
    return CustomColumnsPrinter(headers, paths, no_headers=no_headers)


def _columns_from_file(text: str) -> CustomColumnsPrinter:
    lines = text.splitlines()
    usage = ("Expected format is one line of space separated headers, one line of space "
             "separated column specs.")
    if not lines:
        raise CliError(f"invalid template, missing header line. {usage}")
    if len(lines) < 2:
        raise CliError(f"invalid template, missing spec line. {usage}")
    headers, specs = lines[0].split(), lines[1].split()
    if len(headers) != len(specs):
        raise CliError(f"number of headers ({len(headers)}) and field specifications "
                       f"({len(specs)}) don't match")
    # As kubectl does, a columns file always prints its header line (--no-headers or not).
    return CustomColumnsPrinter(headers, [_column_path(s) for s in specs])


def _column_path(path: str) -> jsonpath.Template:
    try:
        return jsonpath.parse(jsonpath.relaxed(path))
    except jsonpath.JsonPathError as exc:
        raise CliError(str(exc)) from None


def template_printer(output: str | None, *, no_headers: bool = False,
                     allow_missing: bool = True) -> TemplatePrinter | None:
    """The printer for ``-o jsonpath...=`` / ``-o custom-columns...=``, parsed up front so
    that a bad template fails before anything is fetched; None for the other formats."""
    if output is None:
        return None
    name = _format_name(output)
    if name not in TEMPLATE_OUTPUTS:
        return None
    value = output[len(name) + 1:]
    if name.startswith("custom-columns"):
        if not value:
            raise CliError("custom-columns format specified but no custom columns given")
        if name == "custom-columns-file":
            return _columns_from_file(_read(value, "template"))
        return _columns_from_spec(value, no_headers)
    if not value:
        raise CliError("template format specified but no template given")
    if name == "jsonpath-file":
        value = _read(value, "--template")
    try:
        tmpl = jsonpath.parse(value)
    except jsonpath.JsonPathError as exc:
        raise CliError(f"error parsing jsonpath {value}, {exc}") from None
    return JsonPathPrinter(tmpl, allow_missing=allow_missing,
                           as_json=name == "jsonpath-as-json")


def done(info: ResourceInfo, name: str, verb: str) -> None:
    """kubectl's confirmation line: ``deployment.apps/nginx created``."""
    click.echo(f"{tables.qualified_name(info, name)} {verb}")


def parse_duration(text: str) -> float:
    """``30s``, ``5m``, ``1h30m``, ``250ms`` or bare seconds; 0 means no limit."""
    try:
        return timeutil.parse_duration(text)
    except ValueError as e:
        raise CliError(str(e)) from None
