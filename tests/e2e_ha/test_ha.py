"""The HA profile end to end (deploy/up.sh --ha, through HAProxy on 127.0.0.1:16443):

- a Deployment's pods run (every client, kubelets included, goes through the balancer);
- kill -9 of the scheduler leader: the other replica takes the Lease and binds new pods;
- one API server stopped: kubectl through the balancer keeps working (reads and writes);
- one etcd member stopped: writes still succeed (the API servers' etcd client fails over).
Each fault is undone before the next test."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from testing.support import unique, wait_for
from tests.e2e_ha.conftest import LEASE, HaCluster

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(600)]

LEASE_S = float(LEASE["MINIK8S_LEASE_DURATION"])
RETRY_S = float(LEASE["MINIK8S_RETRY_PERIOD"])


@pytest.fixture(scope="module")
def ns(ha: HaCluster) -> Iterator[str]:
    name = unique("ha")
    ha.kubectl("create", "namespace", name)
    yield name
    ha.kubectl("delete", "namespace", name, "--wait=false", check=False)


def get_json(ha: HaCluster, *args: str) -> Any:
    return json.loads(ha.kubectl("get", *args, "-o", "json").stdout)


def running(ha: HaCluster, ns: str, selector: str) -> int:
    pods = get_json(ha, "pods", "-n", ns, "-l", selector)["items"]
    return sum(1 for p in pods if p["status"].get("phase") == "Running"
               and not p["metadata"].get("deletionTimestamp"))


def holder(ha: HaCluster, lease: str) -> str:
    spec = get_json(ha, "lease", lease, "-n", "kube-system")["spec"]
    return str(spec.get("holderIdentity") or "")


def test_deployment_runs_through_the_balancer(ha: HaCluster, ns: str) -> None:
    ha.kubectl("-n", ns, "create", "deployment", "web", "--image=nginx:latest", "--replicas=2")
    wait_for(lambda: running(ha, ns, "app=web") == 2, timeout=90, interval=1,
             message="2 Running pods")
    nodes = get_json(ha, "nodes")["items"]
    assert {n["metadata"]["name"] for n in nodes} >= {"node-1", "node-2"}
    # the balancer is the only published address: the API servers are not on the host
    ps = ha.sh(["docker", "ps", "--filter", "label=com.docker.compose.project=minik8s-ha",
                "--format", "{{.Label \"com.docker.compose.service\"}} {{.Ports}}"]).stdout
    published = {line.split()[0] for line in ps.splitlines() if "->" in line}
    assert "apiserver" in published, ps
    assert not published & {"apiserver-1", "apiserver-2", "etcd-1", "etcd-2", "etcd-3"}, ps
    # the kubernetes Service leads to both API servers at their addresses on the pods'
    # network (the control network's are on another bridge, out of the pods' reach)
    ep = get_json(ha, "endpoints", "kubernetes", "-n", "default")
    ips = [a["ip"] for sub in ep.get("subsets") or [] for a in sub.get("addresses") or []]
    assert len(ips) == 2 and not any(ip.startswith("10.218.18.") for ip in ips), ips


def test_scheduler_leader_killed_other_takes_over(ha: HaCluster, ns: str) -> None:
    first = wait_for(lambda: holder(ha, "minik8s-scheduler"), timeout=30, interval=0.5,
                     message="a scheduler leader")
    container = ha.sh(["docker", "ps", "-q", "--filter", f"id={first.split('_')[0]}"]
                      ).stdout.strip()
    assert container, f"no container for the leader {first}"
    t0 = time.monotonic()
    ha.sh(["docker", "kill", "-s", "KILL", container])
    name = unique("after-kill")
    ha.kubectl("-n", ns, "run", name, "--image=nginx:latest")

    def bound() -> bool:
        pod = get_json(ha, "pod", name, "-n", ns)
        return bool(pod["spec"].get("nodeName"))
    wait_for(bound, timeout=LEASE_S + 30, interval=0.25, message="the pod bound by the other")
    took = time.monotonic() - t0
    new = holder(ha, "minik8s-scheduler")
    assert new and new != first
    # lease + retry, plus kubectl's and the machine's slack
    assert took <= LEASE_S + RETRY_S + 15, took


def test_one_apiserver_stopped_kubectl_keeps_working(ha: HaCluster, ns: str) -> None:
    c = ha.container("apiserver-1")
    ha.sh(["docker", "stop", "-t", "10", c], timeout=60)
    try:
        for i in range(5):
            ha.kubectl("-n", ns, "create", "configmap", f"api-down-{i}", "--from-literal=k=v")
            assert get_json(ha, "configmap", f"api-down-{i}", "-n", ns)["data"] == {"k": "v"}
        assert running(ha, ns, "app=web") == 2
    finally:
        ha.sh(["docker", "start", c])
    wait_for(lambda: ha.sh(["docker", "inspect", "-f", "{{.State.Health.Status}}", c]
                           ).stdout.strip() == "healthy", timeout=90, interval=1,
             message="apiserver-1 healthy again")


def test_one_etcd_member_stopped_writes_succeed(ha: HaCluster, ns: str) -> None:
    c = ha.container("etcd-1")
    ha.sh(["docker", "stop", "-t", "5", c], timeout=60)
    try:
        for i in range(5):
            ha.kubectl("-n", ns, "create", "configmap", f"etcd-down-{i}", "--from-literal=k=v")
        ha.kubectl("-n", ns, "scale", "deployment", "web", "--replicas=3")
        wait_for(lambda: running(ha, ns, "app=web") == 3, timeout=90, interval=1,
                 message="3 Running pods with one etcd member down")
    finally:
        ha.sh(["docker", "start", c])
    wait_for(lambda: ha.sh(["docker", "inspect", "-f", "{{.State.Health.Status}}", c]
                           ).stdout.strip() == "healthy", timeout=90, interval=1,
             message="etcd-1 healthy again")
