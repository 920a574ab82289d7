"""int32 fields hold int32 values: a replica count, port or count beyond 2**31-1 is a 422
naming the field (a Deployment with replicas: 2147483648 must never reach the
controllers), through the wire, kubectl and the scale subresource; the bound itself is
accepted."""

from __future__ import annotations

from typing import Any

import pytest

from testing.apiclient import Api, deployment, pod, replicaset
from testing.kubectl import Kubectl

BIG = 2**31
TOO_BIG = "must be less than or equal to 2147483647"


def invalid(code: int, body: Any) -> list[tuple[str, str]]:
    assert code == 422, (code, body)
    assert body["reason"] == "Invalid", body
    return [(c["field"], c["message"]) for c in body["details"]["causes"]]


def job(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {**spec, "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox"}]}}}}


@pytest.mark.parametrize("path,body,field", [
    ("/apis/apps/v1/namespaces/{ns}/deployments", deployment("d", BIG), "spec.replicas"),
    ("/apis/apps/v1/namespaces/{ns}/replicasets", replicaset("r", BIG), "spec.replicas"),
    ("/apis/batch/v1/namespaces/{ns}/jobs", job("j", parallelism=BIG), "spec.parallelism"),
    ("/apis/batch/v1/namespaces/{ns}/jobs", job("j", completions=BIG), "spec.completions"),
    ("/apis/batch/v1/namespaces/{ns}/jobs", job("j", backoffLimit=BIG), "spec.backoffLimit"),
    ("/api/v1/namespaces/{ns}/pods",
     pod("p", ports=None) | {"spec": {"containers": [
         {"name": "c", "image": "nginx", "ports": [{"containerPort": BIG}]}]}},
     "spec.containers[0].ports[0].containerPort"),
    ("/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
     {"metadata": {"name": "h"}, "spec": {
         "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"},
         "maxReplicas": BIG}}, "spec.maxReplicas"),
])
def test_out_of_range_create_is_invalid(api: Api, ns: str, path: str, body: dict[str, Any],
                                        field: str) -> None:
    causes = invalid(*api.call("POST", path.format(ns=ns), body))
    assert (field, f"Invalid value: {BIG}: {TOO_BIG}") in causes, causes


def test_replicas_bounds_on_update_patch_and_scale(api: Api, ns: str) -> None:
    url = f"/apis/apps/v1/namespaces/{ns}/deployments"
    d = api.ok("POST", url, deployment("web", 0), 201)
    want = [("spec.replicas", f"Invalid value: {BIG}: {TOO_BIG}")]
    d["spec"]["replicas"] = BIG
    assert invalid(*api.call("PUT", f"{url}/web", d)) == want
    assert invalid(*api.call("PATCH", f"{url}/web", {"spec": {"replicas": BIG}},
                             content_type="application/merge-patch+json")) == want
    code, body = api.call("PATCH", f"{url}/web/scale", {"spec": {"replicas": BIG}},
                          content_type="application/merge-patch+json")
    assert invalid(code, body) == want
    assert body["message"] == (f'Scale.autoscaling "web" is invalid: spec.replicas: '
                               f"Invalid value: {BIG}: {TOO_BIG}")
    # The status is int32 too (a controller's bad write is refused the same way).
    assert invalid(*api.call("PATCH", f"{url}/web/status", {"status": {"replicas": BIG}},
                             content_type="application/merge-patch+json")) == [
        ("status.replicas", f"Invalid value: {BIG}: {TOO_BIG}")]
    # Nothing was written; the largest int32 itself is a valid (if silly) count.
    assert api.ok("GET", f"{url}/web")["spec"]["replicas"] == 0
    api.ok("PATCH", f"{url}/web", {"spec": {"replicas": BIG - 1}},
           content_type="application/merge-patch+json")
    api.ok("PATCH", f"{url}/web", {"spec": {"replicas": 0}},
           content_type="application/merge-patch+json")


def test_kubectl_apply_reports_the_field(kubectl: Kubectl, ns: str) -> None:
    manifest = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: huge, namespace: {ns}}}
spec:
  replicas: {BIG}
  selector: {{matchLabels: {{app: huge}}}}
  template:
    metadata: {{labels: {{app: huge}}}}
    spec: {{containers: [{{name: c, image: nginx}}]}}
"""
    out = kubectl("apply", "-f", "-", stdin=manifest, check=False)
    assert out.returncode == 1
    assert out.stderr == (f'The Deployment "huge" is invalid: spec.replicas: Invalid value: '
                          f"{BIG}: {TOO_BIG}\n"), out.stderr
    got = kubectl("get", "deployments", "-n", ns, "-o", "name", check=False)
    assert "huge" not in got.stdout


def test_refused_pod_leaves_the_next_pods_qos_class(api: Api, ns: str) -> None:
    """The pod strategy remembers QoS classes by the containers' resources: a pod the
    model refuses (a port out of range) must not leave a status without one behind."""
    url = f"/api/v1/namespaces/{ns}/pods"
    bad = pod("bad")
    bad["spec"]["containers"][0]["ports"] = [{"containerPort": BIG}]
    invalid(*api.call("POST", url, bad))
    assert api.ok("POST", url, pod("fine"), 201)["status"]["qosClass"] == "BestEffort"
