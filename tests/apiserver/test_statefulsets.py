"""apps/v1 StatefulSets on the API server: SetDefaults_StatefulSet, validation as
pkg/apis/apps/validation words it (ValidateStatefulSetSpec, ValidateStatefulSetUpdate), the
status and scale subresources, and the Tables the real kubectl prints (get sts, -o wide)."""

from __future__ import annotations

import json
import re
from typing import Any

from testing.apiclient import Api
from testing.kubectl import Kubectl
from testing.support import unique


def sts(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}},
                     **spec}}


def path(ns: str, name: str = "") -> str:
    base = f"/apis/apps/v1/namespaces/{ns}/statefulsets"
    return f"{base}/{name}" if name else base


def causes(api: Api, body: dict[str, Any], ns: str) -> list[tuple[str, str, str]]:
    st = api.ok("POST", path(ns), body, 422)
    assert st["reason"] == "Invalid" and st["details"]["kind"] == "StatefulSet"
    return [(c["reason"], c["field"], c["message"]) for c in st["details"]["causes"]]


def test_defaults_generation_status_and_scale(api: Api, ns: str) -> None:
    created = api.ok("POST", path(ns), sts("s1", volumeClaimTemplates=[
        {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                "resources": {"requests": {"storage": "1Gi"}}}}]),
                     201)
    spec = created["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain",
                                                            "whenScaled": "Retain"}
    assert spec["volumeClaimTemplates"][0]["spec"]["volumeMode"] == "Filesystem"
    assert spec["volumeClaimTemplates"][0]["status"] == {"phase": "Pending"}
    assert created["metadata"]["generation"] == 1
    assert created["status"] == {"replicas": 0, "availableReplicas": 0}
    od = api.ok("POST", path(ns), sts("s2", updateStrategy={"type": "OnDelete"}), 201)
    assert od["spec"]["updateStrategy"] == {"type": "OnDelete"}
    out = api.ok("PATCH", path(ns, "s1"), {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "busybox:2"}]}}}}, content_type="application/merge-patch+json")
    assert out["metadata"]["generation"] == 2
    out["status"] = {"replicas": 1, "readyReplicas": 1, "currentRevision": "s1-1"}
    api.ok("PUT", path(ns, "s1") + "/status", out)
    got = api.ok("GET", path(ns, "s1"))
    got["status"] = {"replicas": 9}
    assert api.ok("PUT", path(ns, "s1"), got)["status"]["replicas"] == 1
    scale = api.ok("GET", path(ns, "s1") + "/scale")
    assert scale["spec"] == {"replicas": 1} and scale["status"]["selector"] == "app=s1"
    scale["spec"]["replicas"] = 3
    api.ok("PUT", path(ns, "s1") + "/scale", scale)
    assert api.ok("GET", path(ns, "s1"))["spec"]["replicas"] == 3
    # serviceName, volumeClaimTemplates and the selector are not updatable
    got = api.ok("GET", path(ns, "s1"))
    got["spec"]["serviceName"] = "other"
    st = api.ok("PUT", path(ns, "s1"), got, 422)
    assert [(c["field"], c["message"]) for c in st["details"]["causes"]] == [
        ("spec", "Forbidden: updates to statefulset spec for fields other than 'replicas', "
         "'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', "
         "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")]


def test_validation_messages(api: Api, ns: str) -> None:
    bad = sts("v1", minReadySeconds=-1, replicas=-2, podManagementPolicy="Sometimes",
              ordinals={"start": -1})
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    bad["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    got = causes(api, bad, ns)
    assert ("FieldValueInvalid", "spec.podManagementPolicy",
            'Invalid value: "Sometimes": must be \'OrderedReady\' or \'Parallel\'') in got
    assert ("FieldValueInvalid", "spec.template.metadata.labels",
            'Invalid value: {"app":"other"}: `selector` does not match template `labels`') in got
    assert ("FieldValueNotSupported", "spec.template.spec.restartPolicy",
            'Unsupported value: "Never": supported values: "Always"') in got
    assert ("FieldValueInvalid", "spec.replicas",
            "Invalid value: -2: must be greater than or equal to 0") in got
    assert ("FieldValueInvalid", "spec.ordinals.start",
            "Invalid value: -1: must be greater than or equal to 0") in got
    got = causes(api, sts("v2", updateStrategy={"type": "OnDelete",
                                                "rollingUpdate": {"partition": 1}}), ns)
    assert [g[:2] for g in got] == [("FieldValueInvalid", "spec.updateStrategy.rollingUpdate")]
    assert got[0][2].endswith("only allowed for updateStrategy 'RollingUpdate'")
    got = causes(api, sts("v3", updateStrategy={"type": "RollingUpdate", "rollingUpdate": {
        "partition": -1, "maxUnavailable": 0}}), ns)
    assert got == [("FieldValueInvalid", "spec.updateStrategy.rollingUpdate.partition",
                    "Invalid value: -1: must be greater than or equal to 0"),
                   ("FieldValueInvalid", "spec.updateStrategy.rollingUpdate.maxUnavailable",
                    "Invalid value: 0: must be greater than 0")]
    got = causes(api, sts("v4", persistentVolumeClaimRetentionPolicy={
        "whenDeleted": "Keep", "whenScaled": "Delete"}), ns)
    assert got == [("FieldValueNotSupported",
                    "spec.persistentVolumeClaimRetentionPolicy.whenDeleted",
                    'Unsupported value: "Keep": supported values: "Retain", "Delete"')]
    empty = sts("v6")
    empty["spec"]["selector"] = {}
    got = causes(api, empty, ns)
    assert ("FieldValueInvalid", "spec.selector",
            "Invalid value: {}: empty selector is invalid for statefulset") in got


def test_kubectl_get_sts(api: Api, kubectl: Kubectl, ns: str) -> None:
    name = unique("ksts")
    kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps(sts(name, replicas=3)))
    got = api.ok("GET", path(ns, name))
    got["status"] = {"replicas": 3, "readyReplicas": 2}
    api.ok("PUT", path(ns, name) + "/status", got)
    lines = kubectl("get", "sts", "-n", ns).stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["NAME", "READY", "AGE"]
    assert re.split(r"\s{2,}", lines[1])[:2] == [name, "2/3"]
    wide = kubectl("get", "statefulset", name, "-n", ns, "-o", "wide").stdout.splitlines()
    assert re.split(r"\s{2,}", wide[0]) == ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]
    assert re.split(r"\s{2,}", wide[1])[-2:] == ["c", "busybox:1"]
    kubectl("scale", "sts", name, "-n", ns, "--replicas=5")
    assert api.ok("GET", path(ns, name))["spec"]["replicas"] == 5
    res = kubectl("api-resources", "--api-group=apps").stdout
    assert re.search(r"^statefulsets\s+sts\s+apps/v1\s+true\s+StatefulSet$", res, re.M)


def test_containers_mount_the_claim_templates(api: Api, ns: str) -> None:
    """A container mounts a volumeClaimTemplate by its name (the pods get a volume of that
    name); a mount naming neither a volume nor a claim template is still refused."""
    body = sts("claims", volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}])
    body["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "data", "mountPath": "/data"}]
    api.ok("POST", path(ns), body, 201)
    body["metadata"]["name"] = "claims2"
    body["spec"]["template"]["spec"]["containers"][0]["volumeMounts"].append(
        {"name": "nothing", "mountPath": "/n"})
    assert causes(api, body, ns) == [(
        "FieldValueNotFound", "spec.template.spec.containers[0].volumeMounts[1].name",
        'Not found: "nothing"')]
