"""``minictl get``: the server's Tables (as kubectl asks for them), several kinds, ``-o``,
``-w``.

Tables (plain and ``-o wide``) come from the API server with ``as=Table``, so minictl prints
the same columns as kubectl; ``-o yaml|json|name|jsonpath|custom-columns`` work on the
objects themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import click

from api import resources
from api.models.core import TypedObject
from api.resources import ResourceInfo
from cli import discovery, jsonpath, manifests, output, server_tables, sorting, tables
from cli.context import State, resolve_kind, split_ref, state
from cli.errors import CliError, format_api_error
from cli.options import common
from cli.tables import Table
from client.errors import Gone, NotFound

Pair = tuple[ResourceInfo, TypedObject]
# An object asked for by name: its kind, name and namespace (None for cluster-scoped kinds).
Named = tuple[ResourceInfo, str, str | None]
T = TypeVar("T")


def parse_kinds(spec: str) -> list[ResourceInfo]:
    out: list[ResourceInfo] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if part == "all":
            discovery.discover(state())  # custom kinds in the "all" category too
        kinds = tables.all_kinds() if part == "all" else [resolve_kind(part)]
        for info in kinds:
            if info not in out:
                out.append(info)
    if not out:
        raise CliError("you must specify the type of resource to get")
    return out


def list_table(st: State, info: ResourceInfo, *, all_namespaces: bool, selector: str | None,
               field_selector: str | None, sort_by: str | None = None) -> Table:
    """The server's Table of a kind, rows sorted as ``list_kind`` sorts objects (events
    need their times, so their rows carry the whole object), or by ``--sort-by``'s field
    of each row's object (then all rows carry theirs, as kubectl asks for them)."""
    ns = None if (all_namespaces or not info.namespaced) else st.namespace
    table = server_tables.list_table(
        st.client, info, ns, label_selector=selector, field_selector=field_selector,
        include_object="Object" if info is resources.EVENTS or sort_by else None)
    table["rows"] = tables.sort_rows(info, table.get("rows") or [])
    if sort_by:
        table["rows"] = sort_table_rows(table["rows"], sort_by)
    return table


def sort_table_rows(table_rows: list[tables.TableRow], sort_by: str) -> list[tables.TableRow]:
    """kubectl's TableSorter: when no row's object has the field, kubectl prints no rows
    (and says "No resources found"); so does minictl."""
    ordered = sorting.sort(table_rows, sort_by, lambda r: r.get("object") or {}, strict=False)
    return [] if ordered is None else ordered


def list_kind(st: State, info: ResourceInfo, *, all_namespaces: bool, selector: str | None,
              field_selector: str | None) -> tuple[list[TypedObject], str]:
    ns = None if (all_namespaces or not info.namespaced) else st.namespace
    res = st.client.list_all(info.model, ns, label_selector=selector,
                             field_selector=field_selector)
    return tables.sort_objects(info, list(res.items)), res.resource_version


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
@click.option("-L", "--label-columns", multiple=True, metavar="KEY[,KEY...]",
              help="A column per label key (header: the key's last path segment, upper "
                   "case), e.g. -L app,tier; may be repeated.")
@click.option("--sort-by", metavar="JSONPATH",
              help="Sort by this field of the objects, e.g. .metadata.creationTimestamp "
                   "or '{.status.podIP}'.")
@click.option("-f", "--filename", "filenames", multiple=True, metavar="FILE|DIR|-",
              help="Get the objects named in these manifests (YAML/JSON, several documents, "
                   "a directory's files, - for stdin).")
@click.option("--no-headers", is_flag=True, help="Print table rows without the header.")
@click.option("--allow-missing-template-keys", type=bool, default=True, show_default=True,
              help="Print nothing for a key the JSONPath template names but the object "
                   "lacks; false makes that an error.")
@click.option("--request-timeout", default="0", metavar="DURATION",
              help="Give up (a watch: stop) after this long, e.g. 30s; 0 means never.")
@common
def get_cmd(args: tuple[str, ...], output_: str | None, selector: str | None,
            field_selector: str | None, all_namespaces: bool, watch: bool, watch_only: bool,
            show_labels: bool, label_columns: tuple[str, ...], sort_by: str | None,
            filenames: tuple[str, ...], no_headers: bool, allow_missing_template_keys: bool,
            request_timeout: str) -> None:
    """Display one or many resources.

    \b
    Kinds: pods (po), services (svc), endpoints (ep), endpointslices, deployments (deploy),
    replicasets (rs), nodes (no), namespaces (ns), events (ev), configmaps (cm), secrets,
    leases, or `all`; several at once with commas.
    \b
    Examples:
      minictl get pods -o wide
      minictl get deploy,po -l app=nginx
      minictl get svc,ep,endpointslices -o wide
      minictl get pod/nginx-abc deploy/nginx -o yaml
      minictl get pods -A -w
      minictl get pods -L app --show-labels --sort-by=.metadata.creationTimestamp
      minictl get -f deploy.yaml
      minictl get pods -o jsonpath='{range .items[*]}{.metadata.name}{"\\t"}{.status.podIP}{"\\n"}{end}'
      minictl get pods -o custom-columns=NAME:.metadata.name,NODE:.spec.nodeName
    """
    st = state()
    fmt = output.check_output(output_)
    printer = output.template_printer(fmt, no_headers=no_headers,
                                      allow_missing=allow_missing_template_keys)
    limit = output.parse_duration(request_timeout)
    label_keys = tuple(k.strip() for spec in label_columns for k in spec.split(",")
                       if k.strip())
    if sort_by is not None:
        sorting.parse(sort_by)  # a bad path fails before any request
    if filenames:
        if args:
            raise CliError("Resource(s) were provided, but no name was specified")
        named = _from_manifests(st, filenames)
        kinds: list[ResourceInfo] = []
    elif not args:
        raise CliError("you must specify the type of resource to get. Use \"minictl get all\" "
                       "or one of: pods, services, endpoints, deployments, replicasets, nodes, "
                       "namespaces, events")
    else:
        named, kinds = _from_args(st, args)
    if (selector or field_selector) and named and not filenames:
        raise CliError("selectors cannot be used when naming objects")
    if all_namespaces and named and not filenames:
        raise CliError("a resource cannot be retrieved by name across all namespaces")

    if watch or watch_only:
        watched = {i for i, _, _ in named} | set(kinds)
        if len(watched) != 1:
            raise CliError("watch is only supported on individual resources and resource "
                           f"collections, but {len(watched)} resource types were found")
        info = next(iter(watched))
        names = [n for _, n, _ in named]
        _watch(st, info, names, fmt, all_namespaces=all_namespaces, selector=selector,
               field_selector=field_selector, watch_only=watch_only, limit=limit,
               show_labels=show_labels, no_headers=no_headers, printer=printer,
               label_keys=label_keys)
        return

    with_kind = len(kinds) > 1 or len({i for i, _, _ in named}) > 1 or (
        bool(args) and args[0] == "all")
    if fmt in (None, "wide") and printer is None:
        _print_tables(st, kinds, named, wide=fmt == "wide", all_namespaces=all_namespaces,
                      selector=selector, field_selector=field_selector, with_kind=with_kind,
                      show_labels=show_labels, no_headers=no_headers, label_keys=label_keys,
                      sort_by=sort_by)
        return

    pairs: list[Pair] = []
    errors: list[str] = []
    if named:
        for info, name, ns in named:
            try:
                pairs.append((info, st.client.get(info.model, name, ns)))
            except NotFound as exc:
                errors.append(format_api_error(exc, st.server))
    else:
        for info in kinds:
            items, _ = list_kind(st, info, all_namespaces=all_namespaces, selector=selector,
                                 field_selector=field_selector)
            pairs.extend((info, o) for o in items)
    if sort_by and pairs:
        pairs = sorting.sort(pairs, sort_by, lambda p: output.wire(*p)) or pairs
    if pairs:
        output.print_objects(pairs, fmt, single=bool(named) and len(named) == 1,
                             printer=printer)
    elif not named:
        if fmt in ("yaml", "json") or printer is not None:
            # kubectl runs templates on the empty List too (custom columns: just the header).
            output.print_objects([], fmt, single=False, printer=printer)
        else:
            click.echo(no_resources(st, all_namespaces, any(i.namespaced for i in kinds)),
                       err=True)
    _fail_on(errors)


def _from_args(st: State, args: tuple[str, ...]) -> tuple[list[Named], list[ResourceInfo]]:
    """``KIND[,KIND...] [NAME...]`` or ``KIND/NAME...``: the named objects, else the kinds."""
    def with_ns(info: ResourceInfo, name: str) -> Named:
        return info, name, st.namespace if info.namespaced else None

    if any("/" in a for a in args):
        if not all("/" in a for a in args):
            raise CliError("there is no need to specify a resource type as a separate argument "
                           "when passing arguments in resource/name form (e.g. 'minictl get "
                           "resource/<resource_name>' instead of 'minictl get resource "
                           "resource/<resource_name>'")
        return [with_ns(*split_ref(a)) for a in args], []
    kinds = parse_kinds(args[0])
    if len(args) > 1:
        if len(kinds) > 1:
            raise CliError("you may only specify a single resource type when naming objects")
        return [with_ns(kinds[0], n) for n in args[1:]], kinds
    return [], kinds


def _from_manifests(st: State, filenames: tuple[str, ...]) -> list[Named]:
    """``get -f``: the objects the manifests name, each in its manifest's namespace (or
    ``-n``'s), in the files' order."""
    out: list[Named] = []
    for doc in manifests.load(filenames):
        info = manifests.info_of(doc)
        ns = manifests.namespace_of(doc, info, st.namespace, st.explicit_namespace)
        out.append((info, manifests.name_of(doc), ns))
    return out


def _fail_on(errors: list[str]) -> None:
    if errors:
        for e in errors:
            click.echo(e, err=True)
        raise SystemExit(1)


def _print_tables(st: State, kinds: list[ResourceInfo], named: list[Named],
                  *, wide: bool, all_namespaces: bool, selector: str | None,
                  field_selector: str | None, with_kind: bool, show_labels: bool,
                  no_headers: bool, label_keys: tuple[str, ...] = (),
                  sort_by: str | None = None) -> None:
    """The server's Tables, one per kind in the order kinds were asked for."""
    if sort_by and len(named or kinds) > 1:
        # kubectl sorts several Tables (named objects, several kinds) as objects, and a
        # Table has no such field: it fails so, and so does minictl.
        raise CliError(f'couldn\'t find any field with path "{jsonpath.relaxed(sort_by)}" '
                       "in the list of objects")
    by_kind: dict[ResourceInfo, Table] = {}
    errors: list[str] = []
    if named:
        for info, name, ns in named:
            try:
                one = server_tables.get_table(st.client, info, name, ns,
                                              include_object="Object" if sort_by else None)
            except NotFound as exc:
                errors.append(format_api_error(exc, st.server))
                continue
            if info in by_kind:
                by_kind[info]["rows"] += one.get("rows") or []
            else:
                by_kind[info] = {**one, "rows": list(one.get("rows") or [])}
        if sort_by:
            for table in by_kind.values():
                table["rows"] = sort_table_rows(table["rows"], sort_by)
            by_kind = {i: t for i, t in by_kind.items() if t["rows"]}
    else:
        for info in kinds:
            table = list_table(st, info, all_namespaces=all_namespaces, selector=selector,
                               field_selector=field_selector, sort_by=sort_by)
            if table.get("rows"):
                by_kind[info] = table
    if by_kind:
        with_ns = all_namespaces and any(i.namespaced for i in by_kind)
        blocks: list[str] = []
        for info, table in by_kind.items():
            layout = tables.Layout(wide=wide, with_namespace=with_ns, show_labels=show_labels,
                                   kind=tables.kind_prefix(info) if with_kind else None,
                                   label_columns=label_keys)
            lines = [] if no_headers else [tables.header(table, layout)]
            blocks.append(tables.render(lines + tables.rows(table, layout)))
        click.echo("\n\n".join(blocks))
    elif not named:
        click.echo(no_resources(st, all_namespaces, any(i.namespaced for i in kinds)), err=True)
    _fail_on(errors)


def _watch(st: State, info: ResourceInfo, names: list[str], fmt: str | None, *,
           all_namespaces: bool, selector: str | None, field_selector: str | None,
           watch_only: bool, limit: float, show_labels: bool, no_headers: bool,
           printer: output.TemplatePrinter | None = None,
           label_keys: tuple[str, ...] = ()) -> None:
    if names:
        if len(names) > 1:
            raise CliError("watch is only supported on individual resources and resource "
                           "collections, but multiple names were given")
        field_selector = f"metadata.name={names[0]}"
    deadline = time.monotonic() + limit if limit > 0 else None
    if fmt in (None, "wide") and printer is None:
        _watch_table(st, info, wide=fmt == "wide", all_namespaces=all_namespaces,
                     selector=selector, field_selector=field_selector, watch_only=watch_only,
                     deadline=deadline, show_labels=show_labels, no_headers=no_headers,
                     label_keys=label_keys)
    else:
        _watch_objects(st, info, fmt, all_namespaces=all_namespaces, selector=selector,
                       field_selector=field_selector, watch_only=watch_only, deadline=deadline,
                       printer=printer)


def _watch_table(st: State, info: ResourceInfo, *, wide: bool, all_namespaces: bool,
                 selector: str | None, field_selector: str | None, watch_only: bool,
                 deadline: float | None, show_labels: bool, no_headers: bool,
                 label_keys: tuple[str, ...] = ()) -> None:
    """kubectl get -w: the list as one table, then a row per event (one-row Tables),
    the columns only ever widening."""
    ns = None if (all_namespaces or not info.namespaced) else st.namespace
    layout = tables.Layout(wide=wide, with_namespace=all_namespaces and info.namespaced,
                           show_labels=show_labels, label_columns=label_keys)
    listed = list_table(st, info, all_namespaces=all_namespaces, selector=selector,
                        field_selector=field_selector)
    head = tables.header(listed, layout)
    widths = tables.widths([head])
    printed_header = no_headers

    def emit(table: Table) -> None:
        nonlocal printed_header, widths
        for r in tables.rows(table, layout):
            if not printed_header:
                widths = tables.widths([head, r])
                click.echo(tables.format_row(head, widths))
                printed_header = True
            widths = [max(a, b) for a, b in zip(widths, tables.widths([r]), strict=False)]
            click.echo(tables.format_row(r, widths))

    if not watch_only:
        if listed.get("rows"):
            lines = ([] if no_headers else [head]) + tables.rows(listed, layout)
            widths = tables.widths(lines)
            click.echo(tables.render(lines))
            printed_header = True
        elif not wide:
            click.echo(no_resources(st, all_namespaces, info.namespaced), err=True)

    def watch(rv: str, timeout: int) -> Iterator[tuple[str, str, Table]]:
        for typ, obj in server_tables.watch_tables(
                st.client, info, ns, resource_version=rv, label_selector=selector,
                field_selector=field_selector, timeout_seconds=timeout):
            yield typ, server_tables.resource_version(obj), obj

    def relist() -> str:
        return server_tables.resource_version(list_table(
            st, info, all_namespaces=all_namespaces, selector=selector,
            field_selector=field_selector))

    _follow(watch, relist, server_tables.resource_version(listed), emit, deadline)


def _watch_objects(st: State, info: ResourceInfo, fmt: str | None, *, all_namespaces: bool,
                   selector: str | None, field_selector: str | None, watch_only: bool,
                   deadline: float | None, printer: output.TemplatePrinter | None) -> None:
    """-w with -o name|json|yaml|jsonpath|custom-columns: the objects themselves."""
    ns = None if (all_namespaces or not info.namespaced) else st.namespace

    def emit(obj: TypedObject) -> None:
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

    items, rv = list_kind(st, info, all_namespaces=all_namespaces, selector=selector,
                          field_selector=field_selector)
    if not watch_only:
        if items and isinstance(printer, output.CustomColumnsPrinter):
            # The first listing is flushed as one block, so it is aligned as one table.
            click.echo(printer.emit([output.wire(info, o) for o in items]))
        else:
            for o in items:
                emit(o)

    def watch(rv: str, timeout: int) -> Iterator[tuple[str, str, TypedObject]]:
        for ev in st.client.watch(info.model, ns, resource_version=rv,
                                  label_selector=selector, field_selector=field_selector,
                                  timeout_seconds=timeout):
            yield ev.type, ev.object.metadata.resource_version or "", ev.object

    def relist() -> str:
        return list_kind(st, info, all_namespaces=all_namespaces, selector=selector,
                         field_selector=field_selector)[1]

    _follow(watch, relist, rv, emit, deadline)


def _follow(watch: Callable[[str, int], Iterator[tuple[str, str, T]]], relist: Callable[[], str],
            rv: str, emit: Callable[[T], None], deadline: float | None) -> None:
    """Watch from ``rv`` until the deadline, emitting changes; re-list after 410 Gone."""
    while deadline is None or time.monotonic() < deadline:
        remaining = None if deadline is None else max(1, int(deadline - time.monotonic()))
        try:
            for typ, new_rv, obj in watch(rv, remaining or 300):
                rv = new_rv or rv
                if typ in ("ADDED", "MODIFIED", "DELETED"):
                    emit(obj)
                if deadline is not None and time.monotonic() >= deadline:
                    return
        except Gone:
            rv = relist()
