"""Defaulting of wire dicts: Kubernetes' SetDefaults_* for the kinds minik8s serves."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from api.defaults import (
    add_default_tolerations,
    apply_defaults,
    default_image_pull_policy,
    prepare_pod_status_for_create,
)
from api.models import Deployment, Namespace, Node, Pod, ReplicaSet
from api.validation import validate


def pod(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec},
    }


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("library/nginx", "Always"),
        ("localhost:5000/nginx", "Always"),  # the colon is the registry port, not a tag
        ("localhost:5000/nginx:1.0", "IfNotPresent"),
        ("localhost:5000/nginx:latest", "Always"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
        ("minik8s/pause:3.9", "IfNotPresent"),
        ("", "IfNotPresent"),
        (None, "IfNotPresent"),
    ],
)
def test_image_pull_policy(image: str | None, policy: str) -> None:
    assert default_image_pull_policy(image) == policy


def test_pod_defaults() -> None:
    p = pod()
    p["spec"]["containers"][0].update(
        ports=[{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}],
        livenessProbe={"httpGet": {"port": 80}},
        readinessProbe={"tcpSocket": {"port": 80}, "periodSeconds": 5},
        resources={"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}},
    )
    apply_defaults("Pod", p)
    spec = p["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    c = spec["containers"][0]
    assert c["imagePullPolicy"] == "Always"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert [pt["protocol"] for pt in c["ports"]] == ["TCP", "UDP"]
    assert c["livenessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert c["readinessProbe"]["periodSeconds"] == 5  # kept
    # requests default to limits, per resource, only where unset
    assert c["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert spec["enableServiceLinks"] is True
    # the node lifecycle controller owns the default toleration of unreachable nodes
    assert "tolerations" not in spec
    assert validate("Pod", p) == []
    Pod.from_dict(p)


def test_default_tolerations_helper() -> None:
    spec = pod()["spec"]
    add_default_tolerations(spec)
    assert spec["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    ]
    own = pod(tolerations=[{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}])["spec"]
    add_default_tolerations(own)
    assert [t["key"] for t in own["tolerations"]] == ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]
    assert own["tolerations"][0]["tolerationSeconds"] == 10
    everything = pod(tolerations=[{"operator": "Exists"}])["spec"]
    add_default_tolerations(everything)
    assert everything["tolerations"] == [{"operator": "Exists"}]


def test_prepare_pod_status_for_create() -> None:
    p = pod()
    p["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1", "memory": "1Gi"}}
    p["status"] = {"phase": "Running", "podIP": "1.2.3.4"}
    apply_defaults("Pod", p)
    prepare_pod_status_for_create(p)
    assert p["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}
    broken: dict[str, Any] = {"spec": {"containers": "x"}}
    prepare_pod_status_for_create(broken)
    assert broken["status"] == {"phase": "Pending"}


def test_defaults_never_overwrite() -> None:
    p = pod(restartPolicy="Never", terminationGracePeriodSeconds=0, schedulerName="mine", dnsPolicy="Default")
    p["spec"]["containers"][0]["imagePullPolicy"] = "Never"
    apply_defaults("Pod", p)
    assert p["spec"]["restartPolicy"] == "Never"
    assert p["spec"]["terminationGracePeriodSeconds"] == 0
    assert p["spec"]["schedulerName"] == "mine"
    assert p["spec"]["dnsPolicy"] == "Default"
    assert p["spec"]["containers"][0]["imagePullPolicy"] == "Never"


def test_defaults_are_idempotent() -> None:
    p = pod(initContainers=[{"name": "i", "image": "busybox:1.36"}], volumes=[{"name": "v"}, {"name": "h", "hostPath": {"path": "/tmp"}}])
    apply_defaults("Pod", p)
    once = copy.deepcopy(p)
    apply_defaults("Pod", p)
    assert p == once
    assert p["spec"]["initContainers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert p["spec"]["volumes"][0] == {"name": "v", "emptyDir": {}}
    assert p["spec"]["volumes"][1]["hostPath"] == {"path": "/tmp", "type": ""}


def deployment(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
            },
            **spec,
        },
    }


def test_deployment_defaults() -> None:
    d = deployment()
    apply_defaults("Deployment", d)
    spec = d["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    tspec = spec["template"]["spec"]
    assert tspec["restartPolicy"] == "Always"
    assert tspec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert validate("Deployment", d) == []
    Deployment.from_dict(d)


def test_deployment_recreate_and_partial_rolling_update() -> None:
    d = deployment(replicas=0, strategy={"type": "Recreate"})
    apply_defaults("Deployment", d)
    assert d["spec"]["replicas"] == 0
    assert d["spec"]["strategy"] == {"type": "Recreate"}
    assert validate("Deployment", d) == []
    d2 = deployment(strategy={"rollingUpdate": {"maxSurge": 1}})
    apply_defaults("Deployment", d2)
    assert d2["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}}


def test_replicaset_defaults() -> None:
    rs = deployment()
    rs["kind"] = "ReplicaSet"
    apply_defaults("ReplicaSet", rs)
    assert rs["spec"]["replicas"] == 1
    assert "strategy" not in rs["spec"]
    assert rs["spec"]["template"]["spec"]["schedulerName"] == "default-scheduler"
    assert validate("ReplicaSet", rs) == []
    ReplicaSet.from_dict(rs)


def test_namespace_and_node_defaults() -> None:
    ns: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    apply_defaults("Namespace", ns)
    assert ns["spec"] == {"finalizers": ["kubernetes"]}
    assert ns["status"] == {"phase": "Active"}
    Namespace.from_dict(ns)
    node: dict[str, Any] = {"kind": "Node", "metadata": {"name": "n1"}, "status": {"capacity": {"cpu": "2", "pods": "110"}}}
    apply_defaults("Node", node)
    assert node["status"]["allocatable"] == {"cpu": "2", "pods": "110"}
    node["status"]["capacity"]["cpu"] = "4"
    assert node["status"]["allocatable"]["cpu"] == "2"  # a copy, not shared
    Node.from_dict(node)


def test_other_kinds_untouched() -> None:
    ev: dict[str, Any] = {"kind": "Event", "metadata": {"name": "e"}}
    apply_defaults("Event", ev)
    apply_defaults("Lease", ev)
    apply_defaults("Whatever", ev)
    assert ev == {"kind": "Event", "metadata": {"name": "e"}}


def test_defaults_tolerate_odd_shapes() -> None:
    p: dict[str, Any] = {"spec": {"containers": ["x", None], "volumes": [None]}}
    apply_defaults("Pod", p)  # no exception; validation reports the shapes
    d: dict[str, Any] = {"spec": None}
    apply_defaults("Deployment", d)
    assert d["spec"]["replicas"] == 1
