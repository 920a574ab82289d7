"""What the write verbs share (label, annotate, patch, edit, wait, diff): ``--dry-run``,
the objects named on the command line (``TYPE NAME``, ``TYPE/NAME``, ``-l``, ``--all``,
``-f``), and objects as the server's JSON (raw dicts: a verb that patches must not drop
a field the models do not know)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click
import yaml

from api.resources import ResourceInfo
from cli import manifests, output, tables
from cli.context import State, resolve_kind, split_ref
from cli.errors import CliError, format_api_error
from client.errors import ApiError, ServerUnavailable
from client.rest import PATCH_CONTENT_TYPES

F = TypeVar("F", bound=Callable[..., Any])
Obj = dict[str, Any]


def dry_run_option(f: F) -> F:
    return click.option("--dry-run", "dry_run", default="none", metavar="none|client|server",
                        help='"client": only print what would be sent; "server": the server '
                             "checks the request without saving (dryRun=All).")(f)


def parse_dry_run(value: str) -> str:
    if value not in ("none", "client", "server"):
        raise CliError(f'Invalid dry-run value ({value}). Must be "none", "server", or '
                       '"client".')
    return value


def dry_suffix(mode: str) -> str:
    """kubectl's note after the verb: ``pod/x labeled (server dry run)``."""
    return {"client": " (dry run)", "server": " (server dry run)"}.get(mode, "")


def dry_params(mode: str) -> dict[str, Any] | None:
    return {"dryRun": "All"} if mode == "server" else None


@dataclass(frozen=True)
class Target:
    info: ResourceInfo
    name: str
    namespace: str | None

    @property
    def path(self) -> str:
        return self.info.object_path(self.name, self.namespace)

    @property
    def display(self) -> str:
        return tables.qualified_name(self.info, self.name)


def targets(st: State, args: tuple[str, ...], *, filenames: tuple[str, ...] = (),
            recursive: bool = False, selector: str | None = None, all_: bool = False,
            all_namespaces: bool = False) -> list[Target]:
    """The objects the arguments name, in kubectl's spellings (and its usage errors)."""
    if filenames:
        if args:
            raise CliError("cannot specify resource names or a type together with -f")
        out = []
        for doc in manifests.load(filenames, recursive=recursive):
            info = manifests.info_of(doc)
            out.append(Target(info, manifests.name_of(doc),
                              manifests.namespace_of(doc, info, st.namespace,
                                                     st.explicit_namespace)))
        return out
    if not args:
        raise CliError("You must provide one or more resources by argument or filename.")
    if all("/" in a for a in args):
        if selector or all_:
            raise CliError("name cannot be provided when a selector or --all is specified")
        refs = [split_ref(a) for a in args]
        return [Target(i, n, st.namespace if i.namespaced else None) for i, n in refs]
    if any("/" in a for a in args):
        raise CliError("there is no need to specify a resource type as a separate argument "
                       "when passing arguments in resource/name form")
    info = resolve_kind(args[0])
    names = args[1:]
    if names and (selector or all_):
        raise CliError("name cannot be provided when a selector or --all is specified")
    if names:
        return [Target(info, n, st.namespace if info.namespaced else None) for n in names]
    if not (selector or all_):
        raise CliError("resource(s) were provided, but no name was specified")
    ns = None if (all_namespaces or not info.namespaced) else st.namespace
    params = {"labelSelector": selector} if selector else None
    data = st.client.request("GET", info.collection_path(ns), params=params)
    items = data.get("items") or [] if isinstance(data, dict) else []
    return [Target(info, str(o["metadata"]["name"]),
                   o["metadata"].get("namespace") if info.namespaced else None)
            for o in items]


def get(st: State, t: Target) -> Obj:
    data = st.client.request("GET", t.path)
    if not isinstance(data, dict):
        raise CliError(f"unexpected answer for {t.display}")
    return data


def patch(st: State, t: Target, body: Any, patch_type: str, *, dry_run: str = "none",
          subresource: str | None = None) -> Obj:
    path = t.path + (f"/{subresource}" if subresource else "")
    data = st.client.request("PATCH", path, params=dry_params(dry_run), json=body,
                             content_type=PATCH_CONTENT_TYPES[patch_type])
    if not isinstance(data, dict):
        raise CliError(f"unexpected answer for {t.display}")
    return data


def put(st: State, t: Target, body: Obj, *, dry_run: str = "none") -> Obj:
    data = st.client.request("PUT", t.path, params=dry_params(dry_run), json=body,
                             content_type="application/json")
    if not isinstance(data, dict):
        raise CliError(f"unexpected answer for {t.display}")
    return data


class _Dumper(output._KubeDumper):
    """Go's YAML: a string with newlines as a literal block (``|``), long lines unwrapped;
    double quotes for a string that would read as another type ("1", a timestamp), single
    ones where only the syntax forbids a plain scalar ('***')."""

    def choose_scalar_style(self) -> Any:
        style = yaml.SafeDumper.choose_scalar_style(self)
        event = self.event
        if style == "'" and isinstance(event, yaml.ScalarEvent) and not event.implicit[0]:
            return '"'
        return style

    def represent_str(self, data: str) -> yaml.ScalarNode:
        if "\n" in data and not data.strip("\n") == "":
            return self.represent_scalar("tag:yaml.org,2002:str", data, style="|")
        return super().represent_str(data)


_Dumper.add_representer(str, _Dumper.represent_str)


def dump_yaml(data: Any) -> str:
    """kubectl's ``-o yaml`` of one object (keys sorted, Go's quoting and block strings)."""
    return str(yaml.dump(data, Dumper=_Dumper, sort_keys=True, default_flow_style=False,
                         allow_unicode=True, width=float("inf")))


def emit(info: ResourceInfo, obj: Obj, fmt: str | None, message: str) -> None:
    """``-o name|yaml|json`` prints the object, otherwise kubectl's status line."""
    if fmt == "name":
        click.echo(tables.qualified_name(info, str(obj.get("metadata", {}).get("name", ""))))
    elif fmt == "yaml":
        click.echo(dump_yaml(obj).rstrip("\n"))
    elif fmt == "json":
        # kubectl prints unstructured objects: keys in order, as Go's maps marshal
        click.echo(json.dumps(obj, indent=4, sort_keys=True, ensure_ascii=False))
    else:
        click.echo(message)


def source_error(exc: ApiError, action: str, source: str, server: str) -> str:
    """kubectl's AddSourceToErr: ``Error from server (AlreadyExists): error when creating
    "f.yaml": ...`` (an Invalid error keeps its own form)."""
    if isinstance(exc, ServerUnavailable) or exc.reason == "Invalid" or not source:
        return format_api_error(exc, server)
    message = " ".join((exc.message or "").split()) or f"HTTP {exc.code}"
    return (f"Error from server ({exc.reason or 'Unknown'}): error when {action} "
            f'"{source}": {message}')


def create(st: State, info: ResourceInfo, namespace: str | None, body: Obj, *,
           dry_run: str = "none") -> Obj:
    data = st.client.request("POST", info.collection_path(namespace),
                             params=dry_params(dry_run), json=body,
                             content_type="application/json")
    if not isinstance(data, dict):
        raise CliError(f"unexpected answer for {info.plural}")
    return data


class Printer:
    """``-o yaml`` separates several objects with ``---`` as kubectl's YAML printer does."""

    def __init__(self, fmt: str | None) -> None:
        self.fmt = fmt
        self.count = 0

    def __call__(self, info: ResourceInfo, obj: Obj, message: str) -> None:
        if self.fmt == "yaml" and self.count:
            click.echo("---")
        self.count += 1
        emit(info, obj, self.fmt, message)
