"""Resource quantities: exact parsing, canonical formatting, arithmetic on resource lists."""

from __future__ import annotations

from fractions import Fraction

import pytest

from api.quantity import (
    FORMAT_ERROR,
    SUFFIX_ERROR,
    QuantityError,
    add_resources,
    canonical,
    cpu_millis,
    format_quantity,
    format_resources,
    insufficient_resources,
    max_resources,
    parse_quantity,
    parse_resources,
    quantity_format,
    subtract_resources,
    sum_resources,
    to_bytes,
)

PARSE = [
    ("0", Fraction(0)),
    ("1", Fraction(1)),
    ("2", Fraction(2)),
    ("500m", Fraction(1, 2)),
    ("0.5", Fraction(1, 2)),
    (".5", Fraction(1, 2)),
    ("1.", Fraction(1)),
    ("+1", Fraction(1)),
    ("-1", Fraction(-1)),
    ("-500m", Fraction(-1, 2)),
    ("1n", Fraction(1, 10**9)),
    ("1u", Fraction(1, 10**6)),
    ("1k", Fraction(1000)),
    ("1M", Fraction(10**6)),
    ("1G", Fraction(10**9)),
    ("1T", Fraction(10**12)),
    ("1P", Fraction(10**15)),
    ("1E", Fraction(10**18)),
    ("1Ki", Fraction(1024)),
    ("128Mi", Fraction(128 * 2**20)),
    ("1Gi", Fraction(2**30)),
    ("1Ti", Fraction(2**40)),
    ("1Pi", Fraction(2**50)),
    ("1Ei", Fraction(2**60)),
    ("1.5Gi", Fraction(3 * 2**29)),
    ("1e3", Fraction(1000)),
    ("1E3", Fraction(1000)),
    ("1e-3", Fraction(1, 1000)),
    ("1e+3", Fraction(1000)),
    ("2.5e2", Fraction(250)),
    (" 100m ", Fraction(1, 10)),
    (3, Fraction(3)),
    (0.1, Fraction(1, 10)),
    (1.5, Fraction(3, 2)),
    (Fraction(7, 3), Fraction(7, 3)),
]


@pytest.mark.parametrize(("text", "value"), PARSE)
def test_parse(text: str | int | float | Fraction, value: Fraction) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", FORMAT_ERROR),
        ("abc", FORMAT_ERROR),
        ("m", FORMAT_ERROR),
        ("1 Gi", FORMAT_ERROR),
        ("1GiB", FORMAT_ERROR),
        ("1Gb", FORMAT_ERROR),
        ("1K", SUFFIX_ERROR),
        ("1KI", FORMAT_ERROR),
        ("1e", SUFFIX_ERROR),
        ("1mi", SUFFIX_ERROR),
        ("1.5.5", SUFFIX_ERROR),
        ("1e1000", SUFFIX_ERROR),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(text)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", [True, None, float("nan"), float("inf"), [1]])
def test_parse_rejects_non_quantities(bad: object) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(bad)  # type: ignore[arg-type]


def test_exact_arithmetic() -> None:
    assert parse_quantity("500m") + parse_quantity("0.5") == 1
    assert format_quantity(parse_quantity("500m") + parse_quantity("0.5")) == "1"
    # 0.1 + 0.2 is exactly 0.3 here, unlike floats.
    assert parse_quantity("0.1") + parse_quantity("0.2") == parse_quantity("300m")
    assert sum(parse_quantity("100m") for _ in range(10)) == 1
    assert parse_quantity("1G") == 1000 * parse_quantity("1M")
    assert parse_quantity("1Gi") == 1024 * parse_quantity("1Mi")
    assert parse_quantity("1e3") == parse_quantity("1k")


CANONICAL = [
    ("0", "0"),
    ("0m", "0"),
    ("1m", "1m"),
    ("1000m", "1"),
    ("1500m", "1500m"),
    ("0.5", "500m"),
    ("1.5", "1500m"),
    ("100u", "100u"),
    ("1000n", "1u"),
    ("1000", "1k"),
    ("1500", "1500"),
    ("1000k", "1M"),
    ("2000000", "2M"),
    ("1G", "1G"),
    ("-500m", "-500m"),
    ("1Ki", "1Ki"),
    ("1024Ki", "1Mi"),
    ("1536Ki", "1536Ki"),
    ("0.5Gi", "512Mi"),
    ("128Mi", "128Mi"),
    ("512", "512"),
    ("1e3", "1e3"),
    ("1E6", "1e6"),
    ("1.5e3", "1500"),
    ("1e-3", "1e-3"),
]


@pytest.mark.parametrize(("text", "expected"), CANONICAL)
def test_canonical(text: str, expected: str) -> None:
    assert canonical(text) == expected
    assert parse_quantity(canonical(text)) == parse_quantity(text)


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        (Fraction(1, 3), "DecimalSI", "333333334n"),  # rounds up to nano, as k8s
        (Fraction(-1, 3), "DecimalSI", "-333333334n"),
        (Fraction(2**30), "BinarySI", "1Gi"),
        (Fraction(1000), "BinarySI", "1k"),  # under 1024: decimal
        (Fraction(1025), "BinarySI", "1025"),
        (Fraction(3, 2) * 2**10 + Fraction(1, 2), "BinarySI", "1536500m"),  # fractional: decimal
        (Fraction(-2 * 2**20), "BinarySI", "-2Mi"),
        (Fraction(10**21), "DecimalSI", "1000E"),
        (Fraction(10**6), "DecimalExponent", "1e6"),
        (5, "DecimalSI", "5"),
        ("2Gi", "DecimalSI", "2147483648"),
    ],
)
def test_format_quantity(value: Fraction | int | str, fmt: str, expected: str) -> None:
    assert format_quantity(value, fmt) == expected  # type: ignore[arg-type]


def test_quantity_format() -> None:
    assert quantity_format("1Gi") == "BinarySI"
    assert quantity_format("1G") == "DecimalSI"
    assert quantity_format("100m") == "DecimalSI"
    assert quantity_format("1e3") == "DecimalExponent"
    assert quantity_format(5) == "DecimalSI"


@pytest.mark.parametrize(
    ("q", "millis"),
    [("1", 1000), ("500m", 500), ("0.5", 500), ("1m", 1), ("0.0001", 1), ("1n", 1), ("0", 0),
     (2, 2000), ("1.5", 1500), ("-1m", -1)],
)
def test_cpu_millis(q: str | int, millis: int) -> None:
    assert cpu_millis(q) == millis


@pytest.mark.parametrize(
    ("q", "n"),
    [("128Mi", 134217728), ("1G", 10**9), ("1Gi", 2**30), ("1e3", 1000), ("0.5", 1), ("100m", 1),
     ("1", 1), ("1.5Ki", 1536), ("0", 0)],
)
def test_to_bytes(q: str, n: int) -> None:
    assert to_bytes(q) == n


def test_resource_lists() -> None:
    a = {"cpu": "500m", "memory": "128Mi"}
    b = {"cpu": "0.5", "nvidia.com/gpu": "1"}
    assert add_resources(a, b) == {
        "cpu": Fraction(1),
        "memory": Fraction(128 * 2**20),
        "nvidia.com/gpu": Fraction(1),
    }
    assert subtract_resources(a, b) == {
        "cpu": Fraction(0),
        "memory": Fraction(128 * 2**20),
        "nvidia.com/gpu": Fraction(-1),
    }
    assert max_resources({"cpu": "1", "memory": "1Gi"}, {"cpu": "2", "memory": "1Mi"}) == {
        "cpu": Fraction(2),
        "memory": Fraction(2**30),
    }
    assert add_resources(None, None) == {}
    assert parse_resources(None) == {}
    assert sum_resources([a, None, b, {"cpu": "1"}])["cpu"] == 2
    # inputs are not changed
    assert a == {"cpu": "500m", "memory": "128Mi"}


def test_insufficient_resources() -> None:
    free = {"cpu": "1", "memory": "1Gi", "pods": "110"}
    assert insufficient_resources({"cpu": "500m", "memory": "512Mi"}, free) == []
    assert insufficient_resources({"cpu": "1"}, free) == []
    assert insufficient_resources({"cpu": "1001m", "memory": "2Gi"}, free) == ["cpu", "memory"]
    assert insufficient_resources({"nvidia.com/gpu": "1"}, free) == ["nvidia.com/gpu"]
    assert insufficient_resources({"nvidia.com/gpu": "0"}, free) == []
    assert insufficient_resources(None, free) == []


def test_format_resources() -> None:
    total = add_resources({"cpu": "500m", "memory": "1Gi"}, {"cpu": "0.5", "memory": "1Gi"})
    assert format_resources(total) == {"cpu": "1", "memory": "2Gi"}
    assert format_resources({"cpu": Fraction(3, 2), "ephemeral-storage": 2**30, "pods": 110}) == {
        "cpu": "1500m",
        "ephemeral-storage": "1Gi",
        "pods": "110",
    }


@pytest.mark.parametrize(
    "text",
    ["500m", "0.5", "1Ki", "1.5Gi", "128Mi", "1G", "1e3", "1E3", "100u", "1n", "2", "0", ".5",
     "12345678901234567890", "1Ei", "7e-3", "-1", "1E", "0.001Ti", "3Pi", "999999999n"],
)
def test_agrees_with_official_client(text: str) -> None:
    """An independent parser (the official Python client's) gives the same exact values."""
    from kubernetes.utils.quantity import parse_quantity as official

    assert parse_quantity(text) == Fraction(official(text))
