"""The kubelet on the real Docker daemon, driven through the real API server.

One kubelet process (``python -m kubelet``) serves the module; the restart test runs
its own. Every container a test makes carries the kubelet's node label, and the
fixtures remove them all by that label.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from api.models import Event, Pod
from client.errors import NotFound
from client.rest import Client
from testing.registry_stub import StubRegistry
from testing.support import free_port, unique, wait_for
from tests.kubelet import helpers
from tests.kubelet.helpers import KubeletProc, cleanup

docker = pytest.importorskip("docker")

pytestmark = pytest.mark.docker

kubelet, api = helpers.docker_fixtures("dnode")


def make_pod(api: Client, node: str, containers: list[dict[str, Any]], **spec: Any) -> Pod:
    return helpers.make_pod(api, node, containers, "dp", **spec)


def wait_pod(api: Client, p: Pod, pred: Any, timeout: float = 20, what: str = "pod") -> Pod:
    return helpers.wait_pod(api, p, pred, timeout, what, interval=0.1)


cs = helpers.cstatus


def cond(p: Pod, type_: str) -> str | None:
    return next((c.status for c in (p.status.conditions if p.status else None) or []
                 if c.type == type_), None)


def pod_containers(dk: Any, uid: str) -> list[Any]:
    return dk.containers.list(all=True, filters={"label": f"io.kubernetes.pod.uid={uid}"})


def delete_now(api: Client, p: Pod) -> None:
    try:
        api.delete(Pod, p.metadata.name or "", "default")
    except NotFound:
        pass


def test_two_containers_share_localhost_env_command_and_logs(
        api: Client, kubelet: KubeletProc, dk: Any) -> None:
    web = {"name": "web", "image": "busybox", "workingDir": "/srv",
           "env": [{"name": "PREFIX", "value": "hello"},
                   {"name": "GREETING", "value": "$(PREFIX)-from-env"},
                   {"name": "MY_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
           "command": ["sh", "-c"],
           "args": ['mkdir -p /srv/www && echo "$GREETING $(pwd) $MY_POD" > /srv/www/index.html '
                    '&& exec httpd -f -p 8080 -h /srv/www'],
           "ports": [{"containerPort": 8080}]}
    fetch = {"name": "fetch", "image": "busybox:latest", "command": ["sh", "-c",
             "trap 'exit 0' TERM; while true; do wget -qO- http://localhost:8080/ "
             "&& sleep 1 || sleep 0.2; done"]}
    p = make_pod(api, kubelet.node, [web, fetch])
    got = wait_pod(api, p, lambda g: g.status.phase == "Running" and cond(g, "Ready") == "True",
                   what="Running")
    ip = got.status.pod_ip if got.status else None
    assert ip and got.status and got.status.host_ip == "127.0.0.1"
    assert cs(got)["containerID"].startswith("docker://")
    assert cs(got)["imageID"].startswith("docker://sha256:")
    # the pod IP is reachable from the host
    body = wait_for(lambda: urllib.request.urlopen(f"http://{ip}:8080/", timeout=2).read(),
                    timeout=10, message="pod IP reachable")
    assert body.decode().strip() == f"hello-from-env /srv {p.metadata.name}"
    # the second container reached the first over localhost; its log comes through the
    # API server's pods/{name}/log, proxied to the kubelet
    logs = wait_for(lambda: (t := api.pod_logs(p.metadata.name or "", "default",
                                               container="fetch")) and "hello-from-env" in t and t,
                    timeout=15, message="fetch logs")
    assert "hello-from-env /srv" in logs
    tail = api.pod_logs(p.metadata.name or "", "default", container="fetch", tail_lines=1)
    assert tail.count("\n") == 1
    # docker shows dockershim-style names and a pause container holding the namespaces
    names = {c.name for c in pod_containers(dk, p.metadata.uid or "")}
    uid = p.metadata.uid
    assert {f"k8s_POD_{p.metadata.name}_default_{uid}_0", f"k8s_web_{p.metadata.name}_default_{uid}_0",
            f"k8s_fetch_{p.metadata.name}_default_{uid}_0"} == names
    events = {e.reason for e in api.list(Event, "default", field_selector=(
        f"involvedObject.name={p.metadata.name}")).items}
    assert {"Pulled", "Created", "Started"} <= events
    delete_now(api, p)


def test_crash_restarts_with_growing_backoff(api: Client, kubelet: KubeletProc) -> None:
    t0 = time.monotonic()
    p = make_pod(api, kubelet.node, [{"name": "crash", "image": "busybox", "command": [
        "sh", "-c", "echo boom; exit 3"]}])
    got = wait_pod(api, p, lambda g: cs(g)["restartCount"] >= 3
                   if g.status.container_statuses else False, timeout=30, what="3 restarts")
    # back-off 1 s (the test kubelet's base), doubling: restart 1 at once, 2 after 1 s,
    # 3 after 2 s more; without back-off three restarts of this container take ~1 s
    assert time.monotonic() - t0 >= 2.5
    last = cs(got)["lastState"]["terminated"]
    assert last["exitCode"] == 3 and last["reason"] == "Error"
    got = wait_pod(api, p, lambda g: (cs(g)["state"].get("waiting") or {}).get("reason")
                   == "CrashLoopBackOff", timeout=20, what="CrashLoopBackOff")
    assert got.status and got.status.phase == "Running"
    evs = api.list(Event, "default", field_selector=f"involvedObject.name={p.metadata.name}").items
    backoff = [e for e in evs if e.reason == "BackOff"]
    assert backoff and backoff[0].type == "Warning"
    prev = api.pod_logs(p.metadata.name or "", "default", previous=True)
    assert "boom" in prev
    delete_now(api, p)


def test_memory_limit_gives_oomkilled(api: Client, kubelet: KubeletProc, dk: Any) -> None:
    p = make_pod(api, kubelet.node, [{
        "name": "hog", "image": "busybox",
        "command": ["sh", "-c", "head -c 300m /dev/zero | tail"],
        "resources": {"limits": {"memory": "16Mi", "cpu": "500m"}}}], restartPolicy="Never")
    got = wait_pod(api, p, lambda g: g.status.phase == "Failed", timeout=30, what="Failed")
    term = cs(got)["state"]["terminated"]
    assert term["reason"] == "OOMKilled" and term["exitCode"] == 137
    # limits alone default the requests: Guaranteed, and the cgroups say so
    assert got.status and got.status.qos_class == "Guaranteed"
    app = next(c for c in pod_containers(dk, p.metadata.uid or "")
           if c.labels["io.kubernetes.container.name"] == "hog")
    hc = app.attrs["HostConfig"]
    assert hc["Memory"] == 16 * 1024 * 1024 and hc["CpuQuota"] == 50_000
    assert hc["CgroupParent"] == "/kubepods/guaranteed"
    delete_now(api, p)


def test_liveness_restarts_and_readiness_gates_ready(api: Client, kubelet: KubeletProc) -> None:
    live = {"name": "live", "image": "busybox", "command": [
        "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"],
        "livenessProbe": {"tcpSocket": {"port": 9999}, "periodSeconds": 1,
                          "failureThreshold": 2, "timeoutSeconds": 1}}
    ready = {"name": "ready", "image": "busybox", "command": [
        "sh", "-c", "trap 'exit 0' TERM; sleep 3; touch /tmp/ready; "
        "httpd -p 8081 -h /tmp; while true; do sleep 0.2; done"],
        "readinessProbe": {"exec": {"command": ["test", "-f", "/tmp/ready"]},
                           "periodSeconds": 1},
        "livenessProbe": {"httpGet": {"path": "/", "port": 8081}, "initialDelaySeconds": 5,
                          "periodSeconds": 2, "failureThreshold": 3}}
    p = make_pod(api, kubelet.node, [live, ready])
    got = wait_pod(api, p, lambda g: g.status.phase == "Running", what="Running")
    t_running = time.monotonic()
    assert cond(got, "Ready") == "False"
    got = wait_pod(api, p, lambda g: cs(g, 1)["ready"], timeout=15, what="ready after probe")
    assert time.monotonic() - t_running > 1.0
    got = wait_pod(api, p, lambda g: cs(g, 0)["restartCount"] >= 1, timeout=20,
                   what="liveness restart")
    assert cs(got, 1)["restartCount"] == 0, "the healthy container keeps running"
    evs = api.list(Event, "default", field_selector=f"involvedObject.name={p.metadata.name}").items
    assert any(e.reason == "Unhealthy" and "Liveness probe failed" in (e.message or "")
               for e in evs)
    assert any(e.reason == "Killing" and "failed liveness probe" in (e.message or "")
               for e in evs)
    delete_now(api, p)


def test_delete_removes_all_containers_and_emptydir(api: Client, kubelet: KubeletProc,
                                                    dk: Any) -> None:
    p = make_pod(api, kubelet.node, [{
        "name": "w", "image": "busybox",
        "command": ["sh", "-c", "echo data > /cache/f; trap 'exit 0' TERM; "
                    "while true; do sleep 0.2; done"],
        "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}],
        volumes=[{"name": "cache", "emptyDir": {}}], terminationGracePeriodSeconds=5)
    wait_pod(api, p, lambda g: g.status.phase == "Running", what="Running")
    uid = p.metadata.uid or ""
    vol = Path(kubelet.root) / "pods" / uid / "volumes" / "empty-dir" / "cache"
    wait_for(lambda: (vol / "f").exists(), timeout=5, message="emptyDir written")
    assert len(pod_containers(dk, uid)) == 2
    t0 = time.monotonic()
    api.delete(Pod, p.metadata.name or "", "default")

    def gone() -> bool:
        try:
            api.get(Pod, p.metadata.name or "", "default")
            return False
        except NotFound:
            return True
    wait_for(gone, timeout=10, message="pod deleted")
    assert time.monotonic() - t0 < 5, "a container that exits on SIGTERM ends well within grace"
    assert pod_containers(dk, uid) == []
    assert not vol.exists() and not (Path(kubelet.root) / "pods" / uid).exists()


def test_missing_image_gives_image_pull_backoff_with_daemon_message(
        api: Client, kubelet: KubeletProc) -> None:
    # a registry on loopback that hangs up at once: the pull fails fast, on this machine
    with StubRegistry("close") as reg:
        image = reg.image("does-not-exist:1")
        p = make_pod(api, kubelet.node, [{"name": "x", "image": image}])
        got = wait_pod(api, p, lambda g: (cs(g)["state"].get("waiting") or {}).get("reason") in (
            "ErrImagePull", "ImagePullBackOff"), what="ErrImagePull")
        got = wait_pod(api, p, lambda g: (cs(g)["state"].get("waiting") or {}).get("reason")
                       == "ImagePullBackOff", timeout=15, what="ImagePullBackOff")
    msg = cs(got)["state"]["waiting"]["message"]
    # Kubernetes' message, with the daemon's own words
    assert msg.startswith(f'Back-off pulling image "{image}": ErrImagePull: '), msg
    assert f"127.0.0.1:{reg.port}" in msg, msg
    assert got.status and got.status.phase == "Pending"
    evs = api.list(Event, "default", field_selector=f"involvedObject.name={p.metadata.name}").items
    assert any(e.reason == "Failed" and "Failed to pull image" in (e.message or "") for e in evs)
    delete_now(api, p)


def test_restarted_kubelet_adopts_without_duplicates(server_url: str, api: Client,
                                                     dk: Any) -> None:
    node = unique("rnode")
    root = tempfile.mkdtemp(prefix="minik8s-kubelet-")
    k = KubeletProc(server_url, node, root).start()
    try:
        keep = make_pod(api, node, [{"name": "a", "image": "busybox", "command": [
            "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}])
        drop = make_pod(api, node, [{"name": "a", "image": "busybox", "command": [
            "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}],
            volumes=[{"name": "v", "emptyDir": {}}])
        for p in (keep, drop):
            wait_pod(api, p, lambda g: g.status.phase == "Running", what="Running")
        before = sorted(c.id for c in pod_containers(dk, keep.metadata.uid or ""))
        import signal
        k.stop(signal.SIGKILL)
        # deleted while its kubelet is down
        api.delete(Pod, drop.metadata.name or "", "default", grace_period_seconds=0)
        k = KubeletProc(server_url, node, root).start()
        wait_for(lambda: pod_containers(dk, drop.metadata.uid or "") == [], timeout=15,
                 message="containers of the pod deleted meanwhile removed")
        got = wait_pod(api, keep, lambda g: g.status.phase == "Running", what="still Running")
        time.sleep(3)  # give a wrong kubelet the time to make duplicates
        after = sorted(c.id for c in pod_containers(dk, keep.metadata.uid or ""))
        assert after == before
        assert all(c.status == "running" for c in pod_containers(dk, keep.metadata.uid or ""))
        assert cs(api.get(Pod, keep.metadata.name or "", "default"))["restartCount"] == 0
        assert got.status and got.status.pod_ip
        assert not (Path(root) / "pods" / (drop.metadata.uid or "")).exists()
        delete_now(api, keep)
    finally:
        k.stop()
        cleanup(dk, node)
        shutil.rmtree(root, ignore_errors=True)




def test_host_port_and_start_error(api: Client, kubelet: KubeletProc) -> None:
    port = free_port()
    web = make_pod(api, kubelet.node, [{
        "name": "web", "image": "busybox", "command": [
            "sh", "-c", "mkdir -p /w && echo via-host-port > /w/index.html && exec httpd -f -p 80 -h /w"],
        "ports": [{"containerPort": 80, "hostPort": port}]}])
    bad = make_pod(api, kubelet.node, [{"name": "bad", "image": "busybox",
                                        "command": ["/no/such/binary"]}])
    wait_pod(api, web, lambda g: g.status.phase == "Running", what="Running")
    body = wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read(),
                    timeout=10, message="hostPort reachable")
    assert body.decode().strip() == "via-host-port"
    got = wait_pod(api, bad, lambda g: cs(g)["restartCount"] >= 1
                   and (cs(g)["lastState"].get("terminated") or {}).get("reason") == "StartError",
                   timeout=20, what="StartError restarts")
    assert "/no/such/binary" in cs(got)["lastState"]["terminated"].get("message", "")
    delete_now(api, web)
    delete_now(api, bad)


def test_init_container_prepares_a_volume(api: Client, kubelet: KubeletProc) -> None:
    p = make_pod(api, kubelet.node, [{
        "name": "app", "image": "busybox", "command": [
            "sh", "-c", "cat /work/msg; trap 'exit 0' TERM; while true; do sleep 0.2; done"],
        "volumeMounts": [{"name": "work", "mountPath": "/work"}]}],
        initContainers=[{"name": "prep", "image": "busybox", "command": [
            "sh", "-c", "sleep 1; echo prepared-by-init > /work/msg"],
            "volumeMounts": [{"name": "work", "mountPath": "/work"}]}],
        volumes=[{"name": "work", "emptyDir": {}}])
    got = wait_pod(api, p, lambda g: g.status.phase == "Running", timeout=20, what="Running")
    assert cond(got, "Initialized") == "True"
    assert got.status and got.status.init_container_statuses
    assert got.status.init_container_statuses[0].to_dict()["state"]["terminated"]["exitCode"] == 0
    logs = wait_for(lambda: api.pod_logs(p.metadata.name or "", "default", container="app"),
                    timeout=10, message="app logs")
    assert logs.strip() == "prepared-by-init"
    delete_now(api, p)


def test_kubelet_endpoint_directly(api: Client, kubelet: KubeletProc) -> None:
    p = make_pod(api, kubelet.node, [{"name": "say", "image": "busybox", "command": [
        "sh", "-c", "echo line1; echo line2; trap 'exit 0' TERM; while true; do sleep 0.2; done"]}])
    wait_pod(api, p, lambda g: g.status.phase == "Running", what="Running")
    base = f"http://127.0.0.1:{kubelet.port}/containerLogs/default/{p.metadata.name}/say"
    text = wait_for(lambda: (t := urllib.request.urlopen(base, timeout=2).read().decode())
                    and "line2" in t and t, timeout=10, message="logs")
    assert text == "line1\nline2\n"
    tail = urllib.request.urlopen(base + "?tailLines=1&timestamps=true", timeout=2).read().decode()
    assert tail.endswith(" line2\n") and tail.startswith("20")
    # follow streams and ends when the reader goes away, here and through the API server
    with urllib.request.urlopen(base + "?follow=true", timeout=5) as r:
        assert r.readline() == b"line1\n"
    stream = api.pod_logs(p.metadata.name or "", "default", follow=True)
    first = next(iter(stream))
    assert first.startswith("line1")
    close = getattr(stream, "close", None)
    if close is not None:
        close()
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{kubelet.port}/metrics",
                                     timeout=2).read().decode()
    assert f'kubelet_pods{{node="{kubelet.node}",phase="Running"}}' in metrics
    assert f'kubelet_pod_start_duration_seconds_count{{node="{kubelet.node}"}}' in metrics
    assert f'kubelet_runtime_ready{{node="{kubelet.node}"}} 1.0' in metrics
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{kubelet.port}/containerLogs/default/nope/x",
                               timeout=2)
        raise AssertionError("expected 404")
    except urllib.error.HTTPError as e:
        assert e.code == 404 and e.read() == b'pod "nope" does not exist'
    delete_now(api, p)


class SocketProxy:
    """A unix socket in front of the Docker daemon's: stopping it looks, to the kubelet,
    like the daemon going away (connections cut, nothing listening) without taking down
    the daemon that everything else on this machine shares."""

    def __init__(self, path: str, target: str = "/var/run/docker.sock") -> None:
        self.path = path
        self.target = target
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(self.path)
        ls.listen(64)
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                a, _ = ls.accept()
            except OSError:
                return
            b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                b.connect(self.target)
            except OSError:
                a.close()
                continue
            with self._lock:
                self._conns += [a, b]
            for src, dst in ((a, b), (b, a)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass
        if os.path.exists(self.path):
            os.unlink(self.path)


def node_ready(api: Client, node: str) -> str | None:
    from api.models import Node

    n = api.get(Node, node)
    return next((c.status for c in (n.status.conditions if n.status else None) or []
                 if c.type == "Ready"), None)


def test_docker_daemon_restart_is_survived(server_url: str, api: Client, dk: Any) -> None:
    node = unique("knode")
    root = tempfile.mkdtemp(prefix="minik8s-kubelet-")
    sock = os.path.join(root, "docker.sock")
    proxy = SocketProxy(sock)
    # the kubelet starts while Docker is away: it registers NotReady and waits
    k = KubeletProc(server_url, node, root, docker_host=f"unix://{sock}").start()
    try:
        wait_for(lambda: node_ready(api, node) == "False", timeout=10,
                 message="node NotReady without a runtime")
        proxy.start()
        wait_for(lambda: node_ready(api, node) == "True", timeout=10, message="node Ready")
        from api.models import Node

        info = api.get(Node, node).status
        assert info and info.node_info and (info.node_info.container_runtime_version or ""
                                            ).startswith("docker://20.")
        p = make_pod(api, node, [{"name": "a", "image": "busybox", "command": [
            "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}])
        wait_pod(api, p, lambda g: g.status.phase == "Running", what="Running")
        uid = p.metadata.uid or ""
        wait_for(lambda: node_ready(api, node) == "True", timeout=10, message="node Ready")
        # the daemon goes away, and its containers die with it
        proxy.stop()
        for c in pod_containers(dk, uid):
            c.kill()
        wait_for(lambda: node_ready(api, node) == "False", timeout=10,
                 message="node NotReady while the runtime is down")
        proxy.start()
        got = wait_pod(api, p, lambda g: g.status.phase == "Running"
                       and "running" in cs(g)["state"] and cs(g)["restartCount"] >= 1,
                       timeout=20, what="pod back after the daemon returned")
        wait_for(lambda: node_ready(api, node) == "True", timeout=10, message="node Ready again")
        running = [c for c in pod_containers(dk, uid) if c.status == "running"]
        kinds = sorted(c.labels["io.kubernetes.container.name"] for c in running)
        assert kinds == ["POD", "a"], "exactly one sandbox and one app container run"
        assert got.status and got.status.pod_ip
        delete_now(api, p)
    finally:
        k.stop()
        proxy.stop()
        cleanup(dk, node)
        shutil.rmtree(root, ignore_errors=True)


async def test_runtime_name_conflicts_only_replace_own_leftovers(dk: Any) -> None:
    from kubelet.containerconfig import sandbox_config
    from kubelet.runtime.base import ContainerCreateError
    from kubelet.runtime.docker import DockerRuntime

    node, other = unique("cnode"), unique("cnode")
    root = tempfile.mkdtemp(prefix="minik8s-kubelet-")
    rt = DockerRuntime(root_dir=root)
    p = Pod.from_dict({"metadata": {"name": unique("cf"), "namespace": "default",
                                    "uid": unique("uid")},
                       "spec": {"containers": [{"name": "a", "image": "busybox"}]}})
    try:
        first = await rt.run_sandbox(sandbox_config(p, node, 0))
        second = await rt.run_sandbox(sandbox_config(p, node, 0))  # same name: our own leftover goes
        assert first.id != second.id and second.ip
        assert [c.id for c in await rt.list_containers(node)] == [second.id]
        with pytest.raises(ContainerCreateError, match="Conflict"):
            await rt.run_sandbox(sandbox_config(p, other, 0))  # another node's container is never touched
        assert [c.id for c in await rt.list_containers(node)] == [second.id]
    finally:
        await rt.close()
        cleanup(dk, node)
        cleanup(dk, other)
        shutil.rmtree(root, ignore_errors=True)
