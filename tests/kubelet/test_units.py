"""Kubelet pieces without a cluster: back-off, status rules, the fake runtime, helpers."""

from __future__ import annotations

from typing import Any

import pytest

from api.models import Container, Pod
from client.backoff import KeyedBackoff
from kubelet.configsources import ConfigSource
from kubelet.containerconfig import (
    container_config,
    container_name,
    make_environment,
    sandbox_config,
)
from kubelet.main import default_node_ip, parse_args
from kubelet.podworker import display_image, pull_policy
from kubelet.resources import container_resources, qos_cgroup_parent
from kubelet.runtime.base import ContainerInfo, ImagePullError, normalize_image
from kubelet.runtime.docker import _docker_time, _docker_ts
from kubelet.runtime.fake import FakeRuntime
from kubelet.status import ContainerView, build_status, pod_phase, terminated_state


class _NoCluster(ConfigSource):
    """No API server behind it: no ``kubernetes`` Service variables."""

    async def master_service_env(self) -> dict[str, str]:
        return {}


# For containers whose environment names no ConfigMap or Secret: never read.
NO_CONFIG = _NoCluster(None, "ns")  # type: ignore[arg-type]


def pod(containers: list[dict[str, Any]], **spec: Any) -> Pod:
    return Pod.from_dict({"metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
                          "spec": {"containers": containers, **spec}})


def test_backoff_doubles_from_base_to_cap_and_first_failure_is_free() -> None:
    b = KeyedBackoff(base=10, cap=40)
    assert b.remaining("k", since=100.0, now=100.0) == 0  # first crash: restart at once
    assert b.next("k", now=100.0) == 10
    assert b.remaining("k", since=105.0, now=106.0) == pytest.approx(9)
    assert b.remaining("k", since=105.0, now=116.0) == 0
    assert [b.next("k", now=t) for t in (120.0, 130.0, 140.0)] == [20, 40, 40]
    # untouched for 2 * cap: forgotten
    assert b.remaining("k", since=300.0, now=300.0) == 0
    assert b.next("k", now=300.0) == 10
    b.reset("k")
    assert b.current("k") == 0


def _c(state: str, code: int | None = None, oom: bool = False, rc: int = 0) -> ContainerInfo:
    return ContainerInfo(id="abc", name="n", pod_uid="u1", pod_name="p", pod_namespace="ns",
                         container_name="c", restart_count=rc, is_sandbox=False, state=state,
                         exit_code=code, oom_killed=oom, started_at="2026-01-01T00:00:00Z",
                         finished_at="2026-01-01T00:00:05Z" if state == "exited" else None)


def test_terminated_reasons() -> None:
    assert terminated_state(_c("exited", 0), "docker")["reason"] == "Completed"
    assert terminated_state(_c("exited", 1), "docker")["reason"] == "Error"
    t = terminated_state(_c("exited", 137, oom=True), "docker")
    assert t["reason"] == "OOMKilled" and t["exitCode"] == 137
    assert t["containerID"] == "docker://abc"
    assert terminated_state(_c("exited", 143), "docker")["signal"] == 15


@pytest.mark.parametrize(("policy", "codes", "phase"), [
    ("Always", [0], "Running"),
    ("Never", [0, 0], "Succeeded"),
    ("Never", [0, 1], "Failed"),
    ("OnFailure", [0], "Succeeded"),
    ("OnFailure", [1], "Running"),
])
def test_phase_of_terminated_pods(policy: str, codes: list[int], phase: str) -> None:
    statuses = [{"state": {"terminated": {"exitCode": c}}} for c in codes]
    assert pod_phase(policy, statuses) == phase


def test_phase_pending_running_and_crashloop() -> None:
    waiting = {"state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}
    running = {"state": {"running": {}}}
    crashloop = {"state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 1}}}
    assert pod_phase("Always", [waiting, running]) == "Pending"
    assert pod_phase("Always", [running, running]) == "Running"
    assert pod_phase("Always", [crashloop]) == "Running"


def test_build_status_conditions_and_ready() -> None:
    views = [ContainerView(name="a", image="busybox:latest", current=_c("running"), ready=True),
             ContainerView(name="b", image="busybox:latest", current=_c("running"), ready=False)]
    s = build_status("Always", views, "docker", "10.0.0.5", "127.0.0.1", "t0", "BestEffort", {})
    conds = {c["type"]: c for c in s["conditions"]}
    assert s["phase"] == "Running" and s["podIP"] == "10.0.0.5" and s["hostIP"] == "127.0.0.1"
    assert conds["Ready"]["status"] == "False"
    assert conds["Ready"]["message"] == "containers with unready status: [b]"
    assert conds["PodScheduled"]["status"] == "True" and conds["Initialized"]["status"] == "True"
    views[1].ready = True
    s2 = build_status("Always", views, "docker", "10.0.0.5", "127.0.0.1", "t0", "BestEffort", s)
    assert {c["type"]: c["status"] for c in s2["conditions"]}["ContainersReady"] == "True"
    # an unchanged condition keeps its transition time
    assert ({c["type"]: c for c in s2["conditions"]}["PodScheduled"]["lastTransitionTime"]
            == conds["PodScheduled"]["lastTransitionTime"])


def test_waiting_view_and_last_state() -> None:
    v = ContainerView(name="a", image="x:1", current=_c("exited", 1, rc=2),
                      last_terminated=_c("exited", 1, rc=2), waiting_reason="CrashLoopBackOff",
                      waiting_message="back-off", restart_count=2)
    s = build_status("Always", [v], "docker", "10.0.0.5", None, None, "BestEffort", {})
    cs = s["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["restartCount"] == 2 and cs["ready"] is False


def test_resources_and_qos_parent() -> None:
    c = Container.model_validate({"name": "a", "image": "x", "resources": {
        "limits": {"memory": "64Mi", "cpu": "500m"}, "requests": {"cpu": "250m"}}})
    r = container_resources(c)
    assert r.memory_limit == 64 * 1024 * 1024
    assert r.cpu_quota == 50_000 and r.cpu_shares == 256
    assert container_resources(Container(name="b", image="x")).cpu_shares == 2
    guaranteed = pod([{"name": "a", "image": "x", "resources": {
        "limits": {"memory": "64Mi", "cpu": "1"}, "requests": {"memory": "64Mi", "cpu": "1"}}}])
    assert qos_cgroup_parent(guaranteed) == "/kubepods/guaranteed"
    assert qos_cgroup_parent(pod([{"name": "a", "image": "x"}])) == "/kubepods/besteffort"


def test_image_names_and_pull_policy() -> None:
    assert normalize_image("busybox") == "busybox:latest"
    assert normalize_image("localhost:5000/x") == "localhost:5000/x:latest"
    assert normalize_image("a/b:1.2") == "a/b:1.2"
    assert display_image("busybox") == "busybox:latest"
    assert pull_policy(Container(name="a", image="busybox")) == "Always"
    assert pull_policy(Container(name="a", image="busybox:1.36")) == "IfNotPresent"
    assert pull_policy(Container(name="a", image="busybox:1", image_pull_policy="Never")) == "Never"


def test_docker_times() -> None:
    assert _docker_time("2026-11-27T16:40:01.123456789Z") == "2026-11-27T16:40:01Z"
    assert _docker_time("0001-01-01T00:00:00Z") is None
    assert _docker_ts("2026-11-27T16:40:01.5Z") % 1 == pytest.approx(0.5)
    assert container_name(pod([{"name": "a"}]), "a", 3) == "k8s_a_p_ns_u1_3"


async def test_fake_runtime_hooks() -> None:
    rt = FakeRuntime()
    p = pod([{"name": "a", "image": "img:1"}])
    sb = await rt.run_sandbox(sandbox_config(p, "n1", 0))

    async def start(restart_count: int) -> str:
        config = await container_config(p, p.spec.containers[0], sb.ip, "n1", restart_count,
                                        "/nonexistent", NO_CONFIG)
        return await rt.start_container(config, sb)
    cid = await start(0)
    listed = await rt.list_containers("n1")
    assert {c.container_name for c in listed} == {"POD", "a"}
    assert all(c.running for c in listed) and sb.ip
    assert await rt.list_containers("other") == []
    rt.exit_container(cid, 3, oom=True)
    got = await rt.inspect(cid)
    assert got is not None and got.exit_code == 3 and got.oom_killed and not got.running
    rt.pull_errors["bad:1"] = "no such host"
    with pytest.raises(ImagePullError, match="no such host"):
        await rt.pull_image("bad:1")
    rt.exec_results[("u1", "a")] = 1
    cid2 = await start(1)
    assert (await rt.exec(cid2, ["true"], 1)).exit_code == 1
    await rt.stop_container(cid2, 0)
    await rt.remove_container(cid2)
    assert await rt.inspect(cid2) is None


async def test_container_env_downward_api_and_expansion() -> None:
    p = pod([{"name": "a", "image": "x", "resources": {"limits": {"memory": "1Mi"}}, "env": [
        {"name": "A", "value": "x"},
        {"name": "B", "value": "$(A)-$(NOPE)-$$(A)"},
        {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "M", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}}]}])
    env = await make_environment(p, p.spec.containers[0], "10.1.2.3", NO_CONFIG)
    assert env == {"A": "x", "B": "x-$(NOPE)-$(A)", "N": "ns", "IP": "10.1.2.3", "M": "1048576"}


async def test_ensure_image_policies() -> None:
    from kubelet.runtime.base import ensure_image

    rt = FakeRuntime(all_images_present=False, images={"here:1"})
    assert await ensure_image(rt, "here:1", "IfNotPresent") == ("sha256:fake-here:1", False)
    assert rt.pulls == []
    with pytest.raises(ImagePullError) as e:
        await ensure_image(rt, "gone:1", "Never")
    assert e.value.reason == "ErrImageNeverPull"
    rt.pull_errors["here:1"] = "no registry"
    assert (await ensure_image(rt, "here:1", "Always"))[1] is False  # local copy used
    rt.pull_errors["gone:1"] = "no such host"
    with pytest.raises(ImagePullError, match="no such host"):
        await ensure_image(rt, "gone:1", "IfNotPresent")
    del rt.pull_errors["gone:1"]
    assert (await ensure_image(rt, "gone:1", "Always"))[1] is True


def test_node_ip_default_is_a_reachable_host_address(monkeypatch: pytest.MonkeyPatch) -> None:
    import ipaddress
    import socket

    import psutil

    monkeypatch.delenv("MINIK8S_NODE_IP", raising=False)
    host_ips = {a.address for addrs in psutil.net_if_addrs().values() for a in addrs
                if a.family == socket.AF_INET}
    ip = parse_args(["--node-name", "n"]).node_ip
    assert ip in host_ips
    if any(not ipaddress.ip_address(a).is_loopback for a in host_ips):
        assert not ipaddress.ip_address(ip).is_loopback  # a host with a network: not 127.0.0.1
    assert default_node_ip("::") == ip
    # served on one specific address: reachable only there
    assert parse_args(["--address", "127.0.0.1"]).node_ip == "127.0.0.1"
    assert default_node_ip("10.1.2.3") == "10.1.2.3"
    # explicit flag, then the environment, win
    assert parse_args(["--node-ip", "10.9.9.9", "--address", "127.0.0.1"]).node_ip == "10.9.9.9"
    monkeypatch.setenv("MINIK8S_NODE_IP", "10.8.8.8")
    assert parse_args([]).node_ip == "10.8.8.8"
