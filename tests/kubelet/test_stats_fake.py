"""Pods that finish on the fake runtime (the command read as a script, or the environment),
and the Summary the kubelet builds from the fake runtime's synthetic usage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubelet.runtime.base import LABEL_NODE
from kubelet.runtime.fake import FakeRuntime, simulated_exit
from kubelet.stats import StatsProvider
from testing.support import async_wait_for, unique
from tests.kubelet.helpers import Harness, cstatus


@pytest.mark.parametrize(("argv", "env", "want"), [
    (["true"], {}, (0.0, 0, [])),
    (["false"], {}, (0.0, 1, [])),
    (["sleep", "2"], {}, (2.0, 0, [])),
    (["sh", "-c", "sleep 2; exit 3"], {}, (2.0, 3, [])),
    (["/bin/sh", "-c", "echo hi there && sleep 0.5\nexit 7"], {}, (0.5, 7, ["hi there"])),
    (["sh", "-c", "false && sleep 9; echo never"], {}, (0.0, 1, [])),
    (["sh", "-c", "true || exit 4"], {}, (0.0, 0, [])),
    (["sh", "-c", "echo done"], {}, (0.0, 0, ["done"])),
    ([], {"MINIK8S_FAKE_EXIT_AFTER_SECONDS": "1.5", "MINIK8S_FAKE_EXIT_CODE": "42"},
     (1.5, 42, [])),
    (["sleep", "infinity"], {}, None),
    (["sh", "-c", "while true; do sleep 1; done"], {}, None),
    (["sh", "-c", "trap 'exit 0' TERM; sleep 5"], {}, None),
    (["nginx", "-g", "daemon off;"], {}, None),
    ([], {}, None),
])
def test_simulated_exit(argv: list[str], env: dict[str, str], want: Any) -> None:
    assert simulated_exit(argv, env) == want


@pytest.fixture
async def kube(server_url: str) -> AsyncIterator[Harness]:
    async with Harness(server_url, unique("snode")) as h:
        yield h


async def test_never_pod_fails_with_the_commands_exit_code(kube: Harness) -> None:
    p = await kube.create([{"name": "a", "image": "img:1",
                            "command": ["sh", "-c", "sleep 0.5; exit 3"]}], restartPolicy="Never")
    got = await kube.status_of(p, lambda g: g.status.phase == "Failed", what="Failed")
    term = cstatus(got)["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (3, "Error")
    assert cstatus(got)["restartCount"] == 0


async def test_never_pod_succeeds(kube: Harness) -> None:
    p = await kube.create([{"name": "a", "image": "img:1", "command": ["true"]},
                           {"name": "b", "image": "img:1", "command": ["sleep", "1"]}],
                          restartPolicy="Never")
    got = await kube.status_of(p, lambda g: g.status.phase == "Succeeded", what="Succeeded")
    assert got.status is not None
    for s in got.status.container_statuses or []:
        term = s.to_dict()["state"]["terminated"]
        assert (term["exitCode"], term["reason"]) == (0, "Completed")


async def test_onfailure_restarts_a_failing_container_then_succeeds(kube: Harness) -> None:
    p = await kube.create([{"name": "a", "image": "img:1",
                            "command": ["sh", "-c", "sleep 0.5; exit 1"]}],
                          restartPolicy="OnFailure")
    got = await kube.status_of(p, lambda g: bool(g.status.container_statuses)
                               and cstatus(g)["restartCount"] >= 1, timeout=15, what="restart")
    assert got.status is not None and got.status.phase in ("Running", "Pending")
    assert cstatus(got)["lastState"]["terminated"]["exitCode"] == 1
    uid = p.metadata.uid or ""
    # this time it exits 0 (before its script would fail it)
    c = await async_wait_for(lambda: kube.runtime.find(uid, "a", running=True), timeout=15,
                             message="running again")
    kube.runtime.exit_container(c.id, 0)
    got = await kube.status_of(p, lambda g: g.status.phase == "Succeeded", timeout=15,
                               what="Succeeded")
    assert cstatus(got)["state"]["terminated"]["reason"] == "Completed"


async def test_exit_from_the_environment(kube: Harness) -> None:
    p = await kube.create([{"name": "a", "image": "img:1", "env": [
        {"name": "MINIK8S_FAKE_EXIT_AFTER_SECONDS", "value": "0.3"},
        {"name": "MINIK8S_FAKE_EXIT_CODE", "value": "42"}]}], restartPolicy="Never")
    got = await kube.status_of(p, lambda g: g.status.phase == "Failed", what="Failed")
    assert cstatus(got)["state"]["terminated"]["exitCode"] == 42


async def test_logs_of_echo(kube: Harness) -> None:
    p = await kube.create([{"name": "a", "image": "img:1",
                            "command": ["sh", "-c", "echo hello; exit 0"]}], restartPolicy="Never")
    await kube.status_of(p, lambda g: g.status.phase == "Succeeded", what="Succeeded")
    found = kube.runtime.find(p.metadata.uid or "", "a")
    assert found is not None
    chunks = [x async for x in kube.runtime.logs(found.id)]
    assert b"".join(chunks) == b"hello\n"


async def test_summary_from_synthetic_usage() -> None:
    from kubelet.runtime.base import (
        LABEL_CONTAINER_NAME,
        LABEL_POD_NAME,
        LABEL_POD_NAMESPACE,
        LABEL_POD_UID,
        LABEL_RESTART_COUNT,
        LABEL_TYPE,
        ContainerConfig,
        PodSandboxConfig,
    )
    rt = FakeRuntime()

    def labels(name: str, type_: str) -> dict[str, str]:
        return {LABEL_POD_UID: "u1", LABEL_POD_NAME: "p", LABEL_POD_NAMESPACE: "ns",
                LABEL_CONTAINER_NAME: name, LABEL_RESTART_COUNT: "0", LABEL_TYPE: type_,
                LABEL_NODE: "n1"}
    sb = await rt.run_sandbox(PodSandboxConfig(name="s", labels=labels("POD", "podsandbox"),
                                               hostname="p"))
    await rt.start_container(ContainerConfig(name="a", image="img:1",
                                             labels=labels("web", "container"),
                                             envs={"MINIK8S_FAKE_CPU_MILLICORES": "500",
                                                   "MINIK8S_FAKE_MEMORY_BYTES": "1048576"}), sb)
    cid = await rt.start_container(ContainerConfig(name="b", image="img:1",
                                                   labels=labels("side", "container")), sb)
    rt.usage_rates[("u1", "side")] = (50, 2048)
    stats = StatsProvider("n1", rt)
    s = await stats.summary()  # no previous sample: two, 1 s apart
    assert s["node"]["nodeName"] == "n1"
    [pod] = s["pods"]
    assert pod["podRef"] == {"name": "p", "namespace": "ns", "uid": "u1"}
    side, web = pod["containers"]  # by name, as the kubelet lists them
    assert (side["name"], web["name"]) == ("side", "web")
    assert web["cpu"]["usageNanoCores"] == pytest.approx(500_000_000, rel=0.05)
    assert side["cpu"]["usageNanoCores"] == pytest.approx(50_000_000, rel=0.05)
    assert web["memory"]["workingSetBytes"] == 1048576 and side["memory"]["usageBytes"] == 2048
    assert pod["cpu"]["usageNanoCores"] == pytest.approx(550_000_000, rel=0.05)
    assert pod["memory"]["workingSetBytes"] == 1048576 + 2048
    # the node: its pods plus the hollow node's own 100m and 256 MiB
    assert s["node"]["cpu"]["usageNanoCores"] == pytest.approx(650_000_000, rel=0.05)
    assert s["node"]["memory"]["workingSetBytes"] == 256 * 1024 * 1024 + 1048576 + 2048
    # counters only grow; an exited container leaves the summary
    before = web["cpu"]["usageCoreNanoSeconds"]
    rt.exit_container(cid, 0)
    s2 = await stats.summary()
    assert [c["name"] for c in s2["pods"][0]["containers"]] == ["web"]  # side exited
    assert s2["pods"][0]["containers"][0]["cpu"]["usageCoreNanoSeconds"] > before
    await rt.close()
