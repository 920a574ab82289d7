"""The rule builder's text, in the spirit of kube-proxy's proxier_test.go: golden
comparisons of the restore input (chain names are kube-proxy's own: its tests name
KUBE-SVC-XPGD46QRK7WJZT7O for ns1/svc1:p80 and KUBE-SEP-SXIVWICOYRO3J4NJ for its endpoint
10.180.0.1:80), partial syncs, stale chains and the endpoints taken from EndpointSlices."""

from __future__ import annotations

from api.models import Service
from api.models.discovery import EndpointSlice
from proxy import rules
from proxy.rules import EndpointInfo as E
from proxy.rules import ProxyConfig
from proxy.rules import ServicePortInfo as S

PORTS = [
    S("ns1", "svc1", "p80", "TCP", "10.96.0.41", 80),
    S("ns2", "svc2", "p80", "TCP", "10.96.0.42", 80, node_port=30080, affinity_seconds=10800),
    S("ns3", "svc3", "", "UDP", "10.96.0.43", 53, node_port=30053),
]
EPS = {"ns1/svc1:p80": [E("10.180.0.1", 80)],
       "ns2/svc2:p80": [E("10.180.0.2", 8080), E("10.180.0.3", 8080)]}

GOLDEN = """\
*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
-A KUBE-SERVICES -m comment --comment "ns3/svc3 has no endpoints" -m udp -p udp -d 10.96.0.43 --dport 53 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns3/svc3 has no endpoints" -m addrtype --dst-type LOCAL -m udp -p udp --dport 30053 -j REJECT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-EXT-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-SEP-RR5ESBN2QYJ2YHXN - [0:0]
:KUBE-SEP-PQDFQR6RPJCQPJPH - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 10.96.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 10.96.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS
-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 30080 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 10.96.0.41 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 10.96.0.42 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade traffic for ns2/svc2:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:8080" -m recent --name KUBE-SEP-RR5ESBN2QYJ2YHXN --rcheck --seconds 10800 --reap -j KUBE-SEP-RR5ESBN2QYJ2YHXN
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.3:8080" -m recent --name KUBE-SEP-PQDFQR6RPJCQPJPH --rcheck --seconds 10800 --reap -j KUBE-SEP-PQDFQR6RPJCQPJPH
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-RR5ESBN2QYJ2YHXN
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.3:8080" -j KUBE-SEP-PQDFQR6RPJCQPJPH
-A KUBE-SEP-RR5ESBN2QYJ2YHXN -m comment --comment ns2/svc2:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-RR5ESBN2QYJ2YHXN -m comment --comment ns2/svc2:p80 -m recent --name KUBE-SEP-RR5ESBN2QYJ2YHXN --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:8080
-A KUBE-SEP-PQDFQR6RPJCQPJPH -m comment --comment ns2/svc2:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-PQDFQR6RPJCQPJPH -m comment --comment ns2/svc2:p80 -m recent --name KUBE-SEP-PQDFQR6RPJCQPJPH --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:8080
COMMIT
"""


def test_full_sync_golden() -> None:
    r = rules.build(PORTS, EPS, ProxyConfig(cluster_cidr="10.244.0.0/16"))
    assert r.text == GOLDEN
    assert r.services_written == {"ns1/svc1", "ns2/svc2", "ns3/svc3"}
    # svc3 has no endpoints: no chains of its own, a REJECT in filter instead
    assert r.active_nat_chains == {
        *rules.NAT_TOP_CHAINS, "KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-SEP-SXIVWICOYRO3J4NJ",
        "KUBE-SVC-GNZBNJ2PO5MGZ6GT", "KUBE-EXT-GNZBNJ2PO5MGZ6GT", "KUBE-SEP-RR5ESBN2QYJ2YHXN",
        "KUBE-SEP-PQDFQR6RPJCQPJPH"}


def test_kube_proxy_chain_names() -> None:
    assert rules.service_chain("ns1/svc1:p80", "tcp") == "KUBE-SVC-XPGD46QRK7WJZT7O"
    assert rules.endpoint_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80") == \
        "KUBE-SEP-SXIVWICOYRO3J4NJ"
    # the protocol is part of the hash: a TCP and a UDP port of one name differ
    assert rules.service_chain("a/b:dns", "udp") != rules.service_chain("a/b:dns", "tcp")


def test_probabilities_one_over_remaining() -> None:
    eps = {"a/b": [E(f"10.0.0.{i}", 80) for i in range(1, 4)]}
    r = rules.build([S("a", "b", "", "TCP", "10.96.0.9", 80)], eps, ProxyConfig())
    probs = [line.split("--probability ")[1].split()[0]
             for line in r.text.splitlines() if "--probability" in line]
    assert probs == ["0.3333333333", "0.5000000000"]
    last = [line for line in r.text.splitlines()
            if line.startswith("-A KUBE-SVC-") and "-> 10.0.0.3:80" in line]
    assert len(last) == 1 and "statistic" not in last[0]
    # no cluster CIDR: no masquerade rule in the SVC chain (kube-proxy without a detector)
    assert "! -s" not in r.text


def test_masquerade_all() -> None:
    r = rules.build([S("a", "b", "", "TCP", "10.96.0.9", 80)], {"a/b": [E("10.0.0.1", 80)]},
                    ProxyConfig(masquerade_all=True))
    svc = rules.service_chain("a/b", "tcp")
    assert (f'-A {svc} -m comment --comment "a/b cluster IP" -m tcp -p tcp -d 10.96.0.9 '
            f"--dport 80 -j KUBE-MARK-MASQ") in r.text


def test_partial_sync_writes_only_changed_services() -> None:
    r = rules.build(PORTS, EPS, ProxyConfig(), changed={"ns1/svc1"})
    text = r.text
    assert ":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]" in text
    assert ":KUBE-SEP-SXIVWICOYRO3J4NJ" in text
    # svc2 unchanged: its chains are neither flushed nor rewritten, but still jumped to
    assert "KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]" not in text
    assert "-A KUBE-SVC-GNZBNJ2PO5MGZ6GT" not in text
    assert "-A KUBE-SEP-RR5ESBN2QYJ2YHXN" not in text
    assert "-j KUBE-SVC-GNZBNJ2PO5MGZ6GT" in text
    assert "-j KUBE-EXT-GNZBNJ2PO5MGZ6GT" in text
    assert "KUBE-SVC-GNZBNJ2PO5MGZ6GT" in r.active_nat_chains
    assert r.services_written == {"ns1/svc1"}
    assert r.written_service_chains == 2


def test_partial_sync_skips_unchanged_top_level_chains() -> None:
    full = rules.build(PORTS, EPS, ProxyConfig())
    # one endpoint of svc2 changes: KUBE-SERVICES and the others are as they were
    eps = {**EPS, "ns2/svc2:p80": [E("10.180.0.2", 8080), E("10.180.0.9", 8080)]}
    r = rules.build(PORTS, eps, ProxyConfig(), changed={"ns2/svc2"}, previous_top=full.top)
    lines = r.text.splitlines()
    assert not any(ln.startswith((":KUBE-SERVICES", ":KUBE-NODEPORTS", ":KUBE-FORWARD",
                                  "-A KUBE-SERVICES", "-A KUBE-NODEPORTS")) for ln in lines)
    assert ":KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]" in lines
    assert any("--to-destination 10.180.0.9:8080" in ln for ln in lines)
    assert r.top == {**full.top}
    # svc1 loses its endpoints: KUBE-SERVICES (nat and filter) changes and is rewritten whole
    eps = {"ns2/svc2:p80": EPS["ns2/svc2:p80"]}
    r = rules.build(PORTS, eps, ProxyConfig(), changed={"ns1/svc1"}, previous_top=full.top)
    text = r.text
    nat = text[text.index("*nat"):]
    flt = text[:text.index("*nat")]
    assert ":KUBE-SERVICES - [0:0]" in nat and ":KUBE-SERVICES - [0:0]" in flt
    assert "ns2/svc2:p80 cluster IP" in nat and "ns1/svc1:p80 cluster IP" not in nat
    assert "ns1/svc1:p80 has no endpoints" in flt
    assert ":KUBE-NODEPORTS" not in nat  # unchanged


def test_stale_chains_flushed_and_deleted() -> None:
    stale = {"KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-SEP-OLDOLDOLDOLDOLDO", "DOCKER", "KUBE-SERVICES"}
    r = rules.build(PORTS, EPS, ProxyConfig(), changed=set(), stale_chains=stale)
    lines = r.text.splitlines()
    assert ":KUBE-SEP-OLDOLDOLDOLDOLDO - [0:0]" in lines
    assert "-X KUBE-SEP-OLDOLDOLDOLDOLDO" in lines
    # still wanted, or not ours: kept
    assert "-X KUBE-SVC-XPGD46QRK7WJZT7O" not in lines
    assert "-X DOCKER" not in lines and "-X KUBE-SERVICES" not in lines
    assert r.deleted_chains == 1
    # the deletion comes after every rule that could still reference it
    assert lines.index("-X KUBE-SEP-OLDOLDOLDOLDOLDO") > max(
        i for i, ln in enumerate(lines) if ln.startswith("-A "))


def test_external_ips_and_nodeport_addresses() -> None:
    sp = S("a", "b", "http", "TCP", "10.96.0.9", 80, node_port=31000,
           external_ips=("192.0.2.7",))
    r = rules.build([sp], {"a/b:http": [E("10.0.0.1", 8080)]},
                    ProxyConfig(nodeport_ips=("172.18.0.1",)))
    assert (f'-A KUBE-SERVICES -m comment --comment "a/b:http external IP" -m tcp -p tcp '
            f"-d 192.0.2.7 --dport 80 -j {sp.ext_chain}") in r.text
    assert ('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this '
            'must be the last rule in this chain" -d 172.18.0.1 -j KUBE-NODEPORTS') in r.text
    assert "addrtype --dst-type LOCAL ! -d" not in r.text
    r = rules.build([sp], {}, ProxyConfig())
    assert ('-A KUBE-EXTERNAL-SERVICES -m comment --comment "a/b:http has no endpoints" '
            "-m tcp -p tcp -d 192.0.2.7 --dport 80 -j REJECT") in r.text


def _svc(spec: dict[str, object], name: str = "web") -> Service:
    return Service.model_validate({"metadata": {"name": name, "namespace": "default"},
                                   "spec": spec})


def test_service_ports_from_services() -> None:
    assert rules.service_ports(_svc({"clusterIP": "None", "ports": [{"port": 80}]})) == []
    assert rules.service_ports(_svc({"type": "ExternalName",
                                     "externalName": "example.org"})) == []
    assert rules.service_ports(_svc({"ports": [{"port": 80}]})) == []  # no IP yet
    sps = rules.service_ports(_svc({
        "type": "NodePort", "clusterIP": "10.96.3.4", "sessionAffinity": "ClientIP",
        "ports": [{"name": "http", "port": 80, "nodePort": 30001},
                  {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30002}]}))
    assert [(p.name_string, p.protocol, p.node_port, p.affinity_seconds) for p in sps] == [
        ("default/web:http", "TCP", 30001, 10800), ("default/web:dns", "UDP", 30002, 10800)]
    sps = rules.service_ports(_svc({
        "clusterIP": "10.96.3.4", "sessionAffinity": "ClientIP",
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
        "ports": [{"port": 80, "nodePort": 30001}]}))
    # a ClusterIP Service ignores a leftover nodePort
    assert (sps[0].node_port, sps[0].affinity_seconds) == (0, 60)


def _slice(name: str, ports: list[dict[str, object]],
           eps: list[dict[str, object]]) -> EndpointSlice:
    return EndpointSlice.model_validate({
        "metadata": {"name": name, "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "ports": ports, "endpoints": eps})


def test_slice_endpoints() -> None:
    ports = [{"name": "http", "port": 8080, "protocol": "TCP"}]
    a = _slice("web-a", ports, [
        {"addresses": ["10.0.0.2"], "conditions": {"ready": True}},
        {"addresses": ["10.0.0.1"]},  # no conditions: ready
        {"addresses": ["10.0.0.3"], "conditions": {"ready": False}},
        {"addresses": ["10.0.0.4"], "conditions": {"ready": False, "serving": True,
                                                   "terminating": True}}])
    b = _slice("web-b", ports, [{"addresses": ["10.0.0.2"], "conditions": {"ready": True}}])
    assert rules.slice_endpoints([a, b], "http", "TCP") == [E("10.0.0.1", 8080),
                                                            E("10.0.0.2", 8080)]
    assert rules.slice_endpoints([a], "other", "TCP") == []
    assert rules.slice_endpoints([a], "http", "UDP") == []
    # none ready: the serving, terminating ones (ProxyTerminatingEndpoints)
    c = _slice("web-c", ports, [
        {"addresses": ["10.0.0.5"], "conditions": {"ready": False}},
        {"addresses": ["10.0.0.4"], "conditions": {"ready": False, "serving": True,
                                                   "terminating": True}}])
    assert rules.slice_endpoints([c], "http", "TCP") == [E("10.0.0.4", 8080)]


def test_guard_rules() -> None:
    g = rules.guard_rules("10.96.0.0/12")
    assert [c for c, _ in g] == ["OUTPUT", "FORWARD"]
    for _, args in g:
        assert args[:2] == ["-d", "10.96.0.0/12"] and args[-2:] == ["-j", "REJECT"]


def test_partial_sync_of_nothing_is_empty() -> None:
    full = rules.build(PORTS, EPS, ProxyConfig())
    r = rules.build(PORTS, EPS, ProxyConfig(), changed=set(), previous_top=full.top)
    assert r.text.strip() == ""
    assert r.active_nat_chains == full.active_nat_chains
