"""``minictl edit``: the objects as YAML in $KUBE_EDITOR / $EDITOR / vi, saved back as kubectl
edit saves them (editoptions.go).

The file starts with kubectl's header comment. What comes back is compared with what was
shown (comments stripped): unchanged -> "Edit cancelled, no changes made."; an empty file
cancels too. Otherwise each changed object is sent as a merge patch of the differences (the
whole of a changed list, as the edited file has it). When the server refuses a change as
Invalid, or the file does not parse, the editor opens again on the edited text with the
reasons as comments at the top; saving that unchanged gives up with kubectl's words. Nothing is
sent until the file parses, and an object the server refused is left as it was.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import click
import yaml

from cli import write_util
from cli.context import State, state
from cli.errors import CliError, format_api_error
from cli.options import common
from client.errors import ApiError, Invalid, NotFound

HEADER = ("# Please edit the object below. Lines beginning with a '#' will be ignored,\n"
          "# and an empty file will abort the edit. If an error occurs while saving this file "
          "will be\n# reopened with the relevant failures.\n#\n")

Obj = dict[str, Any]


def editor_argv(path: str) -> list[str]:
    """KUBE_EDITOR, then EDITOR, else vi; split on spaces, through a shell if quoted."""
    editor = ""
    for env in ("KUBE_EDITOR", "EDITOR"):
        editor = os.environ.get(env, "").strip()
        if editor:
            break
    editor = editor or "vi"
    if " " not in editor:
        return [editor, path]
    if not any(c in editor for c in "\"'\\"):
        return [*editor.split(" "), path]
    shell = os.environ.get("SHELL") or "/bin/bash"
    return [shell, "-c", f"{editor} {shlex.quote(path)}"]


def launch(text: str) -> tuple[str, str]:
    """Write ``text`` to a temp file, run the editor on it; (edited text, file path)."""
    fd, path = tempfile.mkstemp(prefix="minictl-edit-", suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    argv = editor_argv(path)
    try:
        code = subprocess.call(argv)
    except OSError:
        code = -1
    if code != 0:
        raise CliError(f'there was a problem with the editor "{" ".join(argv[:-1])}"')
    return Path(path).read_text(), path


def strip_comments(text: str) -> str:
    """kubectl's StripComments: drop lines starting with #, keep the rest byte for byte."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not line.lstrip().startswith("#"))


def has_lines(text: str) -> bool:
    return any(s and not s.startswith("#") for s in (ln.strip() for ln in text.splitlines()))


def merge_diff(old: Any, new: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns ``old`` into ``new``."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    out: Obj = {}
    for k, v in new.items():
        if k not in old:
            out[k] = v
        elif old[k] != v:
            out[k] = merge_diff(old[k], v) if isinstance(v, dict) and isinstance(old[k], dict) \
                else v
    for k in old:
        if k not in new:
            out[k] = None
    return out


def _header(reasons: list[tuple[str, list[str]]]) -> str:
    text = HEADER
    for head, other in reasons:
        text += f"# {_hash_lines(head)}{':' if other else ''}\n"
        text += "".join(f"# * {_hash_lines(o)}\n" for o in other)
        text += "#\n"
    return text


def _hash_lines(s: str) -> str:
    return s.replace("\n", "\n# ")


def _parse(text: str) -> list[Obj]:
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    out: list[Obj] = []
    for d in docs:
        if not isinstance(d, dict):
            raise ValueError(f"error unmarshaling JSON: json: cannot unmarshal "
                             f"{type(d).__name__} into Go value of type map[string]interface {{}}")
        if d.get("kind") == "List" and isinstance(d.get("items"), list):
            out.extend(i for i in d["items"] if isinstance(i, dict))
        else:
            out.append(d)
    return out


def _shown(objs: list[Obj]) -> Obj:
    for o in objs:
        (o.get("metadata") or {}).pop("managedFields", None)
    if len(objs) == 1:
        return objs[0]
    return {"apiVersion": "v1", "items": objs, "kind": "List", "metadata": {}}


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1}: " if mark is not None else ""
    return f"yaml: {where}{problem}"


@click.command("edit")
@click.argument("args", nargs=-1)
@click.option("-f", "--filename", multiple=True, help="Edit the objects named in these files.")
@click.option("-R", "--recursive", is_flag=True, help="With -f DIR: its subdirectories too.")
@click.option("-l", "--selector", metavar="SELECTOR", help="The objects matching this selector.")
@common
def edit_cmd(args: tuple[str, ...], filename: tuple[str, ...], recursive: bool,
             selector: str | None) -> None:
    """Edit objects in your editor ($KUBE_EDITOR, $EDITOR, else vi) and save them back.

    \b
    Examples:
      minictl edit deployment/nginx
      KUBE_EDITOR=nano minictl edit svc web
    """
    st = state()
    every = len(args) == 1 and "/" not in args[0]  # `edit deployments`: all of them
    found = write_util.targets(st, args, filenames=filename, recursive=recursive,
                               selector=selector, all_=every and not selector)
    if not found:
        raise CliError("edit cancelled, no objects found")
    originals = [write_util.get(st, t) for t in found]
    _edit_loop(st, found, originals)


def _edit_loop(st: State, found: list[write_util.Target], originals: list[Obj]) -> None:
    shown_text = write_util.dump_yaml(_shown([json.loads(json.dumps(o)) for o in originals]))
    body = shown_text
    reasons: list[tuple[str, list[str]]] = []
    last_edited: str | None = None
    path = ""
    by_uid = {str((o.get("metadata") or {}).get("uid")): (t, o)
              for t, o in zip(found, originals, strict=True)}
    while True:
        edited, new_path = launch(_header(reasons) + body)
        if path and path != new_path:
            Path(path).unlink(missing_ok=True)
        path = new_path
        if last_edited is not None and strip_comments(last_edited) == strip_comments(edited):
            _preserved(path)
            raise CliError("Edit cancelled, no valid changes were saved.")
        if last_edited is None and strip_comments(shown_text) == strip_comments(edited):
            Path(path).unlink(missing_ok=True)
            click.echo("Edit cancelled, no changes made.", err=True)
            return
        if not has_lines(edited):
            Path(path).unlink(missing_ok=True)
            click.echo("Edit cancelled, saved file was empty.", err=True)
            return
        try:
            updated = _parse(edited)
        except yaml.YAMLError as exc:
            # kubectl: the file fails its validation before anything is parsed into objects
            t = found[0]
            resource = t.info.plural + (f".{t.info.group}" if t.info.group else "")
            click.echo(f'error: {resource} "{t.name}" is invalid', err=True)
            reasons = [(f'{resource} "{t.name}" was not valid',
                        ['<nil>: Invalid value: "The edited file failed validation": '
                         + _yaml_problem(exc)])]
            last_edited, body = edited, strip_comments(edited)
            continue
        except ValueError as exc:
            reasons = [(f"The edited file had a syntax error: {exc}", [])]
            last_edited, body = edited, strip_comments(edited)
            continue
        reasons = []
        retry = _save(st, updated, by_uid, reasons, path)
        if not retry:
            Path(path).unlink(missing_ok=True)
            return
        last_edited, body = edited, strip_comments(edited)


def _save(st: State, updated: list[Obj], by_uid: dict[str, tuple[write_util.Target, Obj]],
          reasons: list[tuple[str, list[str]]], path: str) -> bool:
    """Patch each changed object; True when some were Invalid (the editor opens again)."""
    invalid = False
    for obj in updated:
        uid = str((obj.get("metadata") or {}).get("uid"))
        if uid not in by_uid:
            _preserved(path)
            raise CliError(f"no original object found for {obj.get('kind')} "
                           f"{(obj.get('metadata') or {}).get('name')}")
        t, original = by_uid[uid]
        before = dict(original)
        before["metadata"] = {k: v for k, v in (original.get("metadata") or {}).items()
                              if k != "managedFields"}
        patch = merge_diff(before, obj)  # managedFields: on neither side (kubectl's too)
        if not patch:
            click.echo(f"{t.display} skipped")
            continue
        if any(k in patch for k in ("apiVersion", "kind")) or \
                "name" in (patch.get("metadata") or {}):
            _preserved(path)
            raise CliError("At least one of apiVersion, kind and name was changed")
        resource = t.info.plural + (f".{t.info.group}" if t.info.group else "")
        try:
            write_util.patch(st, t, patch, "merge")
        except Invalid as exc:
            invalid = True
            causes = [f"{field}: {msg}" for _, msg, field in exc.causes]
            reasons.append((f'{resource} "{t.name}" was not valid', causes))
            click.echo(f'error: {resource} "{t.name}" is invalid', err=True)
            continue
        except NotFound:
            click.echo(f'error: {resource} "{t.name}" could not be found on the server',
                       err=True)
            click.echo(f'The edits you made on deleted resources have been saved to "{path}"',
                       err=True)
            raise SystemExit(1) from None
        except ApiError as exc:
            click.echo(f'error: {resource} "{t.name}" could not be patched: '
                       f"{format_api_error(exc, st.server)}", err=True)
            click.echo(f"You can run `minictl replace -f {path}` to try this update again.",
                       err=True)
            raise SystemExit(1) from None
        click.echo(f"{t.display} edited")
    return invalid


def _preserved(path: str) -> None:
    if path and Path(path).exists():
        click.echo(f'A copy of your changes has been stored to "{path}"', err=True)


__all__ = ["edit_cmd", "merge_diff"]
