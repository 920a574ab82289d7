"""In-cluster access on real Docker: a pod running Python from the minik8s image (with the
official ``kubernetes`` client from the test venv mounted read-only) calls
``config.load_incluster_config()`` and lists pods in its namespace through a TLS API server
with RBAC: its ServiceAccount's token, ``ca.crt`` and ``namespace`` were projected by the
kubelet (ServiceAccount admission added the volume; the controller-manager made the
kube-root-ca.crt ConfigMap), and it may do only what its RoleBinding allows.

The API server listens on the minik8s-pods bridge's gateway (this host) with a serving
certificate for that address; the pod is told where it is with KUBERNETES_SERVICE_HOST/
PORT (without a proxy here, the kubernetes Service's 10.96.0.1 does not route)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import httpx
import kubernetes
import pytest

import pki
from client.rest import Client
from testing.secure import SERVER_DNS_NAMES, SecureApiServer
from testing.support import Etcd, unique, wait_for
from tests.controllers.helpers import start_controller_manager
from tests.kubelet.helpers import KubeletProc, cleanup

pytestmark = pytest.mark.docker

# The test venv's site-packages (the official client and its dependencies).
SITE = os.path.dirname(os.path.dirname(kubernetes.__file__))
SCRIPT = """
from kubernetes import client, config
config.load_incluster_config()
v1 = client.CoreV1Api()
ns = open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read()
print("PODS", sorted(p.metadata.name for p in v1.list_namespaced_pod(ns).items), flush=True)
for what, call in (("SECRETS", lambda: v1.list_namespaced_secret(ns)),
                   ("OTHER", lambda: v1.list_namespaced_pod("default"))):
    try:
        call()
        print(what, "allowed", flush=True)
    except client.ApiException as e:
        print(what, e.status, flush=True)
"""


def gateway(dk: Any) -> str:
    nets = dk.networks.list(names=["minik8s-pods"])
    net = nets[0] if nets else dk.networks.create(
        "minik8s-pods", driver="bridge", labels={"minik8s.network": "pods"})
    net.reload()
    return str(net.attrs["IPAM"]["Config"][0]["Gateway"])


@pytest.fixture(scope="module")
def cluster(dk: Any) -> Iterator[tuple[SecureApiServer, KubeletProc, str]]:
    gw = gateway(dk)
    e = Etcd().start()
    s = SecureApiServer(e.url, authorization_mode="RBAC", extra_args=[
        "--bind-address", gw, "--insecure-bind-address", "127.0.0.1",
        "--enable-admission-plugins=ServiceAccount"])
    # A serving certificate for the gateway's address too (the pods connect to it).
    pki.issue(s.ca, "kube-apiserver", dns_names=SERVER_DNS_NAMES,
              ip_addresses=["127.0.0.1", gw], server=True).write(s.dir, "apiserver")
    node = unique("icnode")
    root = tempfile.mkdtemp(prefix="minik8s-kubelet-")
    cm = k = None
    try:
        s.start()
        cm = start_controller_manager(s.insecure_url,
                                      "--controllers=serviceaccount,root-ca-cert-publisher",
                                      f"--root-ca-file={s.ca_file}")
        k = KubeletProc(s.insecure_url, node, root, extra=("--sync-frequency", "1")).start()
        yield s, k, gw
    finally:
        if k is not None:
            k.stop()
        cleanup(dk, node)
        shutil.rmtree(root, ignore_errors=True)
        if cm is not None:
            cm.stop()
        s.stop()
        e.stop()


def test_pod_lists_pods_in_cluster_as_far_as_its_role_allows(
        cluster: tuple[SecureApiServer, KubeletProc, str]) -> None:
    server, kubelet, gw = cluster
    root = httpx.Client(base_url=server.insecure_url, timeout=15)
    ns = unique("incluster")
    assert root.post("/api/v1/namespaces", json={"metadata": {"name": ns}}).status_code == 201
    base = f"/api/v1/namespaces/{ns}"
    assert root.post(f"{base}/serviceaccounts",
                     json={"metadata": {"name": "reader"}}).status_code == 201
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    r = root.post(f"{rbac}/roles", json={"metadata": {"name": "pod-reader"}, "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]})
    assert r.status_code == 201, r.text
    r = root.post(f"{rbac}/rolebindings", json={
        "metadata": {"name": "reader-reads-pods"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}]})
    assert r.status_code == 201, r.text
    wait_for(lambda: root.get(f"{base}/configmaps/kube-root-ca.crt").status_code == 200,
             timeout=20, message="kube-root-ca.crt published")
    r = root.post(f"{base}/pods", json={"metadata": {"name": "client"}, "spec": {
        "nodeName": kubelet.node, "serviceAccountName": "reader", "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "py", "image": "minik8s/minik8s:latest",
                        "imagePullPolicy": "Never", "command": ["python", "-c", SCRIPT],
                        "env": [{"name": "PYTHONPATH", "value": "/opt/venv-site"},
                                {"name": "KUBERNETES_SERVICE_HOST", "value": gw},
                                {"name": "KUBERNETES_SERVICE_PORT",
                                 "value": str(server.secure_port)}],
                        "volumeMounts": [{"name": "site", "mountPath": "/opt/venv-site",
                                          "readOnly": True}]}],
        "volumes": [{"name": "site", "hostPath": {"path": SITE}}]}})
    assert r.status_code == 201, r.text
    spec = r.json()["spec"]
    assert any(v["name"].startswith("kube-api-access-") for v in spec["volumes"])
    api = Client(server.insecure_url)

    def logs() -> str:
        try:
            return api.pod_logs("client", ns)
        except Exception:
            return ""
    out = wait_for(lambda: (t := logs()) and "OTHER" in t and t, timeout=90,
                   interval=1.0, message="the in-cluster client's output")
    lines = out.splitlines()
    assert f"PODS {['client']!r}" in lines, out
    assert "SECRETS 403" in lines and "OTHER 403" in lines, out
