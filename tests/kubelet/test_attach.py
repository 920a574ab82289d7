"""kubectl attach and kubectl run -i/-it --rm: the exec channel protocol on pods/{name}/attach.

Part one drives the API server with a raw WebSocket against a kubelet on the fake runtime
(whose attached "process" is cat); part two runs the real kubectl against a kubelet
process on Docker.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from api import remotecommand as rc
from api.models import Pod
from client.rest import AsyncClient, Client
from kubelet.agent import KubeletAgent
from kubelet.kubelet import KubeletConfig
from kubelet.runtime.base import ContainerRuntime
from kubelet.runtime.fake import FakeRuntime
from testing.kubectl import Kubectl
from testing.support import async_wait_for, free_port, json_request, unique, wait_for
from tests.kubelet.helpers import KubeletProc, kubelet_on_docker, on_pty

# ---- part one: the protocol, on the fake runtime -------------------------------------


class FakeNode:
    def __init__(self, server: str) -> None:
        self.name = unique("anode")
        self.runtime = FakeRuntime()
        cfg = KubeletConfig(node_name=self.name, port=free_port(), relist_seconds=1.0)

        def factory(_: str) -> ContainerRuntime:
            return self.runtime
        self.agent = KubeletAgent(server, factory, cfg, bind_address="127.0.0.1")
        self.client = AsyncClient(server)


@pytest.fixture
async def node(server_url: str) -> AsyncIterator[FakeNode]:
    n = FakeNode(server_url)
    await n.agent.start()
    yield n
    await n.agent.stop()
    await n.client.close()


async def running_pod(n: FakeNode) -> str:
    p = await n.client.create(Pod.from_dict({
        "metadata": {"name": unique("ap"), "namespace": "default"},
        "spec": {"nodeName": n.name, "terminationGracePeriodSeconds": 1, "containers": [
            {"name": "c", "image": "busybox", "stdin": True, "tty": False}]}}))
    name = p.metadata.name or ""

    async def running() -> bool:
        got = await n.client.get(Pod, name, "default")
        return bool(got.status and got.status.phase == "Running")
    await async_wait_for(running, timeout=10, message="pod Running")
    return name


async def test_attach_relays_stdin_and_output_and_ends_with_success(
        server_url: str, node: FakeNode) -> None:
    pod = await running_pod(node)
    url = f"{server_url}/api/v1/namespaces/default/pods/{pod}/attach"
    params = {"container": "c", "stdin": "true", "stdout": "true", "stderr": "true"}
    frames: list[tuple[int, bytes]] = []
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url, params=params, protocols=rc.PROTOCOLS) as ws:
            assert ws.protocol == rc.PROTOCOL_V5
            await ws.send_bytes(bytes([rc.STDIN]) + b"hello\n")
            await ws.send_bytes(bytes([rc.RESIZE]) + b'{"Width":80,"Height":24}')
            await ws.send_bytes(bytes([rc.CLOSE, rc.STDIN]))
            async for msg in ws:
                frames.append((msg.data[0], msg.data[1:]))
    assert frames[0] == (rc.STDOUT, b"")
    assert b"".join(d for c, d in frames if c == rc.STDOUT) == b"hello\n"
    assert json.loads(b"".join(d for c, d in frames if c == rc.ERROR)) == {
        "metadata": {}, "status": "Success"}
    assert node.runtime.attach_sessions[-1].resizes == [(80, 24)]
    assert node.runtime.exec_sessions == []  # an attach, not an exec


async def test_attach_refusals_are_statuses(server_url: str, node: FakeNode) -> None:
    pod = await running_pod(node)
    base = f"{server_url}/api/v1/namespaces/default/pods"
    for path, params, message in [
            (f"{pod}/attach", "stdout=true&container=nope", f"container nope is not valid for pod {pod}"),
            (f"{pod}/attach", "container=c", "you must specify at least one of stdin, stdout, stderr"),
            (f"{pod}/attach", "stdout=true", "Upgrade request required: attach is served over "
                                             "WebSocket")]:
        code, st = json_request("POST", f"{base}/{path}?{params}")
        assert (code, st["reason"]) == (400, "BadRequest") and st["message"].startswith(message)
    code, st = json_request("POST", f"{base}/ghost/attach?stdout=true")
    assert (code, st["message"]) == (404, 'pods "ghost" not found')
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as ei:
            await s.ws_connect(f"{base}/{pod}/attach?container=nope&stdout=true",
                               protocols=rc.PROTOCOLS)
        assert ei.value.status == 400
    _, v1 = json_request("GET", f"{server_url}/api/v1")
    entry = next(r for r in v1["resources"] if r["name"] == "pods/attach")
    assert entry["kind"] == "PodAttachOptions" and sorted(entry["verbs"]) == ["create", "get"]


# ---- part two: kubectl on Docker ------------------------------------------------------


@pytest.fixture(scope="module")
def docker_node(server_url: str, dk: Any) -> Iterator[KubeletProc]:
    with kubelet_on_docker(server_url, dk, "atnode") as k:
        yield k


@pytest.mark.docker
def test_kubectl_attach_to_a_printing_container(server_url: str, kubectl: Kubectl,
                                                docker_node: KubeletProc) -> None:
    with Client(server_url) as api:
        p = api.create(Pod.from_dict({
            "metadata": {"name": unique("at"), "namespace": "default"},
            "spec": {"nodeName": docker_node.node, "terminationGracePeriodSeconds": 1,
                     "containers": [{
                         "name": "main", "image": "busybox", "imagePullPolicy": "Never",
                         "command": ["sh", "-c", "trap 'exit 0' TERM; i=0; while [ $i -lt 600 ]; "
                                     "do echo tick $i; i=$((i+1)); sleep 0.1; done"]}]}}))
        name = p.metadata.name or ""

        def running() -> bool:
            got = api.get(Pod, name, "default")
            return bool(got.status and got.status.phase == "Running")
        wait_for(running, timeout=30, message="pod Running")
    proc = kubectl.popen("attach", name)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        seen: list[str] = []
        while time.monotonic() < deadline and len([s for s in seen if "tick" in s]) < 3:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
        assert len([s for s in seen if s.startswith("tick ")]) >= 3, seen
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_args(docker_node: KubeletProc, name: str) -> list[str]:
    overrides = json.dumps({"apiVersion": "v1",
                            "spec": {"nodeName": docker_node.node,
                                     "terminationGracePeriodSeconds": 1}})
    # Never pull: the image is built locally, and nothing may leave the machine.
    return ["run", name, "--rm", "--restart=Never", "--image=minik8s/busybox:latest",
            "--image-pull-policy=Never", f"--overrides={overrides}", "--pod-running-timeout=60s"]


@pytest.mark.docker
def test_kubectl_run_it_rm(server_url: str, kubectl: Kubectl,
                           docker_node: KubeletProc) -> None:
    name = unique("t")
    code, text = on_pty([*kubectl.argv, *run_args(docker_node, name), "-it", "--", "sh", "-c",
                         "sleep 1; echo hi; tty"], kubectl.env, timeout=60)
    assert code == 0, text
    assert "hi" in text and "/dev/pts/" in text, text
    assert f'pod "{name}" deleted' in text, text
    wait_for(lambda: json_request(
        "GET", f"{server_url}/api/v1/namespaces/default/pods/{name}")[0] == 404,
        timeout=30, message="pod deleted")


@pytest.mark.docker
def test_kubectl_run_i_rm_sends_stdin(kubectl: Kubectl, docker_node: KubeletProc) -> None:
    name = unique("t")
    r = subprocess.run([*kubectl.argv, *run_args(docker_node, name), "-i", "--", "cat"],
                       input=b"hello\n", capture_output=True, env=kubectl.env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert b"hello\n" in r.stdout, (r.stdout, r.stderr)
    assert f'pod "{name}" deleted'.encode() in r.stdout + r.stderr
