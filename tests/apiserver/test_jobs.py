"""batch/v1 Jobs on the API server: defaults, the generated selector and labels, validation
as pkg/apis/batch/validation words it, the status subresource, the Table kubectl prints,
and the real kubectl's ``create job`` (a protobuf body) and ``get jobs``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from api.models.batch import CONTROLLER_UID_LABEL, JOB_NAME_LABEL
from testing.apiclient import Api
from testing.kubectl import Kubectl
from testing.support import json_request, unique


def job(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "c", "image": "busybox", "command": ["true"]}]}}, **spec}}


def jobs(ns: str) -> str:
    return f"/apis/batch/v1/namespaces/{ns}/jobs"


def causes(api: Api, body: dict[str, Any], ns: str) -> list[tuple[str, str, str]]:
    st = api.ok("POST", jobs(ns), body, 422)
    assert st["reason"] == "Invalid" and st["details"]["kind"] == "Job"
    return [(c["reason"], c["field"], c["message"]) for c in st["details"]["causes"]]


def test_defaults_selector_and_labels(api: Api, ns: str) -> None:
    created = api.ok("POST", jobs(ns), job("d1"), 201)
    md, spec = created["metadata"], created["spec"]
    uid = md["uid"]
    assert md["generation"] == 1
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed"
    assert spec["suspend"] is False and spec["manualSelector"] is False
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    assert spec["selector"] == {"matchLabels": {CONTROLLER_UID_LABEL: uid}}
    want = {"controller-uid": uid, CONTROLLER_UID_LABEL: uid, "job-name": "d1",
            JOB_NAME_LABEL: "d1"}
    assert spec["template"]["metadata"]["labels"] == want
    assert md["labels"] == want
    assert created["status"] == {}
    # Only parallelism set: completions stays unset (a work queue Job).
    wq = api.ok("POST", jobs(ns), job("d2", parallelism=3), 201)["spec"]
    assert "completions" not in wq and wq["parallelism"] == 3
    # A status write goes through /status only; a main write keeps the status.
    path = f"{jobs(ns)}/d1"
    got = api.ok("GET", path)
    got["status"] = {"active": 1, "startTime": "2026-01-01T00:00:00Z"}
    api.ok("PUT", f"{path}/status", got)
    got = api.ok("GET", path)
    got["status"] = {"active": 5}
    got["metadata"]["labels"]["x"] = "y"
    out = api.ok("PUT", path, got)
    assert out["status"]["active"] == 1 and out["metadata"]["labels"]["x"] == "y"
    api.ok("GET", f"{jobs(ns)}?fieldSelector=status.successful%3D0")


def test_validation_messages(api: Api, ns: str) -> None:
    bad = job("v1", parallelism=-1, completionMode="Sometimes")
    bad["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    got = causes(api, bad, ns)
    assert ("FieldValueInvalid", "spec.parallelism",
            "Invalid value: -1: must be greater than or equal to 0") in got
    assert ("FieldValueNotSupported", "spec.completionMode",
            'Unsupported value: "Sometimes": supported values: "NonIndexed", "Indexed"') in got
    assert ("FieldValueNotSupported", "spec.template.spec.restartPolicy",
            'Unsupported value: "Always": supported values: "OnFailure", "Never"') in got
    got = causes(api, job("v2", completionMode="Indexed", parallelism=2), ns)
    assert ("FieldValueRequired", "spec.completions",
            "Required value: when completion mode is Indexed") in got
    # A selector of the client's own without manualSelector is not auto-generated.
    got = causes(api, job("v3", selector={"matchLabels": {"a": "b"}}), ns)
    assert any(f == "spec.selector" and "`selector` not auto-generated" in m
               for _, f, m in got)
    # manualSelector: the template must match the selector.
    manual = job("v4", manualSelector=True, selector={"matchLabels": {"a": "b"}})
    got = causes(api, manual, ns)
    assert ("FieldValueInvalid", "spec.template.metadata.labels") == got[0][:2]
    manual["spec"]["template"]["metadata"] = {"labels": {"a": "b"}}
    api.ok("POST", jobs(ns), manual, 201)
    pfp = job("v5", podFailurePolicy={"rules": [
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [0, 3, 2]}}]})
    pfp["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    got = causes(api, pfp, ns)
    assert any(f == "spec.template.spec.restartPolicy" and 'only "Never"' in m
               for _, f, m in got)
    assert any(f == "spec.podFailurePolicy.rules[0].onExitCodes.values[0]" for _, f, m in got)
    assert any(m.endswith("must be ordered") for _, _, m in got)


def test_update_rules(api: Api, ns: str) -> None:
    api.ok("POST", jobs(ns), job("u1", completions=2), 201)
    path = f"{jobs(ns)}/u1"
    got = api.ok("GET", path)
    got["spec"]["completions"] = 3
    st = api.ok("PUT", path, got, 422)
    assert st["details"]["causes"][0]["field"] == "spec.completions"
    got = api.ok("GET", path)
    got["spec"]["template"]["spec"]["containers"][0]["image"] = "other"
    st = api.ok("PUT", path, got, 422)
    assert st["details"]["causes"][0]["field"] == "spec.template"
    got = api.ok("GET", path)
    got["spec"]["suspend"] = True
    got["spec"]["parallelism"] = 2
    out = api.ok("PUT", path, got)
    assert out["spec"]["suspend"] is True and out["metadata"]["generation"] == 2


def test_kubectl_create_and_get_jobs(kubectl: Kubectl, server_url: str, ns: str) -> None:
    name = unique("kj")
    out = kubectl("create", "job", name, "--image=minik8s/busybox:latest", "-n", ns,
                  "--", "sh", "-c", "exit 0").stdout
    assert out.strip() == f"job.batch/{name} created"
    code, j = json_request("GET", f"{server_url}/apis/batch/v1/namespaces/{ns}/jobs/{name}")
    assert code == 200
    c = j["spec"]["template"]["spec"]["containers"][0]
    assert (c["name"], c["image"], c["command"]) == (name, "minik8s/busybox:latest",
                                                    ["sh", "-c", "exit 0"])
    assert j["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert j["spec"]["selector"]["matchLabels"][CONTROLLER_UID_LABEL] == j["metadata"]["uid"]
    lines = [re.split(r"\s{2,}", ln.strip())
             for ln in kubectl("get", "jobs", "-n", ns).stdout.strip().splitlines()]
    assert lines[0] == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert lines[1][:3] == [name, "Running", "0/1"]
    wide = kubectl("get", "job", name, "-n", ns, "-o", "wide").stdout.splitlines()
    assert re.split(r"\s{2,}", wide[0].strip()) == [
        "NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert f"{CONTROLLER_UID_LABEL}={j['metadata']['uid']}" in wide[1]
    # Status written by a controller shows in the columns.
    j["status"] = {"succeeded": 1, "startTime": "2026-01-01T00:00:00Z",
                   "completionTime": "2026-01-01T00:00:07Z",
                   "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                                  {"type": "Complete", "status": "True"}]}
    code, _ = json_request("PUT", f"{server_url}/apis/batch/v1/namespaces/{ns}/jobs/{name}"
                           "/status", j)
    assert code == 200
    row = re.split(r"\s{2,}", kubectl("get", "jobs", name, "-n", ns,
                                      "--no-headers").stdout.strip())
    assert row[:4] == [name, "Complete", "1/1", "7s"]
    assert "jobs" in kubectl("api-resources", "--api-group=batch").stdout


@pytest.mark.parametrize("args,err", [
    (("create", "job", "bad_name", "--image=x"), "metadata.name: Invalid value"),
])
def test_kubectl_create_job_invalid(kubectl: Kubectl, ns: str, args: tuple[str, ...],
                                    err: str) -> None:
    proc = kubectl(*args, "-n", ns, check=False)
    assert proc.returncode == 1 and err in proc.stderr


def test_official_client_batch_v1(server_url: str, ns: str) -> None:
    from kubernetes import client as k8s

    cfg = k8s.Configuration()
    cfg.host = server_url
    with k8s.ApiClient(cfg) as c:
        batch = k8s.BatchV1Api(c)
        body = k8s.V1Job(
            metadata=k8s.V1ObjectMeta(name="py"),
            spec=k8s.V1JobSpec(completions=3, parallelism=2, completion_mode="Indexed",
                               template=k8s.V1PodTemplateSpec(spec=k8s.V1PodSpec(
                                   restart_policy="Never",
                                   containers=[k8s.V1Container(name="c", image="busybox")]))))
        made = batch.create_namespaced_job(ns, body)
        assert made.spec.backoff_limit == 6 and made.spec.suspend is False
        assert made.spec.selector.match_labels == {CONTROLLER_UID_LABEL: made.metadata.uid}
        assert [j.metadata.name for j in batch.list_namespaced_job(ns).items] == ["py"]
        made.status = k8s.V1JobStatus(active=2, ready=1, completed_indexes="0",
                                      succeeded=1, start_time=made.metadata.creation_timestamp)
        batch.replace_namespaced_job_status("py", ns, made)
        got = batch.read_namespaced_job_status("py", ns)
        assert (got.status.active, got.status.succeeded, got.status.completed_indexes) == (
            2, 1, "0")
        batch.patch_namespaced_job("py", ns, {"spec": {"suspend": True}})
        assert batch.read_namespaced_job("py", ns).spec.suspend is True
        batch.delete_namespaced_job("py", ns)
        assert batch.list_namespaced_job(ns).items == []
