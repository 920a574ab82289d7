"""minictl api-resources (from discovery) and explain (from /openapi/v3), against the real
kubectl on the same server."""

from __future__ import annotations

import pytest

from testing.kubectl import Kubectl
from tests.cli.helpers import mctl


def same(server_url: str, kubectl: Kubectl, *args: str) -> str:
    """minictl and kubectl print the same lines (kubectl's tabwriter keeps trailing blanks
    after an empty last cell; minictl's do not) and exit alike."""
    r = mctl(server_url, *args)
    k = kubectl(*args, check=False)
    mine = [ln.rstrip() for ln in r.stdout.splitlines()]
    theirs = [ln.rstrip() for ln in k.stdout.splitlines()]
    assert (r.exit_code, mine) == (k.returncode, theirs), args
    return r.stdout


@pytest.mark.parametrize("args", [
    (), ("-o", "wide"), ("-o", "name"), ("--namespaced=false",), ("--namespaced=true",),
    ("--api-group=apps", "-o", "wide"), ("--api-group=",), ("--api-group=nope",),
    ("--verbs=list,get", "--no-headers"), ("--sort-by=kind",), ("--sort-by=name", "-o", "name"),
])
def test_api_resources_as_kubectl(server_url: str, kubectl: Kubectl,
                                  args: tuple[str, ...]) -> None:
    same(server_url, kubectl, "api-resources", *args)


def test_api_resources_come_from_discovery(server_url: str, kubectl: Kubectl) -> None:
    out = same(server_url, kubectl, "api-resources", "-o", "name")
    assert "deployments.apps" in out.split() and "pods" in out.split()
    assert not any("/" in n for n in out.split())  # no subresources
    r = mctl(server_url, "api-resources", "--namespaced=maybe")
    assert r.exit_code == 1 and 'invalid argument "maybe" for "--namespaced"' in r.stderr


@pytest.mark.parametrize("path", [
    "pods", "pod.spec.containers.imagePullPolicy", "deployment.spec.strategy",
    "pod.spec.containers.readinessProbe.httpGet.port", "job.spec.backoffLimit",
    "service.spec.type", "deployment.spec.template.spec.containers.resources",
])
def test_explain_prints_kubernetes_descriptions(server_url: str, kubectl: Kubectl,
                                                path: str) -> None:
    out = same(server_url, kubectl, "explain", path)
    desc = out.split("DESCRIPTION:", 1)[1].split("FIELDS:", 1)[0]
    assert desc.strip() and "<empty>" not in desc, out


def test_explain_descriptions_are_kubernetes_own(server_url: str, kubectl: Kubectl) -> None:
    out = kubectl("explain", "pod.spec.containers.imagePullPolicy").stdout
    assert "Image pull policy. One of Always, Never, IfNotPresent." in " ".join(out.split())
    out = kubectl("explain", "deployments").stdout
    assert "Deployment enables declarative updates for Pods and ReplicaSets." in \
        " ".join(out.split())
