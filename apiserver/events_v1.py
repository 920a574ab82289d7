"""events.k8s.io/v1 Events, served over the core/v1 Events' storage as kube-apiserver does
(one etcd key space: an Event written through either group is read through both).

Requests under ``/apis/events.k8s.io/v1/.../events`` are converted at the HTTP boundary
(apiserver/served_versions.py) with ``api.models.events``' conversion; field selectors use
events.k8s.io's labels (``regarding.name``, ``reportingController``...), renamed to core's;
writes get the strict checks events.k8s.io/v1 adds (``validate_event_v1``: eventTime
required, the deprecated fields unset, a valid series). RBAC sees the group:
``events.events.k8s.io`` is its own resource for the authorizer.
"""

from __future__ import annotations

from typing import Any

from api import resources
from api.models.events import FIELD_LABELS, Event, from_core, to_core
from api.validation.events import validate_event_v1
from apiserver.served_versions import ConvertedVersion

INFO = resources._info(
    kind="Event", plural="events", singular="event", group="events.k8s.io", version="v1",
    namespaced=True, model=Event, short_names=("ev",),
)


def _validate(stored: dict[str, Any], old: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [e.to_cause() for e in validate_event_v1(stored, old)]


SPEC = ConvertedVersion(outer=INFO, stored=resources.EVENTS, to_outer=from_core,
                        to_stored=to_core, fields=FIELD_LABELS, validate=_validate)
