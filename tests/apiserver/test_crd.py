"""CustomResourceDefinitions: a CRD's kind is served at once (discovery, OpenAPI, CRUD,
list/watch, status and scale, printer columns, versions with the None conversion) and
goes with its objects when the CRD is deleted; checked with the real kubectl, the
official Python client and raw HTTP against the shared API server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from testing.apiclient import Api, Watch
from testing.kubectl import Kubectl
from testing.support import unique, wait_for

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def crd_body(group: str, plural: str = "widgets", kind: str = "Widget",
             scope: str = "Namespaced", short: list[str] | None = None,
             versions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    schema = {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "size": {"type": "integer", "minimum": 0},
            "color": {"type": "string", "default": "blue"},
            "replicas": {"type": "integer"},
            "selector": {"type": "string"}}},
        "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": scope,
                 "names": {"plural": plural, "singular": kind.lower(), "kind": kind,
                           "shortNames": short or [], "categories": ["all"]},
                 "versions": versions or [{
                     "name": "v1", "served": True, "storage": True, "schema": schema,
                     "subresources": {"status": {}, "scale": {
                         "specReplicasPath": ".spec.replicas",
                         "statusReplicasPath": ".status.replicas",
                         "labelSelectorPath": ".spec.selector"}},
                     "additionalPrinterColumns": [
                         {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                         {"name": "Color", "type": "string", "jsonPath": ".spec.color",
                          "priority": 1},
                         {"name": "Age", "type": "date",
                          "jsonPath": ".metadata.creationTimestamp"}]}]}}


def established(api: Api, name: str) -> bool:
    _, crd = api.call("GET", f"{CRDS}/{name}")
    conds = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []}
    return conds.get("Established") == "True" and conds.get("NamesAccepted") == "True"


@pytest.fixture
def group(api: Api) -> Iterator[str]:
    g = f"{unique('g')}.example.com"
    yield g
    # Whatever the test left: its CRDs go (and their objects with them).
    _, lst = api.call("GET", CRDS)
    for item in lst.get("items", []):
        if item["spec"]["group"] == g:
            api.call("DELETE", f"{CRDS}/{item['metadata']['name']}")


def test_kubectl_lifecycle(api: Api, kubectl: Kubectl, group: str, ns: str) -> None:
    crd = crd_body(group, short=["wg"])
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(crd))
    kubectl("wait", "--for=condition=established", f"crd/widgets.{group}", "--timeout=20s")
    out = kubectl("get", "crd", f"widgets.{group}").stdout.splitlines()
    assert out[0].split() == ["NAME", "CREATED", "AT"]
    cr = {"apiVersion": f"{group}/v1", "kind": "Widget",
          "metadata": {"name": "w1", "namespace": ns},
          "spec": {"size": 3, "replicas": 1, "selector": "app=w", "junk": "x"}}
    # (kubectl's default --validate=strict would refuse the unknown field: pruned here)
    kubectl("apply", "--validate=false", "-f", "-", stdin=yaml.safe_dump(cr))
    got = json.loads(kubectl("get", f"widgets.{group}", "w1", "-n", ns, "-o", "json").stdout)
    assert got["spec"]["color"] == "blue"  # the schema's default
    assert "junk" not in got["spec"]  # pruned: not in the schema
    assert got["metadata"]["generation"] == 1
    table = kubectl("get", f"widgets.{group}", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "AGE"]
    assert table[1].split()[:2] == ["w1", "3"]
    wide = kubectl("get", f"wg.{group}", "-n", ns, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "SIZE", "COLOR", "AGE"]
    assert wide[1].split()[:3] == ["w1", "3", "blue"]
    # categories: "all" lists it
    assert f"widget.{group}/w1" in kubectl("get", "all", "-n", ns).stdout
    desc = kubectl("describe", f"widget.{group}", "w1", "-n", ns).stdout
    assert "Name:         w1" in desc and f"API Version:  {group}/v1" in desc
    kubectl("scale", f"widget.{group}", "w1", "-n", ns, "--replicas=4")
    scale = api.ok("GET", f"/apis/{group}/v1/namespaces/{ns}/widgets/w1/scale")
    assert scale["spec"] == {"replicas": 4}
    assert scale["status"] == {"replicas": 0, "selector": "app=w"}
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    kubectl("patch", f"widget.{group}", "w1", "-n", ns, "--type=merge",
            "-p", '{"spec":{"size":5}}')
    # strategic merge patch: not for custom resources (415, as Kubernetes)
    bad = kubectl("patch", f"widget.{group}", "w1", "-n", ns, "-p", '{"spec":{"size":6}}',
                  check=False)
    assert bad.returncode != 0 and "application/merge-patch+json" in bad.stderr
    kubectl("patch", f"widget.{group}", "w1", "-n", ns, "--subresource=status",
            "--type=merge", "-p", '{"status":{"replicas":2}}')
    got = json.loads(kubectl("get", f"widget.{group}", "w1", "-n", ns, "-o", "json").stdout)
    assert got["spec"]["size"] == 5 and got["spec"]["replicas"] == 4
    assert got["status"] == {"replicas": 2}
    assert got["metadata"]["generation"] == 3  # scale and the spec patch; not status
    # schema validation: 422 with the field
    bad_cr = {**cr, "metadata": {"name": "w2", "namespace": ns}, "spec": {"size": -1}}
    res = kubectl("apply", "-f", "-", stdin=yaml.safe_dump(bad_cr), check=False)
    assert res.returncode != 0 and "spec.size" in res.stderr
    kubectl("delete", f"widget.{group}", "w1", "-n", ns)
    assert "No resources found" in kubectl("get", f"widgets.{group}", "-n", ns).stderr


def test_crd_deletion_removes_objects(api: Api, group: str) -> None:
    api.ok("POST", CRDS, crd_body(group, scope="Cluster"), 201)
    base = f"/apis/{group}/v1/widgets"
    for i in range(3):  # served at once: no wait between the CRD's create and these
        api.ok("POST", base, {"apiVersion": f"{group}/v1", "kind": "Widget",
                              "metadata": {"name": f"c{i}"}, "spec": {"size": i}}, 201)
    assert len(api.ok("GET", base)["items"]) == 3
    api.ok("DELETE", f"{CRDS}/widgets.{group}")
    wait_for(lambda: api.call("GET", f"{CRDS}/widgets.{group}")[0] == 404, timeout=30)
    assert api.call("GET", base)[0] == 404
    assert group not in json.dumps(api.ok("GET", "/apis"))
    # created again: none of the old objects come back
    api.ok("POST", CRDS, crd_body(group, scope="Cluster"), 201)
    assert api.ok("GET", base)["items"] == []


def test_terminating_condition_and_finalizer(api: Api, group: str) -> None:
    api.ok("POST", CRDS, crd_body(group, scope="Cluster"), 201)
    base = f"/apis/{group}/v1/widgets"
    api.ok("POST", base, {"apiVersion": f"{group}/v1", "kind": "Widget",
                          "metadata": {"name": "held", "finalizers": ["example.com/hold"]}},
           201)
    api.ok("DELETE", f"{CRDS}/widgets.{group}")
    crd = api.ok("GET", f"{CRDS}/widgets.{group}")
    assert crd["metadata"]["deletionTimestamp"]
    assert "customresourcecleanup.apiextensions.k8s.io" in crd["metadata"]["finalizers"]

    def terminating() -> bool:
        c = api.ok("GET", f"{CRDS}/widgets.{group}")
        return any(x["type"] == "Terminating" and x["status"] == "True"
                   and x["reason"] == "InstanceDeletionInProgress"
                   for x in c["status"].get("conditions", []))

    wait_for(terminating, timeout=30)
    code, st = api.call("POST", base, {"apiVersion": f"{group}/v1", "kind": "Widget",
                                       "metadata": {"name": "late"}})
    assert code == 405, st
    # the object held by its own finalizer holds the CRD; released, both go
    wait_for(lambda: api.ok("GET", f"{base}/held")["metadata"].get("deletionTimestamp"),
             timeout=30)
    api.ok("PATCH", f"{base}/held", {"metadata": {"finalizers": None}},
           content_type="application/merge-patch+json")
    wait_for(lambda: api.call("GET", f"{CRDS}/widgets.{group}")[0] == 404, timeout=30)


def test_versions_discovery_openapi_watch(api: Api, group: str) -> None:
    open_schema = {"openAPIV3Schema": {"type": "object",
                                       "x-kubernetes-preserve-unknown-fields": True}}
    versions = [{"name": "v1beta1", "served": True, "storage": False, "schema": open_schema},
                {"name": "v1", "served": True, "storage": True, "schema": open_schema},
                {"name": "v1alpha1", "served": False, "storage": False, "schema": open_schema}]
    api.ok("POST", CRDS, crd_body(group, plural="gizmos", kind="Gizmo", versions=versions,
                                  short=["gz"]), 201)
    wait_for(lambda: established(api, f"gizmos.{group}"), timeout=30)
    g = next(x for x in api.ok("GET", "/apis")["groups"] if x["name"] == group)
    assert [v["version"] for v in g["versions"]] == ["v1", "v1beta1"]
    assert g["preferredVersion"]["version"] == "v1"
    rl = api.ok("GET", f"/apis/{group}/v1")
    assert rl["resources"] == [{
        "name": "gizmos", "singularName": "gizmo", "namespaced": True, "kind": "Gizmo",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update",
                  "watch"],
        "storageVersionHash": rl["resources"][0]["storageVersionHash"],
        "shortNames": ["gz"], "categories": ["all"]}]
    assert api.call("GET", f"/apis/{group}/v1alpha1/gizmos")[0] == 404
    idx = api.ok("GET", "/openapi/v3")["paths"]
    assert f"apis/{group}/v1" in idx and f"apis/{group}/v1beta1" in idx
    doc = api.ok("GET", idx[f"apis/{group}/v1"]["serverRelativeURL"])
    assert f"/apis/{group}/v1/namespaces/{{namespace}}/gizmos/{{name}}" in doc["paths"]
    v2 = api.ok("GET", "/openapi/v2")
    assert f"/apis/{group}/v1beta1/namespaces/{{namespace}}/gizmos" in v2["paths"]

    ns = api.namespace()
    w = Watch(api.url, f"/apis/{group}/v1beta1/namespaces/{ns}/gizmos", watch="true")
    try:
        # written as v1beta1, stored as v1, read in either version (the None conversion)
        made = api.ok("POST", f"/apis/{group}/v1beta1/namespaces/{ns}/gizmos",
                      {"apiVersion": f"{group}/v1beta1", "kind": "Gizmo",
                       "metadata": {"name": "z"}, "anything": {"goes": 1}}, 201)
        assert made["apiVersion"] == f"{group}/v1beta1"
        assert api.ok("GET", f"/apis/{group}/v1/namespaces/{ns}/gizmos/z")["apiVersion"] \
            == f"{group}/v1"
        lst = api.ok("GET", f"/apis/{group}/v1beta1/namespaces/{ns}/gizmos")
        assert lst["kind"] == "GizmoList" and lst["apiVersion"] == f"{group}/v1beta1"
        assert [i["apiVersion"] for i in lst["items"]] == [f"{group}/v1beta1"]
        api.ok("PATCH", f"/apis/{group}/v1/namespaces/{ns}/gizmos/z", {"anything": 2},
               content_type="application/merge-patch+json")
        api.ok("DELETE", f"/apis/{group}/v1/namespaces/{ns}/gizmos/z")
        evs = [w.next_non_bookmark() for _ in range(3)]
        assert [e["type"] for e in evs] == ["ADDED", "MODIFIED", "DELETED"]
        assert {e["object"]["apiVersion"] for e in evs} == {f"{group}/v1beta1"}
    finally:
        w.close()


def test_bad_crds(api: Api, group: str) -> None:
    bad = crd_body(group)
    bad["metadata"]["name"] = f"other.{group}"
    bad["spec"]["scope"] = "Galaxy"
    bad["spec"]["versions"].append({**bad["spec"]["versions"][0], "name": "v2"})
    code, st = api.call("POST", CRDS, bad)
    assert code == 422 and st["reason"] == "Invalid"
    causes = {(c["field"], c["reason"]) for c in st["details"]["causes"]}
    assert ("metadata.name", "FieldValueInvalid") in causes
    assert ("spec.scope", "FieldValueNotSupported") in causes
    assert ("spec.versions", "FieldValueInvalid") in causes  # two storage versions
    msgs = " ".join(c["message"] for c in st["details"]["causes"])
    assert 'must be spec.names.plural+"."+spec.group' in msgs
    assert "must have exactly one version marked as storage version" in msgs

    hook = crd_body(group)
    hook["spec"]["conversion"] = {"strategy": "Webhook"}
    code, st = api.call("POST", CRDS, hook)
    assert code == 422
    assert [c["field"] for c in st["details"]["causes"]] == ["spec.conversion.strategy"]
    assert "not supported" in st["details"]["causes"][0]["message"]

    noschema = crd_body(group)
    del noschema["spec"]["versions"][0]["schema"]
    code, st = api.call("POST", CRDS, noschema)
    assert code == 422
    assert st["details"]["causes"][0]["field"] == "spec.versions[0].schema.openAPIV3Schema"

    nodot = crd_body("example")
    code, st = api.call("POST", CRDS, nodot)
    assert code == 422 and "should be a domain with at least one dot" in st["message"]
    # the group's immutable once made
    api.ok("POST", CRDS, crd_body(group), 201)
    code, st = api.call("PATCH", f"{CRDS}/widgets.{group}",
                        {"spec": {"names": {"plural": "things"}}},
                        content_type="application/merge-patch+json")
    assert code == 422 and "field is immutable" in st["message"]


def test_official_client(server_url: str, group: str, api: Api) -> None:
    with client.ApiClient(client.Configuration(host=server_url)) as c:
        ext = client.ApiextensionsV1Api(c)
        made = ext.create_custom_resource_definition(crd_body(group))
        assert made.metadata.name == f"widgets.{group}"
        wait_for(lambda: any(
            x.type == "Established" and x.status == "True" for x in
            (ext.read_custom_resource_definition(f"widgets.{group}").status.conditions or [])),
            timeout=30)
        crd = ext.read_custom_resource_definition(f"widgets.{group}")
        assert crd.status.accepted_names.kind == "Widget"
        assert crd.status.stored_versions == ["v1"]
        ns = api.namespace()
        co = client.CustomObjectsApi(c)
        body = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "o1"},
                "spec": {"size": 1}}
        co.create_namespaced_custom_object(group, "v1", ns, "widgets", body)
        got = co.get_namespaced_custom_object(group, "v1", ns, "widgets", "o1")
        assert got["spec"] == {"size": 1, "color": "blue"}
        co.patch_namespaced_custom_object(group, "v1", ns, "widgets", "o1",
                                          {"spec": {"size": 2}})
        co.patch_namespaced_custom_object_status(group, "v1", ns, "widgets", "o1",
                                                 {"status": {"replicas": 7}})
        co.patch_namespaced_custom_object_scale(group, "v1", ns, "widgets", "o1",
                                                {"spec": {"replicas": 3}})
        got = co.get_namespaced_custom_object(group, "v1", ns, "widgets", "o1")
        assert got["spec"]["size"] == 2 and got["spec"]["replicas"] == 3
        assert got["status"] == {"replicas": 7}
        lst = co.list_namespaced_custom_object(group, "v1", ns, "widgets")
        assert [i["metadata"]["name"] for i in lst["items"]] == ["o1"]
        assert co.list_cluster_custom_object(group, "v1", "widgets")["items"]
        events = []
        w = watch.Watch()
        for ev in w.stream(co.list_namespaced_custom_object, group, "v1", ns, "widgets",
                           timeout_seconds=5):
            events.append((ev["type"], ev["object"]["metadata"]["name"]))
            w.stop()
        assert events == [("ADDED", "o1")]
        with pytest.raises(ApiException) as e:
            co.create_namespaced_custom_object(group, "v1", ns, "widgets",
                                               {**body, "spec": {"size": "big"}})
        assert e.value.status == 422
        co.delete_namespaced_custom_object(group, "v1", ns, "widgets", "o1")
        with pytest.raises(ApiException) as e:
            co.get_namespaced_custom_object(group, "v1", ns, "widgets", "o1")
        assert e.value.status == 404
        ext.delete_custom_resource_definition(f"widgets.{group}")
        wait_for(lambda: api.call("GET", f"{CRDS}/widgets.{group}")[0] == 404, timeout=30)


def test_bench_smoke() -> None:
    """bench/crd.py end to end on a few objects (no figure asserted)."""
    from bench.crd import main

    out = main(["--n", "10", "--concurrency", "2", "--lists", "2", "--rounds", "1"])
    assert set(out["custom_vs_pods"]) == {"create_per_s", "list_per_s", "watch_events_per_s"}
    assert all(v > 0 for v in out["custom_vs_pods"].values())


def test_kubectl_watch_and_metadata_validation(api: Api, kubectl: Kubectl, group: str,
                                                ns: str) -> None:
    api.ok("POST", CRDS, crd_body(group), 201)
    wait_for(lambda: established(api, f"widgets.{group}"), timeout=30)
    base = f"/apis/{group}/v1/namespaces/{ns}/widgets"
    code, st = api.call("POST", base, {"apiVersion": f"{group}/v1", "kind": "Widget",
                                       "metadata": {"name": "Bad_Name",
                                                    "labels": {"a": "-x-"}}})
    assert code == 422
    assert {c["field"] for c in st["details"]["causes"]} == {"metadata.name",
                                                               "metadata.labels"}
    api.ok("POST", base, {"apiVersion": f"{group}/v1", "kind": "Widget",
                          "metadata": {"name": "w0"}, "spec": {"size": 1}}, 201)
    proc = kubectl.popen("get", f"widgets.{group}", "-n", ns, "-w", "--output-watch-events")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),
                              daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: len(lines) >= 2, timeout=30)  # the header and w0: watching
        assert lines[0].split() == ["EVENT", "NAME", "SIZE", "AGE"]
        api.ok("POST", base, {"apiVersion": f"{group}/v1", "kind": "Widget",
                              "metadata": {"name": "w"}, "spec": {"size": 4}}, 201)
        api.ok("PATCH", f"{base}/w", {"spec": {"size": 5}},
               content_type="application/merge-patch+json")
        api.ok("DELETE", f"{base}/w")
        wait_for(lambda: len(lines) >= 5, timeout=30)
    finally:
        proc.kill()
        proc.wait(10)
    rows = [ln.split()[:3] for ln in lines[1:5]]
    assert rows == [["ADDED", "w0", "1"], ["ADDED", "w", "4"], ["MODIFIED", "w", "5"],
                    ["DELETED", "w", "5"]]


def test_names_conflict(api: Api, group: str) -> None:
    """A second CRD of the group whose kind is taken: NamesAccepted False (KindConflict),
    not Established, not served; the first is untouched."""
    api.ok("POST", CRDS, crd_body(group), 201)
    wait_for(lambda: established(api, f"widgets.{group}"), timeout=30)
    api.ok("POST", CRDS, crd_body(group, plural="others", kind="Widget"), 201)

    def conditions() -> dict[str, tuple[str, str]]:
        crd = api.ok("GET", f"{CRDS}/others.{group}")
        return {c["type"]: (c["status"], c["reason"])
                for c in crd["status"].get("conditions", [])}

    wait_for(lambda: "NamesAccepted" in conditions(), timeout=30)
    assert conditions() == {"NamesAccepted": ("False", "KindConflict"),
                            "Established": ("False", "NotAccepted")}
    assert api.call("GET", f"/apis/{group}/v1/others")[0] == 404
    assert api.call("GET", f"/apis/{group}/v1/widgets")[0] == 200


def test_printer_columns_per_version(api: Api, kubectl: Kubectl, group: str, ns: str) -> None:
    crd = crd_body(group)
    v1 = crd["spec"]["versions"][0]
    v1beta1 = {**v1, "name": "v1beta1", "storage": False, "additionalPrinterColumns": [
        {"name": "Paint", "type": "string", "jsonPath": ".spec.color"}]}
    crd["spec"]["versions"].append(v1beta1)
    api.ok("POST", CRDS, crd, 201)
    wait_for(lambda: established(api, f"widgets.{group}"), timeout=30)
    api.ok("POST", f"/apis/{group}/v1/namespaces/{ns}/widgets",
           {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 2}}, 201)
    v1_table = kubectl("get", f"widgets.v1.{group}", "-n", ns).stdout.splitlines()
    assert v1_table[0].split() == ["NAME", "SIZE", "AGE"]
    beta = kubectl("get", f"widgets.v1beta1.{group}", "-n", ns).stdout.splitlines()
    assert beta[0].split() == ["NAME", "PAINT"] and beta[1].split() == ["w", "blue"]
