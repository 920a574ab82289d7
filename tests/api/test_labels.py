"""Label selectors: the string grammar, canonical form, matching, LabelSelector objects."""

from __future__ import annotations

import pytest

from api.labels import (
    EVERYTHING,
    NOTHING,
    Requirement,
    Selector,
    SelectorError,
    from_label_selector,
    parse_selector,
    selector_from_set,
    to_label_selector,
    validate_label_key,
    validate_label_value,
)
from api.models import LabelSelector, LabelSelectorRequirement
from api.printers import format_label_selector

# (input, canonical string); Kubernetes' own round-trip cases plus ours.
ROUND_TRIP = [
    ("x=a,y=b,z=c", "x=a,y=b,z=c"),
    ("", ""),
    ("x!=a,y=b", "x!=a,y=b"),
    ("x=", "x="),
    ("x= ", "x="),
    ("x=,z= ", "x=,z="),
    ("!x", "!x"),
    ("x>1", "x>1"),
    ("x>1,z<5", "x>1,z<5"),
    ("x==y", "x==y"),
    ("z=1,a=2", "a=2,z=1"),
    ("env in (b,a,a)", "env in (a,b)"),
    ("x  notin\t\t(abc,def)", "x notin (abc,def)"),
    ("x in ()", "x in ()"),
    ("x in (abc,)", "x in (,abc)"),
    ("x notin (, a)", "x notin (,a)"),
    ("a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)"),
    ("\rx", "x"),
    ("a ", "a"),
    ("x,y", "x,y"),
    ("this-is-a-dns.domain.com/key-with-dash", "this-is-a-dns.domain.com/key-with-dash"),
    ("0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)", "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)"),
    (
        "app=web,tier!=db,env in (a,b),env notin (c),!legacy,exists,x==y",
        "app=web,env in (a,b),env notin (c),exists,!legacy,tier!=db,x==y",
    ),
]


@pytest.mark.parametrize(("text", "canonical"), ROUND_TRIP)
def test_canonical_string(text: str, canonical: str) -> None:
    sel = parse_selector(text)
    assert str(sel) == canonical
    # The canonical form is a fixed point.
    assert parse_selector(canonical) == sel
    assert str(parse_selector(canonical)) == canonical


def test_parse_is_deterministic() -> None:
    assert str(parse_selector("x=a,a=x")) == str(parse_selector("a=x,x=a"))


BAD = [
    "x=a||y=b",
    "x==a==b",
    "!x=a",
    "x<a",
    "x>",
    ",x,y",
    "x nott in (y)",
    "a in (xyz),",
    "a in (xyz)b notin ()",
    "a in (xyz abc)",
    "a notin(",
    "a (",
    "(",
    "x=a,",
    "in=a",
    "!",
    "x in",
    "x in a",
    "bad key=1",
    "-bad=1",
    "a=-bad",
    "a=" + "v" * 64,
    "k" * 64,
    "a/b/c=1",
    "/x=1",
    "Prefix.Upper/x=1",
]


@pytest.mark.parametrize("text", BAD)
def test_parse_errors(text: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_selector(text)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith("unable to parse requirement")


MATCH = [
    # (selector, labels, matches)
    ("", {}, True),
    ("", {"a": "b"}, True),
    ("x=y", {"x": "y"}, True),
    ("x=y", {"x": "y", "z": "w"}, True),
    ("x=y", {"x": "z"}, False),
    ("x=y", {}, False),
    ("x==y", {"x": "y"}, True),
    ("x!=y", {"x": "z"}, True),
    ("x!=y", {}, True),  # a missing label is "not equal"
    ("x!=y", {"x": "y"}, False),
    ("x", {"x": ""}, True),
    ("x", {"y": "z"}, False),
    ("!x", {"y": "z"}, True),
    ("!x", {"x": "z"}, False),
    ("x in (a,b)", {"x": "b"}, True),
    ("x in (a,b)", {"x": "c"}, False),
    ("x in (a,b)", {}, False),
    ("x notin (a,b)", {"x": "c"}, True),
    ("x notin (a,b)", {}, True),
    ("x notin (a,b)", {"x": "a"}, False),
    ("x in ()", {"x": ""}, True),
    ("x in ()", {"y": "baz"}, False),
    ("x>1", {"x": "2"}, True),
    ("x>1", {"x": "0"}, False),
    ("x>1", {"x": "v2"}, False),
    ("x>1", {}, False),
    ("x<1", {"x": "0"}, True),
    ("x<1", {"x": "2"}, False),
    ("foo=bar,baz=blah", {"foo": "bar", "baz": "blah"}, True),
    ("foo=bar,foobar=bar,baz=blah", {"foo": "bar", "baz": "blah"}, False),
    ("x notin (),y", {"y": ""}, True),
    ("x notin (),!y", {"y": ""}, False),
    ("app=web,tier!=db,env in (a,b),!legacy", {"app": "web", "env": "a"}, True),
    ("app=web,tier!=db,env in (a,b),!legacy", {"app": "web", "env": "a", "legacy": "1"}, False),
    ("app=web,tier!=db,env in (a,b),!legacy", {"app": "web", "env": "a", "tier": "db"}, False),
]


@pytest.mark.parametrize(("text", "labels", "expected"), MATCH)
def test_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_selector(text).matches(labels) is expected


def test_none_labels_are_empty() -> None:
    assert parse_selector("!x").matches(None)
    assert not parse_selector("x").matches(None)
    assert EVERYTHING.matches(None)


def test_empty_and_nothing() -> None:
    assert parse_selector("").empty
    assert EVERYTHING.empty and not EVERYTHING.matches_nothing
    assert not NOTHING.empty and NOTHING.matches_nothing
    assert not NOTHING.matches({})
    assert not NOTHING.matches({"a": "b"})
    assert not parse_selector("a").empty


LABEL_SELECTOR_CASES = [
    # (LabelSelector wire dict, canonical string, labels, matches)
    ({}, "", {"any": "thing"}, True),
    ({"matchLabels": {}}, "", {}, True),
    ({"matchLabels": {"app": "web"}}, "app=web", {"app": "web"}, True),
    ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2", {"a": "1", "b": "2"}, True),
    (
        {"matchExpressions": [{"key": "env", "operator": "In", "values": ["b", "a"]}]},
        "env in (a,b)",
        {"env": "a"},
        True,
    ),
    (
        {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]},
        "env notin (prod)",
        {},
        True,
    ),
    ({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, "gpu", {"gpu": ""}, True),
    (
        {"matchExpressions": [{"key": "legacy", "operator": "DoesNotExist"}]},
        "!legacy",
        {"legacy": "x"},
        False,
    ),
    (
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}],
        },
        "app=web,tier in (fe)",
        {"app": "web", "tier": "be"},
        False,
    ),
]


@pytest.mark.parametrize(("wire", "canonical", "labels", "expected"), LABEL_SELECTOR_CASES)
def test_from_label_selector(
    wire: dict[str, object], canonical: str, labels: dict[str, str], expected: bool
) -> None:
    for source in (wire, LabelSelector.from_dict(wire)):
        sel = from_label_selector(source)  # type: ignore[arg-type]
        assert str(sel) == canonical
        assert sel.matches(labels) is expected
        assert not sel.matches_nothing


def test_nil_label_selector_matches_nothing() -> None:
    sel = from_label_selector(None)
    assert sel.matches_nothing
    assert not sel.matches({})
    assert not sel.matches({"app": "web"})


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ({"key": "a", "operator": "Foo", "values": ["x"]}, '"Foo" is not a valid label selector operator'),
        ({"key": "a", "operator": "In", "values": []}, "values set can't be empty"),
        ({"key": "a", "operator": "NotIn"}, "values set can't be empty"),
        ({"key": "a", "operator": "Exists", "values": ["x"]}, "values set must be empty"),
        ({"key": "bad key", "operator": "Exists"}, "invalid label key"),
        ({"key": "a", "operator": "In", "values": ["-x"]}, "invalid label value"),
    ],
)
def test_from_label_selector_errors(expr: dict[str, object], message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        from_label_selector({"matchExpressions": [expr]})


def test_selector_from_set() -> None:
    assert selector_from_set(None) == EVERYTHING
    assert selector_from_set({}).empty
    sel = selector_from_set({"foo": "bar", "baz": "blah"})
    assert str(sel) == "baz=blah,foo=bar"
    assert sel.matches({"foo": "bar", "baz": "blah", "x": "y"})
    assert not sel.matches({"foo": "bar"})
    with pytest.raises(SelectorError):
        selector_from_set({"foo": "=blah"})


def test_to_label_selector_round_trip() -> None:
    sel = parse_selector("app=web,env in (a,b),!legacy,gpu,tier!=db")
    ls = to_label_selector(sel)
    assert ls.match_labels == {"app": "web"}
    back = from_label_selector(ls)
    for labels in ({"app": "web", "env": "a", "gpu": ""}, {"app": "web", "env": "a"},
                   {"app": "web", "env": "a", "gpu": "", "tier": "db"}):
        assert back.matches(labels) == sel.matches(labels)


def test_requires_exact_match_and_add() -> None:
    sel = parse_selector("app=web,env in (prod),x in (a,b)")
    assert sel.requires_exact_match("app") == "web"
    assert sel.requires_exact_match("env") == "prod"
    assert sel.requires_exact_match("x") is None
    assert sel.requires_exact_match("missing") is None
    more = sel.add(Requirement.make("a", "exists"))
    assert str(more) == "a,app=web,env in (prod),x in (a,b)"
    assert str(sel) == "app=web,env in (prod),x in (a,b)"  # immutable


def test_selector_is_hashable_and_comparable() -> None:
    assert {parse_selector("a=1,b=2"), parse_selector("b=2,a=1")} == {parse_selector("a=1,b=2")}
    assert parse_selector("a") != NOTHING
    assert Selector() == EVERYTHING
    assert repr(NOTHING) == "Selector(<nothing>)"


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("app", True),
        ("a", True),
        ("MyName", True),
        ("my.name", True),
        ("123-abc", True),
        ("example.com/MyName", True),
        ("app.kubernetes.io/name", True),
        ("", False),
        ("-a", False),
        ("a-", False),
        ("a b", False),
        ("/a", False),
        ("a/", False),
        ("a/b/c", False),
        ("Example.com/a", False),
        ("k" * 63, True),
        ("k" * 64, False),
        ("p" * 253 + "/k", True),
        ("p" * 254 + "/k", False),
    ],
)
def test_validate_label_key(key: str, ok: bool) -> None:
    assert (validate_label_key(key) == []) is ok


def test_label_key_messages_are_kubernetes() -> None:
    assert validate_label_key("a b") == [
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
        "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
        "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    ]
    assert validate_label_key("/a") == ["prefix part must be non-empty"]
    assert validate_label_key("k" * 64)[0] == "name part must be no more than 63 characters"


@pytest.mark.parametrize(
    ("value", "ok"),
    [("", True), ("v", True), ("MyValue", True), ("my_value", True), ("1.2-3", True),
     ("-v", False), ("v-", False), ("a b", False), ("a/b", False), ("v" * 63, True), ("v" * 64, False)],
)
def test_validate_label_value(value: str, ok: bool) -> None:
    assert (validate_label_value(value) == []) is ok


def test_model_selector_requirement_input() -> None:
    ls = LabelSelector(
        match_expressions=[LabelSelectorRequirement(key="a", operator="In", values=["1"])]
    )
    assert str(from_label_selector(ls)) == "a in (1)"


def test_format_label_selector_is_kubectls() -> None:
    sel = {"matchLabels": {"tier": "web", "app": "x"},
           "matchExpressions": [{"key": "env", "operator": "In", "values": ["b", "a"]},
                                {"key": "legacy", "operator": "DoesNotExist"}]}
    # LabelSelectorAsSelector(...).String(): every requirement sorted by key.
    assert format_label_selector(sel) == "app=x,env in (a,b),!legacy,tier=web"
    assert format_label_selector(None) == "<none>"
    assert format_label_selector({}) == "<none>"
    assert format_label_selector({"matchExpressions": [{"key": "a", "operator": "Near"}]}) \
        == "<error>"
