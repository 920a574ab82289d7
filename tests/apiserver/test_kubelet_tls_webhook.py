"""The kubelet API with ``--authorization-mode Webhook`` and ``--authentication-token-webhook``:
every request is authorized by a SubjectAccessReview to the API server (Node,RBAC there: the
kubelet's own identity, system:node:<node>, has the node rules, which let it ask), bearer
tokens are checked with a TokenReview; both answers cached. On Docker, the API server over
TLS (testing.secure) reaching the kubelet with its kubelet client certificate.

- alice (a client certificate of the cluster CA, no RBAC binding) is authenticated and then
  refused: 403 ``Forbidden (user=alice, verb=get, resource=nodes, subresource(s)=[pods proxy])``;
- bound to a ClusterRole with nodes/stats, she reads /stats/summary, not /pods;
- bob's static token goes through a TokenReview: a 403 names him; a token nobody knows is 401;
- the API server's certificate (O=system:masters) is allowed: kubectl logs and exec work.
"""

from __future__ import annotations

import shutil
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
from testing.secure import SecureApiServer, StaticToken
from testing.support import ApiServer, Process, unique, wait_for
from tests.apiserver.test_kubelet_tls import kubectl_logs_and_exec, start_kubelet
from tests.kubelet.helpers import build_images, cleanup, docker_client, make_pod, wait_pod

pytestmark = pytest.mark.docker

BOB = StaticToken("bob-static-token-0123456789", "bob", "bob-uid", ("dev",))


class Env:
    def __init__(self, tmp: Path, api: SecureApiServer, node: str, port: int) -> None:
        self.tmp = tmp
        self.api = api
        self.node = node
        self.base = f"https://127.0.0.1:{port}"

    def get(self, path: str, cert: str | None = None, token: str | None = None
            ) -> httpx.Response:
        import ssl

        ctx = ssl.create_default_context(cafile=str(self.api.ca_file))
        if cert is not None:
            ctx.load_cert_chain(self.tmp / f"{cert}.crt", self.tmp / f"{cert}.key")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with httpx.Client(verify=ctx, timeout=15) as c:
            return c.get(self.base + path, headers=headers)


def _apply(api: SecureApiServer, path: str, body: dict[str, Any]) -> None:
    r = httpx.post(api.insecure_url + path, json=body, timeout=10)
    assert r.status_code in (200, 201), r.text


@pytest.fixture(scope="module")
def env(etcd: Any) -> Iterator[Env]:
    dk = docker_client()
    build_images()
    tmp = Path(tempfile.mkdtemp(prefix="minik8s-kubelet-webhook-"))
    s = SecureApiServer(etcd.url, authorization_mode="Node,RBAC", tokens=[BOB],
                        directory=tmp / "pki", extra_args=[
        "--kubelet-client-certificate", str(tmp / "apiserver-kubelet-client.crt"),
        "--kubelet-client-key", str(tmp / "apiserver-kubelet-client.key"),
        "--kubelet-certificate-authority", str(tmp / "pki" / "ca.crt")])
    pki.issue(s.ca, "kube-apiserver-kubelet-client", organizations=["system:masters"],
              client=True).write(tmp, "apiserver-kubelet-client")
    pki.issue(s.ca, "alice", client=True).write(tmp, "alice")
    node = unique("whnode")
    s.start()
    kubelet: Process | None = None
    try:
        kubelet, port, _ = start_kubelet(
            s, tmp, node, "--anonymous-auth=false", "--authorization-mode", "Webhook",
            "--authentication-token-webhook",
            # denials are cached 30 s by default: a test that grants a right would wait
            "--authorization-webhook-cache-unauthorized-ttl", "0s")
        yield Env(tmp, s, node, port)
    finally:
        if kubelet is not None:
            kubelet.stop()
        s.stop()
        cleanup(dk, node)
        dk.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_authenticated_without_rights_is_403(env: Env) -> None:
    r = env.get("/pods", cert="alice")
    assert (r.status_code, r.text) == (
        403, "Forbidden (user=alice, verb=get, resource=nodes, subresource(s)=[pods proxy])")
    r = env.get("/stats/summary", cert="alice")
    assert (r.status_code, r.text) == (
        403, "Forbidden (user=alice, verb=get, resource=nodes, subresource(s)=[stats])")
    assert env.get("/pods").status_code == 401  # no credentials at all


def test_a_granted_subresource_only(env: Env) -> None:
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    _apply(env.api, f"{rbac}/clusterroles", {"metadata": {"name": "node-stats-reader"},
                                             "rules": [{"apiGroups": [""],
                                                        "resources": ["nodes/stats"],
                                                        "verbs": ["get"]}]})
    _apply(env.api, f"{rbac}/clusterrolebindings", {
        "metadata": {"name": "alice-node-stats"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "node-stats-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                      "name": "alice"}]})
    r = wait_for(lambda: (lambda r: r if r.status_code == 200 else None)(
        env.get("/stats/summary", cert="alice")), timeout=10, message="alice reads stats")
    assert r.json()["node"]["nodeName"] == env.node
    assert env.get("/pods", cert="alice").status_code == 403


def test_tokens_go_through_token_review(env: Env, tmp_path: Path) -> None:
    r = env.get("/pods", token=BOB.token)
    assert (r.status_code, r.text) == (
        403, "Forbidden (user=bob, verb=get, resource=nodes, subresource(s)=[pods proxy])")
    r = env.get("/pods", token="nobody-knows-this-token")
    assert (r.status_code, r.text) == (401, "Unauthorized")
    # a pod's ServiceAccount token (TokenRequest) is a user the kubelet asks about too
    k = env.api.kubectl(env.api.admin, tmp_path / "kube")
    k("create", "serviceaccount", "prober", "-n", "default")
    sa = k("create", "token", "prober", "-n", "default").stdout.strip()
    r = env.get("/pods", token=sa)
    assert (r.status_code, r.text) == (
        403, "Forbidden (user=system:serviceaccount:default:prober, verb=get, "
        "resource=nodes, subresource(s)=[pods proxy])")
    r = env.get("/pods", token=env.api.admin_token.token)  # in system:masters
    assert r.status_code == 200 and r.json()["kind"] == "PodList"


def test_apiserver_client_is_allowed_kubectl_logs_and_exec(env: Env, tmp_path: Path) -> None:
    assert env.get("/pods", cert="apiserver-kubelet-client").status_code == 200
    with Client(env.api.insecure_url) as c:
        k = env.api.kubectl(env.api.admin, tmp_path / "kube")
        name = kubectl_logs_and_exec(c, env.node, k, "hello-webhook")
        c.delete(Pod, name, "default")


def test_kubelet_refusal_reaches_kubectl(env: Env, etcd: Any, tmp_path: Path) -> None:
    """An API server whose kubelet client certificate is alice's (no nodes/proxy): kubectl
    logs gets the kubelet's 403 as Kubernetes passes it on (GenericHttpResponseChecker), and
    kubectl exec prints the kubelet's refusal as with Kubernetes."""
    weak = ApiServer(etcd.url, extra_args=[
        "--kubelet-client-certificate", str(env.tmp / "alice.crt"),
        "--kubelet-client-key", str(env.tmp / "alice.key"),
        "--kubelet-certificate-authority", str(env.api.ca_file)]).start()
    try:
        with Client(env.api.insecure_url) as c:
            p = make_pod(c, env.node, [{
                "name": "main", "image": "minik8s/busybox:latest", "imagePullPolicy": "Never",
                "command": ["sh", "-c", "echo secret; exec sleep 300"]}], "whweak")
            wait_pod(c, p, lambda g: g.status.phase == "Running", 60, "pod running")
            name = p.metadata.name or ""
            k = Kubectl(weak.url, tmp_path / "kube")
            r = k("logs", name, check=False)
            assert r.returncode == 1 and "secret" not in r.stdout
            assert r.stderr.strip() == (
                "Error from server (Forbidden): Forbidden (user=alice, verb=get, "
                f"resource=nodes, subresource(s)=[proxy]) ( pods/log {name})"), r.stderr
            r = k("exec", name, "--", "echo", "hi", check=False)
            assert r.returncode == 1 and "hi" not in r.stdout
            # the WebSocket is refused, kubectl falls back to SPDY (POST: verb create)
            assert r.stderr.strip() == (
                "error: unable to upgrade connection: Forbidden (user=alice, verb=create, "
                "resource=nodes, subresource(s)=[proxy])"), r.stderr
            # port-forward's SPDY fallback (a POST) gets the kubelet's refusal as it is
            r = httpx.post(f"{weak.url}/api/v1/namespaces/default/pods/{name}/portforward",
                           timeout=10)
            assert (r.status_code, r.text) == (403, (
                "Forbidden (user=alice, verb=create, resource=nodes, "
                "subresource(s)=[proxy])")), r.text
            c.delete(Pod, name, "default")
    finally:
        weak.stop()
