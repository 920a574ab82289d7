"""``get --sort-by=<jsonpath>``: kubectl's sorter (k8s.io/kubectl/pkg/cmd/get/sorter.go).

The path is relaxed as custom columns relax it (``.metadata.name`` = ``{.metadata.name}``)
and evaluated on each object (a Table's rows carry theirs with ``includeObject=Object``).
Objects without the field sort first; numbers compare as numbers, strings that are both
quantities as quantities (``20`` before ``100``, ``500m`` before ``1``), other strings
byte-wise (``pod-10`` before ``pod-2``), as kubectl 1.37 does. The sort is stable.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, TypeVar

from api.quantity import parse_quantity
from cli import jsonpath
from cli.errors import CliError

T = TypeVar("T")

def parse(expr: str) -> jsonpath.Template:
    try:
        return jsonpath.parse(jsonpath.relaxed(expr))
    except jsonpath.JsonPathError as exc:
        raise CliError(f"{exc}") from None


def _quantity(v: str) -> Fraction | None:
    try:
        return parse_quantity(v)
    except (ValueError, TypeError):
        return None


def _less(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return (not a) and bool(b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a < b
    if isinstance(a, str) and isinstance(b, str):
        qa, qb = _quantity(a), _quantity(b)
        if qa is not None and qb is not None:
            return qa < qb
        return a < b
    return str(a) < str(b)


def _value(tmpl: jsonpath.Template, obj: Any) -> tuple[bool, Any]:
    try:
        results = jsonpath.find_results(tmpl, obj, allow_missing=True)
    except jsonpath.JsonPathError:
        return False, None
    for part in results:
        if part:
            return True, part[0]
    return False, None


def sort(items: Sequence[T], expr: str, obj_of: Callable[[T], Any], *,
         strict: bool = True) -> list[T] | None:
    """``items`` ordered by the field ``expr`` of ``obj_of(item)``. No item has the field:
    an error as kubectl's (``strict``), else None (kubectl's tables then print nothing)."""
    tmpl = parse(expr)
    keyed = [(_value(tmpl, obj_of(i)), i) for i in items]
    if items and not any(found for (found, _), _ in keyed):
        if strict:
            raise CliError(f'couldn\'t find any field with path "{jsonpath.relaxed(expr)}" '
                           "in the list of objects")
        return None

    def cmp(x: tuple[tuple[bool, Any], T], y: tuple[tuple[bool, Any], T]) -> int:
        (fx, vx), (fy, vy) = x[0], y[0]
        if not fx or not fy:
            return (1 if fx else 0) - (1 if fy else 0)
        if _less(vx, vy):
            return -1
        return 1 if _less(vy, vx) else 0

    return [i for _, i in sorted(keyed, key=functools.cmp_to_key(cmp))]
