"""``minictl patch``: a strategic merge, JSON merge or JSON patch, as kubectl sends it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from cli import output, write_util
from cli.context import state
from cli.errors import CliError, format_api_error
from cli.options import common
from client.errors import ApiError

PATCH_TYPES = ("json", "merge", "strategic")


def parse_patch(text: str) -> Any:
    """JSON, or YAML turned into JSON (kubectl's yaml.ToJSON)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CliError(f'unable to parse "{text}": yaml: {problem}') from None


@click.command("patch")
@click.argument("args", nargs=-1)
@click.option("-p", "--patch", "patch_", metavar="PATCH", help="The patch (JSON or YAML).")
@click.option("--patch-file", metavar="FILE", help="A file holding the patch.")
@click.option("--type", "type_", default="strategic", show_default=True,
              metavar="strategic|merge|json", help="The kind of patch.")
@click.option("--subresource", metavar="NAME", help="status or scale.")
@click.option("-f", "--filename", multiple=True, help="The objects named in these files.")
@click.option("-R", "--recursive", is_flag=True, help="With -f DIR: its subdirectories too.")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="json, yaml or name.")
@write_util.dry_run_option
@common
def patch_cmd(args: tuple[str, ...], patch_: str | None, patch_file: str | None, type_: str,
              subresource: str | None, filename: tuple[str, ...], recursive: bool,
              output_: str | None, dry_run: str) -> None:
    """Change fields of objects with a strategic merge (default), JSON merge or JSON patch.

    \b
    Examples:
      minictl patch deployment nginx -p '{"spec":{"replicas":2}}'
      minictl patch pod/web --type merge -p '{"metadata":{"labels":{"tier":"front"}}}'
      minictl patch deploy nginx --type json -p '[{"op":"replace","path":"/spec/replicas","value":1}]'
      minictl patch deploy nginx --subresource scale -p '{"spec":{"replicas":3}}'
    """
    st = state()
    fmt = output.check_output(output_, ("json", "name", "yaml"))
    mode = write_util.parse_dry_run(dry_run)
    if type_ not in PATCH_TYPES:
        raise CliError(f'--type must be one of [{" ".join(PATCH_TYPES)}], not "{type_}"')
    if patch_ is not None and patch_file:
        raise CliError("--patch and --patch-file are mutually exclusive")
    if patch_file:
        try:
            patch_ = Path(patch_file).read_text()
        except OSError as exc:
            raise CliError(f"unable to read patch file: open {patch_file}: "
                           f"{(exc.strerror or str(exc)).lower()}") from None
    if not patch_:
        raise CliError("must specify --patch or --patch-file containing the contents of the "
                       "patch")
    if subresource is not None and subresource not in ("status", "scale"):
        raise CliError(f'invalid subresource value: "{subresource}". Must be one of '
                       '[status scale]')
    body = parse_patch(patch_)
    found = write_util.targets(st, args, filenames=filename, recursive=recursive)
    failed = False
    for t in found:
        if subresource and subresource not in t.info.subresources:
            click.echo(f'error: {t.info.kind} does not support the "{subresource}" '
                       "subresource", err=True)
            failed = True
            continue
        try:
            sub_path = t.path + (f"/{subresource}" if subresource else "")
            before = st.client.request("GET", sub_path)
            # kubectl --dry-run=client patches locally; the server's dry run gives the
            # same object (strategic merge needs the kinds' merge keys), and saves nothing.
            after = write_util.patch(st, t, body, type_,
                                     dry_run="server" if mode == "client" else mode,
                                     subresource=subresource)
        except ApiError as exc:
            click.echo(format_api_error(exc, st.server), err=True)
            failed = True
            continue
        display = f"scale.autoscaling/{t.name}" if subresource == "scale" else t.display
        note = "" if after != before else " (no change)"
        message = f"{display} patched{note}"  # kubectl patch: no "(dry run)" note
        if fmt == "name":
            click.echo(display)
        else:
            write_util.emit(t.info, after, fmt, message)
    if failed:
        raise SystemExit(1)
