"""The kubelet API over TLS, locked down, and the API server reaching it with its kubelet
client certificate (apiserver/kubelets.py, kubelet/auth.py), on Docker.

One CA signs the kubelet's serving certificate (DNS its node name, IP 127.0.0.1), the API
server's kubelet client certificate (kubeadm's apiserver-kubelet-client, O=system:masters),
alice's client certificate, and nothing of a second CA's. The kubelet runs with
``--anonymous-auth=false --client-ca-file``: no credentials is 401 (a pod on the pods'
bridge included), the API server's certificate is let in, and ``kubectl logs`` and
``kubectl exec`` work through the API server.
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import pki
from api.models import Pod
from client.rest import Client
from testing.kubectl import Kubectl
from testing.support import (
    ApiServer,
    Process,
    free_port,
    http_ok,
    service,
    unique,
    wait_for,
)
from tests.kubelet.helpers import build_images, cleanup, docker_client, make_pod, wait_pod

pytestmark = pytest.mark.docker

POD_GATEWAY = "172.18.0.1"  # the minik8s-pods bridge's gateway: the host, seen from a pod


class Cluster:
    def __init__(self, tmp: Path, api: ApiServer, kubelet: Process, node: str, port: int,
                 healthz: int) -> None:
        self.tmp = tmp
        self.api = api
        self.kubelet = kubelet
        self.node = node
        self.port = port
        self.healthz = healthz
        self.base = f"https://127.0.0.1:{port}"

    def ssl(self, client: str | None = None, ca: str = "ca") -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.tmp / f"{ca}.crt"))
        if client is not None:
            ctx.load_cert_chain(self.tmp / f"{client}.crt", self.tmp / f"{client}.key")
        return ctx

    def get(self, path: str, client: str | None = None, **kw: Any) -> httpx.Response:
        with httpx.Client(verify=self.ssl(client), timeout=10) as c:
            return c.get(self.base + path, **kw)


@pytest.fixture(scope="module")
def cluster(etcd: Any) -> Iterator[Cluster]:
    dk = docker_client()
    build_images()
    tmp = Path(tempfile.mkdtemp(prefix="minik8s-kubelet-tls-"))
    node = unique("tlsnode")
    ca = pki.new_ca()
    ca.write(tmp, "ca")
    pki.issue(ca, f"system:node:{node}", organizations=["system:nodes"], dns_names=[node],
              ip_addresses=["127.0.0.1", POD_GATEWAY], server=True).write(tmp, "kubelet")
    pki.issue(ca, "kube-apiserver-kubelet-client", organizations=["system:masters"],
              client=True).write(tmp, "apiserver-kubelet-client")
    pki.issue(ca, "alice", client=True).write(tmp, "alice")
    other = pki.new_ca("someone-else")
    other.write(tmp, "other-ca")
    pki.issue(other, "kube-apiserver-kubelet-client", organizations=["system:masters"],
              client=True).write(tmp, "forged")
    api = ApiServer(etcd.url, extra_args=[
        "--kubelet-client-certificate", str(tmp / "apiserver-kubelet-client.crt"),
        "--kubelet-client-key", str(tmp / "apiserver-kubelet-client.key"),
        "--kubelet-certificate-authority", str(tmp / "ca.crt")]).start()
    port, healthz = free_port(), free_port()
    root = tempfile.mkdtemp(prefix="minik8s-kubelet-")
    kubelet = service(f"kubelet-{node}", "kubelet", [
        "--server", api.url, "--node-name", node, "--runtime", "docker",
        # every address: a pod on the bridge can try it
        "--port", str(port), "--address", "0.0.0.0", "--node-ip", "127.0.0.1",
        "--root-dir", root, "--backoff-base", "1", "--relist-seconds", "2",
        "--heartbeat-seconds", "1",
        "--tls-cert-file", str(tmp / "kubelet.crt"),
        "--tls-private-key-file", str(tmp / "kubelet.key"),
        "--client-ca-file", str(tmp / "ca.crt"), "--anonymous-auth=false",
        "--healthz-port", str(healthz)])
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{healthz}/healthz"), timeout=20,
                 message=f"kubelet healthz:\n{kubelet.log_tail()}")
        yield Cluster(tmp, api, kubelet, node, port, healthz)
    finally:
        kubelet.stop()
        api.stop()
        cleanup(dk, node)
        dk.close()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def c(cluster: Cluster) -> Iterator[Client]:
    with Client(cluster.api.url) as cl:
        yield cl


def test_no_credentials_is_401(cluster: Cluster) -> None:
    for path in ("/pods", "/healthz", "/stats/summary", "/containerLogs/default/x/y",
                 "/metrics"):
        r = cluster.get(path)
        assert (r.status_code, r.text) == (401, "Unauthorized"), path
    # a bearer token with no token webhook is no identity either
    r = cluster.get("/pods", headers={"Authorization": "Bearer abc"})
    assert r.status_code == 401


def test_plain_http_is_refused(cluster: Cluster) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{cluster.port}/pods", timeout=5)


def test_client_cert_of_another_ca_is_refused(cluster: Cluster) -> None:
    ctx = cluster.ssl()
    ctx.load_cert_chain(cluster.tmp / "forged.crt", cluster.tmp / "forged.key")
    with pytest.raises((httpx.HTTPError, ssl.SSLError)), \
            httpx.Client(verify=ctx, timeout=5) as cl:
        r = cl.get(cluster.base + "/pods")
        assert r.status_code == 401  # never reached: the handshake fails


def test_apiserver_client_cert_is_let_in(cluster: Cluster) -> None:
    r = cluster.get("/pods", client="apiserver-kubelet-client")
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "PodList"


def test_healthz_port_is_open_plain_http(cluster: Cluster) -> None:
    r = httpx.get(f"http://127.0.0.1:{cluster.healthz}/healthz", timeout=5)
    assert (r.status_code, r.text) == (200, "ok")
    assert httpx.get(f"http://127.0.0.1:{cluster.healthz}/pods", timeout=5).status_code == 404


def test_kubectl_logs_and_exec_through_tls_kubelet(cluster: Cluster, c: Client,
                                                   tmp_path: Path) -> None:
    p = make_pod(c, cluster.node, [{
        "name": "main", "image": "minik8s/busybox:latest", "imagePullPolicy": "Never",
        "command": ["sh", "-c", "echo hello-tls; exec sleep 300"]}], "tlslog")
    wait_pod(c, p, lambda g: g.status.phase == "Running", 60, "pod running")
    k = Kubectl(cluster.api.url, tmp_path / "kube")
    name = p.metadata.name or ""
    wait_for(lambda: "hello-tls" in k("logs", name, check=False).stdout, timeout=20,
             message="kubectl logs through the TLS kubelet")
    out = k("exec", name, "--", "sh", "-c", "echo exec-$((40+2))")
    assert out.stdout == "exec-42\n"
    # the API server's own view of the node goes through its kubelet client too
    r = httpx.get(f"{cluster.api.url}/api/v1/nodes/{cluster.node}/proxy/pods", timeout=10)
    assert r.status_code == 200 and name in r.text


PROBE = """
import ssl, urllib.error, urllib.request
ctx = ssl._create_unverified_context()
try:
    urllib.request.urlopen("https://%s:%d/pods", context=ctx, timeout=10)
    print("READ")
except urllib.error.HTTPError as e:
    print("HTTP", e.code, e.read().decode())
"""


def test_pod_on_bridge_cannot_read_pods(cluster: Cluster, c: Client) -> None:
    """A pod (nginx's image has Python) reaches its kubelet's port over the pods' bridge
    and gets 401: it has no credentials."""
    p = make_pod(c, cluster.node, [{
        "name": "main", "image": "nginx:latest", "imagePullPolicy": "Never",
        "command": ["python3", "-c", PROBE % (POD_GATEWAY, cluster.port)]}], "tlsprobe",
        restartPolicy="Never")
    wait_pod(c, p, lambda g: g.status.phase in ("Succeeded", "Failed"), 60, "probe pod done")
    r = httpx.get(f"{cluster.api.url}/api/v1/namespaces/default/pods/{p.metadata.name}/log",
                  timeout=10)
    assert r.status_code == 200, r.text
    assert r.text == "HTTP 401 Unauthorized\n", r.text
    c.delete(Pod, p.metadata.name or "", "default")
