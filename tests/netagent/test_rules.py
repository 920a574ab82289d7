"""The network agent's rules as data (no root, no namespaces): the CNI config, the guard's
and the host's chains in iptables-save's own form, the restore text, counters, routes."""

from __future__ import annotations

from api.models import Node
from netagent import rules
from netagent.agent import internal_ip, pod_cidr_of

CLUSTER = "10.244.0.0/16"
REJECT = "-j REJECT --reject-with icmp-port-unreachable"


def test_conflist() -> None:
    conf = rules.conflist("10.244.3.0/24")
    assert conf == {
        "cniVersion": "0.4.0", "name": "minik8s",
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": False,
             "hairpinMode": True,
             "ipam": {"type": "host-local",
                      "ranges": [[{"subnet": "10.244.3.0/24", "gateway": "10.244.3.1"}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}}]}
    assert rules.conflist("10.244.3.0/24", "br9", ipam_data_dir="/x")["plugins"][0][
        "ipam"]["dataDir"] == "/x"
    assert rules.loopback_conf() == {"cniVersion": "0.4.0", "name": "lo", "type": "loopback"}
    assert rules.gateway_of("10.244.0.0/24") == "10.244.0.1"


def test_guard_before_and_after_the_node_is_known() -> None:
    c = rules.CHAIN
    # at start: nothing known, every cluster packet refused but loopback
    assert rules.guard_rules(CLUSTER, None, "cni0", None, []) == [
        f"-A {c} -o lo -j RETURN", f"-A {c} -d {CLUSTER} {REJECT}",
        f"-A {c} -s {CLUSTER} {REJECT}"]
    got = rules.guard_rules(CLUSTER, "10.244.1.0/24", "cni0", "eth0",
                            ["10.244.2.0/24", "10.244.0.0/24", "10.244.2.0/24"])
    assert got == [
        f"-A {c} -o lo -j RETURN",
        f"-A {c} -d 10.244.1.0/24 -o cni0 -j RETURN",
        f"-A {c} -s 10.244.1.0/24 ! -d {CLUSTER} -i cni0 -j RETURN",
        f"-A {c} -d 10.244.0.0/24 -o eth0 -j RETURN",
        f"-A {c} -d 10.244.2.0/24 -o eth0 -j RETURN",
        f"-A {c} -d {CLUSTER} {REJECT}", f"-A {c} -s {CLUSTER} {REJECT}"]
    assert rules.masq_rules(CLUSTER, None) == []
    assert rules.masq_rules(CLUSTER, "10.244.1.0/24") == [
        f"-A {rules.MASQ_CHAIN} -s 10.244.1.0/24 ! -d {CLUSTER} -j MASQUERADE"]
    assert rules.host_rules(CLUSTER, "minik8s-nodes") == [
        f"-A {rules.HOST_CHAIN} -o minik8s-nodes -j RETURN",
        f"-A {rules.HOST_CHAIN} -d {CLUSTER} {REJECT}",
        f"-A {rules.HOST_CHAIN} -s {CLUSTER} {REJECT}"]


def test_restore_text_and_reading_saved_rules_back() -> None:
    text = rules.restore_text({"filter": {"A": ["-A A -j RETURN"], "B": []}})
    assert text == "*filter\n:A - [0:0]\n:B - [0:0]\n-A A -j RETURN\nCOMMIT\n"
    saved = ("*filter\n:MINIK8S-PODNET - [0:0]\n"
             '[5:300] -A OUTPUT -m comment --comment "x" -j MINIK8S-PODNET\n'
             "[0:0] -A MINIK8S-PODNET -o lo -j RETURN\n"
             f"[3:180] -A MINIK8S-PODNET -d {CLUSTER} {REJECT}\nCOMMIT\n")
    assert rules.chain_rules(saved, rules.CHAIN) == [
        "-A MINIK8S-PODNET -o lo -j RETURN", f"-A MINIK8S-PODNET -d {CLUSTER} {REJECT}"]
    assert rules.counters(saved, f"-A MINIK8S-PODNET -d {CLUSTER} {REJECT}") == (3, 180)
    assert rules.counters(saved, "-A NOPE") is None


def test_routes_and_node_fields() -> None:
    routes = rules.peer_routes({"b": ("10.244.2.0/24", "172.18.0.3"),
                                "a": ("10.244.1.0/24", "172.18.0.2")}, "eth0")
    assert list(routes) == ["10.244.1.0/24", "10.244.2.0/24"]
    assert routes["10.244.2.0/24"].argv() == ["10.244.2.0/24", "via", "172.18.0.3", "dev",
                                              "eth0", "proto", rules.ROUTE_PROTO]
    n = Node.from_dict({"metadata": {"name": "n"},
                        "spec": {"podCIDR": "10.244.7.0/24",
                                 "podCIDRs": ["fd00::/64", "10.244.7.0/24"]},
                        "status": {"addresses": [{"type": "Hostname", "address": "n"},
                                                 {"type": "InternalIP", "address": "fd00::1"},
                                                 {"type": "InternalIP",
                                                  "address": "172.18.0.9"}]}})
    assert pod_cidr_of(n) == "10.244.7.0/24" and internal_ip(n) == "172.18.0.9"
    bare = Node.from_dict({"metadata": {"name": "m"}})
    assert pod_cidr_of(bare) is None and internal_ip(bare) is None
