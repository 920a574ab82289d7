"""``kubectl cluster-info dump`` against minik8s, and ``minictl cluster-info dump``.

kubectl's dump (clusterinfo_dump.go) lists the nodes, then per namespace events,
ReplicationControllers, Services, DaemonSets, Deployments, ReplicaSets and Pods, and reads
each container's log; it returns at the first list that fails. minik8s serves DaemonSets;
while it does not serve ReplicationControllers the real kubectl stops at the first
namespace's ``replicationcontrollers`` with the API server's NotFound, and once both are
served its dump completes (the first test pins whichever is true of ``resources.ALL``).
minictl writes the same documents in the same order and
layout and leaves out the lists the server does not serve.
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

# The per-namespace lists that minik8s may not serve, in kubectl's order, and their kinds.
_MAYBE = (("replicationcontrollers", "ReplicationControllerList"),
          ("daemonsets", "DaemonSetList"))
SERVED = {r.plural for r in resources.ALL}
UNSERVED = [plural for plural, _ in _MAYBE if plural not in SERVED]


def listed(kinds: list[str]) -> list[str]:
    """``kinds`` without the lists the server does not serve (what minictl leaves out)."""
    gone = {k for plural, k in _MAYBE if plural in UNSERVED}
    return [k for k in kinds if k not in gone]


NOT_SERVED = "Error from server (NotFound): the server could not find the requested resource"


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


def test_kubectl_dump_stops_at_the_first_unserved_list(server_url: str, kubectl: Kubectl,
                                                        ns: str, tmp_path: Path) -> None:
    r = kubectl("cluster-info", "dump", "--namespaces", ns, "-v=6", check=False)
    mdocs = documents(ok(server_url, "cluster-info", "dump", "--namespaces", ns))
    kdocs = documents(r.stdout)
    if not UNSERVED:
        # everything kubectl lists is served: its dump completes, as minictl's
        assert r.returncode == 0, r.stderr[-2000:]
        assert [d["kind"] for d in kdocs] == [d["kind"] for d in mdocs] == [
            "NodeList", "EventList", "ReplicationControllerList", "ServiceList",
            "DaemonSetList", "DeploymentList", "ReplicaSetList", "PodList"]
        for k, m in zip(kdocs[1:], mdocs[1:], strict=True):
            assert k["items"] == m["items"] and list(k) == list(m)
        out = tmp_path / "kdump"
        r = kubectl("cluster-info", "dump", "--namespaces", ns, "--output-directory", str(out))
        assert r.stdout == f"Cluster info dumped to {out}\n"
        assert (out / ns / "daemonsets.json").is_file()
        assert (out / ns / "replication-controllers.json").is_file()
        return
    assert r.returncode == 1
    assert NOT_SERVED in r.stderr
    got = re.findall(r'verb="GET" url="[^"]*?(/api[^"?]*)[^"]*" status="(\d+)', r.stderr)
    order = ["replicationcontrollers", "services", "daemonsets"]
    upto = order[:order.index(UNSERVED[0]) + 1]
    assert got[:2] == [("/api/v1/nodes", "200"), (f"/api/v1/namespaces/{ns}/events", "200")]
    assert [(u.rsplit("/", 1)[-1], c) for u, c in got[2:]] == [
        (p, "404" if p == UNSERVED[0] else "200") for p in upto]
    # What it printed before stopping is minictl's beginning, document for document.
    assert [d["kind"] for d in kdocs] == [d["kind"] for d in mdocs[:len(kdocs)]]
    assert [d["kind"] for d in kdocs][:2] == ["NodeList", "EventList"]
    names = [sorted(i["metadata"]["name"] for i in d["items"]) for d in (kdocs[0], mdocs[0])]
    assert names[0] == names[1]
    assert mdocs[1]["items"] == kdocs[1]["items"]
    assert list(kdocs[1]) == list(mdocs[1])  # kind, apiVersion, metadata, items


def test_minictl_dump_to_stdout(server_url: str, ns: str) -> None:
    pod = make_pod(server_url, ns)
    out = ok(server_url, "cluster-info", "dump", "--namespaces", ns)
    docs = documents(out)
    assert [d["kind"] for d in docs] == listed([
        "NodeList", "EventList", "ReplicationControllerList", "ServiceList", "DaemonSetList",
        "DeploymentList", "ReplicaSetList", "PodList"])
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
    lists = ["events", "services", "deployments", "replicasets", "pods"]
    lists += [{"replicationcontrollers": "replication-controllers"}.get(p, p)
              for p, _ in _MAYBE if p not in UNSERVED]
    assert files == sorted(["nodes.json", *(f"{ns}/{n}.json" for n in lists),
                            f"{ns}/{pod}/logs.txt"])
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
