"""minictl for DaemonSets beside the real kubectl, with no controller running (the status,
pods and ControllerRevisions are written by hand): describe ds, get ds, rollout
status|history|undo|restart."""

from __future__ import annotations

import difflib
import re
from typing import Any

from testing.kubectl import Kubectl
from testing.support import unique
from tests.cli.helpers import fails, get, ok, post, put_status, without_age

HASH = "controller-revision-hash"


def make_ds(server: str, ns: str, name: str, image: str = "nginx:1") -> dict[str, Any]:
    return post(server, f"/apis/apps/v1/namespaces/{ns}/daemonsets", {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name, "labels": {"tier": "node"}},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"nodeSelector": {"disk": "ssd"},
                     "containers": [{"name": "c", "image": image}]}}}})


def revision(server: str, ns: str, ds: dict[str, Any], n: int, image: str) -> None:
    """A ControllerRevision as the controller writes it: the template patch of ``image``."""
    tmpl = {**ds["spec"]["template"], "$patch": "replace"}
    tmpl["spec"] = {**tmpl["spec"], "containers": [{**tmpl["spec"]["containers"][0],
                                                    "image": image}]}
    name = ds["metadata"]["name"]
    post(server, f"/apis/apps/v1/namespaces/{ns}/controllerrevisions", {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": f"{name}-r{n}", "labels": {"app": name, HASH: f"r{n}"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet",
                                          "name": name, "uid": ds["metadata"]["uid"],
                                          "controller": True}]},
        "data": {"spec": {"template": tmpl}}, "revision": n})


def set_status(server: str, ns: str, name: str, **status: int) -> None:
    path = f"/apis/apps/v1/namespaces/{ns}/daemonsets/{name}"
    ds = get(server, path)
    ds["status"] = {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                    "desiredNumberScheduled": 0, "numberReady": 0,
                    "observedGeneration": ds["metadata"]["generation"], **status}
    put_status(server, path, ds)


def test_describe_ds_is_kubectls(server_url: str, kubectl: Kubectl, ns: str) -> None:
    ds = make_ds(server_url, ns, "agent")
    set_status(server_url, ns, "agent", desiredNumberScheduled=2, currentNumberScheduled=1,
               numberReady=1, updatedNumberScheduled=1, numberAvailable=1,
               numberMisscheduled=1)
    pod = post(server_url, f"/api/v1/namespaces/{ns}/pods", {
        "metadata": {"name": unique("agent"), "labels": {"app": "agent"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet",
                                          "name": "agent", "uid": ds["metadata"]["uid"],
                                          "controller": True}]},
        "spec": {"nodeName": "nowhere", "containers": [{"name": "c", "image": "nginx:1"}]}})
    pod["status"] = {"phase": "Running"}
    put_status(server_url, f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}", pod)
    mine = ok(server_url, "-n", ns, "describe", "ds", "agent")
    theirs = kubectl("-n", ns, "describe", "daemonset", "agent").stdout
    assert mine == theirs, "\n".join(difflib.unified_diff(theirs.splitlines(),
                                                      mine.splitlines(), lineterm=""))
    assert "Number of Nodes Misscheduled: 1\n" in mine
    assert "Pods Status:  1 Running / 0 Waiting / 0 Succeeded / 0 Failed\n" in mine
    assert without_age(ok(server_url, "-n", ns, "get", "ds")) == \
        without_age(kubectl("-n", ns, "get", "ds").stdout)


def test_rollout_status_history_undo(server_url: str, kubectl: Kubectl, ns: str) -> None:
    ds = make_ds(server_url, ns, "web", image="nginx:2")
    revision(server_url, ns, ds, 1, "nginx:1")
    revision(server_url, ns, ds, 2, "nginx:2")
    # status: as kubectl's DaemonSetStatusViewer words it
    set_status(server_url, ns, "web", desiredNumberScheduled=2, updatedNumberScheduled=1,
               numberAvailable=1)
    args = ("-n", ns, "rollout", "status", "ds/web")
    assert ok(server_url, *args, "--no-watch") == kubectl(*args, "--watch=false").stdout == (
        'Waiting for daemon set "web" rollout to finish: 1 out of 2 new pods have been '
        "updated...\n")
    set_status(server_url, ns, "web", desiredNumberScheduled=2, updatedNumberScheduled=2,
               numberAvailable=2)
    assert ok(server_url, *args) == kubectl(*args).stdout == (
        'daemon set "web" successfully rolled out\n')
    # history, as a table and one revision's template
    args = ("-n", ns, "rollout", "history", "daemonset/web")
    assert ok(server_url, *args) == kubectl(*args).stdout
    one = ok(server_url, *args, "--revision=1")
    assert one.startswith("daemonset.apps/web with revision #1\nPod Template:\n")
    assert re.search(r"\n    Image: +nginx:1\n", one)
    # undo: back to revision 1's template; the same again is skipped
    assert ok(server_url, "-n", ns, "rollout", "undo", "ds/web") == \
        "daemonset.apps/web rolled back\n"
    got = get(server_url, f"/apis/apps/v1/namespaces/{ns}/daemonsets/web")
    assert got["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1"
    assert got["spec"]["template"]["spec"]["nodeSelector"] == {"disk": "ssd"}
    assert ok(server_url, "-n", ns, "rollout", "undo", "ds/web", "--to-revision=1") == (
        "daemonset.apps/web skipped rollback (current template already matches revision 1)\n")
    assert fails(server_url, "-n", ns, "rollout", "undo", "ds/web", "--to-revision=7") == (
        "error: unable to find specified revision 7 in history")
    # restart stamps the template
    assert ok(server_url, "-n", ns, "rollout", "restart", "ds/web") == \
        "daemonset.apps/web restarted\n"
    got = get(server_url, f"/apis/apps/v1/namespaces/{ns}/daemonsets/web")
    assert "kubectl.kubernetes.io/restartedAt" in got["spec"]["template"]["metadata"][
        "annotations"]
    # OnDelete has no rollout status
    post(server_url, f"/apis/apps/v1/namespaces/{ns}/daemonsets", {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "od"},
        "spec": {"selector": {"matchLabels": {"app": "od"}}, "updateStrategy": {
            "type": "OnDelete"}, "template": {"metadata": {"labels": {"app": "od"}},
                                              "spec": {"containers": [
                                                  {"name": "c", "image": "x"}]}}}})
    assert fails(server_url, "-n", ns, "rollout", "status", "ds/od") == (
        "error: rollout status is only available for RollingUpdate strategy type")
    assert fails(server_url, "-n", ns, "rollout", "pause", "ds/od").startswith("error: ")
