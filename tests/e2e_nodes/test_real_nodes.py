"""The real-nodes mode end to end (issue "Real nodes"), on three node containers brought up by
`deploy/up.sh --real-nodes --nodes 3` (conftest): pod IPs from each node's podCIDR, pods
reaching each other across nodes by pod IP and through a ClusterIP Service, each node's
containerd holding only its own pods, the host's Docker holding nodes and no pods, hostPort
through the portmap plugin, the pod CIDR leak guard, and a node lost and restarted."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from testing.support import unique, wait_for

from .conftest import NODES, Cluster, container, node_exec, sh

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(900)]

CLUSTER_CIDR = ipaddress.IPv4Network("10.244.0.0/16")


def pod(name: str, node: str, *, image: str = "nginx:latest", labels: dict[str, str] | None = None,
        command: list[str] | None = None, ports: list[dict[str, Any]] | None = None,
        restart: str = "Always") -> dict[str, Any]:
    c: dict[str, Any] = {"name": "c", "image": image, "imagePullPolicy": "IfNotPresent"}
    if command:
        c["command"] = command
    if ports:
        c["ports"] = ports
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {"nodeName": node, "containers": [c], "restartPolicy": restart,
                     "terminationGracePeriodSeconds": 1}}


def running_ip(cl: Cluster, ns: str, name: str, timeout: float = 90) -> str:
    def ip() -> str | None:
        st = cl.get("pod", name, "-n", ns).get("status") or {}
        return str(st["podIP"]) if st.get("phase") == "Running" and st.get("podIP") else None
    return str(wait_for(ip, timeout=timeout, interval=0.5, message=f"pod {ns}/{name} Running"))


def pod_cidrs(cl: Cluster) -> dict[str, ipaddress.IPv4Network]:
    return {n["metadata"]["name"]: ipaddress.IPv4Network(n["spec"]["podCIDR"])
            for n in cl.get("nodes")["items"] if (n.get("spec") or {}).get("podCIDR")}


def node_ip(node: str) -> str:
    return sh(["docker", "inspect", "-f",
               "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
               container(node)]).stdout.split()[0]


@pytest.fixture(scope="module")
def ns(cluster: Cluster) -> Iterator[str]:
    name = unique("rn")
    cluster.kubectl("create", "namespace", name)
    # hostPort is not allowed by the baseline Pod Security level enforced outside kube-system
    cluster.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=privileged")
    # pods are admitted once the ServiceAccount controller made the namespace's default account
    wait_for(lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", name,
                                     check=False).returncode == 0,
             timeout=60, interval=0.5, message="the default ServiceAccount")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def web(cluster: Cluster, ns: str) -> dict[str, tuple[str, str]]:
    """An nginx pod on each node (app=web) and the ClusterIP Service `web` in front of them:
    node -> (pod name, pod IP)."""
    for i, node in enumerate(NODES, 1):
        d = pod(f"web-{i}", node, labels={"app": "web"},
                ports=[{"containerPort": 80, "hostPort": 18080 + i}])
        cluster.kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps(d))
    cluster.kubectl("create", "service", "clusterip", "web", "--tcp", "80:80", "-n", ns)
    return {node: (f"web-{i}", running_ip(cluster, ns, f"web-{i}"))
            for i, node in enumerate(NODES, 1)}


def test_nodes_ready_each_with_its_own_pod_cidr(cluster: Cluster) -> None:
    cidrs = pod_cidrs(cluster)
    assert set(NODES) <= set(cidrs)
    mine = [cidrs[n] for n in NODES]
    assert len(set(mine)) == len(NODES)
    assert all(c.subnet_of(CLUSTER_CIDR) and c.prefixlen == 24 for c in mine)
    def reported() -> str | None:
        # the InternalIP a node reports is its container's address on the nodes' network (a
        # node container just recreated has a new one, reported at its kubelet's next update)
        out = cluster.kubectl("get", "nodes", "-o", "wide").stdout
        return out if all(re.search(rf"^{n}\s+Ready\s.*\s{re.escape(node_ip(n))}\s", out, re.M)
                          for n in NODES) else None
    wait_for(reported, timeout=90, interval=1, message="each node's address reported")


def test_pod_ips_lie_in_their_nodes_pod_cidr(cluster: Cluster, ns: str,
                                             web: dict[str, tuple[str, str]]) -> None:
    cidrs = pod_cidrs(cluster)
    for node, (_, ip) in web.items():
        assert ipaddress.ip_address(ip) in cidrs[node], (node, ip, cidrs[node])
    wide = cluster.kubectl("get", "pods", "-n", ns, "-o", "wide").stdout
    for node, (name, ip) in web.items():
        assert re.search(rf"^{name}\s+1/1\s+Running\s+\d+\s+\S+\s+{re.escape(ip)}\s+{node}\s",
                         wide, re.M), wide


def test_each_node_runtime_lists_only_its_own_pods(cluster: Cluster, ns: str,
                                                   web: dict[str, tuple[str, str]]) -> None:
    ids: dict[str, str] = {}
    for node, (name, _) in web.items():
        st = cluster.get("pod", name, "-n", ns)["status"]["containerStatuses"][0]
        assert st["containerID"].startswith("containerd://"), st
        ids[node] = st["containerID"].removeprefix("containerd://")
    for node in NODES:
        listed = set(node_exec(node, "ctr", "-n", "k8s.io", "containers", "ls", "-q")
                     .stdout.split())
        assert ids[node] in listed
        assert not {ids[other] for other in NODES if other != node} & listed


def test_host_docker_shows_nodes_not_pods(cluster: Cluster, ns: str,
                                          web: dict[str, tuple[str, str]]) -> None:
    names = sh(["docker", "ps", "--format", "{{.Names}}"]).stdout.split()
    assert {container(n) for n in NODES} <= set(names)
    # the shared-Docker runtime labels a pod's containers with its namespace: none here
    on_host = sh(["docker", "ps", "-aq", "--filter",
                  f"label=io.kubernetes.pod.namespace={ns}"]).stdout.split()
    assert on_host == []
    assert not any(name for name, _ in web.values() if any(name in n for n in names))


def test_ps_in_a_node_shows_containerd_shims_and_pause(cluster: Cluster,
                                                       web: dict[str, tuple[str, str]]) -> None:
    out = node_exec("node-1", "ps", "faxno", "pid,ppid,args").stdout
    assert re.search(r"\bcontainerd --config", out), out
    assert "containerd-shim-runc-v2" in out, out
    assert re.search(r"\\_ /pause$", out, re.M), out
    assert "minik8s-kubelet" in out and "minik8s-proxy" in out, out


def test_pod_reaches_pods_on_other_nodes_by_ip_and_service(
        cluster: Cluster, ns: str, web: dict[str, tuple[str, str]]) -> None:
    svc = cluster.get("service", "web", "-n", ns)["spec"]["clusterIP"]
    targets = [ip for _, ip in web.values()] + [svc, svc, svc]
    script = ("fail=0; for t in " + " ".join(targets) + "; do "
              "if printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc -w 3 $t 80 "
              "| grep -q 'Welcome to nginx'; then echo ok $t; else echo FAIL $t; fail=1; fi; "
              "done; exit $fail")
    name = unique("probe")
    d = pod(name, "node-1", image="minik8s/busybox:latest", command=["sh", "-c", script],
            restart="Never")
    cluster.kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps(d))

    def done() -> str | None:
        phase = cluster.get("pod", name, "-n", ns).get("status", {}).get("phase")
        return phase if phase in ("Succeeded", "Failed") else None
    phase = wait_for(done, timeout=90, interval=0.5, message="the probe pod ends")
    logs = cluster.kubectl("logs", name, "-n", ns).stdout
    assert phase == "Succeeded", logs
    assert logs.count("ok ") == len(targets), logs


def test_cluster_dns_from_a_real_node(cluster: Cluster, ns: str,
                                      web: dict[str, tuple[str, str]]) -> None:
    """A pod on node-3 finds the Service by name through cluster DNS (kube-dns, running on
    some node as the add-on) and reaches it by that name."""
    name = unique("dns")
    script = (f"nslookup web.{ns}.svc.cluster.local && printf 'GET / HTTP/1.0\\r\\n\\r\\n' "
              "| timeout 5 nc -w 3 web 80 | grep -q 'Welcome to nginx' && echo reached")
    d = pod(name, "node-3", image="minik8s/busybox:latest", command=["sh", "-c", script],
            restart="Never")
    cluster.kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps(d))

    def done() -> str | None:
        phase = cluster.get("pod", name, "-n", ns).get("status", {}).get("phase")
        return phase if phase in ("Succeeded", "Failed") else None
    phase = wait_for(done, timeout=90, interval=0.5, message="the DNS probe pod ends")
    logs = cluster.kubectl("logs", name, "-n", ns).stdout
    assert phase == "Succeeded" and "reached" in logs, logs
    svc = cluster.get("service", "web", "-n", ns)["spec"]["clusterIP"]
    assert svc in logs, logs


def test_host_port_reaches_the_pod(cluster: Cluster, web: dict[str, tuple[str, str]]) -> None:
    for i, node in enumerate(NODES, 1):
        with socket.create_connection((node_ip(node), 18080 + i), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            s.settimeout(5)
            body = b""
            while chunk := s.recv(65536):
                body += chunk
        assert body.startswith(b"HTTP/1.1 200") and b"Welcome to nginx" in body, body[:200]


def _reject_packets(where: list[str], chain: str) -> int:
    out = sh([*where, "iptables", "-w", "5", "-L", chain, "-n", "-v", "-x"]).stdout
    return sum(int(line.split()[0]) for line in out.splitlines()[2:]
               if " REJECT " in f" {line} ")


def test_cluster_cidr_never_leaves_the_machine(cluster: Cluster,
                                               web: dict[str, tuple[str, str]]) -> None:
    nowhere = "10.244.250.9"  # in the cluster CIDR, no node's podCIDR
    route = node_exec("node-1", "ip", "route", "get", nowhere, check=False)
    assert route.returncode != 0 or "unreachable" in route.stdout, route.stdout
    t0 = time.monotonic()
    p = node_exec("node-1", "timeout", "5", "bash", "-c", f"exec 3<>/dev/tcp/{nowhere}/80",
                  check=False)
    assert p.returncode != 0 and time.monotonic() - t0 < 4  # refused at once, no timeout
    # the host: no route for the cluster CIDR, and its guard rejects what would go out
    host_routes = sh(["ip", "route", "show"]).stdout
    assert "10.244." not in host_routes, host_routes
    host_before = _reject_packets([], "MINIK8S-PODNET-HOST")
    h = sh(["timeout", "5", "bash", "-c", f"exec 3<>/dev/tcp/{nowhere}/80"], check=False)
    assert h.returncode != 0
    assert _reject_packets([], "MINIK8S-PODNET-HOST") > host_before
    # in the node the unreachable route answers first (the guard's REJECT rules are behind it,
    # for the moments before the route exists)
    rules = node_exec("node-1", "iptables", "-w", "5", "-S", "MINIK8S-PODNET").stdout
    assert re.search(r"-d 10\.244\.0\.0/16 .*-j REJECT", rules), rules


def _ready(cl: Cluster, node: str) -> str:
    n = cl.get("node", node)
    return next((c["status"] for c in n["status"].get("conditions") or []
                 if c["type"] == "Ready"), "Unknown")


def _routes(node: str) -> str:
    return node_exec(node, "ip", "route", "show").stdout


@pytest.mark.slow
def test_lost_node_pods_move_and_a_restarted_node_comes_back(cluster: Cluster, ns: str) -> None:
    """node-3's container is killed: the node goes NotReady, the Deployment's pod that ran
    there is evicted and started on another node; the Node deleted, the other nodes drop
    their route to its podCIDR. node-3 started again registers again, gets a podCIDR, and
    every node routes to it. (A node restarted without being deleted keeps its podCIDR: the
    next test.)"""
    cidr3 = str(pod_cidrs(cluster)["node-3"])
    assert f"{cidr3} via {node_ip('node-3')}" in _routes("node-1")
    tol = [{"key": k, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}
           for k in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")]
    aff = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "preference": {"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-3"]}]}}]}}
    cluster.apply({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "mover", "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "mover"}},
                 "template": {"metadata": {"labels": {"app": "mover"}}, "spec": {
                     "containers": [{"name": "c", "image": "minik8s/busybox:latest",
                                     "command": ["sleep", "3600"]}],
                     "terminationGracePeriodSeconds": 1, "tolerations": tol,
                     "affinity": aff}}}})

    def mover_on() -> str | None:
        for p in cluster.get("pods", "-n", ns, "-l", "app=mover")["items"]:
            if (p["status"].get("phase") == "Running"
                    and not p["metadata"].get("deletionTimestamp")):
                return str(p["spec"]["nodeName"])
        return None
    assert wait_for(mover_on, timeout=90, interval=0.5, message="mover Running") == "node-3"

    sh(["docker", "kill", container("node-3")])
    try:
        wait_for(lambda: _ready(cluster, "node-3") != "True", timeout=60, interval=1,
                 message="node-3 NotReady")
        moved = wait_for(lambda: (n := mover_on()) and n != "node-3" and n, timeout=90,
                         interval=1, message="mover Running on another node")
        assert moved in ("node-1", "node-2")
        cluster.kubectl("delete", "node", "node-3")
        wait_for(lambda: all(cidr3 not in _routes(n) for n in ("node-1", "node-2")),
                 timeout=30, interval=0.5, message="node-3's route removed everywhere")
    finally:
        sh(["docker", "start", container("node-3")])
    wait_for(lambda: _ready(cluster, "node-3") == "True", timeout=120, interval=1,
             message="node-3 Ready again")
    # a new Node object: the next free podCIDR (its old one unless another node took it)
    cidr = str(wait_for(lambda: pod_cidrs(cluster).get("node-3"), timeout=30, interval=0.5,
                        message="node-3's podCIDR"))
    ip3 = node_ip("node-3")
    wait_for(lambda: all(f"{cidr} via {ip3}" in _routes(n) for n in ("node-1", "node-2")),
             timeout=30, interval=0.5, message="the route to node-3 back everywhere")


@pytest.mark.slow
def test_restarted_node_keeps_its_pods_and_pod_cidr(cluster: Cluster, ns: str,
                                                    web: dict[str, tuple[str, str]]) -> None:
    cidr2 = pod_cidrs(cluster)["node-2"]
    name, _ = web["node-2"]

    def container_id() -> str:
        st = cluster.get("pod", name, "-n", ns)["status"]
        return str((st.get("containerStatuses") or [{}])[0].get("containerID") or "")
    before = container_id()
    sh(["docker", "restart", "-t", "10", container("node-2")], timeout=60)
    wait_for(lambda: container_id() not in ("", before), timeout=120, interval=1,
             message="the pod's container started again on node-2")
    ip = running_ip(cluster, ns, name, timeout=60)
    assert ipaddress.ip_address(ip) in cidr2
    assert pod_cidrs(cluster)["node-2"] == cidr2
    wait_for(lambda: _ready(cluster, "node-2") == "True", timeout=60, interval=1,
             message="node-2 Ready")
