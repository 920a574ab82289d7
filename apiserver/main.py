"""``minik8s-apiserver`` / ``python -m apiserver``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import logging
import os
import ssl
import sys
from types import FrameType
from typing import Any

import uvicorn

from apiserver import kubelets, serving
from apiserver.auth import serviceaccount as sa_tokens
from apiserver.config import Config


def parse_args(argv: list[str] | None = None) -> Config:
    p = argparse.ArgumentParser(prog="minik8s-apiserver",
                                description="The minik8s API server (Kubernetes REST over etcd)")
    p.add_argument("--etcd-servers", default="http://127.0.0.1:2379",
                   help="comma-separated etcd client URLs")
    p.add_argument("--bind-address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--compaction-interval", type=float, default=300.0,
                   help="seconds between etcd compactions (0 disables); about this much "
                        "history is kept")
    p.add_argument("--log-level", default="info",
                   choices=["debug", "info", "warning", "error", "critical"])
    p.add_argument("--watch-cache-capacity", type=int, default=100 * 1024,
                   help="the most recent events kept per resource type for resuming "
                        "watches (the history grows to it under load, shrinks back after)")
    p.add_argument("--watch-cache-fresh-seconds", type=float, default=75.0,
                   help="events younger than this make the watch cache's history grow; "
                        "older ones let it shrink (Kubernetes' eventFreshDuration)")
    p.add_argument("--watcher-queue", type=int, default=10_000)
    p.add_argument("--bookmark-interval", type=float, default=30.0)
    p.add_argument("--event-ttl", type=int, default=3600,
                   help="seconds until an Event is deleted (0 keeps them)")
    p.add_argument("--watch-linger", type=float, default=0.05,
                   help="seconds a watch stream waits to batch events under load")
    p.add_argument("--service-cluster-ip-range", default="10.96.0.0/12",
                   help="the CIDR Service ClusterIPs are allocated from; its first address "
                        "is the kubernetes Service's")
    p.add_argument("--service-node-port-range", default="30000-32767",
                   help="the port range NodePorts are allocated from (both ends included)")
    p.add_argument("--advertise-address", default=None,
                   help="the IP address the kubernetes Service's endpoints point at "
                        "(default: the address of the host's default-route interface)")
    p.add_argument("--service-repair-interval", type=float, default=180.0,
                   help=argparse.SUPPRESS)
    p.add_argument("--endpoint-reconcile-interval", type=float, default=10.0,
                   help=argparse.SUPPRESS)
    p.add_argument("--endpoint-reconciler-type", default="lease", choices=["lease", "none"],
                   help="lease: the kubernetes Service's endpoints list every live API "
                        "server (each keeps a lease in etcd); none: this server's address")
    p.add_argument("--endpoint-reconciler-lease-ttl", type=int, default=15,
                   help=argparse.SUPPRESS)
    p.add_argument("--shutdown-delay-duration", type=_seconds, default=0.0,
                   help="on SIGTERM, /readyz fails at once and requests are still served "
                        "for this long (seconds, or a duration as 5s), so that load "
                        "balancers take the server out first")
    p.add_argument("--shutdown-timeout", type=_seconds, default=60.0,
                   help="after that, the time in-flight requests get to finish once new "
                        "connections are refused and watches have ended")
    p.add_argument("--authorization-mode", default="AlwaysAllow",
                   help="comma-separated authorizers, asked in order: AlwaysAllow, AlwaysDeny, "
                        "Node, RBAC")
    p.add_argument("--anonymous-auth", default="false", choices=["true", "false"],
                   help="requests without credentials are system:anonymous (else 401)")
    p.add_argument("--enable-admission-plugins", default="",
                   help="comma-separated admission plugins to run besides the default ones "
                        "(they run in Kubernetes' order whatever the order here)")
    p.add_argument("--encryption-provider-config", default=None,
                   help="an apiserver.config.k8s.io/v1 EncryptionConfiguration: the "
                        "providers (aescbc, aesgcm, secretbox, identity) that encrypt "
                        "resources such as secrets at rest in etcd")
    p.add_argument("--disable-admission-plugins", default="",
                   help="comma-separated admission plugins not to run, default ones included")
    p.add_argument("--default-not-ready-toleration-seconds", type=int, default=300,
                   help="the tolerationSeconds of the node.kubernetes.io/not-ready:NoExecute "
                        "toleration DefaultTolerationSeconds adds to every pod without one")
    p.add_argument("--default-unreachable-toleration-seconds", type=int, default=300,
                   help="the same for node.kubernetes.io/unreachable:NoExecute")
    p.add_argument("--admission-control-config-file", default=None,
                   help="an apiserver.config.k8s.io/v1 AdmissionConfiguration: per plugin "
                        "its configuration (PodSecurity: defaults and exemptions)")
    _add_serving_flags(p)
    sa_tokens.add_flags(p)
    kubelets.add_flags(p)
    a = p.parse_args(argv)
    _check_service_flags(p, a)
    _check_serving_flags(p, a)
    return Config(etcd_servers=a.etcd_servers, bind_address=a.bind_address, port=a.port,
                  compaction_interval=a.compaction_interval, log_level=a.log_level,
                  watch_cache_capacity=a.watch_cache_capacity,
                  watch_cache_fresh_seconds=a.watch_cache_fresh_seconds,
                  watcher_queue=a.watcher_queue,
                  bookmark_interval=a.bookmark_interval, watch_linger=a.watch_linger,
                  event_ttl=a.event_ttl, service_cluster_ip_range=a.service_cluster_ip_range,
                  service_node_port_range=a.service_node_port_range,
                  advertise_address=a.advertise_address,
                  service_repair_interval=a.service_repair_interval,
                  endpoint_reconcile_interval=a.endpoint_reconcile_interval,
                  endpoint_reconciler_type=a.endpoint_reconciler_type,
                  endpoint_reconciler_lease_ttl=a.endpoint_reconciler_lease_ttl,
                  shutdown_delay_duration=a.shutdown_delay_duration,
                  shutdown_timeout=a.shutdown_timeout,
                  authorization_modes=[m.strip() for m in a.authorization_mode.split(",")
                                       if m.strip()],
                  enable_admission_plugins=_names(a.enable_admission_plugins),
                  disable_admission_plugins=_names(a.disable_admission_plugins),
                  default_not_ready_toleration_seconds=a.default_not_ready_toleration_seconds,
                  default_unreachable_toleration_seconds=a.default_unreachable_toleration_seconds,
                  admission_control_config_file=a.admission_control_config_file,
                  encryption_provider_config=a.encryption_provider_config,
                  anonymous_auth=a.anonymous_auth == "true",
                  **sa_tokens.config_kwargs(p, a),
                  **kubelets.config_kwargs(p, a),
                  secure_port=a.secure_port, insecure_bind_address=a.insecure_bind_address,
                  tls_cert_file=a.tls_cert_file, tls_private_key_file=a.tls_private_key_file,
                  client_ca_file=a.client_ca_file, tls_min_version=a.tls_min_version,
                  healthz_port=a.healthz_port, token_auth_file=a.token_auth_file,
                  enable_bootstrap_token_auth=a.enable_bootstrap_token_auth == "true",
                  audit_log_path=a.audit_log_path, audit_policy_file=a.audit_policy_file)


def _add_serving_flags(p: argparse.ArgumentParser) -> None:
    """kube-apiserver's secure serving and authentication flags (apiserver.serving)."""
    p.add_argument("--secure-port", type=int, default=6443,
                   help="the HTTPS port, served when --tls-cert-file is given "
                        "(on --bind-address; 0: no HTTPS)")
    p.add_argument("--insecure-bind-address", default=None,
                   help="the address of the plain-HTTP --port (default: --bind-address)")
    p.add_argument("--tls-cert-file", default=None, help="the serving certificate (PEM)")
    p.add_argument("--tls-private-key-file", default=None, help="its private key (PEM)")
    p.add_argument("--client-ca-file", default=None,
                   help="CA bundle verifying client certificates; a verified certificate "
                        "authenticates its CN as the user, its Os as the groups")
    p.add_argument("--tls-min-version", default="VersionTLS12",
                   choices=["VersionTLS12", "VersionTLS13"])
    p.add_argument("--healthz-port", type=int, default=0,
                   help="plain HTTP on 127.0.0.1 serving only /livez /readyz /healthz "
                        "(0 disables)")
    p.add_argument("--token-auth-file", default=None,
                   help="static bearer tokens: CSV lines token,user,uid[,\"group1,group2\"]")
    p.add_argument("--enable-bootstrap-token-auth", nargs="?", const="true", default="false",
                   choices=["true", "false"],
                   help="bootstrap tokens (kube-system Secrets of type "
                        "bootstrap.kubernetes.io/token) authenticate")
    p.add_argument("--audit-log-path", default=None,
                   help="write audit events to this file as JSON lines ('-': stdout)")
    p.add_argument("--audit-policy-file", default=None,
                   help="the audit.k8s.io/v1 Policy: which requests are audited at which "
                        "level; without it nothing is audited")


def _check_serving_flags(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    if a.tls_cert_file and not a.tls_private_key_file:
        p.error("--tls-private-key-file is required with --tls-cert-file")
    if a.tls_private_key_file and not a.tls_cert_file:
        p.error("--tls-cert-file is required with --tls-private-key-file")
    if a.port == 0 and (not a.tls_cert_file or a.secure_port == 0):
        p.error("--port 0 disables plain HTTP: --tls-cert-file and a --secure-port are then "
                "required")
    insecure = a.insecure_bind_address or a.bind_address
    if a.port and not _loopback(insecure):
        p.error(f"--port {a.port} serves plain HTTP where every request is the superuser: "
                f"it binds only a loopback address, not {insecure} (give "
                "--insecure-bind-address 127.0.0.1, or --port 0 for HTTPS only)")
    for flag in ("tls_cert_file", "tls_private_key_file", "client_ca_file", "token_auth_file",
                 "audit_policy_file"):
        path = getattr(a, flag)
        if path and not os.path.isfile(path):
            p.error(f"--{flag.replace('_', '-')}: no such file: {path}")


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _seconds(value: str) -> float:
    """Seconds, as a number or a Go duration of one unit (``500ms``, ``5s``, ``1m``)."""
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if value.endswith(suffix) and not (suffix == "s" and value.endswith("ms")):
            value, factor = value[:-len(suffix)], scale
            break
    else:
        factor = 1.0
    try:
        out = float(value) * factor
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {value!r}") from None
    if out < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return out


def _names(flag: str) -> list[str]:
    return [n.strip() for n in flag.split(",") if n.strip()]


def _check_service_flags(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """The ranges and the address parse (the server would fail on them later)."""
    import ipaddress

    from apiserver.services.allocator import parse_port_range

    try:
        net = ipaddress.ip_network(a.service_cluster_ip_range, strict=False)
    except ValueError as e:
        p.error(f"--service-cluster-ip-range: {e}")
    if net.version != 4 or net.prefixlen > 30:
        p.error("--service-cluster-ip-range: an IPv4 CIDR with at least 2 addresses "
                "(a prefix of /30 or shorter) is required")
    try:
        parse_port_range(a.service_node_port_range)
    except ValueError as e:
        p.error(f"--service-node-port-range: {e}")
    if a.advertise_address is not None:
        try:
            ipaddress.IPv4Address(a.advertise_address)
        except ValueError:
            p.error(f"--advertise-address: not an IPv4 address: {a.advertise_address}")


class _Server(serving.ListeningServer):
    """uvicorn's server, polling once a second instead of ten times.

    uvicorn's main loop wakes every 0.1 s to look for a shutdown request and to refresh
    the Date header once a second: 72 ms of CPU a minute here, a third of the idle API
    server's. A signal now wakes the loop at once, so shutdown is no slower, and the
    Date header is still refreshed every second."""

    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            # on_tick does its once-a-second work when counter % 10 == 0: every tick now.
            counter = (counter + 10) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._wake is not None:
            # A signal handler may run while the loop sleeps in epoll: wake it through
            # the loop's self-pipe.
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._loop.call_soon_threadsafe(self._wake.set)


def _shutdown_initiated(state: Any) -> None:
    """SIGTERM: /readyz fails from now on, and this server leaves the kubernetes
    Service's endpoints (kube-apiserver's pre-shutdown hook)."""
    state.shutting_down = True
    svc = getattr(state, "kubernetes_service", None)
    if svc is not None:
        svc.stop_soon()


def _listeners(config: Config) -> list[serving.Listener]:
    out = []
    if config.port:
        out.append(serving.Listener(config.insecure_bind_address or config.bind_address,
                                    config.port))
    if config.serves_tls:
        assert config.tls_private_key_file
        out.append(serving.Listener(config.bind_address, config.secure_port, serving.ssl_context(
            config.tls_cert_file or "", config.tls_private_key_file, config.client_ca_file,
            config.tls_min_version)))
    if config.healthz_port:
        out.append(serving.Listener("127.0.0.1", config.healthz_port, health_only=True))
    return out


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    level = getattr(logging, config.log_level.upper())
    logging.basicConfig(
        level=level, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("grpc").setLevel(logging.WARNING)
    from apiserver.app import create_app
    from apiserver.watchcache import drain_watches

    try:
        app = create_app(config)
    except ValueError as e:  # e.g. an unknown --authorization-mode
        sys.exit(f"minik8s-apiserver: {e}")
    if os.environ.get("MINIK8S_APISERVER_GC", "tuned") == "tuned":
        # Requests allocate many short-lived dicts; collecting every 700 allocations
        # (the default) costs ~10% of a create. Objects alive at start are frozen out
        # of collection altogether.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
    server = _Server(uvicorn.Config(
        app, host=config.bind_address, port=config.port, loop="uvloop",
        http="httptools", log_level=config.log_level, access_log=False,
        # No proxy sits in front of it; trusting X-Forwarded-* would only
        # add a middleware layer to every request.
        proxy_headers=False,
        server_header=False,  # as Kubernetes: no Server header to validate and send
        # pods/exec is a WebSocket (kubectl's v5.channel.k8s.io); the sans-I/O
        # implementation supports refusing an upgrade with a Status body.
        # (apiserver/websocket.py: with the subprotocol names kubectl port-forward sends)
        ws=serving.TLSWebSocketProtocol,
        # No server pings: an exec whose command does not read its stdin stops the
        # client's frames (pongs included) behind the stdin it sends, and a ping timeout
        # would cut a healthy stream. kubectl sends its own heartbeat.
        ws_ping_interval=None,
        # An idle keep-alive connection is closed after 90 s, as kube-apiserver's
        # http.Server (IdleTimeout, "matches http.DefaultTransport keep-alive timeout").
        # uvicorn's 5 s default equals the clients' own pool expiry and kubectl's 5 s
        # retry interval (drain's evictions): a request sent as the server closed the
        # connection was reset.
        timeout_keep_alive=90,
        timeout_graceful_shutdown=max(1, round(config.shutdown_timeout)), lifespan="on"))
    # Graceful termination (apiserver/serving.py ListeningServer).
    server.shutdown_delay = config.shutdown_delay_duration
    server.on_shutdown_initiated = functools.partial(_shutdown_initiated, app.state)
    server.on_drain = lambda: drain_watches(list(app.state.caches.values()))
    try:
        server.listeners = _listeners(config)
    except (OSError, ssl.SSLError) as e:  # an unreadable or mismatched key/certificate
        sys.exit(f"minik8s-apiserver: TLS: {e}")
    server.run()
    if not server.started:
        sys.exit(3)  # as uvicorn.run: the server failed to start (e.g. port in use)


if __name__ == "__main__":
    main()
