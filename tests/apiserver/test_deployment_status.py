"""A Deployment's /status write keeps the request's annotations, as Kubernetes'
deploymentStatusStrategy does (it resets only spec and labels): the deployment controller
records its revision annotation with its status in one write. Other kinds' /status
writes keep all of the stored metadata."""

from __future__ import annotations

from testing.apiclient import Api, deployment, replicaset

REVISION = "deployment.kubernetes.io/revision"


def test_deployment_status_write_carries_annotations(api: Api, ns: str) -> None:
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    d = api.ok("POST", base, deployment("rev", 1), 201)
    d["metadata"]["annotations"] = {REVISION: "1"}
    d["metadata"]["labels"] = {"changed": "no"}
    d["spec"]["replicas"] = 5
    d["status"] = {"observedGeneration": 1, "replicas": 0}
    s = api.ok("PUT", f"{base}/rev/status", d)
    assert s["metadata"]["annotations"] == {REVISION: "1"}
    assert s["metadata"].get("labels") != {"changed": "no"} and s["spec"]["replicas"] == 1
    assert s["status"]["observedGeneration"] == 1 and s["metadata"]["generation"] == 1
    # a merge patch of /status: annotations merge, labels stay
    s = api.ok("PATCH", f"{base}/rev/status",
               {"metadata": {"annotations": {REVISION: "2", "x": "y"}, "labels": {"l": "v"}},
                "status": {"replicas": 1}}, content_type="application/merge-patch+json")
    assert s["metadata"]["annotations"] == {REVISION: "2", "x": "y"}
    assert "l" not in (s["metadata"].get("labels") or {}) and s["status"]["replicas"] == 1
    # a PUT without them replaces them, as any PUT does
    s["metadata"] = {k: v for k, v in s["metadata"].items() if k != "annotations"}
    s = api.ok("PUT", f"{base}/rev/status", s)
    assert not s["metadata"].get("annotations")


def test_replicaset_status_write_keeps_stored_metadata(api: Api, ns: str) -> None:
    base = f"/apis/apps/v1/namespaces/{ns}/replicasets"
    rs = api.ok("POST", base, replicaset("keep", 1), 201)
    rs["metadata"]["annotations"] = {"a": "b"}
    rs["status"] = {"replicas": 0, "observedGeneration": 1}
    s = api.ok("PUT", f"{base}/keep/status", rs)
    assert not s["metadata"].get("annotations") and s["status"]["observedGeneration"] == 1
