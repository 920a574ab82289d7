"""NetworkPolicies enforced on the pods' bridge by the agent (python -m proxy.netpol) with
real iptables and ipsets: the probe matrix of Kubernetes' netpol e2e suite (3 namespaces x
3 busybox pods, every pod to every pod on one port) before and after each policy, for
default-deny ingress and egress, allow from a namespace, allow from labelled pods in
labelled namespaces, ipBlock with except, named ports and egress to DNS only; traffic back
once the policies are gone, and nothing left behind after a namespace's policies and pods
go. Traffic only between this test's containers on the bridge."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import pytest

from proxy.netpol.rules import short_hash
from testing.apiclient import Api
from testing.support import unique, wait_for
from tests.netpol.helpers import (
    AgentProc,
    TestPod,
    cleanup_host,
    diff,
    http_get,
    in_pod,
    leftovers,
    matrix,
    other_agent_running,
    remove_containers,
    sh,
    skip_unless_usable,
    start_pods,
)

pytestmark = [skip_unless_usable, pytest.mark.docker, pytest.mark.slow]

NETPOLS = "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies"
Matrix = dict[tuple[str, str], bool]
MERGE = "application/merge-patch+json"


class Cluster:
    def __init__(self, api: Api, pods: list[TestPod], nss: dict[str, str]) -> None:
        self.api, self.pods, self.nss = api, pods, nss  # nss: x/y/z -> namespace

    def pod(self, label: str) -> TestPod:
        return next(p for p in self.pods if p.label == label)

    def expect(self, allowed: Any) -> Matrix:
        """The matrix where ``allowed(src_label, dst_label)`` says; a pod always reaches
        itself (loopback, as the e2e suite's AllowLoopback)."""
        return {(s.label, d.label): s is d or bool(allowed(s.label, d.label))
                for s in self.pods for d in self.pods}

    def check(self, want: Matrix, port: int = 80, timeout: float = 20) -> None:
        last: list[Matrix] = []

        def ok() -> bool:
            last[:] = [matrix(self.pods, port)]
            return last[0] == want
        try:
            wait_for(ok, timeout=timeout, interval=0.2, message="probe matrix")
        except Exception as exc:  # the matrix that did not match, not only the timeout
            raise AssertionError(f"port {port}: {diff(last[0], want)}") from exc

    def policy(self, ns: str, name: str, **spec: Any) -> None:
        body = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name}, "spec": {"podSelector": {}, **spec}}
        self.api.ok("POST", NETPOLS.format(ns=self.nss[ns]), body, 201)

    def delete_policies(self) -> None:
        """Delete this module's policies and wait until the agent has removed their chains
        (other modules' policies elsewhere may stay)."""
        gone = []
        for ns in self.nss.values():
            for p in self.api.ok("GET", NETPOLS.format(ns=ns))["items"]:
                self.api.ok("DELETE", f"{NETPOLS.format(ns=ns)}/{p['metadata']['name']}")
                gone.append(short_hash(f"{ns}/{p['metadata']['name']}"))
        wait_for(lambda: not any(h in line for line in leftovers() for h in gone),
                 timeout=20, message="the deleted policies' chains removed")


@pytest.fixture(scope="module")
def agent(server_url: str) -> Iterator[AgentProc]:
    if (other := other_agent_running()) is not None:
        pytest.skip(f"another policy agent owns this host's tables ({other})")
    a = AgentProc(server_url).start()
    try:
        yield a
    finally:
        a.stop()
        gone = leftovers() == []  # stopped, it removed its own rules
        cleanup_host()
    assert gone, "the stopped agent left rules or sets behind"
    assert leftovers() == [], "--cleanup left rules or sets behind"


@pytest.fixture(scope="module")
def cluster(api: Api, agent: AgentProc) -> Iterator[Cluster]:
    tag = unique("np")
    nss = {}
    for short in ("x", "y", "z"):
        name = f"{tag}-{short}"
        api.ok("POST", "/api/v1/namespaces",
               {"metadata": {"name": name, "labels": {"ns": short, "test": tag}}}, 201)
        nss[short] = name
    pods: list[TestPod] = []
    try:
        pods = start_pods(api, list(nss.values()), ["a", "b", "c"])
        c = Cluster(api, pods, nss)
        c.check(c.expect(lambda s, d: True))  # everything open before any policy
        yield c
    finally:
        remove_containers(pods)


@pytest.fixture
def fresh(cluster: Cluster) -> Iterator[Cluster]:
    """Each test starts with none of this module's policies programmed
    (test_policies_removed_traffic_restored probes the open matrix after a removal)."""
    yield cluster
    cluster.delete_policies()


def test_guard_jump_and_sysctl(fresh: Cluster) -> None:
    assert open("/proc/sys/net/bridge/bridge-nf-call-iptables").read().strip() == "1"
    rules = sh("iptables", "-S", "FORWARD").splitlines()
    jump = ('-A FORWARD -m comment --comment "minik8s network policies" '
            "-j MK8S-NP-FORWARD")
    assert jump in rules, rules
    # before any rule that accepts (Docker's, kube-proxy's)
    first_accept = next((i for i, r in enumerate(rules) if "-j ACCEPT" in r
                         or "DOCKER" in r), len(rules))
    assert rules.index(jump) < first_accept, rules


def test_default_deny_ingress(fresh: Cluster) -> None:
    fresh.policy("x", "deny-ingress", policyTypes=["Ingress"])
    fresh.check(fresh.expect(lambda s, d: not d.startswith("x/")))


def test_default_deny_egress(fresh: Cluster) -> None:
    fresh.policy("x", "deny-egress", policyTypes=["Egress"])
    fresh.check(fresh.expect(lambda s, d: not s.startswith("x/")))


def test_allow_from_namespace(fresh: Cluster) -> None:
    fresh.policy("x", "allow-y", podSelector={"matchLabels": {"pod": "a"}}, ingress=[
        {"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}])
    fresh.check(fresh.expect(lambda s, d: d != "x/a" or s.startswith("y/")))


def test_allow_from_labelled_pods_in_labelled_namespaces(fresh: Cluster) -> None:
    fresh.policy("x", "allow-yb", podSelector={"matchLabels": {"pod": "a"}}, ingress=[
        {"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}},
                   "podSelector": {"matchLabels": {"pod": "b"}}}]}])
    fresh.check(fresh.expect(lambda s, d: d != "x/a" or s == "y/b"))
    # the same pods in the namespace's own pods (podSelector alone): x/b only
    fresh.policy("y", "allow-own-b", podSelector={"matchLabels": {"pod": "c"}}, ingress=[
        {"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}])
    fresh.check(fresh.expect(lambda s, d: (d != "x/a" or s == "y/b")
                             and (d != "y/c" or s == "y/b")))


def test_ip_block_with_except(fresh: Cluster) -> None:
    net = ipaddress.ip_network(f"{fresh.pod('x/a').ip}/16", strict=False)
    yb = fresh.pod("y/b").ip
    fresh.policy("x", "block", podSelector={"matchLabels": {"pod": "a"}}, ingress=[
        {"from": [{"ipBlock": {"cidr": str(net), "except": [f"{yb}/32"]}}]}])
    fresh.check(fresh.expect(lambda s, d: d != "x/a" or s != "y/b"))
    # egress: z/c may reach x/b's address only (policyTypes given: with egress rules alone
    # they would default to Ingress and Egress, closing z/c to everyone)
    xb = fresh.pod("x/b").ip
    fresh.policy("z", "egress-block", podSelector={"matchLabels": {"pod": "c"}},
                 policyTypes=["Egress"], egress=[
        {"to": [{"ipBlock": {"cidr": f"{xb}/32"}}]}])
    fresh.check(fresh.expect(lambda s, d: (d != "x/a" or s != "y/b")
                             and (s != "z/c" or d == "x/b")))


def test_named_ports_and_end_port(fresh: Cluster) -> None:
    fresh.policy("x", "named", podSelector={"matchLabels": {"pod": "a"}}, ingress=[
        {"ports": [{"port": "serve-81"}]}])
    fresh.check(fresh.expect(lambda s, d: d != "x/a"), port=80)
    fresh.check(fresh.expect(lambda s, d: True), port=81)
    # a range that covers 81 only, from y
    fresh.policy("z", "range", podSelector={}, ingress=[
        {"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
         "ports": [{"port": 81, "endPort": 85, "protocol": "TCP"}]}])
    fresh.check(fresh.expect(lambda s, d: d != "x/a" and not d.startswith("z/")), port=80)
    fresh.check(fresh.expect(lambda s, d: not d.startswith("z/") or s.startswith("y/")),
                port=81)


def test_egress_to_dns_only(fresh: Cluster) -> None:
    # the usual idiom: DNS in one namespace, selected by its kubernetes.io/metadata.name
    fresh.policy("x", "dns-only", podSelector={}, policyTypes=["Egress"], egress=[
        {"to": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": fresh.nss["z"]}}}],
         "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}])
    fresh.check(fresh.expect(lambda s, d: not s.startswith("x/")))
    # port 53 itself stays open: a TCP listener there answers x's pods
    zc = fresh.pod("z/c")
    sh("docker", "exec", "-d", zc.container, "httpd", "-f", "-p", "53", "-h", "/www")
    xa = fresh.pod("x/a")

    def reach(port: int) -> bool:
        return in_pod(xa, lambda: http_get(zc.ip, port)) == "c"
    wait_for(lambda: reach(53), timeout=10, message="x/a -> z/c:53")
    assert not reach(80)


def test_ingress_and_egress_together_and_updates(fresh: Cluster) -> None:
    fresh.policy("y", "both", podSelector={"matchLabels": {"pod": "a"}},
                 policyTypes=["Ingress", "Egress"],
                 ingress=[{"from": [{"namespaceSelector": {}}]}],
                 egress=[{"to": [{"namespaceSelector": {"matchLabels": {"ns": "z"}}}]}])
    fresh.check(fresh.expect(lambda s, d: s != "y/a" or d.startswith("z/")))
    # a label change moves a pod in and out of a peer selection
    api = fresh.api
    fresh.policy("x", "from-blue", podSelector={"matchLabels": {"pod": "c"}}, ingress=[
        {"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"c": "blue"}}}]}])
    fresh.check(fresh.expect(lambda s, d: (s != "y/a" or d.startswith("z/"))
                             and d != "x/c"))
    api.ok("PATCH", f"/api/v1/namespaces/{fresh.nss['z']}/pods/b",
           {"metadata": {"labels": {"c": "blue"}}}, content_type=MERGE)
    try:
        fresh.check(fresh.expect(lambda s, d: (s != "y/a" or d.startswith("z/"))
                                 and (d != "x/c" or s == "z/b")))
    finally:
        api.ok("PATCH", f"/api/v1/namespaces/{fresh.nss['z']}/pods/b",
               {"metadata": {"labels": {"c": None}}}, content_type=MERGE)


def test_policies_removed_traffic_restored(fresh: Cluster) -> None:
    fresh.policy("x", "deny-all", policyTypes=["Ingress", "Egress"])
    fresh.policy("y", "deny-in", policyTypes=["Ingress"])
    fresh.check(fresh.expect(lambda s, d: not s.startswith("x/") and not d.startswith("x/")
                             and not d.startswith("y/")))
    fresh.delete_policies()
    fresh.check(fresh.expect(lambda s, d: True))


def test_namespace_deleted_leaves_nothing(api: Api, agent: AgentProc) -> None:
    ns = api.namespace()
    pods = start_pods(api, [ns], ["solo"])
    try:
        body = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "deny"}, "spec": {"podSelector": {},
                                                      "policyTypes": ["Ingress", "Egress"],
                                                      "ingress": [{"from": [{"ipBlock": {
                                                          "cidr": "10.0.0.0/8"}}]}]}}
        api.ok("POST", NETPOLS.format(ns=ns), body, 201)
        mine = short_hash(f"{ns}/deny")
        wait_for(lambda: pods[0].ip in sh("ipset", "list") and any(
            mine in line for line in leftovers()), timeout=15, message="the policy programmed")
        # the namespace's contents go (the namespace controller's work), then the namespace
        api.ok("DELETE", f"{NETPOLS.format(ns=ns)}/deny")
        api.ok("DELETE", f"/api/v1/namespaces/{ns}/pods/solo", gracePeriodSeconds=0)
        api.call("DELETE", f"/api/v1/namespaces/{ns}")
        wait_for(lambda: pods[0].ip not in sh("ipset", "list") and not any(
            mine in line for line in leftovers()), timeout=15,
            message="the policy's chains and sets and the pod's address gone")
    finally:
        remove_containers(pods)
