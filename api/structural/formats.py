"""String formats as kube-openapi's strfmt registry checks them (unknown formats pass).

int32/int64/float/double name numeric widths and are not checked on values (as in
Kubernetes' CRD validation); ``password`` accepts anything.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
import re
from collections.abc import Callable
from urllib.parse import urlsplit

_HOSTNAME = re.compile(
    r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}"
    r"[a-zA-Z0-9])?)*$")
_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I)
_UUID3 = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I)
_UUID4 = re.compile(
    r"^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$", re.I)
_UUID5 = re.compile(
    r"^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$", re.I)
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+$")
_MAC = re.compile(
    r"^([0-9a-fA-F]{2}([:-])(?:[0-9a-fA-F]{2}\2){4}[0-9a-fA-F]{2}"
    r"|[0-9a-fA-F]{2}([:-])(?:[0-9a-fA-F]{2}\3){6}[0-9a-fA-F]{2}"
    r"|[0-9a-fA-F]{2}([:-])(?:[0-9a-fA-F]{2}\4){18}[0-9a-fA-F]{2}"
    r"|[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}"
    r"|[0-9a-fA-F]{4}(?:\.[0-9a-fA-F]{4}){3}"
    r"|[0-9a-fA-F]{4}(?:\.[0-9a-fA-F]{4}){9})$")
_HEXCOLOR = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_RGBCOLOR = re.compile(
    r"^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])"
    r"\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$")
_ISBN10 = re.compile(r"^(?:[0-9]{9}X|[0-9]{10})$")
_ISBN13 = re.compile(r"^(?:[0-9]{13})$")
_SSN = re.compile(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$")
_CREDITCARD = re.compile(
    r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|"
    r"3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11})$")
_BSON = re.compile(r"^[0-9a-fA-F]{24}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")
_DURATION = re.compile(
    r"^[+-]?(\d+(\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|m|h|d|w|"
    r"nanoseconds?|microseconds?|milliseconds?|seconds?|minutes?|hours?|days?|weeks?)"
    r"(\s*(\d+(\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|m|h|d|w|"
    r"nanoseconds?|microseconds?|milliseconds?|seconds?|minutes?|hours?|days?|weeks?))*$")


def _date(v: str) -> bool:
    if not _DATE.match(v):
        return False
    try:
        datetime.date.fromisoformat(v)
    except ValueError:
        return False
    return True


def _datetime(v: str) -> bool:
    if not _DATETIME.match(v):
        return False
    return _date(v[:10])


def _byte(v: str) -> bool:
    try:
        base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _ipv4(v: str) -> bool:
    try:
        ipaddress.IPv4Address(v)
    except ValueError:
        return False
    return True


def _ipv6(v: str) -> bool:
    try:
        ipaddress.IPv6Address(v)
    except ValueError:
        return False
    return True


def _cidr(v: str) -> bool:
    try:
        ipaddress.ip_network(v, strict=False)
    except ValueError:
        return False
    return "/" in v


def _uri(v: str) -> bool:
    try:
        u = urlsplit(v)
    except ValueError:
        return False
    return bool(u.scheme) or v.startswith("/")


def _isbn(v: str) -> bool:
    return bool(_ISBN10.match(v) or _ISBN13.match(v))


def _re(p: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda v: p.match(v) is not None


CHECKS: dict[str, Callable[[str], bool]] = {
    "byte": _byte, "date": _date, "date-time": _datetime, "datetime": _datetime,
    "duration": _re(_DURATION), "uri": _uri, "email": _re(_EMAIL),
    "hostname": lambda v: len(v) <= 255 and _HOSTNAME.match(v) is not None,
    "ipv4": _ipv4, "ipv6": _ipv6, "cidr": _cidr, "mac": _re(_MAC),
    "uuid": _re(_UUID), "uuid3": _re(_UUID3), "uuid4": _re(_UUID4), "uuid5": _re(_UUID5),
    "isbn": _isbn, "isbn10": _re(_ISBN10), "isbn13": _re(_ISBN13),
    "creditcard": _re(_CREDITCARD), "ssn": _re(_SSN), "hexcolor": _re(_HEXCOLOR),
    "rgbcolor": _re(_RGBCOLOR), "bsonobjectid": _re(_BSON),
}


def valid(fmt: str, v: str) -> bool:
    check = CHECKS.get(fmt)
    return check is None or check(v)
