"""The rules of LoadBalancer Services (pure, plus a syntax check by the kernel's own tools
in a private network namespace): load-balancer IPs to the external chain,
externalTrafficPolicy Local (host traffic through the cluster policy, the rest to the
local endpoints only, dropped when there are none), the local endpoints read from the
slices' nodeName, the health-check node port's body, and the localnet guard."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from api.models import Service
from api.models.discovery import EndpointSlice
from proxy import healthcheck, nftables, rules
from proxy.rules import EndpointInfo as E
from proxy.rules import ProxyConfig
from proxy.rules import ServicePortInfo as S
from tests.proxy.helpers import iptables_usable, needs_nft

LB = S("ns", "web", "http", "TCP", "10.96.0.50", 80, node_port=30080,
       load_balancer_ips=("127.0.240.1",))
LOCAL = S("ns", "loc", "http", "TCP", "10.96.0.51", 80, node_port=30081,
          load_balancer_ips=("127.0.240.2",), external_local=True,
          health_check_node_port=31000)
EPS = [E("10.244.0.1", 8080, local=True), E("10.244.1.1", 8080)]


def build(ports: list[S], eps: dict[str, list[E]], cidr: str = "") -> str:
    return rules.build(ports, eps, ProxyConfig(cluster_cidr=cidr)).text


def lines_of(text: str, chain: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(f"-A {chain} ")]


def test_load_balancer_ip_goes_to_the_external_chain() -> None:
    text = build([LB], {LB.name_string: EPS})
    ext = LB.ext_chain
    assert (f'-A KUBE-SERVICES -m comment --comment "ns/web:http loadbalancer IP" -m tcp -p tcp '
            f"-d 127.0.240.1 --dport 80 -j {ext}") in text
    assert lines_of(text, ext) == [
        f'-A {ext} -m comment --comment "masquerade traffic for ns/web:http external '
        f'destinations" -j KUBE-MARK-MASQ', f"-A {ext} -j {LB.svc_chain}"]
    # no endpoints: refused (INPUT/FORWARD), not routed
    text = build([LB], {})
    assert ('-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns/web:http has no endpoints" '
            "-m tcp -p tcp -d 127.0.240.1 --dport 80 -j REJECT") in text


def test_external_traffic_policy_local() -> None:
    text = build([LOCAL], {LOCAL.name_string: EPS}, cidr="10.244.0.0/16")
    ext, svc, svl = LOCAL.ext_chain, LOCAL.svc_chain, LOCAL.svl_chain
    n = "ns/loc:http"
    assert lines_of(text, ext) == [
        f'-A {ext} -m comment --comment "pod traffic for {n} external destinations" '
        f"-s 10.244.0.0/16 -j {svc}",
        f'-A {ext} -m comment --comment "masquerade LOCAL traffic for {n} external '
        f'destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ',
        f'-A {ext} -m comment --comment "route LOCAL traffic for {n} external destinations" '
        f"-m addrtype --src-type LOCAL -j {svc}",
        f"-A {ext} -j {svl}"]
    local_sep = rules.endpoint_chain(n, "tcp", "10.244.0.1:8080")
    assert lines_of(text, svl) == [
        f'-A {svl} -m comment --comment "{n} -> 10.244.0.1:8080" -j {local_sep}']
    assert len(lines_of(text, svc)) == 3  # masquerade off-cluster, then both endpoints
    assert "has no local endpoints" not in text

    # no local endpoint: external traffic dropped, the host's own still served
    text = build([LOCAL], {LOCAL.name_string: [EPS[1]]})
    assert f":{svl} - [0:0]" not in text and f"-j {svl}" not in text
    assert (f'-A KUBE-EXTERNAL-SERVICES -m comment --comment "{n} has no local endpoints" '
            "-m tcp -p tcp -d 127.0.240.2 --dport 80 -j DROP") in text
    assert (f'-A KUBE-EXTERNAL-SERVICES -m comment --comment "{n} has no local endpoints" '
            "-m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30081 -j DROP") in text
    assert lines_of(text, ext)[-1].endswith(f"--src-type LOCAL -j {svc}")


def test_nftables_local_policy() -> None:
    ruleset, _ = nftables.build([LOCAL], {LOCAL.name_string: EPS}, ProxyConfig(),
                                "10.96.0.0/12")
    loc = nftables.local_chain(LOCAL)
    ext = nftables.external_chain(LOCAL)
    text = ruleset.text
    assert f"add rule ip kube-proxy {loc} meta l4proto tcp dnat ip to 10.244.0.1:8080" in text
    assert f"add rule ip kube-proxy {ext} fib saddr type local goto " \
           f"{nftables.service_chain(LOCAL)}" in text
    assert f"add rule ip kube-proxy {ext} goto {loc}" in text
    assert "127.0.240.2 . tcp . 80 : goto external-" in text
    ruleset, _ = nftables.build([LOCAL], {LOCAL.name_string: [EPS[1]]}, ProxyConfig(),
                                "10.96.0.0/12")
    assert "127.0.240.2 . tcp . 80 : goto no-local-endpoints" in ruleset.text
    assert "tcp . 30081 : goto no-local-endpoints" in ruleset.text


def test_service_ports_and_local_endpoints_from_the_api() -> None:
    svc = Service.model_validate({
        "metadata": {"name": "loc", "namespace": "ns"},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.51",
                 "externalTrafficPolicy": "Local", "healthCheckNodePort": 31000,
                 "ports": [{"name": "http", "port": 80, "nodePort": 30081}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "127.0.240.2", "ipMode": "VIP"}]}}})
    (sp,) = rules.service_ports(svc)
    assert sp == LOCAL
    assert svc.status is not None and svc.status.load_balancer is not None
    svc.status.load_balancer.ingress[0].ip_mode = "Proxy"  # type: ignore[index]
    assert rules.service_ports(svc)[0].load_balancer_ips == ()  # not ours to answer
    sl = EndpointSlice.model_validate({
        "metadata": {"name": "s", "namespace": "ns"}, "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.244.0.1"], "nodeName": "node-1"},
                      {"addresses": ["10.244.1.1"], "nodeName": "node-2"},
                      {"addresses": ["10.244.2.1"]}]})
    got = rules.slice_endpoints([sl], "http", "TCP", ("node-1", "node-3"))
    assert got == [E("10.244.0.1", 8080, True), E("10.244.1.1", 8080),
                   E("10.244.2.1", 8080)]


def test_health_check_body_is_kube_proxys() -> None:
    body = healthcheck.body("ns", "loc", 2, True).decode()
    assert body == ('{\n\t"service": {\n\t\t"namespace": "ns",\n\t\t"name": "loc"\n\t},\n'
                    '\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}')
    assert json.loads(body) == {"service": {"namespace": "ns", "name": "loc"},
                                "localEndpoints": 2, "serviceProxyHealthy": True}


@pytest.fixture
def netns() -> Iterator[str]:
    if not iptables_usable():
        pytest.skip("needs root and iptables")
    name = f"lbt-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_the_kernel_takes_the_rules(netns: str) -> None:
    ports = [LB, LOCAL]
    eps = {LB.name_string: EPS, LOCAL.name_string: EPS}
    for table in ("nat", "filter"):  # the top chains exist before a restore names them
        for c in (rules.NAT_TOP_CHAINS if table == "nat" else rules.FILTER_TOP_CHAINS):
            subprocess.run(["ip", "netns", "exec", netns, "iptables", "-t", table, "-N", c],
                           check=True)
    text = rules.build(ports, eps, ProxyConfig(cluster_cidr="10.244.0.0/16")).text
    subprocess.run(["ip", "netns", "exec", netns, "iptables-restore", "--noflush"],
                   input=text.encode(), check=True)
    subprocess.run(["ip", "netns", "exec", netns, "iptables", "-I", "INPUT", "1",
                    *rules.LOCALNET_GUARD], check=True)
    saved = subprocess.run(["ip", "netns", "exec", netns, "iptables-save"], check=True,
                           capture_output=True, text=True).stdout
    assert LOCAL.svl_chain in saved and rules.LOCALNET_COMMENT in saved


@needs_nft
def test_nft_takes_the_rules(netns: str) -> None:
    ruleset, _ = nftables.build([LB, LOCAL], {LB.name_string: EPS,
                                              LOCAL.name_string: [EPS[1]]},
                                ProxyConfig(cluster_cidr="10.244.0.0/16"), "10.96.0.0/12")
    subprocess.run(["ip", "netns", "exec", netns, "nft", "-f", "-"],
                   input=ruleset.text.encode(), check=True)
    listed = subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "table", "ip",
                             "kube-proxy"], check=True, capture_output=True, text=True).stdout
    assert "no-local-endpoints" in listed and "fib saddr type local" in listed
