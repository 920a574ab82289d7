"""Events (pkg/registry/core/event): no status subresource; every write expires
after --event-ttl (the store's TTLFunc), so events cannot pile up in etcd."""

from __future__ import annotations

from datetime import datetime

from api.printers import (
    event_count,
    event_first_seen,
    event_last_seen,
    event_object,
    event_source,
)
from api.timeutil import since
from apiserver.strategies.base import (
    NAME_PRIORITY_1,
    JSONDict,
    Row,
    Strategy,
    column,
    name_of,
)


class EventStrategy(Strategy):
    spec_and_status = False
    columns = [column("Last Seen", description="Time when last event occurred"),
               column("Type", description="Type of this event (Normal, Warning)."),
               column("Reason", description="Reason is why the action was taken."),
               column("Object", description="The object this Event is about."),
               column("Subobject", priority=1, description="The field of the object."),
               column("Source", priority=1, description="The component reporting this event."),
               column("Message", description="A human-readable description of the status of "
                      "this operation."),
               column("First Seen", priority=1, description="The time at which the event was "
                      "first recorded."),
               column("Count", priority=1, description="The number of times this event has "
                      "occurred."),
               NAME_PRIORITY_1]

    def ttl(self, event_ttl: int) -> int | None:
        return event_ttl if event_ttl > 0 else None

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        involved = obj.get("involvedObject") or {}
        return [since(event_last_seen(obj), now), obj.get("type", ""), obj.get("reason", ""),
                event_object(obj), involved.get("fieldPath", ""), event_source(obj),
                str(obj.get("message") or "").strip(), since(event_first_seen(obj), now),
                str(event_count(obj)), name_of(obj)], []
