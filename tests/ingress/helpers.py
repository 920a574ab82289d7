"""Helpers of the ingress tests: nginx:latest backends on the pods' Docker network, the
Services and EndpointSlices that point at them, the minik8s-ingress process, and plain
HTTP/HTTPS requests to it on loopback with a chosen Host (and SNI)."""

from __future__ import annotations

import contextlib
import functools
import http.client
import socket
import ssl
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testing.apiclient import Api
from testing.support import Process, free_port, service, unique, wait_for

NETWORK = "minik8s-pods"
LABEL = "minik8s.test/ingress"
IMAGE = "nginx:latest"
# Each backend answers "<app> <hostname> <uri>" for every path (nginx's return).
_CONF = ('server { listen 80 default_server; keepalive_requests 100000; location / { '
         'default_type text/plain; return 200 "%s $hostname $request_uri\\n"; } }\n')


def docker() -> Any:
    import docker as docker_sdk

    return docker_sdk.from_env()


@dataclass
class Backend:
    app: str
    cid: str
    ip: str


@contextlib.contextmanager
def backends(apps: list[str]) -> Iterator[list[Backend]]:
    """One nginx:latest container per app name, on the pods' network."""
    dk = docker()
    if not dk.networks.list(names=[NETWORK]):
        with contextlib.suppress(Exception):  # another test may create it first
            dk.networks.create(NETWORK, driver="bridge", labels={"minik8s.network": "pods"})
    run = unique("ing")
    out: list[Backend] = []
    try:
        for app in apps:
            cmd = (f"printf '{_CONF % app}' > /etc/nginx/conf.d/default.conf; "
                   "rm -f /etc/nginx/sites-enabled/*; exec nginx -g 'daemon off;'")
            c = dk.containers.run(IMAGE, ["-c", cmd], entrypoint="sh", detach=True,
                                  network=NETWORK, labels={LABEL: run}, auto_remove=False)
            c.reload()
            ip = c.attrs["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]
            out.append(Backend(app, c.id, ip))
        for b in out:
            wait_for(functools.partial(_up, b.ip), timeout=20, message=f"backend {b.app} up")
        yield out
    finally:
        for c in dk.containers.list(all=True, filters={"label": f"{LABEL}={run}"}):
            with contextlib.suppress(Exception):
                c.remove(force=True)
        dk.close()


def _up(ip: str) -> bool:
    try:
        with socket.create_connection((ip, 80), timeout=0.5):
            return True
    except OSError:
        return False


def service_and_slice(api: Api, ns: str, name: str, ips: list[str], *,
                      port_name: str = "http") -> None:
    api.ok("POST", f"/api/v1/namespaces/{ns}/services", {
        "metadata": {"name": name},
        "spec": {"ports": [{"name": port_name, "port": 80, "targetPort": 80}]}}, expect=201)
    api.ok("POST", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
           slice_body(name, ips, port_name), expect=201)


def slice_body(svc: str, ips: list[str], port_name: str = "http") -> dict[str, Any]:
    return {"metadata": {"name": f"{svc}-1", "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4",
            "ports": [{"name": port_name, "port": 80, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}


def set_endpoints(api: Api, ns: str, svc: str, ips: list[str]) -> None:
    cur = api.ok("GET", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/{svc}-1")
    body = slice_body(svc, ips)
    body["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
    if not ips:
        body["endpoints"] = []
    api.ok("PUT", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/{svc}-1", body)


def backend(svc: str, port: int | str = 80) -> dict[str, Any]:
    p = {"number": port} if isinstance(port, int) else {"name": port}
    return {"service": {"name": svc, "port": p}}


def path(p: str, ptype: str, svc: str) -> dict[str, Any]:
    return {"path": p, "pathType": ptype, "backend": backend(svc)}


@dataclass
class Controller:
    proc: Process
    http_port: int
    https_port: int
    health_port: int
    run_dir: Path
    ingress_class: str

    def get(self, host: str, uri: str = "/", timeout: float = 3) -> tuple[int, str]:
        return get(self.http_port, host, uri, timeout)

    def healthy(self) -> bool:
        try:
            return get(self.health_port, "x", "/healthz")[0] == 200
        except OSError:
            return False


def get(port: int, host: str, uri: str = "/", timeout: float = 3,
        headers: dict[str, str] | None = None) -> tuple[int, str]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", uri, headers={"Host": host, **(headers or {})})
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


def get_tls(port: int, host: str, cafile: str, uri: str = "/") -> tuple[int, str, str]:
    """GET over TLS with SNI ``host``; (status, body, the certificate's subject CN)."""
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=3) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as s:
        cert = s.getpeercert() or {}
        cn = ""
        for rdn in cert.get("subject", ()):
            for pair in rdn:
                if pair[0] == "commonName":
                    cn = str(pair[1])
        s.sendall(f"GET {uri} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace"), cn


@contextlib.contextmanager
def controller(server_url: str, ingress_class: str) -> Iterator[Controller]:
    http_port, https_port, health_port = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="minik8s-ingress-") as d:
        proc = service("ingress", "ingress", [
            "--server", server_url, "--ingress-class", ingress_class, "--run-dir", d,
            "--bind-address", "127.0.0.1", "--http-port", str(http_port),
            "--https-port", str(https_port), "--health-port", str(health_port),
            "--worker-processes", "2"])
        c = Controller(proc, http_port, https_port, health_port, Path(d), ingress_class)
        try:
            wait_for(lambda: c.healthy() or not proc.alive(), timeout=30,
                     message="minik8s-ingress ready")
            assert proc.alive(), proc.log_tail()
            yield c
        finally:
            proc.stop()
            # nginx runs in the controller's session: stopped with it; wait for its ports
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _listening(http_port):
                time.sleep(0.1)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
