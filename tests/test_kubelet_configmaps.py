"""ConfigMaps and Secrets consumed by pods: env (valueFrom, envFrom) and volumes.

The logic runs against the real API server with the fake runtime; one test runs a
busybox pod on real Docker and reads what it saw through its logs.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from api.models import ConfigMap, Pod, Secret
from kubelet.kubelet import KubeletConfig
from tests.support import free_port, unique
from tests.test_kubelet_fake import Harness, cstatus


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@pytest.fixture
async def kube(server_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(server_url, unique("cnode"))
    h.agent.config = KubeletConfig(node_name=h.node, port=free_port(), backoff_base=0.4,
                                   backoff_cap=3.2, relist_seconds=1.0, resync_seconds=1.0,
                                   root_dir=str(tmp_path))
    await h.agent.start()
    yield h
    await h.agent.stop()
    await h.client.close()


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

