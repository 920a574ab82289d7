"""``minictl label`` and ``minictl annotate``, as kubectl does them.

``KEY=VALUE`` sets, ``KEY-`` removes; a key that already has a value needs ``--overwrite``.
The change goes to the server as a JSON merge patch of ``metadata.labels`` (or
``annotations``), with ``metadata.resourceVersion`` when ``--resource-version`` is given, so
that the server refuses it (Conflict) if the object changed since.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from api.names import is_valid_label_value
from cli import output, write_util
from cli.context import state
from cli.errors import CliError, format_api_error
from cli.options import common
from client.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])


def _split_args(args: tuple[str, ...], what: str) -> tuple[tuple[str, ...], dict[str, str],
                                                             list[str]]:
    resources: list[str] = []
    changes: dict[str, str] = {}
    removals: list[str] = []
    for a in args:
        if "=" in a:
            key, _, value = a.partition("=")
            if not key:
                raise CliError(f"invalid {what} spec: {a}")
            if what == "label":
                errs = is_valid_label_value(value)
                if errs:
                    raise CliError(f'invalid label value: "{a}": {"; ".join(errs)}')
            changes[key] = value
        elif a.endswith("-"):
            removals.append(a[:-1])
        else:
            resources.append(a)
    for key in removals:
        if key in changes:
            raise CliError(f"can not both modify and remove the following {what}(s) in the "
                           f"same command: {key}")
    if not changes and not removals:
        raise CliError(f"at least one {what} update is required")
    return tuple(resources), changes, removals


def _run(what: str, args: tuple[str, ...], overwrite: bool, all_: bool, selector: str | None,
         resource_version: str | None, dry_run: str, output_: str | None,
         filename: tuple[str, ...], recursive: bool, all_namespaces: bool) -> None:
    st = state()
    fmt = output.check_output(output_, ("json", "name", "yaml"))
    mode = write_util.parse_dry_run(dry_run)
    field = "labels" if what == "label" else "annotations"
    noun = "label" if what == "label" else "annotation"
    resource_args, changes, removals = _split_args(args, noun)
    if not resource_args and not filename:
        raise CliError("one or more resources must be specified as <resource> <name> or "
                       "<resource>/<name>")
    found = write_util.targets(st, resource_args, filenames=filename, recursive=recursive,
                               selector=selector, all_=all_, all_namespaces=all_namespaces)
    if len(found) > 1 and resource_version:
        raise CliError("--resource-version may only be used with a single resource")
    failed = False
    for t in found:
        try:
            old = write_util.get(st, t)
            meta = old.get("metadata") or {}
            current: dict[str, str] = dict(meta.get(field) or {})
            if not overwrite:
                taken = [f"'{k}' already has a value ({current[k]})" for k in changes
                         if k in current]
                if taken and what == "label":
                    raise CliError(f"{taken[0]}, and --overwrite is false")
                if taken:
                    raise CliError("--overwrite is false but found the following declared "
                                   f"annotation(s): {'; '.join(taken)}")
            new = copy.deepcopy(old)
            values = dict(current)
            values.update(changes)
            for key in removals:
                if key in values:
                    del values[key]
                elif what == "label":
                    click.echo(f'label "{key}" not found.')
            new_meta = new.setdefault("metadata", {})
            new_meta[field] = values or None
            if not values:
                new_meta.pop(field, None)
            if resource_version:
                new_meta["resourceVersion"] = resource_version
            message = _message(what, old, new, overwrite)
            body: dict[str, Any] = {}
            diff = {k: values.get(k) for k in {*current, *values}
                    if current.get(k) != values.get(k)}
            if diff:
                body[field] = diff
            if resource_version:
                body["resourceVersion"] = resource_version
            if mode == "client":
                result = new
            elif body:
                result = write_util.patch(st, t, {"metadata": body}, "merge", dry_run=mode)
            else:
                result = old
        except ApiError as exc:
            click.echo(format_api_error(exc, st.server), err=True)
            failed = True
            continue
        except CliError as exc:
            click.echo(f"error: {exc.message}", err=True)
            failed = True
            continue
        write_util.emit(t.info, result, fmt,
                        f"{t.display} {message}{write_util.dry_suffix(mode)}")
    if failed:
        raise SystemExit(1)


def _message(what: str, old: dict[str, Any], new: dict[str, Any], overwrite: bool) -> str:
    if what == "annotate":
        return "annotated"
    a = json.dumps(old, separators=(",", ":"), sort_keys=True)
    b = json.dumps(new, separators=(",", ":"), sort_keys=True)
    if a == b:
        return "not labeled"
    # kubectl's updateDataChangeMsg: a shorter object without --overwrite was "unlabeled".
    return "unlabeled" if not overwrite and len(b) < len(a) else "labeled"


def _options(what: str) -> Callable[[F], F]:
    def deco(f: F) -> F:
        for opt in reversed([
            click.argument("args", nargs=-1),
            click.option("--overwrite", is_flag=True,
                         help=f"Replace a {what}'s existing value."),
            click.option("--all", "all_", is_flag=True,
                         help="Every object of the type in the namespace."),
            click.option("-l", "--selector", metavar="SELECTOR",
                         help="Only objects matching this label selector."),
            click.option("-A", "--all-namespaces", is_flag=True,
                         help="With -l/--all: in every namespace."),
            click.option("--resource-version", metavar="RV",
                         help="Only if the object is still at this resourceVersion."),
            click.option("-f", "--filename", multiple=True,
                         help="The objects named in these files (or -)."),
            click.option("-R", "--recursive", is_flag=True,
                         help="With -f DIR: also the files of its subdirectories."),
            click.option("-o", "--output", "output_", metavar="FORMAT",
                         help="json, yaml or name."),
            write_util.dry_run_option,
            common,
        ]):
            f = opt(f)
        return f
    return deco


@click.command("label")
@_options("label")
def label_cmd(args: tuple[str, ...], overwrite: bool, all_: bool, selector: str | None,
              all_namespaces: bool, resource_version: str | None, filename: tuple[str, ...],
              recursive: bool, output_: str | None, dry_run: str) -> None:
    """Add, change (--overwrite) or remove (KEY-) labels of objects.

    \b
    Examples:
      minictl label pods web tier=frontend
      minictl label deployment/nginx app=web --overwrite
      minictl label pods --all stage-
    """
    _run("label", args, overwrite, all_, selector, resource_version, dry_run, output_,
         filename, recursive, all_namespaces)


@click.command("annotate")
@_options("annotation")
def annotate_cmd(args: tuple[str, ...], overwrite: bool, all_: bool, selector: str | None,
                 all_namespaces: bool, resource_version: str | None, filename: tuple[str, ...],
                 recursive: bool, output_: str | None, dry_run: str) -> None:
    """Add, change (--overwrite) or remove (KEY-) annotations of objects.

    \b
    Examples:
      minictl annotate pods web description='my frontend'
      minictl annotate deployment/nginx owner=team-a --overwrite
    """
    _run("annotate", args, overwrite, all_, selector, resource_version, dry_run, output_,
         filename, recursive, all_namespaces)
