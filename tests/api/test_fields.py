"""Field selectors: parsing, escaping, matching wire dicts, per-kind support."""

from __future__ import annotations

from typing import Any

import pytest

from api.fields import field_value, parse_field_selector, supported_fields
from api.labels import SelectorError

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web-1", "namespace": "default"},
    "spec": {"nodeName": "n1", "schedulerName": "default-scheduler", "containers": []},
    "status": {"phase": "Running"},
}
PENDING: dict[str, Any] = {
    "metadata": {"name": "web-2", "namespace": "default"},
    "spec": {"containers": []},
}
EVENT: dict[str, Any] = {
    "metadata": {"name": "web-1.abc", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default", "uid": "u1"},
    "source": {"component": "kubelet"},
    "reason": "Started",
    "type": "Normal",
}
NODE: dict[str, Any] = {"metadata": {"name": "n1"}, "spec": {}}
CORDONED: dict[str, Any] = {"metadata": {"name": "n2"}, "spec": {"unschedulable": True}}

CASES = [
    # (selector, object, matches)
    ("", POD, True),
    ("metadata.name=web-1", POD, True),
    ("metadata.name==web-1", POD, True),
    ("metadata.name!=web-1", POD, False),
    ("metadata.namespace=default", POD, True),
    ("spec.nodeName=n1", POD, True),
    ("spec.nodeName=n2", POD, False),
    ("spec.nodeName=", PENDING, True),  # unscheduled: a missing field is ""
    ("spec.nodeName!=", PENDING, False),
    ("spec.nodeName!=", POD, True),
    ("status.phase=Running", POD, True),
    ("status.phase!=Running", PENDING, True),
    ("status.phase!=Succeeded,status.phase!=Failed", POD, True),
    ("spec.nodeName=n1,status.phase=Running", POD, True),
    ("spec.nodeName=n1,status.phase=Pending", POD, False),
    ("spec.schedulerName=default-scheduler", POD, True),
    ("involvedObject.kind=Pod,involvedObject.name=web-1", EVENT, True),
    ("involvedObject.uid=u1", EVENT, True),
    ("involvedObject.namespace=other", EVENT, False),
    ("source=kubelet", EVENT, True),
    ("reason=Started,type=Normal", EVENT, True),
    ("spec.unschedulable=false", NODE, True),  # unset bool formats as "false", as in k8s
    ("spec.unschedulable=true", CORDONED, True),
    ("spec.unschedulable!=true", CORDONED, False),
]


@pytest.mark.parametrize(("text", "obj", "expected"), CASES)
def test_matches(text: str, obj: dict[str, Any], expected: bool) -> None:
    assert parse_field_selector(text).matches(obj) is expected


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("b=1,a=2", "a=2,b=1"),  # sorted, as Kubernetes does
        ("a==1", "a=1"),
        ("a!=1", "a!=1"),
        ("a=", "a="),
        (r"a=x\,y", r"a=x\,y"),
        (r"a=x\=y", r"a=x\=y"),
        (r"a=x\\y", r"a=x\\y"),
        ("a=x!y", "a=x!y"),
        (",a=1,", "a=1"),
    ],
)
def test_canonical_string(text: str, canonical: str) -> None:
    sel = parse_field_selector(text)
    assert str(sel) == canonical
    assert parse_field_selector(canonical) == sel


def test_escaped_values() -> None:
    sel = parse_field_selector(r"metadata.name=a\,b")
    assert sel.terms[0].value == "a,b"
    assert sel.matches({"metadata": {"name": "a,b"}})
    assert parse_field_selector(r"metadata.name=a\\b").terms[0].value == "a\\b"


@pytest.mark.parametrize(
    "text",
    ["a", "a=b=c", r"a=b\x", "a=b\\", "=b", "a=b,c", "metadata.name"],
)
def test_parse_errors(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_field_selector(text)


def test_unsupported_field_message() -> None:
    with pytest.raises(SelectorError) as info:
        parse_field_selector("foo=bar", "Pod")
    assert str(info.value) == "field label not supported: foo"
    with pytest.raises(SelectorError, match=r"field label not supported: spec\.nodeName"):
        parse_field_selector("spec.nodeName=n1", "Node")
    with pytest.raises(SelectorError, match=r"field label not supported: metadata\.name"):
        parse_field_selector("metadata.name=x", "NoSuchKind")
    # supported ones pass
    parse_field_selector("spec.nodeName=n1,status.phase!=Failed", "Pod")
    parse_field_selector("involvedObject.uid=x", "Event")
    parse_field_selector("spec.unschedulable=false", "Node")


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("Pod", {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase", "spec.schedulerName"}),
        ("Event", {"involvedObject.kind", "involvedObject.name", "involvedObject.namespace", "involvedObject.uid"}),
        ("Node", {"metadata.name", "spec.unschedulable"}),
        ("Deployment", {"metadata.name", "metadata.namespace"}),
        ("ReplicaSet", {"metadata.name", "metadata.namespace"}),
        ("Namespace", {"metadata.name", "status.phase"}),
        ("Lease", {"metadata.name", "metadata.namespace"}),
    ],
)
def test_supported_fields(kind: str, fields: set[str]) -> None:
    assert fields <= supported_fields(kind)
    assert "foo" not in supported_fields(kind)


def test_supported_fields_is_a_copy() -> None:
    supported_fields("Pod").add("x")
    assert "x" not in supported_fields("Pod")
    assert supported_fields("Nope") == set()


def test_requires_exact_match() -> None:
    sel = parse_field_selector("spec.nodeName=n1,status.phase!=Failed")
    assert sel.requires_exact_match("spec.nodeName") == "n1"
    assert sel.requires_exact_match("status.phase") is None
    assert parse_field_selector("").empty


def test_field_value_odd_shapes() -> None:
    assert field_value({"spec": "notadict"}, "spec.nodeName") == ""
    assert field_value({"status": {"phase": None}}, "status.phase") == ""
    assert field_value({"spec": {"hostNetwork": True}}, "spec.hostNetwork") == "true"
    assert field_value({}, "source") == ""
