"""minictl create cronjob, get cronjobs and describe cronjob beside the real kubectl on the
same server: the same stored object, the same table, the same description."""

from __future__ import annotations

import json

import pytest

from testing.kubectl import Kubectl
from testing.support import json_request, unique
from tests.cli.helpers import fails, get, ok, put_status, without_age


def _path(ns: str, name: str) -> str:
    return f"/apis/batch/v1/namespaces/{ns}/cronjobs/{name}"


def test_create_cronjob_as_kubectl_does(server_url: str, ns: str, kubectl: Kubectl) -> None:
    mine, theirs = unique("mc"), unique("kc")
    out = ok(server_url, "create", "cronjob", mine, "--image=minik8s/busybox:latest",
             "--schedule=*/1 * * * *", "-n", ns, "--", "date")
    assert out.strip() == f"cronjob.batch/{mine} created"
    kubectl("create", "cronjob", theirs, "--image=minik8s/busybox:latest",
            "--schedule=*/1 * * * *", "-n", ns, "--", "date")
    a, b = get(server_url, _path(ns, mine)), get(server_url, _path(ns, theirs))
    text_a = json.dumps(a["spec"], sort_keys=True).replace(mine, "NAME")
    text_b = json.dumps(b["spec"], sort_keys=True).replace(theirs, "NAME")
    assert text_a == text_b
    # the table, -o wide included
    for args in ((), ("-o", "wide")):
        m = ok(server_url, "get", "cronjobs", mine, "-n", ns, *args)
        k = kubectl("get", "cronjobs", mine, "-n", ns, *args).stdout
        assert without_age(m) == without_age(k), (m, k)


def test_describe_cronjob_as_kubectl_does(server_url: str, ns: str, kubectl: Kubectl) -> None:
    name = unique("dc")
    kubectl("create", "cronjob", name, "--image=minik8s/busybox:latest",
            "--schedule=0 3 * * *", "-n", ns, "--", "sh", "-c", "echo hi")
    obj = get(server_url, _path(ns, name))
    obj["spec"]["timeZone"] = "Europe/Paris"
    code, obj = json_request("PUT", server_url + _path(ns, name), obj)
    assert code == 200
    obj["status"] = {"lastScheduleTime": "2026-01-02T03:00:00Z",
                     "active": [{"kind": "Job", "name": f"{name}-1", "namespace": ns},
                                {"kind": "Job", "name": f"{name}-2", "namespace": ns}]}
    put_status(server_url, _path(ns, name), obj)
    kubectl.env["TZ"] = "UTC"  # kubectl prints the schedule time in its local zone
    want = kubectl("describe", "cronjob", name, "-n", ns).stdout
    got = ok(server_url, "describe", "cronjob", name, "-n", ns)
    # every line but the pod template's (the shared template printer is not kubectl 1.37's
    # to the letter: Command layout, Node-Selectors, Tolerations)
    assert _outside_template(got) == _outside_template(want)
    assert "Active Jobs:" in got and f"{name}-1, {name}-2" in got


def _outside_template(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("Pod Template:")
    end = next(i for i, ln in enumerate(lines) if ln.startswith("Last Schedule Time:"))
    return lines[:start + 1] + lines[end:]


@pytest.mark.parametrize(("args", "message"), [
    (("--schedule=* * * * *",), "--image must be specified"),
    (("--image=busybox",), "--schedule must be specified"),
])
def test_create_cronjob_flag_errors(server_url: str, ns: str, args: tuple[str, ...],
                                    message: str) -> None:
    err = fails(server_url, "create", "cronjob", "x", "-n", ns, *args)
    assert err == f"error: {message}"


def test_create_cronjob_invalid_schedule(server_url: str, ns: str) -> None:
    err = fails(server_url, "create", "cronjob", "bad", "--image=busybox",
                "--schedule=every minute", "-n", ns)
    assert 'spec.schedule: Invalid value: "every minute": expected exactly 5 fields, ' \
        "found 2: [every minute]" in err


def test_create_job_from_cronjob_as_kubectl_does(server_url: str, ns: str,
                                                 kubectl: Kubectl) -> None:
    cj = unique("fc")
    ok(server_url, "create", "cronjob", cj, "--image=minik8s/busybox:latest",
       "--schedule=*/5 * * * *", "-n", ns, "--", "date")
    out = ok(server_url, "create", "job", "mine", f"--from=cronjob/{cj}", "-n", ns)
    assert out.strip() == "job.batch/mine created"
    kubectl("create", "job", "theirs", f"--from=cronjob/{cj}", "-n", ns)
    jobs = f"/apis/batch/v1/namespaces/{ns}/jobs"
    a, b = get(server_url, f"{jobs}/mine"), get(server_url, f"{jobs}/theirs")
    owner = get(server_url, _path(ns, cj))["metadata"]["uid"]
    for job in (a, b):
        assert job["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}
        assert job["metadata"]["ownerReferences"] == [
            {"apiVersion": "batch/v1", "kind": "CronJob", "name": cj, "uid": owner,
             "controller": True}]
    strip = ("selector", "template")
    assert {k: v for k, v in a["spec"].items() if k not in strip} == \
        {k: v for k, v in b["spec"].items() if k not in strip}
    assert a["spec"]["template"]["spec"] == b["spec"]["template"]["spec"]
