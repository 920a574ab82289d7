"""Server-side apply and fieldValidation on custom resources: the CRD's schema gives the
list types (x-kubernetes-list-type map/set) apply merges by, and the fields pruning
drops are the unknown fields Strict refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testing.apiclient import Api
from testing.kubectl import Kubectl
from testing.support import json_request, unique, wait_for

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


@pytest.fixture
def group(api: Api) -> Iterator[str]:
    g = f"{unique('ssa')}.example.com"
    schema = {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "size": {"type": "integer"},
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                      "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "required": ["name"], "properties": {
                          "name": {"type": "string"}, "port": {"type": "integer"}}}},
            "tags": {"type": "array", "x-kubernetes-list-type": "set",
                     "items": {"type": "string"}}}}}}}
    body = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"gadgets.{g}"},
            "spec": {"group": g, "scope": "Namespaced",
                     "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": schema}]}}
    api.ok("POST", CRDS, body, 201)

    def established() -> bool:
        _, crd = api.call("GET", f"{CRDS}/gadgets.{g}")
        conds = {c["type"]: c["status"]
                 for c in (crd.get("status") or {}).get("conditions") or []}
        return conds.get("Established") == "True"

    wait_for(established, timeout=10)
    yield g
    api.call("DELETE", f"{CRDS}/gadgets.{g}")


def gadget(group: str, ports: list[dict[str, Any]], tags: list[str], **spec: Any) -> str:
    return json.dumps({"apiVersion": f"{group}/v1", "kind": "Gadget",
                       "metadata": {"name": "g1"},
                       "spec": {"ports": ports, "tags": tags, **spec}})


def test_apply_merges_custom_lists_by_schema(kubectl: Kubectl, server_url: str, ns: str,
                                             group: str, tmp_path: Path) -> None:
    url = f"{server_url}/apis/{group}/v1/namespaces/{ns}/gadgets/g1"
    first = tmp_path / "a.yaml"
    first.write_text(gadget(group, [{"name": "http", "port": 80}], ["a"], size=1))
    kubectl("apply", "--server-side", "-f", str(first), "-n", ns)
    # Another manager applies its own list item and set member: both kept, each owned.
    code, obj = json_request("PATCH", url + "?fieldManager=other",
                             {"apiVersion": f"{group}/v1", "kind": "Gadget",
                              "metadata": {"name": "g1"},
                              "spec": {"ports": [{"name": "metrics", "port": 9090}],
                                       "tags": ["b"]}},
                             content_type="application/apply-patch+yaml")
    assert code == 200, obj
    assert obj["spec"]["ports"] == [{"name": "http", "port": 80},
                                    {"name": "metrics", "port": 9090}]
    assert obj["spec"]["tags"] == ["a", "b"]
    by = {e["manager"]: e["fieldsV1"] for e in obj["metadata"]["managedFields"]}
    assert by["other"] == {"f:spec": {
        "f:ports": {'k:{"name":"metrics"}': {".": {}, "f:name": {}, "f:port": {}}},
        "f:tags": {'v:"b"': {}}}}
    # A conflict on the other's item, then kubectl drops its own item: only its goes.
    clash = tmp_path / "b.yaml"
    clash.write_text(gadget(group, [{"name": "metrics", "port": 1}], ["a"], size=1))
    proc = kubectl("apply", "--server-side", "-f", str(clash), "-n", ns, check=False)
    assert proc.returncode == 1
    assert 'conflict with "other": .spec.ports[name="metrics"].port' in proc.stderr
    second = tmp_path / "c.yaml"
    second.write_text(gadget(group, [], [], size=2))
    kubectl("apply", "--server-side", "-f", str(second), "-n", ns)
    code, obj = json_request("GET", url)
    assert obj["spec"]["ports"] == [{"name": "metrics", "port": 9090}]
    assert obj["spec"]["tags"] == ["b"] and obj["spec"]["size"] == 2


def test_strict_validation_of_custom_resources(server_url: str, ns: str, group: str) -> None:
    url = f"{server_url}/apis/{group}/v1/namespaces/{ns}/gadgets"
    body = {"apiVersion": f"{group}/v1", "kind": "Gadget", "metadata": {"name": "g2"},
            "spec": {"size": 1, "colour": "red"}}
    code, st = json_request("POST", url + "?fieldValidation=Strict", body)
    assert code == 400, st
    assert st["message"] == ('Gadget in version "v1" cannot be handled as a Gadget: strict '
                             'decoding error: unknown field "spec.colour"')
    code, obj = json_request("POST", url + "?fieldValidation=Ignore", body)
    assert code == 201, obj
    assert "colour" not in obj["spec"]
    # An applied configuration with a field the schema lacks is refused (typed conversion).
    code, st = json_request("PATCH", f"{url}/g3?fieldManager=m",
                            {**body, "metadata": {"name": "g3"}},
                            content_type="application/apply-patch+yaml")
    assert code == 400, st
    assert st["message"].endswith(".spec.colour: field not declared in schema")
