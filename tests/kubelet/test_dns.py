"""A pod's resolv.conf, hostname and domain per dnsPolicy (kubelet/dns.py, the port of
pkg/kubelet/network/dns/dns.go): the policy table and the limits as pure functions, the
sandbox config the pod worker hands the runtime (fake runtime), and the files the pod's
containers see on Docker (``docker exec cat /etc/resolv.conf``, ``hostname``,
/etc/hosts)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.models import Event, Pod
from api.validation.pod import validate_pod_spec
from client.errors import NotFound
from client.rest import Client
from kubelet.containerconfig import sandbox_config
from kubelet.dns import ClusterDNSSettings, HostDNS, hostname_and_domain, parse_resolv_conf, pod_dns
from kubelet.runtime.base import PodSandboxConfig, SandboxInfo
from kubelet.runtime.fake import FakeRuntime
from testing.support import async_wait_for, unique, wait_for
from tests.kubelet.helpers import Harness, KubeletProc, kubelet_on_docker

HOST = HostDNS(nameservers=("192.0.2.1",), searches=("corp.example",), options=("ndots:1",))
CLUSTER = ClusterDNSSettings(cluster_dns=("10.96.0.10",), cluster_domain="cluster.local",
                             host=HOST)


def pod(name: str = "p", ns: str = "team", **spec: Any) -> Pod:
    return Pod.from_dict({"metadata": {"name": name, "namespace": ns},
                          "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}})


# ---- the policy table ------------------------------------------------------------


def test_cluster_first_names_the_cluster_dns_with_the_namespace_search_list() -> None:
    cfg, warnings = pod_dns(pod(), CLUSTER)
    assert cfg is not None and not warnings
    assert cfg.servers == ["10.96.0.10"]
    assert cfg.searches == ["team.svc.cluster.local", "svc.cluster.local", "cluster.local",
                            "corp.example"]  # the host's search domains appended
    assert cfg.options == ["ndots:5"]
    assert cfg.resolv_conf() == (
        "nameserver 10.96.0.10\n"
        "search team.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
        "options ndots:5\n")
    # the explicit policy is the same
    assert pod_dns(pod(dnsPolicy="ClusterFirst"), CLUSTER)[0] == cfg


def test_cluster_first_without_cluster_dns_falls_back_to_default() -> None:
    settings = ClusterDNSSettings(cluster_dns=(), host=HOST)
    cfg, warnings = pod_dns(pod(), settings)
    assert cfg is None  # the runtime's own resolv.conf, exactly as before cluster DNS
    assert len(warnings) == 1 and warnings[0][0] == "MissingClusterDNS"
    assert 'Falling back to "Default" policy' in warnings[0][1]


def test_default_keeps_the_runtime_resolv_conf_unless_dns_config_asks() -> None:
    assert pod_dns(pod(dnsPolicy="Default"), CLUSTER) == (None, [])
    cfg, _ = pod_dns(pod(dnsPolicy="Default", dnsConfig={
        "nameservers": ["192.0.2.9"], "searches": ["x.example"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}), CLUSTER)
    assert cfg is not None
    assert cfg.servers == ["192.0.2.1", "192.0.2.9"]
    assert cfg.searches == ["corp.example", "x.example"]
    assert cfg.options == ["ndots:2", "edns0"]  # merged by name, the pod's value wins


def test_host_network_pods() -> None:
    # ClusterFirst on the host network is Default; ClusterFirstWithHostNet is the cluster's
    assert pod_dns(pod(hostNetwork=True), CLUSTER) == (None, [])
    cfg, _ = pod_dns(pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"), CLUSTER)
    assert cfg is not None and cfg.servers == ["10.96.0.10"]


def test_none_takes_only_dns_config_and_limits_are_applied() -> None:
    cfg, warnings = pod_dns(pod(dnsPolicy="None", dnsConfig={
        "nameservers": ["1.1.1.1", "192.0.2.2"], "searches": ["a.example"],
        "options": [{"name": "ndots", "value": "3"}]}), CLUSTER)
    assert cfg is not None and not warnings
    assert (cfg.servers, cfg.searches, cfg.options) == (
        ["1.1.1.1", "192.0.2.2"], ["a.example"], ["ndots:3"])
    # ClusterFirst + 3 more nameservers: 4 > 3, the first 3 kept, with a warning
    cfg, warnings = pod_dns(pod(dnsConfig={"nameservers": ["192.0.2.7", "192.0.2.8",
                                                           "192.0.2.9"]}), CLUSTER)
    assert cfg is not None and cfg.servers == ["10.96.0.10", "192.0.2.7", "192.0.2.8"]
    assert len(warnings) == 1 and warnings[0][0] == "DNSConfigForming"
    assert "Nameserver limits were exceeded" in warnings[0][1]
    cfg, warnings = pod_dns(pod(dnsPolicy="None", dnsConfig={
        "nameservers": ["192.0.2.1"], "searches": [f"s{i}.example" for i in range(40)]}),
        CLUSTER)
    assert cfg is not None and len(cfg.searches) == 32
    assert warnings[0][0] == "DNSConfigForming"
    assert "Search Line limits were exceeded" in warnings[0][1]


def test_parse_resolv_conf() -> None:
    h = parse_resolv_conf("# comment\nnameserver 127.0.0.11\nsearch a.example b.example\n"
                          "search c.example\noptions ndots:0 edns0\noptions ndots:2 ; x\n")
    assert h == HostDNS(("127.0.0.11",), ("c.example",), ("ndots:2", "edns0"))


def test_hostname_and_domain() -> None:
    assert hostname_and_domain(pod("web-0"), "cluster.local") == ("web-0", "")
    assert hostname_and_domain(pod("web-0", hostname="db", subdomain="dbs"), "cluster.local") \
        == ("db", "dbs.team.svc.cluster.local")
    long = "a" * 62 + "-bcd"
    assert hostname_and_domain(pod(long), "cluster.local")[0] == "a" * 62  # 63, '-' trimmed
    sb = sandbox_config(pod("x", hostname="h", subdomain="s"), "n1", 0, None, "corp.local")
    assert (sb.hostname, sb.domainname, sb.dns_config) == ("h", "s.team.svc.corp.local", None)


def test_validation_of_dns_fields() -> None:
    def errs(**spec: Any) -> list[tuple[str, str]]:
        full = {"containers": [{"name": "c", "image": "busybox"}], **spec}
        return [(e.field, e.type) for e in validate_pod_spec(full)]
    assert errs(dnsPolicy="None") == [("spec.dnsConfig", "FieldValueRequired")]
    assert errs(dnsPolicy="None", dnsConfig={"searches": ["a.example"]}) == \
        [("spec.dnsConfig.nameservers", "FieldValueRequired")]
    assert errs(dnsPolicy="None", dnsConfig={"nameservers": ["10.0.0.1"]}) == []
    assert errs(dnsConfig={"nameservers": ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"]}) == \
        [("spec.dnsConfig.nameservers", "FieldValueInvalid")]
    assert errs(dnsConfig={"nameservers": ["not-an-ip"], "searches": ["Bad_Name", "ok.example."],
                           "options": [{"value": "2"}]}) == [
        ("spec.dnsConfig.nameservers[0]", "FieldValueInvalid"),
        ("spec.dnsConfig.searches[0]", "FieldValueInvalid"),
        ("spec.dnsConfig.options[0]", "FieldValueRequired")]
    assert errs(subdomain="Not_A_Label") == [("spec.subdomain", "FieldValueInvalid")]
    assert errs(dnsPolicy="Sometimes") == [("spec.dnsPolicy", "FieldValueNotSupported")]


# ---- what the pod worker gives the runtime (fake runtime) -------------------------


class RecordingRuntime(FakeRuntime):
    def __init__(self) -> None:
        super().__init__()
        self.sandboxes: dict[str, PodSandboxConfig] = {}

    async def run_sandbox(self, config: PodSandboxConfig) -> SandboxInfo:
        info = await super().run_sandbox(config)
        self.sandboxes[config.labels["io.kubernetes.pod.name"]] = config
        return info


async def test_pod_worker_passes_the_dns_config_and_warns(server_url: str) -> None:
    rt = RecordingRuntime()
    h = Harness(server_url, unique("dnsnode"), dns=ClusterDNSSettings(cluster_dns=("10.96.0.10",)))
    h.runtime = rt
    h.agent.runtime_factory = lambda _n: rt  # type: ignore[attr-defined,method-assign]
    bare = Harness(server_url, unique("nodns"))
    brt = RecordingRuntime()
    bare.agent.runtime_factory = lambda _n: brt  # type: ignore[attr-defined,method-assign]
    async with h, bare:
        p = await h.create([{"name": "c", "image": "img:1"}], hostname="h0", subdomain="sub")
        q = await bare.create([{"name": "c", "image": "img:1"}])
        r = await h.create([{"name": "c", "image": "img:1"}], dnsConfig={
            "nameservers": ["192.0.2.1", "192.0.2.2", "192.0.2.3"]})
        cfg = await async_wait_for(lambda: rt.sandboxes.get(p.metadata.name or ""), timeout=10)
        assert cfg.dns_config is not None and cfg.dns_config.servers == ["10.96.0.10"]
        assert cfg.dns_config.searches[:3] == ["default.svc.cluster.local", "svc.cluster.local",
                                               "cluster.local"]
        assert (cfg.hostname, cfg.domainname) == ("h0", "sub.default.svc.cluster.local")
        cfg = await async_wait_for(lambda: brt.sandboxes.get(q.metadata.name or ""), timeout=10)
        assert cfg.dns_config is None  # no --cluster-dns: the runtime's, as before

        cfg = await async_wait_for(lambda: rt.sandboxes.get(r.metadata.name or ""), timeout=10)
        assert cfg.dns_config is not None and len(cfg.dns_config.servers) == 3

        async def warned() -> bool:
            evs = await h.client.list(Event, "default",
                                      field_selector=f"involvedObject.name={r.metadata.name}")
            return any(e.reason == "DNSConfigForming" and e.type == "Warning"
                       and "Nameserver limits were exceeded" in (e.message or "")
                       for e in evs.items)
        await async_wait_for(warned, timeout=10, message="DNSConfigForming event")


# ---- on Docker ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(server_url: str) -> Iterator[Client]:
    c = Client(server_url)
    yield c
    c.close()


@pytest.fixture(scope="module")
def dns_kubelet(server_url: str, dk: Any) -> Iterator[KubeletProc]:
    with kubelet_on_docker(server_url, dk, "dnsnode", "--cluster-dns", "10.96.0.10",
                           "--cluster-domain", "cluster.local", "--resolv-conf", "") as k:
        yield k


def _run_pod(api: Client, node: str, **spec: Any) -> Pod:
    p = api.create(Pod.from_dict({
        "metadata": {"name": unique("dnsp"), "namespace": "default"},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1, "containers": [{
            "name": "c", "image": "minik8s/busybox:latest", "imagePullPolicy": "Never",
            "command": ["sleep", "3600"]}], **spec}}))

    def running() -> Pod | None:
        g = api.get(Pod, p.metadata.name or "", "default")
        return g if g.status is not None and g.status.phase == "Running" else None
    return wait_for(running, timeout=30, message=f"pod {p.metadata.name} Running")


def _exec(dk: Any, p: Pod, *cmd: str) -> str:
    uid = p.metadata.uid
    cs = [c for c in dk.containers.list(filters={"label": f"io.kubernetes.pod.uid={uid}"})
          if c.labels.get("io.kubernetes.container.name") == "c"]
    assert len(cs) == 1
    code, out = cs[0].exec_run(list(cmd))
    assert code == 0, out
    return str(out.decode())


def _delete(api: Client, *pods: Pod) -> None:
    for p in pods:
        try:
            api.delete(Pod, p.metadata.name or "", "default")
        except NotFound:
            pass


@pytest.mark.docker
@pytest.mark.slow
def test_resolv_conf_hostname_and_hosts_on_docker(api: Client, dns_kubelet: KubeletProc,
                                                  dk: Any) -> None:
    node = dns_kubelet.node
    first = _run_pod(api, node, hostname="db-0", subdomain="db")
    default = _run_pod(api, node, dnsPolicy="Default")
    none = _run_pod(api, node, dnsPolicy="None", dnsConfig={
        "nameservers": ["192.0.2.53"], "searches": ["a.example"],
        "options": [{"name": "ndots", "value": "2"}]})
    try:
        assert _exec(dk, first, "cat", "/etc/resolv.conf") == (
            "nameserver 10.96.0.10\n"
            "search default.svc.cluster.local svc.cluster.local cluster.local\n"
            "options ndots:5\n")
        assert _exec(dk, first, "hostname").strip() == "db-0"
        hosts = _exec(dk, first, "cat", "/etc/hosts")
        ip = first.status.pod_ip if first.status else None
        assert ip and any(line.split() == [ip, "db-0.db.default.svc.cluster.local", "db-0"]
                          for line in hosts.splitlines()), hosts
        # Default: Docker's own, built from the node's (the pods' network's resolver)
        assert "nameserver 127.0.0.11" in _exec(dk, default, "cat", "/etc/resolv.conf")
        assert _exec(dk, default, "hostname").strip() == default.metadata.name
        assert _exec(dk, none, "cat", "/etc/resolv.conf") == (
            "nameserver 192.0.2.53\nsearch a.example\noptions ndots:2\n")
    finally:
        _delete(api, first, default, none)
