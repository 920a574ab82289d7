"""minictl for StatefulSets beside the real kubectl, with no controller running (the status,
pods and ControllerRevisions are written by hand): describe sts (with volume claim
templates), get sts (-o wide), scale, set image, rollout status|history|undo|restart."""

from __future__ import annotations

import difflib
import re
from typing import Any

from testing.kubectl import Kubectl
from testing.support import json_request
from tests.cli.helpers import fails, get, ok, post, put_status, without_age

HASH = "controller-revision-hash"


def make_sts(server: str, ns: str, name: str, image: str = "nginx:1", **spec: Any
             ) -> dict[str, Any]:
    return post(server, f"/apis/apps/v1/namespaces/{ns}/statefulsets", {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "labels": {"tier": "db"}},
        "spec": {"serviceName": name, "replicas": 2,
                 "selector": {"matchLabels": {"app": name}}, "template": {
                     "metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "c", "image": image}]}}, **spec}})


def revision(server: str, ns: str, sts: dict[str, Any], n: int, image: str) -> None:
    tmpl = {**sts["spec"]["template"], "$patch": "replace"}
    tmpl["spec"] = {**tmpl["spec"], "containers": [{**tmpl["spec"]["containers"][0],
                                                    "image": image}]}
    name = sts["metadata"]["name"]
    post(server, f"/apis/apps/v1/namespaces/{ns}/controllerrevisions", {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": f"{name}-r{n}", "labels": {"app": name, HASH: f"r{n}"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                          "name": name, "uid": sts["metadata"]["uid"],
                                          "controller": True}]},
        "data": {"spec": {"template": tmpl}}, "revision": n})


def set_status(server: str, ns: str, name: str, **status: Any) -> None:
    path = f"/apis/apps/v1/namespaces/{ns}/statefulsets/{name}"
    sts = get(server, path)
    sts["status"] = {"replicas": 0, "availableReplicas": 0,
                     "observedGeneration": sts["metadata"]["generation"], **status}
    put_status(server, path, sts)


def test_describe_and_get_sts_are_kubectls(server_url: str, kubectl: Kubectl, ns: str) -> None:
    sts = make_sts(server_url, ns, "pg", updateStrategy={
        "type": "RollingUpdate", "rollingUpdate": {"partition": 1, "maxUnavailable": 2}},
        volumeClaimTemplates=[{"metadata": {"name": "data", "labels": {"k": "v"}},
                               "spec": {"accessModes": ["ReadWriteOnce"],
                                        "storageClassName": "fast",
                                        "resources": {"requests": {"storage": "1Gi"}}}},
                              {"metadata": {"name": "logs"},
                               "spec": {"accessModes": ["ReadWriteOnce", "ReadOnlyMany"]}}])
    set_status(server_url, ns, "pg", replicas=1, readyReplicas=1)
    pod = post(server_url, f"/api/v1/namespaces/{ns}/pods", {
        "metadata": {"name": "pg-0", "labels": {"app": "pg"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                          "name": "pg", "uid": sts["metadata"]["uid"],
                                          "controller": True}]},
        "spec": {"nodeName": "nowhere", "containers": [{"name": "c", "image": "nginx:1"}]}})
    pod["status"] = {"phase": "Running"}
    put_status(server_url, f"/api/v1/namespaces/{ns}/pods/pg-0", pod)
    make_sts(server_url, ns, "plain")
    for name in ("pg", "plain"):
        mine = ok(server_url, "-n", ns, "describe", "sts", name)
        theirs = kubectl("-n", ns, "describe", "statefulset", name).stdout
        assert mine == theirs, "\n".join(difflib.unified_diff(theirs.splitlines(),
                                                          mine.splitlines(), lineterm=""))
    mine = ok(server_url, "-n", ns, "describe", "sts", "pg")
    assert "Replicas:               2 desired | 1 total\n" in mine
    assert "Pods Status:    1 Running / 0 Waiting / 0 Succeeded / 0 Failed\n" in mine
    assert "Persistent Volume Claim Retention Policy:\n  WhenDeleted:  Retain\n" in mine
    assert "Volume Claims:\n  Name:          data\n  StorageClass:  fast\n" in mine
    for args in (("get", "sts"), ("get", "statefulsets", "-o", "wide")):
        assert without_age(ok(server_url, "-n", ns, *args)) == \
            without_age(kubectl("-n", ns, *args).stdout)


def test_scale_and_set_image(server_url: str, kubectl: Kubectl, ns: str) -> None:
    make_sts(server_url, ns, "s")
    assert ok(server_url, "-n", ns, "scale", "sts/s", "--replicas=4") == \
        "statefulset.apps/s scaled\n"
    path = f"/apis/apps/v1/namespaces/{ns}/statefulsets/s"
    assert get(server_url, path)["spec"]["replicas"] == 4
    kubectl("-n", ns, "scale", "statefulset", "s", "--replicas=3")
    assert get(server_url, path)["spec"]["replicas"] == 3
    ok(server_url, "-n", ns, "set", "image", "sts/s", "c=nginx:9")
    assert get(server_url, path)["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "nginx:9"


def test_rollout_status_history_undo_restart(server_url: str, kubectl: Kubectl, ns: str
                                             ) -> None:
    sts = make_sts(server_url, ns, "web", image="nginx:2")
    revision(server_url, ns, sts, 1, "nginx:1")
    revision(server_url, ns, sts, 2, "nginx:2")
    args = ("-n", ns, "rollout", "status", "sts/web")
    # as kubectl's StatefulSetStatusViewer words it
    assert ok(server_url, *args, "--no-watch") == kubectl(*args, "--watch=false").stdout == (
        "Waiting for statefulset spec update to be observed...\n")
    set_status(server_url, ns, "web", replicas=2, readyReplicas=1)
    assert ok(server_url, *args, "--no-watch") == kubectl(*args, "--watch=false").stdout == (
        "Waiting for 1 pods to be ready...\n")
    set_status(server_url, ns, "web", replicas=2, readyReplicas=2, updatedReplicas=2)
    assert ok(server_url, *args) == kubectl(*args).stdout == (
        "partitioned roll out complete: 2 new pods have been updated...\n")
    path = f"/apis/apps/v1/namespaces/{ns}/statefulsets/web"
    got = get(server_url, path)
    got["spec"]["updateStrategy"] = {"type": "RollingUpdate",
                                     "rollingUpdate": {"partition": 1}}
    code, _ = json_request("PUT", server_url + path, got)
    assert code == 200
    set_status(server_url, ns, "web", replicas=2, readyReplicas=2, updatedReplicas=0)
    assert ok(server_url, *args, "--no-watch") == kubectl(*args, "--watch=false").stdout
    args = ("-n", ns, "rollout", "history", "statefulset/web")
    assert ok(server_url, *args) == kubectl(*args).stdout
    one = ok(server_url, *args, "--revision=1")
    # kubectl prints this template with raw tabs; minictl aligns it as describe does
    theirs = re.sub(r"\s+", " ", kubectl(*args, "--revision=1").stdout)
    assert theirs.strip() == re.sub(r"\s+", " ", one).strip()
    assert one.startswith("statefulset.apps/web with revision #1\nPod Template:\n")
    assert re.search(r"\n    Image: +nginx:1\n", one)
    assert ok(server_url, "-n", ns, "rollout", "undo", "sts/web") == \
        "statefulset.apps/web rolled back\n"
    got = get(server_url, path)
    assert got["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1"
    # (kubectl compares the revision's bytes with its own patch; these hand-made revisions
    # differ in layout, so it only skips for revisions the controller wrote)
    assert ok(server_url, "-n", ns, "rollout", "undo", "sts/web", "--to-revision=1") == (
        "statefulset.apps/web skipped rollback (current template already matches revision 1)\n")
    assert fails(server_url, "-n", ns, "rollout", "undo", "sts/web", "--to-revision=7") == (
        "error: unable to find specified revision 7 in history")
    assert ok(server_url, "-n", ns, "rollout", "restart", "sts/web") == \
        "statefulset.apps/web restarted\n"
    got = get(server_url, path)
    assert "kubectl.kubernetes.io/restartedAt" in got["spec"]["template"]["metadata"][
        "annotations"]
    make_sts(server_url, ns, "od", updateStrategy={"type": "OnDelete"})
    assert fails(server_url, "-n", ns, "rollout", "status", "sts/od") == (
        "error: rollout status is only available for RollingUpdate strategy type")
