"""Projected volumes (serviceAccountToken, configMap, secret, downwardAPI sources) and
downwardAPI volumes, written by a kubelet (fake runtime) against an API server that signs
tokens: the token is a TokenRequest bound to the pod, renewed at 80% of its lifetime and
swapped in atomically (the ..data symlink), as the kubelet's token manager does."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import jwt
import pytest

import pki
from api.models import ConfigMap, Pod, Secret
from api.models.serviceaccount import ServiceAccount
from testing.support import ApiServer, async_wait_for, http_ok, on_own_etcd, unique, wait_for
from tests.kubelet.helpers import Harness


@pytest.fixture(scope="module")
def sa_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, bytes]]:
    d = tmp_path_factory.mktemp("sa")
    private, public = pki.new_service_account_key()
    (d / "sa.key").write_bytes(private)
    with on_own_etcd(lambda url: ApiServer(url, extra_args=[
            "--service-account-signing-key-file", str(d / "sa.key"),
            "--service-account-min-token-expiration=3",
            "--service-account-token-leeway=0"])) as s:
        # The master service's variables go into every container: wait for the Service.
        wait_for(lambda: http_ok(s.url + "/api/v1/namespaces/default/services/kubernetes"),
                 timeout=30, message="the kubernetes Service")
        yield s.url, public


@pytest.fixture
async def kube(sa_server: tuple[str, bytes], tmp_path: Path) -> AsyncIterator[Harness]:
    async with Harness(sa_server[0], unique("pnode"), resync_seconds=1.0,
                       root_dir=str(tmp_path)) as h:
        yield h


def volume_dir(root: str, pod: Pod, plugin: str, name: str) -> Path:
    return Path(root) / "pods" / (pod.metadata.uid or "") / "volumes" / plugin / name


async def test_projected_volume(kube: Harness, sa_server: tuple[str, bytes],
                                tmp_path: Path) -> None:
    public = sa_server[1]
    await kube.client.create(ServiceAccount.from_dict(
        {"metadata": {"name": "robot", "namespace": "default"}}))
    await kube.client.create(ConfigMap.from_dict(
        {"metadata": {"name": unique("ca"), "namespace": "default"}, "data": {"ca.crt": "CA"}}))
    cms = await kube.client.list(ConfigMap, "default")
    cm = next(c.metadata.name for c in cms.items if c.data == {"ca.crt": "CA"})
    sec = unique("sec")
    await kube.client.create(Secret.from_dict(
        {"metadata": {"name": sec, "namespace": "default"},
         "data": {"k": base64.b64encode(b"v").decode()}}))
    p = await kube.create([{"name": "c", "image": "img:1", "volumeMounts": [
        {"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
         "readOnly": True}, {"name": "info", "mountPath": "/etc/info"}]}],
        serviceAccountName="robot",
        volumes=[{"name": "kube-api-access-x", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 5}},
            {"configMap": {"name": cm, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            {"secret": {"name": sec}}]}},
            {"name": "info", "downwardAPI": {"items": [
                {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}])
    await kube.status_of(p, lambda g: g.status.phase == "Running", what="running")
    d = volume_dir(str(tmp_path), p, "kubernetes.io~projected", "kube-api-access-x")
    assert sorted(os.listdir(d / "..data")) == ["ca.crt", "k", "namespace", "token"]
    assert (d / "ca.crt").read_text() == "CA" and (d / "namespace").read_text() == "default"
    assert (d / "k").read_text() == "v"
    assert os.stat(d / "token").st_mode & 0o777 == 0o644
    first = (d / "token").read_text()
    claims = jwt.decode(first, public, algorithms=["RS256"],
                        audience="https://kubernetes.default.svc.cluster.local")
    assert claims["sub"] == "system:serviceaccount:default:robot"
    assert claims["kubernetes.io"]["pod"] == {"name": p.metadata.name, "uid": p.metadata.uid}
    assert claims["kubernetes.io"].get("node", {"name": kube.node})["name"] == kube.node
    assert claims["exp"] - claims["iat"] == 5
    env = kube.runtime.envs[kube.runtime.find(p.metadata.uid or "", "c").id]  # type: ignore[union-attr]
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert env["KUBERNETES_PORT"] == f"tcp://10.96.0.1:{env['KUBERNETES_SERVICE_PORT']}"
    info = volume_dir(str(tmp_path), p, "kubernetes.io~downward-api", "info")
    assert (info / "name").read_text() == p.metadata.name

    # Renewed at 80% of its 5 s: a new token, written by swapping ..data.
    async def renewed() -> str | None:
        t = (d / "token").read_text()
        return t if t != first else None
    second = await async_wait_for(renewed, timeout=15, message="token renewed")
    assert jwt.decode(second, public, algorithms=["RS256"],
                      audience="https://kubernetes.default.svc.cluster.local")["iat"] > \
        claims["iat"]
    assert (d / "..data").is_symlink() and (d / "token").is_symlink()
