"""The kubelet API over TLS, locked down, and the API server (itself over TLS) reaching it
with its kubelet client certificate (apiserver/kubelets.py, kubelet/auth.py), on Docker.

The API server's CA (testing.secure) signs the kubelet's serving certificate (DNS its node
name, IP 127.0.0.1), the kubelet's own client identity (system:node:<node>, its
kubeconfig), the API server's kubelet client certificate (kubeadm's
apiserver-kubelet-client, O=system:masters) and alice's; a second CA signs a forgery. The
kubelet runs with ``--anonymous-auth=false --client-ca-file``: no credentials is 401 (a pod
on the pods' bridge included), the API server's certificate is let in, and ``kubectl logs``
and ``kubectl exec`` work through the TLS API server and the TLS kubelet.
"""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
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
from testing.secure import SecureApiServer
from testing.support import (
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
    def __init__(self, tmp: Path, api: SecureApiServer, kubelet: Process, node: str,
                 port: int, healthz: int) -> None:
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


def start_kubelet(s: SecureApiServer, tmp: Path, node: str, *flags: str
                  ) -> tuple[Process, int, int]:
    """A Docker kubelet for ``node`` with its serving certificate (DNS node, IPs 127.0.0.1 and
    the bridge's gateway) and its own identity to the API server (system:node:<node>), on
    every address (a pod on the bridge can try it); (process, port) once /healthz answers on
    its plain health port; (process, port, health port)."""
    pki.issue(s.ca, f"system:node:{node}", organizations=["system:nodes"], dns_names=[node],
              ip_addresses=["127.0.0.1", POD_GATEWAY], server=True).write(tmp, node)
    me = s.user(f"system:node:{node}", groups=["system:nodes"])
    port, healthz = free_port(), free_port()
    root = tmp / f"root-{node}"
    kubelet = service(f"kubelet-{node}", "kubelet", [
        "--kubeconfig", str(me.kubeconfig), "--node-name", node, "--runtime", "docker",
        "--port", str(port), "--address", "0.0.0.0", "--node-ip", "127.0.0.1",
        "--root-dir", str(root), "--backoff-base", "1", "--relist-seconds", "2",
        "--heartbeat-seconds", "1",
        "--tls-cert-file", str(tmp / f"{node}.crt"),
        "--tls-private-key-file", str(tmp / f"{node}.key"),
        "--client-ca-file", str(s.ca_file), "--healthz-port", str(healthz), *flags])
    wait_for(lambda: http_ok(f"http://127.0.0.1:{healthz}/healthz") or not kubelet.alive(),
             timeout=20, message=f"kubelet healthz:\n{kubelet.log_tail()}")
    assert kubelet.alive(), kubelet.log_tail()
    return kubelet, port, healthz


@pytest.fixture(scope="module")
def cluster(etcd: Any) -> Iterator[Cluster]:
    dk = docker_client()
    build_images()
    tmp = Path(tempfile.mkdtemp(prefix="minik8s-kubelet-tls-"))
    s = SecureApiServer(etcd.url, directory=tmp / "pki", extra_args=[
        "--kubelet-client-certificate", str(tmp / "apiserver-kubelet-client.crt"),
        "--kubelet-client-key", str(tmp / "apiserver-kubelet-client.key"),
        "--kubelet-certificate-authority", str(tmp / "pki" / "ca.crt")])
    s.ca.write(tmp, "ca")
    pki.issue(s.ca, "kube-apiserver-kubelet-client", organizations=["system:masters"],
              client=True).write(tmp, "apiserver-kubelet-client")
    pki.issue(s.ca, "alice", client=True).write(tmp, "alice")
    other = pki.new_ca("someone-else")
    other.write(tmp, "other-ca")
    pki.issue(other, "kube-apiserver-kubelet-client", organizations=["system:masters"],
              client=True).write(tmp, "forged")
    node = unique("tlsnode")
    s.start()
    kubelet: Process | None = None
    try:
        kubelet, port, healthz = start_kubelet(s, tmp, node, "--anonymous-auth=false")
        yield Cluster(tmp, s, kubelet, node, port, healthz)
    finally:
        if kubelet is not None:
            kubelet.stop()
        s.stop()
        cleanup(dk, node)
        dk.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def c(cluster: Cluster) -> Iterator[Client]:
    with Client(cluster.api.insecure_url) as cl:
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


def test_serving_only_cert_is_no_client_identity(cluster: Cluster) -> None:
    """The kubelet's own serving certificate (serverAuth only, CA-signed) does not pass as
    a client certificate: x509 authentication wants clientAuth."""
    ctx = cluster.ssl()
    ctx.load_cert_chain(cluster.tmp / f"{cluster.node}.crt", cluster.tmp / f"{cluster.node}.key")
    with httpx.Client(verify=ctx, timeout=5) as cl:
        try:
            r = cl.get(cluster.base + "/pods")
        except (httpx.HTTPError, ssl.SSLError):
            return  # refused in the handshake
        assert r.status_code == 401, r.text


def test_apiserver_client_cert_is_let_in(cluster: Cluster) -> None:
    r = cluster.get("/pods", client="apiserver-kubelet-client")
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "PodList"


def test_healthz_port_is_open_plain_http(cluster: Cluster) -> None:
    r = httpx.get(f"http://127.0.0.1:{cluster.healthz}/healthz", timeout=5)
    assert (r.status_code, r.text) == (200, "ok")
    assert httpx.get(f"http://127.0.0.1:{cluster.healthz}/pods", timeout=5).status_code == 404


def kubectl_logs_and_exec(c: Client, node: str, k: Kubectl, word: str) -> str:
    """A busybox pod on ``node`` that prints ``word``: ``kubectl logs`` shows it and ``kubectl
    exec`` runs in it, both through the kubelet; returns the pod's name."""
    p = make_pod(c, node, [{
        "name": "main", "image": "minik8s/busybox:latest", "imagePullPolicy": "Never",
        "command": ["sh", "-c", f"echo {word}; exec sleep 300"]}], word)
    wait_pod(c, p, lambda g: g.status.phase == "Running", 60, "pod running")
    name = p.metadata.name or ""
    wait_for(lambda: word in k("logs", name, check=False).stdout, timeout=20,
             message=f"kubectl logs through the kubelet ({word})")
    out = k("exec", name, "--", "sh", "-c", "echo exec-$((40+2))")
    assert out.stdout == "exec-42\n"
    return name


def test_kubectl_logs_and_exec_through_tls_kubelet(cluster: Cluster, c: Client,
                                                   tmp_path: Path) -> None:
    k = cluster.api.kubectl(cluster.api.admin, tmp_path / "kube")
    name = kubectl_logs_and_exec(c, cluster.node, k, "hello-tls")
    # the API server's own view of the node goes through its kubelet client too
    with cluster.api.client(cluster.api.admin) as api:
        r = api.get(f"/api/v1/nodes/{cluster.node}/proxy/pods")
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
    with cluster.api.client(cluster.api.admin) as api:
        r = api.get(f"/api/v1/namespaces/default/pods/{p.metadata.name}/log")
    assert r.status_code == 200, r.text
    assert r.text == "HTTP 401 Unauthorized\n", r.text
    c.delete(Pod, p.metadata.name or "", "default")


def test_kubectl_port_forward_and_metrics_through_tls_kubelet(cluster: Cluster, c: Client,
                                                              tmp_path: Path) -> None:
    """kubectl port-forward's tunnel and the metrics API's scrape of /stats/summary also go
    over the kubelet client's TLS."""
    p = make_pod(c, cluster.node, [{
        "name": "nginx", "image": "nginx:latest", "imagePullPolicy": "Never",
        "ports": [{"containerPort": 80}]}], "tlspf")
    wait_pod(c, p, lambda g: g.status.phase == "Running", 60, "nginx running")
    k = cluster.api.kubectl(cluster.api.admin, tmp_path / "kube")
    proc = subprocess.Popen([*k.argv, "port-forward", f"pod/{p.metadata.name}", ":80"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=k.env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # Forwarding from 127.0.0.1:NNNNN -> 80
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert m is not None, line + (proc.stdout.read() if proc.poll() is not None else "")
        local = int(m.group(1))

        def page() -> str | None:
            try:
                r = httpx.get(f"http://127.0.0.1:{local}/", timeout=5)
            except httpx.HTTPError:
                return None  # nginx may still be starting to listen
            return r.text if r.status_code == 200 else None
        assert "Welcome to nginx!" in wait_for(page, timeout=20, message="nginx page")
    finally:
        proc.terminate()
        proc.wait(10)
    with cluster.api.client(cluster.api.admin) as api:
        def metrics() -> dict[str, Any] | None:
            r = api.get(f"/apis/metrics.k8s.io/v1beta1/nodes/{cluster.node}")
            return r.json() if r.status_code == 200 else None
        got = wait_for(metrics, timeout=40, interval=1, message="node metrics over TLS")
        assert got["kind"] == "NodeMetrics" and got["usage"]["memory"].endswith("Ki")
    c.delete(Pod, p.metadata.name or "", "default")
