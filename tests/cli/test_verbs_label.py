"""minictl label / annotate / patch against the real kubectl on copies of the same objects:
same lines on stdout and stderr, same exit codes, same objects on the server afterwards."""

from __future__ import annotations

import pytest

from testing.apiclient import Api
from testing.kubectl import Kubectl
from tests.cli.helpers import get
from tests.cli.verbs import Pair

DEPLOY = "/apis/apps/v1/namespaces/{ns}/deployments"
PODS = "/api/v1/namespaces/{ns}/pods"


def deployment(name: str) -> dict[str, object]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def pod(name: str, **labels: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


@pytest.fixture
def pair(server_url: str, kubectl: Kubectl, api: Api) -> Pair:
    p = Pair(server_url, kubectl, api)
    p.create(DEPLOY, deployment("web"))
    p.create(PODS, pod("a", tier="front"))
    p.create(PODS, pod("b", tier="back"))
    return p


def labels_of(p: Pair, path: str) -> tuple[object, object]:
    m = get(p.server, path.format(ns=p.ns_m))["metadata"].get("labels")
    k = get(p.server, path.format(ns=p.ns_k))["metadata"].get("labels")
    return m, k


def test_label_like_kubectl(pair: Pair) -> None:
    assert pair.same("label", "deploy", "web", "tier=x", code=0).out == \
        "deployment.apps/web labeled\n"
    assert "already has a value" in pair.same("label", "deploy", "web", "app=y", code=1).err
    pair.same("label", "deploy/web", "app=y", "--overwrite", code=0)
    assert pair.same("label", "deploy/web", "app=y", "--overwrite").out == \
        "deployment.apps/web not labeled\n"
    assert pair.same("label", "deploy", "web", "tier-").out == "deployment.apps/web unlabeled\n"
    assert pair.same("label", "deploy", "web", "tier-").out == \
        'label "tier" not found.\ndeployment.apps/web not labeled\n'
    pair.same("label", "deploy", "web", "v=1", "--dry-run=server", code=0)
    pair.same("label", "deploy", "web", "v=2", "--dry-run=client", "-o", "name", code=0)
    pair.same("label", "pods", "--all", "stage=one", code=0)
    pair.same("label", "pods", "-l", "tier=front", "stage=two", "--overwrite", "-o", "name")
    pair.same("label", "deploy", "web", "w=1", "--resource-version=1", code=1)
    path = DEPLOY + "/web"
    m, k = labels_of(pair, path)
    assert m == k == {"app": "y"}
    m, k = labels_of(pair, PODS + "/a")
    assert m == k == {"tier": "front", "stage": "two"}
    # usage errors: one line, exit 1
    pair.same("label", "deploy", "web", code=1)
    pair.same("label", "deploy", "web", "b=1!", code=1)
    pair.same("label", "deploy", "nope", "x=1", code=1)
    pair.same("label", "deploy", "web", "x=1", "--dry-run=bogus", code=1)


def test_annotate_like_kubectl(pair: Pair) -> None:
    assert pair.same("annotate", "pod", "a", "note=hello", code=0).out == "pod/a annotated\n"
    assert "already has a value" in pair.same("annotate", "pod/a", "note=bye", code=1).err
    pair.same("annotate", "pod/a", "note=bye", "--overwrite", code=0)
    pair.same("annotate", "pod/a", "note-", code=0)
    pair.same("annotate", "pod/a", "note-", code=0)
    pair.same("annotate", "pods", "--all", "x=1", "--dry-run=server", code=0)
    pair.same("annotate", "pod", "a", code=1)
    a = get(pair.server, f"/api/v1/namespaces/{pair.ns_m}/pods/a")["metadata"]
    assert not a.get("annotations")


def test_patch_like_kubectl(pair: Pair) -> None:
    assert pair.same("patch", "deploy", "web", "-p", '{"spec":{"replicas":2}}').out == \
        "deployment.apps/web patched\n"
    assert pair.same("patch", "deploy", "web", "-p", '{"spec":{"replicas":2}}').out == \
        "deployment.apps/web patched (no change)\n"
    pair.same("patch", "deploy/web", "--type", "merge", "-p", "spec: {replicas: 3}", code=0)
    pair.same("patch", "deploy/web", "--type", "json", "-p",
              '[{"op":"replace","path":"/spec/replicas","value":4}]', code=0)
    pair.same("patch", "deploy", "web", "--subresource", "scale", "-p",
              '{"spec":{"replicas":5}}', code=0)
    pair.same("patch", "deploy", "web", "-p", '{"spec":{"replicas":9}}', "--dry-run=server",
              code=0)
    pair.same("patch", "deploy", "web", "-p", '{"spec":{"replicas":9}}', "--dry-run=client",
              "-o", "name", code=0)
    pair.same("patch", "pod", "a", "-p",
              '{"spec":{"containers":[{"name":"c","image":"nginx:1.25"}]}}', code=0)
    for ns in (pair.ns_m, pair.ns_k):
        d = get(pair.server, f"/apis/apps/v1/namespaces/{ns}/deployments/web")
        assert d["spec"]["replicas"] == 5
        p = get(pair.server, f"/api/v1/namespaces/{ns}/pods/a")
        assert [c["image"] for c in p["spec"]["containers"]] == ["nginx:1.25"]
    pair.same("patch", "deploy", "web", code=1)
    pair.same("patch", "deploy", "web", "-p", "{}", "--type", "foo", code=1)
    pair.same("patch", "deploy", "nope", "-p", "{}", code=1)
