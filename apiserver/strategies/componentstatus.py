"""ComponentStatuses (pkg/registry/core/componentstatus): computed, never stored, so only the
Table matters here (printComponentStatus: NAME, STATUS, MESSAGE, ERROR)."""

from __future__ import annotations

from datetime import datetime

from apiserver.strategies.base import NAME, JSONDict, Row, Strategy, column, name_of


class ComponentStatusStrategy(Strategy):
    columns = [NAME,
               column("Status", description="Status of the component conditions"),
               column("Message", description="Message of the component conditions"),
               column("Error", description="Error of the component conditions")]

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        status, message, error = "Unknown", "", ""
        for c in obj.get("conditions") or []:
            if isinstance(c, dict) and c.get("type") == "Healthy":
                status = "Healthy" if c.get("status") == "True" else "Unhealthy"
                message, error = c.get("message") or "", c.get("error") or ""
                break
        return [name_of(obj), status, message, error], []
