"""``minik8s-kubelet``: run the pods bound to a node on Docker, on a CRI runtime (containerd),
or hollow, in memory."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import ipaddress
import logging
import os
import socket
import ssl
import sys
from pathlib import Path

from api.quantity import to_bytes
from client.config import KUBECONFIG_FLAG_HELP, ClientConfig, config_from_flags
from client.service import stop_on_signals
from kubelet.agent import KubeletAgent
from kubelet.auth import AuthConfig, parse_duration, server_ssl_context
from kubelet.bootstrap import BootstrapError, Rotator, ServingRotator, Settings, bootstrap
from kubelet.dns import ClusterDNSSettings, read_host_dns
from kubelet.images import PullSettings
from kubelet.kubelet import KubeletConfig
from kubelet.runtime.base import ContainerRuntime


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="minik8s-kubelet", description=__doc__)
    p.add_argument("--server", default=None, help="API server URL (else $MINIK8S_SERVER, config)")
    p.add_argument("--kubeconfig", help=KUBECONFIG_FLAG_HELP)
    p.add_argument("--node-name", default=os.environ.get("NODE_NAME") or os.uname().nodename)
    p.add_argument("--runtime", choices=("docker", "cri", "fake"), default="docker",
                   help="docker: the host's Docker; cri: a CRI runtime (containerd) at "
                        "--container-runtime-endpoint; fake: hollow nodes")
    p.add_argument("--container-runtime-endpoint",
                   default="unix:///run/containerd/containerd.sock",
                   help="the CRI runtime's gRPC endpoint (--runtime cri)")
    p.add_argument("--pod-logs-dir", default="/var/log/pods",
                   help="where the CRI runtime writes container logs (podLogsDir)")
    p.add_argument("--container-log-max-size", default="10Mi",
                   help="--runtime cri: a container's log file is rotated past this size")
    p.add_argument("--container-log-max-files", type=int, default=5,
                   help="--runtime cri: log files kept per container, the current included")
    p.add_argument("--container-log-monitor-interval", default="10s",
                   help="--runtime cri: how often the log files' sizes are checked")
    p.add_argument("--port", type=int, default=10250, help="log/health HTTP port")
    p.add_argument("--address", default="0.0.0.0", help="address the HTTP port binds")
    p.add_argument("--node-ip", default=os.environ.get("MINIK8S_NODE_IP"),
                   help="InternalIP reported for the node (the API server reaches the logs "
                        "there; default: --address if it is a specific address, else the "
                        "host's default-route IPv4 address, else 127.0.0.1)")
    p.add_argument("--docker-host", default=os.environ.get("DOCKER_HOST",
                                                           "unix:///var/run/docker.sock"))
    p.add_argument("--root-dir", default=None,
                   help="where emptyDir volumes live (default /var/lib/minik8s/<node>)")
    p.add_argument("--fake-nodes", type=int, default=0,
                   help="hollow mode: N fake nodes NAME-0..NAME-N-1 in this process")
    p.add_argument("--cpu", default=None, help="node cpu capacity (default: the host's)")
    p.add_argument("--memory", default=None, help="node memory capacity (default: the host's)")
    p.add_argument("--max-pods", type=int, default=110)
    p.add_argument("--backoff-base", type=float, default=10.0,
                   help="CrashLoopBackOff / image pull back-off start, seconds (doubles)")
    p.add_argument("--backoff-max", type=float, default=300.0)
    p.add_argument("--relist-seconds", type=float, default=5.0)
    p.add_argument("--sync-frequency", type=float, default=60.0,
                   help="seconds between a pod's periodic syncs (refreshes its configMap "
                        "and secret volumes)")
    p.add_argument("--parallel-pod-starts", type=int, default=8,
                   help="pods whose sandbox and containers are being started at once")
    p.add_argument("--heartbeat-seconds", type=float, default=10.0,
                   help="Lease renewal and runtime health check period")
    p.add_argument("--cluster-dns", default="", metavar="IP[,IP]",
                   help="the cluster DNS servers for ClusterFirst pods (KubeletConfiguration "
                        "clusterDNS; empty: ClusterFirst falls back to Default)")
    p.add_argument("--cluster-domain", default="cluster.local",
                   help="the cluster's DNS domain (clusterDomain): the pods' search list")
    p.add_argument("--resolv-conf", default="/etc/resolv.conf",
                   help="the node's resolver config: host search domains for ClusterFirst "
                        "pods, the base of Default pods with a dnsConfig (\"\": none)")
    # Images and runtime calls (kubelet/images.py, kubelet/runtime/docker.py).
    _bool(p, "--serialize-image-pulls", True,
          "pull images one at a time (false: up to --max-parallel-image-pulls at once)")
    p.add_argument("--max-parallel-image-pulls", type=int, default=None,
                   help="maximum image pulls in parallel; only with --serialize-image-pulls="
                        "false (unset: no limit)")
    p.add_argument("--image-pull-progress-deadline", default="1m0s",
                   help="a pull that reports no progress for this long is cancelled")
    p.add_argument("--runtime-request-timeout", default="2m0s",
                   help="timeout of every runtime request but pulls, logs, exec and attach "
                        "streams (a stop: this plus its grace period)")
    p.add_argument("--no-cgroup-parent", action="store_true",
                   help="do not put containers under /kubepods/<qos>")
    p.add_argument("--no-http", action="store_true", help="do not serve the log endpoint")
    # The kubelet API's security (kubelet/auth.py), with the kubelet's flag names/defaults.
    p.add_argument("--tls-cert-file", default=None,
                   help="serving certificate: the API is HTTPS (else plain HTTP)")
    p.add_argument("--tls-private-key-file", default=None)
    p.add_argument("--client-ca-file", default=None,
                   help="CA bundle: client certificates it signed authenticate (CN user, "
                        "O groups)")
    _bool(p, "--anonymous-auth", True,
          "requests without credentials are system:anonymous (false: 401)")
    _bool(p, "--authentication-token-webhook", False,
          "bearer tokens are checked with a TokenReview to the API server")
    p.add_argument("--authentication-token-webhook-cache-ttl", default="2m0s")
    p.add_argument("--authorization-mode", default="AlwaysAllow",
                   choices=("AlwaysAllow", "Webhook"),
                   help="Webhook: a SubjectAccessReview per request (cached)")
    p.add_argument("--authorization-webhook-cache-authorized-ttl", default="5m0s")
    p.add_argument("--authorization-webhook-cache-unauthorized-ttl", default="30s")
    p.add_argument("--healthz-port", type=int, default=10248,
                   help="open /healthz on a port of its own, plain HTTP (0: none)")
    p.add_argument("--healthz-bind-address", default="127.0.0.1")
    # TLS bootstrap and client certificate rotation (kubelet/bootstrap.py)
    p.add_argument("--bootstrap-kubeconfig", default=None,
                   help="credentials (a bootstrap token) to request a client certificate "
                        "with when --kubeconfig is missing or its certificate expired; "
                        "--kubeconfig is then written")
    p.add_argument("--cert-dir", default=None,
                   help="where kubelet-client-current.pem is kept (default "
                        "<root-dir>/pki)")
    _bool(p, "--rotate-certificates", False,
          "request a new client certificate before the current one expires (at 70-90%% of "
          "its lifetime) and use it without a restart")
    _bool(p, "--rotate-server-certificates", False,
          "without --tls-cert-file: serve HTTPS with a certificate requested by CSR "
          "(kubernetes.io/kubelet-serving, approved by an administrator), renewed before it "
          "expires")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    if bool(args.tls_cert_file) != bool(args.tls_private_key_file):
        p.error("--tls-cert-file and --tls-private-key-file go together")
    try:
        args.auth = AuthConfig(
            anonymous=args.anonymous_auth, client_ca=bool(args.client_ca_file),
            token_webhook=args.authentication_token_webhook,
            token_ttl=parse_duration(args.authentication_token_webhook_cache_ttl),
            mode=args.authorization_mode,
            authorized_ttl=parse_duration(args.authorization_webhook_cache_authorized_ttl),
            unauthorized_ttl=parse_duration(args.authorization_webhook_cache_unauthorized_ttl))
        args.image_pull_progress_deadline = parse_duration(args.image_pull_progress_deadline)
        args.runtime_request_timeout = parse_duration(args.runtime_request_timeout)
        args.container_log_monitor_interval = parse_duration(args.container_log_monitor_interval)
    except ValueError as e:
        p.error(str(e))
    errs = pull_settings(args).validate()
    if args.runtime_request_timeout <= 0:
        errs.append("invalid configuration: runtimeRequestTimeout must be positive")
    try:
        if to_bytes(args.container_log_max_size) <= 0:
            raise ValueError
    except (ValueError, TypeError):
        errs.append(f"invalid configuration: containerLogMaxSize {args.container_log_max_size!r} "
                    "must be a positive quantity")
    if args.container_log_max_files < 2:
        errs.append("invalid configuration: containerLogMaxFiles must be greater than 1")
    if errs:
        p.error("; ".join(errs))
    if not args.node_ip:
        args.node_ip = default_node_ip(args.address)
    if args.fake_nodes and args.runtime != "fake":
        args.runtime = "fake"
    return args


def _bool(p: argparse.ArgumentParser, flag: str, default: bool, help: str) -> None:
    """A Go-style boolean flag: ``--flag``, ``--flag=true`` or ``--flag=false``."""
    p.add_argument(flag, nargs="?", const="true", default=str(default).lower(),
                   type=lambda v: v.lower() in ("true", "1", "t"), help=help)


# Interfaces that belong to containers, not to the host's own network.
_CONTAINER_IFACES = ("docker", "br-", "veth", "cni", "flannel", "virbr")


def default_node_ip(bind_address: str = "0.0.0.0") -> str:
    """The IPv4 address by which the API server (and others) can reach this kubelet.

    A kubelet serving on one specific address is reachable only there. Otherwise, as
    Kubernetes' kubelet does, the address of the interface of the default route; failing
    that, the first non-loopback IPv4 of an interface that is up and not a container
    bridge; and 127.0.0.1 on a host with no network at all."""
    try:
        bound = ipaddress.ip_address(bind_address)
    except ValueError:
        bound = None
    if bound is not None and bound.version == 4 and not bound.is_unspecified:
        return str(bound)
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        # A UDP connect sends nothing: it only asks the kernel which source address
        # the route to a far-away (documentation) address would use.
        s.connect(("203.0.113.1", 9))
        ip = ipaddress.ip_address(s.getsockname()[0])
        if not (ip.is_loopback or ip.is_unspecified):
            return str(ip)
    import psutil

    stats = psutil.net_if_stats()
    for name, addrs in psutil.net_if_addrs().items():
        if name.startswith(_CONTAINER_IFACES) or not (name in stats and stats[name].isup):
            continue
        for a in addrs:
            if a.family == socket.AF_INET and not ipaddress.ip_address(a.address).is_loopback:
                return str(a.address)
    return "127.0.0.1"


def pull_settings(args: argparse.Namespace) -> PullSettings:
    return PullSettings(serialize=args.serialize_image_pulls,
                        max_parallel=args.max_parallel_image_pulls,
                        progress_deadline=args.image_pull_progress_deadline,
                        backoff_base=args.backoff_base, backoff_cap=args.backoff_max)


def dns_settings(args: argparse.Namespace) -> ClusterDNSSettings:
    servers = tuple(s.strip() for s in args.cluster_dns.split(",") if s.strip())
    for s in servers:
        ipaddress.ip_address(s)  # a bad flag fails at start, not per pod
    return ClusterDNSSettings(cluster_dns=servers,
                              cluster_domain=args.cluster_domain.strip(".") or "cluster.local",
                              host=read_host_dns(args.resolv_conf))


def build_agent(args: argparse.Namespace) -> KubeletAgent:
    root = args.root_dir or os.path.join("/var/lib/minik8s", args.node_name)
    config = KubeletConfig(
        node_name=args.node_name, node_ip=args.node_ip, port=args.port,
        backoff_base=args.backoff_base, backoff_cap=args.backoff_max,
        relist_seconds=args.relist_seconds, resync_seconds=args.sync_frequency,
        cpu=args.cpu, memory=args.memory,
        max_pods=args.max_pods, root_dir=root, heartbeat_seconds=args.heartbeat_seconds,
        parallel_pod_starts=args.parallel_pod_starts,
        watch_runtime_events=True, dns=dns_settings(args),
        serialize_image_pulls=args.serialize_image_pulls,
        max_parallel_image_pulls=args.max_parallel_image_pulls,
        image_pull_progress_deadline=args.image_pull_progress_deadline)

    def runtime_factory(node: str) -> ContainerRuntime:
        if args.runtime == "fake":
            from kubelet.runtime.fake import FakeRuntime

            return FakeRuntime()
        if args.runtime == "cri":
            from kubelet.runtime.cri import CRIRuntime

            return CRIRuntime(args.container_runtime_endpoint, root_dir=root,
                              pod_logs_dir=args.pod_logs_dir,
                              log_max_size=int(to_bytes(args.container_log_max_size)),
                              log_max_files=args.container_log_max_files,
                              log_check_seconds=args.container_log_monitor_interval,
                              request_timeout=args.runtime_request_timeout,
                              use_cgroup_parent=not args.no_cgroup_parent)
        from kubelet.runtime.docker import DockerRuntime

        return DockerRuntime(args.docker_host, root_dir=root,
                             use_cgroup_parent=not args.no_cgroup_parent,
                             request_timeout=args.runtime_request_timeout)

    return KubeletAgent(config_from_flags(args.server, args.kubeconfig, "minik8s-kubelet"),
                        runtime_factory, config,
                        fake_nodes=args.fake_nodes, bind_address=args.address,
                        serve_http=not args.no_http, auth=args.auth, tls=_tls(args),
                        healthz=(args.healthz_bind_address, args.healthz_port)
                        if args.healthz_port and not args.no_http else None)


def _tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.tls_cert_file and args.rotate_server_certificates:
        # no certificate until the serving CSR is issued (kubelet/bootstrap.ServingRotator)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if args.client_ca_file:
            ctx.load_verify_locations(cafile=args.client_ca_file)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx
    if not args.tls_cert_file:
        return None
    return server_ssl_context(args.tls_cert_file, args.tls_private_key_file,
                              args.client_ca_file)


def bootstrap_settings(args: argparse.Namespace) -> Settings:
    root = args.root_dir or os.path.join("/var/lib/minik8s", args.node_name)
    return Settings(node_name=args.node_name, kubeconfig=Path(args.kubeconfig),
                    bootstrap_kubeconfig=Path(args.bootstrap_kubeconfig)
                    if args.bootstrap_kubeconfig else None,
                    cert_dir=Path(args.cert_dir or os.path.join(root, "pki")))


async def run(args: argparse.Namespace) -> None:
    if args.bootstrap_kubeconfig:
        if not args.kubeconfig:
            raise SystemExit("minik8s-kubelet: --bootstrap-kubeconfig needs --kubeconfig "
                             "(the file it writes)")
        try:
            await bootstrap(bootstrap_settings(args))
        except BootstrapError as e:
            raise SystemExit(f"minik8s-kubelet: {e}") from None
    agent = build_agent(args)
    stop = stop_on_signals()
    await agent.start()

    async def freeze_when_synced() -> None:
        # The synced caches are long-lived: keep the cyclic GC from walking them again and
        # again (as the scheduler and the controller-manager do).
        if agent.informer is not None and await agent.informer.wait_for_sync():
            gc.collect()
            gc.freeze()
    freezer = asyncio.create_task(freeze_when_synced())
    logging.getLogger("kubelet").info(
        "kubelet %s up (%s runtime, %d node(s))", args.node_name, args.runtime,
        len(agent.kubelets))
    rotator = None
    if args.rotate_certificates and args.kubeconfig and isinstance(agent.server, ClientConfig):
        rotator = asyncio.create_task(Rotator(agent.server, bootstrap_settings(args)).run(stop))
    serving = None
    if args.rotate_server_certificates and not args.tls_cert_file and agent.tls is not None \
            and isinstance(agent.server, ClientConfig):
        serving = asyncio.create_task(ServingRotator(
            agent.server, bootstrap_settings(args), agent.tls, (args.node_name,),
            (args.node_ip,)).run(stop))
    await stop.wait()
    freezer.cancel()
    for task in (rotator, serving):
        if task is not None:
            task.cancel()
    # Containers keep running: a restarted kubelet adopts them.
    await agent.stop()


def main() -> None:
    args = parse_args(sys.argv[1:])
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # One line per API request is noise at the kubelet's request rate.
        for noisy in ("httpx", "httpcore", "docker", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    # Fewer, larger young-generation collections: a kubelet (hundreds of them, hollow)
    # allocates many short-lived objects per pod sync and status write, few cycles.
    gc.set_threshold(50_000, 20, 50)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))
