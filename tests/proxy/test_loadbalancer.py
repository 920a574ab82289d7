"""LoadBalancer Services end to end on the host's real tables: the servicelb controller
(a controller-manager process, range 127.0.241.0/28, on an API server of the module's own)
gives each an address, minik8s-proxy
(both modes) makes it answer, nginx:latest containers on the pods' bridge serve, the test
writes their EndpointSlices (with nodeName, for externalTrafficPolicy Local).

Traffic goes only to loopback addresses, this host's node port and the bridge's
containers, in bounded loops, after the guards were asserted."""

from __future__ import annotations

import json
import random
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from testing.apiclient import Api
from testing.support import ApiServer, Process, unique, wait_for
from tests.controllers.helpers import start_controller_manager
from tests.proxy.helpers import (
    MODES,
    PODS_NETWORK,
    ProxyProc,
    cleanup_host,
    connect_error,
    guards_present,
    http_get,
    needs_iptables,
    other_proxy_running,
    pods_gateway,
    remove_containers,
    save,
    sh,
)

pytestmark = [needs_iptables, pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(180)]

RANGE = "127.0.241.0/28"
SERVICES = "/api/v1/namespaces/{ns}/services"
SLICES = "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"
NODE = "proxy-test"  # the proxy's --node-name (tests.proxy.helpers.ProxyProc)
# answers "<name> <client address>": which backend, and whether the source was translated
NGINX_CONF = ('server { listen 8080; location / { default_type text/plain; '
              'return 200 "%s $remote_addr\\n"; } }')


@pytest.fixture(scope="module")
def server_url(private_apiserver: ApiServer) -> str:
    # the servicelb controller acts on every LoadBalancer Service: a server of this
    # module's own, so that it adds no finalizer to other tests' Services
    return private_apiserver.url


@pytest.fixture(scope="module")
def controller(server_url: str) -> Iterator[Process]:
    p = start_controller_manager(server_url, "--controllers=servicelb",
                                 f"--load-balancer-ip-range={RANGE}")
    yield p
    p.stop()


@pytest.fixture(scope="module", params=MODES)
def proxy(request: pytest.FixtureRequest, server_url: str) -> Iterator[ProxyProc]:
    if (other := other_proxy_running()) is not None:
        pytest.skip(f"another minik8s-proxy owns this host's tables ({other})")
    try:
        sh("docker", "network", "inspect", PODS_NETWORK)
    except (subprocess.CalledProcessError, FileNotFoundError):
        pytest.skip(f"no Docker network {PODS_NETWORK}")
    p = ProxyProc(server_url, "--proxy-mode", request.param).start()
    try:
        yield p
    finally:
        p.stop()
        if other_proxy_running() is None:
            cleanup_host()
            assert "block incoming localnet" not in save("filter")


@pytest.fixture(scope="module")
def nginx() -> Iterator[dict[str, str]]:
    """Two nginx:latest 'pods' on the bridge: name -> IP."""
    names: list[str] = []
    out: dict[str, str] = {}
    try:
        for name in ("web-a", "web-b"):
            cname = unique("lbtest")
            names.append(cname)
            conf = NGINX_CONF % name
            sh("docker", "run", "-d", "--name", cname, "--label", "minik8s.test=proxy",
               "--network", PODS_NETWORK, "nginx:latest", "sh", "-c",
               f"echo '{conf}' > /etc/nginx/conf.d/default.conf && "
               "exec nginx -g 'daemon off;'")
            out[name] = sh("docker", "inspect", "-f",
                           "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                           cname).strip()
        for name, ip in out.items():
            serving(name, ip)
        yield out
    finally:
        remove_containers(names)


def serving(name: str, ip: str) -> None:
    wait_for(lambda: (http_get(ip, 8080) or "").startswith(name), timeout=20,
             message=f"nginx {name}")


def make_lb(api: Api, ns: str, name: str, **spec: Any) -> None:
    ip = f"10.101.{random.randint(0, 255)}.{random.randint(1, 254)}"
    api.ok("POST", SERVICES.format(ns=ns), {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"type": "LoadBalancer", "clusterIP": ip,
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}], **spec}}, 201)


def write_slice(api: Api, ns: str, svc: str, eps: dict[str, str | None]) -> None:
    """eps: IP -> its nodeName."""
    body: dict[str, Any] = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{svc}-test",
                     "labels": {"kubernetes.io/service-name": svc,
                                "endpointslice.kubernetes.io/managed-by": "lb-test"}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True},
                       **({"nodeName": node} if node else {})} for ip, node in eps.items()]}
    path = SLICES.format(ns=ns)
    code, cur = api.call("GET", f"{path}/{svc}-test")
    if code == 200:
        body["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        api.ok("PUT", f"{path}/{svc}-test", body)
    else:
        api.ok("POST", path, body, 201)


def lb_ip(api: Api, ns: str, name: str) -> str:
    def ip() -> str | None:
        _, svc = api.call("GET", f"{SERVICES.format(ns=ns)}/{name}")
        ing = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        return ing[0]["ip"] if ing else None
    return str(wait_for(ip, timeout=20, message=f"{name}'s load-balancer address"))


def curl(ip: str, port: int = 80) -> str:
    res = subprocess.run(["curl", "-s", "--max-time", "3", f"http://{ip}:{port}/"],
                         capture_output=True, text=True, timeout=10)
    return res.stdout.strip()


def health(port: int) -> tuple[int, dict[str, Any], dict[str, str]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)


def test_reachable_on_its_loopback_address_then_freed(
        api: Api, proxy: ProxyProc, controller: Process, nginx: dict[str, str]) -> None:
    assert guards_present()
    assert sh("cat", "/proc/sys/net/ipv4/conf/all/route_localnet").strip() == "1"
    # (re-checked with the service-range guards every 10 s)
    wait_for(lambda: "block incoming localnet connections" in save("filter"), timeout=15,
             message="the localnet guard")
    ns = api.namespace()
    make_lb(api, ns, "web")
    write_slice(api, ns, "web", {ip: NODE for ip in nginx.values()})
    ip = lb_ip(api, ns, "web")
    assert ip.startswith("127.0.241.") and ip != "127.0.0.1"
    wait_for(lambda: curl(ip).startswith("web-"), timeout=15, message="curl the LB address")
    seen = {(http_get(ip, 80) or "").split(" ")[0] for _ in range(40)}
    assert seen == {"web-a", "web-b"}, seen

    # no NodePorts asked for: the address still answers
    make_lb(api, ns, "nonp", allocateLoadBalancerNodePorts=False)
    write_slice(api, ns, "nonp", {nginx["web-a"]: NODE})
    ip2 = lb_ip(api, ns, "nonp")
    wait_for(lambda: (http_get(ip2, 80) or "").startswith("web-a"), timeout=15,
             message="the address of a Service without node ports")

    # deleted: its rules go, the address answers nothing, the next Service gets it
    api.ok("DELETE", f"{SERVICES.format(ns=ns)}/web")
    wait_for(lambda: connect_error(ip, 80, timeout=1)[0] is not None, timeout=20,
             message="the freed address refuses")
    make_lb(api, ns, "again")
    write_slice(api, ns, "again", {nginx["web-b"]: NODE})
    assert lb_ip(api, ns, "again") == ip
    wait_for(lambda: (http_get(ip, 80) or "").startswith("web-b"), timeout=15,
             message="the reused address routes to the new Service")
    for name in ("nonp", "again"):
        api.ok("DELETE", f"{SERVICES.format(ns=ns)}/{name}")


def test_external_traffic_policy_local(api: Api, proxy: ProxyProc, controller: Process,
                                       nginx: dict[str, str]) -> None:
    ns = api.namespace()
    make_lb(api, ns, "loc", externalTrafficPolicy="Local")
    _, svc = api.call("GET", f"{SERVICES.format(ns=ns)}/loc")
    hc = svc["spec"]["healthCheckNodePort"]
    node_port = svc["spec"]["ports"][0]["nodePort"]
    write_slice(api, ns, "loc", {nginx["web-a"]: NODE, nginx["web-b"]: "elsewhere"})
    ip = lb_ip(api, ns, "loc")

    def answered() -> tuple[int, dict[str, Any], dict[str, str]] | None:
        try:
            got = health(hc)
        except OSError:
            return None
        return got if got[1]["localEndpoints"] == 1 else None
    got = wait_for(answered, timeout=15, message="health check node port")
    assert got is not None
    code, body, headers = got
    assert code == 200 and body == {"service": {"namespace": ns, "name": "loc"},
                                    "localEndpoints": 1, "serviceProxyHealthy": True}
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Load-Balancing-Endpoint-Weight"] == "1"

    # this host's own traffic goes through the cluster policy (both backends answer)
    wait_for(lambda: curl(ip).startswith("web-"), timeout=15, message="curl the LB address")
    seen = {(http_get(ip, 80) or "").split(" ")[0] for _ in range(40)}
    assert seen == {"web-a", "web-b"}, seen

    # a pod's traffic to the node port: the local endpoint only, its source kept
    gw = pods_gateway()
    client = unique("lbclient")
    try:
        out = sh("docker", "run", "--rm", "--name", client, "--network", PODS_NETWORK,
                 "minik8s/busybox:latest", "sh", "-c",
                 f"ip=$(hostname -i); for i in 1 2 3 4 5 6 7 8; do "
                 f"timeout 5 wget -qO- http://{gw}:{node_port}/ 2>&1; done; echo me $ip")
    finally:
        remove_containers([client])
    lines = out.splitlines()
    me = next(ln.split()[1] for ln in lines if ln.startswith("me "))
    answers = [ln for ln in lines if ln.startswith("web-")]
    assert answers and all(a == f"web-a {me}" for a in answers), out

    # no local endpoint left: the health check says so
    write_slice(api, ns, "loc", {nginx["web-b"]: "elsewhere"})
    wait_for(lambda: health(hc)[0] == 503, timeout=15, message="503 without local endpoints")
    assert health(hc)[1]["localEndpoints"] == 0
    api.ok("DELETE", f"{SERVICES.format(ns=ns)}/loc")
    wait_for(lambda: connect_error("127.0.0.1", hc, timeout=1)[0] is not None, timeout=15,
             message="the health check node port closed")
