"""ReplicationControllers on the API server: SetDefaults_ReplicationController, validation
as Kubernetes words it (through the real kubectl), /scale, field selectors, and the
Tables of kubectl get rc and minictl get rc."""

from __future__ import annotations

import json
from typing import Any

from testing.kubectl import Kubectl
from testing.support import unique
from tests.cli.helpers import cells, ok, post


def rc(name: str, labels: dict[str, str], selector: dict[str, str] | None = None,
       **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
        "spec": {"template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
                 **spec}}
    if selector is not None:
        body["spec"]["selector"] = selector
    return body


def new_ns(server_url: str) -> str:
    name = unique("rcapi")
    post(server_url, "/api/v1/namespaces", {"metadata": {"name": name}})
    return name


def test_defaults_from_the_template(server_url: str) -> None:
    ns = new_ns(server_url)
    made = post(server_url, f"/api/v1/namespaces/{ns}/replicationcontrollers",
                rc("d", {"app": "d", "tier": "x"}))
    assert made["spec"]["selector"] == {"app": "d", "tier": "x"}
    assert made["metadata"]["labels"] == {"app": "d", "tier": "x"}
    assert made["spec"]["replicas"] == 1
    assert made["metadata"]["generation"] == 1 and made["status"] == {"replicas": 0}
    # given labels and selector stay
    kept = post(server_url, f"/api/v1/namespaces/{ns}/replicationcontrollers",
                {**rc("k", {"app": "k", "v": "1"}, {"app": "k"}),
                 "metadata": {"name": "k", "labels": {"own": "yes"}}})
    assert kept["spec"]["selector"] == {"app": "k"}
    assert kept["metadata"]["labels"] == {"own": "yes"}


def test_validation_as_kubernetes_words_it(server_url: str, kubectl: Kubectl) -> None:
    ns = new_ns(server_url)
    bad = rc("bad", {"app": "b"}, {"app": "other"}, replicas=-1)
    bad["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    r = kubectl("-n", ns, "create", "-f", "-", stdin=json.dumps(bad), check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == (
        'The ReplicationController "bad" is invalid: \n'
        "* spec.replicas: Invalid value: -1: must be greater than or equal to 0\n"
        '* spec.template.metadata.labels: Invalid value: {"app":"b"}: `selector` does not '
        "match template `labels`\n"
        '* spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: '
        '"Always"')
    no_template = {"apiVersion": "v1", "kind": "ReplicationController",
                   "metadata": {"name": "nt"}, "spec": {}}
    r = kubectl("-n", ns, "create", "-f", "-", stdin=json.dumps(no_template), check=False)
    assert r.stderr.strip() == (
        'The ReplicationController "nt" is invalid: \n'
        "* spec.selector: Required value\n"
        "* spec.template: Required value")


def test_scale_field_selector_and_tables(server_url: str, kubectl: Kubectl) -> None:
    ns = new_ns(server_url)
    post(server_url, f"/api/v1/namespaces/{ns}/replicationcontrollers",
         rc("web", {"app": "web", "tier": "fe"}, replicas=2))
    scale = kubectl("-n", ns, "get", "--raw",
                    f"/api/v1/namespaces/{ns}/replicationcontrollers/web/scale").stdout
    got = json.loads(scale)
    assert (got["kind"], got["apiVersion"]) == ("Scale", "autoscaling/v1")
    assert got["spec"] == {"replicas": 2}
    assert got["status"] == {"replicas": 0, "selector": "app=web,tier=fe"}
    names = kubectl("-n", ns, "get", "rc", "--field-selector", "status.replicas=0",
                    "-o", "name").stdout.split()
    assert names == ["replicationcontroller/web"]
    assert kubectl("-n", ns, "get", "rc", "--field-selector", "status.replicas=1",
                   "-o", "name").stdout == ""

    theirs = kubectl("-n", ns, "get", "rc", "-o", "wide").stdout.splitlines()
    mine = ok(server_url, "-n", ns, "get", "rc", "-o", "wide").splitlines()
    for lines in (theirs, mine):
        assert cells(lines[0]) == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS",
                                   "IMAGES", "SELECTOR"]
        row = cells(lines[1])
        assert row[:4] == ["web", "2", "0", "0"] and row[5:] == ["c", "nginx",
                                                                   "app=web,tier=fe"]
    short = ok(server_url, "-n", ns, "get", "replicationcontrollers").splitlines()
    assert cells(short[0]) == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]



def test_describe_rc_is_kubectls(server_url: str, kubectl: Kubectl) -> None:
    ns = new_ns(server_url)
    body = rc("web", {"app": "web"}, replicas=2)
    body["metadata"]["annotations"] = {"note": "x"}
    body["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
    post(server_url, f"/api/v1/namespaces/{ns}/replicationcontrollers", body)
    mine = ok(server_url, "-n", ns, "describe", "rc", "web")
    theirs = kubectl("-n", ns, "describe", "rc", "web").stdout
    # Kubernetes' lines, in its order; the shared pod-template writer (also ReplicaSets')
    # leaves out kubectl 1.37's Node-Selectors/Tolerations lines, which re-align the columns.
    def norm(text: str) -> list[str]:
        return [" ".join(line.split()) for line in text.splitlines()
                if not line.strip().startswith(("Node-Selectors:", "Tolerations:"))]

    assert norm(mine) == norm(theirs)
    assert "Selector:     app=web\n" in mine and "Replicas:     0 current / 2 desired\n" in mine


def test_minictl_scale_rc_and_get_all(server_url: str) -> None:
    ns = new_ns(server_url)
    post(server_url, f"/api/v1/namespaces/{ns}/replicationcontrollers",
         rc("web", {"app": "web"}, replicas=2))
    assert ok(server_url, "-n", ns, "scale", "rc", "web", "--replicas=4") == \
        "replicationcontroller/web scaled\n"
    assert ok(server_url, "-n", ns, "get", "rc/web", "-o", "jsonpath={.spec.replicas}") == "4"
    ok(server_url, "-n", ns, "run", "p", "--image=nginx")
    blocks = ok(server_url, "-n", ns, "get", "all").split("\n\n")
    # kubectl's order: the core group's pods, replicationcontrollers, services, then apps
    assert [cells(b.splitlines()[1])[0] for b in blocks] == [
        "pod/p", "replicationcontroller/web"]
