"""Events: ValidateEventCreate from pkg/apis/core/validation/events.go.

core/v1 Events keep their legacy leniency (only the involved object's namespace is
checked); an event with an ``eventTime`` (written through events.k8s.io) must also
name its reporting controller and instance, an action and a reason.
"""

from __future__ import annotations

from api.base import dig
from api.names import is_qualified_name
from api.validation.field import JSON, Errs, as_dict, invalid, required


def validate_event(obj: JSON) -> Errs:
    errs: Errs = []
    ns = str(dig(obj, "metadata", "namespace") or "")
    inv = as_dict(errs, obj.get("involvedObject"), "involvedObject")
    inv_ns = str(inv.get("namespace") or "")
    if not obj.get("eventTime"):
        if not inv_ns:
            if ns not in ("", "default"):
                errs.append(
                    invalid("involvedObject.namespace", inv_ns, "does not match event.namespace")
                )
        elif ns != inv_ns:
            errs.append(
                invalid("involvedObject.namespace", inv_ns, "does not match event.namespace")
            )
    else:
        if not inv_ns and ns not in ("default", "kube-system"):
            errs.append(
                invalid("involvedObject.namespace", inv_ns, "does not match event.namespace")
            )
        rc = str(obj.get("reportingComponent") or "")
        if not rc:
            errs.append(required("reportingComponent"))
        else:
            for m in is_qualified_name(rc):
                errs.append(invalid("reportingComponent", rc, m))
        ri = str(obj.get("reportingInstance") or "")
        if not ri:
            errs.append(required("reportingInstance"))
        elif len(ri) > 128:
            errs.append(invalid("reportingInstance", "", "can have at most 128 characters"))
        for f, limit in (("action", 128), ("reason", 128)):
            v = str(obj.get(f) or "")
            if not v:
                errs.append(required(f))
            elif len(v) > limit:
                errs.append(invalid(f, "", f"can have at most {limit} characters"))
        if len(str(obj.get("message") or "")) > 1024:
            errs.append(invalid("message", "", "can have at most 1024 characters"))
    # core/v1 keeps legacy leniency: no checks on type, count or the old-style fields.
    return errs


_IMMUTABLE_V1 = ("involvedObject", "reason", "message", "source", "firstTimestamp",
                 "lastTimestamp", "count", "type", "eventTime", "action", "related",
                 "reportingComponent", "reportingInstance")


def validate_event_v1(obj: JSON, old: JSON | None = None) -> Errs:
    """The strict checks of an Event written through events.k8s.io/v1 (ValidateEventCreate
    and ValidateEventUpdate for request versions other than core/v1 and v1beta1), on the
    object in its stored core/v1 form (so the paths are core's, as Kubernetes reports them
    on its internal type). The legacy checks (``validate_event``) run as for any Event."""
    errs: Errs = []
    if old is not None:
        if obj.get("series") != old.get("series"):
            errs += _series(obj)
        for f in _IMMUTABLE_V1:
            if obj.get(f) != old.get(f):
                errs.append(invalid(f, obj.get(f), "field is immutable"))
        return errs
    errs += _series(obj)
    if not obj.get("eventTime"):
        errs.append(required("eventTime"))
    if obj.get("type") not in ("Normal", "Warning"):
        errs.append(invalid("type", "", f"has invalid value: {obj.get('type') or ''}"))
    for f in ("firstTimestamp", "lastTimestamp"):
        if obj.get(f):
            errs.append(invalid(f, "", "needs to be unset"))
    if obj.get("count"):
        errs.append(invalid("count", "", "needs to be unset"))
    source = obj.get("source")
    if isinstance(source, dict) and (source.get("component") or source.get("host")):
        errs.append(invalid("source", "", "needs to be unset"))
    return errs


def _series(obj: JSON) -> Errs:
    series = obj.get("series")
    if not isinstance(series, dict):
        return []
    errs: Errs = []
    count = series.get("count")
    if not isinstance(count, int) or count < 2:
        errs.append(invalid("series.count", "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        errs.append(required("series.lastObservedTime"))
    return errs
