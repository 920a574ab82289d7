"""Leases: ValidateLease from pkg/apis/coordination/validation/validation.go."""

from __future__ import annotations

from api.validation.field import JSON, Errs, as_dict, as_int, as_str, invalid, non_negative


def validate_lease(obj: JSON) -> Errs:
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    d = as_int(errs, spec.get("leaseDurationSeconds"), "spec.leaseDurationSeconds")
    if d is not None and d <= 0:
        errs.append(invalid("spec.leaseDurationSeconds", d, "must be greater than 0"))
    non_negative(errs, spec.get("leaseTransitions"), "spec.leaseTransitions")
    as_str(errs, spec.get("holderIdentity"), "spec.holderIdentity")
    return errs
