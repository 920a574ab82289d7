"""Reading ``-f`` arguments: YAML or JSON, several documents, lists, directories, ``-``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from api.resources import ResourceInfo
from cli import discovery
from cli.context import resolve_kind
from cli.errors import CliError

Manifest = dict[str, Any]
EXTENSIONS = (".yaml", ".yml", ".json")


def _read(source: str, recursive: bool = False) -> list[tuple[str, str]]:
    if source == "-":
        return [("STDIN", sys.stdin.read())]
    p = Path(source)
    if p.is_dir():
        # kubectl: a directory's own files; with -R also those of its subdirectories.
        found = p.rglob("*") if recursive else p.iterdir()
        files = sorted(f for f in found if f.is_file() and f.suffix in EXTENSIONS)
        if not files:
            raise CliError(f'error reading [{source}]: recognized file extensions are '
                           f"[{' '.join(EXTENSIONS)}]")
        return [(str(f), f.read_text()) for f in files]
    if not p.exists():
        raise CliError(f'the path "{source}" does not exist')
    try:
        return [(str(p), p.read_text())]
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f'error reading "{source}": {exc}') from None


def _docs(name: str, text: str) -> list[Any]:
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return [json.loads(text)]
        except json.JSONDecodeError:
            pass  # YAML is a superset; let its parser give the error
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CliError(f'error parsing {name}:{where}: {problem}') from None


def _flatten(doc: Any, source: str) -> list[Manifest]:
    if not isinstance(doc, dict):
        raise CliError(f"error validating {source}: the document is not an object "
                       f"(got {type(doc).__name__})")
    kind = doc.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
        out: list[Manifest] = []
        for item in doc["items"]:
            out.extend(_flatten(item, source))
        return out
    if not kind or not isinstance(kind, str):
        raise CliError(f"error validating {source}: Object 'Kind' is missing in '{_short(doc)}'")
    if not doc.get("apiVersion"):
        raise CliError(f"error validating {source}: Object 'apiVersion' is missing in "
                       f"'{_short(doc)}'")
    return [doc]


def _short(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"))[:120]


def load(sources: tuple[str, ...], recursive: bool = False) -> list[Manifest]:
    return [doc for _, doc in load_sourced(sources, recursive)]


def load_sourced(sources: tuple[str, ...], recursive: bool = False,
                 verb: str = "apply") -> list[tuple[str, Manifest]]:
    """Each document with the file it came from (``STDIN`` for ``-``), as kubectl names it
    in ``error when creating "FILE": ...``."""
    if not sources:
        raise CliError("must specify one of -f and -k")
    out: list[tuple[str, Manifest]] = []
    for src in sources:
        for name, text in _read(src, recursive):
            for doc in _docs(name, text):
                out.extend((name, d) for d in _flatten(doc, name))
    if not out:
        raise CliError(f"no objects passed to {verb}")
    return out


def info_of(doc: Manifest) -> ResourceInfo:
    kind = str(doc.get("kind"))
    info = resolve_kind(kind)
    if info.api_version != doc.get("apiVersion"):
        # another served version of a custom resource
        info = discovery.for_version(str(doc.get("apiVersion")), kind) or info
    if info.api_version != doc.get("apiVersion"):
        raise CliError(f'resource mapping not found for kind "{kind}" in version '
                       f'"{doc.get("apiVersion")}"')
    return info


def name_of(doc: Manifest) -> str:
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        raise CliError(f"error when retrieving current configuration: resource name may not "
                       f"be empty ({doc.get('kind')})")
    return name


def namespace_of(doc: Manifest, info: ResourceInfo, default: str, explicit: bool) -> str | None:
    """The manifest's namespace, or ``-n``; both given and different is an error (kubectl)."""
    if not info.namespaced:
        return None
    meta = doc.get("metadata")
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    if isinstance(ns, str) and ns:
        if explicit and ns != default:
            raise CliError(f'the namespace from the provided object "{ns}" does not match the '
                           f'namespace "{default}". You must pass \'--namespace={ns}\' to '
                           "perform this operation.")
        return ns
    return default
