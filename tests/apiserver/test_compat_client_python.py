"""The official Kubernetes Python client (PyPI ``kubernetes``) against the real API server.

Creates, gets, lists, patches (merge, strategic, JSON patch), watches and deletes Pods,
Deployments and Nodes, the way controllers and scripts written for Kubernetes do.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from testing.support import unique, wait_for


@pytest.fixture
def api(server_url: str) -> Iterator[client.ApiClient]:
    cfg = client.Configuration(host=server_url)
    with client.ApiClient(cfg) as c:
        yield c


@pytest.fixture
def ns(api: client.ApiClient) -> Iterator[str]:
    name = unique("py")
    client.CoreV1Api(api).create_namespace(client.V1Namespace(
        metadata=client.V1ObjectMeta(name=name)))
    yield name


def pod_body(name: str, image: str = "busybox:1.36", labels: dict[str, str] | None = None
             ) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {"app": "py"}),
        spec=client.V1PodSpec(containers=[
            client.V1Container(name="main", image=image, command=["sleep", "3600"],
                               env=[client.V1EnvVar(name="A", value="1")]),
            client.V1Container(name="side", image="busybox:1.36")]))


def test_pod_crud_patch_and_errors(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)
    created = core.create_namespaced_pod(ns, pod_body("p1"))
    assert created.metadata.uid and created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None
    assert created.spec.restart_policy == "Always"
    core.create_namespaced_pod(ns, pod_body("p2", labels={"app": "other"}))

    got = core.read_namespaced_pod("p1", ns)
    assert got.metadata.uid == created.metadata.uid
    assert [c.name for c in got.spec.containers] == ["main", "side"]

    listed = core.list_namespaced_pod(ns, label_selector="app=py")
    assert [p.metadata.name for p in listed.items] == ["p1"]
    assert listed.metadata.resource_version
    assert {p.metadata.name for p in core.list_pod_for_all_namespaces(
        field_selector=f"metadata.namespace={ns}").items} == {"p1", "p2"}

    # A dict body goes out as a strategic merge patch: containers merge by name.
    patched = core.patch_namespaced_pod("p1", ns, {"spec": {"containers": [
        {"name": "main", "image": "busybox:1.37"}]}})
    assert [(c.name, c.image) for c in patched.spec.containers] == [
        ("main", "busybox:1.37"), ("side", "busybox:1.36")]
    assert patched.spec.containers[0].env[0].name == "A"

    merged = core.patch_namespaced_pod("p1", ns, {"metadata": {"labels": {"tier": "web"}}},
                                       _content_type="application/merge-patch+json")
    assert merged.metadata.labels == {"app": "py", "tier": "web"}

    jp = core.patch_namespaced_pod("p1", ns, [
        {"op": "replace", "path": "/metadata/labels/tier", "value": "db"}])
    assert jp.metadata.labels["tier"] == "db"

    status = core.patch_namespaced_pod_status("p1", ns, {"status": {"conditions": [
        {"type": "Ready", "status": "False"}]}})
    assert status.status.conditions[0].type == "Ready"

    with pytest.raises(ApiException) as info:
        core.create_namespaced_pod(ns, pod_body("p1"))
    assert info.value.status == 409
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod("nope", ns)
    assert info.value.status == 404

    core.delete_namespaced_pod("p1", ns, grace_period_seconds=0)
    wait_for(lambda: "p1" not in {p.metadata.name for p in core.list_namespaced_pod(ns).items},
             timeout=10, message="p1 gone")


def test_pod_watch(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(ns, pod_body("before"))
    rv = core.list_namespaced_pod(ns).metadata.resource_version
    seen: list[tuple[str, str]] = []
    done = threading.Event()

    def consume() -> None:
        w = watch.Watch()
        for ev in w.stream(core.list_namespaced_pod, ns, resource_version=rv,
                           timeout_seconds=10):
            seen.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                w.stop()
        done.set()

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    core.create_namespaced_pod(ns, pod_body("w1"))
    core.patch_namespaced_pod("w1", ns, {"metadata": {"labels": {"x": "y"}}})
    core.delete_namespaced_pod("w1", ns, grace_period_seconds=0)
    assert done.wait(15), f"watch did not end; saw {seen}"
    assert seen[:3] == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


def deployment_body(name: str, replicas: int = 2) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=replicas, selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[
                    client.V1Container(name="web", image="nginx:1.25",
                                       ports=[client.V1ContainerPort(container_port=80)])]))))


def test_deployment_crud_scale_and_watch(api: client.ApiClient, ns: str) -> None:
    apps = client.AppsV1Api(api)
    d = apps.create_namespaced_deployment(ns, deployment_body("web"))
    assert d.spec.strategy.type == "RollingUpdate"
    assert d.spec.revision_history_limit == 10
    assert d.metadata.generation == 1

    got = apps.read_namespaced_deployment("web", ns)
    assert got.spec.template.spec.containers[0].ports[0].container_port == 80
    assert [x.metadata.name for x in apps.list_namespaced_deployment(ns).items] == ["web"]
    assert "web" in {x.metadata.name for x in apps.list_deployment_for_all_namespaces().items}

    patched = apps.patch_namespaced_deployment("web", ns, {"spec": {"template": {"spec": {
        "containers": [{"name": "web", "image": "nginx:1.26"}]}}}})
    c = patched.spec.template.spec.containers
    assert len(c) == 1 and c[0].image == "nginx:1.26" and c[0].ports[0].container_port == 80
    assert patched.metadata.generation == 2

    scale = apps.read_namespaced_deployment_scale("web", ns)
    assert scale.spec.replicas == 2
    apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 5}})
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 5

    current = apps.read_namespaced_deployment("web", ns)
    current.spec.replicas = 3
    replaced = apps.replace_namespaced_deployment("web", ns, current)
    assert replaced.spec.replicas == 3
    current.spec.replicas = 4  # stale resourceVersion now
    with pytest.raises(ApiException) as info:
        apps.replace_namespaced_deployment("web", ns, current)
    assert info.value.status == 409

    events: list[tuple[str, Any]] = []
    w = watch.Watch()
    for ev in w.stream(apps.list_namespaced_deployment, ns, timeout_seconds=5):
        events.append((ev["type"], ev["object"].metadata.name))
        if len(events) == 1:
            apps.delete_namespaced_deployment("web", ns)
        if ev["type"] == "DELETED":
            w.stop()
    assert events[0] == ("ADDED", "web") and events[-1] == ("DELETED", "web")


def test_node_crud_and_status(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    name = unique("node")
    node = core.create_node(client.V1Node(
        metadata=client.V1ObjectMeta(name=name, labels={"kubernetes.io/hostname": name}),
        spec=client.V1NodeSpec(taints=[client.V1Taint(key="k", value="v",
                                                      effect="NoSchedule")])))
    assert node.metadata.name == name and node.metadata.namespace is None
    try:
        core.patch_node_status(name, {"status": {
            "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "nodeInfo": {"kubeletVersion": "v1.36.0-minik8s", "machineID": "m",
                         "systemUUID": "s", "bootID": "b", "kernelVersion": "k",
                         "osImage": "o", "containerRuntimeVersion": "docker://20",
                         "kubeProxyVersion": "", "operatingSystem": "linux",
                         "architecture": "amd64"}}})
        got = core.read_node(name)
        assert got.status.capacity["cpu"] == "2"
        assert got.status.conditions[0].status == "True"
        assert got.spec.taints[0].effect == "NoSchedule"
        core.patch_node(name, {"spec": {"unschedulable": True}})
        assert core.read_node(name).spec.unschedulable is True
        names = {n.metadata.name for n in core.list_node(
            label_selector=f"kubernetes.io/hostname={name}").items}
        assert names == {name}
    finally:
        core.delete_node(name)
    with pytest.raises(ApiException) as info:
        core.read_node(name)
    assert info.value.status == 404


def test_lease_and_event(api: client.ApiClient, ns: str) -> None:
    coord = client.CoordinationV1Api(api)
    lease = coord.create_namespaced_lease(ns, client.V1Lease(
        metadata=client.V1ObjectMeta(name="leader"),
        spec=client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=15,
                                renew_time="2026-01-01T00:00:00.000000Z")))
    assert lease.spec.holder_identity == "a"
    lease.spec.holder_identity = "b"
    assert coord.replace_namespaced_lease("leader", ns, lease).spec.holder_identity == "b"
    assert coord.read_namespaced_lease("leader", ns).spec.renew_time is not None

    core = client.CoreV1Api(api)
    core.create_namespaced_event(ns, client.CoreV1Event(
        metadata=client.V1ObjectMeta(name="e1"), reason="Scheduled", type="Normal",
        message="hello", involved_object=client.V1ObjectReference(kind="Pod", name="p",
                                                                  namespace=ns),
        source=client.V1EventSource(component="test")))
    events = core.list_namespaced_event(ns, field_selector="involvedObject.name=p").items
    assert [(e.reason, e.involved_object.kind) for e in events] == [("Scheduled", "Pod")]
