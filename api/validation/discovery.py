"""EndpointSlices: ValidateEndpointSlice and ValidateEndpointSliceUpdate.

Ported from pkg/apis/discovery/validation/validation.go (validateAddressType,
validateEndpoints, validatePorts): at most 1000 endpoints of 1 to 100 addresses
each, addresses of the slice's addressType, unique port names, protocols TCP, UDP
or SCTP; addressType is immutable.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from api.names import is_dns1123_label, is_dns1123_subdomain, is_qualified_name
from api.validation.field import (
    JSON,
    TOO_MANY,
    Errs,
    FieldError,
    as_dict,
    as_list,
    as_str,
    at_index,
    child,
    duplicate,
    invalid,
    not_supported,
    required,
)
from api.validation.service import non_special_ip

ADDRESS_TYPES = ["FQDN", "IPv4", "IPv6"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
MAX_ADDRESSES = 100
MAX_PORTS = 20000
MAX_ENDPOINTS = 1000
MAX_ZONE_HINTS = 8


def _too_many(path: str, actual: int, limit: int) -> FieldError:
    """field.TooMany."""
    return FieldError(path, TOO_MANY, f"must have at most {limit} items", actual)


def _address(errs: Errs, address: Any, address_type: str, path: str) -> None:
    if address_type in ("IPv4", "IPv6"):
        version = 4 if address_type == "IPv4" else 6
        try:
            ip = ipaddress.ip_address(address) if isinstance(address, str) else None
        except ValueError:
            ip = None
        if ip is None or ip.version != version:
            errs.append(invalid(path, address, f"must be a valid {address_type} address"))
        else:
            errs += non_special_ip(str(address), path)
    elif address_type == "FQDN":
        text = address if isinstance(address, str) else ""
        if "." not in text:
            errs.append(invalid(path, address, "should be a domain with at least two segments "
                                               "separated by dots"))
        else:
            for m in is_dns1123_subdomain(text):
                errs.append(invalid(path, address, m))


def _endpoints(errs: Errs, endpoints: list[Any], address_type: str) -> None:
    if len(endpoints) > MAX_ENDPOINTS:
        errs.append(_too_many("endpoints", len(endpoints), MAX_ENDPOINTS))
        return
    for i, raw in enumerate(endpoints):
        path = at_index("endpoints", i)
        ep = as_dict(errs, raw, path)
        apath = child(path, "addresses")
        addresses = as_list(errs, ep.get("addresses"), apath)
        if not addresses:
            errs.append(required(apath, "must contain at least 1 address"))
        elif len(addresses) > MAX_ADDRESSES:
            errs.append(_too_many(apath, len(addresses), MAX_ADDRESSES))
        for j, a in enumerate(addresses):
            _address(errs, a, address_type, at_index(apath, j))
        node = ep.get("nodeName")
        if node is not None:
            for m in is_dns1123_subdomain(as_str(errs, node, child(path, "nodeName"))):
                errs.append(invalid(child(path, "nodeName"), node, m))
        hostname = ep.get("hostname")
        if hostname is not None:
            h = as_str(errs, hostname, child(path, "hostname"))
            for m in is_dns1123_label(h):
                errs.append(invalid(child(path, "hostname"), h, m))
        hints = ep.get("hints")
        if hints is not None:
            zones = as_list(errs, as_dict(errs, hints, child(path, "hints")).get("forZones"),
                            child(path, "hints", "forZones"))
            if len(zones) > MAX_ZONE_HINTS:
                errs.append(_too_many(child(path, "hints", "forZones"), len(zones),
                                      MAX_ZONE_HINTS))


def _ports(errs: Errs, ports: list[Any]) -> None:
    if len(ports) > MAX_PORTS:
        errs.append(_too_many("ports", len(ports), MAX_PORTS))
        return
    names: set[str] = set()
    for i, raw in enumerate(ports):
        path = at_index("ports", i)
        p = as_dict(errs, raw, path)
        name = as_str(errs, p.get("name"), child(path, "name"))
        if name:
            for m in is_dns1123_label(name):
                errs.append(invalid(child(path, "name"), name, m))
        if name in names:
            errs.append(duplicate(child(path, "name"), name))
        names.add(name)
        proto = p.get("protocol")
        if proto is None:
            errs.append(required(child(path, "protocol")))
        elif proto not in PROTOCOLS:
            errs.append(not_supported(child(path, "protocol"), proto, PROTOCOLS))
        if p.get("appProtocol") is not None:
            ap = as_str(errs, p.get("appProtocol"), child(path, "appProtocol"))
            for m in is_qualified_name(ap):
                errs.append(invalid(child(path, "appProtocol"), ap, m))


def validate_endpoint_slice(obj: JSON) -> Errs:
    """ValidateEndpointSlice (the metadata is checked by the caller)."""
    errs: Errs = []
    address_type = obj.get("addressType")
    if address_type in (None, ""):
        errs.append(required("addressType"))
    elif address_type not in ADDRESS_TYPES:
        errs.append(not_supported("addressType", address_type, ADDRESS_TYPES))
    _endpoints(errs, as_list(errs, obj.get("endpoints"), "endpoints"),
               address_type if isinstance(address_type, str) else "")
    _ports(errs, as_list(errs, obj.get("ports"), "ports"))
    return errs


def validate_endpoint_slice_update(old: JSON, new: JSON) -> Errs:
    """ValidateEndpointSliceUpdate: addressType may not change (once it is a supported
    one)."""
    if old.get("addressType") in ADDRESS_TYPES and new.get("addressType") != \
            old.get("addressType"):
        return [invalid("addressType", new.get("addressType"), "field is immutable")]
    return []
