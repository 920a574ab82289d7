"""minictl cordon, uncordon and taint against the real kubectl: the same commands on two
like nodes print the same lines, exit the same way and leave the same spec."""

from __future__ import annotations

from testing.kubectl import Kubectl
from testing.support import unique
from tests.cli.helpers import get, mctl, post

STEPS = [
    "cordon {n}", "cordon {n}", "cordon {n} --dry-run=client", "uncordon {n}",
    "uncordon {n}", "cordon {n}-missing",
    "taint nodes {n} a=b:NoSchedule", "taint nodes {n} a=c:NoSchedule",
    "taint nodes {n} a=c:NoSchedule --overwrite", "taint nodes {n} a=c:PreferNoSchedule",
    "taint nodes {n} a:NoSchedule-", "taint nodes {n} a:NoSchedule-",
    "taint nodes {n} b=1:NoExecute c:NoSchedule e=f:NoSchedule", "taint no {n} b-",
    "taint nodes {n} a-", "taint nodes {n} x=y:Bogus", "taint nodes {n} x=y",
    "taint nodes {n} a=b=c:NoSchedule", "taint nodes {n} foo:Bad-",
    "taint nodes {n} c:NoSchedule c-", "taint nodes {n}", "taint pods {n} a=b:NoSchedule",
    "taint nodes {n}-missing a=b:NoSchedule", "taint nodes {n} d=e:NoSchedule --dry-run=client",
    "cordon {n}",
]


def node(server_url: str) -> str:
    name = unique("node")
    post(server_url, "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                       "metadata": {"name": name}})
    return name


def test_same_steps_same_answers_as_kubectl(server_url: str, kubectl: Kubectl) -> None:
    mine, theirs = node(server_url), node(server_url)
    for step in STEPS:
        r = mctl(server_url, *step.format(n=mine).split())
        k = kubectl(*step.format(n=theirs).split(), check=False)
        # The first line of stderr (kubectl's usage hint names its own help flag).
        got = (r.exit_code, r.stdout.replace(mine, "N"),
               r.stderr.replace(mine, "N").splitlines()[:1])
        want = (k.returncode, k.stdout.replace(theirs, "N"),
                k.stderr.replace(theirs, "N").splitlines()[:1])
        assert got == want, step
        a = get(server_url, f"/api/v1/nodes/{mine}")["spec"]
        b = get(server_url, f"/api/v1/nodes/{theirs}")["spec"]
        assert a == b, (step, a, b)
    assert get(server_url, f"/api/v1/nodes/{mine}")["spec"] == {
        "unschedulable": True, "taints": [{"key": "c", "effect": "NoSchedule"},
                                          {"key": "e", "value": "f", "effect": "NoSchedule"}]}


def test_selector(server_url: str, kubectl: Kubectl) -> None:
    a, b = node(server_url), node(server_url)
    label = unique("pool")
    for n in (a, b):
        kubectl("label", "node", n, f"pool={label}")
    out = mctl(server_url, "cordon", "-l", f"pool={label}").stdout.splitlines()
    assert out == sorted([f"node/{a} cordoned", f"node/{b} cordoned"])
    text = mctl(server_url, "taint", "nodes", "-l", f"pool={label}", "k=v:NoExecute").stdout
    assert text.splitlines() == sorted([f"node/{a} tainted", f"node/{b} tainted"])
