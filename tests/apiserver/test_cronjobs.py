"""batch/v1 CronJobs on the API server: SetDefaults_CronJob, validation as
pkg/apis/batch/validation words it (robfig's schedule errors, TZ refused, timeZone), the
status subresource, the Table kubectl prints, the real kubectl's ``create cronjob`` (a
protobuf body) and ``get cronjobs``, and the official client's BatchV1Api."""

from __future__ import annotations

import re
from typing import Any

from kubernetes import client as k8s

from testing.apiclient import Api
from testing.kubectl import Kubectl
from testing.support import json_request, unique


def cronjob(name: str, schedule: str = "*/5 * * * *", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": schedule, **spec, "jobTemplate": {"spec": {"template": {
                "spec": {"restartPolicy": "OnFailure", "containers": [
                    {"name": "c", "image": "busybox"}]}}}}}}


def cronjobs(ns: str) -> str:
    return f"/apis/batch/v1/namespaces/{ns}/cronjobs"


def causes(api: Api, body: dict[str, Any], ns: str) -> list[tuple[str, str, str]]:
    st = api.ok("POST", cronjobs(ns), body, 422)
    assert st["reason"] == "Invalid" and st["details"]["kind"] == "CronJob"
    return [(c["reason"], c["field"], c["message"]) for c in st["details"]["causes"]]


def test_defaults_and_status_subresource(api: Api, ns: str) -> None:
    created = api.ok("POST", cronjobs(ns), cronjob("d1"), 201)
    spec = created["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
    pod_spec = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod_spec["dnsPolicy"] == "ClusterFirst"  # the template's pod defaults
    assert "backoffLimit" not in spec["jobTemplate"]["spec"]  # a Job's come at its creation
    assert created["status"] == {} and created["metadata"]["generation"] == 1
    path = f"{cronjobs(ns)}/d1"
    got = api.ok("GET", path)
    got["status"] = {"lastScheduleTime": "2026-01-01T00:00:00Z"}
    api.ok("PUT", f"{path}/status", got)
    got = api.ok("GET", path)
    got["status"] = {}
    got["spec"]["suspend"] = True
    out = api.ok("PUT", path, got)
    assert out["status"] == {"lastScheduleTime": "2026-01-01T00:00:00Z"}
    assert out["metadata"]["generation"] == 2


def test_validation_messages(api: Api, ns: str) -> None:
    assert causes(api, cronjob("v1", "foo"), ns) == [
        ("FieldValueInvalid", "spec.schedule",
         'Invalid value: "foo": expected exactly 5 fields, found 1: [foo]')]
    assert causes(api, cronjob("v2", "TZ=UTC */5 * * * *"), ns) == [
        ("FieldValueInvalid", "spec.schedule",
         'Invalid value: "TZ=UTC */5 * * * *": cannot use TZ or CRON_TZ in schedule, use '
         'timeZone field instead')]
    assert causes(api, cronjob("v3", timeZone="Mars/Olympus"), ns) == [
        ("FieldValueInvalid", "spec.timeZone",
         'Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus')]
    assert causes(api, cronjob("v4", "@every", concurrencyPolicy="Sometimes"), ns) == [
        ("FieldValueInvalid", "spec.schedule",
         'Invalid value: "@every": unrecognized descriptor: @every'),
        ("FieldValueNotSupported", "spec.concurrencyPolicy",
         'Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"')]
    body = cronjob("v5", startingDeadlineSeconds=-1, successfulJobsHistoryLimit=-2)
    body["spec"]["jobTemplate"]["spec"]["selector"] = {"matchLabels": {"a": "b"}}
    got = causes(api, body, ns)
    assert ("FieldValueInvalid", "spec.startingDeadlineSeconds",
            "Invalid value: -1: must be greater than or equal to 0") in got
    assert ("FieldValueInvalid", "spec.successfulJobsHistoryLimit",
            "Invalid value: -2: must be greater than or equal to 0") in got
    assert any(c[1] == "spec.jobTemplate.spec.selector" and
               c[2].endswith("`selector` will be auto-generated") for c in got)
    long = "x" * 53
    assert ("FieldValueInvalid", "metadata.name",
            f'Invalid value: "{long}": must be no more than 52 characters') in \
        causes(api, cronjob(long), ns)
    # a time zone and the macros are fine
    api.ok("POST", cronjobs(ns), cronjob("ok1", "@hourly", timeZone="Europe/Paris"), 201)


def test_kubectl_create_and_get_cronjobs(kubectl: Kubectl, server_url: str, ns: str) -> None:
    name = unique("kc")
    out = kubectl("create", "cronjob", name, "--image=minik8s/busybox:latest",
                  "--schedule=*/1 * * * *", "-n", ns, "--", "date").stdout
    assert out.strip() == f"cronjob.batch/{name} created"
    code, cj = json_request("GET", f"{server_url}{cronjobs(ns)}/{name}")
    assert code == 200
    assert cj["spec"]["schedule"] == "*/1 * * * *"
    c = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert (c["name"], c["image"], c["command"]) == (name, "minik8s/busybox:latest", ["date"])
    assert cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == \
        "OnFailure"
    lines = [re.split(r"\s{2,}", ln.strip())
             for ln in kubectl("get", "cronjobs", "-n", ns).stdout.strip().splitlines()]
    assert lines[0] == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE",
                        "AGE"]
    assert lines[1][:6] == [name, "*/1 * * * *", "<none>", "False", "0", "<none>"]
    wide = kubectl("get", "cj", name, "-n", ns, "-o", "wide").stdout.splitlines()
    assert re.split(r"\s{2,}", wide[0].strip())[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert re.split(r"\s{2,}", wide[1].strip())[-3:] == [name, "minik8s/busybox:latest",
                                                         "<none>"]
    cj["status"] = {"lastScheduleTime": cj["metadata"]["creationTimestamp"],
                    "active": [{"kind": "Job", "name": "x", "namespace": ns}]}
    code, _ = json_request("PUT", f"{server_url}{cronjobs(ns)}/{name}/status", cj)
    assert code == 200
    row = re.split(r"\s{2,}", kubectl("get", "cronjobs", name, "-n", ns,
                                      "--no-headers").stdout.strip())
    assert row[4] == "1" and row[5] != "<none>"
    assert "cronjobs" in kubectl("api-resources", "--api-group=batch").stdout
    bad = kubectl("create", "cronjob", "bad", "--image=busybox", "--schedule=61 * * * *",
                  "-n", ns, check=False)
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: failed to create cronjob: ")
    assert '"bad" is invalid: spec.schedule: Invalid value: "61 * * * *": ' \
        "end of range (61) above maximum (59): 61" in bad.stderr


def test_official_client_batch_v1(server_url: str, ns: str) -> None:
    cfg = k8s.Configuration()
    cfg.host = server_url
    with k8s.ApiClient(cfg) as c:
        batch = k8s.BatchV1Api(c)
        body = k8s.V1CronJob(
            metadata=k8s.V1ObjectMeta(name="py"),
            spec=k8s.V1CronJobSpec(
                schedule="0 * * * *", time_zone="Asia/Tokyo",
                job_template=k8s.V1JobTemplateSpec(spec=k8s.V1JobSpec(
                    template=k8s.V1PodTemplateSpec(spec=k8s.V1PodSpec(
                        restart_policy="Never",
                        containers=[k8s.V1Container(name="c", image="busybox")]))))))
        made = batch.create_namespaced_cron_job(ns, body)
        assert made.spec.concurrency_policy == "Allow" and made.spec.time_zone == "Asia/Tokyo"
        names = [i.metadata.name for i in batch.list_namespaced_cron_job(ns).items]
        assert names == ["py"]
        batch.patch_namespaced_cron_job("py", ns, {"spec": {"suspend": True}})
        assert batch.read_namespaced_cron_job("py", ns).spec.suspend is True
        batch.delete_namespaced_cron_job("py", ns)
        assert batch.list_namespaced_cron_job(ns).items == []
