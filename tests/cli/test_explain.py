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
