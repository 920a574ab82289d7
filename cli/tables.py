"""Rendering the API server's Tables as ``kubectl get`` does.

minictl asks for ``as=Table`` as kubectl does, so the columns and their cells are the
server's (one set of printers, in the server's per-kind strategies); this module only
lays the rows out, following k8s.io/cli-runtime/pkg/printers/tableprinter.go
(decorateTable, printTable): priority>0 columns only with ``-o wide``, a NAMESPACE
column first with ``-A``, LABELS last with ``--show-labels``, ``kind/name`` in the name
column when several kinds are printed, a cell cut at its first line break (``...``), and
every column as wide as its widest cell, three spaces apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from api import printers, resources
from api.base import dig
from api.models.core import TypedObject
from api.resources import ResourceInfo

# What kubectl get sends: a Table if the server can, else the object itself.
TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")

Row = list[str]
Table = dict[str, Any]
TableRow = dict[str, Any]

T = TypeVar("T", bound=TypedObject)

_LINE_BREAKS = "\f\n\r"


def qualified_name(info: ResourceInfo, name: str) -> str:
    """``pod/web`` or ``deployment.apps/web``: how kubectl names an object of a kind."""
    return f"{kind_prefix(info)}/{name}"


def kind_prefix(info: ResourceInfo) -> str:
    """The group-qualified kind in lower case, as kubectl prefixes names with it."""
    return info.kind.lower() + (f".{info.group}" if info.group else "")


@dataclass(frozen=True)
class Layout:
    """How ``get`` decorates the server's Table (kubectl's PrintOptions)."""

    wide: bool = False
    with_namespace: bool = False
    show_labels: bool = False
    kind: str | None = None  # e.g. "deployment.apps": prefixes the name column
    label_columns: tuple[str, ...] = ()  # -L: a column per label key, before LABELS


def _shown(table: Table, wide: bool) -> list[int]:
    return [i for i, c in enumerate(table.get("columnDefinitions") or [])
            if wide or not c.get("priority")]


def header(table: Table, layout: Layout) -> Row:
    columns = table.get("columnDefinitions") or []
    names = [str(columns[i].get("name") or "").upper() for i in _shown(table, layout.wide)]
    return ((["NAMESPACE"] if layout.with_namespace else []) + names
            + label_headers(layout.label_columns)
            + (["LABELS"] if layout.show_labels else []))


def label_headers(keys: Sequence[str]) -> Row:
    """kubectl's formatLabelHeaders: a label key's last path segment, upper-cased."""
    return [k.split("/")[-1].upper() for k in keys]


def cell_text(value: Any) -> str:
    """A cell as Go's fmt prints it, cut at its first line break as kubectl does."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    cut = min((i for i in (text.find(c) for c in _LINE_BREAKS) if i >= 0), default=-1)
    return text if cut < 0 else text[:cut] + "..."


def row_metadata(r: TableRow) -> dict[str, Any]:
    """The row's object metadata (the server includes it unless includeObject=None)."""
    meta = dig(r, "object", "metadata")
    return meta if isinstance(meta, dict) else {}


def format_labels(labels: dict[str, str] | None) -> str:
    """labels.FormatLabels: ``k=v`` sorted by key, comma-joined, or <none>."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or printers.NONE


def rows(table: Table, layout: Layout) -> list[Row]:
    """The printed cells of the table's rows."""
    columns = table.get("columnDefinitions") or []
    shown = _shown(table, layout.wide)
    name_col = -1
    if layout.kind:
        name_col = next((i for i, c in enumerate(columns)
                         if c.get("format") == "name" and c.get("type") == "string"), -1)
    out: list[Row] = []
    for r in table.get("rows") or []:
        cells = list(r.get("cells") or [])
        if 0 <= name_col < len(cells):
            cells[name_col] = f"{layout.kind}/{cells[name_col]}"
        line = [cell_text(cells[i]) if i < len(cells) else "" for i in shown]
        if layout.with_namespace or layout.show_labels or layout.label_columns:
            meta = row_metadata(r)
            if layout.with_namespace:
                line.insert(0, meta.get("namespace") or "")
            labels = meta.get("labels") or {}
            line.extend(str(labels.get(k, "")) for k in layout.label_columns)
            if layout.show_labels:
                line.append(format_labels(meta.get("labels")))
        out.append(line)
    return out


def sort_key(info: ResourceInfo, obj: dict[str, Any]) -> tuple[str, str]:
    """How get orders a kind's objects (wire form, or a row's PartialObjectMetadata):
    events by when they were last seen, everything else by namespace and name."""
    meta = obj.get("metadata") or {}
    if info is resources.EVENTS:
        return (printers.event_last_seen(obj) or "", meta.get("name") or "")
    return (meta.get("namespace") or "", meta.get("name") or "")


def sort_rows(info: ResourceInfo, table_rows: list[TableRow]) -> list[TableRow]:
    return sorted(table_rows, key=lambda r: sort_key(info, r.get("object") or {}))


def sort_objects(info: ResourceInfo, objs: list[T]) -> list[T]:
    if info is resources.EVENTS:
        return sorted(objs, key=lambda o: sort_key(info, o.to_dict()))
    return sorted(objs, key=lambda o: (o.metadata.namespace or "", o.metadata.name or ""))


def widths(rows: Iterable[Row]) -> list[int]:
    out: list[int] = []
    for r in rows:
        for i, cell in enumerate(r):
            if i >= len(out):
                out.append(len(cell))
            else:
                out[i] = max(out[i], len(cell))
    return out


def format_row(r: Row, w: Sequence[int]) -> str:
    cells = [cell.ljust(w[i]) if i < len(w) else cell for i, cell in enumerate(r)]
    return "   ".join(cells).rstrip()


def render(rows: list[Row]) -> str:
    """kubectl's tabwriter layout: every column as wide as its widest cell, 3 spaces apart."""
    w = widths(rows)
    return "\n".join(format_row(r, w) for r in rows)


def all_kinds() -> list[ResourceInfo]:
    """What ``get all`` lists: the kinds in the ``all`` category, in kubectl's order (the
    core group's, then apps')."""
    order = {"Pod": 0, "ReplicationController": 0.5, "Service": 1, "Deployment": 2,
             "ReplicaSet": 3}
    kinds = [r for r in (*resources.ALL, *resources.discovered()) if "all" in r.categories]
    return sorted(kinds, key=lambda r: order.get(r.kind, 9))
