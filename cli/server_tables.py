"""Tables from the API server: ``get``, a paged list and a watch with kubectl's Accept.

kubectl get asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints what
comes back; minictl does the same, so a kind's columns are written once, on the server.
The requests go through the REST client with that Accept header (its retries, timeouts
and typed exceptions, as every other request).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from api.resources import ResourceInfo
from cli.tables import TABLE_ACCEPT, Table
from client.errors import error_from_response
from client.rest import Client, list_req, watch_req

PAGE_SIZE = 500  # kubectl's --chunk-size


def _get(client: Client, path: str, params: dict[str, str] | None) -> Table:
    data = client.request("GET", path, params=params, accept=TABLE_ACCEPT)
    if not isinstance(data, dict):
        raise error_from_response(500, {"kind": "Status", "code": 500, "reason": "InternalError",
                                        "message": f"not a Table: {data!r:.200}"})
    return data


def get_table(client: Client, info: ResourceInfo, name: str, namespace: str | None, *,
              include_object: str | None = None) -> Table:
    """One object as a one-row Table."""
    return _get(client, info.object_path(name, namespace if info.namespaced else None),
                {"includeObject": include_object} if include_object else None)


def list_table(client: Client, info: ResourceInfo, namespace: str | None, *,
               label_selector: str | None = None, field_selector: str | None = None,
               include_object: str | None = None) -> Table:
    """Every object of a kind as one Table, read in pages (at the first page's revision)."""
    table: Table | None = None
    cont: str | None = None
    while True:
        req = list_req(info.model, namespace, label_selector=label_selector,
                       field_selector=field_selector, limit=PAGE_SIZE, continue_=cont)
        params = dict(req.params or {})
        if include_object:
            params["includeObject"] = include_object
        page = _get(client, req.path, params)
        if table is None:
            table = page
            table["rows"] = list(page.get("rows") or [])
        else:
            table["rows"].extend(page.get("rows") or [])
        cont = (page.get("metadata") or {}).get("continue")
        if not cont:
            return table


def resource_version(table: Table) -> str:
    return str((table.get("metadata") or {}).get("resourceVersion") or "")


def watch_tables(client: Client, info: ResourceInfo, namespace: str | None, *,
                 resource_version: str | None, label_selector: str | None,
                 field_selector: str | None,
                 timeout_seconds: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """(type, object) per watch event; ADDED/MODIFIED/DELETED carry a one-row Table. An
    ERROR event raises its Status (410 Expired -> ``Gone``)."""
    req = watch_req(info.model, namespace, resource_version=resource_version,
                    label_selector=label_selector, field_selector=field_selector,
                    timeout_seconds=timeout_seconds)
    for event in client.watch_raw(req.path, req.params, accept=TABLE_ACCEPT):
        yield event["type"], event["object"]
