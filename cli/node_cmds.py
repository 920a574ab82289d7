"""``minictl cordon|uncordon NODE...`` and ``minictl taint nodes NODE... SPEC...``, with
kubectl's parsing, messages and patches (k8s.io/kubectl/pkg/cmd/drain's cordon helper and
pkg/cmd/taint)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from api import resources
from api.models import Node
from api.names import is_qualified_name, is_valid_label_value
from cli.context import State, state
from cli.errors import CliError
from cli.options import common

EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"


def _dry_run(value: str) -> str:
    if value not in ("none", "client", "server"):
        raise CliError(f'Invalid dry-run value ({value}). Must be "none", "server", or "client".')
    return value


def _nodes(st: State, names: tuple[str, ...], selector: str | None,
           all_nodes: bool = False) -> list[Node]:
    if selector or all_nodes:
        if names:
            raise CliError("error: cannot specify both a node name and a selector"
                           if selector else "setting 'all' parameter but found a non empty "
                           "resource name")
        return sorted(st.client.list_all(Node, label_selector=selector).items,
                      key=lambda n: n.metadata.name or "")
    return [st.client.get(Node, n) for n in names]


def _patch(st: State, name: str, body: dict[str, Any], content_type: str,
           dry_run: str) -> None:
    if dry_run == "client":
        return
    params = {"dryRun": "All"} if dry_run == "server" else None
    st.client.request("PATCH", resources.NODES.object_path(name), params=params, json=body,
                      content_type=content_type)


def _suffix(dry_run: str) -> str:
    return {"client": " (dry run)", "server": " (server dry run)"}.get(dry_run, "")


def _cordon(names: tuple[str, ...], selector: str | None, dry_run: str, desired: bool) -> None:
    st = state()
    dry_run = _dry_run(dry_run)
    verb = "cordon" if desired else "uncordon"
    if not names and not selector:
        raise click.UsageError(f"USAGE: {verb} NODE [flags]")
    for node in _nodes(st, names, selector):
        name = node.metadata.name or ""
        if bool(node.spec and node.spec.unschedulable) == desired:
            click.echo(f"node/{name} already {verb}ed{_suffix(dry_run)}")
            continue
        # kubectl's two-way patch: false is the default, so it is removed rather than set.
        _patch(st, name, {"spec": {"unschedulable": True if desired else None}}, STRATEGIC,
               dry_run)
        click.echo(f"node/{name} {verb}ed{_suffix(dry_run)}")


_SELECTOR = click.option("-l", "--selector", help="Selector (label query) to filter on.")
_DRY_RUN = click.option("--dry-run", default="none", show_default=True,
                        metavar="none|client|server",
                        help="Only print what would be done (client), or have the server "
                             "check it without saving (server).")


@click.command("cordon")
@click.argument("names", nargs=-1)
@_SELECTOR
@_DRY_RUN
@common
def cordon_cmd(names: tuple[str, ...], selector: str | None, dry_run: str) -> None:
    """Mark a node as unschedulable: the scheduler places no new pods on it.

    \b
    Examples:
      minictl cordon node-1
      minictl uncordon node-1
    """
    _cordon(names, selector, dry_run, True)


@click.command("uncordon")
@click.argument("names", nargs=-1)
@_SELECTOR
@_DRY_RUN
@common
def uncordon_cmd(names: tuple[str, ...], selector: str | None, dry_run: str) -> None:
    """Mark a node as schedulable again."""
    _cordon(names, selector, dry_run, False)


# ---- taint ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaintSpec:
    key: str
    value: str = ""
    effect: str = ""

    def matches(self, t: dict[str, Any]) -> bool:
        return t.get("key") == self.key and (t.get("effect") or "") == self.effect

    def text(self) -> str:
        """Taint.ToString: ``key=value:effect``, ``key:effect`` or ``key``."""
        s = self.key + (f"={self.value}" if self.value else "")
        return s + (f":{self.effect}" if self.effect else "")

    def wire(self) -> dict[str, Any]:
        out = {"effect": self.effect, "key": self.key}
        if self.value:
            out["value"] = self.value
        return out


def is_taint_spec(arg: str) -> bool:
    return "=" in arg or ":" in arg or arg.endswith("-")


def _effect(effect: str) -> str:
    if effect not in EFFECTS:
        raise click.UsageError(f"invalid taint effect: {effect}, unsupported taint effect")
    return effect


def parse_taint(spec: str) -> TaintSpec:
    """kubectl's parseTaint: ``key[=value]:effect``."""
    parts = spec.split(":")
    key, value, effect = spec, "", ""
    if len(parts) == 2:
        effect = _effect(parts[1])
        kv = parts[0].split("=")
        if len(kv) > 2:
            raise click.UsageError(f"invalid taint spec: {spec}")
        key = kv[0]
        if len(kv) == 2:
            value = kv[1]
            errs = is_valid_label_value(value)
            if errs:
                raise click.UsageError(f"invalid taint spec: {spec}, {'; '.join(errs)}")
    elif len(parts) > 2:
        raise click.UsageError(f"invalid taint spec: {spec}")
    errs = is_qualified_name(key)
    if errs:
        raise click.UsageError(f"invalid taint spec: {spec}, {'; '.join(errs)}")
    if not effect:
        raise click.UsageError(f"invalid taint spec: {spec}, {'; '.join(errs) or 'no effect'}")
    return TaintSpec(key, value, effect)


def parse_taints(specs: list[str]) -> tuple[list[TaintSpec], list[TaintSpec]]:
    """(to add, to remove), as kubectl's ParseTaints."""
    add: list[TaintSpec] = []
    remove: list[TaintSpec] = []
    seen: set[tuple[str, str]] = set()
    for spec in specs:
        if spec.endswith("-"):
            key, _, effect = spec[:-1].partition(":")
            if effect:
                _effect(effect)
            remove.append(TaintSpec(key, "", effect))
            continue
        t = parse_taint(spec)
        if (t.key, t.effect) in seen:
            raise click.UsageError("duplicated taints with the same key and effect: "
                                   f"{t.text()}")
        seen.add((t.key, t.effect))
        add.append(t)
    both = [r for r in remove if any(a.key == r.key for a in add)]
    if both:
        names = ", ".join(f"{r.key}={r.effect}" for r in both)
        raise CliError("can not both modify and remove the following taint(s) in the same "
                       f"command: {names}")
    return add, remove


def reorganize(old: list[dict[str, Any]], add: list[TaintSpec],
               remove: list[TaintSpec]) -> tuple[list[dict[str, Any]], bool, bool]:
    """kubectl's reorganizeTaints: the taints to add, then the old ones they do not replace,
    less the removed ones; (taints, added, deleted)."""
    new = [a.wire() for a in add]
    for t in old:
        if not any(a.matches(t) for a in add):
            new.append(t)
    added = len(old) != len(new)
    deleted = False
    for r in remove:
        kept = [t for t in new if not (t.get("key") == r.key
                                       and (not r.effect or t.get("effect") == r.effect))]
        if len(kept) == len(new):
            raise CliError(f'taint "{r.text()}" not found')
        new, deleted = kept, True
    return new, added, deleted


@click.command("taint")
@click.argument("args", nargs=-1)
@_SELECTOR
@click.option("--all", "all_nodes", is_flag=True, help="Taint every node.")
@click.option("--overwrite", is_flag=True,
              help="Replace a taint with the same key and effect instead of failing.")
@_DRY_RUN
@common
def taint_cmd(args: tuple[str, ...], selector: str | None, all_nodes: bool, overwrite: bool,
              dry_run: str) -> None:
    """Update the taints on one or more nodes: KEY=VALUE:EFFECT adds (EFFECT is NoSchedule,
    PreferNoSchedule or NoExecute), KEY:EFFECT- or KEY- removes.

    \b
    Examples:
      minictl taint nodes node-1 dedicated=db:NoSchedule
      minictl taint nodes node-1 dedicated:NoSchedule-
      minictl taint nodes node-1 dedicated-
      minictl taint nodes -l disk=ssd fast=yes:PreferNoSchedule --overwrite
    """
    st = state()
    dry_run = _dry_run(dry_run)
    if not args:
        raise click.UsageError("USAGE: taint NODE NAME KEY_1=VAL_1:TAINT_EFFECT_1 ... "
                               "KEY_N=VAL_N:TAINT_EFFECT_N [options]")
    kind = args[0]
    names: list[str] = []
    specs: list[str] = []
    for arg in args[1:]:
        (specs if is_taint_spec(arg) else names).append(arg)
    info = resources.lookup(kind)
    if info is None:
        raise CliError(f'the server doesn\'t have a resource type "{kind}"')
    if info is not resources.NODES:
        raise CliError(f"invalid resource type {kind}, only node types are supported")
    if not specs:
        raise CliError("at least one taint update is required")
    add, remove = parse_taints(specs)
    for node in _nodes(st, tuple(names), selector, all_nodes):
        name = node.metadata.name or ""
        old = [t.to_dict() for t in (node.spec.taints if node.spec else None) or []]
        if not overwrite:
            for a in add:
                if any(a.matches(t) for t in old):
                    raise CliError(f"node {name} already has a taint(s) with same effect(s) "
                                   "and --overwrite is false")
        new, added, deleted = reorganize(old, add, remove)
        _patch(st, name, {"spec": {"taints": new or None}}, MERGE, dry_run)
        op = "modified" if (added and deleted) or overwrite else (
            "tainted" if added else "untainted")
        click.echo(f"node/{name} {op}")
