"""apps/v1 DaemonSets and ControllerRevisions on the API server: SetDefaults_DaemonSet,
the template generation annotation, validation as pkg/apis/apps/validation words it, the
status subresource, and the Tables the real kubectl prints (get ds, -o wide,
controllerrevisions)."""

from __future__ import annotations

import json
import re
from typing import Any

from testing.apiclient import Api
from testing.kubectl import Kubectl
from testing.support import unique

GEN = "deprecated.daemonset.template.generation"


def ds(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}, **spec}}


def path(ns: str, name: str = "") -> str:
    base = f"/apis/apps/v1/namespaces/{ns}/daemonsets"
    return f"{base}/{name}" if name else base


def causes(api: Api, body: dict[str, Any], ns: str) -> list[tuple[str, str, str]]:
    st = api.ok("POST", path(ns), body, 422)
    assert st["reason"] == "Invalid" and st["details"]["kind"] == "DaemonSet"
    return [(c["reason"], c["field"], c["message"]) for c in st["details"]["causes"]]


def test_defaults_generation_and_status(api: Api, ns: str) -> None:
    created = api.ok("POST", path(ns), ds("d1"), 201)
    spec, md = created["spec"], created["metadata"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate",
                                      "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert md["generation"] == 1 and md["annotations"][GEN] == "1"
    assert created["status"] == {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                                 "desiredNumberScheduled": 0, "numberReady": 0}
    # OnDelete gets no rollingUpdate
    od = api.ok("POST", path(ns), ds("d2", updateStrategy={"type": "OnDelete"}), 201)
    assert od["spec"]["updateStrategy"] == {"type": "OnDelete"}
    # a label change bumps nothing of the template; a template change bumps both
    got = api.ok("GET", path(ns, "d1"))
    got["metadata"]["labels"] = {"x": "y"}
    out = api.ok("PUT", path(ns, "d1"), got)
    assert out["metadata"]["generation"] == 1 and out["metadata"]["annotations"][GEN] == "1"
    out = api.ok("PATCH", path(ns, "d1"), {"spec": {"minReadySeconds": 3}},
                 content_type="application/merge-patch+json")
    assert out["metadata"]["generation"] == 2 and out["metadata"]["annotations"][GEN] == "1"
    out = api.ok("PATCH", path(ns, "d1"), {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "busybox:2"}]}}}}, content_type="application/merge-patch+json")
    assert out["metadata"]["generation"] == 3 and out["metadata"]["annotations"][GEN] == "2"
    # status only through /status
    out["status"] = {"desiredNumberScheduled": 2, "currentNumberScheduled": 1,
                     "numberReady": 1, "numberMisscheduled": 0}
    api.ok("PUT", path(ns, "d1") + "/status", out)
    got = api.ok("GET", path(ns, "d1"))
    got["status"] = {"desiredNumberScheduled": 9}
    assert api.ok("PUT", path(ns, "d1"), got)["status"]["desiredNumberScheduled"] == 2
    # the selector is immutable
    got = api.ok("GET", path(ns, "d1"))
    got["spec"]["selector"] = {"matchLabels": {"app": "d1", "b": "c"}}
    got["spec"]["template"]["metadata"]["labels"]["b"] = "c"
    st = api.ok("PUT", path(ns, "d1"), got, 422)
    assert [(c["field"], c["message"].split(": ")[-1]) for c in st["details"]["causes"]] == [
        ("spec.selector", "field is immutable")]


def test_validation_messages(api: Api, ns: str) -> None:
    bad = ds("v1", minReadySeconds=-1, revisionHistoryLimit=-2)
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    bad["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    got = causes(api, bad, ns)
    assert ("FieldValueInvalid", "spec.template.metadata.labels",
            'Invalid value: {"app":"other"}: `selector` does not match template `labels`') in got
    assert ("FieldValueNotSupported", "spec.template.spec.restartPolicy",
            'Unsupported value: "Never": supported values: "Always"') in got
    assert ("FieldValueInvalid", "spec.minReadySeconds",
            "Invalid value: -1: must be greater than or equal to 0") in got
    assert ("FieldValueInvalid", "spec.revisionHistoryLimit",
            "Invalid value: -2: must be greater than or equal to 0") in got
    got = causes(api, ds("v2", updateStrategy={"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": 1, "maxSurge": 1}}), ns)
    assert got == [("FieldValueInvalid", "spec.updateStrategy.rollingUpdate.maxSurge",
                    "Invalid value: 1: may not be set when maxUnavailable is non-zero")]
    got = causes(api, ds("v3", updateStrategy={"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": 0, "maxSurge": "0%"}}), ns)
    assert got == [("FieldValueRequired", "spec.updateStrategy.rollingUpdate.maxUnavailable",
                    "Required value: cannot be 0 when maxSurge is 0")]
    got = causes(api, ds("v4", updateStrategy={"type": "Sometimes"}), ns)
    assert got[0][:2] == ("FieldValueNotSupported", "spec.updateStrategy")
    assert got[0][2].endswith('supported values: "RollingUpdate", "OnDelete"')
    got = causes(api, ds("v5", updateStrategy={"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": "120%"}}), ns)
    assert ("FieldValueInvalid", "spec.updateStrategy.rollingUpdate.maxUnavailable",
            'Invalid value: "120%": must not be greater than 100%') in got
    empty = ds("v6")
    empty["spec"]["selector"] = {}
    got = causes(api, empty, ns)
    assert ("FieldValueInvalid", "spec.selector",
            "Invalid value: {}: empty selector is invalid for daemonset") in got


def test_controller_revisions(api: Api, ns: str) -> None:
    crs = f"/apis/apps/v1/namespaces/{ns}/controllerrevisions"
    st = api.ok("POST", crs, {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                              "metadata": {"name": "r0"}, "revision": -1}, 422)
    assert [(c["field"], c["message"]) for c in st["details"]["causes"]] == [
        ("data", "Required value: data is mandatory"),
        ("revision", "Invalid value: -1: must be greater than or equal to 0")]
    owner = api.ok("POST", path(ns), ds("own"), 201)
    ref = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "own",
           "uid": owner["metadata"]["uid"], "controller": True}
    rev = api.ok("POST", crs, {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                               "metadata": {"name": "own-abc", "ownerReferences": [ref]},
                               "data": {"spec": {"template": {"$patch": "replace"}}},
                               "revision": 1}, 201)
    rev["revision"] = 3
    assert api.ok("PUT", f"{crs}/own-abc", rev)["revision"] == 3
    rev = api.ok("GET", f"{crs}/own-abc")
    rev["data"] = {"spec": {}}
    st = api.ok("PUT", f"{crs}/own-abc", rev, 422)
    assert st["details"]["causes"][0]["field"] == "data"
    assert "field is immutable" in st["details"]["causes"][0]["message"]


def test_kubectl_get_ds_and_revisions(api: Api, kubectl: Kubectl, ns: str) -> None:
    name = unique("kds")
    body = ds(name)
    body["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd", "arch": "amd64"}
    kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps(body))
    got = api.ok("GET", path(ns, name))
    got["status"] = {"desiredNumberScheduled": 3, "currentNumberScheduled": 2,
                     "numberReady": 1, "updatedNumberScheduled": 2, "numberAvailable": 1,
                     "numberMisscheduled": 0}
    api.ok("PUT", path(ns, name) + "/status", got)
    lines = kubectl("get", "ds", "-n", ns).stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["NAME", "DESIRED", "CURRENT", "READY",
                                             "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR",
                                             "AGE"]
    assert re.split(r"\s{2,}", lines[1])[:7] == [name, "3", "2", "1", "2", "1",
                                                 "arch=amd64,disk=ssd"]
    wide = kubectl("get", "daemonset", name, "-n", ns, "-o", "wide").stdout.splitlines()
    assert re.split(r"\s{2,}", wide[0])[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert re.split(r"\s{2,}", wide[1])[-3:] == ["c", "busybox:1", f"app={name}"]
    uid = got["metadata"]["uid"]
    api.ok("POST", f"/apis/apps/v1/namespaces/{ns}/controllerrevisions", {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": f"{name}-5d8f", "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "DaemonSet", "name": name, "uid": uid,
            "controller": True}]}, "data": {"spec": {}}, "revision": 4}, 201)
    lines = kubectl("get", "controllerrevisions", "-n", ns).stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["NAME", "CONTROLLER", "REVISION", "AGE"]
    assert re.split(r"\s{2,}", lines[1])[:3] == [f"{name}-5d8f", f"daemonset.apps/{name}", "4"]
    res = kubectl("api-resources", "--api-group=apps").stdout
    assert re.search(r"^daemonsets\s+ds\s+apps/v1\s+true\s+DaemonSet$", res, re.M)
    assert re.search(r"^controllerrevisions\s+apps/v1\s+true\s+ControllerRevision$", res, re.M)


def test_official_client_apps_v1(server_url: str, ns: str) -> None:
    from kubernetes import client

    with client.ApiClient(client.Configuration(host=server_url)) as c:
        apps = client.AppsV1Api(c)
        body = client.V1DaemonSet(
            metadata=client.V1ObjectMeta(name="py"),
            spec=client.V1DaemonSetSpec(
                selector=client.V1LabelSelector(match_labels={"app": "py"}),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels={"app": "py"}),
                    spec=client.V1PodSpec(containers=[
                        client.V1Container(name="c", image="busybox:1")]))))
        created = apps.create_namespaced_daemon_set(ns, body)
        assert created.spec.update_strategy.rolling_update.max_unavailable == 1
        assert created.spec.revision_history_limit == 10
        got = apps.read_namespaced_daemon_set("py", ns)
        assert got.metadata.uid == created.metadata.uid
        patched = apps.patch_namespaced_daemon_set("py", ns, {"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "busybox:2"}]}}}})
        assert patched.spec.template.spec.containers[0].image == "busybox:2"
        assert patched.metadata.generation == 2
        assert [d.metadata.name for d in apps.list_namespaced_daemon_set(ns).items] == ["py"]
        st = apps.read_namespaced_daemon_set_status("py", ns)
        assert st.status.desired_number_scheduled == 0
        apps.delete_namespaced_daemon_set("py", ns)
        assert apps.list_namespaced_daemon_set(ns).items == []
        rev = apps.create_namespaced_controller_revision(ns, client.V1ControllerRevision(
            metadata=client.V1ObjectMeta(name="r1"), data={"spec": {}}, revision=1))
        assert rev.revision == 1
        assert [r.metadata.name for r in apps.list_namespaced_controller_revision(ns).items] \
            == ["r1"]
