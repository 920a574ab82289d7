"""Structural schemas through the API server: a CRD's openAPIV3Schema checked at CRD
create (CEL compile errors, structural rules), its custom objects validated with
Kubernetes' causes (kube-openapi messages, list-map duplicates, CEL rules and transition
rules), pruned and defaulted; against the shared API server with raw HTTP and the real
kubectl."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from testing.apiclient import Api
from testing.kubectl import Kubectl
from testing.support import unique, wait_for

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
SCHEMA_PATH = "spec.versions[0].schema.openAPIV3Schema"

SPEC = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 10},
        "mode": {"type": "string", "enum": ["fast", "slow"], "default": "fast"},
        "replicas": {"type": "integer", "minimum": 0, "maximum": 10},
        "max": {"type": "integer", "default": 5},
        "owner": {"type": "string",
                  "x-kubernetes-validations": [{"rule": "self == oldSelf",
                                                "message": "owner is immutable"}]},
        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "required": ["name"], "properties": {
                      "name": {"type": "string"},
                      "port": {"x-kubernetes-int-or-string": True,
                               "anyOf": [{"type": "integer"}, {"type": "string"}]}}}},
    },
    "x-kubernetes-validations": [{"rule": "!has(self.replicas) || self.replicas <= self.max",
                                  "message": "replicas must not exceed max"}],
}


def crd(group: str, spec_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gadgets.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {
                                   "type": "object", "properties": {"spec": spec_schema}}}}]}}


@pytest.fixture
def group(api: Api) -> Iterator[str]:
    g = f"{unique('s')}.example.com"
    yield g
    api.call("DELETE", f"{CRDS}/gadgets.{g}")


def served(api: Api, group: str) -> str:
    api.ok("POST", CRDS, crd(group, SPEC), 201)
    base = f"/apis/{group}/v1/namespaces/default/gadgets"
    wait_for(lambda: api.call("GET", base)[0] == 200, timeout=20)
    return base


def gadget(group: str, obj_name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{group}/v1", "kind": "Gadget", "metadata": {"name": obj_name},
            "spec": spec}


def causes(st: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["field"], c["reason"], c["message"]) for c in st["details"]["causes"]]


def test_invalid_objects_get_kubernetes_causes(api: Api, group: str) -> None:
    base = served(api, group)
    body = gadget(group, unique("g"), name="Bad1", mode="turbo", replicas=11,
                  ports=[{"name": "a", "port": 80}, {"name": "a", "port": "http"}])
    code, st = api.call("POST", base, body)
    assert code == 422 and st["reason"] == "Invalid"
    assert causes(st) == [
        ("spec.name", "FieldValueInvalid",
         "Invalid value: \"Bad1\": spec.name in body should match '^[a-z]+$'"),
        ("spec.mode", "FieldValueNotSupported",
         'Unsupported value: "turbo": supported values: "fast", "slow"'),
        ("spec.replicas", "FieldValueInvalid",
         "Invalid value: 11: spec.replicas in body should be less than or equal to 10"),
        ("spec.ports[1]", "FieldValueDuplicate", 'Duplicate value: {"name":"a"}'),
        ("<nil>", "FieldValueInvalid",
         'Invalid value: "null": some validation rules were not checked because the object '
         "was invalid; correct the existing errors to complete validation"),
    ]
    body["spec"] = {"name": "ok", "replicas": 7, "max": 6}
    code, st = api.call("POST", base, body)
    assert code == 422
    assert causes(st) == [("spec", "FieldValueInvalid",
                           'Invalid value: "object": replicas must not exceed max')]


def test_prune_default_and_transition_rule(api: Api, group: str) -> None:
    base = served(api, group)
    name = unique("g")
    body = gadget(group, name, name="ok", owner="alice", junk={"x": 1})
    created = api.ok("POST", base, body, 201)
    assert created["spec"] == {"name": "ok", "owner": "alice", "mode": "fast", "max": 5}
    created["spec"]["owner"] = "bob"
    code, st = api.call("PUT", f"{base}/{name}", created)
    assert code == 422
    assert causes(st) == [("spec.owner", "FieldValueInvalid",
                           'Invalid value: "string": owner is immutable')]
    created["spec"]["owner"] = "alice"
    created["spec"]["replicas"] = 3
    assert api.ok("PUT", f"{base}/{name}", created)["spec"]["replicas"] == 3


def test_crd_schema_errors_at_create(api: Api, group: str) -> None:
    bad = dict(SPEC, properties=dict(SPEC["properties"], extra={}))  # type: ignore[arg-type]
    bad["x-kubernetes-validations"] = [{"rule": "self.replicaz > 0"}]
    code, st = api.call("POST", CRDS, crd(group, bad))
    assert code == 422
    got = {(c["field"], c["reason"]) for c in st["details"]["causes"]}
    assert (f"{SCHEMA_PATH}.properties[spec].properties[extra].type",
            "FieldValueRequired") in got
    rule = crd(group, dict(SPEC, **{"x-kubernetes-validations": [
        {"rule": "self.replicaz > 0"}]}))
    code, st = api.call("POST", CRDS, rule)
    assert code == 422
    (c,) = st["details"]["causes"]
    assert c["field"] == f"{SCHEMA_PATH}.properties[spec].x-kubernetes-validations[0].rule"
    assert "compilation failed: ERROR: <input>:1:5: undefined field 'replicaz'" in c["message"]


def test_kubectl_sees_the_validation_message(api: Api, kubectl: Kubectl, group: str) -> None:
    served(api, group)
    kubectl("wait", "--for=condition=established", f"crd/gadgets.{group}", "--timeout=20s")
    name = unique("g")
    cr = (f"apiVersion: {group}/v1\nkind: Gadget\nmetadata:\n  name: {name}\n"
          "  namespace: default\nspec:\n  name: ok\n  replicas: 9\n  max: 2\n")
    r = kubectl("apply", "--validate=false", "-f", "-", stdin=cr, check=False)
    assert r.returncode != 0
    assert (f'The Gadget "{name}" is invalid: spec: Invalid value: "object": replicas must '
            "not exceed max") in r.stderr
