"""minictl create job, get jobs, describe job and trace job beside the real kubectl on the
same server: the same stored object, the same table, the same description."""

from __future__ import annotations

import json
import re

import pytest

from testing.kubectl import Kubectl
from testing.support import json_request, unique
from tests.cli.helpers import fails, get, ok, put_status, without_age


def _path(ns: str, name: str) -> str:
    return f"/apis/batch/v1/namespaces/{ns}/jobs/{name}"


def _spec(obj: dict[str, object], name: str) -> str:
    """The spec with the name and the generated uid masked."""
    md = obj["metadata"]
    assert isinstance(md, dict)
    return json.dumps(obj["spec"], sort_keys=True).replace(md["uid"], "UID").replace(name, "N")


def test_create_job_as_kubectl_does(server_url: str, ns: str, kubectl: Kubectl) -> None:
    mine, theirs = unique("mj"), unique("kj")
    out = ok(server_url, "create", "job", mine, "--image=minik8s/busybox:latest", "-n", ns,
             "--", "sh", "-c", "echo hi")
    assert out.strip() == f"job.batch/{mine} created"
    kubectl("create", "job", theirs, "--image=minik8s/busybox:latest", "-n", ns,
            "--", "sh", "-c", "echo hi")
    a, b = get(server_url, _path(ns, mine)), get(server_url, _path(ns, theirs))
    assert _spec(a, mine) == _spec(b, theirs)
    for args in ((), ("-o", "wide")):
        m = ok(server_url, "get", "jobs", mine, "-n", ns, *args)
        k = kubectl("get", "jobs", mine, "-n", ns, *args).stdout
        assert without_age(m) == without_age(k), (m, k)
    # dry runs print what would be sent, as kubectl does
    assert ok(server_url, "create", "job", "dry", "--image=busybox", "-n", ns,
              "--dry-run=client", "-o", "name") == "job.batch/dry\n"


def test_get_and_describe_job_as_kubectl(server_url: str, ns: str, kubectl: Kubectl) -> None:
    name = unique("dj")
    kubectl("create", "job", name, "--image=minik8s/busybox:latest", "-n", ns)
    obj = get(server_url, _path(ns, name))
    obj["status"] = {"startTime": "2026-01-02T03:00:00Z", "completionTime": "2026-01-02T03:01:05Z",
                     "succeeded": 1, "ready": 0, "active": 0,
                     "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                                    {"type": "Complete", "status": "True"}]}
    put_status(server_url, _path(ns, name), obj)
    kubectl.env["TZ"] = "UTC"
    want = kubectl("describe", "job", name, "-n", ns).stdout
    got = ok(server_url, "describe", "job", name, "-n", ns)
    # every line but the pod template's (the shared template printer is not kubectl 1.37's
    # to the letter: Command layout, Node-Selectors, Tolerations)
    assert _outside_template(got) == _outside_template(want)
    assert "Duration:" in got and "Pods Statuses:" in got
    row = ok(server_url, "get", "jobs", "-n", ns, "--no-headers")
    assert row == kubectl("get", "jobs", "-n", ns, "--no-headers").stdout
    assert re.split(r"\s{2,}", row.strip())[:4] == [name, "Complete", "1/1", "65s"]
    trace = ok(server_url, "trace", f"job/{name}", "-n", ns)
    assert f"job/{name} created: 1 completion, parallelism 1 of minik8s/busybox:latest" \
        in trace and "-> Complete 1/1 in 65s" in trace


def _outside_template(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("Pod Template:")
    end = next((i for i, ln in enumerate(lines) if ln.startswith("Events:")), len(lines))
    return lines[:start + 1] + [ln.split(":")[0] for ln in lines[end:]]


@pytest.mark.parametrize(("args", "message"), [
    ((), "either --image or --from must be specified"),
    (("--image=busybox", "--from=cronjob/x"), "either --image or --from must be specified"),
    (("--from=cronjob/x", "--", "date"), "cannot specify --from and command"),
    (("--from=cronjob",), "from must be of the form resource/name"),
    (("--from=deployment/x",), "unknown object type Deployment"),
])
def test_create_job_flag_errors(server_url: str, ns: str, args: tuple[str, ...],
                                message: str) -> None:
    assert fails(server_url, "create", "job", "x", "-n", ns, *args) == f"error: {message}"


def test_create_job_invalid_and_duplicate(server_url: str, ns: str) -> None:
    err = fails(server_url, "create", "job", "Bad_Name", "--image=busybox", "-n", ns)
    assert err.startswith('The Job "Bad_Name" is invalid: metadata.name: Invalid value')
    ok(server_url, "create", "job", "twice", "--image=busybox", "-n", ns)
    assert fails(server_url, "create", "job", "twice", "--image=busybox", "-n", ns) == \
        'Error from server (AlreadyExists): jobs.batch "twice" already exists'
    code, _ = json_request("GET", f"{server_url}{_path(ns, 'twice')}")
    assert code == 200
