"""Kubernetes' CEL libraries for quantities, IP addresses and CIDRs, and URLs.

k8s.io/apiserver/pkg/cel/library (quantity.go, ip.go, cidr.go, urls.go): the functions and
methods CRD rules may call, on small value classes that celpy's operators compare with
``==``. Errors are raised as ValueError/TypeError, which the evaluators turn into CEL
errors ("no such overload", ...).
"""

from __future__ import annotations

import ipaddress
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

from celpy import celtypes

from api.quantity import QuantityError, format_quantity, parse_quantity

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class Quantity:
    __slots__ = ("text", "value")

    def __init__(self, text: str) -> None:
        self.text = text
        self.value = parse_quantity(text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"quantity({self.text!r})"

    def __str__(self) -> str:  # string(q): CEL's string() is str() underneath
        return self.text


def _q(v: Any) -> Quantity:
    if isinstance(v, Quantity):
        return v
    raise TypeError("no such overload")


def _q_or_int(v: Any) -> Fraction:
    if isinstance(v, Quantity):
        return v.value
    if isinstance(v, int) and not isinstance(v, bool):
        return Fraction(int(v))
    raise TypeError("no such overload")


def quantity(s: Any) -> Quantity:
    if not isinstance(s, str):
        raise TypeError("no such overload")
    try:
        return Quantity(str(s))
    except QuantityError as e:
        raise ValueError(f"quantities must match the regular expression: {e}") from e


def is_quantity(s: Any) -> celtypes.BoolType:
    try:
        quantity(s)
    except (TypeError, ValueError):
        return celtypes.BoolType(False)
    return celtypes.BoolType(True)


def _from(value: Fraction) -> Quantity:
    q = Quantity.__new__(Quantity)
    q.value = value
    q.text = format_quantity(value)
    return q


def q_add(a: Any, b: Any) -> Quantity:
    return _from(_q(a).value + _q_or_int(b))


def q_sub(a: Any, b: Any) -> Quantity:
    return _from(_q(a).value - _q_or_int(b))


def q_compare(a: Any, b: Any) -> celtypes.IntType:
    x, y = _q(a).value, _q(b).value
    return celtypes.IntType((x > y) - (x < y))


def q_greater(a: Any, b: Any) -> celtypes.BoolType:
    return celtypes.BoolType(_q(a).value > _q(b).value)


def q_less(a: Any, b: Any) -> celtypes.BoolType:
    return celtypes.BoolType(_q(a).value < _q(b).value)


def q_sign(a: Any) -> celtypes.IntType:
    v = _q(a).value
    return celtypes.IntType((v > 0) - (v < 0))


def q_is_integer(a: Any) -> celtypes.BoolType:
    v = _q(a).value
    return celtypes.BoolType(v.denominator == 1 and _INT64_MIN <= v <= _INT64_MAX)


def q_as_integer(a: Any) -> celtypes.IntType:
    v = _q(a).value
    if v.denominator != 1 or not _INT64_MIN <= v <= _INT64_MAX:
        raise ValueError("cannot convert value to integer")
    return celtypes.IntType(int(v))


def q_as_float(a: Any) -> celtypes.DoubleType:
    return celtypes.DoubleType(float(_q(a).value))


# ---- ip / cidr ------------------------------------------------------------------------

class IP:
    __slots__ = ("addr",)

    def __init__(self, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        self.addr = addr

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IP) and self.addr == other.addr

    def __str__(self) -> str:
        return str(self.addr)

    def __hash__(self) -> int:
        return hash(self.addr)


class CIDR:
    __slots__ = ("addr", "net")

    def __init__(self, text: str) -> None:
        addr, _, _ = text.partition("/")
        self.net = ipaddress.ip_network(text, strict=False)
        self.addr = ipaddress.ip_address(addr)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CIDR) and (self.net, self.addr) == (other.net, other.addr)

    def __str__(self) -> str:
        return f"{self.addr}/{self.net.prefixlen}"

    def __hash__(self) -> int:
        return hash(self.net)


def _parse_ip(s: str) -> IP:
    if "%" in s:
        raise ValueError("IP address with zone value is not allowed")
    addr = ipaddress.ip_address(s)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        raise ValueError("IPv4-mapped IPv6 address is not allowed")
    return IP(addr)


def ip(v: Any) -> IP:
    if isinstance(v, CIDR):
        return IP(v.addr)
    if not isinstance(v, str):
        raise TypeError("no such overload")
    return _parse_ip(str(v))


def is_ip(v: Any) -> celtypes.BoolType:
    try:
        ip(v)
    except (TypeError, ValueError):
        return celtypes.BoolType(False)
    return celtypes.BoolType(True)


def cidr(v: Any) -> CIDR:
    if not isinstance(v, str):
        raise TypeError("no such overload")
    if "/" not in v:
        raise ValueError(f"network address parse error during conversion from string: {v}")
    return CIDR(str(v))


def is_cidr(v: Any) -> celtypes.BoolType:
    try:
        cidr(v)
    except (TypeError, ValueError):
        return celtypes.BoolType(False)
    return celtypes.BoolType(True)


def _ip_of(v: Any) -> IP:
    if isinstance(v, IP):
        return v
    if isinstance(v, str):
        return _parse_ip(str(v))
    raise TypeError("no such overload")


def family(v: Any) -> celtypes.IntType:
    return celtypes.IntType(_ip_of(v).addr.version)


def _ip_pred(name: str) -> Any:
    def pred(v: Any) -> celtypes.BoolType:
        return celtypes.BoolType(bool(getattr(_ip_of(v).addr, name)))
    return pred


def is_global_unicast(v: Any) -> celtypes.BoolType:
    a = _ip_of(v).addr
    return celtypes.BoolType(not (a.is_multicast or a.is_loopback or a.is_link_local
                                  or a.is_unspecified
                                  or (a.version == 4 and int(a) == 0xFFFFFFFF)))


def contains_ip(c: Any, v: Any) -> celtypes.BoolType:
    if not isinstance(c, CIDR):
        raise TypeError("no such overload")
    return celtypes.BoolType(_ip_of(v).addr in c.net)


def contains_cidr(c: Any, v: Any) -> celtypes.BoolType:
    if not isinstance(c, CIDR):
        raise TypeError("no such overload")
    other = v if isinstance(v, CIDR) else cidr(v)
    if other.net.version != c.net.version:
        return celtypes.BoolType(False)
    return celtypes.BoolType(other.net.subnet_of(c.net))  # type: ignore[arg-type]


def prefix_length(c: Any) -> celtypes.IntType:
    if not isinstance(c, CIDR):
        raise TypeError("no such overload")
    return celtypes.IntType(c.net.prefixlen)


def masked(c: Any) -> CIDR:
    if not isinstance(c, CIDR):
        raise TypeError("no such overload")
    return CIDR(str(c.net))


# ---- url ------------------------------------------------------------------------------

class URL:
    __slots__ = ("parts",)

    def __init__(self, text: str) -> None:
        p = urlsplit(text)
        if not p.scheme and not text.startswith("/"):
            raise ValueError(f"URL is not absolute: {text}")
        self.parts = p

    def __eq__(self, other: object) -> bool:
        return isinstance(other, URL) and self.parts == other.parts

    def __hash__(self) -> int:
        return hash(self.parts)


def url(v: Any) -> URL:
    if not isinstance(v, str):
        raise TypeError("no such overload")
    return URL(str(v))


def is_url(v: Any) -> celtypes.BoolType:
    try:
        url(v)
    except (TypeError, ValueError):
        return celtypes.BoolType(False)
    return celtypes.BoolType(True)


def _u(v: Any) -> URL:
    if isinstance(v, URL):
        return v
    raise TypeError("no such overload")


def get_scheme(v: Any) -> celtypes.StringType:
    return celtypes.StringType(_u(v).parts.scheme)


def get_host(v: Any) -> celtypes.StringType:
    return celtypes.StringType(_u(v).parts.netloc.rpartition("@")[2])


def get_hostname(v: Any) -> celtypes.StringType:
    return celtypes.StringType(_u(v).parts.hostname or "")


def get_port(v: Any) -> celtypes.StringType:
    host = _u(v).parts.netloc.rpartition("@")[2]
    if host.startswith("["):
        _, _, rest = host.partition("]")
        return celtypes.StringType(rest[1:] if rest.startswith(":") else "")
    return celtypes.StringType(host.rpartition(":")[2] if ":" in host else "")


def get_escaped_path(v: Any) -> celtypes.StringType:
    return celtypes.StringType(_u(v).parts.path)


def get_query(v: Any) -> celtypes.MapType:
    from urllib.parse import parse_qs

    q = parse_qs(_u(v).parts.query, keep_blank_values=True)
    return celtypes.MapType({celtypes.StringType(k): celtypes.ListType(
        [celtypes.StringType(x) for x in xs]) for k, xs in q.items()})


FUNCTIONS: dict[str, Any] = {
    # quantity
    "quantity": quantity, "isQuantity": is_quantity, "add": q_add, "sub": q_sub,
    "compareTo": q_compare, "isGreaterThan": q_greater, "isLessThan": q_less,
    "sign": q_sign, "isInteger": q_is_integer, "asInteger": q_as_integer,
    "asApproximateFloat": q_as_float,
    # ip / cidr
    "ip": ip, "isIP": is_ip, "cidr": cidr, "isCIDR": is_cidr, "family": family,
    "isUnspecified": _ip_pred("is_unspecified"), "isLoopback": _ip_pred("is_loopback"),
    "isLinkLocalMulticast": lambda v: celtypes.BoolType(
        (_ip_of(v).addr.is_multicast and _ip_of(v).addr.is_link_local)
        or (_ip_of(v).addr.version == 4 and str(_ip_of(v).addr).startswith("224.0.0."))),
    "isLinkLocalUnicast": lambda v: celtypes.BoolType(
        _ip_of(v).addr.is_link_local and not _ip_of(v).addr.is_multicast),
    "isGlobalUnicast": is_global_unicast, "containsIP": contains_ip,
    "containsCIDR": contains_cidr, "prefixLength": prefix_length, "masked": masked,
    # url
    "url": url, "isURL": is_url, "getScheme": get_scheme, "getHost": get_host,
    "getHostname": get_hostname, "getPort": get_port, "getEscapedPath": get_escaped_path,
    "getQuery": get_query,
}
