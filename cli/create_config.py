"""``minictl create configmap`` and ``minictl create secret generic``, as kubectl's.

Keys come from ``--from-literal=key=value`` and ``--from-file=[key=]path`` (a directory
adds each regular file in it, named after the file). A ConfigMap keeps UTF-8 files in
``data`` and anything else in ``binaryData``; a Secret holds base64 in ``data``.
"""

from __future__ import annotations

import base64
import os

import click

from api import resources
from api.models import ConfigMap, ObjectMeta, Secret
from api.names import is_config_map_key
from cli import output, write_util
from cli.context import state
from cli.create import _emit, _send, create_cmd
from cli.errors import CliError
from cli.options import common


def _literal(text: str) -> tuple[str, bytes]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CliError(f"invalid literal source {text}, expected key=value")
    return key, value.encode()


def _files(spec: str) -> list[tuple[str, bytes]]:
    key, sep, path = spec.partition("=")
    if not sep:
        key, path = "", spec
    elif not key:
        raise CliError(f"key name for file path {path} missing")
    if os.path.isdir(path):
        if key:
            raise CliError("cannot give a key name for a directory path")
        out = []
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if os.path.isfile(full):
                out.append((name, _read(full)))
        return out
    return [(key or os.path.basename(path), _read(path))]


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CliError(f"error reading {path}: {e.strerror or e}") from None


def _collect(kind: str, name: str, literals: tuple[str, ...],
             files: tuple[str, ...]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    pairs = [_literal(t) for t in literals] + [p for f in files for p in _files(f)]
    for key, value in pairs:
        errs = is_config_map_key(key)
        if errs:
            raise CliError(f'"{key}" is not a valid key name for a {kind}: {";".join(errs)}')
        if key in out:
            raise CliError(f"cannot add key {key}, another key by that name already exists "
                           f'in Data for {kind} "{name}"')
        out[key] = value
    return out


_FROM_LITERAL = click.option("--from-literal", "literals", multiple=True, metavar="KEY=VALUE",
                             help="A key and its literal value; repeatable.")
_FROM_FILE = click.option("--from-file", "files", multiple=True, metavar="[KEY=]PATH",
                          help="A file (key: its name, or KEY) or a directory of files; "
                               "repeatable.")
_OUTPUT = click.option("-o", "--output", "output_", metavar="FORMAT",
                       help="yaml, json or name.")
_DRY_RUN = write_util.dry_run_option


@create_cmd.command("configmap")
@click.argument("name")
@_FROM_LITERAL
@_FROM_FILE
@_OUTPUT
@_DRY_RUN
@common
def create_configmap(name: str, literals: tuple[str, ...], files: tuple[str, ...],
                     output_: str | None, dry_run: str) -> None:
    """Create a ConfigMap NAME from literal values and files.

    \b
    Examples:
      minictl create configmap web --from-literal=mode=prod --from-file=nginx.conf
      minictl create configmap web --from-file=conf/ --dry-run=client -o yaml
    """
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    mode = write_util.parse_dry_run(dry_run)
    dry = mode == "client"
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    for k, v in _collect("ConfigMap", name, literals, files).items():
        try:
            data[k] = v.decode()
        except UnicodeDecodeError:
            binary[k] = base64.b64encode(v).decode()
    cm = ConfigMap(metadata=ObjectMeta(name=name, namespace=None if dry else st.namespace),
                   data=data or None, binary_data=binary or None)
    cm = _send(st, resources.CONFIGMAPS, cm, st.namespace, mode)
    _emit(resources.CONFIGMAPS, cm, fmt, mode)


@click.group("secret")
def secret_group() -> None:
    """Create a secret (generic)."""


create_cmd.add_command(secret_group)


@secret_group.command("generic")
@click.argument("name")
@_FROM_LITERAL
@_FROM_FILE
@click.option("--type", "type_", default=None, help="The type of the secret (default Opaque).")
@_OUTPUT
@_DRY_RUN
@common
def create_secret_generic(name: str, literals: tuple[str, ...], files: tuple[str, ...],
                          type_: str | None, output_: str | None, dry_run: str) -> None:
    """Create a Secret NAME from literal values and files (stored base64-encoded).

    \b
    Example:
      minictl create secret generic db --from-literal=password=s3cret
    """
    st = state()
    fmt = output.check_output(output_, ("yaml", "json", "name"))
    mode = write_util.parse_dry_run(dry_run)
    dry = mode == "client"
    data = {k: base64.b64encode(v).decode()
            for k, v in _collect("Secret", name, literals, files).items()}
    secret = Secret(metadata=ObjectMeta(name=name, namespace=None if dry else st.namespace),
                    type=type_ or "Opaque", data=data or None)
    secret = _send(st, resources.SECRETS, secret, st.namespace, mode)
    _emit(resources.SECRETS, secret, fmt, mode)
