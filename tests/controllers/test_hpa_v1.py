"""autoscaling/v1 over the autoscaling/v2 storage: the official Python client's
AutoscalingV1Api and AutoscalingV2Api on the same objects (create, read, list, patch,
status, watch), discovery, and the real kubectl reading the v1 form."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, watch

from testing import kubectl as kubectl_mod
from testing.kubectl import Kubectl
from testing.support import json_request, unique

pytestmark = pytest.mark.timeout(60)

V1 = "/apis/autoscaling/v1/namespaces/{ns}/horizontalpodautoscalers"
V2 = "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers"
REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


@pytest.fixture
def api(server_url: str) -> Iterator[client.ApiClient]:
    with client.ApiClient(client.Configuration(host=server_url)) as c:
        yield c


@pytest.fixture
def ns(api: client.ApiClient) -> str:
    name = unique("hpav1")
    client.CoreV1Api(api).create_namespace(client.V1Namespace(
        metadata=client.V1ObjectMeta(name=name)))
    return name


def _get(server: str, path: str) -> dict[str, Any]:
    code, out = json_request("GET", server + path)
    assert code == 200 and isinstance(out, dict), (code, out)
    return out


def test_v1_and_v2_are_one_object(server_url: str, api: client.ApiClient, ns: str) -> None:
    v1 = client.AutoscalingV1Api(api)
    created = v1.create_namespaced_horizontal_pod_autoscaler(ns, client.V1HorizontalPodAutoscaler(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1HorizontalPodAutoscalerSpec(
            scale_target_ref=client.V1CrossVersionObjectReference(**{
                "api_version": "apps/v1", "kind": "Deployment", "name": "web"}),
            min_replicas=2, max_replicas=5, target_cpu_utilization_percentage=60)))
    assert created.api_version == "autoscaling/v1"
    assert created.spec.target_cpu_utilization_percentage == 60
    stored = _get(server_url, V2.format(ns=ns) + "/web")
    assert stored["apiVersion"] == "autoscaling/v2"
    assert stored["spec"]["metrics"] == [{"type": "Resource", "resource": {"name": "cpu",
                                          "target": {"type": "Utilization",
                                                     "averageUtilization": 60}}}]
    assert "annotations" not in stored["metadata"]

    # a v2 object with what v1 cannot say: kept in v1's annotations, and back
    v2 = client.AutoscalingV2Api(api)
    v2.create_namespaced_horizontal_pod_autoscaler(ns, {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "mem"},
        "spec": {"scaleTargetRef": REF, "maxReplicas": 4, "metrics": [
            {"type": "Resource", "resource": {"name": "memory", "target": {
                "type": "AverageValue", "averageValue": "100Mi"}}}],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}}}})
    got = v1.read_namespaced_horizontal_pod_autoscaler("mem", ns)
    assert got.spec.target_cpu_utilization_percentage is None
    ann = got.metadata.annotations
    assert yaml.safe_load(ann["autoscaling.alpha.kubernetes.io/metrics"]) == [
        {"type": "Resource", "resource": {"name": "memory", "target": {
            "type": "AverageValue", "averageValue": "100Mi"}}}]
    assert "autoscaling.alpha.kubernetes.io/behavior" in ann
    # updating through v1 keeps them
    got.spec.max_replicas = 6
    v1.replace_namespaced_horizontal_pod_autoscaler("mem", ns, got)
    stored = _get(server_url, V2.format(ns=ns) + "/mem")
    assert stored["spec"]["maxReplicas"] == 6
    assert stored["spec"]["metrics"][0]["resource"]["name"] == "memory"
    assert stored["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 30
    assert "annotations" not in stored["metadata"]

    lst = v1.list_namespaced_horizontal_pod_autoscaler(ns)
    assert sorted(h.metadata.name for h in lst.items) == ["mem", "web"]
    raw = _get(server_url, V1.format(ns=ns))
    assert raw["kind"] == "HorizontalPodAutoscalerList"
    assert raw["apiVersion"] == "autoscaling/v1"
    assert {i["apiVersion"] for i in raw["items"]} == {"autoscaling/v1"}

    # a v1 merge patch is a patch of the v1 form
    v1.patch_namespaced_horizontal_pod_autoscaler(
        "web", ns, {"spec": {"targetCPUUtilizationPercentage": 75}})
    stored = _get(server_url, V2.format(ns=ns) + "/web")
    assert stored["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 75

    # status written through v2 reads as v1's currentCPUUtilizationPercentage
    stored["status"] = {"currentReplicas": 2, "desiredReplicas": 3, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": 90, "averageValue": "90m"}}}]}
    code, out = json_request("PUT", f"{server_url}{V2.format(ns=ns)}/web/status", stored)
    assert code == 200, out
    st = v1.read_namespaced_horizontal_pod_autoscaler_status("web", ns).status
    assert (st.current_replicas, st.desired_replicas,
            st.current_cpu_utilization_percentage) == (2, 3, 90)

    # bad v1 input gets the v2 validation, in v2's field names
    code, out = json_request("POST", server_url + V1.format(ns=ns), {
        "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "bad"}, "spec": {"scaleTargetRef": REF, "maxReplicas": 2,
                                              "targetCPUUtilizationPercentage": 0}})
    assert code == 422 and isinstance(out, dict), out
    assert out["details"]["causes"][0]["field"] == \
        "spec.metrics[0].resource.target.averageUtilization"


def test_v1_watch_and_discovery(server_url: str, api: client.ApiClient, ns: str,
                                tmp_path: Path) -> None:
    v1 = client.AutoscalingV1Api(api)
    rv = v1.list_namespaced_horizontal_pod_autoscaler(ns).metadata.resource_version
    seen: list[Any] = []
    w = watch.Watch()

    def run() -> None:
        for ev in w.stream(v1.list_namespaced_horizontal_pod_autoscaler, ns,
                           resource_version=rv, timeout_seconds=20):
            seen.append(ev)
            if len(seen) >= 2:
                w.stop()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    code, out = json_request("POST", server_url + V2.format(ns=ns), {
        "metadata": {"name": "w"}, "spec": {"scaleTargetRef": REF, "maxReplicas": 3}})
    assert code == 201, out
    code, out = json_request("DELETE", f"{server_url}{V2.format(ns=ns)}/w")
    assert code == 200, out
    t.join(25)
    assert [e["type"] for e in seen] == ["ADDED", "DELETED"]
    assert seen[0]["object"].api_version == "autoscaling/v1"
    assert seen[0]["object"].spec.target_cpu_utilization_percentage == 80

    group = _get(server_url, "/apis/autoscaling")
    assert group["versions"] == [{"groupVersion": "autoscaling/v2", "version": "v2"},
                                 {"groupVersion": "autoscaling/v1", "version": "v1"}]
    assert group["preferredVersion"]["version"] == "v2"
    listed = _get(server_url, "/apis/autoscaling/v1")
    assert listed["groupVersion"] == "autoscaling/v1"
    assert [r["name"] for r in listed["resources"]] == ["horizontalpodautoscalers",
                                                         "horizontalpodautoscalers/status"]
    if kubectl_mod.installed():
        k = Kubectl(server_url, tmp_path / "kube")
        json_request("POST", server_url + V2.format(ns=ns), {
            "metadata": {"name": "k"}, "spec": {"scaleTargetRef": REF, "maxReplicas": 3}})
        out = yaml.safe_load(k("get", "horizontalpodautoscalers.v1.autoscaling", "k", "-n", ns, "-o",
                               "yaml").stdout)
        assert out["apiVersion"] == "autoscaling/v1"
        assert out["spec"]["targetCPUUtilizationPercentage"] == 80
        table = k("get", "horizontalpodautoscalers.v1.autoscaling", "-n", ns).stdout.splitlines()
        assert table[0].split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS",
                                    "REPLICAS", "AGE"]
        assert table[1].split()[:3] == ["k", "Deployment/web", "cpu:"]
