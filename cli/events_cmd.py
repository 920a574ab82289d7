"""``minictl events``: the events of a namespace (or all, or of one object), oldest first,
as ``kubectl events`` prints them (k8s.io/kubectl/pkg/cmd/events: events.go and
event_printer.go).

LAST SEEN is the age of the event, with ``(xN over AGE)`` for a repeated one (a series,
or a count above 1); OBJECT is ``Kind/name``. ``--for TYPE/NAME`` selects by the involved
object's kind and name, ``--types`` keeps Normal and/or Warning events; ``-w`` watches
instead of listing (the server first replays what exists, then new events as they come;
deletions are not printed), each batch aligned on its own as kubectl's tabwriter flushes
per event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from api import resources
from api.models import Event
from api.timeutil import human_duration, parse_time_or_none
from cli import output, tables
from cli.context import resolve_kind, state
from cli.errors import CliError
from cli.options import common

JSON = dict[str, Any]


def _since(ts: Any, now: datetime) -> str:
    t = parse_time_or_none(ts if isinstance(ts, str) else None)
    return "<unknown>" if t is None else human_duration((now - t).total_seconds())


def interval(e: JSON, now: datetime) -> str:
    """getInterval."""
    first = _since(e.get("eventTime"), now) if e.get("eventTime") else \
        _since(e.get("firstTimestamp"), now)
    series = e.get("series")
    if isinstance(series, dict):
        return (f"{_since(series.get('lastObservedTime'), now)} "
                f"(x{series.get('count') or 0} over {first})")
    if (e.get("count") or 0) > 1:
        return f"{_since(e.get('lastTimestamp'), now)} (x{e['count']} over {first})"
    return first


def _sort_key(e: JSON) -> datetime:
    """eventTime(): the series' last observation, else lastTimestamp, else eventTime."""
    series = e.get("series")
    raw = (series.get("lastObservedTime") if isinstance(series, dict) else None) \
        or e.get("lastTimestamp") or e.get("eventTime")
    return parse_time_or_none(raw) or datetime.min.replace(tzinfo=UTC)


def _cell(text: Any) -> str:
    return str(text or "")


def row(e: JSON, all_namespaces: bool, now: datetime) -> list[str]:
    inv = e.get("involvedObject") or {}
    lead = [str((e.get("metadata") or {}).get("namespace") or "")] if all_namespaces else []
    return [*lead, interval(e, now), _cell(e.get("type")), _cell(e.get("reason")),
            f"{_cell(inv.get('kind'))}/{_cell(inv.get('name'))}",
            _cell(str(e.get("message") or "").strip())]


def header(all_namespaces: bool) -> list[str]:
    return (["NAMESPACE"] if all_namespaces else []) + ["LAST SEEN", "TYPE", "REASON",
                                                        "OBJECT", "MESSAGE"]


def render(rows: list[list[str]]) -> str:
    """kubectl's tabwriter (minwidth 6, padding 3)."""
    w = [max(6, n + 3) for n in tables.widths(rows)]
    return "\n".join("".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows)


@click.command("events")
@click.option("-A", "--all-namespaces", is_flag=True,
              help="List the requested events across all namespaces.")
@click.option("--for", "for_", default=None, metavar="TYPE/NAME",
              help="Filter events to only those pertaining to the specified resource.")
@click.option("--types", default=None, metavar="Normal,Warning",
              help="Output only events of given types.")
@click.option("-w", "--watch", is_flag=True,
              help="After listing the requested events, watch for more events.")
@click.option("--no-headers", is_flag=True,
              help="When using the default output format, don't print headers.")
@click.option("-o", "--output", "output_", default=None, metavar="json|yaml",
              help="Output format: json or yaml.")
@common
def events_cmd(all_namespaces: bool, for_: str | None, types: str | None, watch: bool,
               no_headers: bool, output_: str | None) -> None:
    """List events.

    \b
    Examples:
      minictl events
      minictl events -A
      minictl events --for pod/web-pod-13je7 --watch
      minictl events --types=Warning,Normal
    """
    kinds = sorted({t.strip() for t in (types or "").split(",") if t.strip()})
    if any(t.lower() not in ("normal", "warning") for t in kinds):
        raise CliError("valid --types are Normal or Warning")
    if output_ not in (None, "json", "yaml"):
        raise CliError(f'unable to match a printer suitable for the output format "{output_}", '
                       "allowed formats are: json,yaml")
    st = state()
    params: dict[str, str] = {}
    if for_ is not None:
        kind, sep, name = for_.partition("/")
        if not sep:
            raise CliError("--for must be in resource/name form")
        if "/" in name:
            raise CliError("arguments in resource/name form may not have more than one slash")
        info = resolve_kind(kind)
        params["fieldSelector"] = (f"involvedObject.kind={info.kind},"
                                   f"involvedObject.apiVersion={info.api_version},"
                                   f"involvedObject.name={name}")
    namespace = None if all_namespaces else st.namespace
    path = f"/api/v1/namespaces/{namespace}/events" if namespace else "/api/v1/events"

    def wanted(e: JSON) -> bool:
        return not kinds or str(e.get("type") or "").lower() in {k.lower() for k in kinds}

    if watch:
        _watch(namespace, params.get("fieldSelector"), wanted, all_namespaces, no_headers,
               output_)
        return
    got = st.client.request("GET", path, params=params)
    items = [e for e in (got.get("items") or []) if isinstance(e, dict) and wanted(e)] \
        if isinstance(got, dict) else []
    if not items:
        click.echo("No events found." if all_namespaces
                   else f"No events found in {st.namespace} namespace.", err=True)
        return
    items.sort(key=_sort_key)
    if output_:
        doc = {"kind": "EventList", "apiVersion": "v1", "metadata": {},
               "items": [{**e, "kind": "Event", "apiVersion": "v1"} for e in items]}
        click.echo(output.dump_json(doc) if output_ == "json" else output.dump_yaml(doc),
                   nl=output_ == "json")
        return
    now = datetime.now(UTC)
    rows = [] if no_headers else [header(all_namespaces)]
    rows += [row(e, all_namespaces, now) for e in items]
    click.echo(render(rows))


def _watch(namespace: str | None, field_selector: str | None, wanted: Any,
           all_namespaces: bool, no_headers: bool, output_: str | None) -> None:
    st = state()
    first = True
    for ev in st.client.watch(Event, namespace, field_selector=field_selector,
                              allow_bookmarks=False):
        if ev.type == "DELETED":  # events are deleted after an hour: not printed
            continue
        obj = output.wire(resources.EVENTS, ev.object)
        if not wanted(obj):
            continue
        if output_:
            text = output.dump_json(obj) if output_ == "json" else output.dump_yaml(obj)
            click.echo(text, nl=output_ == "json")
            continue
        rows = [header(all_namespaces)] if first and not no_headers else []
        rows.append(row(obj, all_namespaces, datetime.now(UTC)))
        first = False
        click.echo(render(rows))
