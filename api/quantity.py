"""Resource quantities ("500m", "2", "128Mi", "1G", "1e3") with exact arithmetic.

Values are ``fractions.Fraction`` so that "500m" + "0.5" is exactly 1 and sums of
many pod requests never drift; only formatting rounds (up, to nano units, as
Kubernetes does).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Literal

__all__ = [
    "QuantityError",
    "QuantityLike",
    "add_resources",
    "canonical",
    "cpu_millis",
    "format_quantity",
    "format_resources",
    "insufficient_resources",
    "max_resources",
    "parse_quantity",
    "parse_resources",
    "quantity_format",
    "subtract_resources",
    "sum_resources",
    "to_bytes",
]

QuantityLike = str | int | float | Fraction
QuantityFormat = Literal["DecimalSI", "BinarySI", "DecimalExponent"]

FORMAT_ERROR = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
SUFFIX_ERROR = "unable to parse quantity's suffix"


class QuantityError(ValueError):
    """Not a quantity; the message is Kubernetes' (ErrFormatWrong / ErrSuffix)."""


_DECIMAL_EXP = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_EXP = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL_EXP.items()}
_BINARY_SUFFIX = {v: k for k, v in _BINARY_EXP.items()}

_NUMBER_RE = re.compile(r"^([+-]?)([0-9]+\.?[0-9]*|\.[0-9]+)(.*)$")
_EXPONENT_RE = re.compile(r"^[eE]([+-]?[0-9]+)$")
_SHAPE_RE = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")


# Pure and hot (every container's requests and limits, on every pod write and in
# every scheduling pass), over few distinct strings; Fractions are immutable, so
# sharing a cached one is safe. Failures raise and are not cached.
@functools.lru_cache(maxsize=4096)
def _parse_str(s: str) -> tuple[Fraction, QuantityFormat]:
    if not s or not _SHAPE_RE.match(s):
        raise QuantityError(FORMAT_ERROR)
    m = _NUMBER_RE.match(s)
    if m is None:
        raise QuantityError(FORMAT_ERROR)
    sign, number, suffix = m.groups()
    value = Fraction(number if not number.endswith(".") else number[:-1])
    if sign == "-":
        value = -value
    if suffix in _DECIMAL_EXP:
        return value * Fraction(10) ** _DECIMAL_EXP[suffix], "DecimalSI"
    if suffix in _BINARY_EXP:
        return value * (2 ** _BINARY_EXP[suffix]), "BinarySI"
    e = _EXPONENT_RE.match(suffix)
    if e is not None:
        exp = int(e.group(1))
        if abs(exp) > 100:  # beyond any real resource; refuse rather than build huge ints
            raise QuantityError(SUFFIX_ERROR)
        return value * Fraction(10) ** exp, "DecimalExponent"
    raise QuantityError(SUFFIX_ERROR)


def parse_quantity(s: QuantityLike) -> Fraction:
    """The exact value of a quantity; raises QuantityError with Kubernetes' message."""
    if isinstance(s, bool):
        raise QuantityError(FORMAT_ERROR)
    if isinstance(s, Fraction):
        return s
    if isinstance(s, int):
        return Fraction(s)
    if isinstance(s, float):
        if not math.isfinite(s):
            raise QuantityError(FORMAT_ERROR)
        return Fraction(repr(s))  # the decimal the user wrote, not the binary float
    if not isinstance(s, str):
        raise QuantityError(FORMAT_ERROR)
    return _parse_str(s.strip())[0]


def quantity_format(s: QuantityLike) -> QuantityFormat:
    """The format a quantity was written in, which canonical formatting keeps."""
    if isinstance(s, str):
        return _parse_str(s.strip())[1]
    return "DecimalSI"


def _round_up_nano(q: Fraction) -> Fraction:
    """Kubernetes keeps at most nano precision, rounding away from zero."""
    scaled = q * 10**9
    if scaled.denominator == 1:
        return q
    n = math.ceil(abs(scaled))
    return Fraction(n if q > 0 else -n, 10**9)


def _format_decimal(q: Fraction, exponent_style: bool) -> str:
    q = _round_up_nano(q)
    if q == 0:
        return "0"
    sign = "-" if q < 0 else ""
    a = abs(q)
    # Start at nano units (an integer now) and move to the largest exponent that
    # keeps the mantissa an integer.
    mantissa = int(a * 10**9)
    exp = -9
    while exp < 18 and mantissa % 1000 == 0:
        mantissa //= 1000
        exp += 3
    if exponent_style:
        return f"{sign}{mantissa}" + (f"e{exp}" if exp else "")
    return f"{sign}{mantissa}{_DECIMAL_SUFFIX[exp]}"


def format_quantity(q: QuantityLike, fmt: QuantityFormat = "DecimalSI") -> str:
    """The canonical string Kubernetes would print for ``q`` in format ``fmt``."""
    v = parse_quantity(q)
    if fmt == "BinarySI":
        # Small or fractional values print in decimal, as Kubernetes does.
        if -1024 < v < 1024 or v.denominator != 1:
            return _format_decimal(v, False)
        n = int(abs(v))
        exp = 0
        while exp < 60 and n % 1024 == 0:
            n //= 1024
            exp += 10
        return f"{'-' if v < 0 else ''}{n}{_BINARY_SUFFIX.get(exp, '')}"
    return _format_decimal(v, fmt == "DecimalExponent")


def canonical(s: QuantityLike) -> str:
    """``s`` in Kubernetes' canonical form, keeping its format ("1000Mi" -> "1000Mi", "1000m" -> "1")."""
    return format_quantity(parse_quantity(s), quantity_format(s))


def cpu_millis(q: QuantityLike) -> int:
    """CPU in millicores, rounded up (Kubernetes' MilliValue)."""
    return math.ceil(parse_quantity(q) * 1000)


def to_bytes(q: QuantityLike) -> int:
    """An integer amount (bytes, pods), rounded up (Kubernetes' Value)."""
    return math.ceil(parse_quantity(q))


# ---- resource lists (requests, limits, capacity) ----------------------------

ResourceMap = Mapping[str, QuantityLike]


def parse_resources(resources: ResourceMap | None) -> dict[str, Fraction]:
    return {name: parse_quantity(v) for name, v in (resources or {}).items()}


def add_resources(a: ResourceMap | None, b: ResourceMap | None) -> dict[str, Fraction]:
    """Per-resource sum; a resource present on one side only keeps its value."""
    out = parse_resources(a)
    for name, v in (b or {}).items():
        out[name] = out.get(name, Fraction(0)) + parse_quantity(v)
    return out


def subtract_resources(a: ResourceMap | None, b: ResourceMap | None) -> dict[str, Fraction]:
    """``a - b`` per resource; may go negative (callers decide what that means)."""
    out = parse_resources(a)
    for name, v in (b or {}).items():
        out[name] = out.get(name, Fraction(0)) - parse_quantity(v)
    return out


def max_resources(a: ResourceMap | None, b: ResourceMap | None) -> dict[str, Fraction]:
    out = parse_resources(a)
    for name, v in (b or {}).items():
        q = parse_quantity(v)
        if name not in out or q > out[name]:
            out[name] = q
    return out


def sum_resources(lists: Iterable[ResourceMap | None]) -> dict[str, Fraction]:
    out: dict[str, Fraction] = {}
    for r in lists:
        out = add_resources(out, r)
    return out


def insufficient_resources(requests: ResourceMap | None, free: ResourceMap | None) -> list[str]:
    """Names of the requested resources that ``free`` cannot cover (absent counts as 0), sorted."""
    have = parse_resources(free)
    return sorted(
        name
        for name, v in (requests or {}).items()
        if parse_quantity(v) > 0 and parse_quantity(v) > have.get(name, Fraction(0))
    )


_BINARY_RESOURCES = ("memory", "ephemeral-storage", "storage")


def format_resources(resources: ResourceMap | None) -> dict[str, str]:
    """Wire form of a resource list: memory-like resources in binary units, others decimal."""
    out: dict[str, str] = {}
    for name, v in (resources or {}).items():
        binary = name in _BINARY_RESOURCES or name.startswith("hugepages-")
        out[name] = format_quantity(v, "BinarySI" if binary else "DecimalSI")
    return out
