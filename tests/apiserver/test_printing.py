"""Unit tests of discovery documents, Table printing, OpenAPI and request parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api import resources
from apiserver import discovery, openapi, requestinfo, tables

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def ago(**kw: float) -> str:
    return (NOW - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_discovery_documents() -> None:
    core = discovery.api_resource_list("", "v1")
    assert core is not None and core["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["pods"]["shortNames"] == ["po"] and by_name["pods"]["namespaced"]
    assert by_name["pods"]["categories"] == ["all"]
    assert by_name["pods/binding"] == {"name": "pods/binding", "singularName": "",
                                       "namespaced": True, "kind": "Binding",
                                       "verbs": ["create"]}
    assert by_name["pods/log"]["verbs"] == ["get"]
    assert by_name["nodes"]["namespaced"] is False
    assert set(by_name["pods"]["verbs"]) >= {"create", "get", "list", "watch", "patch"}
    apps = discovery.api_resource_list("apps", "v1")
    assert apps is not None
    scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    groups = discovery.api_group_list()["groups"]
    assert [g["name"] for g in groups] == ["apps", "batch", "coordination.k8s.io",
                                              "discovery.k8s.io", "autoscaling",
                                              "rbac.authorization.k8s.io",
                                              "authorization.k8s.io", "authentication.k8s.io",
                                              "policy", "networking.k8s.io", "storage.k8s.io",
                                              "apiextensions.k8s.io", "certificates.k8s.io",
                                              "metrics.k8s.io"]
    assert groups[0]["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    assert discovery.api_versions()["versions"] == ["v1"]
    assert discovery.api_resource_list("apps", "v2") is None
    v = discovery.version_info()
    assert v["gitVersion"].startswith("v1.") and v["major"] == "1"


def test_wants_table() -> None:
    assert tables.wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
    assert tables.wants_table("application/json;as=Table;v=v1beta1;g=meta.k8s.io, "
                              "application/json;as=Table;v=v1;g=meta.k8s.io")
    assert not tables.wants_table("application/json")
    assert not tables.wants_table(None)
    assert not tables.wants_table("application/json, application/json;as=Table;g=meta.k8s.io")


def pod(**status: Any) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": "p", "namespace": "default",
                                        "creationTimestamp": ago(seconds=30)},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
            "status": status}


def cells(obj: dict[str, Any]) -> list[Any]:
    return list(tables.row(resources.by_kind(str(obj["kind"])), obj, now=NOW)["cells"])


def running(ready: bool = True, restarts: int = 0) -> dict[str, Any]:
    return {"state": {"running": {"startedAt": ago(seconds=20)}}, "ready": ready,
            "restartCount": restarts}


def test_pod_status_column() -> None:
    assert cells(pod(phase="Pending"))[:5] == ["p", "0/2", "Pending", "0", "30s"]
    creating = {"state": {"waiting": {"reason": "ContainerCreating"}}, "ready": False,
                "restartCount": 0}
    assert cells(pod(phase="Pending", containerStatuses=[creating, creating]))[2] == \
        "ContainerCreating"
    r = cells(pod(phase="Running", podIP="10.0.0.5",
                  containerStatuses=[running(), running()]))
    assert r == ["p", "2/2", "Running", "0", "30s", "10.0.0.5", "n1", "<none>", "<none>"]
    crash = {"state": {"waiting": {"reason": "CrashLoopBackOff"}}, "ready": False,
             "restartCount": 3, "lastState": {"terminated": {"exitCode": 1,
                                                             "finishedAt": ago(seconds=10)}}}
    assert cells(pod(phase="Running", containerStatuses=[running(), crash]))[1:4] == \
        ["1/2", "CrashLoopBackOff", "3 (10s ago)"]
    done = {"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}, "ready": False}
    row = tables.row(resources.PODS, pod(phase="Succeeded", containerStatuses=[done, done]),
                     now=NOW)
    assert row["cells"][2] == "Completed" and row["conditions"][0]["type"] == "Completed"
    assert cells(pod(phase="Failed", containerStatuses=[
        {"state": {"terminated": {"exitCode": 2}}}]))[2] == "ExitCode:2"
    deleting = pod(phase="Running", containerStatuses=[running(), running()])
    deleting["metadata"]["deletionTimestamp"] = ago(seconds=1)
    assert cells(deleting)[2] == "Terminating"
    init = pod(phase="Pending", initContainerStatuses=[
        {"name": "i", "state": {"waiting": {"reason": "PodInitializing"}}}])
    init["spec"]["initContainers"] = [{"name": "i"}]
    assert cells(init)[2] == "Init:0/1"


def test_other_kinds_columns() -> None:
    dep = {"kind": "Deployment", "metadata": {"name": "web", "creationTimestamp": ago(minutes=5)},
           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}},
           "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    assert cells(dep) == ["web", "2/3", 3, 2, "5m", "nginx", "nginx", "app=web"]
    rs = {**dep, "kind": "ReplicaSet", "status": {"replicas": 3, "readyReplicas": 1}}
    assert cells(rs)[:5] == ["web", 3, 3, 1, "5m"]
    node = {"kind": "Node", "metadata": {"name": "n1", "creationTimestamp": ago(hours=1),
                                         "labels": {"node-role.kubernetes.io/worker": ""}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "nodeInfo": {"kubeletVersion": "v1.36.0-minik8s"},
                       "addresses": [{"type": "InternalIP", "address": "172.17.0.2"}]}}
    assert cells(node)[:6] == ["n1", "Ready,SchedulingDisabled", "worker", "60m",
                               "v1.36.0-minik8s", "172.17.0.2"]
    assert cells(node)[6:] == ["<none>", "<unknown>", "<unknown>", "<unknown>"]
    ns = {"kind": "Namespace", "metadata": {"name": "default", "creationTimestamp": ago(days=3)},
          "status": {"phase": "Active"}}
    assert cells(ns) == ["default", "Active", "3d"]
    ev = {"kind": "Event", "metadata": {"name": "e1"}, "type": "Normal", "reason": "Scheduled",
          "message": "Successfully assigned default/p to n1 ", "count": 2,
          "firstTimestamp": ago(minutes=3), "lastTimestamp": ago(seconds=4),
          "involvedObject": {"kind": "Pod", "name": "p"},
          "source": {"component": "default-scheduler"}}
    assert cells(ev)[:4] == ["4s", "Normal", "Scheduled", "pod/p"]
    assert cells(ev)[6] == "Successfully assigned default/p to n1"
    lease = {"kind": "Lease", "metadata": {"name": "l", "creationTimestamp": ago(seconds=3)},
             "spec": {"holderIdentity": "me"}}
    assert cells(lease) == ["l", "me", "3s"]


def test_convert_list_get_and_watch_event() -> None:
    items = [pod(phase="Pending"), pod(phase="Pending")]
    body = {"kind": "PodList", "apiVersion": "v1",
            "metadata": {"resourceVersion": "42", "continue": "c"}, "items": items}
    t = tables.convert_body(resources.PODS, body)
    assert t["kind"] == "Table" and t["apiVersion"] == "meta.k8s.io/v1"
    assert t["metadata"] == {"resourceVersion": "42", "continue": "c"}
    assert [c["name"] for c in t["columnDefinitions"]][:5] == \
        ["Name", "Ready", "Status", "Restarts", "Age"]
    assert t["rows"][0]["object"] == {"kind": "PartialObjectMetadata",
                                      "apiVersion": "meta.k8s.io/v1",
                                      "metadata": items[0]["metadata"]}
    one = tables.convert_body(resources.PODS, items[0], include_object="Object")
    assert len(one["rows"]) == 1 and one["rows"][0]["object"] == items[0]
    status = {"kind": "Status", "code": 404}
    assert tables.convert_body(resources.PODS, status) is status
    ev = tables.convert_event(resources.PODS, {"type": "MODIFIED", "object": items[0]})
    assert ev["type"] == "MODIFIED" and ev["object"]["rows"][0]["cells"][0] == "p"
    err = {"type": "ERROR", "object": {"kind": "Status", "code": 410}}
    assert tables.convert_event(resources.PODS, err) == err


def test_requestinfo() -> None:
    r = requestinfo.parse("GET", "/api/v1/namespaces/default/pods", {"watch": "true"})
    assert r is not None and (r.resource, r.namespace, r.verb) == (resources.PODS, "default",
                                                                   "watch")
    r = requestinfo.parse("PATCH", "/apis/apps/v1/namespaces/ns/deployments/web/scale")
    assert r is not None and (r.resource, r.name, r.subresource, r.verb) == \
        (resources.DEPLOYMENTS, "web", "scale", "patch")
    r = requestinfo.parse("GET", "/api/v1/namespaces/kube-system")
    assert r is not None and (r.resource, r.name, r.verb) == (resources.NAMESPACES,
                                                              "kube-system", "get")
    r = requestinfo.parse("DELETE", "/api/v1/nodes")
    assert r is not None and r.verb == "deletecollection"
    assert requestinfo.parse("GET", "/api/v1") is None
    assert requestinfo.parse("GET", "/apis/apps/v1/namespaces/x/widgets") is None


def test_openapi_documents() -> None:
    index = openapi.v3_index()["paths"]
    assert set(index) == {"api/v1", "apis/apps/v1", "apis/batch/v1",
                          "apis/coordination.k8s.io/v1", "apis/discovery.k8s.io/v1",
                          "apis/autoscaling/v2", "apis/rbac.authorization.k8s.io/v1",
                          "apis/authorization.k8s.io/v1", "apis/authentication.k8s.io/v1",
                          "apis/policy/v1", "apis/networking.k8s.io/v1",
                          "apis/storage.k8s.io/v1",
                          "apis/apiextensions.k8s.io/v1", "apis/certificates.k8s.io/v1"}
    doc = openapi.v3_document("apis/apps/v1")
    assert doc is not None
    dep = doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]
    assert dep["x-kubernetes-group-version-kind"] == [{"group": "apps", "version": "v1",
                                                       "kind": "Deployment"}]
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    v2 = openapi.v2_document()
    assert "io.k8s.api.core.v1.Pod" in v2["definitions"]
    assert v2["paths"]["/api/v1/nodes/{name}"]["get"]["responses"]["200"]["schema"] == \
        {"$ref": "#/definitions/io.k8s.api.core.v1.Node"}
    # swagger "2.0" and info, as protobuf: field 1 (string), field 2 (message)
    assert openapi.v2_protobuf().startswith(b"\x0a\x032.0\x12")


def test_partial_object_metadata_forms() -> None:
    accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
    assert tables.wanted_form(accept) == "PartialObjectMetadataList"
    assert tables.wanted_form("application/vnd.kubernetes.protobuf;as=Table;g=meta.k8s.io;"
                              "v=v1,application/json;as=Table;g=meta.k8s.io;v=v1") == "Table"
    p = pod(phase="Pending")
    lst = tables.convert_body(resources.PODS, {"kind": "PodList", "metadata": {
        "resourceVersion": "7"}, "items": [p]}, form="PartialObjectMetadataList")
    assert lst == {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                   "metadata": {"resourceVersion": "7"},
                   "items": [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                              "metadata": p["metadata"]}]}
    ev = tables.convert_event(resources.PODS, {"type": "ADDED", "object": p},
                              form="PartialObjectMetadata")
    assert ev["object"]["kind"] == "PartialObjectMetadata"
