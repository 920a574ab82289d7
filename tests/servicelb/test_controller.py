"""The servicelb controller on a real API server (a private one: it acts on every
LoadBalancer Service) with a small range, 127.0.250.0/29 (six addresses): allocation,
status with ipMode VIP, the cleanup finalizer and cloud-provider's events, loadBalancerIP,
loadBalancerClass, freeing on delete and type change, a full range, a restart keeping
addresses, allocateLoadBalancerNodePorts false, healthCheckNodePort; EXTERNAL-IP in
kubectl's and minictl's get svc, kubectl expose, the official client."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from testing.apiclient import Api
from testing.kubectl import Kubectl
from testing.support import ApiServer, Process, wait_for
from tests.cli.helpers import ok
from tests.controllers.helpers import start_controller_manager

pytestmark = pytest.mark.timeout(120)

RANGE = "127.0.250.0/29"
FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
SVCS = "/api/v1/namespaces/{ns}/services"


@pytest.fixture(scope="module")
def server_url(private_apiserver: ApiServer) -> str:
    return private_apiserver.url


@pytest.fixture(scope="module")
def cm(server_url: str) -> Iterator[dict[str, Process]]:
    holder = {"p": start_controller_manager(
        server_url, "--controllers=servicelb", f"--load-balancer-ip-range={RANGE}")}
    yield holder
    holder["p"].stop()


def lb(api: Api, ns: str, name: str, **spec: Any) -> dict[str, Any]:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "LoadBalancer", "selector": {"app": name},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080}], **spec}}
    out: dict[str, Any] = api.ok("POST", SVCS.format(ns=ns), body, 201)
    return out


def get(api: Api, ns: str, name: str) -> dict[str, Any] | None:
    code, out = api.call("GET", f"{SVCS.format(ns=ns)}/{name}")
    return out if code == 200 else None


def ingress(api: Api, ns: str, name: str) -> list[dict[str, Any]]:
    svc = get(api, ns, name) or {}
    return list(((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])


def wait_ip(api: Api, ns: str, name: str) -> str:
    ing = wait_for(lambda: ingress(api, ns, name), timeout=20, message=f"{name}'s address")
    return str(ing[0]["ip"])


def reasons(api: Api, ns: str, name: str) -> list[tuple[str, str, str]]:
    evs = api.ok("GET", f"/api/v1/namespaces/{ns}/events")["items"]
    return [(e["type"], e["reason"], e["message"]) for e in evs
            if e["involvedObject"]["name"] == name and e["involvedObject"]["kind"] == "Service"]


def same_table(mine: str, theirs: str) -> bool:
    """The same table but for the AGE cells (a second may pass between the two)."""
    def cells(text: str) -> list[list[str]]:
        rows = [ln.split() for ln in text.splitlines()]
        return [r[:5] + r[6:] for r in rows]
    return cells(mine) == cells(theirs)


def warned(api: Api, ns: str, name: str, msg: str) -> None:
    wait_for(lambda: ("Warning", "SyncLoadBalancerFailed", msg) in reasons(api, ns, name),
             timeout=20, message=f"{name}'s warning")


def delete(api: Api, ns: str, name: str) -> None:
    api.ok("DELETE", f"{SVCS.format(ns=ns)}/{name}")
    wait_for(lambda: get(api, ns, name) is None, timeout=20, message=f"{name} gone")


def test_allocates_frees_and_reuses(api: Api, cm: dict[str, Process], kubectl: Kubectl,
                                    server_url: str) -> None:
    ns = api.namespace()
    lb(api, ns, "a")
    ip_a = wait_ip(api, ns, "a")
    assert ip_a == "127.0.250.1"  # lowest first
    svc = get(api, ns, "a") or {}
    assert svc["status"]["loadBalancer"]["ingress"] == [{"ip": ip_a, "ipMode": "VIP"}]
    assert FINALIZER in svc["metadata"]["finalizers"]
    assert svc["spec"]["ports"][0]["nodePort"] >= 30000  # allocateLoadBalancerNodePorts
    wait_for(lambda: {r for _, r, _ in reasons(api, ns, "a")} >=
             {"EnsuringLoadBalancer", "EnsuredLoadBalancer"}, timeout=10, message="events")
    assert ("Normal", "EnsuredLoadBalancer", "Ensured load balancer") in reasons(api, ns, "a")

    # EXTERNAL-IP as kubectl prints it, and minictl the same
    row = kubectl("-n", ns, "get", "svc", "a").stdout.splitlines()[1].split()
    assert row[:2] == ["a", "LoadBalancer"] and row[3] == ip_a
    assert same_table(ok(server_url, "-n", ns, "get", "svc", "a"),
                      kubectl("-n", ns, "get", "svc", "a").stdout)

    # describe as kubectl's (up to the events' ages)
    mine = ok(server_url, "-n", ns, "describe", "svc", "a")
    theirs = kubectl("-n", ns, "describe", "svc", "a").stdout
    assert mine.split("Events:")[0] == theirs.split("Events:")[0]
    assert f"LoadBalancer Ingress:     {ip_a} (VIP)" in mine
    assert "EnsuredLoadBalancer" in mine.split("Events:")[1]

    lb(api, ns, "b")
    assert wait_ip(api, ns, "b") == "127.0.250.2"
    delete(api, ns, "a")  # the finalizer goes once the address is freed
    wait_for(lambda: ("Normal", "DeletedLoadBalancer", "Deleted load balancer")
             in reasons(api, ns, "a"), timeout=10, message="DeletedLoadBalancer")
    lb(api, ns, "c")
    assert wait_ip(api, ns, "c") == ip_a  # freed, handed out again
    for name in ("b", "c"):
        delete(api, ns, name)


def test_requested_ip_class_and_type_change(api: Api, cm: dict[str, Process],
                                            kubectl: Kubectl, server_url: str) -> None:
    ns = api.namespace()
    lb(api, ns, "want", loadBalancerIP="127.0.250.5")
    assert wait_ip(api, ns, "want") == "127.0.250.5"
    # taken, or outside the range: a Warning and no address
    lb(api, ns, "taken", loadBalancerIP="127.0.250.5")
    lb(api, ns, "outside", loadBalancerIP="127.0.0.1")
    for name, why in (("taken", f"127.0.250.5 is already allocated to Service {ns}/want"),
                      ("outside", f"127.0.0.1 is not in the load-balancer range {RANGE}")):
        msg = (f"Error syncing load balancer: failed to ensure load balancer: requested "
               f"loadBalancerIP {why}")
        warned(api, ns, name, msg)
        assert ingress(api, ns, name) == []
    table = kubectl("-n", ns, "get", "svc", "taken").stdout
    assert table.splitlines()[1].split()[3] == "<pending>"
    assert same_table(ok(server_url, "-n", ns, "get", "svc", "taken"), table)
    # the requested address freed: the waiting Service gets it
    delete(api, ns, "want")
    assert wait_ip(api, ns, "taken") == "127.0.250.5"

    # another implementation's class: left alone (no finalizer, no address, no event)
    lb(api, ns, "theirs", loadBalancerClass="example.com/other")
    lb(api, ns, "mine", loadBalancerClass="minik8s.io/loopback")
    wait_ip(api, ns, "mine")
    svc = get(api, ns, "theirs") or {}
    assert ingress(api, ns, "theirs") == [] and FINALIZER not in \
        (svc["metadata"].get("finalizers") or [])
    assert reasons(api, ns, "theirs") == []

    # LoadBalancer -> ClusterIP: status dropped by the server, address freed, finalizer off
    ip = ingress(api, ns, "mine")[0]["ip"]
    svc = get(api, ns, "mine") or {}
    svc["spec"]["type"] = "ClusterIP"
    for p in svc["spec"]["ports"]:
        p.pop("nodePort", None)
    for k in ("allocateLoadBalancerNodePorts", "externalTrafficPolicy", "loadBalancerClass"):
        svc["spec"].pop(k, None)
    api.ok("PUT", f"{SVCS.format(ns=ns)}/mine", svc)
    wait_for(lambda: FINALIZER not in ((get(api, ns, "mine") or {})["metadata"]
                                       .get("finalizers") or []),
             timeout=20, message="finalizer removed")
    lb(api, ns, "next", loadBalancerIP=ip)
    assert wait_ip(api, ns, "next") == ip
    for name in ("taken", "theirs", "mine", "next", "outside"):
        delete(api, ns, name)


def test_node_ports_health_check_full_range_and_restart(
        api: Api, cm: dict[str, Process], server_url: str) -> None:
    ns = api.namespace()
    lb(api, ns, "nonp", allocateLoadBalancerNodePorts=False)
    lb(api, ns, "local", externalTrafficPolicy="Local")
    nonp, local = get(api, ns, "nonp") or {}, get(api, ns, "local") or {}
    assert "nodePort" not in nonp["spec"]["ports"][0]
    assert nonp["spec"]["allocateLoadBalancerNodePorts"] is False
    hc = local["spec"]["healthCheckNodePort"]
    assert 30000 <= hc <= 32767 and hc != local["spec"]["ports"][0]["nodePort"]
    ips = {wait_ip(api, ns, "nonp"), wait_ip(api, ns, "local")}

    # fill the six addresses: the seventh waits with a Warning
    for i in range(4):
        lb(api, ns, f"fill-{i}")
    fills = [wait_ip(api, ns, f"fill-{i}") for i in range(4)]
    assert len(ips | set(fills)) == 6
    lb(api, ns, "over")
    wait_for(lambda: any(r == "SyncLoadBalancerFailed" and "no free address" in m
                         for _, r, m in reasons(api, ns, "over")), timeout=20,
             message="range full")
    # a restarted controller keeps every address and hands out none twice
    cm["p"].stop()
    cm["p"] = start_controller_manager(server_url, "--controllers=servicelb",
                                       f"--load-balancer-ip-range={RANGE}")
    delete(api, ns, "fill-0")
    assert wait_ip(api, ns, "over") == fills[0]
    names = ["nonp", "local", "fill-1", "fill-2", "fill-3", "over"]
    final = [ingress(api, ns, n)[0]["ip"] for n in names]
    assert len(set(final)) == 6, final
    for name in names:
        delete(api, ns, name)


def test_kubectl_expose_and_official_client(api: Api, cm: dict[str, Process],
                                            kubectl: Kubectl, server_url: str) -> None:
    ns = api.namespace()
    kubectl("-n", ns, "create", "deployment", "web", "--image=nginx:latest")
    kubectl("-n", ns, "expose", "deployment", "web", "--type=LoadBalancer", "--port=80")
    ip = wait_ip(api, ns, "web")
    out = json.loads(kubectl("-n", ns, "get", "svc", "web", "-o", "json").stdout)
    assert out["status"]["loadBalancer"]["ingress"][0] == {"ip": ip, "ipMode": "VIP"}
    code = (
        "import sys\n"
        "from kubernetes import client as k\n"
        f"with k.ApiClient(k.Configuration(host={server_url!r})) as a:\n"
        f"    s = k.CoreV1Api(a).read_namespaced_service('web', {ns!r})\n"
        "    i = s.status.load_balancer.ingress[0]\n"
        "    print(s.spec.type, i.ip, i.ip_mode, s.spec.allocate_load_balancer_node_ports)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert res.stdout.split() == ["LoadBalancer", ip, "VIP", "True"]
    kubectl("-n", ns, "delete", "svc", "web")
    assert get(api, ns, "web") is None


def test_bad_range_flag_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from controllers.main import build_parser

    assert build_parser().parse_args([]).load_balancer_ip_range == "127.0.240.0/20"
    for bad, why in (("10.0.0.0/8", "is not inside 127.0.0.0/8"),
                     ("127.0.0.1/32", "holds no address but 127.0.0.1"),
                     ("nonsense", "invalid CIDR")):
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args([f"--load-balancer-ip-range={bad}"])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "--load-balancer-ip-range" in err and why in err, err


def test_allocate_load_balancer_node_ports_false_keeps_what_is_held(
        api: Api, server_url: str) -> None:
    """As Kubernetes: false allocates none, but a nodePort given is held, and turning it
    off keeps the ones allocated until the client removes them."""
    ns = api.namespace()
    path = SVCS.format(ns=ns)
    given = lb(api, ns, "given", allocateLoadBalancerNodePorts=False,
               ports=[{"name": "http", "port": 80, "nodePort": 30555}])
    assert given["spec"]["ports"][0]["nodePort"] == 30555
    code, out = api.call("POST", path, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "clash"},
        "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30555}]}})
    assert code == 422 and out["details"]["causes"][0]["field"] == "spec.ports[0].nodePort"

    on = lb(api, ns, "on")
    np = on["spec"]["ports"][0]["nodePort"]
    patched = api.ok("PATCH", f"{path}/on", {"spec": {"allocateLoadBalancerNodePorts": False}},
                     content_type="application/merge-patch+json")
    assert patched["spec"]["ports"][0]["nodePort"] == np  # kept, still held
    code, _ = api.call("POST", path, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "clash2"},
        "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": np}]}})
    assert code == 422
    # left out, it is patched back in (patchAllocatedValues); a port that no longer
    # has it (renamed here) gets none, and the old one is released
    back = api.ok("PATCH", f"{path}/on", [{"op": "remove", "path": "/spec/ports/0/nodePort"}],
                  content_type="application/json-patch+json")
    assert back["spec"]["ports"][0]["nodePort"] == np
    freed = api.ok("PATCH", f"{path}/on", {"spec": {"ports": [{"name": "web", "port": 80}]}},
                   content_type="application/merge-patch+json")
    assert "nodePort" not in freed["spec"]["ports"][0]
    api.ok("POST", path, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "takes"},
        "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": np}]}}, 201)
