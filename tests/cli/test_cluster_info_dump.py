"""``kubectl cluster-info dump`` against minik8s, and ``minictl cluster-info dump``.

kubectl's dump (clusterinfo_dump.go) lists the nodes, then per namespace events,
ReplicationControllers, Services, DaemonSets, Deployments, ReplicaSets and Pods, and reads
each container's log; it returns at the first list that fails. The first test pins down
what the real kubectl does against what minik8s serves (``api.resources.ALL``): while one of
those kinds is not served, it stops at the first namespace's first unserved list with the API
server's NotFound; once all are (ReplicationControllers and DaemonSets), its dump completes
(exit 0, "Cluster info dumped to" with --output-directory). minictl writes the same documents
in the same order and layout and leaves out the lists the server does not serve.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from api import resources
from testing.kubectl import Kubectl
from testing.support import unique
from tests.cli.helpers import fails, ok, post, put_status

NOT_SERVED = "Error from server (NotFound): the server could not find the requested resource"
# kubectl's per-namespace lists after events, in its order: (resource, group-version path,
# minictl's file name, list kind).
DUMPED = (("replicationcontrollers", "/api/v1", "replication-controllers",
           "ReplicationControllerList"),
          ("services", "/api/v1", "services", "ServiceList"),
          ("daemonsets", "/apis/apps/v1", "daemonsets", "DaemonSetList"),
          ("deployments", "/apis/apps/v1", "deployments", "DeploymentList"),
          ("replicasets", "/apis/apps/v1", "replicasets", "ReplicaSetList"),
          ("pods", "/api/v1", "pods", "PodList"))
SERVED = [d for d in DUMPED if d[0] in {r.plural for r in resources.ALL}]
UNSERVED = [d for d in DUMPED if d not in SERVED]


@pytest.fixture
def ns(server_url: str) -> str:
    name = unique("dump")
    post(server_url, "/api/v1/namespaces", {"metadata": {"name": name}})
    return name


def make_pod(server: str, ns: str) -> str:
    name = unique("p")
    pod = post(server, f"/api/v1/namespaces/{ns}/pods", {
        "metadata": {"name": name}, "spec": {
            "nodeName": "nowhere",
            "initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [{"name": "app", "image": "busybox"}]}})
    pod["status"] = {"phase": "Pending"}
    put_status(server, f"/api/v1/namespaces/{ns}/pods/{name}", pod)
    return name


def documents(text: str) -> list[dict[str, Any]]:
    """The JSON documents kubectl prints one after another (4-space indented), the logs
    between them (==== START ... ==== END ... ====) left out."""
    dec, out, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        if text.startswith("==== START", i):
            i = text.index("\n", text.index("==== END", i)) + 1
            continue
        obj, i = dec.raw_decode(text, i)
        out.append(obj)
    return out


def test_kubectl_dump_against_what_is_served(server_url: str, kubectl: Kubectl, ns: str,
                                             tmp_path: Path) -> None:
    r = kubectl("cluster-info", "dump", "--namespaces", ns, "-v=6", check=False)
    got = re.findall(r'verb="GET" url="[^"]*?(/api[^"?]*)[^"]*" status="(\d+)', r.stderr)
    kdocs = documents(r.stdout)
    mdocs = documents(ok(server_url, "cluster-info", "dump", "--namespaces", ns))
    head = [("/api/v1/nodes", "200"), (f"/api/v1/namespaces/{ns}/events", "200")]
    if UNSERVED:
        # it stops at the first unserved list, after the served ones before it
        first = DUMPED.index(UNSERVED[0])
        assert r.returncode == 1
        assert NOT_SERVED in r.stderr
        assert got == head + [(f"{gv}/namespaces/{ns}/{res}", "200")
                              for res, gv, _, _ in DUMPED[:first]] + [
            (f"{UNSERVED[0][1]}/namespaces/{ns}/{UNSERVED[0][0]}", "404")]
        kinds = ["NodeList", "EventList", *(d[3] for d in DUMPED[:first])]
    else:
        assert r.returncode == 0, r.stderr
        assert got[:2 + len(DUMPED)] == head + [(f"{gv}/namespaces/{ns}/{res}", "200")
                                                for res, gv, _, _ in DUMPED]
        kinds = ["NodeList", "EventList", *(d[3] for d in DUMPED)]
        out = tmp_path / "k"
        done = kubectl("cluster-info", "dump", "--namespaces", ns, "--output-directory",
                       str(out))
        assert done.stdout == f"Cluster info dumped to {out}\n"
    # What it printed is minictl's beginning, document for document.
    assert [d["kind"] for d in kdocs] == kinds
    assert [d["kind"] for d in mdocs[:len(kinds)]] == kinds
    names = [sorted(i["metadata"]["name"] for i in d["items"]) for d in (kdocs[0], mdocs[0])]
    assert names[0] == names[1]
    for k, m in zip(kdocs[1:], mdocs[1:len(kinds)], strict=True):
        assert m["items"] == k["items"]
        assert list(k) == list(m)  # kind, apiVersion, metadata, items


def test_minictl_dump_to_stdout(server_url: str, ns: str) -> None:
    pod = make_pod(server_url, ns)
    out = ok(server_url, "cluster-info", "dump", "--namespaces", ns)
    docs = documents(out)
    assert [d["kind"] for d in docs] == ["NodeList", "EventList", *(d[3] for d in SERVED)]
    assert [p["metadata"]["name"] for p in docs[-1]["items"]] == [pod]
    logs = out[out.index("===="):]
    lines = logs.splitlines()
    assert lines[0] == f"==== START logs for container init of pod {ns}/{pod} ===="
    assert lines[1].startswith("Request log error: ")
    assert lines[2] == f"==== END logs for container init of pod {ns}/{pod} ===="
    assert lines[3] == f"==== START logs for container app of pod {ns}/{pod} ===="
    assert lines[-1] == f"==== END logs for container app of pod {ns}/{pod} ===="


def test_minictl_dump_output_directory_and_yaml(server_url: str, ns: str,
                                                tmp_path: Path) -> None:
    pod = make_pod(server_url, ns)
    out = tmp_path / "state"
    printed = ok(server_url, "cluster-info", "dump", "--namespaces", f"{ns},{ns}",
                 "--output-directory", str(out))
    assert printed == f"Cluster info dumped to {out}\n"
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == sorted(["nodes.json", f"{ns}/events.json",
                            *(f"{ns}/{d[2]}.json" for d in SERVED), f"{ns}/{pod}/logs.txt"])
    assert json.loads((out / ns / "pods.json").read_text())["items"][0]["metadata"]["name"] \
        == pod
    assert (out / ns / pod / "logs.txt").read_text().count("==== START logs") == 2

    text = ok(server_url, "cluster-info", "dump", "--namespaces", ns, "-o", "yaml")
    ydocs = list(yaml.safe_load_all(text[:text.index("==== START")]))
    assert [d["kind"] for d in ydocs][-1] == "PodList"
    assert text.startswith("apiVersion: v1\n")

    # kubectl's message; its list of formats is minictl's (kubectl also has templates).
    assert fails(server_url, "cluster-info", "dump", "-o", "wide") == (
        'error: unable to match a printer suitable for the output format "wide", allowed '
        "formats are: json,yaml")


def test_minictl_dump_all_namespaces(server_url: str, ns: str) -> None:
    make_pod(server_url, ns)
    out = ok(server_url, "cluster-info", "dump", "-A")
    pods = [d for d in documents(out) if d["kind"] == "PodList"]
    assert any(p["metadata"]["namespace"] == ns for d in pods for p in d["items"])
