"""Tables from the API server: ``get``, a paged list and a watch with kubectl's Accept.

kubectl get asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints what
comes back; minictl does the same, so a kind's columns are written once, on the server.
The REST client decodes typed objects and sends ``Accept: application/json``; these
requests reuse its HTTP session (connection, address, credentials; the client offers no
way to choose the Accept header) and turn errors into its typed exceptions, as every other
request does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson

from api.resources import ResourceInfo
from cli.tables import TABLE_ACCEPT, Table
from client.errors import error_from_response, unavailable
from client.rest import TRANSPORT_ERRORS, Client, list_req, watch_req

PAGE_SIZE = 500  # kubectl's --chunk-size
# The server closes a watch after timeoutSeconds; allow this much silence beyond it.
_WATCH_READ_SLACK = 30.0


def _session(client: Client) -> httpx.Client:
    return client._http


def _get(client: Client, path: str, params: dict[str, str] | None) -> Table:
    try:
        resp = _session(client).get(path, params=params, headers={"Accept": TABLE_ACCEPT})
    except TRANSPORT_ERRORS as exc:
        raise unavailable(client.server, exc) from exc
    if resp.status_code >= 400:
        raise error_from_response(resp.status_code, resp.content)
    data = orjson.loads(resp.content)
    if not isinstance(data, dict):
        raise error_from_response(500, {"kind": "Status", "code": 500, "reason": "InternalError",
                                        "message": f"not a Table: {data!r:.200}"})
    return data


def get_table(client: Client, info: ResourceInfo, name: str, namespace: str | None) -> Table:
    """One object as a one-row Table."""
    return _get(client, info.object_path(name, namespace if info.namespaced else None), None)


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
    timeout = httpx.Timeout(client.timeout, read=timeout_seconds + _WATCH_READ_SLACK)
    buf = b""
    try:
        with _session(client).stream("GET", req.path, params=req.params, timeout=timeout,
                                     headers={"Accept": TABLE_ACCEPT}) as resp:
            if resp.status_code >= 400:
                raise error_from_response(resp.status_code, resp.read())
            for chunk in resp.iter_bytes():
                *lines, buf = (buf + chunk).split(b"\n")
                for line in lines:
                    if line.strip():
                        yield _event(orjson.loads(line))
        if buf.strip():
            yield _event(orjson.loads(buf))
    except TRANSPORT_ERRORS as exc:
        raise unavailable(client.server, exc) from exc


def _event(data: Any) -> tuple[str, dict[str, Any]]:
    typ = data.get("type") if isinstance(data, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(typ, str) or not isinstance(obj, dict):
        raise error_from_response(500, {"kind": "Status", "code": 500, "reason": "InternalError",
                                        "message": f"malformed watch event: {data!r:.200}"})
    if typ == "ERROR":
        code = obj.get("code")
        raise error_from_response(code if isinstance(code, int) else 500, obj)
    return typ, obj
