"""Nodes and Namespaces, the cluster-scoped core kinds.

ValidateNode (taints unique by key and effect, validateNodeTaints; pod CIDRs;
capacity and allocatable quantities) and ValidateNamespace's spec.finalizers, from
pkg/apis/core/validation/validation.go.
"""

from __future__ import annotations

import ipaddress

from api.names import is_qualified_name, is_valid_label_value
from api.quantity import QuantityError, parse_quantity
from api.validation.field import (
    JSON,
    NON_NEGATIVE,
    Errs,
    as_dict,
    as_list,
    at_index,
    at_key,
    child,
    duplicate,
    invalid,
    one_of,
    required,
)

TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]


def validate_node(obj: JSON) -> Errs:
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    tpath = "spec.taints"
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(as_list(errs, spec.get("taints"), tpath)):
        ip = at_index(tpath, i)
        taint = as_dict(errs, t, ip)
        key = str(taint.get("key") or "")
        for m in is_qualified_name(key):
            errs.append(invalid(child(ip, "key"), key, m))
        value = str(taint.get("value") or "")
        msgs = is_valid_label_value(value)
        if msgs:
            errs.append(invalid(child(ip, "value"), value, ";".join(msgs)))
        effect = taint.get("effect") or ""
        if not effect:
            errs.append(required(child(ip, "effect")))
        else:
            one_of(errs, effect, child(ip, "effect"), TAINT_EFFECTS)
        if (key, str(effect)) in seen:
            errs.append(duplicate(ip, dict(taint), "taints must be unique by key and effect pair"))
        seen.add((key, str(effect)))
    cidrs = [spec.get("podCIDR")] if spec.get("podCIDR") else []
    for i, c in enumerate(as_list(errs, spec.get("podCIDRs"), "spec.podCIDRs")):
        cidrs.append(c)
        try:
            ipaddress.ip_network(str(c), strict=False)
        except ValueError:
            errs.append(
                invalid(
                    at_index("spec.podCIDRs", i),
                    c,
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                )
            )
    pod_cidrs = spec.get("podCIDRs")
    if isinstance(pod_cidrs, list) and len(pod_cidrs) > 1:
        # ValidateNode: one CIDR per IP family (dual stack), none twice
        families: list[int | None] = []
        for c in pod_cidrs:
            try:
                families.append(ipaddress.ip_network(str(c), strict=False).version)
            except ValueError:
                families.append(None)
        if len(pod_cidrs) > 2 or None in families or families[0] == families[1]:
            errs.append(invalid("spec.podCIDRs", pod_cidrs,
                                "may specify no more than one CIDR for each IP family"))
        seen_cidrs: set[str] = set()
        for i, c in enumerate(pod_cidrs):
            if str(c) in seen_cidrs:
                errs.append(duplicate(at_index("spec.podCIDRs", i), c))
            seen_cidrs.add(str(c))
    if spec.get("podCIDR"):
        try:
            ipaddress.ip_network(str(spec.get("podCIDR")), strict=False)
        except ValueError:
            errs.append(
                invalid(
                    "spec.podCIDR",
                    spec.get("podCIDR"),
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                )
            )
    status = as_dict(errs, obj.get("status"), "status")
    for which in ("capacity", "allocatable"):
        wpath = child("status", which)
        for name, raw in as_dict(errs, status.get(which), wpath).items():
            try:
                if isinstance(raw, bool):
                    raise QuantityError("must be a quantity")
                if parse_quantity(raw) < 0:
                    errs.append(invalid(at_key(wpath, str(name)), raw, NON_NEGATIVE))
            except QuantityError as e:
                errs.append(invalid(at_key(wpath, str(name)), raw, str(e)))
    return errs


def validate_namespace(obj: JSON) -> Errs:
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    for f in as_list(errs, spec.get("finalizers"), "spec.finalizers"):
        for m in is_qualified_name(str(f)):
            errs.append(invalid("spec.finalizers", f, m))
    return errs
