"""``minictl apply -f``: create what is missing, patch what changed, like kubectl.

The manifest as last applied is kept in the ``kubectl.kubernetes.io/last-applied-configuration``
annotation. The next apply patches only what changed since then (and removes fields the
manifest no longer has), so fields that the server or controllers set are left alone. The
patch is a strategic merge patch: containers merge by name, keeping server defaults.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import click

from api.wellknown import LAST_APPLIED_CONFIG_ANNOTATION
from cli import manifests, output, tables, write_util
from cli.context import State, state
from cli.errors import CliError, format_api_error
from cli.options import common
from client.errors import ApiError, NotFound, UnsupportedMediaType


def three_way(last: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What changed from ``last`` to ``new``, as a merge patch (None removes a field)."""
    patch: dict[str, Any] = {}
    for k, v in new.items():
        old = last.get(k)
        if isinstance(v, dict) and isinstance(old, dict):
            sub = three_way(old, v)
            if sub:
                patch[k] = sub
        elif k not in last or old != v:
            patch[k] = v
    for k in last:
        if k not in new:
            patch[k] = None
    return patch


def with_last_applied(doc: dict[str, Any], namespace: str | None = None
                      ) -> tuple[dict[str, Any], str]:
    """The body to send and kubectl's record of it: the manifest with its namespace, the
    annotation itself removed (``"annotations":{}`` stays, as kubectl writes it)."""
    body = copy.deepcopy(doc)
    body.pop("status", None)
    meta = body.setdefault("metadata", {})
    if namespace is not None:
        meta["namespace"] = namespace
    annotations = dict(meta.get("annotations") or {})
    annotations.pop(LAST_APPLIED_CONFIG_ANNOTATION, None)
    meta["annotations"] = annotations
    record = json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    meta.setdefault("annotations", {})[LAST_APPLIED_CONFIG_ANNOTATION] = record + "\n"
    return body, record


MISSING_ANNOTATION = (
    "Warning: resource {what} is missing the {ann} annotation which is required by minictl "
    "apply. minictl apply should only be used on resources created declaratively by either "
    "minictl create --save-config or minictl apply. The missing annotation will be patched "
    "automatically.")


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    for k in ("resourceVersion", "managedFields", "generation"):
        meta.pop(k, None)
    return out


@click.command("apply")
@click.option("-f", "--filename", multiple=True,
              help="A file, a directory of .yaml/.yml/.json files, or - for stdin.")
@click.option("-R", "--recursive", is_flag=True, help="With -f DIR: its subdirectories too.")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="name, yaml or json.")
@write_util.dry_run_option
@common
def apply_cmd(filename: tuple[str, ...], recursive: bool, output_: str | None,
              dry_run: str) -> None:
    """Create or update resources from YAML or JSON manifests (several documents allowed).

    \b
    Examples:
      minictl apply -f deployment.yaml
      minictl apply -f manifests/ -R
      minictl apply -f deployment.yaml --dry-run=server
      cat pod.json | minictl apply -f -
    """
    st = state()
    fmt = output.check_output(output_, ("name", "yaml", "json"))
    mode = write_util.parse_dry_run(dry_run)
    docs = manifests.load_sourced(filename, recursive)
    # Validate every document before changing anything, so a typo in the third document
    # does not leave the first two applied and the rest not.
    planned = []
    for source, doc in docs:
        info = manifests.info_of(doc)
        name = manifests.name_of(doc)
        ns = manifests.namespace_of(doc, info, st.namespace, st.explicit_namespace)
        try:
            info.model.model_validate(doc)
        except ValueError as exc:
            raise CliError(f"error validating \"{info.kind}/{name}\": {_first_error(exc)}") from None
        planned.append((source, doc, info, name, ns))
    failed = False
    results: list[dict[str, Any]] = []
    for source, doc, info, name, ns in planned:
        body, record = with_last_applied(doc, ns)
        t = write_util.Target(info, name, ns)
        try:
            try:
                current = write_util.get(st, t)
            except NotFound:
                try:
                    result = body if mode == "client" else write_util.create(
                        st, info, ns, body, dry_run=mode)
                except ApiError as exc:
                    click.echo(write_util.source_error(exc, "creating", source, st.server),
                               err=True)
                    failed = True
                    continue
                verb = "created"
            else:
                result, verb = _update(st, t, current, body, record, mode)
        except ApiError as exc:
            click.echo(format_api_error(exc, st.server), err=True)
            failed = True
            continue
        results.append(result)
        if fmt in ("yaml", "json"):
            continue
        if fmt == "name":
            click.echo(tables.qualified_name(info, name))
        else:
            output.done(info, name, verb + write_util.dry_suffix(mode))
    if failed:
        raise SystemExit(1)
    if fmt in ("yaml", "json") and results:
        shown: dict[str, Any] = results[0] if len(results) == 1 else {
            "apiVersion": "v1", "items": results, "kind": "List", "metadata": {}}
        write_util.emit(planned[0][2], shown, fmt, "")


def _update(st: State, t: write_util.Target, current: dict[str, Any], body: dict[str, Any],
            record: str, mode: str, *, warn: bool = True) -> tuple[dict[str, Any], str]:
    """kubectl's three-way patch of an existing object; the result and the verb. Without
    ``warn`` (kubectl diff) the patch leaves the last-applied annotation as it is."""
    if mode == "client":
        return body, "configured"  # kubectl does not compute the patch in a client dry run
    annotations = (current.get("metadata") or {}).get("annotations") or {}
    if warn and LAST_APPLIED_CONFIG_ANNOTATION not in annotations:
        what = t.info.plural + (f".{t.info.group}" if t.info.group else "") + "/" + t.name
        click.echo(MISSING_ANNOTATION.format(what=what, ann=LAST_APPLIED_CONFIG_ANNOTATION),
                   err=True)
    try:
        last = json.loads(annotations.get(LAST_APPLIED_CONFIG_ANNOTATION, "") or "{}")
    except json.JSONDecodeError:
        last = {}
    if not isinstance(last, dict):
        last = {}
    _, last_record = with_last_applied(last) if last else ({}, "")
    if last and last_record == record and warn:
        return current, "unchanged"
    patch = three_way(last, body)
    if warn:
        patch.setdefault("metadata", {}).setdefault("annotations", {})[
            LAST_APPLIED_CONFIG_ANNOTATION] = record + "\n"
    else:
        meta = patch.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
            meta["annotations"].pop(LAST_APPLIED_CONFIG_ANNOTATION, None)
    try:
        updated = write_util.patch(st, t, patch, "strategic", dry_run=mode)
    except UnsupportedMediaType:
        updated = write_util.patch(st, t, patch, "merge", dry_run=mode)
    same = _comparable(updated) == _comparable(current)
    return updated, "unchanged" if same else "configured"


def merged(st: State, t: write_util.Target, doc: dict[str, Any]) -> tuple[
        dict[str, Any] | None, dict[str, Any]]:
    """What ``apply`` would make of ``doc`` (kubectl diff): (live object or None, the
    server's dry run of the create or of the apply patch)."""
    body, record = with_last_applied(doc, t.namespace)
    try:
        current = write_util.get(st, t)
    except NotFound:
        # kubectl diff creates the manifest as it is (no last-applied annotation)
        plain = copy.deepcopy(doc)
        if t.namespace is not None:
            plain.setdefault("metadata", {})["namespace"] = t.namespace
        return None, write_util.create(st, t.info, t.namespace, plain, dry_run="server")
    result, _ = _update(st, t, current, body, record, "server", warn=False)
    return current, result


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            e = errors()[0]
            loc = ".".join(str(p) for p in e.get("loc", ()))
            return f"{loc}: {e.get('msg')}"
        except (IndexError, TypeError, KeyError):
            pass
    return str(exc).splitlines()[0]


__all__ = ["CliError", "apply_cmd", "three_way"]
