"""ConfigMaps and Secrets consumed by pods: env (valueFrom, envFrom) and volumes.

The logic runs against the real API server with the fake runtime; one test runs a
busybox pod on real Docker and reads what it saw through its logs.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from api.models import ConfigMap, Pod, Secret
from client.errors import NotFound
from client.rest import Client
from testing.support import async_wait_for, unique, wait_for
from tests.kubelet.helpers import Harness, cstatus, kubelet_on_docker


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@pytest.fixture
async def kube(server_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async with Harness(server_url, unique("cnode"), resync_seconds=1.0,
                       root_dir=str(tmp_path)) as h:
        yield h


async def make_cm(h: Harness, name: str, data: dict[str, str]) -> None:
    await h.client.create(ConfigMap.from_dict(
        {"metadata": {"name": name, "namespace": "default"}, "data": data}))


async def make_secret(h: Harness, name: str, string_data: dict[str, str]) -> None:
    await h.client.create(Secret.from_dict(
        {"metadata": {"name": name, "namespace": "default"}, "stringData": string_data}))


def env_of(h: Harness, p: Pod, container: str = "c") -> dict[str, str]:
    c = h.runtime.find(p.metadata.uid or "", container)
    assert c is not None
    return h.runtime.envs[c.id]


def waiting(p: Pod) -> tuple[str, str] | None:
    w = (cstatus(p).get("state") or {}).get("waiting")
    return (w.get("reason", ""), w.get("message", "")) if w else None


async def test_env_from_configmap_and_secret(kube: Harness) -> None:
    cm, sec = unique("cm"), unique("sec")
    await make_cm(kube, cm, {"MODE": "prod", "LIT": "$(MODE)x"})
    await make_secret(kube, sec, {"password": "s3cret", "user": "admin"})
    p = await kube.create([{
        "name": "c", "image": "img:1",
        "envFrom": [{"configMapRef": {"name": cm}}, {"secretRef": {"name": sec}, "prefix": "S_"}],
        "env": [{"name": "A", "value": "1"},
                {"name": "M", "valueFrom": {"configMapKeyRef": {"name": cm, "key": "MODE"}}},
                {"name": "P", "valueFrom": {"secretKeyRef": {"name": sec, "key": "password"}}},
                {"name": "OPT", "valueFrom": {"configMapKeyRef": {
                    "name": "nope", "key": "k", "optional": True}}},
                {"name": "MODE", "value": "override-$(A)"}]}])
    await kube.status_of(p, lambda g: g.status.phase == "Running", what="running")
    env = env_of(kube, p)
    assert env["M"] == "prod" and env["P"] == "s3cret" and env["A"] == "1"
    assert env["S_user"] == "admin" and env["S_password"] == "s3cret"
    assert env["LIT"] == "$(MODE)x"  # values from objects are not expanded
    assert env["MODE"] == "override-1"  # env wins over envFrom; literals are expanded
    assert "OPT" not in env


@pytest.mark.parametrize("ref, message", [
    ({"configMapKeyRef": {"name": "{cm}", "key": "k"}}, 'configmap "{cm}" not found'),
    ({"secretKeyRef": {"name": "{cm}", "key": "k"}}, 'secret "{cm}" not found'),
])
async def test_missing_object_waits_then_starts(kube: Harness, ref: dict[str, Any],
                                                message: str) -> None:
    name = unique("late")
    kind, sel = next(iter(ref.items()))
    p = await kube.create([{"name": "c", "image": "img:1", "env": [
        {"name": "X", "valueFrom": {kind: {**sel, "name": name}}}]}])
    got = await kube.status_of(p, lambda g: waiting(g) is not None
                               and waiting(g)[0] == "CreateContainerConfigError",  # type: ignore[index]
                               what="CreateContainerConfigError")
    assert waiting(got) == ("CreateContainerConfigError", message.format(cm=name))
    if kind == "configMapKeyRef":
        await make_cm(kube, name, {"other": "v"})
        got = await kube.status_of(
            p, lambda g: waiting(g) is not None
            and waiting(g)[1] == f"couldn't find key k in ConfigMap default/{name}",  # type: ignore[index]
            what="missing key")
        cm = await kube.client.get(ConfigMap, name, "default")
        cm.data = {"k": "v"}
        await kube.client.update(cm)
    else:
        await make_secret(kube, name, {"k": "v"})
    await kube.status_of(p, lambda g: g.status.phase == "Running", what="running")
    assert env_of(kube, p)["X"] == "v"


def read_volume(root: Path, p: Pod, plugin: str, volume: str) -> dict[str, str]:
    d = root / "pods" / (p.metadata.uid or "") / "volumes" / f"kubernetes.io~{plugin}" / volume
    if not d.is_dir():
        return {}
    return {f.name: f.read_text() for f in d.iterdir() if not f.name.startswith("..")}


async def test_volumes_written_refreshed_and_missing(kube: Harness, tmp_path: Path) -> None:
    cm, sec, late = unique("vcm"), unique("vsec"), unique("vlate")
    await make_cm(kube, cm, {"a.conf": "one", "b": "bee"})
    await make_secret(kube, sec, {"token": "t0k"})
    p = await kube.create([{"name": "c", "image": "img:1"}], volumes=[
        {"name": "cfg", "configMap": {"name": cm, "items": [{"key": "a.conf", "path": "x/a"}],
                                      "defaultMode": 0o600}},
        {"name": "sec", "secret": {"secretName": sec}},
        {"name": "opt", "configMap": {"name": "absent", "optional": True}},
        {"name": "late", "configMap": {"name": late}}])
    got = await kube.status_of(p, lambda g: waiting(g) is not None, what="waiting")
    assert waiting(got) == ("ContainerCreating", "")
    want = f'MountVolume.SetUp failed for volume "late" : configmap "{late}" not found'

    async def failed_mount() -> bool:
        evs = await kube.client.request("GET", "/api/v1/namespaces/default/events")
        return any(e["reason"] == "FailedMount" and e["message"] == want
                   and e["involvedObject"]["name"] == p.metadata.name for e in evs["items"])
    await async_wait_for(failed_mount, timeout=10, message="FailedMount event")
    assert kube.runtime.find(p.metadata.uid or "", "c") is None

    await make_cm(kube, late, {"k": "v"})
    await kube.status_of(p, lambda g: g.status.phase == "Running", what="running")
    assert read_volume(tmp_path, p, "secret", "sec") == {"token": "t0k"}
    assert read_volume(tmp_path, p, "configmap", "opt") == {}
    base = tmp_path / "pods" / (p.metadata.uid or "") / "volumes" / "kubernetes.io~configmap"
    assert (base / "cfg" / "x" / "a").read_text() == "one"
    assert (base / "cfg" / "x" / "a").stat().st_mode & 0o777 == 0o600
    assert not (base / "cfg" / "b").exists()

    obj = await kube.client.get(ConfigMap, cm, "default")
    obj.data = {"a.conf": "two"}
    await kube.client.update(obj)
    await async_wait_for(lambda: (base / "cfg" / "x" / "a").read_text() == "two", timeout=10,
                         message="volume refreshed")
    # The old payload directory is gone: ..data and the one it points to remain.
    hidden = sorted(f.name for f in (base / "cfg").iterdir() if f.name.startswith(".."))
    assert hidden == sorted(["..data", str((base / "cfg" / "..data").readlink())])


# ---- real Docker --------------------------------------------------------------------


@pytest.fixture(scope="module")
def docker_kubelet(server_url: str, dk: Any) -> Iterator[str]:
    with kubelet_on_docker(server_url, dk, "cmnode", "--sync-frequency", "1") as k:
        yield k.node


@pytest.mark.docker
def test_busybox_sees_env_secret_and_mounted_file(docker_kubelet: str, server_url: str) -> None:
    api = Client(server_url)
    cm, sec, name = unique("dcm"), unique("dsec"), unique("dpod")
    try:
        api.create(ConfigMap.from_dict({"metadata": {"name": cm, "namespace": "default"},
                                        "data": {"mode": "prod", "msg": "one"}}))
        api.create(Secret.from_dict({"metadata": {"name": sec, "namespace": "default"},
                                     "data": {"pass": b64("s3cret")}}))
        script = ('echo "mode=$MODE pass=$PASS"; '
                  'while true; do echo "file=$(cat /etc/cfg/msg) '
                  'tok=$(cat /etc/sec/pass)"; sleep 0.3; done')
        api.create(Pod.from_dict({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": docker_kubelet, "terminationGracePeriodSeconds": 1,
                     "containers": [{
                         "name": "c", "image": "busybox", "imagePullPolicy": "Never",
                         "command": ["sh", "-c", script],
                         "env": [{"name": "MODE", "valueFrom": {
                                     "configMapKeyRef": {"name": cm, "key": "mode"}}},
                                 {"name": "PASS", "valueFrom": {
                                     "secretKeyRef": {"name": sec, "key": "pass"}}}],
                         "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"},
                                          {"name": "sec", "mountPath": "/etc/sec"}]}],
                     "volumes": [{"name": "cfg", "configMap": {"name": cm}},
                                 {"name": "sec", "secret": {"secretName": sec}}]}}))

        def logs() -> str:
            try:
                return api.pod_logs(name, "default")
            except Exception:
                return ""
        out = wait_for(lambda: (t := logs()) and "file=" in t and t, timeout=30,
                       message="pod logs")
        assert out.splitlines()[0] == "mode=prod pass=s3cret"
        assert "file=one tok=s3cret" in out
        got = api.get(ConfigMap, cm, "default")
        got.data = {"mode": "changed", "msg": "two"}
        api.update(got)
        wait_for(lambda: "file=two tok=s3cret" in logs(), timeout=20,
                 message="updated file in the running container")
        assert logs().splitlines()[0] == "mode=prod pass=s3cret"  # env does not change
    finally:
        with contextlib.suppress(NotFound):
            api.delete(Pod, name, "default")
        api.close()
