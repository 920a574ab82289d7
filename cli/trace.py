"""``minictl trace KIND/NAME``: how the cluster carried out a request, and where it is stuck.

The tree of steps comes from client.trace (the dashboard's timeline uses the same); this
prints it, each step with its time and its offset from the root's creation.
"""

from __future__ import annotations

import sys

import click

from api.models import Event
from cli.context import object_refs, state
from cli.options import common
from client.trace import Step, Tracer, _dur


def render(root: Step, ascii_only: bool = False) -> list[tuple[str, bool]]:
    """Lines of the tree (text, is_warning): ``HH:MM:SS.s  +offset  ├─ step``."""
    tee, last, bar, blank = ("|- ", "`- ", "|  ", "   ") if ascii_only else (
        "├─ ", "└─ ", "│  ", "   ")
    origin = root.at
    out: list[tuple[str, bool]] = []

    def stamp(s: Step) -> str:
        if s.at is None:
            return " " * 21
        clock = s.at.strftime("%H:%M:%S") + (f".{s.at.microsecond // 100000}"
                                             if s.at.microsecond else "  ")
        off = f"+{_dur(max(0.0, (s.at - origin).total_seconds()))}" if origin else ""
        return f"{clock:<10} {off:>9}  "

    def walk(s: Step, prefix: str, is_last: bool, top: bool) -> None:
        branch = "" if top else (last if is_last else tee)
        out.append((f"{stamp(s)}{prefix}{branch}{s.text}", s.warning))
        child_prefix = prefix if top else prefix + (blank if is_last else bar)
        for i, c in enumerate(s.children):
            walk(c, child_prefix, i == len(s.children) - 1, False)

    walk(root, "", True, True)
    return out


@click.command("trace")
@click.argument("args", nargs=-1, required=True)
@common
def trace_cmd(args: tuple[str, ...]) -> None:
    """Show how the cluster carried out a request, step by step, and where it is stuck.

    \b
    The tree goes Deployment -> ReplicaSet -> Pods -> scheduled, image pulled or present,
    containers created and started -> Ready, from the objects and their Events. Times are
    wall-clock (UTC) and offsets from the root object's creation.
    \b
    Examples:
      minictl trace deployment/nginx
      minictl trace pod nginx-7c5ddbdf54-abcde
    """
    st = state()
    for info, name in object_refs(args):
        ns = st.namespace if info.namespaced else None
        obj = st.client.get(info.model, name, ns)
        events_ns = obj.metadata.namespace if info.namespaced else None
        tracer = Tracer(st.client.list_all(Event, events_ns).items,
                        lambda model, ns: st.client.list_all(model, ns).items)
        root = tracer.tree(info, obj)
        enc = (getattr(sys.stdout, "encoding", None) or "").lower()
        ascii_only = "utf" not in enc
        for line, warn in render(root, ascii_only):
            click.secho(line, fg="yellow" if warn else None)
