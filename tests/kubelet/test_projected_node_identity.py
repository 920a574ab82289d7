"""A kubelet with only its node identity (client certificate system:node:<name> in
system:nodes) against an API server with Node,RBAC authorization and the NodeRestriction
and ServiceAccount admission plugins, as a secure cluster runs it: it registers its Node,
keeps its Lease, runs a pod whose Secret and token it may read and ask for (the Node
authorizer's graph), projects the kube-api-access volume and writes the pod's status."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from client.config import kubeconfig_config
from kubelet.agent import KubeletAgent
from kubelet.kubelet import KubeletConfig
from kubelet.runtime.base import ContainerRuntime
from kubelet.runtime.fake import FakeRuntime
from testing.secure import SecureApiServer
from testing.support import async_wait_for, free_port, on_own_etcd, unique

NODE = "secure-node"


@pytest.fixture(scope="module")
def server() -> Iterator[SecureApiServer]:
    with on_own_etcd(lambda url: SecureApiServer(url, authorization_mode="Node,RBAC", extra_args=[
            "--enable-admission-plugins=NodeRestriction,ServiceAccount"])) as s:
        yield s


@pytest.fixture
async def kubelet(server: SecureApiServer, tmp_path: Path
                  ) -> AsyncIterator[tuple[KubeletAgent, FakeRuntime]]:
    creds = server.user(f"system:node:{NODE}", groups=["system:nodes"])
    runtime = FakeRuntime()

    def factory(_: str) -> ContainerRuntime:
        return runtime
    agent = KubeletAgent(kubeconfig_config(creds.kubeconfig), factory, KubeletConfig(
        node_name=NODE, port=free_port(), root_dir=str(tmp_path), backoff_base=0.4,
        backoff_cap=3.2, relist_seconds=1.0, heartbeat_seconds=1.0), serve_http=False)
    await agent.start()
    try:
        yield agent, runtime
    finally:
        await agent.stop()


async def test_kubelet_runs_a_pod_with_its_node_identity(
        server: SecureApiServer, kubelet: tuple[KubeletAgent, FakeRuntime],
        tmp_path: Path) -> None:
    runtime = kubelet[1]
    async with httpx.AsyncClient(base_url=server.insecure_url, timeout=15) as root:
        ns = unique("nodeid")
        base = f"/api/v1/namespaces/{ns}"

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            r = await root.post(path, json=body)
            assert r.status_code == 201, r.text
            return r.json()  # type: ignore[no-any-return]
        await post("/api/v1/namespaces", {"metadata": {"name": ns}})
        await post(f"{base}/serviceaccounts", {"metadata": {"name": "default"}})
        await post(f"{base}/configmaps", {"metadata": {"name": "kube-root-ca.crt"},
                                          "data": {"ca.crt": server.ca_file.read_text()}})
        await post(f"{base}/secrets", {"metadata": {"name": "creds"},
                                       "data": {"pw": base64.b64encode(b"s3").decode()}})
        pod = await post(f"{base}/pods", {"metadata": {"name": "web"}, "spec": {
            "nodeName": NODE, "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": "img:1", "env": [{"name": "PW", "valueFrom": {
                "secretKeyRef": {"name": "creds", "key": "pw"}}}]}]}})
        vol = next(v["name"] for v in pod["spec"]["volumes"]
                   if v["name"].startswith("kube-api-access-"))

        async def running() -> dict[str, Any] | None:
            got = (await root.get(f"{base}/pods/web")).json()
            return got if (got.get("status") or {}).get("phase") == "Running" else None
        await async_wait_for(running, timeout=30, message="the pod running")
        node = (await root.get(f"/api/v1/nodes/{NODE}")).json()
        assert any(c["type"] == "Ready" and c["status"] == "True"
                   for c in node["status"]["conditions"])
        lease = await root.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/"
                               f"leases/{NODE}")
        assert lease.status_code == 200
    c = runtime.find(pod["metadata"]["uid"], "c")
    assert c is not None and runtime.envs[c.id]["PW"] == "s3"
    d = tmp_path / "pods" / pod["metadata"]["uid"] / "volumes" / "kubernetes.io~projected" / vol
    assert (d / "namespace").read_text() == ns
    assert (d / "ca.crt").read_text() == server.ca_file.read_text()
    claims = jwt.decode((d / "token").read_text(), server.sa_pub.read_bytes(),
                        algorithms=["RS256"],
                        audience="https://kubernetes.default.svc.cluster.local")
    assert claims["kubernetes.io"]["pod"]["name"] == "web"
    assert claims["kubernetes.io"]["node"]["name"] == NODE
