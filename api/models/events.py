"""events.k8s.io/v1 Event (k8s.io/api/events/v1/types.go) and its conversion to and from
the core/v1 Event it is stored as (pkg/apis/events/v1/conversion.go).

One storage: an Event written through either group is the same object. The fields map
one to one, renamed: regarding <-> involvedObject, note <-> message, reportingController
<-> reportingComponent, deprecatedSource/FirstTimestamp/LastTimestamp/Count <-> source,
firstTimestamp, lastTimestamp, count; the rest keep their names. ``FIELD_LABELS`` is the
field-selector labels events.k8s.io/v1 accepts (EventToSelectableFields) with the core
label each is stored under.
"""

from __future__ import annotations

from typing import Any

from api.base import Int32, Model
from api.models.core import EventSource, ObjectReference, TypedObject

API_VERSION = "events.k8s.io/v1"
JSONDict = dict[str, Any]


class EventSeries(Model):
    count: Int32
    last_observed_time: str


class Event(TypedObject):
    api_version: str | None = API_VERSION
    kind: str | None = "Event"
    event_time: str | None = None
    series: EventSeries | None = None
    reporting_controller: str | None = None
    reporting_instance: str | None = None
    action: str | None = None
    reason: str | None = None
    regarding: ObjectReference | None = None
    related: ObjectReference | None = None
    note: str | None = None
    type: str | None = None
    deprecated_source: EventSource | None = None
    deprecated_first_timestamp: str | None = None
    deprecated_last_timestamp: str | None = None
    deprecated_count: Int32 | None = None


# events.k8s.io/v1 name -> core/v1 name, for the fields that are renamed
_RENAMED = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_TO_V1 = {core: v1 for v1, core in _RENAMED.items()}

FIELD_LABELS = {
    **{f"regarding.{f}": f"involvedObject.{f}" for f in (
        "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
    "reportingController": "reportingComponent",
}


def _empty(v: Any) -> bool:
    return v is None or v == "" or v == {} or v == 0


def to_core(obj: JSONDict) -> JSONDict:
    """An events.k8s.io/v1 Event's wire dict as core/v1 (Convert_v1_Event_To_core_Event)."""
    out: JSONDict = {}
    for k, v in obj.items():
        if k == "apiVersion":
            out[k] = "v1"
        else:
            out[_RENAMED.get(k, k)] = v
    out.setdefault("involvedObject", {})
    return out


def from_core(obj: JSONDict) -> JSONDict:
    """A core/v1 Event's wire dict as events.k8s.io/v1 (Convert_core_Event_To_v1_Event),
    with the v1 type's omitempty: empty deprecated fields and an empty ``regarding``
    are left out; ``eventTime`` (not omitempty there) is always present."""
    out: JSONDict = {}
    for k, v in obj.items():
        if k == "apiVersion":
            out[k] = API_VERSION
            continue
        name = _TO_V1.get(k, k)
        if name in _RENAMED and _empty(v):
            continue
        out[name] = v
    out.setdefault("eventTime", None)
    return out
