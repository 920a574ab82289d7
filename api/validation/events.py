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
