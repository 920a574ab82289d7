"""minictl on custom resources, its kinds from the server's discovery: get (the server's
Table with the CRD's printer columns, -o wide), by plural, singular, kind and short name,
get all (the "all" category), describe (kubectl's generic describer), apply -f and delete,
each beside the real kubectl's output."""

from __future__ import annotations

import yaml

from testing import kubectl as kubectl_cli
from testing.apiclient import Api
from testing.support import unique, wait_for
from tests.apiserver.test_crd import CRDS, crd_body, established
from tests.cli.helpers import fails, ok


def no_age(table: str) -> list[str]:
    """The table without its AGE column (it may tick between the two commands)."""
    out = []
    for line in table.splitlines():
        cells = line.split()
        out.append(" ".join(c for i, c in enumerate(cells)
                            if not (i == len(cells) - 1 and (c == "AGE" or c[-1] in "smhd")))
                   )
    return out


def test_minictl_like_kubectl(server_url: str, api: Api, kubectl: kubectl_cli.Kubectl,
                              tmp_path: object) -> None:
    group = f"{unique('g')}.example.com"
    api.ok("POST", CRDS, crd_body(group, short=["wg"]), 201)
    wait_for(lambda: established(api, f"widgets.{group}"), timeout=30)
    ns = api.namespace()
    doc = {"apiVersion": f"{group}/v1", "kind": "Widget",
           "metadata": {"name": "w1", "labels": {"a": "b"}, "annotations": {"note": "x"}},
           "spec": {"size": 3, "replicas": 2, "selector": "app=w"}}
    assert ok(server_url, "apply", "-n", ns, "-f", "-", input=yaml.safe_dump(doc)) == \
        f"widget.{group}/w1 created\n"
    kubectl("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(
        {**doc, "metadata": {"name": "w2"}}))
    api.ok("PATCH", f"/apis/{group}/v1/namespaces/{ns}/widgets/w1/status",
           {"status": {"replicas": 1}}, content_type="application/merge-patch+json")
    for kind in (f"widgets.{group}", f"widget.{group}", f"Widget.{group}", f"wg.{group}",
                 "widgets", "wg"):
        assert no_age(ok(server_url, "get", kind, "-n", ns)) == \
            no_age(kubectl("get", kind, "-n", ns).stdout)
    assert no_age(ok(server_url, "get", "widgets", "-n", ns, "-o", "wide")) == \
        no_age(kubectl("get", "widgets", "-n", ns, "-o", "wide").stdout)
    mine = no_age(ok(server_url, "get", "all", "-n", ns))
    assert mine == no_age(kubectl("get", "all", "-n", ns).stdout)
    assert any(f"widget.{group}/w1" in line for line in mine)
    assert ok(server_url, "describe", "widget", "w1", "-n", ns) == \
        kubectl("describe", "widget", "w1", "-n", ns).stdout
    assert ok(server_url, "get", "wg", "w1", "-n", ns, "-o", "jsonpath={.spec.color}") == \
        "blue"
    assert ok(server_url, "delete", f"widget.{group}", "w2", "-n", ns) == \
        f'widget.{group} "w2" deleted from {ns} namespace\n'
    err = fails(server_url, "get", "gadgets")
    assert 'the server doesn\'t have a resource type "gadgets"' in err
