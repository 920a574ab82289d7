"""pods/proxy, services/proxy and nodes/proxy, through the real ``kubectl proxy``.

The "pod" is an HTTP server this test starts on a local non-loopback address of this
machine (Kubernetes refuses to proxy to a loopback pod IP): a Pod object whose status
carries that address as its podIP. nodes/proxy reaches an in-process kubelet on the fake
runtime; the nginx page comes from a pod on Docker.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from api.models import Pod
from apiserver.services.bootstrap import host_address
from client.rest import AsyncClient
from kubelet.agent import KubeletAgent
from kubelet.kubelet import KubeletConfig
from kubelet.runtime.base import ContainerRuntime
from kubelet.runtime.fake import FakeRuntime
from testing.kubectl import Kubectl
from testing.support import async_wait_for, free_port, unique
from tests.kubelet.helpers import docker_client, kubelet_on_docker

SERVING = re.compile(r"Starting to serve on 127\.0\.0\.1:(\d+)")
LOCAL = host_address()
pytestmark = pytest.mark.skipif(LOCAL is None, reason="no non-loopback address here")


class Target:
    """The HTTP server that plays the pod. ``release`` lets /chunks send its second part."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.port = 0
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def echo(request: web.Request) -> web.Response:
            body = await request.read()
            return web.json_response({
                "method": request.method, "path": request.path_qs,
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "len": len(body), "sha": hashlib.sha256(body).hexdigest()})

        async def chunks(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            await resp.write(b"part one\n")
            await asyncio.wait_for(self.release.wait(), 20)
            await resp.write(b"part two\n")
            await resp.write_eof()
            return resp

        async def redirect(request: web.Request) -> web.Response:
            where = request.query.get("to", "/target/")
            return web.Response(status=302, headers={"Location": where})

        async def cors(request: web.Request) -> web.Response:
            return web.Response(text="c", headers={"Access-Control-Allow-Origin": "*",
                                                   "X-Kept": "yes"})

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/chunks", chunks)
        app.router.add_get("/redirect", redirect)
        app.router.add_get("/cors", cors)
        app.router.add_route("*", "/{tail:.*}", echo)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        self.port = free_port()
        await web.TCPSite(self.runner, LOCAL, self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


class KubectlProxy:
    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc, self.port = proc, port
        self.base = f"http://127.0.0.1:{port}"

    @classmethod
    async def start(cls, kubectl: Kubectl) -> KubectlProxy:
        proc = await asyncio.create_subprocess_exec(
            *kubectl.argv, "proxy", "--port=0", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=kubectl.env)
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        m = SERVING.search(line)
        assert m, f"kubectl proxy printed {line!r}"
        return cls(proc, int(m.group(1)))

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    t = Target()
    await t.start()
    yield t
    t.release.set()
    await t.stop()


@pytest.fixture
async def kproxy(kubectl: Kubectl) -> AsyncIterator[KubectlProxy]:
    p = await KubectlProxy.start(kubectl)
    yield p
    await p.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30),
                                     auto_decompress=False) as s:
        yield s


async def fake_pod(server_url: str, ns: str, ip: str, port: int | None = None) -> str:
    """A Pod (bound to a node no kubelet serves) whose status says it runs at ``ip``."""
    name = unique("px")
    containers: list[dict[str, Any]] = [{"name": "web", "image": "busybox"}]
    if port is not None:
        containers[0]["ports"] = [{"containerPort": port}]
    async with AsyncClient(server_url) as c:
        p = await c.create(Pod.from_dict({
            "metadata": {"name": name, "namespace": ns},
            "spec": {"nodeName": "nowhere", "containers": containers}}))
        d = p.to_dict()
        d["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
        async with aiohttp.ClientSession() as s:
            async with s.put(f"{server_url}/api/v1/namespaces/{ns}/pods/{name}/status",
                             json=d) as r:
                assert r.status == 200, await r.text()
    return name


async def test_pod_proxy_through_kubectl_proxy(server_url: str, ns: str, target: Target,
                                               kproxy: KubectlProxy,
                                               http: aiohttp.ClientSession) -> None:
    name = await fake_pod(server_url, ns, LOCAL or "", target.port)
    base = f"{kproxy.base}/api/v1/namespaces/{ns}/pods"
    # NAME (the first container port), NAME:PORT and http:NAME:PORT, any path and query.
    for ident in (name, f"{name}:{target.port}", f"http:{name}:{target.port}"):
        async with http.get(f"{base}/{ident}/proxy/some/path/?a=1&b=x%20y") as r:
            assert r.status == 200, await r.text()
            got = await r.json()
        assert got["method"] == "GET"
        assert got["path"] == "/some/path/?a=1&b=x%20y"
        h = got["headers"]
        assert h["x-forwarded-uri"] == f"/api/v1/namespaces/{ns}/pods/{ident}/proxy/some/path/" \
                                       "?a=1&b=x%20y"
        assert "x-forwarded-for" in h and "authorization" not in h
    # Every method reaches the pod, with its body.
    for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        async with http.request(method, f"{base}/{name}/proxy/m", data=b"abc") as r:
            assert r.status == 200
            got = await r.json()
            assert (got["method"], got["len"]) == (method, 3)
    async with http.head(f"{base}/{name}/proxy/m") as r:
        assert r.status == 200 and await r.read() == b""
    # NAME/proxy without a path: a 301 to NAME/proxy/ (kubectl proxy passes it on).
    async with http.get(f"{base}/{name}/proxy?q=1", allow_redirects=False) as r:
        assert r.status == 301
        assert r.headers["Location"] == f"/api/v1/namespaces/{ns}/pods/{name}/proxy/?q=1"
    async with http.get(f"{base}/{name}/proxy") as r:  # followed
        assert r.status == 200 and (await r.json())["path"] == "/"
    async with http.post(f"{base}/{name}/proxy", data=b"x") as r:
        assert r.status == 200 and (await r.json())["path"] == "/"


async def test_big_post_and_streamed_chunks_pass_unchanged(
        server_url: str, ns: str, target: Target, kproxy: KubectlProxy,
        http: aiohttp.ClientSession) -> None:
    name = await fake_pod(server_url, ns, LOCAL or "", target.port)
    base = f"{kproxy.base}/api/v1/namespaces/{ns}/pods/{name}/proxy"
    # 10 MiB: more than the API server ever reads whole (3 MiB), sent chunked.
    blob = bytes(range(256)) * (40 * 1024)

    async def gen() -> AsyncIterator[bytes]:
        for i in range(0, len(blob), 65536):
            yield blob[i:i + 65536]
    async with http.post(f"{base}/upload", data=gen()) as r:
        assert r.status == 200, await r.text()
        got = await r.json()
    assert (got["len"], got["sha"]) == (len(blob), hashlib.sha256(blob).hexdigest())
    # The first chunk arrives while the pod still holds back the second one.
    async with http.get(f"{base}/chunks") as r:
        assert r.status == 200 and r.headers.get("Transfer-Encoding") == "chunked"
        first = await asyncio.wait_for(r.content.readuntil(b"\n"), 10)
        assert first == b"part one\n"
        target.release.set()
        assert await asyncio.wait_for(r.content.read(), 10) == b"part two\n"


async def test_redirects_and_headers(server_url: str, ns: str, target: Target,
                                     http: aiohttp.ClientSession) -> None:
    name = await fake_pod(server_url, ns, LOCAL or "", target.port)
    prefix = f"/api/v1/namespaces/{ns}/pods/{name}/proxy"
    # A Location on the pod is rewritten under the proxy path; another host's is not.
    for to, want in (("/target/", f"{prefix}/target/"),
                     (f"http://{LOCAL}:{target.port}/a?b=1", f"{prefix}/a?b=1"),
                     ("http://example.invalid/x", "http://example.invalid/x"),
                     ("relative", "relative")):
        async with http.get(f"{server_url}{prefix}/redirect", params={"to": to},
                            allow_redirects=False) as r:
            assert r.status == 302
            assert r.headers["Location"] == want
    async with http.get(f"{server_url}{prefix}/cors") as r:
        assert r.headers["X-Kept"] == "yes"
        assert "Access-Control-Allow-Origin" not in r.headers


async def test_refusals_are_statuses_not_hangs(server_url: str, ns: str, target: Target,
                                               kproxy: KubectlProxy,
                                               http: aiohttp.ClientSession) -> None:
    name = await fake_pod(server_url, ns, LOCAL or "", target.port)
    closed = free_port()
    start = time.monotonic()
    async with http.get(f"{kproxy.base}/api/v1/namespaces/{ns}/pods/{name}:{closed}/proxy/") \
            as r:
        assert r.status == 503
        st = await r.json()
    assert time.monotonic() - start < 10
    assert st["kind"] == "Status" and st["reason"] == "ServiceUnavailable"
    assert st["message"] == (f"error trying to reach service: dial tcp {LOCAL}:{closed}: "
                             "connect: connection refused")

    async def status(path: str) -> tuple[int, dict[str, Any]]:
        async with http.get(f"{server_url}/api/v1/namespaces/{ns}/{path}") as r:
            return r.status, orjson.loads(await r.read())
    code, st = await status(f"pods/{unique('none')}/proxy/")
    assert code == 404 and st["reason"] == "NotFound"
    code, st = await status(f"pods/ftp:{name}:80/proxy/")
    assert code == 400 and st["message"] == f'invalid pod request "ftp:{name}:80"'
    loop = await fake_pod(server_url, ns, "127.0.0.1", 80)
    code, st = await status(f"pods/{loop}/proxy/")
    assert code == 400 and st["message"] == "address not allowed"


async def test_service_proxy_reaches_a_ready_endpoint(server_url: str, ns: str,
                                                      target: Target,
                                                      http: aiohttp.ClientSession) -> None:
    svc = unique("svc")
    async with aiohttp.ClientSession() as s:
        async def post(path: str, body: dict[str, Any]) -> None:
            async with s.post(f"{server_url}{path}", json=body) as r:
                assert r.status == 201, await r.text()
        await post(f"/api/v1/namespaces/{ns}/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": svc},
            "spec": {"ports": [{"name": "web", "port": 8080, "targetPort": target.port}]}})
        # A ready endpoint (the target) and a not-ready one where nothing answers.
        for i, port, ready in ((1, target.port, True), (2, free_port(), False)):
            await post(f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": f"{svc}-{i}",
                             "labels": {"kubernetes.io/service-name": svc}},
                "addressType": "IPv4", "ports": [{"name": "web", "port": port}],
                "endpoints": [{"addresses": [LOCAL], "conditions": {"ready": ready}}]})
        await post(f"/api/v1/namespaces/{ns}/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{svc}-empty"},
            "spec": {"ports": [{"port": 80}]}})
    base = f"{server_url}/api/v1/namespaces/{ns}/services"
    for ident in (f"{svc}:8080", f"{svc}:web", f"http:{svc}:web") * 4:
        async with http.get(f"{base}/{ident}/proxy/hello?x=1") as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["path"] == "/hello?x=1"
    for ident, message in ((f"{svc}:81", f'no service port 81 found for service "{svc}"'),
                           (f"{svc}-empty", f'no endpoints available for service "{svc}-empty"')):
        async with http.get(f"{base}/{ident}/proxy/") as r:
            assert r.status == 503
            st = await r.json()
            assert (st["reason"], st["message"]) == ("ServiceUnavailable", message)


async def test_node_proxy_reaches_the_kubelet(server_url: str, kproxy: KubectlProxy,
                                              http: aiohttp.ClientSession) -> None:
    runtime = FakeRuntime()
    node = unique("pxnode")
    cfg = KubeletConfig(node_name=node, port=free_port(), relist_seconds=1.0)

    def factory(_: str) -> ContainerRuntime:
        return runtime
    agent = KubeletAgent(server_url, factory, cfg, bind_address="127.0.0.1")
    await agent.start()
    try:
        async def ready() -> str | None:
            async with http.get(f"{kproxy.base}/api/v1/nodes/{node}/proxy/healthz") as r:
                return await r.text() if r.status == 200 else None
        assert await async_wait_for(ready, timeout=15, message="nodes/proxy/healthz") == "ok"
        async with http.get(f"{kproxy.base}/api/v1/nodes/{node}/proxy/pods") as r:
            assert r.status == 200
            assert (await r.json())["kind"] == "PodList"
        async with http.get(f"{kproxy.base}/api/v1/nodes/{node}:{cfg.port}/proxy/healthz") as r:
            assert r.status == 200
    finally:
        await agent.stop()


@pytest.mark.docker
async def test_curl_nginx_page_through_kubectl_proxy(server_url: str, kubectl: Kubectl,
                                                     kproxy: KubectlProxy,
                                                     http: aiohttp.ClientSession) -> None:
    dk = docker_client()
    if not dk.images.list(name="nginx:latest"):
        pytest.skip("nginx:latest is not present locally (never pulled here)")
    with kubelet_on_docker(server_url, dk, "pxdnode") as k:
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

            got = await c.get(Pod, name, "default")
            assert got.status is not None
            pod_ip = got.status.pod_ip

        async def page() -> bytes | None:
            # As curl asks: no Accept-Encoding, so the page comes back as nginx serves it.
            async with http.get(f"{kproxy.base}/api/v1/namespaces/default/pods/{name}:80"
                                "/proxy/", skip_auto_headers=("Accept-Encoding",)) as r:
                return await r.read() if r.status == 200 else None
        body = await async_wait_for(page, timeout=20, message="nginx page")
        assert b"Welcome to nginx!" in body
        async with http.get(f"http://{pod_ip}:80/", skip_auto_headers=("Accept-Encoding",)) \
                as r:
            assert await r.read() == body
