"""``minictl diff -f``: what ``apply -f`` would change, as kubectl diff shows it (diff.go).

Each object is read from the server (live) and sent as the server's dry run of what apply
would send (merged); both are written as YAML (managedFields left out) into two temporary
directories named ``LIVE-*`` and ``MERGED-*``, one file per object named
``GROUP.VERSION.KIND.NAMESPACE.NAME``, and ``$KUBECTL_EXTERNAL_DIFF`` (default ``diff -u -N``)
compares the directories. Exit codes: 0 no differences, 1 differences, >1 an error.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from cli import apply_cmd, manifests, write_util
from cli.context import state
from cli.errors import CliError, format_api_error
from cli.options import common
from client.errors import ApiError

SAFE_ARG = re.compile(r"^[a-zA-Z0-9-=]+$")


def file_name(t: write_util.Target) -> str:
    group = f"{t.info.group}." if t.info.group else ""
    version = t.info.api_version.rsplit("/", 1)[-1]
    return f"{group}{version}.{t.info.kind}.{t.namespace or ''}.{t.name}"


def diff_argv() -> list[str]:
    """KUBECTL_EXTERNAL_DIFF as kubectl takes it: a program and simple flags, else diff -u -N."""
    ext = os.environ.get("KUBECTL_EXTERNAL_DIFF", "").strip()
    if not ext:
        return ["diff", "-u", "-N"]
    parts = ext.split()
    return [parts[0], *[a for a in parts[1:] if SAFE_ARG.match(a)]]


def _printable(obj: dict[str, Any] | None) -> str:
    if obj is None:
        return ""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return write_util.dump_yaml(obj)


def mask_secrets(live: dict[str, Any] | None, merged: dict[str, Any] | None) -> None:
    """kubectl's Masker: a Secret's values never reach the diff, only whether they changed
    (``***``, ``*** (before)`` / ``*** (after)``)."""
    before = live.get("data") if live else None
    after = merged.get("data") if merged else None
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    for k in list(before):
        if k in after:
            if before[k] != after[k]:
                before[k], after[k] = "*** (before)", "*** (after)"
                continue
            after[k] = "***"
        before[k] = "***"
    for k in list(after):
        if k not in before and not str(after[k]).startswith("***"):
            after[k] = "***"


@click.command("diff")
@click.option("-f", "--filename", multiple=True,
              help="A file, a directory of .yaml/.yml/.json files, or - for stdin.")
@click.option("-R", "--recursive", is_flag=True, help="With -f DIR: its subdirectories too.")
@common
def diff_cmd(filename: tuple[str, ...], recursive: bool) -> None:
    """Show what `apply -f` would change, as a diff of the live and the merged objects.

    \b
    Exit status: 0 no differences, 1 differences found, >1 minictl or diff failed.
    Set KUBECTL_EXTERNAL_DIFF to use another diff program (e.g. "diff -u -N --color=always").

    \b
    Examples:
      minictl diff -f deployment.yaml
      cat pod.json | minictl diff -f -
    """
    try:
        code = _run(filename, recursive)
    except CliError as exc:
        click.echo(f"error: {exc.message}", err=True)
        raise SystemExit(exc.exit_code + 1) from None
    raise SystemExit(code)


def _run(filename: tuple[str, ...], recursive: bool) -> int:
    st = state()
    if not filename:
        raise CliError("must specify one of -f and -k")
    docs = manifests.load_sourced(filename, recursive, verb="diff")
    live_dir = Path(tempfile.mkdtemp(prefix="LIVE-"))
    merged_dir = Path(tempfile.mkdtemp(prefix="MERGED-"))
    try:
        for _, doc in docs:
            info = manifests.info_of(doc)
            t = write_util.Target(info, manifests.name_of(doc),
                                  manifests.namespace_of(doc, info, st.namespace,
                                                         st.explicit_namespace))
            try:
                live, merged = apply_cmd.merged(st, t, doc)
            except ApiError as exc:
                click.echo(format_api_error(exc, st.server), err=True)
                return 2
            if info.kind == "Secret":
                mask_secrets(live, merged)
            # kubectl's masker turns a missing Secret into "null"
            (live_dir / file_name(t)).write_text(
                "null\n" if live is None and info.kind == "Secret" else _printable(live))
            (merged_dir / file_name(t)).write_text(_printable(merged))
        argv = [*diff_argv(), str(live_dir), str(merged_dir)]
        sys.stdout.flush()
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise CliError(f'failed to run "{argv[0]}": {exc.strerror or exc}') from None
        click.echo(proc.stdout, nl=False)
        if proc.stderr:
            click.echo(proc.stderr, err=True, nl=False)
        return proc.returncode
    finally:
        shutil.rmtree(live_dir, ignore_errors=True)
        shutil.rmtree(merged_dir, ignore_errors=True)
