"""``kubectl autoscale`` and ``minictl autoscale`` side by side against the real API server,
``get hpa`` columns compared with kubectl's, and the API's answers to bad HPAs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from testing import kubectl as kubectl_mod
from testing.kubectl import Kubectl
from testing.objects import deployment
from testing.support import json_request, unique
from tests.cli.helpers import cells, fails, ok

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not kubectl_mod.installed(), reason="kubectl not installed")]


@pytest.fixture(autouse=True)
def _no_users_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))


@pytest.fixture
def kubectl(server_url: str, tmp_path: Path) -> Kubectl:
    return Kubectl(server_url, tmp_path / "kube")


@pytest.fixture
def ns(server_url: str) -> Iterator[str]:
    name = unique("hpa")
    code, _ = json_request("POST", server_url + "/api/v1/namespaces",
                           {"metadata": {"name": name}})
    assert code == 201
    yield name
    json_request("DELETE", f"{server_url}/api/v1/namespaces/{name}")


def _deploy(server: str, ns: str, name: str) -> None:
    d = deployment(name, 1).to_dict()
    code, out = json_request("POST", f"{server}/apis/apps/v1/namespaces/{ns}/deployments", d)
    assert code == 201, out


def _hpa(server: str, ns: str, name: str) -> dict[str, Any]:
    code, out = json_request(
        "GET", f"{server}/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/{name}")
    assert code == 200 and isinstance(out, dict), out
    return out


def test_autoscale_like_kubectl(server_url: str, kubectl: Kubectl, ns: str) -> None:
    _deploy(server_url, ns, "web")
    _deploy(server_url, ns, "api")
    k = kubectl("autoscale", "deployment", "web", "--min=2", "--max=5", "--cpu-percent=80",
                "-n", ns)
    assert k.stdout.strip() == "horizontalpodautoscaler.autoscaling/web autoscaled"
    m = ok(server_url, "autoscale", "deployment", "api", "--min=2", "--max=5",
           "--cpu-percent=80", "-n", ns)
    assert m.strip() == "horizontalpodautoscaler.autoscaling/api autoscaled"
    kw, mw = _hpa(server_url, ns, "web"), _hpa(server_url, ns, "api")
    assert kw["apiVersion"] == "autoscaling/v2"
    assert kw["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": "web"}
    assert kw["spec"]["minReplicas"] == 2 and kw["spec"]["maxReplicas"] == 5
    assert kw["spec"]["metrics"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 80}}}]
    mw["spec"]["scaleTargetRef"]["name"] = "web"
    assert mw["spec"] == kw["spec"]

    # --cpu / --memory forms, and the defaulted 80% when no target is given
    k = kubectl("autoscale", "deploy/web", "--name=mem", "--max=3", "--cpu=500m",
                "--memory=200", "-n", ns)
    m = ok(server_url, "autoscale", "deploy/web", "--name=mem2", "--max=3", "--cpu=500m",
           "--memory=200", "-n", ns)
    assert _hpa(server_url, ns, "mem")["spec"] == _hpa(server_url, ns, "mem2")["spec"]
    assert _hpa(server_url, ns, "mem")["spec"]["metrics"][1]["resource"]["target"] == {
        "type": "AverageValue", "averageValue": "200Mi"}
    kubectl("autoscale", "deployment", "web", "--name=plain", "--max=4", "-n", ns)
    ok(server_url, "autoscale", "deployment", "web", "--name=plain2", "--max=4", "-n", ns)
    assert _hpa(server_url, ns, "plain")["spec"] == _hpa(server_url, ns, "plain2")["spec"]
    assert _hpa(server_url, ns, "plain")["spec"]["minReplicas"] == 1

    # get hpa: the same table from both
    kt = kubectl("get", "hpa", "-n", ns).stdout.splitlines()
    mt = ok(server_url, "get", "hpa", "-n", ns).splitlines()
    assert cells(kt[0]) == cells(mt[0]) == [
        "NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert [cells(r)[:-1] for r in kt[1:]] == [cells(r)[:-1] for r in mt[1:]]
    web = next(cells(r) for r in kt[1:] if r.startswith("web "))
    assert web[:6] == ["web", "Deployment/web", "cpu: <unknown>/80%", "2", "5", "0"]
    mem = next(cells(r) for r in kt[1:] if r.startswith("mem "))
    assert mem[2] == "cpu: <unknown>/500m, memory: <unknown>/200Mi"
    # the short name and the v2 group resolve for both
    assert kubectl("get", "horizontalpodautoscalers.autoscaling", "web", "-n", ns,
                   "-o", "name").stdout.strip() == "horizontalpodautoscaler.autoscaling/web"
    # dry runs write nothing
    out = ok(server_url, "autoscale", "deployment", "web", "--name=dry", "--max=2",
             "--dry-run=client", "-n", ns)
    assert out.strip() == "horizontalpodautoscaler.autoscaling/dry created (dry run)"
    out = ok(server_url, "autoscale", "deployment", "web", "--name=dry", "--max=2",
             "--dry-run=server", "-o", "yaml", "-n", ns)
    assert yaml.safe_load(out)["spec"]["maxReplicas"] == 2
    code, _ = json_request(
        "GET", f"{server_url}/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/dry")
    assert code == 404


def test_autoscale_errors_like_kubectl(server_url: str, kubectl: Kubectl, ns: str) -> None:
    _deploy(server_url, ns, "web")
    for args in (["--max=0"], ["--min=5", "--max=3"], ["--max=3", "--cpu-percent=50",
                                                       "--cpu=50%"],
                 ["--max=3", "--cpu=abc"]):
        k = kubectl("autoscale", "deployment", "web", *args, "-n", ns, check=False)
        assert k.returncode == 1
        m = fails(server_url, "autoscale", "deployment", "web", *args, "-n", ns)
        assert m == k.stderr.strip(), args
    k = kubectl("autoscale", "deployment", "nope", "--max=3", "-n", ns, check=False)
    m = fails(server_url, "autoscale", "deployment", "nope", "--max=3", "-n", ns)
    assert m == k.stderr.strip() == 'Error from server (NotFound): deployments.apps "nope" ' \
        "not found"
    ok(server_url, "autoscale", "deployment", "web", "--max=3", "-n", ns)
    # kubectl 1.37 falls back to v1 after any v2 failure and reports that; minictl keeps
    # the server's answer
    k = kubectl("autoscale", "deployment", "web", "--max=3", "-n", ns, check=False)
    assert k.returncode == 1 and "failed to create autoscaling/v2 HPA" in k.stderr
    assert fails(server_url, "autoscale", "deployment", "web", "--max=3", "-n", ns) == (
        'Error from server (AlreadyExists): horizontalpodautoscalers.autoscaling "web" '
        "already exists")
    # the server's validation, as Kubernetes words it
    bad = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "bad"},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                    "minReplicas": 0, "maxReplicas": 2, "behavior": {"scaleDown": {
                        "selectPolicy": "Sometimes", "policies": [
                            {"type": "Pods", "value": 1, "periodSeconds": 2000}]}}}}
    k = kubectl("create", "-f", "-", "-n", ns, stdin=yaml.safe_dump(bad), check=False)
    assert k.returncode == 1
    assert k.stderr.strip() == (
        'The HorizontalPodAutoscaler "bad" is invalid: \n'
        "* spec.minReplicas: Invalid value: 0: must be greater than or equal to 1\n"
        '* spec.behavior.scaleDown.selectPolicy: Unsupported value: "Sometimes": supported '
        'values: "Disabled", "Max", "Min"\n'
        "* spec.behavior.scaleDown.policies[0].periodSeconds: Invalid value: 2000: must be "
        "less than or equal to 1800")


def test_describe_hpa_like_kubectl(server_url: str, kubectl: Kubectl, ns: str) -> None:
    _deploy(server_url, ns, "web")
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web", "labels": {"tier": "front"}},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "name": "web"},
                    "minReplicas": 2, "maxReplicas": 6, "metrics": [
                        {"type": "Resource", "resource": {"name": "cpu", "target": {
                            "type": "Utilization", "averageUtilization": 60}}},
                        {"type": "Resource", "resource": {"name": "memory", "target": {
                            "type": "AverageValue", "averageValue": "100Mi"}}}],
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60, "policies": [
                        {"type": "Pods", "value": 1, "periodSeconds": 30},
                        {"type": "Percent", "value": 10, "periodSeconds": 600}]}}}}
    path = f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers"
    code, created = json_request("POST", server_url + path, hpa)
    assert code == 201, created
    assert isinstance(created, dict)
    created["status"] = {
        "currentReplicas": 3, "desiredReplicas": 4, "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {
                "averageUtilization": 75, "averageValue": "75m"}}},
            {"type": "Resource", "resource": {"name": "memory", "current": {
                "averageValue": "52Mi"}}}],
        "conditions": [
            {"type": "AbleToScale", "status": "True", "reason": "SucceededRescale",
             "message": "the HPA controller was able to update the target scale to 4",
             "lastTransitionTime": created["metadata"]["creationTimestamp"]},
            {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound",
             "message": "the HPA was able to successfully calculate a replica count from cpu "
                        "resource utilization (percentage of request)",
             "lastTransitionTime": created["metadata"]["creationTimestamp"]}]}
    code, out = json_request("PUT", f"{server_url}{path}/web/status", created)
    assert code == 200, out
    k = kubectl("describe", "hpa", "web", "-n", ns).stdout
    m = ok(server_url, "describe", "hpa", "web", "-n", ns)
    assert m == k
    assert "cpu: 75%/60%, memory: 52Mi/100Mi" in ok(server_url, "get", "hpa", "-n", ns)
    # a bare one (no behavior, no status yet), and describe of every hpa
    kubectl("autoscale", "deployment", "web", "--name=plain", "--max=3", "--cpu=70%", "-n", ns)
    assert ok(server_url, "describe", "hpa", "plain", "-n", ns) == \
        kubectl("describe", "hpa", "plain", "-n", ns).stdout
    assert ok(server_url, "describe", "hpa", "-n", ns) == \
        kubectl("describe", "hpa", "-n", ns).stdout
