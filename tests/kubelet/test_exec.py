"""kubectl exec / minictl exec: the channel protocol over WebSocket, end to end.

Part one drives the API server's pods/{name}/exec with a raw WebSocket client against an
in-process kubelet on the fake runtime (whose tiny shell knows echo, cat and exit), so the
exact frames and Status bodies can be checked. Part two runs the real kubectl and minictl
against a kubelet process on Docker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
from tests.kubelet.helpers import kubelet_on_docker, on_pty

Frames = list[tuple[int, bytes]]


# ---- part one: the protocol, on the fake runtime -------------------------------------


class FakeNode:
    def __init__(self, server: str) -> None:
        self.name = unique("enode")
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


async def running_pod(n: FakeNode, containers: tuple[str, ...] = ("c",)) -> str:
    p = Pod.from_dict({"metadata": {"name": unique("ep"), "namespace": "default"},
                       "spec": {"nodeName": n.name, "terminationGracePeriodSeconds": 1,
                                "containers": [{"name": c, "image": "busybox"}
                                               for c in containers]}})
    created = await n.client.create(p)
    name = created.metadata.name or ""

    async def running() -> bool:
        got = await n.client.get(Pod, name, "default")
        return bool(got.status and got.status.phase == "Running")
    await async_wait_for(running, timeout=10, message="pod Running")
    return name


def exec_params(command: list[str], container: str | None = None, stdin: bool = False,
                tty: bool = False) -> list[tuple[str, str]]:
    q = [("command", c) for c in command]
    q += [("stdin", str(stdin).lower()), ("stdout", "true"), ("stderr", str(not tty).lower()),
          ("tty", str(tty).lower())]
    return q + ([("container", container)] if container else [])


async def ws_exec(server: str, pod: str, command: list[str], container: str | None = None,
                  stdin: bytes | None = None, tty: bool = False,
                  protocols: tuple[str, ...] = rc.PROTOCOLS,
                  send: list[bytes] | None = None) -> tuple[str | None, Frames, int | None]:
    """Run one exec as kubectl does; returns (subprotocol, frames received, close code)."""
    url = f"{server}/api/v1/namespaces/default/pods/{pod}/exec"
    frames: Frames = []
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url, params=exec_params(command, container, stdin is not None,
                                                        tty), protocols=protocols) as ws:
            for m in send or []:
                await ws.send_bytes(m)
            if stdin is not None:
                await ws.send_bytes(bytes([rc.STDIN]) + stdin)
                if ws.protocol == rc.PROTOCOL_V5:
                    await ws.send_bytes(bytes([rc.CLOSE, rc.STDIN]))
            async for msg in ws:
                assert msg.type == aiohttp.WSMsgType.BINARY, msg
                frames.append((msg.data[0], msg.data[1:]))
            return ws.protocol, frames, ws.close_code


def joined(frames: Frames, channel: int) -> bytes:
    return b"".join(d for c, d in frames if c == channel)


def status_of(frames: Frames) -> dict[str, Any]:
    return dict(json.loads(joined(frames, rc.ERROR)))


async def test_exec_stdout_stderr_and_exit_status(server_url: str, node: FakeNode) -> None:
    pod = await running_pod(node, ("c", "side"))
    proto, frames, code = await ws_exec(
        server_url, pod, ["sh", "-c", "echo out; echo err >&2; exit 3"], container="side")
    assert proto == rc.PROTOCOL_V5 and code == 1000
    # As the kubelet does: an empty message on the lowest output channel comes first.
    assert frames[0] == (rc.STDOUT, b"")
    assert joined(frames, rc.STDOUT) == b"out\n" and joined(frames, rc.STDERR) == b"err\n"
    assert status_of(frames) == {
        "metadata": {}, "status": "Failure",
        "message": "command terminated with non-zero exit code: error executing command "
                   "[sh -c echo out; echo err >&2; exit 3], exit code 3",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}
    assert frames[-1][0] == rc.ERROR  # the Status is the last word
    _, frames, _ = await ws_exec(server_url, pod, ["echo", "hi"], container="c")
    assert joined(frames, rc.STDOUT) == b"hi\n"
    assert status_of(frames) == {"metadata": {}, "status": "Success"}
    # A command the container lacks: the shell's 127, stderr says why.
    _, frames, _ = await ws_exec(server_url, pod, ["nope"], container="c")
    assert b"not found" in joined(frames, rc.STDERR)
    assert status_of(frames)["details"]["causes"][0]["message"] == "127"


async def test_exec_stdin_close_signal_v5_and_v4(server_url: str, node: FakeNode) -> None:
    pod = await running_pod(node)
    proto, frames, _ = await ws_exec(server_url, pod, ["cat"], stdin=b"hello\n")
    assert proto == rc.PROTOCOL_V5
    assert joined(frames, rc.STDOUT) == b"hello\n"
    assert status_of(frames)["status"] == "Success"
    # v4 has no close signal; a command that does not read stdin still ends the stream.
    proto, frames, _ = await ws_exec(server_url, pod, ["echo", "v4"], stdin=b"ignored",
                                     protocols=(rc.PROTOCOL_V4,))
    assert proto == rc.PROTOCOL_V4 and joined(frames, rc.STDOUT) == b"v4\n"


async def test_exec_tty_merges_streams_and_resizes(server_url: str, node: FakeNode) -> None:
    pod = await running_pod(node)
    resize = bytes([rc.RESIZE]) + b'{"Width":120,"Height":40}'
    _, frames, _ = await ws_exec(server_url, pod, ["sh", "-c", "echo a; cat; echo b >&2"],
                                 stdin=b"x", tty=True, send=[resize])
    assert joined(frames, rc.STDERR) == b""
    assert joined(frames, rc.STDOUT) == b"a\r\nxb\r\n"
    assert node.runtime.exec_sessions[-1].resizes == [(120, 40)]


async def test_client_leaving_ends_the_session(server_url: str, node: FakeNode) -> None:
    pod = await running_pod(node)
    url = f"{server_url}/api/v1/namespaces/default/pods/{pod}/exec"
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url, params=exec_params(["cat"], stdin=True),
                                protocols=rc.PROTOCOLS) as ws:
            assert (await ws.receive_bytes()) == bytes([rc.STDOUT])
            await ws.send_bytes(bytes([rc.STDIN]) + b"ping")
            assert (await ws.receive_bytes()) == bytes([rc.STDOUT]) + b"ping"
            session = node.runtime.exec_sessions[-1]
            assert not session.closed
    # Still reading stdin when the client went: the kubelet ends the command's session.
    await async_wait_for(lambda: session.closed, timeout=5, message="session closed")


async def test_exec_refusals_are_statuses(server_url: str, node: FakeNode) -> None:
    pod = await running_pod(node, ("c", "side"))
    base = f"{server_url}/api/v1/namespaces/default/pods"

    async def refused(path: str, params: list[tuple[str, str]]) -> int:
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.WSServerHandshakeError) as ei:
                await s.ws_connect(f"{base}/{path}", params=params, protocols=rc.PROTOCOLS)
            return ei.value.status

    def http(path: str, params: list[tuple[str, str]]) -> tuple[int, Any]:
        from urllib.parse import urlencode
        return json_request("POST", f"{base}/{path}?{urlencode(params)}")

    cases = [
        ("ghost/exec", exec_params(["true"]), 404, "NotFound", 'pods "ghost" not found'),
        (f"{pod}/exec", exec_params(["true"], "nope"), 400, "BadRequest",
         f"container nope is not valid for pod {pod}"),
        (f"{pod}/exec", exec_params(["true"]), 400, "BadRequest",
         f"a container name must be specified for pod {pod}, choose one of: [c side]"),
        (f"{pod}/exec", exec_params([], "c"), 400, "BadRequest",
         "you must specify at least 1 command"),
    ]
    for path, params, code, reason, message in cases:
        assert await refused(path, params) == code, path
        # The same checks answer a plain request (kubectl's SPDY fallback) with the Status.
        got_code, st = http(path, params)
        assert (got_code, st["reason"], st["message"]) == (code, reason, message)
    got_code, st = http(f"{pod}/exec", exec_params(["true"], "c"))
    assert got_code == 400 and "Upgrade request required" in st["message"]
    unbound = await node.client.create(Pod.from_dict({
        "metadata": {"name": unique("ub"), "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
    got_code, st = http(f"{unbound.metadata.name}/exec", exec_params(["true"]))
    assert got_code == 400 and "does not have a host assigned" in st["message"]
    # Discovery lists the subresource as Kubernetes does.
    _, v1 = json_request("GET", f"{server_url}/api/v1")
    ex = next(r for r in v1["resources"] if r["name"] == "pods/exec")
    assert ex["kind"] == "PodExecOptions" and sorted(ex["verbs"]) == ["create", "get"]


# ---- part two: kubectl and minictl on Docker -----------------------------------------


@pytest.fixture(scope="module")
def docker_pod(server_url: str, dk: Any) -> Iterator[str]:
    """A running busybox pod on a kubelet process driving Docker."""
    with kubelet_on_docker(server_url, dk, "xnode") as k, Client(server_url) as api:
        p = api.create(Pod.from_dict({
            "metadata": {"name": unique("xp"), "namespace": "default"},
            "spec": {"nodeName": k.node, "terminationGracePeriodSeconds": 1, "containers": [
                {"name": "main", "image": "busybox", "imagePullPolicy": "Never",
                 "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]},
                {"name": "side", "image": "busybox", "imagePullPolicy": "Never",
                 "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]}]}}))
        name = p.metadata.name or ""

        def running() -> bool:
            got = api.get(Pod, name, "default")
            return bool(got.status and got.status.phase == "Running")
        wait_for(running, timeout=30, message="docker pod Running")
        yield name


@pytest.mark.docker
def test_kubectl_exec_on_docker(kubectl: Kubectl, docker_pod: str) -> None:
    r = kubectl.binary("exec", docker_pod, "-c", "main", "--", "echo", "hi", check=False)
    assert (r.returncode, r.stdout) == (0, b"hi\n"), r.stderr
    # No -c: kubectl picks the first container and says so.
    r = kubectl.binary("exec", docker_pod, "--", "sh", "-c", "exit 3", check=False)
    assert r.returncode == 3, r.stderr
    assert b"command terminated with exit code 3" in r.stderr
    r = kubectl.binary("exec", "-i", docker_pod, "-c", "side", "--", "cat", stdin=b"hello\n",
                       check=False)
    assert (r.returncode, r.stdout) == (0, b"hello\n"), r.stderr
    r = kubectl.binary("exec", docker_pod, "-c", "main", "--", "sh", "-c",
                       "echo out; echo oops >&2", check=False)
    assert (r.returncode, r.stdout) == (0, b"out\n") and b"oops\n" in r.stderr
    r = kubectl.binary("exec", "ghost", "--", "true", check=False)
    assert r.returncode == 1 and b'pods "ghost" not found' in r.stderr, r.stderr


@pytest.mark.docker
def test_kubectl_exec_tty_on_docker(kubectl: Kubectl, docker_pod: str) -> None:
    """``-it`` on a terminal: the remote shell sees a tty of the terminal's size."""
    # The resize message follows the start of the command: the shell waits for it.
    # (busybox stty prints nothing for a 0x0 terminal; the runner's timeout bounds the wait)
    script = ('tty; until stty size >/tmp/sz 2>/dev/null && [ -s /tmp/sz ]; do sleep 0.1; done; '
              'echo "size $(cat /tmp/sz)"; exit 4')
    code, text = on_pty([*kubectl.argv, "exec", "-it", docker_pod, "-c", "main", "--", "sh",
                         "-c", script], kubectl.env)
    assert code == 4, text
    assert "/dev/pts/" in text and "size 33 101" in text


def minictl(server: str, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "cli", "-s", server, *args], input=stdin,
                          capture_output=True, timeout=30)


@pytest.mark.docker
def test_minictl_exec_on_docker(server_url: str, kubectl: Kubectl, docker_pod: str) -> None:
    r = minictl(server_url, "exec", docker_pod, "-c", "main", "--", "echo", "hi")
    assert (r.returncode, r.stdout) == (0, b"hi\n"), r.stderr
    r = minictl(server_url, "exec", docker_pod, "--", "sh", "-c", "echo out; echo oops >&2; exit 3")
    assert (r.returncode, r.stdout) == (3, b"out\n"), r.stderr
    assert r.stderr.decode().splitlines() == [
        'Defaulted container "main" out of: main, side', "oops",
        "command terminated with exit code 3"]
    r = minictl(server_url, "exec", "-i", docker_pod, "-c", "side", "--", "cat",
                stdin=b"hello\n")
    assert (r.returncode, r.stdout) == (0, b"hello\n"), r.stderr
    # Failures: exit 1 and kubectl's words.
    for args, message in [
            (("exec", "ghost", "--", "true"), 'Error from server (NotFound): pods "ghost" not found'),
            (("exec", docker_pod, "-c", "nope", "--", "true"),
             f"error: container nope is not valid for pod {docker_pod} out of: main, side"),
            (("exec", docker_pod), "error: you must specify at least one command for the container"),
            (("exec", docker_pod, "true"), "error: exec [POD] [COMMAND] is not supported "
                                           "anymore. Use exec [POD] -- [COMMAND] instead")]:
        # (usage errors add a second line pointing at --help, as kubectl's do)
        r = minictl(server_url, *args)
        assert (r.returncode, r.stderr.decode().splitlines()[0]) == (1, message), args
        if "NotFound" not in message:
            r = kubectl.binary(*args, check=False)
            assert (r.returncode, r.stderr.decode().splitlines()[0]) == (1, message), args
    # A command the image lacks: Docker's error on stdout and 126, for both clients.
    r = minictl(server_url, "exec", docker_pod, "-c", "main", "--", "/nonexistent")
    k = kubectl.binary("exec", docker_pod, "-c", "main", "--", "/nonexistent", check=False)
    assert r.returncode == k.returncode == 126 and r.stdout == k.stdout
    assert b"no such file or directory" in r.stdout


@pytest.mark.docker
def test_minictl_exec_tty_on_docker(server_url: str, docker_pod: str) -> None:
    script = ('tty; until stty size >/tmp/sz 2>/dev/null && [ -s /tmp/sz ]; do sleep 0.1; done; '
              'echo "size $(cat /tmp/sz)"; exit 4')
    code, text = on_pty([sys.executable, "-m", "cli", "-s", server_url, "exec", "-it",
                         docker_pod, "-c", "main", "--", "sh", "-c", script], dict(os.environ))
    assert code == 4, text
    assert "/dev/pts/" in text and "size 33 101" in text
