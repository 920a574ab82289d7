"""``minictl get``: tables computed from typed objects, several kinds, ``-o``, ``-w``."""

from __future__ import annotations

import time

import click

from api.models.core import TypedObject
from api.resources import ResourceInfo
from cli import output, tables
from cli.context import State, resolve_kind, split_ref, state
from cli.errors import CliError, format_api_error
from cli.options import common
from client.errors import ApiError, Gone, NotFound

Pair = tuple[ResourceInfo, TypedObject]


def parse_kinds(spec: str) -> list[ResourceInfo]:
    out: list[ResourceInfo] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        kinds = tables.all_kinds() if part == "all" else [resolve_kind(part)]
        for info in kinds:
            if info not in out:
                out.append(info)
    if not out:
        raise CliError("you must specify the type of resource to get")
    return out


def list_kind(st: State, info: ResourceInfo, *, all_namespaces: bool, selector: str | None,
              field_selector: str | None) -> tuple[list[TypedObject], str]:
    ns = None if (all_namespaces or not info.namespaced) else st.namespace
    res = st.client.list_all(info.model, ns, label_selector=selector,
                             field_selector=field_selector)
    items: list[TypedObject] = list(res.items)
    items.sort(key=lambda o: tables.sort_key(info, o))
    return items, res.resource_version


def no_resources(st: State, all_namespaces: bool, namespaced: bool) -> str:
    if all_namespaces or not namespaced:
        return "No resources found"
    return f"No resources found in {st.namespace} namespace."


@click.command("get")
@click.argument("args", nargs=-1)
@click.option("-o", "--output", "output_", metavar="FORMAT",
              help="Output format: wide, yaml, json, name, jsonpath=TEMPLATE, "
                   "jsonpath-file=FILE, jsonpath-as-json=TEMPLATE, custom-columns=SPEC or "
                   "custom-columns-file=FILE. A JSONPath template runs on the object, or on a "
                   "List of all objects, e.g. '{.items[*].metadata.name}'; custom columns "
                   "are HEADER:PATH pairs, e.g. NAME:.metadata.name,IP:.status.podIP "
                   "(the file form: a line of headers, then a line of paths).")
@click.option("-l", "--selector", help="Label selector, e.g. app=nginx,tier!=db.")
@click.option("--field-selector", help="Field selector, e.g. spec.nodeName=node-1.")
@click.option("-A", "--all-namespaces", is_flag=True, help="List across all namespaces.")
@click.option("-w", "--watch", is_flag=True, help="After listing, stream changes as rows.")
@click.option("--watch-only", is_flag=True, help="Stream changes without listing first.")
@click.option("--show-labels", is_flag=True, help="Add a LABELS column.")
@click.option("--no-headers", is_flag=True, help="Print table rows without the header.")
@click.option("--allow-missing-template-keys", type=bool, default=True, show_default=True,
              help="Print nothing for a key the JSONPath template names but the object "
                   "lacks; false makes that an error.")
@click.option("--request-timeout", default="0", metavar="DURATION",
              help="Give up (a watch: stop) after this long, e.g. 30s; 0 means never.")
@common
def get_cmd(args: tuple[str, ...], output_: str | None, selector: str | None,
            field_selector: str | None, all_namespaces: bool, watch: bool, watch_only: bool,
            show_labels: bool, no_headers: bool, allow_missing_template_keys: bool,
            request_timeout: str) -> None:
    """Display one or many resources.

    \b
    Kinds: pods (po), deployments (deploy), replicasets (rs), nodes (no),
    namespaces (ns), events (ev), leases, or `all`; several at once with commas.
    \b
    Examples:
      minictl get pods -o wide
      minictl get deploy,po -l app=nginx
      minictl get pod/nginx-abc deploy/nginx -o yaml
      minictl get pods -A -w
      minictl get pods -o jsonpath='{range .items[*]}{.metadata.name}{"\\t"}{.status.podIP}{"\\n"}{end}'
      minictl get pods -o custom-columns=NAME:.metadata.name,NODE:.spec.nodeName
    """
    st = state()
    fmt = output.check_output(output_)
    printer = output.template_printer(fmt, no_headers=no_headers,
                                      allow_missing=allow_missing_template_keys)
    limit = output.parse_duration(request_timeout)
    if not args:
        raise CliError("you must specify the type of resource to get. Use \"minictl get all\" "
                       "or one of: pods, deployments, replicasets, nodes, namespaces, events")
    named: list[tuple[ResourceInfo, str]] = []
    kinds: list[ResourceInfo] = []
    if any("/" in a for a in args):
        if not all("/" in a for a in args):
            raise CliError("there is no need to specify a resource type as a separate argument "
                           "when passing arguments in resource/name form (e.g. 'minictl get "
                           "resource/<resource_name>' instead of 'minictl get resource "
                           "resource/<resource_name>'")
        named = [split_ref(a) for a in args]
    else:
        kinds = parse_kinds(args[0])
        if len(args) > 1:
            if len(kinds) > 1:
                raise CliError("you may only specify a single resource type when naming objects")
            named = [(kinds[0], n) for n in args[1:]]
    for info in kinds + [i for i, _ in named]:
        if not tables.supports(info):
            raise CliError(f'the server doesn\'t have a resource type "{info.plural}"')
    if (selector or field_selector) and named:
        raise CliError("selectors cannot be used when naming objects")

    if watch or watch_only:
        watched = {i for i, _ in named} | set(kinds)
        if len(watched) != 1:
            raise CliError("watch is only supported on individual resources and resource "
                           f"collections, but {len(watched)} resource types were found")
        info = next(iter(watched))
        names = [n for _, n in named]
        _watch(st, info, names, fmt, all_namespaces=all_namespaces, selector=selector,
               field_selector=field_selector, watch_only=watch_only, limit=limit,
               show_labels=show_labels, no_headers=no_headers, printer=printer)
        return

    pairs: list[Pair] = []
    errors: list[str] = []
    if named:
        for info, name in named:
            try:
                ns = st.namespace if info.namespaced else None
                pairs.append((info, st.client.get(info.model, name, ns)))
            except NotFound as exc:
                errors.append(format_api_error(exc, st.server))
    else:
        for info in kinds:
            items, _ = list_kind(st, info, all_namespaces=all_namespaces, selector=selector,
                                 field_selector=field_selector)
            pairs.extend((info, o) for o in items)
    with_kind = len(kinds) > 1 or len({i for i, _ in named}) > 1 or (
        bool(args) and args[0] == "all")
    if pairs:
        output.print_objects(pairs, fmt, single=bool(named) and len(named) == 1,
                             with_namespace=all_namespaces and any(i.namespaced for i, _ in pairs),
                             with_kind=with_kind, show_labels=show_labels, no_headers=no_headers,
                             printer=printer)
    elif not named:
        if fmt in ("yaml", "json") or printer is not None:
            # kubectl runs templates on the empty List too (custom columns: just the header).
            output.print_objects([], fmt, single=False, printer=printer)
        else:
            click.echo(no_resources(st, all_namespaces, any(i.namespaced for i in kinds)),
                       err=True)
    if errors:
        for e in errors:
            click.echo(e, err=True)
        raise SystemExit(1)


def _watch(st: State, info: ResourceInfo, names: list[str], fmt: str | None, *,
           all_namespaces: bool, selector: str | None, field_selector: str | None,
           watch_only: bool, limit: float, show_labels: bool, no_headers: bool,
           printer: output.TemplatePrinter | None = None) -> None:
    ns = None if (all_namespaces or not info.namespaced) else st.namespace
    if names:
        if len(names) > 1:
            raise CliError("watch is only supported on individual resources and resource "
                           "collections, but multiple names were given")
        field_selector = f"metadata.name={names[0]}"
    deadline = time.monotonic() + limit if limit > 0 else None
    wide = fmt == "wide"
    with_ns = all_namespaces and info.namespaced
    head = output.table_header(info, wide=wide, with_namespace=with_ns, show_labels=show_labels)
    widths = tables.widths([head])
    printed_header = no_headers

    def emit(obj: TypedObject) -> None:
        nonlocal printed_header, widths
        if isinstance(printer, output.JsonPathPrinter):
            # Per object, as kubectl does under -w (not wrapped in a List).
            click.echo(printer.text(output.wire(info, obj)), nl=False)
        elif isinstance(printer, output.CustomColumnsPrinter):
            click.echo(printer.emit([output.wire(info, obj)]))
        elif fmt == "name":
            click.echo(tables.qualified_name(info, obj.metadata.name or ""))
        elif fmt == "json":
            click.echo(output.dump_json(output.wire(info, obj)))
        elif fmt == "yaml":
            click.echo("---\n" + output.dump_yaml(output.wire(info, obj)).rstrip("\n"))
        else:
            r = output.table_row(info, obj, wide=wide, with_namespace=with_ns, with_kind=False,
                                 show_labels=show_labels)
            if not printed_header:
                widths = tables.widths([head, r])
                click.echo(tables.format_row(head, widths))
                printed_header = True
            widths = [max(a, b) for a, b in zip(widths, tables.widths([r]), strict=False)]
            click.echo(tables.format_row(r, widths))

    items, rv = list_kind(st, info, all_namespaces=all_namespaces, selector=selector,
                          field_selector=field_selector)
    if not watch_only:
        if items and isinstance(printer, output.CustomColumnsPrinter):
            # The first listing is flushed as one block, so it is aligned as one table.
            click.echo(printer.emit([output.wire(info, o) for o in items]))
        elif items and fmt not in ("name", "json", "yaml") and printer is None:
            rows = ([] if no_headers else [head]) + [output.table_row(info, o, wide=wide, with_namespace=with_ns,
                                              with_kind=False, show_labels=show_labels)
                             for o in items]
            widths = tables.widths(rows)
            click.echo(tables.render(rows))
            printed_header = True
        else:
            for o in items:
                emit(o)
            if not items and fmt is None:
                click.echo(no_resources(st, all_namespaces, info.namespaced), err=True)
    while deadline is None or time.monotonic() < deadline:
        remaining = None if deadline is None else max(1, int(deadline - time.monotonic()))
        try:
            for ev in st.client.watch(info.model, ns, resource_version=rv,
                                      label_selector=selector, field_selector=field_selector,
                                      timeout_seconds=remaining or 300):
                rv = ev.object.metadata.resource_version or rv
                if ev.type in ("ADDED", "MODIFIED", "DELETED"):
                    emit(ev.object)
                if deadline is not None and time.monotonic() >= deadline:
                    return
        except Gone:
            _, rv = list_kind(st, info, all_namespaces=all_namespaces, selector=selector,
                              field_selector=field_selector)
        except ApiError:
            raise
