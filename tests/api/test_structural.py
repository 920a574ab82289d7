"""Structural schemas: the CRD schema's own validation, pruning, defaulting, value
validation and CEL rules, with cases and messages from Kubernetes' tests
(apiextensions-apiserver schema/validation_test.go, pruning/algorithm_test.go,
defaulting/algorithm_test.go, listtype/validation_test.go, cel/validation_test.go)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from api.structural import Structural, validate_crd_schema

P = "spec.validation.openAPIV3Schema"


def texts(errs: list[Any]) -> list[str]:
    return [str(e) for e in errs]


def obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


# ---- validate_crd_schema ---------------------------------------------------------

SCHEMA_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("minimal", {"type": "object"}, []),
    ("root type empty", {"properties": {"a": {"type": "string"}}},
     [f"{P}.type: Required value: must not be empty at the root"]),
    ("root not object", {"type": "string"},
     [f'{P}.type: Invalid value: "string": must be object at the root']),
    ("field type empty", obj(a={}),
     [f"{P}.properties[a].type: Required value: must not be empty for specified object "
      "fields"]),
    ("item type empty", obj(a={"type": "array", "items": {}}),
     [f"{P}.properties[a].items.type: Required value: must not be empty for specified "
      "array items"]),
    ("array without items", obj(a={"type": "array"}),
     [f"{P}.properties[a].items: Required value: must be specified"]),
    ("preserve unknown without type ok", obj(a={"x-kubernetes-preserve-unknown-fields": True}),
     []),
    ("int-or-string ok", obj(a={"x-kubernetes-int-or-string": True,
                                "anyOf": [{"type": "integer"}, {"type": "string"}]}), []),
    ("null type", obj(a={"type": "null"}),
     [f'{P}.properties[a].type: Unsupported value: "null": supported values: "array", '
      '"boolean", "integer", "number", "object", "string"',
      f"{P}.properties[a].type: Forbidden: type cannot be set to null, use nullable as an "
      "alternative"]),
    ("uniqueItems", obj(a={"type": "array", "items": {"type": "string"},
                           "uniqueItems": True}),
     [f"{P}.properties[a].uniqueItems: Forbidden: uniqueItems cannot be set to true since "
      "the runtime complexity becomes quadratic"]),
    ("additionalProperties with properties",
     obj(a={"type": "object", "properties": {"b": {"type": "string"}},
            "additionalProperties": {"type": "string"}}),
     [f"{P}.properties[a].additionalProperties: Forbidden: additionalProperties and "
      "properties are mutual exclusive"]),
    ("additionalProperties at root",
     {"type": "object", "additionalProperties": {"type": "string"}},
     [f"{P}.additionalProperties: Forbidden: must not be used at the root"]),
    ("$ref", obj(a={"$ref": "#/x"}),
     [f"{P}.properties[a].$ref: Forbidden: $ref is not supported",
      f"{P}.properties[a].type: Required value: must not be empty for specified object "
      "fields"]),
    ("metadata beyond name", obj(metadata={"type": "object", "properties": {
        "labels": {"type": "object"}}}),
     [f"{P}.properties[metadata]: Forbidden: must not specify anything other than name and "
      "generateName, but metadata is implicitly specified"]),
    ("metadata name only", obj(metadata={"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 10}}}), []),
    ("kind not string", obj(kind={"type": "integer"}),
     [f'{P}.properties[kind].type: Invalid value: "integer": must be string']),
    ("embedded needs object", obj(a={"x-kubernetes-embedded-resource": True,
                                     "x-kubernetes-preserve-unknown-fields": True}),
     [f"{P}.properties[a].type: Required value: must be object if "
      "x-kubernetes-embedded-resource is true"]),
    ("embedded needs properties", obj(a={"type": "object",
                                         "x-kubernetes-embedded-resource": True}),
     [f"{P}.properties[a].properties: Required value: must not be empty if "
      "x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"]),
    ("preserve false", obj(a={"type": "object",
                              "x-kubernetes-preserve-unknown-fields": False}),
     [f"{P}.properties[a].x-kubernetes-preserve-unknown-fields: Invalid value: false: must "
      "be true or undefined"]),
    ("nested type", obj(a={"type": "string", "anyOf": [{"type": "string"}]}),
     [f"{P}.properties[a].anyOf[0].type: Forbidden: must be empty to be structural"]),
    ("nested default", obj(a={"type": "string", "allOf": [{"default": "x"}]}),
     [f"{P}.properties[a].allOf[0].default: Forbidden: must be undefined to be structural"]),
    ("nested metadata", obj(a={"type": "object", "anyOf": [{"properties": {
        "metadata": {}}}]}),
     [f"{P}.properties[a].anyOf[0].properties[metadata]: Forbidden: must not be specified "
      "in a nested context"]),
    ("bad pattern", obj(a={"type": "string", "pattern": "(?<=a)b"}),
     [f'{P}.properties[a].pattern: Invalid value: "(?<=a)b": must be a valid regular '
      "expression, but isn't: error parsing regexp: invalid perl operator: (?<="]),
    ("list-type on non-array", obj(a={"type": "object", "x-kubernetes-list-type": "set"}),
     [f'{P}.properties[a].type: Invalid value: "object": must be array if '
      "x-kubernetes-list-type is specified"]),
    ("list-type unknown", obj(a={"type": "array", "items": {"type": "string"},
                                 "x-kubernetes-list-type": "bag"}),
     [f'{P}.properties[a].x-kubernetes-list-type: Unsupported value: "bag": supported '
      'values: "atomic", "set", "map"']),
    ("list-type map without keys", obj(a={"type": "array", "x-kubernetes-list-type": "map",
                                          "items": {"type": "object"}}),
     [f"{P}.properties[a].x-kubernetes-list-map-keys: Required value: must not be empty if "
      "x-kubernetes-list-type is map"]),
    ("list-map key not a property", obj(a={
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
        "items": {"type": "object", "properties": {"n": {"type": "string"}}}}),
     [f'{P}.properties[a].x-kubernetes-list-map-keys: Invalid value: ["k"]: entries must '
      "all be names of item properties"]),
    ("list-map key not required", obj(a={
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
        "items": {"type": "object", "properties": {"k": {"type": "string"}}}}),
     [f"{P}.properties[a].items.properties[k].default: Required value: this property is in "
      "x-kubernetes-list-map-keys, so it must have a default or be a required property"]),
    ("list-map keys without map", obj(a={"type": "array", "items": {"type": "string"},
                                         "x-kubernetes-list-map-keys": ["k"]}),
     [f"{P}.properties[a].x-kubernetes-list-type: Required value: must be map if "
      "x-kubernetes-list-map-keys is non-empty"]),
    ("set of granular objects", obj(a={
        "type": "array", "x-kubernetes-list-type": "set",
        "items": {"type": "object", "properties": {"k": {"type": "string"}}}}),
     [f'{P}.properties[a].items.x-kubernetes-map-type: Invalid value: "": must be atomic as '
      "item of a list with x-kubernetes-list-type=set"]),
    ("map-type unknown", obj(a={"type": "object", "x-kubernetes-map-type": "deep"}),
     [f'{P}.properties[a].x-kubernetes-map-type: Unsupported value: "deep": supported '
      'values: "atomic", "granular"']),
    ("default wrong type", obj(a={"type": "integer", "default": "x"}),
     [f'{P}.properties[a].default: Invalid value: "string":  in body must be of type '
      'integer: "string"']),
    ("default unknown field", obj(a={"type": "object", "properties": {"b": {
        "type": "string"}}, "default": {"c": 1}}),
     [f'{P}.properties[a].default: Invalid value: {{"c":1}}: must not have unknown fields']),
    ("default in metadata", obj(metadata={"type": "object", "properties": {
        "name": {"type": "string", "default": "x"}}}),
     [f"{P}.properties[metadata].properties[name].default: Forbidden: must not be set in "
      "top-level metadata"]),
    ("default in metadata's additionalProperties of an embedded resource", obj(e={
        "type": "object", "x-kubernetes-embedded-resource": True, "properties": {
            "metadata": {"type": "object", "properties": {"labels": {
                "type": "object", "additionalProperties": {"type": "string",
                                                           "default": "x"}}}}}}),
     [f"{P}.properties[e].properties[metadata].properties[labels].additionalProperties."
      "default: Forbidden: must not be set inside additionalProperties applying to object "
      "metadata"]),
    ("embedded inside metadata", obj(e={
        "type": "object", "x-kubernetes-embedded-resource": True, "properties": {
            "metadata": {"type": "object", "properties": {"x": {
                "type": "object", "x-kubernetes-embedded-resource": True,
                "x-kubernetes-preserve-unknown-fields": True}}}}}),
     [f"{P}.properties[e].properties[metadata].properties[x].x-kubernetes-embedded-resource:"
      " Forbidden: must not be used inside of resource meta"]),
    ("nullable set items", obj(a={"type": "array", "x-kubernetes-list-type": "set",
                                  "items": {"type": "string", "nullable": True}}),
     [f"{P}.properties[a].items.nullable: Forbidden: cannot be nullable when "
      "x-kubernetes-list-type is set"]),
    ("value validation names an unspecified field", {
        "type": "object", "properties": {"a": {"type": "string"}},
        "anyOf": [{"properties": {"b": {"pattern": "x"}}}]},
     [f"{P}.properties[b]: Required value: because it is defined in {P}.anyOf[0]"
      ".properties[b]"]),
    ("$ref in a junctor", obj(a={"type": "string", "allOf": [{"$ref": "#/x"}]}),
     [f"{P}.properties[a].allOf[0].$ref: Forbidden: $ref is not supported"]),
    ("rules not compiled under schema errors", obj(a={
        "type": "object", "properties": {"b": {}},
        "x-kubernetes-validations": [{"rule": "self.nope"}]}),
     [f"{P}.properties[a].properties[b].type: Required value: must not be empty for "
      "specified object fields"]),
    ("rule missing", obj(a={"type": "string", "x-kubernetes-validations": [{"rule": ""}]}),
     [f"{P}.properties[a].x-kubernetes-validations[0].rule: Required value: rule is not "
      "specified"]),
    ("rule reason", obj(a={"type": "string", "x-kubernetes-validations": [
        {"rule": "true", "reason": "Nope"}]}),
     [f'{P}.properties[a].x-kubernetes-validations[0].reason: Unsupported value: "Nope": '
      'supported values: "FieldValueDuplicate", "FieldValueForbidden", '
      '"FieldValueInvalid", "FieldValueRequired"']),
    ("rule fieldPath", obj(a={"type": "object", "properties": {"b": {"type": "string"}},
                              "x-kubernetes-validations": [
                                  {"rule": "true", "fieldPath": ".c"}]}),
     [f'{P}.properties[a].x-kubernetes-validations[0].fieldPath: Invalid value: ".c": '
      "fieldPath must be a valid path"]),
    ("oldSelf in a set", obj(a={"type": "array", "items": {
        "type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf"}]}}),
     [f'{P}.properties[a].items.x-kubernetes-validations[0].rule: Invalid value: "self == '
      'oldSelf": oldSelf cannot be used on the uncorrelatable portion of the schema within '
      f"{P}.properties[a]"]),
]


@pytest.mark.parametrize("name,schema,want", SCHEMA_CASES, ids=[c[0] for c in SCHEMA_CASES])
def test_validate_crd_schema(name: str, schema: dict[str, Any], want: list[str]) -> None:
    assert sorted(texts(validate_crd_schema(schema, P))) == sorted(want)


def test_rule_compile_error_reported() -> None:
    errs = validate_crd_schema(obj(a={"type": "string", "x-kubernetes-validations": [
        {"rule": "self +"}]}), P)
    assert len(errs) == 1
    e = errs[0]
    assert e.field == f"{P}.properties[a].x-kubernetes-validations[0].rule"
    assert e.type == "FieldValueInvalid"
    assert e.value == {"rule": "self +"}  # Kubernetes shows the whole ValidationRule
    assert e.message.startswith("compilation failed: ")


def test_schema_never_raises_on_junk() -> None:
    for junk in (None, 1, "x", [], {"type": 1}, {"properties": []}, {"items": 3},
                 {"type": "object", "properties": {"a": None}},
                 {"type": "object", "x-kubernetes-validations": "x"},
                 {"type": "object", "x-kubernetes-validations": [1, {"rule": 3}]}):
        assert isinstance(validate_crd_schema(junk, P), list)
        Structural.compile(junk)


# ---- pruning (pruning/algorithm_test.go) --------------------------------------------

PRUNE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], list[str]]] = [
    ("empty schema prunes everything but apiVersion/kind/metadata", {"type": "object"},
     {"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "x"}, "spec": {"a": 1}},
     {"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "x"}}, ["spec"]),
    ("nested unknown", obj(spec=obj(a={"type": "integer"})),
     {"spec": {"a": 1, "b": 2, "c": {"d": 1}}}, {"spec": {"a": 1}}, ["spec.b", "spec.c"]),
    ("list items", obj(l={"type": "array", "items": obj(a={"type": "string"})}),
     {"l": [{"a": "x", "b": 1}, {"c": 2}]}, {"l": [{"a": "x"}, {}]}, ["l[0].b", "l[1].c"]),
    ("additionalProperties", obj(m={"type": "object", "additionalProperties": obj(
        a={"type": "string"})}),
     {"m": {"k": {"a": "x", "b": 1}}}, {"m": {"k": {"a": "x"}}}, ["m.k.b"]),
    ("preserve unknown keeps, prunes specified", obj(p={
        "type": "object", "x-kubernetes-preserve-unknown-fields": True,
        "properties": {"s": obj(a={"type": "string"})}}),
     {"p": {"x": {"y": 1}, "s": {"a": "1", "b": 2}}},
     {"p": {"x": {"y": 1}, "s": {"a": "1"}}}, ["p.s.b"]),
    ("root preserve", {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
     {"a": {"b": 1}}, {"a": {"b": 1}}, []),
    ("embedded keeps apiVersion/kind/metadata, prunes its metadata", obj(e={
        "type": "object", "x-kubernetes-embedded-resource": True,
        "properties": {"spec": {"type": "string"}}}),
     {"e": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "x": 1},
            "spec": "s", "status": 1}},
     {"e": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "spec": "s"}},
     ["e.metadata.x", "e.status"]),
    ("root metadata unknown field", {"type": "object"},
     {"metadata": {"name": "a", "bogus": True}}, {"metadata": {"name": "a"}},
     ["metadata.bogus"]),
    ("non-string kind at root pruned silently", {"type": "object"},
     {"kind": 1, "apiVersion": "v1"}, {"apiVersion": "v1"}, []),
]


@pytest.mark.parametrize("name,schema,before,after,paths", PRUNE_CASES,
                         ids=[c[0] for c in PRUNE_CASES])
def test_prune(name: str, schema: dict[str, Any], before: dict[str, Any],
               after: dict[str, Any], paths: list[str]) -> None:
    o = copy.deepcopy(before)
    got = Structural.compile(schema).prune(o)
    assert o == after
    assert sorted(got) == sorted(paths)


# ---- defaulting (defaulting/algorithm_test.go) --------------------------------------

DEFAULT_SCHEMA = obj(
    a={"type": "string", "default": "A"},
    b=obj(c={"type": "integer", "default": 1}, d={"type": "string"}),
    n={"type": "string", "nullable": True, "default": "N"},
    z={"type": "string", "default": "Z"},
    l={"type": "array", "items": obj(x={"type": "string", "default": "X"})},
    i={"type": "array", "items": {"type": "string", "default": "I"}},
    m={"type": "object", "additionalProperties": {"type": "string", "default": "M"}},
    o={"type": "object", "default": {}, "properties": {"p": {"type": "string",
                                                              "default": "P"}}},
)


def test_default() -> None:
    s = Structural.compile(DEFAULT_SCHEMA)
    o: dict[str, Any] = {"b": {}, "n": None, "z": None, "l": [{}, {"x": "y"}],
                         "i": ["a", None], "m": {"k": None, "j": "v"}}
    s.default(o)
    assert o == {"a": "A", "b": {"c": 1}, "n": None, "z": "Z",
                 "l": [{"x": "X"}, {"x": "y"}], "i": ["a", "I"],
                 "m": {"k": "M", "j": "v"}, "o": {"p": "P"}}


def test_default_is_a_copy() -> None:
    s = Structural.compile(obj(o={"type": "object", "default": {"k": ["v"]},
                                  "properties": {"k": {"type": "array",
                                                       "items": {"type": "string"}}}}))
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    s.default(a)
    a["o"]["k"].append("w")
    s.default(b)
    assert b == {"o": {"k": ["v"]}}


# ---- value validation ---------------------------------------------------------------

def check(schema: dict[str, Any], value: Any, old: Any = None) -> list[str]:
    return texts(Structural.compile(schema).validate(value, old))


VALUE_CASES: list[tuple[str, dict[str, Any], Any, list[str]]] = [
    ("type", obj(r={"type": "integer"}), {"r": "x"},
     ['r: Invalid value: "string": r in body must be of type integer: "string"']),
    ("integral float is an integer", obj(r={"type": "integer"}), {"r": 3.0}, []),
    ("bool is not an integer", obj(r={"type": "integer"}), {"r": True},
     ['r: Invalid value: "boolean": r in body must be of type integer: "boolean"']),
    ("null not nullable", obj(r={"type": "string"}), {"r": None},
     ['r: Invalid value: "null": r in body must be of type string: "null"']),
    ("null nullable", obj(r={"type": "string", "nullable": True}), {"r": None}, []),
    ("required", obj(spec={"type": "object", "required": ["a", "b"],
                           "properties": {"a": {"type": "string"}}}), {"spec": {"a": "x"}},
     ["spec.b: Required value"]),
    ("enum", obj(e={"type": "string", "enum": ["a", "b"]}), {"e": "x"},
     ['e: Unsupported value: "x": supported values: "a", "b"']),
    ("enum numbers", obj(e={"type": "integer", "enum": [1, 2]}), {"e": 3},
     ['e: Unsupported value: 3: supported values: "1", "2"']),
    ("pattern", obj(s={"type": "string", "pattern": "^[a-z]+$"}), {"s": "A1"},
     ["s: Invalid value: \"A1\": s in body should match '^[a-z]+$'"]),
    ("minLength", obj(s={"type": "string", "minLength": 3}), {"s": "ab"},
     ['s: Invalid value: "ab": s in body should be at least 3 chars long']),
    ("maxLength", obj(s={"type": "string", "maxLength": 3}), {"s": "abcd"},
     ["s: Too long: may not be more than 3 bytes"]),
    ("maxLength counts characters", obj(s={"type": "string", "maxLength": 2}),
     {"s": "éé"}, []),
    ("minimum", obj(n={"type": "integer", "minimum": 1}), {"n": 0},
     ["n: Invalid value: 0: n in body should be greater than or equal to 1"]),
    ("exclusiveMinimum", obj(n={"type": "number", "minimum": 1, "exclusiveMinimum": True}),
     {"n": 1}, ["n: Invalid value: 1: n in body should be greater than 1"]),
    ("maximum", obj(n={"type": "number", "maximum": 1.5}), {"n": 2},
     ["n: Invalid value: 2: n in body should be less than or equal to 1.5"]),
    ("exclusiveMaximum", obj(n={"type": "integer", "maximum": 10,
                                "exclusiveMaximum": True}), {"n": 10},
     ["n: Invalid value: 10: n in body should be less than 10"]),
    ("multipleOf", obj(n={"type": "integer", "multipleOf": 5}), {"n": 7},
     ["n: Invalid value: 7: n in body should be a multiple of 5"]),
    ("minItems", obj(l={"type": "array", "items": {"type": "string"}, "minItems": 2}),
     {"l": ["a"]}, ["l: Invalid value: 1: l in body should have at least 2 items"]),
    ("maxItems", obj(l={"type": "array", "items": {"type": "string"}, "maxItems": 1}),
     {"l": ["a", "b"]}, ["l: Too many: 2: must have at most 1 items"]),
    ("uniqueItems", obj(l={"type": "array", "items": {"type": "integer"},
                           "uniqueItems": True}), {"l": [1, 2, 1]},
     ['l: Invalid value: "": l in body shouldn\'t contain duplicates']),
    ("minProperties", obj(m={"type": "object", "minProperties": 2,
                             "additionalProperties": {"type": "string"}}), {"m": {"a": "b"}},
     ["m: Invalid value: 2: m in body should have at least 2 properties"]),
    ("maxProperties", obj(m={"type": "object", "maxProperties": 1,
                             "additionalProperties": {"type": "string"}}),
     {"m": {"a": "b", "c": "d"}}, ["m: Too many: 2: must have at most 1 items"]),
    ("item path", obj(l={"type": "array", "items": obj(n={"type": "integer"})}),
     {"l": [{"n": 1}, {"n": "x"}]},
     ['l[1].n: Invalid value: "string": l[1].n in body must be of type integer: "string"']),
    ("format date-time", obj(t={"type": "string", "format": "date-time"}), {"t": "yesterday"},
     ['t: Invalid value: "yesterday": t in body must be of type date-time: "yesterday"']),
    ("format date-time ok", obj(t={"type": "string", "format": "date-time"}),
     {"t": "2024-01-02T03:04:05Z"}, []),
    ("format byte", obj(t={"type": "string", "format": "byte"}), {"t": "!!"},
     ['t: Invalid value: "!!": t in body must be of type byte: "!!"']),
    ("format date", obj(t={"type": "string", "format": "date"}), {"t": "2024-02-30"},
     ['t: Invalid value: "2024-02-30": t in body must be of type date: "2024-02-30"']),
    ("format uuid ipv4 ok", obj(u={"type": "string", "format": "uuid"},
                                i={"type": "string", "format": "ipv4"}),
     {"u": "0f8fad5b-d9cb-469f-a165-70867728950e", "i": "10.0.0.1"}, []),
    ("unknown format passes", obj(u={"type": "string", "format": "whatever"}), {"u": "x"}, []),
    ("int-or-string", obj(p={"x-kubernetes-int-or-string": True,
                             "anyOf": [{"type": "integer"}, {"type": "string"}]}),
     {"p": 1.5}, ['"p" must validate at least one schema (anyOf)',
                  'p: Invalid value: "number": p in body must be of type integer: "number"']),
    ("int-or-string ok", obj(p={"x-kubernetes-int-or-string": True}), {"p": "50%"}, []),
    ("oneOf none", obj(p={"type": "string", "oneOf": [{"pattern": "^a"}, {"pattern": "^b"}]}),
     {"p": "c"}, ['"p" must validate one and only one schema (oneOf). Found none valid',
                  "p: Invalid value: \"c\": p in body should match '^a'"]),
    ("not", obj(p={"type": "string", "not": {"enum": ["x"]}}), {"p": "x"},
     ['"p" must not validate the schema (not)']),
    ("embedded apiVersion/kind required", obj(e={
        "type": "object", "x-kubernetes-embedded-resource": True,
        "x-kubernetes-preserve-unknown-fields": True}), {"e": {"metadata": {"name": "A"}}},
     ["e.apiVersion: Required value: must not be empty",
      "e.kind: Required value: must not be empty",
      'e.metadata.name: Invalid value: "A": a lowercase RFC 1123 subdomain must consist of '
      "lower case alphanumeric characters, '-' or '.', and must start and end with an "
      "alphanumeric character (e.g. 'example.com', regex used for validation is "
      "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"]),
    ("list set duplicate", obj(s={"type": "array", "x-kubernetes-list-type": "set",
                                  "items": {"type": "string"}}), {"s": ["a", "b", "a", "a"]},
     ['s[2]: Duplicate value: "a"']),
    ("list map duplicate", obj(m={
        "type": "array", "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name", "proto"],
        "items": obj(name={"type": "string"}, proto={"type": "string"})}),
     {"m": [{"name": "a", "proto": "TCP"}, {"name": "a", "proto": "UDP"},
            {"name": "a", "proto": "TCP"}]},
     ['m[2]: Duplicate value: {"name":"a","proto":"TCP"}']),
]


@pytest.mark.parametrize("name,schema,value,want", VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_validate(name: str, schema: dict[str, Any], value: Any, want: list[str]) -> None:
    got = check(schema, value)
    assert [g.removeprefix("<nil>: Invalid value: \"\": ") for g in got] == want


def test_errors_are_field_errors_with_causes() -> None:
    errs = Structural.compile(obj(r={"type": "integer"})).validate({"r": "x"})
    assert errs[0].to_cause() == {
        "reason": "FieldValueTypeInvalid", "field": "r",
        "message": 'Invalid value: "string": r in body must be of type integer: "string"'}


# ---- CEL ----------------------------------------------------------------------------

CEL_SCHEMA = obj(spec={
    "type": "object",
    "properties": {
        "replicas": {"type": "integer"},
        "max": {"type": "integer"},
        "name": {"type": "string"},
        "ratio": {"type": "number"},
        "dash-name": {"type": "string"},
        "mode": {"type": "string",
                 "x-kubernetes-validations": [{"rule": "self == oldSelf",
                                               "message": "mode is immutable"}]},
        "items": {"type": "array", "items": {"type": "string"}},
    },
    "x-kubernetes-validations": [
        {"rule": "self.replicas <= self.max", "message": "replicas must not exceed max"},
        {"rule": "!has(self.name) || self.name.startsWith('a')"},
        {"rule": "!has(self.ratio) || self.ratio < 1.0",
         "messageExpression": "'ratio ' + string(self.ratio) + ' too big'"},
        {"rule": "self.items.all(i, i.size() < 4)", "reason": "FieldValueForbidden",
         "fieldPath": ".items"},
        {"rule": "!has(self.dash__dash__name) || self.dash__dash__name.lowerAscii() == "
                 "self.dash__dash__name", "message": "lower case"},
    ],
})


def test_cel_passes() -> None:
    assert check(CEL_SCHEMA, {"spec": {"replicas": 1, "max": 2, "name": "abc", "ratio": 0,
                                       "items": ["a"], "dash-name": "x"}}) == []


def test_cel_failures() -> None:
    got = check(CEL_SCHEMA, {"spec": {"replicas": 3, "max": 2, "name": "b", "ratio": 2,
                                      "items": ["a", "bbbbb"], "dash-name": "X"}})
    assert got == [
        'spec: Invalid value: "object": replicas must not exceed max',
        "spec: Invalid value: \"object\": failed rule: !has(self.name) || "
        "self.name.startsWith('a')",
        'spec: Invalid value: "object": ratio 2.0 too big',
        "spec.items: Forbidden: failed rule: self.items.all(i, i.size() < 4)",
        'spec: Invalid value: "object": lower case',
    ]


def test_cel_transition_rule() -> None:
    new = {"spec": {"replicas": 1, "max": 1, "items": [], "mode": "b"}}
    assert check(CEL_SCHEMA, new) == []  # create: no oldSelf, the rule is skipped
    assert check(CEL_SCHEMA, new, {"spec": {"mode": "b"}}) == []
    assert check(CEL_SCHEMA, new, {"spec": {"mode": "a"}}) == [
        'spec.mode: Invalid value: "string": mode is immutable']


def test_cel_not_run_after_blocking_errors() -> None:
    got = check(CEL_SCHEMA, {"spec": {"replicas": "x", "max": 2, "items": []}})
    assert got == [
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type '
        'integer: "string"',
        '<nil>: Invalid value: "null": some validation rules were not checked because the '
        "object was invalid; correct the existing errors to complete validation"]


def test_cel_evaluation_error() -> None:
    got = check(obj(spec=obj(a={"type": "integer"}, x_v={"type": "integer"})) | {
        "x-kubernetes-validations": [{"rule": "self.spec.a > 0"}]}, {"spec": {}})
    assert len(got) == 1 and "evaluating rule: self.spec.a > 0" in got[0]


def test_cel_hostile_rule_is_bounded() -> None:
    import time

    schema = obj(l={"type": "array", "items": {"type": "integer"},
                    "x-kubernetes-validations": [
                        {"rule": "self.all(a, self.all(b, self.all(c, a + b + c >= 0)))"}]})
    s = Structural.compile(schema)
    t = time.monotonic()
    got = texts(s.validate({"l": list(range(300))}))
    assert time.monotonic() - t < 5
    assert got and ("call cost exceeds limit" in got[0] or "running out of cost budget"
                    in got[0])


def test_list_and_map_types() -> None:
    s = Structural.compile(obj(spec=obj(
        ports={"type": "array", "x-kubernetes-list-type": "map",
               "x-kubernetes-list-map-keys": ["port", "protocol"],
               "items": obj(port={"type": "integer"}, protocol={"type": "string"},
                            tags={"type": "array", "x-kubernetes-list-type": "set",
                                  "items": {"type": "string"}})},
        args={"type": "array", "items": {"type": "string"}},
        sel={"type": "object", "x-kubernetes-map-type": "atomic",
             "additionalProperties": {"type": "string"}},
        labels={"type": "object", "additionalProperties": {"type": "string"}},
    )))
    assert s.list_type(("spec", "ports")) == ("map", ["port", "protocol"])
    assert s.list_type(("spec", "ports", "tags")) == ("set", [])
    assert s.list_type(("spec", "args")) == ("atomic", [])
    assert s.list_type(("spec",)) is None
    assert s.list_type(("spec", "nope")) is None
    assert s.map_type(("spec", "sel")) == "atomic"
    assert s.map_type(("spec", "labels")) == "granular"
    assert s.map_type(("spec", "args")) is None


def test_whole_flow_on_a_custom_object() -> None:
    schema = obj(spec={"type": "object", "required": ["size"], "properties": {
        "size": {"type": "integer", "minimum": 1, "default": 1},
        "color": {"type": "string", "enum": ["red", "blue"], "default": "red"}}})
    assert validate_crd_schema(schema, P) == []
    s = Structural.compile(schema)
    o = json.loads('{"apiVersion":"e.com/v1","kind":"W","metadata":{"name":"w"},'
                   '"spec":{"junk":1}}')
    assert s.prune(o) == ["spec.junk"]
    s.default(o)
    assert o["spec"] == {"size": 1, "color": "red"}
    assert s.validate(o) == []


# ---- never raises on any JSON value (bounded property test) -------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
            | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8))
json_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["spec", "a", "l", "m", "metadata", "kind", "x", "name",
                                       "apiVersion", "p", "e", "s"]) | st.text(max_size=4),
                      inner, max_size=4),
    max_leaves=20)

FUZZ_SCHEMA = obj(
    apiVersion={"type": "string"}, kind={"type": "string"},
    metadata={"type": "object", "properties": {"name": {"type": "string", "maxLength": 5}}},
    spec=obj(
        a={"type": "integer", "minimum": 0, "maximum": 9, "multipleOf": 3, "default": 3},
        s={"type": "string", "pattern": "^a", "format": "date-time", "enum": ["a", "b"]},
        p={"x-kubernetes-int-or-string": True,
           "anyOf": [{"type": "integer"}, {"type": "string"}]},
        e={"type": "object", "x-kubernetes-embedded-resource": True,
           "x-kubernetes-preserve-unknown-fields": True},
        l={"type": "array", "x-kubernetes-list-type": "map",
           "x-kubernetes-list-map-keys": ["name"], "maxItems": 3,
           "items": {"type": "object", "required": ["name"], "properties": {
               "name": {"type": "string"}, "x": {"type": "number", "nullable": True}}}},
        m={"type": "object", "maxProperties": 2, "additionalProperties": {
            "type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}},
        x={"type": "object", "x-kubernetes-preserve-unknown-fields": True,
           "x-kubernetes-validations": [{"rule": "has(self.name) || true"},
                                        {"rule": "self == oldSelf", "message": "immutable"}]},
    ) | {"x-kubernetes-validations": [{"rule": "!has(self.a) || self.a >= 0",
                                       "messageExpression": "'a is ' + string(self.a)"}]},
)
FUZZ = Structural.compile(FUZZ_SCHEMA)


def test_fuzz_schema_is_valid() -> None:
    assert validate_crd_schema(FUZZ_SCHEMA, P) == []


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(json_values, json_values)
def test_never_raises_on_any_json(value: Any, old: Any) -> None:
    o = copy.deepcopy(value)
    errs = FUZZ.validate(o, old)
    assert all(isinstance(e.field, str) and isinstance(e.body(), str) for e in errs)
    if isinstance(o, dict):
        FUZZ.default(o)
        pruned = FUZZ.prune(o)
        assert all(isinstance(p, str) for p in pruned)
        FUZZ.validate(o, old)
        assert FUZZ.prune(o) == []  # pruning is idempotent


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(json_values)
def test_schema_validation_never_raises_on_any_json(schema: Any) -> None:
    errs = validate_crd_schema(schema, P)
    assert isinstance(errs, list)
    Structural.compile(schema).validate(schema)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    deep: Any = "x"
    for _ in range(3000):
        deep = {"x": deep}
    s = Structural.compile({"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    assert isinstance(s.validate(deep), list)
    assert isinstance(s.prune(deep), list)
    nested: Any = {"type": "string"}
    for _ in range(3000):
        nested = {"type": "object", "properties": {"x": nested}}
    assert validate_crd_schema(nested, P)


def test_bench_smoke() -> None:
    from bench.structural import main

    out = main(["--n", "3", "--rounds", "1"])
    assert out["object_bytes"] > 1500 and "cr_validate" in out["us_per_call"]


# ---- CEL at CRD validation, optionalOldSelf, correlation through list-maps ----------

def _rule_errors(rule: str) -> list[str]:
    schema = obj(replicas={"type": "integer"}, items={"type": "array", "items": obj(
        name={"type": "string"})}, labels={"type": "object", "additionalProperties": {
            "type": "string"}}) | {"x-kubernetes-validations": [{"rule": rule}]}
    return [e.message for e in validate_crd_schema(schema, P)]


@pytest.mark.parametrize("rule,column,field", [
    ("self.replicaz > 0", 5, "replicaz"),
    ("self.items[0].nme == 'a'", 14, "nme"),
    ("self.items.all(i, i.nme == 'a')", 20, "nme"),
])
def test_cel_undefined_field(rule: str, column: int, field: str) -> None:
    assert _rule_errors(rule) == [
        f"compilation failed: ERROR: <input>:1:{column}: undefined field '{field}'\n"
        f" | {rule}\n | {'.' * (column - 1)}^"]


@pytest.mark.parametrize("rule", [
    "self.replicas > 0", "self.labels.anything == 'x'", "self.items.all(i, i.name != '')",
    "self.metadata.name == 'a' && self.kind == 'K' && self.apiVersion != ''",
    "self.items.map(i, i.name).all(n, n.size() > 0)",
])
def test_cel_defined_fields_compile(rule: str) -> None:
    assert _rule_errors(rule) == []


def test_cel_syntax_error() -> None:
    (msg,) = _rule_errors("self.replicas >")
    assert msg.startswith("compilation failed: ERROR: <input>:1:")
    assert "Syntax error" in msg


def test_optional_old_self() -> None:
    s = Structural.compile(obj(v={"type": "integer", "x-kubernetes-validations": [
        {"rule": "!oldSelf.hasValue() || self >= oldSelf.value()",
         "message": "may not decrease", "optionalOldSelf": True}]}))
    assert s.validate({"v": 1}) == []
    assert s.validate({"v": 2}, {"v": 1}) == []
    assert texts(s.validate({"v": 1}, {"v": 2})) == ['v: Invalid value: "integer": may not '
                                                     "decrease"]


def test_transition_rules_correlate_list_map_items_by_key() -> None:
    s = Structural.compile(obj(l={
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
        "items": {"type": "object", "required": ["k"], "properties": {
            "k": {"type": "string"},
            "v": {"type": "string", "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "immutable"}]}}}}))
    old = {"l": [{"k": "a", "v": "1"}, {"k": "b", "v": "2"}]}
    assert s.validate({"l": [{"k": "b", "v": "2"}, {"k": "a", "v": "1"},
                             {"k": "c", "v": "3"}]}, old) == []
    assert texts(s.validate({"l": [{"k": "b", "v": "9"}]}, old)) == [
        'l[0].v: Invalid value: "string": immutable']


def test_cel_reasons_and_field_path() -> None:
    s = Structural.compile(obj(spec=obj(a={"type": "string"}, b={"type": "string"}) | {
        "x-kubernetes-validations": [
            {"rule": "has(self.a)", "reason": "FieldValueRequired", "fieldPath": ".a",
             "message": "a is required"},
            {"rule": "!has(self.b)", "reason": "FieldValueDuplicate", "fieldPath": "['b']"},
        ]}))
    assert texts(s.validate({"spec": {"b": "x"}})) == [
        "spec.a: Required value: a is required", 'spec.b: Duplicate value: "object"']


def test_cel_library_functions() -> None:
    s = Structural.compile(obj(s={"type": "string"}, l={"type": "array", "items": {
        "type": "integer"}}) | {"x-kubernetes-validations": [
            {"rule": "self.s.lowerAscii() == 'abc' && self.s.split('B').size() == 2 && "
                     "self.s.indexOf('C') == 2 && self.l.isSorted() && self.l.sum() == 6 && "
                     "self.l.max() == 3 && self.s.find('[A-Z]+') == 'ABC'"}]})
    assert s.validate({"s": "ABC", "l": [1, 2, 3]}) == []
    assert len(s.validate({"s": "ABC", "l": [3, 2, 1]})) == 1


# ---- pruning/algorithm_test.go's larger cases -----------------------------------------

def _o(t: str = "object", **kw: Any) -> dict[str, Any]:
    return {"type": t, **kw}


def test_prune_nested_preserve_unknown_fields() -> None:
    add = {"type": "object", "properties": {"specified": {"type": "object"}}}
    schema = _o(**{"x-kubernetes-preserve-unknown-fields": True, "properties": {
        "alpha": _o("string"), "beta": _o("number"),
        "pruning": _o(properties={
            "preserving": _o(**{"x-kubernetes-preserve-unknown-fields": True}),
            "pruning": _o()}),
        "preserving": _o(**{"x-kubernetes-preserve-unknown-fields": True, "properties": {
            "preserving": _o(**{"x-kubernetes-preserve-unknown-fields": True}),
            "pruning": _o()}}),
        "preservingAdditionalPropertiesNotInheritingXPreserveUnknownFields": _o(**{
            "x-kubernetes-preserve-unknown-fields": True, "additionalProperties": add}),
        "preservingAdditionalPropertiesKeyPruneValues": _o(additionalProperties=add),
    }})
    un = {"unspecified": "bar"}
    add_value = {"foo": {"specified": {"unspecified": "bar"}, "unspecified": "bar"}}
    before = {
        "unspecified": "bar", "alpha": "abc", "beta": 42.0, "unspecifiedObject": dict(un),
        "pruning": {"unspecified": "bar", "unspecifiedObject": dict(un),
                    "pruning": dict(un), "apiVersion": "unknown", "preserving": dict(un)},
        "preserving": {"unspecified": "bar", "unspecifiedObject": dict(un),
                       "pruning": dict(un), "preserving": dict(un)},
        "preservingAdditionalPropertiesNotInheritingXPreserveUnknownFields":
            copy.deepcopy(add_value),
        "preservingAdditionalPropertiesKeyPruneValues": copy.deepcopy(add_value),
    }
    after = {
        "unspecified": "bar", "alpha": "abc", "beta": 42.0, "unspecifiedObject": dict(un),
        "pruning": {"pruning": {}, "preserving": dict(un)},
        "preserving": {"unspecified": "bar", "unspecifiedObject": dict(un), "pruning": {},
                       "preserving": dict(un)},
        "preservingAdditionalPropertiesNotInheritingXPreserveUnknownFields":
            {"foo": {"specified": {}}},
        "preservingAdditionalPropertiesKeyPruneValues": {"foo": {"specified": {}}},
    }
    got = Structural.compile(schema).prune(before)
    assert before == after
    assert sorted(got) == [
        "preserving.pruning.unspecified",
        "preservingAdditionalPropertiesKeyPruneValues.foo.specified.unspecified",
        "preservingAdditionalPropertiesKeyPruneValues.foo.unspecified",
        "preservingAdditionalPropertiesNotInheritingXPreserveUnknownFields.foo.specified."
        "unspecified",
        "preservingAdditionalPropertiesNotInheritingXPreserveUnknownFields.foo.unspecified",
        "pruning.apiVersion", "pruning.pruning.unspecified", "pruning.unspecified",
        "pruning.unspecifiedObject"]


def test_prune_embedded_resources_at_the_root() -> None:
    emb = {"x-kubernetes-embedded-resource": True}
    schema = _o(properties={
        "pruned": _o(**emb, properties={"spec": _o()}),
        "preserving": _o(**emb, **{"x-kubernetes-preserve-unknown-fields": True}),
        "nested": _o(**emb, properties={"spec": _o(properties={
            "embedded": _o(**emb, properties={"spec": _o()})})}),
    })

    def res(**extra: Any) -> dict[str, Any]:
        return {"apiVersion": "foo/v1", "kind": "Foo", "unspecified": "bar",
                "metadata": {"name": "instance", "unspecified": "bar"},
                "spec": {"unspecified": "bar", **extra}}

    o = res(**{}) | {"pruned": res(), "preserving": res(), "nested": res(embedded=res())}
    o.pop("spec")
    got = Structural.compile(schema).prune(o)
    meta = {"name": "instance"}
    assert o == {
        "apiVersion": "foo/v1", "kind": "Foo", "metadata": meta,
        "pruned": {"apiVersion": "foo/v1", "kind": "Foo", "metadata": meta, "spec": {}},
        "preserving": {"apiVersion": "foo/v1", "kind": "Foo", "unspecified": "bar",
                       "metadata": meta, "spec": {"unspecified": "bar"}},
        "nested": {"apiVersion": "foo/v1", "kind": "Foo", "metadata": meta, "spec": {
            "embedded": {"apiVersion": "foo/v1", "kind": "Foo", "metadata": meta,
                         "spec": {}}}},
    }
    # Kubernetes' pruning paths, plus ObjectMeta's unknown fields (schema/objectmeta's
    # coercion drops them too)
    assert sorted(got) == sorted([
        "nested.spec.embedded.spec.unspecified", "nested.spec.embedded.unspecified",
        "nested.spec.unspecified", "nested.unspecified", "pruned.spec.unspecified",
        "pruned.unspecified", "unspecified", "metadata.unspecified",
        "pruned.metadata.unspecified", "preserving.metadata.unspecified",
        "nested.metadata.unspecified", "nested.spec.embedded.metadata.unspecified"])


# ---- defaulting/algorithm_test.go's table --------------------------------------------

def _d(v: Any, **kw: Any) -> dict[str, Any]:
    return {"default": v, **kw}


DEFAULT_CASES: list[tuple[str, str, dict[str, Any], str]] = [
    ("scalar", "4", _d("foo"), "4"),
    ("scalar array", "[1,2]", {"items": _d("foo")}, "[1,2]"),
    ("object array", '[{"a":1},{"b":1},{"c":1}]',
     {"items": {"properties": {"a": _d("A"), "b": _d("B"), "c": _d("C")}}},
     '[{"a":1,"b":"B","c":"C"},{"a":"A","b":1,"c":"C"},{"a":"A","b":"B","c":1}]'),
    ("object array object",
     '{"array":[{"a":1},{"b":2}],"object":{"a":1},"additionalProperties":{"x":{"a":1},'
     '"y":{"b":2}}}',
     {"properties": {
         "array": {"items": {"properties": {"a": _d("A"), "b": _d("B")}}},
         "object": {"properties": {"a": _d("N"), "b": _d("O")}},
         "additionalProperties": {"additionalProperties": {
             "properties": {"a": _d("alpha"), "b": _d("beta")}}},
         "foo": _d("bar")}},
     '{"array":[{"a":1,"b":"B"},{"a":"A","b":2}],"object":{"a":1,"b":"O"},'
     '"additionalProperties":{"x":{"a":1,"b":"beta"},"y":{"a":"alpha","b":2}},"foo":"bar"}'),
    ("empty and null", '[{},{"a":1},{"a":0},{"a":0.0},{"a":""},{"a":null},{"a":[]},{"a":{}}]',
     {"items": {"properties": {"a": _d("A")}}},
     '[{"a":"A"},{"a":1},{"a":0},{"a":0.0},{"a":""},{"a":"A"},{"a":[]},{"a":{}}]'),
    ("null in nullable list", "[null]",
     {"nullable": True, "items": {"properties": {"a": _d("A")}}}, "[null]"),
    ("null in non-nullable list", "[null]", {"items": _d("A")}, '["A"]'),
    ("null in nullable object", '{"a": null}',
     {"properties": {"a": _d("A", nullable=True)}}, '{"a": null}'),
    ("null in non-nullable object", '{"a": null}', {"properties": {"a": _d("A")}},
     '{"a": "A"}'),
    ("null in nullable object with additionalProperties", '{"a": null}',
     {"additionalProperties": _d("A", nullable=True)}, '{"a": null}'),
    ("null in non-nullable object with additionalProperties", '{"a": null}',
     {"additionalProperties": _d("A")}, '{"a": "A"}'),
    ("null unknown field", '{"a": null}', {"additionalProperties": True}, '{"a": null}'),
]


@pytest.mark.parametrize("name,before,schema,after", DEFAULT_CASES,
                         ids=[c[0] for c in DEFAULT_CASES])
def test_default_table(name: str, before: str, schema: dict[str, Any], after: str) -> None:
    v = json.loads(before)
    Structural.compile(schema).default(v)
    assert v == json.loads(after)


def test_cel_string_growth_is_bounded() -> None:
    rule = "self" + ".replace('a', 'aaaa')" * 30 + " != ''"
    s = Structural.compile(obj(s={"type": "string", "x-kubernetes-validations": [
        {"rule": rule}]}))
    (err,) = s.validate({"s": "a" * 100})  # 100 * 4**30 characters, were it not bounded
    assert "evaluating rule" in err.message


def test_cel_nesting_limits() -> None:
    import sys

    limit = sys.getrecursionlimit()

    def schema(n: int) -> dict[str, Any]:
        return obj(a={"type": "integer"}) | {"x-kubernetes-validations": [
            {"rule": "(" * n + "self.a" + ")" * n + " > 0", "message": "positive"}]}

    assert validate_crd_schema(schema(60), P) == []
    s = Structural.compile(schema(60))
    assert s.validate({"a": 1}) == []
    assert texts(s.validate({"a": 0})) == ['<nil>: Invalid value: "object": positive']
    (err,) = validate_crd_schema(schema(3000), P)
    assert "max recursion depth exceeded" in err.message
    assert sys.getrecursionlimit() == limit


# ---- the closure compiler against celpy's interpreter (same results, errors included) -

DIFF_RULES = [
    "self.a > 1", "self.a >= self.b", "self.a + self.b == 3", "self.a / self.b > 0",
    "self.a % self.b == 0", "has(self.a) && self.a > 0", "has(self.c) || self.a == 1",
    "!has(self.c) ? true : self.c.size() > 1", "self.l.all(x, x > 0)",
    "self.l.exists(x, x > 2)", "self.l.exists_one(x, x == 1)",
    "self.l.map(x, x * 2).size() == size(self.l)", "self.l.filter(x, x > 1).size() >= 0",
    "self.m.all(k, self.m[k] > 0)", "self.m.exists(k, k == 'a')",
    "self.s.startsWith('a') && self.s.endsWith('z')", "self.s.contains('b')",
    "self.s.matches('^[a-z]+$')", "self.s.size() < 5", "self.s + 'x' == 'abcx'",
    "self.s.lowerAscii() == self.s", "int(self.d) == 2", "double(self.a) == 1.0",
    "string(self.a) == '1'", "self.a == 1.0", "self.l[0] == 1", "self.l[10] == 1",
    "self.m['a'] == 1", "self.m.zz == 1", "self.nope == 1", "self.a in self.l",
    "'a' in self.m", "self.l == [1, 2, 3]", "self.m == {'a': 1}", "type(self.a) == int",
    "1 / 0 == 0 || true", "true && 1/0 == 1", "false && 1/0 == 1", "(1/0 == 1) || true",
    "(1/0 == 1) && false", "self.a == 1 ? 'x' : 1/0", "self.a", "-self.a < 0",
    "!(self.a > 1)", "self.l.all(x, x / 0 == 1)", "self.l.all(x, x > 1 && x / 0 == 1)",
    "self.l.exists(x, x == 3 || 1/0 == 0)", "[1, 2].map(x, x + self.a)[1] == 3",
    "self.s.split('b').size() == 2", "self.l.isSorted()", "self.l.sum() == 6",
    "self.a > 9223372036854775807", "self.a * 9223372036854775807 > 0", "dyn(self.a) == 1",
    "null == self.n", "duration('1h') > duration('30m')", "{'a': self.a}.a == self.a",
    "[self.a, self.b].exists(x, x == 2)", "self.s[0] == 'a'", "self.l.size() == 3u",
]
DIFF_VALUES = [
    {"a": 1, "b": 2, "l": [1, 2, 3], "m": {"a": 1, "b": 2}, "s": "abcz", "d": 2.5, "n": None},
    {"a": 3, "b": 0, "l": [], "m": {}, "s": "", "d": -1.0, "n": None},
    {"a": -2, "b": 1, "l": [3, 1], "m": {"x": -1}, "s": "ABC", "c": "cc", "d": 2.0, "n": 1},
    {"a": 2**62, "b": 2**62, "l": [0], "m": {"a": 0}, "s": "a-z", "d": 1e300, "n": None},
]


def test_closure_compiler_matches_celpy() -> None:
    from celpy.evaluation import CELEvalError

    from api.structural import cel, celfast

    def outcome(prog: Any, ctx: dict[str, Any]) -> tuple[str, Any]:
        try:
            v = prog.run(ctx, cel.Budget())
            return "ok", (type(v), v)
        except CELEvalError:
            return "error", None

    compared = 0
    for rule in DIFF_RULES:
        ast = cel._env().compile(rule)
        slow = cel._Runner(cel._env(), ast, cel.FUNCTIONS)
        fast = cel._FastRunner(celfast.compile_tree(ast, cel.FUNCTIONS))
        for v in DIFF_VALUES:
            ctx = {"self": cel.to_cel(v, None)}
            assert outcome(fast, ctx) == outcome(slow, ctx), (rule, v)
            compared += 1
    assert compared == len(DIFF_RULES) * len(DIFF_VALUES)


def test_unsupported_constructs_fall_back_to_celpy() -> None:
    from api.structural import cel

    prog, _ = cel.compile_expr("[1, 2, 3].reduce(a, b, 0, a + b) == 6")
    assert isinstance(prog, cel._Runner)
    assert bool(prog.run({}, cel.Budget()))
    prog, _ = cel.compile_expr("self.l.all(x, x > 0)")
    assert isinstance(prog, cel._FastRunner)


# ---- ratcheting (CRDValidationRatcheting): unchanged invalid values pass on update -----

RATCHET_SCHEMA = obj(spec=obj(
    name={"type": "string", "maxLength": 3},
    labels={"type": "object", "additionalProperties": {"type": "string", "maxLength": 2}},
    req={"type": "object", "required": ["x"], "properties": {
        "x": {"type": "string"}, "y": {"type": "string"}}},
    ports={"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["n"],
           "items": {"type": "object", "required": ["n"], "properties": {
               "n": {"type": "string"}, "p": {"type": "integer", "maximum": 10}}}},
    args={"type": "array", "items": {"type": "string", "maxLength": 2}},
    c={"type": "integer", "x-kubernetes-validations": [{"rule": "self < 5",
                                                        "message": "small"}]},
))
RATCHET_OLD = {"spec": {"name": "toolong", "labels": {"app.kubernetes.io/x": "long"},
                        "req": {"y": "a"}, "ports": [{"n": "a", "p": 20}, {"n": "b", "p": 1}],
                        "args": ["long"], "c": 9}}


def test_ratcheting_unchanged_values() -> None:
    s = Structural.compile(RATCHET_SCHEMA)
    assert len(s.validate(RATCHET_OLD)) == 6  # on create every error counts
    assert s.validate(copy.deepcopy(RATCHET_OLD), RATCHET_OLD) == []


def test_ratcheting_changed_values_still_fail() -> None:
    s = Structural.compile(RATCHET_SCHEMA)
    new = copy.deepcopy(RATCHET_OLD)
    new["spec"]["ports"] = [{"n": "b", "p": 1}, {"n": "a", "p": 20}, {"n": "c", "p": 30}]
    new["spec"]["req"]["y"] = "b"
    new["spec"]["args"] = ["long", "x"]
    assert texts(s.validate(new, RATCHET_OLD)) == [
        "spec.req.x: Required value",
        "spec.ports[2].p: Invalid value: 30: spec.ports[2].p in body should be less than or "
        "equal to 10",
        "spec.args[0]: Too long: may not be more than 2 bytes",
        '<nil>: Invalid value: "null": some validation rules were not checked because the '
        "object was invalid; correct the existing errors to complete validation"]
    ok = copy.deepcopy(RATCHET_OLD)
    ok["spec"]["c"] = 8
    assert texts(s.validate(ok, RATCHET_OLD)) == ['spec.c: Invalid value: "integer": small']


# ---- generated schemas: nothing raises on schema-shaped junk either -------------------

_schema_types = st.sampled_from(["object", "array", "string", "integer", "number", "boolean",
                                 "", "null", 3])
_rules = st.sampled_from(["self == oldSelf", "has(self.a)", "self.a > 1", "self.size() > 0",
                          "self.all(x, x != '')", "bad +", "self.nope == 1", "true"])


def _schema_of(children: Any) -> Any:
    return st.fixed_dictionaries({}, optional={
        "type": _schema_types,
        "properties": st.dictionaries(st.sampled_from(["a", "b", "metadata", "kind", "x-y"]),
                                      children, max_size=3),
        "items": children,
        "additionalProperties": st.one_of(children, st.booleans()),
        "required": st.lists(st.sampled_from(["a", "b", "c"]), max_size=2),
        "enum": st.lists(_scalars, max_size=3),
        "default": json_values,
        "nullable": st.booleans(),
        "pattern": st.sampled_from(["^a", "(", "[a-z]+", "(?<=x)"]),
        "format": st.sampled_from(["date-time", "byte", "int32", "uuid", "bogus"]),
        "maxLength": st.integers(-1, 5), "minimum": st.integers(-2, 2),
        "maxItems": st.integers(0, 3), "multipleOf": st.sampled_from([0, 2, 0.5, -1]),
        "x-kubernetes-preserve-unknown-fields": st.booleans(),
        "x-kubernetes-int-or-string": st.booleans(),
        "x-kubernetes-embedded-resource": st.booleans(),
        "x-kubernetes-list-type": st.sampled_from(["atomic", "set", "map", "x"]),
        "x-kubernetes-list-map-keys": st.lists(st.sampled_from(["a", "b"]), max_size=2),
        "x-kubernetes-map-type": st.sampled_from(["atomic", "granular", "y"]),
        "x-kubernetes-validations": st.lists(st.fixed_dictionaries(
            {"rule": _rules}, optional={
                "message": st.sampled_from(["m", "", "a\nb"]),
                "messageExpression": st.sampled_from(["'x'", "self.a", "+"]),
                "reason": st.sampled_from(["FieldValueForbidden", "Nope"]),
                "fieldPath": st.sampled_from([".a", ".z", "['a']", "x"]),
                "optionalOldSelf": st.booleans()}), max_size=2),
        "anyOf": st.lists(children, max_size=2), "allOf": st.lists(children, max_size=2),
        "not": children,
    })


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.recursive(st.just({"type": "string"}), _schema_of, max_leaves=8), json_values,
       json_values)
def test_generated_schemas_never_raise(schema: Any, value: Any, old: Any) -> None:
    root = {"type": "object", "properties": {"spec": schema}}
    assert all(isinstance(str(e), str) for e in validate_crd_schema(root, P))
    s = Structural.compile(root)
    o = {"spec": copy.deepcopy(value)}
    s.default(o)
    s.prune(o)
    assert all(isinstance(str(e), str) for e in s.validate(o, {"spec": old}))
    s.list_type(("spec",))
    s.map_type(("spec", "a"))


@pytest.mark.parametrize("rule", [
    "quantity(self.mem).isGreaterThan(quantity('1Mi'))",
    "quantity('500m').add(1).compareTo(quantity('1500m')) == 0",
    "isQuantity(self.mem) && !isQuantity('x') && quantity('2').asInteger() == 2",
    "!quantity('1.5').isInteger() && string(quantity('1Gi')) == '1Gi'",
    "ip(self.addr).family() == 4 && cidr(self.net).containsIP(self.addr)",
    "cidr(self.net).containsCIDR('10.1.0.0/16') && cidr(self.net).prefixLength() == 8",
    "string(cidr('10.1.2.3/8').masked()) == '10.0.0.0/8' && ip('::1').isLoopback()",
    "url(self.endpoint).getHost() == 'a.example:8080' && "
    "url(self.endpoint).getPort() == '8080' && url(self.endpoint).getScheme() == 'https'",
    "isURL(self.endpoint) && !isURL('relative') && isIP('10.0.0.1') && !isCIDR('10.0.0.1')",
])
def test_cel_kubernetes_libraries(rule: str) -> None:
    schema = obj(mem={"type": "string"}, addr={"type": "string"}, net={"type": "string"},
                 endpoint={"type": "string"}) | {"x-kubernetes-validations": [{"rule": rule}]}
    assert validate_crd_schema(schema, P) == []
    value = {"mem": "1Gi", "addr": "10.1.2.3", "net": "10.0.0.0/8",
             "endpoint": "https://a.example:8080/p?x=1"}
    assert Structural.compile(schema).validate(value) == []
