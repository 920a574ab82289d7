"""kubectl port-forward / minictl port-forward: SPDY/3.1 tunnelled in WebSocket, relayed by
the API server to the kubelet, which connects to the pod's IP.

Part one runs the real kubectl against an in-process kubelet on the fake runtime whose
sandboxes get 127.0.0.1 as their IP, so the "pod" is a small HTTP server the test starts
on loopback. Part two forwards to nginx in a pod on Docker.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from api import portforward as pf
from api.models import Pod
from client.rest import AsyncClient
from kubelet.agent import KubeletAgent
from kubelet.kubelet import KubeletConfig
from kubelet.runtime.base import ContainerRuntime
from kubelet.runtime.fake import FakeRuntime
from testing.kubectl import Kubectl
from testing.support import async_wait_for, free_port, unique
from tests.kubelet.helpers import kubelet_on_docker

FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)")


class LoopbackNode:
    """A kubelet on the fake runtime whose pods' IP is 127.0.0.1."""

    def __init__(self, server: str) -> None:
        self.name = unique("pfnode")
        self.runtime = FakeRuntime()
        self.runtime.sandbox_ip = "127.0.0.1"
        cfg = KubeletConfig(node_name=self.name, port=free_port(), relist_seconds=1.0)

        def factory(_: str) -> ContainerRuntime:
            return self.runtime
        self.agent = KubeletAgent(server, factory, cfg, bind_address="127.0.0.1")
        self.client = AsyncClient(server)

    async def running_pod(self, labels: dict[str, str] | None = None) -> str:
        p = await self.client.create(Pod.from_dict({
            "metadata": {"name": unique("pf"), "namespace": "default", "labels": labels or {}},
            "spec": {"nodeName": self.name, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "web", "image": "busybox"}]}}))
        name = p.metadata.name or ""

        async def running() -> bool:
            got = await self.client.get(Pod, name, "default")
            return bool(got.status and got.status.phase == "Running")
        await async_wait_for(running, timeout=10, message="pod Running")
        return name


@pytest.fixture
async def node(server_url: str) -> AsyncIterator[LoopbackNode]:
    n = LoopbackNode(server_url)
    await n.agent.start()
    yield n
    await n.agent.stop()
    await n.client.close()


@pytest.fixture
async def web_port() -> AsyncIterator[int]:
    """An HTTP server on loopback: GET /x answers "hello x"; POST /echo echoes the body."""
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"hello {request.match_info['x']}")

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    app = web.Application(client_max_size=64 << 20)
    app.router.add_get("/{x}", hello)
    app.router.add_post("/echo", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port
    await runner.cleanup()


class Forward:
    """A running ``kubectl port-forward`` (or minictl's); ``local`` once it listens."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.local = 0

    @classmethod
    async def start(cls, argv: list[str], env: dict[str, str] | None = None,
                    wait: bool = True) -> Forward:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env)
        f = cls(proc)
        if wait:
            await f.wait_line(FORWARDING)
            m = FORWARDING.search("\n".join(f.lines))
            assert m is not None
            f.local = int(m.group(1))
        return f

    async def wait_line(self, pattern: re.Pattern[str], timeout: float = 20) -> str:
        assert self.proc.stdout is not None

        async def read() -> str:
            assert self.proc.stdout is not None
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise AssertionError("port-forward ended:\n" + "\n".join(self.lines))
                line = raw.decode(errors="replace").rstrip("\n")
                self.lines.append(line)
                if pattern.search(line):
                    return line
        for line in self.lines:
            if pattern.search(line):
                return line
        return await asyncio.wait_for(read(), timeout)

    async def rest(self, timeout: float = 10) -> str:
        """Everything it prints until it ends (within ``timeout``)."""
        assert self.proc.stdout is not None
        out = await asyncio.wait_for(self.proc.stdout.read(), timeout)
        self.lines += out.decode(errors="replace").splitlines()
        return "\n".join(self.lines)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def get(port: int, path: str, session: aiohttp.ClientSession | None = None) -> str:
    async with aiohttp.ClientSession() as s:
        async with (session or s).get(f"http://127.0.0.1:{port}{path}",
                                      timeout=aiohttp.ClientTimeout(total=10)) as r:
            assert r.status == 200
            return await r.text()


async def test_kubectl_port_forward_pod(kubectl: Kubectl, node: LoopbackNode,
                                        web_port: int) -> None:
    pod = await node.running_pod()
    f = await Forward.start([*kubectl.argv, "port-forward", f"pod/{pod}", f":{web_port}"],
                            kubectl.env)
    try:
        assert await get(f.local, "/one") == "hello one"
        # Several connections at once, each its own stream pair.
        got = await asyncio.gather(*(get(f.local, f"/c{i}") for i in range(8)))
        assert got == [f"hello c{i}" for i in range(8)]
        # A body larger than one frame both ways.
        body = bytes(range(256)) * 4096  # 1 MiB
        async with aiohttp.ClientSession() as s:
            async with s.post(f"http://127.0.0.1:{f.local}/echo", data=body) as r:
                assert await r.read() == body
        await f.wait_line(re.compile("Handling connection for"))
    finally:
        await f.stop()


async def test_kubectl_port_forward_closed_port_reports_the_kubelet_error(
        kubectl: Kubectl, node: LoopbackNode) -> None:
    pod = await node.running_pod()
    closed = free_port()  # nothing listens there
    f = await Forward.start([*kubectl.argv, "port-forward", f"pod/{pod}", f":{closed}"],
                            kubectl.env)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", f.local)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        try:  # closed without an answer (a reset when kubectl had unread bytes)
            assert await asyncio.wait_for(reader.read(), 10) == b""
        except ConnectionResetError:
            pass
        writer.close()
        out = await f.rest(timeout=15)
        # kubectl logs the error stream's message and gives up, as against a real kubelet.
        assert '"An error occurred forwarding" err="error forwarding port ' \
            f'{closed} to pod ' in out, out
        assert f"uid : dial tcp 127.0.0.1:{closed}: connect: connection refused" in out, out
        assert f"localPort={f.local} remotePort={closed}" in out, out
        assert "error: lost connection to pod" in out, out
        assert await f.proc.wait() == 1
    finally:
        await f.stop()


async def test_refusals(server_url: str, kubectl: Kubectl, node: LoopbackNode) -> None:
    r = kubectl("port-forward", "pod/ghost", ":80", check=False)
    assert r.returncode == 1 and 'pods "ghost" not found' in r.stderr, r.stderr
    base = f"{server_url}/api/v1/namespaces/default/pods"
    async with aiohttp.ClientSession() as s:
        # No node yet: PortForwardLocation's BadRequest, before the upgrade.
        unbound = await node.client.create(Pod.from_dict({
            "metadata": {"name": unique("ub"), "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
        with pytest.raises(aiohttp.WSServerHandshakeError) as ei:
            await s.ws_connect(f"{base}/{unbound.metadata.name}/portforward",
                               protocols=(pf.TUNNELING_PROTOCOL,))
        assert ei.value.status == 400
        async with s.post(f"{base}/{unbound.metadata.name}/portforward") as resp:
            st: dict[str, Any] = await resp.json()
        assert (resp.status, st["reason"]) == (400, "BadRequest")
        assert st["message"] == f"pod {unbound.metadata.name} does not have a host assigned"
        # A client offering only other protocols is refused with a Status too.
        pod = await node.running_pod()
        with pytest.raises(aiohttp.WSServerHandshakeError) as ei:
            await s.ws_connect(f"{base}/{pod}/portforward", protocols=("v4.channel.k8s.io",))
        assert ei.value.status == 400
        # The plain request (kubectl's SPDY fallback) gets the checks, then 400.
        async with s.post(f"{base}/{pod}/portforward") as resp:
            st = await resp.json()
        assert resp.status == 400 and "Upgrade request required" in st["message"]
        async with s.get(f"{server_url}/api/v1") as resp:
            v1 = await resp.json()
    names = {r["name"]: r for r in v1["resources"]}
    assert names["pods/portforward"]["kind"] == "PodPortForwardOptions"
    assert sorted(names["pods/portforward"]["verbs"]) == ["create", "get"]


async def test_minictl_port_forward_pod(server_url: str, node: LoopbackNode,
                                        web_port: int) -> None:
    pod = await node.running_pod()
    f = await Forward.start([sys.executable, "-m", "cli", "-s", server_url, "port-forward",
                             f"pod/{pod}", f":{web_port}"])
    try:
        assert await get(f.local, "/m") == "hello m"
        got = await asyncio.gather(*(get(f.local, f"/c{i}") for i in range(5)))
        assert got == [f"hello c{i}" for i in range(5)]
        assert "Handling connection for" in await f.wait_line(re.compile("Handling"))
    finally:
        await f.stop()
    # The error stream's message ends the forward, with kubectl's words.
    closed = free_port()
    f = await Forward.start([sys.executable, "-m", "cli", "-s", server_url, "port-forward",
                             pod, f":{closed}"])
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", f.local)
        out = await f.rest(timeout=15)
        assert f"dial tcp 127.0.0.1:{closed}: connect: connection refused" in out, out
        assert out.splitlines()[-1] == "error: lost connection to pod", out
        assert await f.proc.wait() == 1
        writer.close()
    finally:
        await f.stop()


def _services_served() -> bool:
    from api import resources
    return hasattr(resources, "SERVICES")


@pytest.mark.skipif(not _services_served(), reason="Services are not served yet")
async def test_port_forward_service_and_deployment_resolve_a_pod_and_target_port(
        server_url: str, kubectl: Kubectl, node: LoopbackNode, web_port: int) -> None:
    app = unique("app")
    await node.running_pod({"app": app})
    svc = unique("svc")
    from testing.support import json_request
    code, body = json_request("POST", f"{server_url}/api/v1/namespaces/default/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": svc},
        "spec": {"selector": {"app": app},
                 "ports": [{"name": "http", "port": 8080, "targetPort": web_port}]}})
    assert code == 201, body
    for argv in ([*kubectl.argv, "port-forward", f"svc/{svc}", ":8080"],
                 [sys.executable, "-m", "cli", "-s", server_url, "port-forward",
                  f"service/{svc}", ":http"]):
        f = await Forward.start(argv, kubectl.env)
        try:
            # the service port became the pod's target port
            assert f"-> {web_port}" in f.lines[0], f.lines
            assert await get(f.local, "/svc") == "hello svc"
        finally:
            await f.stop()
    dep = unique("dep")
    code, body = json_request("POST", f"{server_url}/apis/apps/v1/namespaces/default/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": dep},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": app}},
                 "template": {"metadata": {"labels": {"app": app}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    assert code == 201, body
    for argv in ([*kubectl.argv, "port-forward", f"deploy/{dep}", f":{web_port}"],
                 [sys.executable, "-m", "cli", "-s", server_url, "port-forward",
                  f"deployment/{dep}", f":{web_port}"]):
        f = await Forward.start(argv, kubectl.env)
        try:
            assert await get(f.local, "/dep") == "hello dep"
        finally:
            await f.stop()


# ---- part two: nginx in a pod on Docker ----------------------------------------------


@pytest.mark.docker
async def test_kubectl_port_forward_to_nginx_on_docker(server_url: str, kubectl: Kubectl,
                                                       dk: Any) -> None:
    if not dk.images.list(name="nginx:latest"):
        pytest.skip("nginx:latest is not present locally (never pulled here)")
    with kubelet_on_docker(server_url, dk, "pfdnode") as k:
        async with AsyncClient(server_url) as c:
            p = await c.create(Pod.from_dict({
                "metadata": {"name": unique("ng"), "namespace": "default"},
                "spec": {"nodeName": k.node, "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "nginx", "image": "nginx:latest",
                                         "imagePullPolicy": "Never",
                                         "ports": [{"containerPort": 80}]}]}}))
            name = p.metadata.name or ""

            async def running() -> bool:
                got = await c.get(Pod, name, "default")
                return bool(got.status and got.status.phase == "Running")
            await async_wait_for(running, timeout=60, message="nginx Running")
        f = await Forward.start([*kubectl.argv, "port-forward", f"pod/{name}", ":80"],
                                kubectl.env)
        try:
            async def page() -> str | None:
                try:
                    return await get(f.local, "/")
                except (AssertionError, aiohttp.ClientError):
                    return None  # nginx may still be starting to listen
            text = await async_wait_for(page, timeout=20, message="nginx page")
            assert "Welcome to nginx!" in text
            pages = await asyncio.gather(*(get(f.local, "/") for _ in range(6)))
            assert all("Welcome to nginx!" in t for t in pages)
        finally:
            await f.stop()
