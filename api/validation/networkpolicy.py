"""NetworkPolicies: ValidateNetworkPolicy from pkg/apis/networking/validation (the spec's
selectors, ports, peers and ipBlocks, and the policy types)."""

from __future__ import annotations

import ipaddress
from typing import Any

from api.names import is_valid_port_name, is_valid_port_num
from api.validation.field import (
    JSON,
    Errs,
    as_dict,
    as_list,
    at_index,
    child,
    forbidden,
    invalid,
    not_supported,
    required,
)
from api.validation.meta import validate_label_selector

PROTOCOLS = ["TCP", "UDP", "SCTP"]
POLICY_TYPES = ["Ingress", "Egress"]
CIDR_MESSAGE = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_cidr(text: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """netutils.ParseCIDRSloppy: host bits may be set; None when it is no CIDR."""
    if not isinstance(text, str) or "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def validate_port(port: JSON, path: str) -> Errs:
    """ValidateNetworkPolicyPort."""
    errs: Errs = []
    proto = port.get("protocol")
    if proto is not None and proto not in PROTOCOLS:
        errs.append(not_supported(child(path, "protocol"), proto, PROTOCOLS))
    p, end = port.get("port"), port.get("endPort")
    if p is not None:
        if _is_int(p):
            errs += [invalid(child(path, "port"), p, m) for m in is_valid_port_num(p)]
            if end is not None:
                if not _is_int(end):
                    errs.append(invalid(child(path, "endPort"), end, "must be an integer"))
                else:
                    if end < p:
                        errs.append(invalid(child(path, "endPort"), end,
                                            "must be greater than or equal to `port`"))
                    errs += [invalid(child(path, "endPort"), end, m)
                             for m in is_valid_port_num(end)]
        elif isinstance(p, str):
            if end is not None:
                errs.append(invalid(child(path, "endPort"), end,
                                    "may not be specified when `port` is non-numeric"))
            errs += [invalid(child(path, "port"), p, m) for m in is_valid_port_name(p)]
        else:
            errs.append(invalid(child(path, "port"), p, "must be an integer or a string"))
    elif end is not None:
        errs.append(invalid(child(path, "endPort"), end,
                            "may not be specified when `port` is not specified"))
    return errs


def validate_ip_block(ipb: JSON, path: str) -> Errs:
    """ValidateIPBlock: a CIDR, and excepts that are strict subsets of it."""
    errs: Errs = []
    cidr = ipb.get("cidr")
    if not cidr:
        return [required(child(path, "cidr"))]
    net = parse_cidr(cidr)
    if net is None:
        return [invalid(child(path, "cidr"), cidr, CIDR_MESSAGE)]
    epath = child(path, "except")
    for i, ex in enumerate(as_list(errs, ipb.get("except"), epath)):
        sub = parse_cidr(ex)
        if sub is None:
            errs.append(invalid(at_index(epath, i), ex, CIDR_MESSAGE))
            continue
        if (sub.version != net.version or sub.network_address not in net
                or net.prefixlen >= sub.prefixlen):
            errs.append(invalid(at_index(epath, i), ex, "must be a strict subset of `cidr`"))
    return errs


def validate_peer(peer: JSON, path: str) -> Errs:
    """ValidateNetworkPolicyPeer."""
    errs: Errs = []
    n = 0
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            n += 1
            errs += validate_label_selector(peer.get(key), child(path, key))
    if peer.get("ipBlock") is not None:
        n += 1
        errs += validate_ip_block(as_dict(errs, peer.get("ipBlock"), child(path, "ipBlock")),
                                  child(path, "ipBlock"))
    if n == 0:
        errs.append(required(path, "must specify a peer"))
    elif n > 1 and peer.get("ipBlock") is not None:
        errs.append(forbidden(path, "may not specify both ipBlock and another peer"))
    return errs


def _rules(errs: Errs, spec: JSON, key: str, peers: str) -> None:
    path = child("spec", key)
    for i, rule in enumerate(as_list(errs, spec.get(key), path)):
        rpath = at_index(path, i)
        r = as_dict(errs, rule, rpath)
        ppath = child(rpath, "ports")
        for j, port in enumerate(as_list(errs, r.get("ports"), ppath)):
            errs += validate_port(as_dict(errs, port, at_index(ppath, j)), at_index(ppath, j))
        fpath = child(rpath, peers)
        for j, peer in enumerate(as_list(errs, r.get(peers), fpath)):
            errs += validate_peer(as_dict(errs, peer, at_index(fpath, j)), at_index(fpath, j))


def validate_network_policy(obj: JSON) -> Errs:
    """ValidateNetworkPolicySpec (the metadata is validated for every kind)."""
    errs: Errs = []
    spec = as_dict(errs, obj.get("spec"), "spec")
    errs += validate_label_selector(spec.get("podSelector") or {}, "spec.podSelector")
    _rules(errs, spec, "ingress", "from")
    _rules(errs, spec, "egress", "to")
    types = as_list(errs, spec.get("policyTypes"), "spec.policyTypes")
    if len(types) > len(POLICY_TYPES):
        errs.append(invalid("spec.policyTypes", types, "may not specify more than two "
                            "policyTypes"))
        return errs
    for i, t in enumerate(types):
        if t not in POLICY_TYPES:
            errs.append(not_supported(at_index("spec.policyTypes", i), t, POLICY_TYPES))
    return errs
