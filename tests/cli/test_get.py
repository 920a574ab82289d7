"""minictl create/get/run: kubectl's tables, -o yaml|json|name|wide, kinds, selectors, -w."""

from __future__ import annotations

import json
import re
import threading
import time

import yaml

from testing.support import json_request
from tests.cli.helpers import cells, get, mctl, ok, post

AGE = re.compile(r"^\d+(s|m\d*s?|h\d*m?|d\d*h?|y\d*d?)$")


def test_create_deployment_defaults_image_to_name(server_url: str, ns: str) -> None:
    out = ok(server_url, "-n", ns, "create", "deployment", "nginx", "--replicas=3")
    assert out.strip() == "deployment.apps/nginx created"
    dep = get(server_url, f"/apis/apps/v1/namespaces/{ns}/deployments/nginx")
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["selector"] == {"matchLabels": {"app": "nginx"}}
    tmpl = dep["spec"]["template"]
    assert tmpl["metadata"]["labels"] == {"app": "nginx"}
    assert [(c["name"], c["image"]) for c in tmpl["spec"]["containers"]] == [("nginx", "nginx")]


def test_create_deployment_image_port_and_dry_run(server_url: str, ns: str) -> None:
    out = ok(server_url, "create", "deploy", "web", "--image", "registry.local/team/web:1.2",
             "--port", "8080", "-r", "2", "-n", ns)
    assert out.strip() == "deployment.apps/web created"
    dep = get(server_url, f"/apis/apps/v1/namespaces/{ns}/deployments/web")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["name"] == "web" and c["image"] == "registry.local/team/web:1.2"
    assert c["ports"][0]["containerPort"] == 8080
    printed = yaml.safe_load(ok(server_url, "-n", ns, "create", "deployment", "dry",
                                "--dry-run=client", "-o", "yaml"))
    assert printed["kind"] == "Deployment" and printed["metadata"]["name"] == "dry"
    code, _ = json_request("GET", f"{server_url}/apis/apps/v1/namespaces/{ns}/deployments/dry")
    assert code == 404


def test_get_deployment_table_matches_kubectl_columns(server_url: str, ns: str) -> None:
    ok(server_url, "-n", ns, "create", "deployment", "nginx", "--replicas=3")
    lines = ok(server_url, "get", "deployments", "-n", ns).splitlines()
    assert cells(lines[0]) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    row = cells(lines[1])
    assert row[:4] == ["nginx", "0/3", "0", "0"] and AGE.match(row[4]), row
    # Columns line up: each header starts where its cells start.
    assert lines[0].index("READY") == lines[1].index("0/3")
    wide = ok(server_url, "get", "deploy", "-o", "wide", "-n", ns).splitlines()
    assert cells(wide[0]) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS",
                              "IMAGES", "SELECTOR"]
    assert cells(wide[1])[5:] == ["nginx", "nginx", "app=nginx"]


def test_get_pods_table_and_wide(server_url: str, ns: str) -> None:
    assert ok(server_url, "-n", ns, "run", "web", "--image", "nginx", "--port", "80").strip() \
        == "pod/web created"
    lines = ok(server_url, "-n", ns, "get", "po").splitlines()
    assert cells(lines[0]) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert cells(lines[1])[:4] == ["web", "0/1", "Pending", "0"]
    wide = ok(server_url, "-n", ns, "get", "pods", "-o", "wide").splitlines()
    assert cells(wide[0]) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                              "NOMINATED NODE", "READINESS GATES"]
    assert cells(wide[1])[5:] == ["<none>", "<none>", "<none>", "<none>"]
    pod = get(server_url, f"/api/v1/namespaces/{ns}/pods/web")
    assert pod["metadata"]["labels"] == {"run": "web"}
    # A pod the kubelet reports as pulling in vain shows the waiting reason, as kubectl does.
    pod["status"] = {"phase": "Pending", "containerStatuses": [{
        "name": "web", "ready": False, "restartCount": 2, "image": "nginx", "imageID": "",
        "state": {"waiting": {"reason": "ImagePullBackOff", "message": "no registry"}}}]}
    code, body = json_request("PUT", f"{server_url}/api/v1/namespaces/{ns}/pods/web/status", pod)
    assert code == 200, body
    row = cells(ok(server_url, "-n", ns, "get", "pod", "web").splitlines()[1])
    assert row[:4] == ["web", "0/1", "ImagePullBackOff", "2"]


def test_run_with_command_env_and_labels(server_url: str, ns: str) -> None:
    ok(server_url, "-n", ns, "run", "sleeper", "--image", "busybox", "--env", "A=1",
       "--labels", "app=s,tier=x", "--restart", "Never", "--command", "--", "sleep", "30")
    pod = get(server_url, f"/api/v1/namespaces/{ns}/pods/sleeper")
    c = pod["spec"]["containers"][0]
    assert c["command"] == ["sleep", "30"] and c["env"] == [{"name": "A", "value": "1"}]
    assert pod["metadata"]["labels"] == {"app": "s", "tier": "x"}
    assert pod["spec"]["restartPolicy"] == "Never"


def test_output_yaml_json_name(server_url: str, ns: str) -> None:
    ok(server_url, "-n", ns, "create", "deployment", "a")
    ok(server_url, "-n", ns, "create", "deployment", "b")
    one = yaml.safe_load(ok(server_url, "-n", ns, "get", "deploy", "a", "-o", "yaml"))
    assert one["apiVersion"] == "apps/v1" and one["kind"] == "Deployment"
    assert one["metadata"]["name"] == "a" and one["metadata"]["namespace"] == ns
    many = json.loads(ok(server_url, "-n", ns, "get", "deployments", "-o", "json"))
    assert many["kind"] == "List" and [i["metadata"]["name"] for i in many["items"]] == ["a", "b"]
    assert all(i["kind"] == "Deployment" for i in many["items"])
    names = ok(server_url, "-n", ns, "get", "deploy", "-o", "name").split()
    assert names == ["deployment.apps/a", "deployment.apps/b"]
    empty = json.loads(ok(server_url, "-n", ns, "get", "pods", "-o", "json"))
    assert empty["items"] == []


def test_several_kinds_all_and_resource_slash_name(server_url: str, ns: str) -> None:
    ok(server_url, "-n", ns, "create", "deployment", "d1")
    ok(server_url, "-n", ns, "run", "p1", "--image", "nginx")
    out = ok(server_url, "-n", ns, "get", "deploy,po")
    blocks = out.strip().split("\n\n")
    assert len(blocks) == 2
    assert cells(blocks[0].splitlines()[1])[0] == "deployment.apps/d1"
    assert cells(blocks[1].splitlines()[1])[0] == "pod/p1"
    out_all = ok(server_url, "-n", ns, "get", "all")
    assert "pod/p1" in out_all and "deployment.apps/d1" in out_all
    both = ok(server_url, "-n", ns, "get", "pod/p1", "deployment/d1", "-o", "name").split()
    assert both == ["pod/p1", "deployment.apps/d1"]


def test_empty_list_message(server_url: str, ns: str) -> None:
    r = mctl(server_url, "-n", ns, "get", "pods")
    assert r.exit_code == 0 and r.stdout == ""
    assert r.stderr.strip() == f"No resources found in {ns} namespace."


def test_label_and_field_selectors_and_all_namespaces(server_url: str, ns: str) -> None:
    x = ns  # a label value no other test uses: -A below sees the whole shared server
    ok(server_url, "-n", ns, "run", "a", "--image", "nginx", "-l", f"app={x},tier=web")
    ok(server_url, "-n", ns, "run", "b", "--image", "nginx", "-l", "app=y")
    assert ok(server_url, "-n", ns, "get", "po", "-l", f"app={x}", "-o", "name").split() == ["pod/a"]
    assert ok(server_url, "-n", ns, "get", "po", "-l", f"app in ({x},y),tier!=web",
              "-o", "name").split() == ["pod/b"]
    assert ok(server_url, "-n", ns, "get", "po", "--field-selector", "metadata.name=b",
              "-o", "name").split() == ["pod/b"]
    lines = ok(server_url, "get", "pods", "-A", "-l", f"app={x}").splitlines()
    assert cells(lines[0])[:2] == ["NAMESPACE", "NAME"]
    assert [cells(ln)[:2] for ln in lines[1:]] == [[ns, "a"]]
    labels = ok(server_url, "-n", ns, "get", "po", "a", "--show-labels").splitlines()
    assert cells(labels[1])[-1] == f"app={x},tier=web"


def test_cluster_scoped_kinds(server_url: str, ns: str) -> None:
    lines = ok(server_url, "get", "ns").splitlines()
    assert cells(lines[0]) == ["NAME", "STATUS", "AGE"]
    assert any(cells(ln)[:2] == [ns, "Active"] for ln in lines[1:])
    node = unique_node(server_url)
    nodes = ok(server_url, "get", "no", node).splitlines()
    assert cells(nodes[0]) == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert cells(nodes[1])[:3] == [node, "Ready", "<none>"]


def unique_node(server_url: str) -> str:
    from testing.support import unique

    name = unique("node")
    node = post(server_url, "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                              "metadata": {"name": name}})
    node["status"] = {"conditions": [{"type": "Ready", "status": "True"}],
                      "nodeInfo": {"kubeletVersion": "v1.30.0-minik8s"}}
    json_request("PUT", f"{server_url}/api/v1/nodes/{name}/status", node)
    return name


def test_events_table(server_url: str, ns: str) -> None:
    ok(server_url, "-n", ns, "run", "p", "--image", "nginx")
    pod = get(server_url, f"/api/v1/namespaces/{ns}/pods/p")
    post(server_url, f"/api/v1/namespaces/{ns}/events", {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "p.1", "namespace": ns},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": ns,
                           "uid": pod["metadata"]["uid"]},
        "reason": "Scheduled", "message": "Successfully assigned x to node-1", "type": "Normal",
        "source": {"component": "default-scheduler"}, "count": 1,
        "firstTimestamp": pod["metadata"]["creationTimestamp"],
        "lastTimestamp": pod["metadata"]["creationTimestamp"]})
    lines = ok(server_url, "-n", ns, "get", "ev").splitlines()
    assert cells(lines[0]) == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert cells(lines[1])[1:] == ["Normal", "Scheduled", "pod/p",
                                   "Successfully assigned x to node-1"]


def test_watch_streams_rows(server_url: str, ns: str) -> None:
    ok(server_url, "-n", ns, "run", "first", "--image", "nginx")

    def later() -> None:
        time.sleep(0.8)
        json_request("POST", f"{server_url}/api/v1/namespaces/{ns}/pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "second"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}})

    t = threading.Thread(target=later)
    t.start()
    started = time.monotonic()
    out = ok(server_url, "-n", ns, "get", "pods", "-w", "--request-timeout=3s")
    t.join()
    assert time.monotonic() - started < 10
    lines = out.splitlines()
    assert cells(lines[0])[0] == "NAME" and cells(lines[1])[0] == "first"
    assert any(cells(ln)[0] == "second" for ln in lines[2:]), out
    names = ok(server_url, "-n", ns, "get", "pods", "-w", "-o", "name", "--request-timeout=1s")
    assert "pod/first" in names.split()


def test_version_and_cluster_info(server_url: str) -> None:
    lines = ok(server_url, "version").splitlines()
    assert lines[0].startswith("Client Version: v") and lines[1].startswith("Server Version: v")
    assert json.loads(ok(server_url, "version", "-o", "json"))["serverVersion"]["gitVersion"]
    assert ok(server_url, "version", "--client").splitlines() == [lines[0]]
    info = ok(server_url, "cluster-info").splitlines()
    assert info[0] == f"Kubernetes control plane is running at {server_url}"
    assert info[-1].startswith("To further debug and diagnose cluster problems")
