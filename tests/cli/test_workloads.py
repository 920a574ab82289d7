"""minictl apply/delete/scale/set image/rollout/describe/trace/logs against the real API server.

No controllers run here: where a command reads what controllers write (ReplicaSets with
revisions, deployment status, events), the test writes those objects itself.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import yaml

from testing.support import json_request, unique
from tests.cli.helpers import cells, fails, get, mctl, ok, post, put_status

DEPLOY_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: nginx
        ports:
        - containerPort: 80
"""

POD_JSON = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "solo", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def dep_path(ns: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{ns}/deployments/{name}"


def test_apply_creates_then_unchanged_then_configured(server_url: str, ns: str,
                                                      tmp_path: Path) -> None:
    f = tmp_path / "web.yaml"
    f.write_text(DEPLOY_YAML.format(replicas=2))
    assert ok(server_url, "-n", ns, "apply", "-f", str(f)).strip() == \
        "deployment.apps/web created"
    assert ok(server_url, "-n", ns, "apply", "-f", str(f)).strip() == \
        "deployment.apps/web unchanged"
    # A change made by someone else (scale) is not in the manifest's diff: it stays.
    ok(server_url, "-n", ns, "scale", "deploy/web", "--replicas=5")
    f.write_text(DEPLOY_YAML.format(replicas=2).replace("image: nginx", "image: nginx:1.22"))
    assert ok(server_url, "-n", ns, "apply", "-f", str(f)).strip() == \
        "deployment.apps/web configured"
    dep = get(server_url, dep_path(ns, "web"))
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "nginx:1.22" and c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert dep["spec"]["replicas"] == 5
    assert "kubectl.kubernetes.io/last-applied-configuration" in dep["metadata"]["annotations"]


def test_apply_multi_document_directory_json_and_stdin(server_url: str, ns: str,
                                                       tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "a.yaml").write_text(DEPLOY_YAML.format(replicas=1) + "---\n" + yaml.safe_dump(
        {**POD_JSON, "metadata": {"name": "p2"}}))
    (d / "b.json").write_text(json.dumps(POD_JSON))
    (d / "notes.txt").write_text("ignored")
    out = ok(server_url, "-n", ns, "apply", "-f", str(d)).splitlines()
    assert out == ["deployment.apps/web created", "pod/p2 created", "pod/solo created"]
    stdin_doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {**POD_JSON, "metadata": {"name": "p3"}}]})
    assert ok(server_url, "-n", ns, "apply", "-f", "-", input=stdin_doc).strip() == \
        "pod/p3 created"
    names = ok(server_url, "-n", ns, "get", "pods", "-o", "name").split()
    assert names == ["pod/p2", "pod/p3", "pod/solo"]


def test_apply_errors(server_url: str, ns: str, tmp_path: Path) -> None:
    assert fails(server_url, "apply", "-f", str(tmp_path / "missing.yaml")) == \
        f'error: the path "{tmp_path / "missing.yaml"}" does not exist'
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\nmetadata: [\n")
    assert fails(server_url, "apply", "-f", str(bad)).startswith(f"error: error parsing {bad}")
    nokind = tmp_path / "nokind.yaml"
    nokind.write_text("apiVersion: v1\nmetadata: {name: x}\n")
    assert "Object 'Kind' is missing" in fails(server_url, "apply", "-f", str(nokind))
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**POD_JSON, "metadata": {"name": "x", "namespace": "zzz"}}))
    assert "does not match the namespace" in fails(server_url, "-n", ns, "apply", "-f", str(other))
    typo = tmp_path / "typo.yaml"
    typo.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "t"},
                                    "spec": {"containers": "nginx"}}))
    assert fails(server_url, "-n", ns, "apply", "-f", str(typo)).startswith(
        'error: error validating "Pod/t"')
    unknown = tmp_path / "widget.yaml"
    # a kind no test defines (other tests' CRDs define Widgets in groups of their own)
    unknown.write_text(f"apiVersion: {unique('nogroup')}.example.com/v1\nkind: NoSuchKind\n"
                       "metadata: {name: s}\n")
    assert fails(server_url, "apply", "-f", str(unknown)) == \
        'error: the server doesn\'t have a resource type "NoSuchKind"'
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(DEPLOY_YAML.format(replicas=-3))
    err = fails(server_url, "-n", ns, "apply", "-f", str(invalid))
    assert "spec.replicas" in err and "\n" not in err


def test_delete_by_name_selector_file_and_cascade(server_url: str, ns: str,
                                                 tmp_path: Path) -> None:
    for n in ("a", "b", "c"):
        ok(server_url, "-n", ns, "run", n, "--image", "nginx", "-l", f"grp={'x' if n != 'c' else 'y'}")
    assert ok(server_url, "-n", ns, "delete", "pod", "a").strip() == \
        f'pod "a" deleted from {ns} namespace'
    assert ok(server_url, "-n", ns, "delete", "pods", "-l", "grp=x").strip() == \
        f'pod "b" deleted from {ns} namespace'
    f = tmp_path / "c.json"
    f.write_text(json.dumps({**POD_JSON, "metadata": {"name": "c"}}))
    assert ok(server_url, "-n", ns, "delete", "-f", str(f)).strip() == \
        f'pod "c" deleted from {ns} namespace'
    r = mctl(server_url, "-n", ns, "delete", "pods", "-l", "grp=x")
    assert r.exit_code == 0 and r.stderr.strip() == "No resources found"
    assert ok(server_url, "-n", ns, "delete", "pod", "gone", "--ignore-not-found") == ""
    # Orphan and Foreground are recorded as finalizers for the garbage collector (not
    # running here), so the deployment waits for it: --no-wait returns at once.
    ok(server_url, "-n", ns, "create", "deployment", "o")
    ok(server_url, "-n", ns, "delete", "deploy/o", "--cascade=orphan", "--wait=false")
    assert "orphan" in get(server_url, dep_path(ns, "o"))["metadata"]["finalizers"]
    ok(server_url, "-n", ns, "create", "deployment", "fg")
    ok(server_url, "-n", ns, "delete", "deployment", "fg", "--cascade=foreground", "--no-wait")
    assert "foregroundDeletion" in get(server_url, dep_path(ns, "fg"))["metadata"]["finalizers"]
    ok(server_url, "-n", ns, "create", "deployment", "bg")
    assert ok(server_url, "-n", ns, "delete", "deployment", "bg", "--timeout=20s").strip() == \
        f'deployment.apps "bg" deleted from {ns} namespace'
    assert json_request("GET", server_url + dep_path(ns, "bg"))[0] == 404


def test_scale_and_set_image(server_url: str, ns: str) -> None:
    ok(server_url, "-n", ns, "create", "deployment", "web", "--image", "nginx")
    assert ok(server_url, "-n", ns, "scale", "deployment", "web", "--replicas=5").strip() == \
        "deployment.apps/web scaled"
    assert get(server_url, dep_path(ns, "web"))["spec"]["replicas"] == 5
    assert fails(server_url, "-n", ns, "scale", "deploy/web", "--replicas=1",
                 "--current-replicas=3") == "error: Expected replicas to be 3, was 5"
    assert ok(server_url, "-n", ns, "set", "image", "deployment/web", "nginx=nginx:1.22").strip() \
        == "deployment.apps/web image updated"
    assert get(server_url, dep_path(ns, "web"))["spec"]["template"]["spec"]["containers"][0][
        "image"] == "nginx:1.22"
    ok(server_url, "-n", ns, "set", "image", "deploy", "web", "*=busybox")
    assert get(server_url, dep_path(ns, "web"))["spec"]["template"]["spec"]["containers"][0][
        "image"] == "busybox"
    assert fails(server_url, "-n", ns, "set", "image", "deploy/web", "nope=x") == \
        'error: unable to find container named "nope"'


def _rs(server_url: str, ns: str, dep: dict[str, Any], rev: int, image: str) -> dict[str, Any]:
    h = f"h{rev}"
    return post(server_url, f"/apis/apps/v1/namespaces/{ns}/replicasets", {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"web-{h}", "labels": {"app": "web", "pod-template-hash": h},
                     "annotations": {"deployment.kubernetes.io/revision": str(rev)},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                          "name": "web", "uid": dep["metadata"]["uid"],
                                          "controller": True}]},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web",
                                                             "pod-template-hash": h}},
                 "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": h}},
                              "spec": {"containers": [{"name": "web", "image": image}]}}}})


def test_rollout_history_undo_restart_pause_resume_status(server_url: str, ns: str) -> None:
    ok(server_url, "-n", ns, "create", "deployment", "web", "--image", "nginx:2")
    dep = get(server_url, dep_path(ns, "web"))
    _rs(server_url, ns, dep, 1, "nginx:1")
    _rs(server_url, ns, dep, 2, "nginx:2")
    lines = ok(server_url, "-n", ns, "rollout", "history", "deployment/web").splitlines()
    assert lines[0].strip() == "deployment.apps/web"
    assert [cells(ln) for ln in lines[1:4]] == [["REVISION", "CHANGE-CAUSE"], ["1", "<none>"],
                                                ["2", "<none>"]]
    one = ok(server_url, "-n", ns, "rollout", "history", "deploy/web", "--revision=1")
    assert "with revision #1" in one and "nginx:1" in one
    assert ok(server_url, "-n", ns, "rollout", "undo", "deploy/web").strip() == \
        "deployment.apps/web rolled back"
    tmpl = get(server_url, dep_path(ns, "web"))["spec"]["template"]
    assert tmpl["spec"]["containers"][0]["image"] == "nginx:1"
    assert "pod-template-hash" not in tmpl["metadata"]["labels"]
    assert "skipped rollback" in ok(server_url, "-n", ns, "rollout", "undo", "deploy/web",
                                    "--to-revision=1")
    assert fails(server_url, "-n", ns, "rollout", "undo", "deploy/web", "--to-revision=7") == \
        "error: unable to find specified revision 7 in history"
    assert ok(server_url, "-n", ns, "rollout", "restart", "deploy/web").strip() == \
        "deployment.apps/web restarted"
    ann = get(server_url, dep_path(ns, "web"))["spec"]["template"]["metadata"]["annotations"]
    assert ann["kubectl.kubernetes.io/restartedAt"].endswith("Z")
    assert ok(server_url, "-n", ns, "rollout", "pause", "deploy/web").strip() == \
        "deployment.apps/web paused"
    assert fails(server_url, "-n", ns, "rollout", "pause", "deploy/web") == \
        'error: deployments.apps "web" is already paused'
    assert "paused" in fails(server_url, "-n", ns, "rollout", "restart", "deploy/web")
    assert ok(server_url, "-n", ns, "rollout", "resume", "deploy", "web").strip() == \
        "deployment.apps/web resumed"
    assert fails(server_url, "-n", ns, "rollout", "resume", "deploy/web") == \
        'error: deployments.apps "web" is not paused'
    # status: what the deployment controller would report once the rollout is done.
    r = mctl(server_url, "-n", ns, "rollout", "status", "deploy/web", "--timeout=1s")
    assert r.exit_code == 1 and "Waiting for deployment" in r.stdout
    dep = get(server_url, dep_path(ns, "web"))
    dep["status"] = {"observedGeneration": dep["metadata"]["generation"], "replicas": 1,
                     "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}
    put_status(server_url, dep_path(ns, "web"), dep)
    assert ok(server_url, "-n", ns, "rollout", "status", "deploy/web").strip() == \
        'deployment "web" successfully rolled out'
    ok(server_url, "-n", ns, "create", "deployment", "lonely")
    assert fails(server_url, "-n", ns, "rollout", "undo", "deploy/lonely") == \
        'error: no rollout history found for deployment "lonely"'


def _event(server_url: str, ns: str, obj: dict[str, Any], reason: str, message: str,
           typ: str = "Normal", component: str = "kubelet") -> None:
    ts = obj["metadata"]["creationTimestamp"]
    post(server_url, f"/api/v1/namespaces/{ns}/events", {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{obj['metadata']['name']}.{uuid.uuid4().hex[:16]}"},
        "involvedObject": {"kind": obj["kind"], "name": obj["metadata"]["name"],
                           "namespace": ns, "uid": obj["metadata"]["uid"],
                           "apiVersion": obj["apiVersion"]},
        "reason": reason, "message": message, "type": typ, "count": 1,
        "source": {"component": component}, "firstTimestamp": ts, "lastTimestamp": ts})


def test_describe_shows_summary_and_events(server_url: str, ns: str) -> None:
    ok(server_url, "-n", ns, "create", "deployment", "web", "--replicas=2")
    dep = get(server_url, dep_path(ns, "web"))
    _event(server_url, ns, dep, "ScalingReplicaSet", "Scaled up replica set web-1 from 0 to 2",
           component="deployment-controller")
    out = ok(server_url, "-n", ns, "describe", "deployment", "web")
    lines = out.splitlines()
    assert lines[0].split() == ["Name:", "web"]
    assert "Replicas:               2 desired | 0 updated | 0 total | 0 available | " \
        "0 unavailable" in out
    assert "StrategyType:           RollingUpdate" in out
    ev = lines[lines.index("Events:") + 1:]
    assert cells(ev[0]) == ["Type", "Reason", "Age", "From", "Message"]
    row = cells(ev[2])
    assert row[0:2] == ["Normal", "ScalingReplicaSet"] and row[3:] == [
        "deployment-controller", "Scaled up replica set web-1 from 0 to 2"]
    ok(server_url, "-n", ns, "run", "web-pod", "--image", "nginx")
    pod_out = ok(server_url, "-n", ns, "describe", "pod", "web-p")  # prefix match, as kubectl
    assert "Name:             web-pod" in pod_out and "Events:  <none>" in pod_out
    assert "Status:           Pending" in pod_out
    ns_out = ok(server_url, "describe", "ns", ns)
    assert "Status:       Active" in ns_out


def test_trace_shows_the_chain_and_where_it_is_stuck(server_url: str, ns: str) -> None:
    ok(server_url, "-n", ns, "create", "deployment", "web", "--replicas=1")
    dep = get(server_url, dep_path(ns, "web"))
    rs = _rs(server_url, ns, dep, 1, "nginx")
    _event(server_url, ns, dep, "ScalingReplicaSet", "Scaled up replica set web-h1 from 0 to 1",
           component="deployment-controller")
    owner = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs["metadata"]["name"],
              "uid": rs["metadata"]["uid"], "controller": True}]
    running = post(server_url, f"/api/v1/namespaces/{ns}/pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-h1-aaaaa", "labels": {"app": "web"}, "ownerReferences": owner},
        "spec": {"containers": [{"name": "web", "image": "nginx"}], "nodeName": "node-1"}})
    stuck = post(server_url, f"/api/v1/namespaces/{ns}/pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-h1-bbbbb", "labels": {"app": "web"}, "ownerReferences": owner},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]}})
    _event(server_url, ns, rs, "SuccessfulCreate", "Created pod: web-h1-aaaaa",
           component="replicaset-controller")
    _event(server_url, ns, running, "Scheduled",
           f"Successfully assigned {ns}/web-h1-aaaaa to node-1", component="default-scheduler")
    _event(server_url, ns, running, "Pulled", 'Container image "nginx" already present on machine')
    _event(server_url, ns, running, "Started", "Started container web")
    _event(server_url, ns, stuck, "FailedScheduling",
           "0/2 nodes are available: 2 Insufficient cpu.", typ="Warning",
           component="default-scheduler")
    ts = running["metadata"]["creationTimestamp"]
    running["status"] = {"phase": "Running", "podIP": "10.0.0.9", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": ts}],
        "containerStatuses": [{"name": "web", "ready": True, "restartCount": 0,
                               "image": "nginx", "imageID": "",
                               "state": {"running": {"startedAt": ts}}}]}
    put_status(server_url, f"/api/v1/namespaces/{ns}/pods/web-h1-aaaaa", running)
    out = ok(server_url, "-n", ns, "trace", "deployment/web")
    text = "\n".join(ln.rstrip() for ln in out.splitlines())
    assert "deployment/web created: 1 replica of web" in text
    assert "ScalingReplicaSet: Scaled up replica set web-h1 from 0 to 1" in text
    assert "replicaset/web-h1 created (revision 1)" in text
    assert "pod/web-h1-aaaaa created -> Running on node-1 (10.0.0.9)" in text
    assert "Pulled: Container image \"nginx\" already present on machine" in text
    assert "Ready (0.0s after creation)" in text
    assert "STUCK: not scheduled: 0/2 nodes are available: 2 Insufficient cpu." in text
    # Tree order: the deployment, then its replica set, then pods under it.
    order = [text.index(s) for s in ("deployment/web", "replicaset/web-h1", "pod/web-h1-aaaaa",
                                     "pod/web-h1-bbbbb")]
    assert order == sorted(order)
    pod_trace = ok(server_url, "-n", ns, "trace", "pod", "web-h1-bbbbb")
    assert "STUCK: not scheduled" in pod_trace


def test_logs_errors_are_one_line(server_url: str, ns: str) -> None:
    ok(server_url, "-n", ns, "run", "p", "--image", "nginx")
    assert fails(server_url, "-n", ns, "logs", "p", "-c", "other") == \
        "error: container other is not valid for pod p out of: p"
    assert ok(server_url, "-n", ns, "logs", "p") == ""  # not on a node yet: no log
    err = fails(server_url, "-n", ns, "logs", "p", "--tail=-2")
    assert err == "error: --tail must be greater than or equal to -1"
    assert fails(server_url, "-n", ns, "logs", "deployment/none").startswith(
        "Error from server (NotFound)")
