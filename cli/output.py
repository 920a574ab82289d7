"""Printing objects: tables, ``-o yaml|json|name|wide``, and kubectl's status lines."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import click
import yaml

from api.models.core import TypedObject
from api.resources import ResourceInfo
from cli import tables
from cli.errors import CliError

OUTPUTS = ("wide", "yaml", "json", "name")


def check_output(output: str | None, allowed: Sequence[str] = OUTPUTS) -> str | None:
    if output is None or output == "":
        return None
    if output not in allowed:
        raise CliError(f'unable to match a printer suitable for the output format "{output}", '
                       f"allowed formats are: {','.join(sorted(allowed))}")
    return output


def wire(info: ResourceInfo, obj: TypedObject) -> dict[str, Any]:
    """The object as the server sends it, with apiVersion/kind filled in for lists' items."""
    d = obj.to_dict()
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
                  single: bool, with_namespace: bool = False, with_kind: bool = False,
                  show_labels: bool = False, no_headers: bool = False) -> None:
    """Everything ``get`` prints for a finished list (not for a watch)."""
    if output == "name":
        for info, obj in pairs:
            click.echo(tables.qualified_name(info, obj.metadata.name or ""))
        return
    if output in ("yaml", "json"):
        dicts = [wire(info, obj) for info, obj in pairs]
        data = dicts[0] if single and len(dicts) == 1 else as_list(dicts)
        text = dump_yaml(data) if output == "yaml" else dump_json(data)
        click.echo(text.rstrip("\n"))
        return
    wide = output == "wide"
    blocks: list[str] = []
    # One table per kind, in the order kinds were asked for.
    order: list[ResourceInfo] = []
    for info, _ in pairs:
        if info not in order:
            order.append(info)
    for info in order:
        objs = [o for i, o in pairs if i is info]
        rows = [] if no_headers else [table_header(info, wide=wide,
                                                    with_namespace=with_namespace,
                                                    show_labels=show_labels)]
        rows += [table_row(info, o, wide=wide, with_namespace=with_namespace,
                           with_kind=with_kind, show_labels=show_labels) for o in objs]
        blocks.append(tables.render(rows))
    click.echo("\n\n".join(blocks))


def table_header(info: ResourceInfo, *, wide: bool, with_namespace: bool,
                 show_labels: bool = False) -> list[str]:
    h = tables.header(info, wide=wide, with_namespace=with_namespace)
    return [*h, "LABELS"] if show_labels else h


def table_row(info: ResourceInfo, obj: TypedObject, *, wide: bool, with_namespace: bool,
              with_kind: bool, show_labels: bool = False) -> list[str]:
    r = tables.row(info, obj, wide=wide, with_namespace=with_namespace, with_kind=with_kind)
    if show_labels:
        labels = obj.metadata.labels or {}
        r.append(",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>")
    return r


def done(info: ResourceInfo, name: str, verb: str) -> None:
    """kubectl's confirmation line: ``deployment.apps/nginx created``."""
    click.echo(f"{tables.qualified_name(info, name)} {verb}")


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")


def parse_duration(text: str) -> float:
    """``30s``, ``5m``, ``1h``, ``250ms`` or bare seconds; 0 means no limit."""
    total = 0.0
    rest = text.strip()
    if not rest:
        raise CliError(f'invalid duration "{text}"')
    for part in re.findall(r"\d+(?:\.\d+)?(?:ms|s|m|h)?", rest):
        m = _DURATION.match(part)
        if not m:
            raise CliError(f'invalid duration "{text}"')
        unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
        total += float(m.group(1)) * unit
    if "".join(re.findall(r"\d+(?:\.\d+)?(?:ms|s|m|h)?", rest)) != rest:
        raise CliError(f'invalid duration "{text}"')
    return total
