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
from cli import manifests, output, tables
from cli.context import state
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


def with_last_applied(doc: dict[str, Any]) -> tuple[dict[str, Any], str]:
    body = copy.deepcopy(doc)
    body.pop("status", None)
    meta = body.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    annotations.pop(LAST_APPLIED_CONFIG_ANNOTATION, None)
    meta["annotations"] = annotations or None
    if meta["annotations"] is None:
        del meta["annotations"]
    record = json.dumps(body, separators=(",", ":"), sort_keys=True)
    meta.setdefault("annotations", {})[LAST_APPLIED_CONFIG_ANNOTATION] = record + "\n"
    return body, record


@click.command("apply")
@click.option("-f", "--filename", multiple=True, required=True,
              help="A file, a directory of .yaml/.yml/.json files, or - for stdin.")
@click.option("-o", "--output", "output_", metavar="FORMAT", help="name: print only names.")
@common
def apply_cmd(filename: tuple[str, ...], output_: str | None) -> None:
    """Create or update resources from YAML or JSON manifests (several documents allowed).

    \b
    Examples:
      minictl apply -f deployment.yaml
      minictl apply -f manifests/
      cat pod.json | minictl apply -f -
    """
    st = state()
    fmt = output.check_output(output_, ("name",))
    docs = manifests.load(filename)
    # Validate every document before changing anything, so a typo in the third document
    # does not leave the first two applied and the rest not.
    planned = []
    for doc in docs:
        info = manifests.info_of(doc)
        name = manifests.name_of(doc)
        ns = manifests.namespace_of(doc, info, st.namespace, st.explicit_namespace)
        try:
            info.model.model_validate(doc)
        except ValueError as exc:
            raise CliError(f"error validating \"{info.kind}/{name}\": {_first_error(exc)}") from None
        planned.append((doc, info, name, ns))
    failed = False
    for doc, info, name, ns in planned:
        body, record = with_last_applied(doc)
        if ns is not None:
            body["metadata"]["namespace"] = ns
        try:
            try:
                current = st.client.get(info.model, name, ns)
            except NotFound:
                st.client.create(info.model.model_validate(body), ns)
                verb = "created"
            else:
                annotations = current.metadata.annotations or {}
                try:
                    last = json.loads(annotations.get(LAST_APPLIED_CONFIG_ANNOTATION, "") or "{}")
                except json.JSONDecodeError:
                    last = {}
                _, last_record = with_last_applied(last) if last else ({}, "")
                if last and last_record == record:
                    verb = "unchanged"
                else:
                    patch = three_way(last if isinstance(last, dict) else {}, body)
                    patch.setdefault("metadata", {}).setdefault("annotations", {})[
                        LAST_APPLIED_CONFIG_ANNOTATION] = record + "\n"
                    try:
                        updated = st.client.patch(info.model, name, patch, ns,
                                                  patch_type="strategic")
                    except UnsupportedMediaType:
                        updated = st.client.patch(info.model, name, patch, ns,
                                                  patch_type="merge")
                    same = updated.metadata.resource_version == current.metadata.resource_version
                    verb = "unchanged" if same else "configured"
        except ApiError as exc:
            click.echo(format_api_error(exc, st.server), err=True)
            failed = True
            continue
        except ValueError as exc:  # the manifest does not fit the kind's model
            click.echo(f"error: error validating data: {_first_error(exc)}", err=True)
            failed = True
            continue
        if fmt == "name":
            click.echo(tables.qualified_name(info, name))
        else:
            output.done(info, name, verb)
    if failed:
        raise SystemExit(1)


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
