"""Helpers of the ingress tests: nginx:latest backends on the pods' Docker network, the
Services and EndpointSlices that point at them, the minik8s-ingress process, and plain
HTTP/HTTPS requests to it on loopback with a chosen Host (and SNI)."""

from __future__ import annotations

import contextlib
import functools
import http.client
import shutil
import socket
import ssl
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testing.apiclient import Api
from testing.support import Process, free_port, service, unique, wait_for

NETWORK = "minik8s-pods"
LABEL = "minik8s.test/ingress"
IMAGE = "nginx:latest"
# Each backend answers "<app> <hostname> <uri>" for every path (nginx's return).
# /big is 200 kB sent at 100 kB/s: a request that is in flight for about two seconds.
_CONF = ('server { listen 80 default_server; keepalive_requests 100000; location / { '
         'default_type text/plain; return 200 "%s $hostname $request_uri\\n"; } '
         'location = /big { root /srv; limit_rate 100k; } }\n')
BIG = 200_000


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
    if not dk.images.list(name=IMAGE):
        dk.close()
        pytest.skip(f"{IMAGE} is not present locally (never pulled here)")
    if shutil.which("nginx") is None:
        dk.close()
        pytest.skip("nginx is not installed (.ci/run installs nginx-light)")
    if not dk.networks.list(names=[NETWORK]):
        with contextlib.suppress(Exception):  # another test may create it first
            dk.networks.create(NETWORK, driver="bridge", labels={"minik8s.network": "pods"})
    run = unique("ing")
    out: list[Backend] = []
    try:
        for app in apps:
            cmd = (f"mkdir -p /srv; head -c {BIG} /dev/zero > /srv/big; "
                   f"printf '{_CONF % app}' > /etc/nginx/conf.d/default.conf; "
                   "rm -f /etc/nginx/sites-enabled/*; exec nginx -g 'daemon off;'")
            c = dk.containers.run(IMAGE, ["-c", cmd], entrypoint="sh", detach=True,
                                  network=NETWORK, labels={LABEL: run}, auto_remove=False)
            c.reload()
            ip = c.attrs["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]
            out.append(Backend(app, c.id, ip))
        for b in out:
            wait_for(functools.partial(up, b.ip), timeout=20, message=f"backend {b.app} up")
        yield out
    finally:
        for c in dk.containers.list(all=True, filters={"label": f"{LABEL}={run}"}):
            with contextlib.suppress(Exception):
                c.remove(force=True)
        dk.close()


def up(ip: str) -> bool:
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

    def workers(self) -> set[int]:
        return workers(self.run_dir)

    def settle(self, before: set[int], timeout: float = 20) -> None:
        """Wait until every nginx worker of ``before`` (taken before a change) is gone and
        new ones run: after a reload the old workers finish their requests and exit, and
        until they have they may still take a request with the older configuration."""
        def done() -> bool:
            now = workers(self.run_dir)
            return not (now & before) and len(now) >= 2
        wait_for(done, timeout=timeout, message="old nginx workers gone")

    def healthy(self) -> bool:
        try:
            return get(self.health_port, "x", "/healthz")[0] == 200
        except OSError:
            return False


def workers(run_dir: Path) -> set[int]:
    """The pids of the nginx master's children."""
    try:
        master = int((run_dir / "nginx.pid").read_text().strip())
    except (OSError, ValueError):
        return set()
    out = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                out.add(int(d.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


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


@dataclass
class Result:
    t: float  # time.monotonic() when the request was sent
    status: int  # 0: a connection error
    error: str = ""
    took: float = 0.0


class Load:
    """``workers`` threads sending GETs (a new connection each) to the ingress until stopped
    or ``limit`` seconds pass; every answer recorded with its time."""

    def __init__(self, port: int, host: str, uri: str = "/", workers: int = 4,
                 limit: float = 60, check: Any = None) -> None:
        import threading

        self.port, self.host, self.uri, self.limit = port, host, uri, limit
        self.check = check  # optional: body -> bool, a wrong body counts as status -1
        self.results: list[Result] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True)
                         for _ in range(workers)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.limit + 10)

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            t = time.monotonic()
            try:
                code, body = get(self.port, self.host, self.uri, timeout=10)
                if code == 200 and self.check is not None and not self.check(body):
                    r = Result(t, -1, body[:80])
                else:
                    r = Result(t, code)
            except OSError as e:
                r = Result(t, 0, repr(e))
            r.took = time.monotonic() - t
            with self._lock:
                self.results.append(r)

    def since(self, t0: float, t1: float = float("inf")) -> list[Result]:
        with self._lock:
            return [r for r in self.results if t0 <= r.t < t1]

    def count(self) -> int:
        with self._lock:
            return len(self.results)
