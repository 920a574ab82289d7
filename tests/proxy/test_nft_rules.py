"""The nftables mode's transaction text (pure, no I/O), in the spirit of kube-proxy's
pkg/proxy/nftables/proxier_test.go: its chain names (service-ULMVA6XW-ns1/svc1/tcp/p80 and
endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 there), the verdict maps, partial syncs
that touch only the changed Service's chains and the maps' differences, stale chains; and
the node addresses in the iptables mode's KUBE-SERVICES."""

from __future__ import annotations

from proxy import nftables, rules
from proxy.rules import EndpointInfo as E
from proxy.rules import ProxyConfig
from proxy.rules import ServicePortInfo as S

CIDR = "10.96.0.0/12"
SVC1 = S("ns1", "svc1", "p80", "TCP", "172.30.0.41", 80)
SVC2 = S("ns2", "svc2", "p80", "TCP", "172.30.0.42", 80, node_port=30080,
         affinity_seconds=10800)
SVC3 = S("ns3", "svc3", "", "UDP", "172.30.0.43", 53, node_port=30053)
PORTS = [SVC1, SVC2, SVC3]
EPS = {"ns1/svc1:p80": [E("10.180.0.1", 80), E("10.180.0.4", 80)],
       "ns2/svc2:p80": [E("10.180.0.2", 8080), E("10.180.0.3", 8080)]}
T = "ip kube-proxy"


def test_kube_proxy_chain_names() -> None:
    assert nftables.service_chain(SVC1) == "service-ULMVA6XW-ns1/svc1/tcp/p80"
    assert nftables.endpoint_chain(SVC1, E("10.180.0.1", 80)) == \
        "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
    assert nftables.external_chain(SVC1) == "external-ULMVA6XW-ns1/svc1/tcp/p80"


def test_full_sync() -> None:
    rs, st = nftables.build(PORTS, EPS, ProxyConfig(cluster_cidr="10.0.0.0/8"), CIDR,
                            node_ips=["172.18.0.5"])
    lines = rs.text.splitlines()
    svc1 = nftables.service_chain(SVC1)
    svc2 = nftables.service_chain(SVC2)
    ext2 = nftables.external_chain(SVC2)
    assert lines[0] == f'add table {T} {{ comment "rules for kube-proxy" ; }}'
    assert f"add chain {T} nat-output {{ type nat hook output priority -100 ; }}" in lines
    # dispatch through the maps
    assert f"add element {T} service-ips {{ 172.30.0.41 . tcp . 80 : goto {svc1} , " \
           f"172.30.0.42 . tcp . 80 : goto {svc2} }}" in lines
    assert f"add element {T} service-nodeports {{ tcp . 30080 : goto {ext2} }}" in lines
    assert f"add element {T} no-endpoint-services {{ 172.30.0.43 . udp . 53 : " \
           "goto reject-chain }" in lines
    assert f"add element {T} no-endpoint-nodeports {{ udp . 30053 : goto reject-chain }}" \
        in lines
    assert f"add element {T} nodeport-ips {{ 172.18.0.5 }}" in lines
    # svc1: masquerade from outside the cluster CIDR, numgen over its endpoints
    assert f"add rule {T} {svc1} ip daddr 172.30.0.41 tcp dport 80 ip saddr != 10.0.0.0/8 " \
           "jump mark-for-masquerade" in lines
    assert f"add rule {T} {svc1} meta l4proto tcp dnat ip to numgen random mod 2 map " \
           "{ 0 : 10.180.0.1 . 80 , 1 : 10.180.0.4 . 80 }" in lines
    # svc2 (ClientIP affinity): kube-proxy's endpoint chains and affinity sets
    ep = nftables.endpoint_chain(SVC2, E("10.180.0.2", 8080))
    aff = nftables.affinity_set(ep)
    assert f"add set {T} {aff} {{ type ipv4_addr ; flags dynamic,timeout ; " \
           "timeout 10800s ; }" in lines
    assert f"add rule {T} {svc2} ip saddr @{aff} goto {ep}" in lines
    assert f"add rule {T} {ep} update @{aff} {{ ip saddr }}" in lines
    assert f"add rule {T} {ep} meta l4proto tcp dnat to 10.180.0.2:8080" in lines
    assert f"add rule {T} {ext2} jump mark-for-masquerade" in lines
    # every chain declared before a rule names it
    first_rule = next(i for i, ln in enumerate(lines) if ln.startswith(f"add rule {T} {svc1}"))
    assert all(i < first_rule for i, ln in enumerate(lines)
               if ln.startswith(f"add chain {T} endpoint-"))
    # without --nodeport-addresses: node ports on local addresses too (fib)
    assert any("fib daddr type local" in ln and "@service-nodeports" in ln for ln in lines)
    assert f'add rule {T} cluster-ips-check ip daddr {CIDR} reject comment ' \
           '"Reject traffic to unallocated ClusterIPs"' in lines
    assert st.chains == {svc1, svc2, ext2, ep, nftables.endpoint_chain(
        SVC2, E("10.180.0.3", 8080))}
    rs2, _ = nftables.build(PORTS, EPS, ProxyConfig(nodeport_ips=("192.168.1.5",)), CIDR)
    assert not any("fib daddr type local" in ln for ln in rs2.text.splitlines())
    assert f"add element {T} nodeport-ips {{ 192.168.1.5 }}" in rs2.text


def test_partial_sync_rewrites_the_changed_service_and_map_differences() -> None:
    config = ProxyConfig()
    _, st = nftables.build(PORTS, EPS, config, CIDR, node_ips=["172.18.0.5"])
    eps = {**EPS, "ns1/svc1:p80": [E("10.180.0.1", 80)]}
    rs, st2 = nftables.build(PORTS, eps, config, CIDR, node_ips=["172.18.0.6"],
                             changed={"ns1/svc1"}, previous=st)
    lines = rs.text.splitlines()
    svc1 = nftables.service_chain(SVC1)
    assert rs.services_written == {"ns1/svc1"}
    assert f"flush chain {T} {svc1}" in lines
    assert f"add rule {T} {svc1} meta l4proto tcp dnat ip to 10.180.0.1:80" in lines
    assert f"delete element {T} endpoint-hairpin {{ 10.180.0.4 . 10.180.0.4 }}" in lines
    assert f"delete element {T} nodeport-ips {{ 172.18.0.5 }}" in lines
    assert f"add element {T} nodeport-ips {{ 172.18.0.6 }}" in lines
    # nothing of svc2, no base chain, no map flush
    assert not any(nftables.service_chain(SVC2) in ln for ln in lines)
    assert not any(ln.startswith(("flush map", "add table")) for ln in lines)
    # deletions of elements first, additions after the chains they name
    assert lines.index(f"delete element {T} nodeport-ips {{ 172.18.0.5 }}") < \
        lines.index(f"flush chain {T} {svc1}")
    # nothing changed: nothing to write
    rs3, _ = nftables.build(PORTS, eps, config, CIDR, node_ips=["172.18.0.6"],
                            changed=set(), previous=st2)
    assert rs3.text == ""


def test_service_going_deletes_its_chains_after_its_elements() -> None:
    config = ProxyConfig()
    _, st = nftables.build(PORTS, EPS, config, CIDR)
    rs, st2 = nftables.build([SVC1, SVC3], EPS, config, CIDR, changed={"ns2/svc2"},
                             previous=st)
    lines = rs.text.splitlines()
    svc2 = nftables.service_chain(SVC2)
    ep = nftables.endpoint_chain(SVC2, E("10.180.0.2", 8080))
    assert f"delete chain {T} {svc2}" in lines and f"delete chain {T} {ep}" in lines
    assert f"delete set {T} {nftables.affinity_set(ep)}" in lines
    assert lines.index(f"delete element {T} service-ips {{ 172.30.0.42 . tcp . 80 }}") < \
        lines.index(f"delete chain {T} {svc2}")
    assert rs.deleted_chains == 4  # service, external, two endpoints
    assert not any(svc2 in c for c in st2.chains)
    # a full sync deletes chains of ours found in the table that nothing wants
    rs, _ = nftables.build([SVC1], EPS, config, CIDR,
                           existing_chains={"services", "service-endpoints-check", svc2,
                                            "endpoint-X-a/b/tcp/__1.2.3.4/80"})
    assert f"delete chain {T} {svc2}" in rs.text
    assert f"delete chain {T} endpoint-X-a/b/tcp/__1.2.3.4/80" in rs.text
    assert f"delete chain {T} services" not in rs.text
    assert f"delete chain {T} service-endpoints-check" not in rs.text


def test_parse_listing_keeps_our_table() -> None:
    listing = ('{"nftables": [{"metainfo": {}}, {"chain": {"family": "ip", "table": '
               '"kube-proxy", "name": "services"}}, {"chain": {"family": "ip", "table": '
               '"filter", "name": "INPUT"}}, {"set": {"family": "ip", "table": "kube-proxy",'
               ' "name": "cluster-ips"}}]}')
    assert nftables.parse_listing(listing) == ({"services"}, {"cluster-ips"})
    assert nftables.parse_listing("") == (set(), set())


def test_iptables_mode_matches_node_addresses() -> None:
    eps = {"ns2/svc2:p80": EPS["ns2/svc2:p80"]}
    rs = rules.build([SVC2], eps, ProxyConfig(), node_ips=["172.18.0.5", "172.18.0.6"])
    svc_rules = [ln for ln in rs.text.splitlines() if ln.startswith("-A KUBE-SERVICES")
                 and "KUBE-NODEPORTS" in ln]
    assert [ln.split(" -j ")[0].rsplit(" ", 2)[-2:] for ln in svc_rules[:2]] == \
        [["-d", "172.18.0.5"], ["-d", "172.18.0.6"]]
    assert "--dst-type LOCAL" in svc_rules[-1]  # the local addresses stay last
    # a node that goes: the partial sync rewrites KUBE-SERVICES without it
    rs2 = rules.build([SVC2], eps, ProxyConfig(), node_ips=["172.18.0.6"], changed=set(),
                      previous_top=rs.top)
    assert ":KUBE-SERVICES - [0:0]" in rs2.text and "172.18.0.5" not in rs2.text
