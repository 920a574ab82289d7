"""No input makes defaulting, validation or selector building crash (the API server
turns their results into 4xx Statuses; an exception would be a 500)."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from api.defaults import apply_defaults
from api.fields import parse_field_selector
from api.labels import SelectorError, from_label_selector, parse_selector
from api.validation import validate, validate_update
from tests.api.test_validation import BASES

ODD_VALUES: list[Any] = [
    None, 0, -1, 1.5, True, "", "x", "25%", "-", [], {}, [None], [1, "a"], {"a": None},
    {"": ""}, [{}], "\u00e9", 10**20, [[]],
]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _replace(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    cur = obj
    for p in path[:-1]:
        cur = cur[p]
    cur[path[-1]] = value
    return obj


@pytest.mark.parametrize("kind", sorted(BASES))
def test_mutations_never_crash(kind: str) -> None:
    rng = random.Random(f"minik8s-{kind}")
    base = BASES[kind]()
    apply_defaults(kind, copy.deepcopy(base))
    paths = _paths(base)
    for _ in range(400):
        obj = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            try:
                obj = _replace(obj, rng.choice(paths[1:]), copy.deepcopy(rng.choice(ODD_VALUES)))
            except (KeyError, IndexError, TypeError):
                pass  # the path went through a node an earlier mutation replaced
        mutated = copy.deepcopy(obj)
        try:
            apply_defaults(kind, mutated)
        except (AttributeError, TypeError) as e:  # a crash, reported with the input
            pytest.fail(f"apply_defaults crashed on {obj!r}: {e!r}")
        errs = validate(kind, mutated)
        assert all(isinstance(str(e), str) and e.to_cause()["reason"] for e in errs)
        validate_update(kind, base, mutated)
        validate_update(kind, mutated, base)


@pytest.mark.parametrize(
    "sel",
    [
        {"matchLabels": ["a"]},
        {"matchLabels": {"a": 1}},
        {"matchLabels": {1: "a"}},
        {"matchExpressions": {"a": 1}},
        {"matchExpressions": [None]},
        {"matchExpressions": [{"key": "a", "operator": "In", "values": "abc"}]},
        {"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]},
        {"matchExpressions": [{"key": "a", "operator": "In", "values": [[]]}]},
        {"matchExpressions": [{"key": None, "operator": "Exists"}]},
        "app=web",
        ["x"],
    ],
)
def test_bad_label_selector_shapes_are_selector_errors(sel: Any) -> None:
    with pytest.raises(SelectorError):
        from_label_selector(sel)


def test_random_selector_strings_never_crash() -> None:
    rng = random.Random(7)
    alphabet = "ab=!,() \tinotx<>1-./\\"
    for _ in range(3000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        try:
            sel = parse_selector(s)
        except SelectorError:
            pass
        else:
            # whatever parses prints a canonical form that parses to the same selector
            assert parse_selector(str(sel)) == sel
        try:
            parse_field_selector(s)
        except SelectorError:
            pass
