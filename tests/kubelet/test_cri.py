"""The kubelet on containerd through the CRI (``--runtime cri``), driven through the real API
server and real kubectl: a private containerd (testing/containerd.py) with its CRI plugin,
the Debian CNI plugins on a bridge of its own (10.254.254.0/24, outside the cluster CIDR that
the host's pod-network leak guard rejects) and portmap for hostPorts.

Docker's own containerd is never touched. Skipped only when containerd, runc or the CNI
plugins are not installed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shutil
import socket
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.models import Event, Pod
from client.errors import NotFound
from client.rest import Client
from testing import containerd as private
from testing.kubectl import Kubectl
from testing.support import Process, free_port, http_ok, service, unique, wait_for
from tests.kubelet import helpers

pytestmark = [pytest.mark.docker, pytest.mark.slow]

_why = private.missing()
if _why:
    pytest.skip(f"no CRI runtime here: {_why}", allow_module_level=True)

from kubelet.runtime.base import LABEL_NODE, LABEL_POD_UID  # noqa: E402
from kubelet.runtime.cri import CRIRuntime, remove_all_sandboxes  # noqa: E402

SUBNET = ipaddress.ip_network(private.SUBNET)


class CRINode:
    def __init__(self, cd: private.PrivateContainerd, node: str, args: list[str],
                 port: int) -> None:
        self.cd = cd
        self.node = node
        self.args = args
        self.port = port
        self.kubelet: Process | None = None
        self.logs: list[str] = []

    def start(self) -> None:
        self.kubelet = service(f"kubelet-{self.node}", "kubelet", self.args)
        kubelet = self.kubelet
        wait_for(lambda: http_ok(f"http://127.0.0.1:{self.port}/healthz"), timeout=20,
                 message=f"kubelet healthz:\n{kubelet.log_tail()}")

    def stop(self) -> None:
        if self.kubelet is not None:
            self.kubelet.stop()
            self.logs.append(self.kubelet.log_path.read_text(errors="replace"))
            self.kubelet = None

    def cri(self, selector: dict[str, str], sandboxes: bool = True) -> list[Any]:
        """ListPodSandbox (or ListContainers) with a label selector, straight from the CRI."""
        async def run() -> list[Any]:
            from kubelet.runtime.cri_api import api_pb2 as pb

            rt = CRIRuntime(self.cd.endpoint, request_timeout=10)
            try:
                if sandboxes:
                    r = await rt.rt.ListPodSandbox(pb.ListPodSandboxRequest(
                        filter=pb.PodSandboxFilter(label_selector=selector)), timeout=10)
                    return list(r.items)
                c = await rt.rt.ListContainers(pb.ListContainersRequest(
                    filter=pb.ContainerFilter(label_selector=selector)), timeout=10)
                return list(c.containers)
            finally:
                await rt.close()
        return asyncio.run(run())


@pytest.fixture(scope="module")
def cri_node(server_url: str) -> Iterator[CRINode]:
    cd = private.PrivateContainerd()
    cd.before_stop.append(lambda: remove_all_sandboxes(cd.endpoint))
    cd.start()
    node = unique("crinode")
    root = tempfile.mkdtemp(prefix="minik8s-kubelet-")
    port = free_port()
    n = CRINode(cd, node, [
        "--server", server_url, "--node-name", node, "--runtime", "cri",
        "--container-runtime-endpoint", cd.endpoint, "--pod-logs-dir", f"{cd.root}/pods-logs",
        "--port", str(port), "--address", "127.0.0.1", "--node-ip", "127.0.0.1",
        "--root-dir", root, "--backoff-base", "1", "--relist-seconds", "2",
        "--heartbeat-seconds", "1", "--healthz-port", "0", "--cluster-dns", "10.96.0.10",
        "--container-log-max-size", "64Ki", "--container-log-max-files", "2",
        "--container-log-monitor-interval", "1s"], port)
    try:
        n.start()
        yield n
    finally:
        n.stop()
        cd.stop()
        shutil.rmtree(root, ignore_errors=True)
    for log in n.logs:
        assert "RuntimeWarning" not in log, log[-3000:]


@pytest.fixture(scope="module")
def api(server_url: str) -> Iterator[Client]:
    c = Client(server_url)
    yield c
    c.close()


def make_pod(api: Client, node: CRINode, containers: list[dict[str, Any]], **spec: Any) -> Pod:
    return helpers.make_pod(api, node.node, containers, "cri", **spec)


def wait_pod(api: Client, p: Pod, pred: Any, timeout: float = 30, what: str = "pod") -> Pod:
    return helpers.wait_pod(api, p, pred, timeout, what, interval=0.1)


def delete_and_wait(api: Client, node: CRINode, p: Pod, timeout: float = 30) -> None:
    """Delete the pod; its sandbox and containers leave the runtime."""
    uid = p.metadata.uid or ""
    api.delete(Pod, p.metadata.name or "", "default")

    def gone() -> bool:
        try:
            api.get(Pod, p.metadata.name or "", "default")
            return False
        except NotFound:
            return True
    wait_for(gone, timeout=timeout, message="pod deleted")
    wait_for(lambda: not node.cri({LABEL_POD_UID: uid}) and
             not node.cri({LABEL_POD_UID: uid}, sandboxes=False),
             timeout=timeout, message="sandbox and containers removed")


def running(p: Pod) -> bool:
    return bool(p.status and p.status.phase == "Running")


def test_node_reports_containerd(api: Client, cri_node: CRINode) -> None:
    from api.models import Node

    def ready() -> Node | None:
        n = api.get(Node, cri_node.node)
        conds = {c.type: c.status for c in (n.status.conditions if n.status else None) or []}
        return n if conds.get("Ready") == "True" else None
    n = wait_for(ready, timeout=20, message="node Ready")
    assert n is not None and n.status is not None and n.status.node_info is not None
    assert str(n.status.node_info.container_runtime_version).startswith("containerd://")


def test_pod_runs_with_cni_ip_logs_exec_and_delete(api: Client, cri_node: CRINode,
                                                    kubectl: Kubectl) -> None:
    p = make_pod(api, cri_node, [{
        "name": "app", "image": "minik8s/busybox:latest",
        "command": ["sh", "-c", "echo one; sleep 0.2; echo two >&2; sleep 0.2; printf three; sleep 0.2; "
                                "echo four; exec sleep 3600"],
        "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1}},
        {"name": "priv", "image": "minik8s/busybox:latest", "command": ["sleep", "3600"],
         "securityContext": {"privileged": True}}])
    got = wait_pod(api, p, lambda g: running(g) and g.status.pod_ip and any(
        c.type == "Ready" and c.status == "True" for c in g.status.conditions or []),
        what="Running and Ready")
    assert got.status is not None and got.status.pod_ip
    assert ipaddress.ip_address(got.status.pod_ip) in SUBNET
    st = helpers.cstatus(got)
    assert st["containerID"].startswith("containerd://")
    assert st["imageID"].startswith("containerd://sha256:")
    name = p.metadata.name or ""
    wide = kubectl("get", "pod", name, "-o", "wide").stdout
    assert got.status.pod_ip in wide

    def logs() -> str | None:
        out = kubectl("logs", name, "-c", "app").stdout
        return out if "four" in out else None
    assert wait_for(logs, timeout=10, message="logs") == "one\ntwo\nthreefour\n"
    assert kubectl("logs", name, "-c", "app", "--tail", "1").stdout == "threefour\n"
    stamped = kubectl("logs", name, "-c", "app", "--timestamps").stdout.splitlines()
    assert len(stamped) == 3 and all(line.split(" ", 1)[0].endswith("Z") for line in stamped)
    assert stamped[0].split(" ", 1)[1] == "one"

    r = kubectl("exec", name, "-c", "app", "--", "sh", "-c", "echo out; echo err >&2; exit 3",
                check=False)
    assert (r.returncode, r.stdout, r.stderr.splitlines()[0]) == (3, "out\n", "err")
    r = kubectl("exec", "-i", name, "-c", "app", "--", "cat", stdin="piped\n")
    assert r.stdout == "piped\n"
    r = kubectl("exec", name, "-c", "app", "--", "hostname")
    assert r.stdout.strip() == name
    # A terminal: the runtime's tty, resized to kubectl's 33x101 through the resize stream.
    script = ('tty; until stty size >/tmp/sz 2>/dev/null && [ -s /tmp/sz ]; do sleep 0.1; done; '
              'echo "size $(cat /tmp/sz)"; exit 4')
    code, text = helpers.on_pty([*kubectl.argv, "exec", "-it", name, "-c", "app", "--", "sh",
                                 "-c", script], kubectl.env)
    assert code == 4, text
    assert "/dev/pts/" in text and "size 33 101" in text
    resolv = kubectl("exec", name, "-c", "app", "--", "cat", "/etc/resolv.conf").stdout
    assert "nameserver 10.96.0.10" in resolv and "search default.svc.cluster.local" in resolv
    # The privileged container sees the host's devices (an unprivileged one a handful).
    many = kubectl("exec", name, "-c", "priv", "--", "ls", "/dev").stdout.split()
    few = kubectl("exec", name, "-c", "app", "--", "ls", "/dev").stdout.split()
    assert len(many) > len(few) + 10

    # The Summary API finds the containers' cgroups (cpu and memory of the pod).
    def summary() -> dict[str, Any] | None:
        with urllib.request.urlopen(f"http://127.0.0.1:{cri_node.port}/stats/summary",
                                    timeout=10) as r:
            doc = json.loads(r.read())
        pods = [x for x in doc.get("pods", []) if x["podRef"]["name"] == name]
        return pods[0] if pods and pods[0].get("memory", {}).get("workingSetBytes") else None
    stats = wait_for(summary, timeout=15, message="pod in /stats/summary")
    assert {c["name"] for c in stats["containers"]} == {"app", "priv"}
    delete_and_wait(api, cri_node, got)


def test_restart_previous_logs_and_liveness(api: Client, cri_node: CRINode,
                                            kubectl: Kubectl) -> None:
    p = make_pod(api, cri_node, [
        {"name": "crash", "image": "minik8s/busybox:latest",
         "command": ["sh", "-c", "echo run; sleep 0.3; exit 2"]},
        {"name": "live", "image": "minik8s/busybox:latest",
         "command": ["sh", "-c", "touch /tmp/ok; exec sleep 3600"],
         "livenessProbe": {"exec": {"command": ["sh", "-c", "test -f /tmp/ok && rm /tmp/ok"]},
                           "periodSeconds": 1, "failureThreshold": 1}}])
    got = wait_pod(api, p, lambda g: all(
        (c.restart_count or 0) >= 1 for c in g.status.container_statuses or []) and len(
        g.status.container_statuses or []) == 2, timeout=40, what="both restarted")
    by_name = {c.name: c.to_dict() for c in got.status.container_statuses or []}  # type: ignore[union-attr]
    last = by_name["crash"]["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (2, "Error")
    assert by_name["live"]["lastState"]["terminated"]["exitCode"] == 137
    name = p.metadata.name or ""
    assert kubectl("logs", name, "-c", "crash", "--previous").stdout == "run\n"
    kinds = [e.reason for e in api.list(Event, "default").items
             if e.involved_object and e.involved_object.name == name]
    assert "Unhealthy" in kinds and "Killing" in kinds
    delete_and_wait(api, cri_node, got)


@pytest.mark.parametrize(("code", "phase", "reason"), [(0, "Succeeded", "Completed"),
                                                        (7, "Failed", "Error")])
def test_pod_ends_with_exit_code(api: Client, cri_node: CRINode, kubectl: Kubectl, code: int,
                                 phase: str, reason: str) -> None:
    p = make_pod(api, cri_node, [{"name": "job", "image": "minik8s/busybox:latest",
                                  "command": ["sh", "-c", f"echo bye; exit {code}"]}],
                 restartPolicy="Never")
    got = wait_pod(api, p, lambda g: g.status.phase == phase, what=phase)
    term = helpers.cstatus(got)["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (code, reason)
    assert term["startedAt"] and term["finishedAt"]
    # Follow ends with the container, as it does for a finished one.
    assert kubectl("logs", "-f", p.metadata.name or "", timeout=15).stdout == "bye\n"
    delete_and_wait(api, cri_node, got)


def test_hostname_subdomain_and_hosts_file(api: Client, cri_node: CRINode,
                                           kubectl: Kubectl) -> None:
    p = make_pod(api, cri_node, [{"name": "app", "image": "minik8s/busybox:latest",
                                  "command": ["sh", "-c", "hostname; hostname -f; "
                                              "grep -v '^#' /etc/hosts | grep h1"]}],
                 restartPolicy="Never", hostname="h1", subdomain="sd")
    got = wait_pod(api, p, lambda g: g.status.phase == "Succeeded", what="Succeeded")
    assert got.status is not None
    fqdn = "h1.sd.default.svc.cluster.local"
    assert kubectl("logs", p.metadata.name or "").stdout == (
        f"h1\n{fqdn}\n{got.status.pod_ip}\t{fqdn}\th1\n")
    delete_and_wait(api, cri_node, got)


def test_missing_image_is_err_image_pull(api: Client, cri_node: CRINode) -> None:
    p = make_pod(api, cri_node, [{"name": "app", "image": "minik8s/not-here:1"}])

    def waiting(g: Pod) -> bool:
        st = (g.status.container_statuses or [None])[0]  # type: ignore[union-attr]
        w = st.state.waiting if st is not None and st.state is not None else None
        return w is not None and w.reason in ("ErrImagePull", "ImagePullBackOff")
    got = wait_pod(api, p, waiting, what="ErrImagePull")
    w = helpers.cstatus(got)["state"]["waiting"]
    assert "failed to pull and unpack image" in w["message"]
    assert "docker.io/minik8s/not-here:1" in w["message"]
    wait_pod(api, p, lambda g: helpers.cstatus(g)["state"].get("waiting", {}).get(
        "reason") == "ImagePullBackOff", what="ImagePullBackOff")
    delete_and_wait(api, cri_node, got)


def test_host_port_through_portmap(api: Client, cri_node: CRINode, kubectl: Kubectl) -> None:
    port = free_port()
    p = make_pod(api, cri_node, [{
        "name": "srv", "image": "minik8s/busybox:latest",
        "command": ["nc", "-ll", "-p", "8080", "-e", "echo", "hello-from-pod"],
        "ports": [{"containerPort": 8080, "hostPort": port}]}])
    got = wait_pod(api, p, running, what="Running")

    def answer(port: int = port) -> bytes | None:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.settimeout(2)
            data = b""
            deadline = time.monotonic() + 2
            while b"\n" not in data and time.monotonic() < deadline:
                chunk = s.recv(100)
                if not chunk:
                    break
                data += chunk
            return data or None
    assert wait_for(answer, timeout=10, message="hostPort answer") == b"hello-from-pod\n"
    # kubectl port-forward reaches the pod's IP through the kubelet.
    local = free_port()
    fwd = kubectl.popen("port-forward", f"pod/{p.metadata.name}", f"{local}:8080")
    try:
        assert wait_for(lambda: answer(local), timeout=15,
                        message="port-forward answer") == b"hello-from-pod\n"
    finally:
        fwd.terminate()
        fwd.wait(10)
    delete_and_wait(api, cri_node, got)
    # The sandbox's portmap rules went with it.
    import subprocess

    nat = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True,
                         text=True, check=False).stdout
    assert f"--dport {port} " not in nat


def test_log_rotation(api: Client, cri_node: CRINode, kubectl: Kubectl) -> None:
    """A log past --container-log-max-size is rotated (the runtime reopens its file); one
    rotated file is kept with --container-log-max-files 2; kubectl logs reads the current."""
    p = make_pod(api, cri_node, [{
        "name": "app", "image": "minik8s/busybox:latest",
        "command": ["sh", "-c", "i=0; while [ $i -lt 3 ]; do i=$((i+1)); "
                                "head -c 60000 /dev/zero | tr '\\0' x; echo; sleep 0.7; done; "
                                "echo last; exec sleep 3600"]}])
    got = wait_pod(api, p, running, what="Running")
    name = p.metadata.name or ""
    d = Path(private_log_dir(cri_node, got)) / "app"

    def rotated() -> list[Path] | None:
        files = sorted(d.glob("0.log.*"))
        out = kubectl("logs", name).stdout
        return files if len(files) == 1 and out.endswith("last\n") and len(out) < 130000 \
            else None
    files = wait_for(rotated, timeout=25, message="a rotated log")
    assert files is not None and files[0].stat().st_size > 64 * 1024
    assert (d / "0.log").stat().st_size < 64 * 1024
    delete_and_wait(api, cri_node, got)


def private_log_dir(node: CRINode, p: Pod) -> str:
    m = p.metadata
    return f"{node.cd.root}/pods-logs/{m.namespace}_{m.name}_{m.uid}"


def test_attach_with_stdin_once(api: Client, cri_node: CRINode, kubectl: Kubectl) -> None:
    p = make_pod(api, cri_node, [{
        "name": "app", "image": "minik8s/busybox:latest", "stdin": True, "stdinOnce": True,
        "command": ["sh", "-c", "while read l; do echo got $l; done; echo bye"]}],
                 restartPolicy="Never")
    got = wait_pod(api, p, running, what="Running")
    r = kubectl("attach", "-i", p.metadata.name or "", stdin="a\nb\n", timeout=20)
    assert r.stdout == "got a\ngot b\nbye\n"
    wait_pod(api, p, lambda g: g.status.phase == "Succeeded", what="Succeeded")
    delete_and_wait(api, cri_node, got)


def test_restarted_kubelet_adopts_its_pods(api: Client, cri_node: CRINode,
                                          kubectl: Kubectl) -> None:
    """A new kubelet process finds the pod's sandbox and containers by their labels: the
    same container keeps running, and a crashing one restarts in the same sandbox."""
    p = make_pod(api, cri_node, [
        {"name": "app", "image": "minik8s/busybox:latest", "command": ["sleep", "3600"]},
        {"name": "crash", "image": "minik8s/busybox:latest",
         "command": ["sh", "-c", "sleep 1; exit 1"]}])
    got = wait_pod(api, p, lambda g: running(g) and all(
        c.started for c in g.status.container_statuses or []), what="Running")
    before = {c.name: c.container_id for c in got.status.container_statuses or []}  # type: ignore[union-attr]
    sandboxes = [s.id for s in cri_node.cri({LABEL_POD_UID: got.metadata.uid or ""})]
    cri_node.stop()
    crashes = len(cri_node.cri({LABEL_POD_UID: got.metadata.uid or "",
                                "io.kubernetes.container.name": "crash"}, sandboxes=False))
    cri_node.start()

    def restarted(g: Pod) -> bool:
        st = {c.name: c for c in g.status.container_statuses or []}  # type: ignore[union-attr]
        return "crash" in st and (st["crash"].restart_count or 0) >= crashes
    again = wait_pod(api, p, restarted, timeout=40, what="crash restarted under the new kubelet")
    after = {c.name: c.container_id for c in again.status.container_statuses or []}  # type: ignore[union-attr]
    assert after["app"] == before["app"]
    assert [s.id for s in cri_node.cri({LABEL_POD_UID: got.metadata.uid or ""})] == sandboxes
    assert kubectl("exec", p.metadata.name or "", "-c", "app", "--", "echo", "ok").stdout == "ok\n"
    delete_and_wait(api, cri_node, got)


def test_runtime_down_makes_the_node_not_ready(api: Client, cri_node: CRINode,
                                               kubectl: Kubectl) -> None:
    """containerd gone: the CRI calls fail as RuntimeUnavailable and the node turns NotReady;
    back: Ready again, and the pod's container (kept by its shim) is the same."""
    from api.models import Node

    p = make_pod(api, cri_node, [{"name": "app", "image": "minik8s/busybox:latest",
                                  "command": ["sleep", "3600"]}])
    got = wait_pod(api, p, running, what="Running")
    cid = helpers.cstatus(got)["containerID"]

    def ready() -> str:
        n = api.get(Node, cri_node.node)
        c = next(c for c in (n.status.conditions if n.status else None) or [] if c.type == "Ready")
        return f"{c.status}: {c.message}"
    cri_node.cd.kill_daemon()
    try:
        down = wait_for(lambda: (r := ready()).startswith("False") and r, timeout=20,
                        message="node NotReady")
        assert "container runtime is down" in str(down)
    finally:
        cri_node.cd.restart_daemon()
    wait_for(lambda: ready().startswith("True"), timeout=20, message="node Ready again")
    assert helpers.cstatus(wait_pod(api, p, running, what="Running"))["containerID"] == cid
    assert kubectl("exec", p.metadata.name or "", "--", "echo", "ok").stdout == "ok\n"
    delete_and_wait(api, cri_node, got)


def test_nothing_left_on_the_node(api: Client, cri_node: CRINode) -> None:
    """Every test deleted its pods: the runtime lists nothing of this node."""
    assert cri_node.cri({LABEL_NODE: cri_node.node}) == []
    assert cri_node.cri({LABEL_NODE: cri_node.node}, sandboxes=False) == []
