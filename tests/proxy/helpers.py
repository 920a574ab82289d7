"""Shared pieces of the proxy tests: the skip for hosts without root or iptables, the
proxy as a process, the host's tables, and busybox httpd backends on the pods' bridge."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import psutil
import pytest

from testing.support import Process, free_port, http_ok, unique, wait_for

PODS_NETWORK = "minik8s-pods"
BUSYBOX = "minik8s/busybox:latest"
SERVICE_CIDR = "10.96.0.0/12"
GUARD_COMMENT = "minik8s-proxy: nothing addressed to the service range leaves this host"


def iptables_usable() -> bool:
    return os.geteuid() == 0 and shutil.which("iptables-restore") is not None


needs_iptables = pytest.mark.skipif(not iptables_usable(),
                                    reason="needs root and iptables (nf_tables)")
needs_nft = pytest.mark.skipif(shutil.which("nft") is None,
                               reason="needs nft (Debian's nftables) for --proxy-mode nftables")
MODES = ["iptables", pytest.param("nftables", marks=needs_nft)]


def sh(*argv: str, check: bool = True) -> str:
    return subprocess.run(argv, check=check, capture_output=True, text=True).stdout


def save(table: str) -> str:
    return sh("iptables-save", "-t", table)


def other_proxy_running() -> str | None:
    """A minik8s-proxy this test did not start (compose's, another run's): two proxies
    would delete each other's chains, so the host tests skip rather than fight it."""
    me = os.getpid()
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = p.info["cmdline"] or []
        if p.info["pid"] == me or "--cleanup" in cmd:
            continue
        joined = " ".join(cmd)
        if "minik8s-proxy" in joined or ("-m" in cmd and "proxy" in cmd):
            return f"pid {p.info['pid']}: {joined[:120]}"
    return None


def guards_present() -> bool:
    flt = sh("iptables", "-S")
    return all(any(line.startswith(f"-A {chain} -d {SERVICE_CIDR}") and GUARD_COMMENT in line
                   and "-j REJECT" in line for line in flt.splitlines())
               for chain in ("OUTPUT", "FORWARD"))


class ProxyProc(Process):
    """``python -m proxy`` on the host's tables (as minik8s-proxy runs in compose)."""

    def __init__(self, server: str, *extra: str) -> None:
        self.health_port = free_port()
        super().__init__("proxy", [
            sys.executable, "-m", "proxy", "--server", server, "--node-name", "proxy-test",
            "--healthz-bind-address", f"127.0.0.1:{self.health_port}",
            "--min-sync-period", "0.1s", *extra])

    def start(self) -> ProxyProc:
        super().start()
        wait_for(lambda: http_ok(f"http://127.0.0.1:{self.health_port}/healthz")
                 or not self.alive(), timeout=20, message="proxy healthz")
        if not self.alive():
            raise RuntimeError(f"proxy exited:\n{self.log_tail()}")
        return self

    def metrics(self) -> dict[str, float]:
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/metrics",
                                    timeout=2) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out


def cleanup_host() -> None:
    subprocess.run([sys.executable, "-m", "proxy", "--cleanup"], check=True,
                   capture_output=True, timeout=60)


@dataclass
class Backend:
    name: str
    container: str
    ip: str


def start_backends(n: int, port: int = 8080) -> list[Backend]:
    """n busybox httpd containers on the pods' bridge, each answering its own name."""
    out = []
    for i in range(n):
        name = f"backend-{i}"
        cname = unique("proxytest")
        sh("docker", "run", "-d", "--name", cname, "--label", "minik8s.test=proxy",
           "--network", PODS_NETWORK, BUSYBOX, "sh", "-c",
           f"mkdir -p /www && echo {name} > /www/index.html && "
           f"exec httpd -f -p {port} -h /www")
        ip = sh("docker", "inspect", "-f",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", cname).strip()
        out.append(Backend(name, cname, ip))
    for b in out:
        wait_for(lambda b=b: http_get(b.ip, port) == b.name, timeout=15,
                 message=f"httpd in {b.container}")
    return out


def remove_containers(names: list[str]) -> None:
    if names:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True, check=False)


def http_get(ip: str, port: int, timeout: float = 2.0) -> str | None:
    """One HTTP/1.0 GET on a new connection; the body stripped, None on any failure."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
    except OSError:
        return None
    _, _, body = data.partition(b"\r\n\r\n")
    return body.decode(errors="replace").strip()


def connect_error(ip: str, port: int, timeout: float = 3.0) -> tuple[int | None, float]:
    """Try to connect: (errno or None when it connected, seconds taken)."""
    t0 = time.monotonic()
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return None, time.monotonic() - t0
    except OSError as exc:
        return exc.errno, time.monotonic() - t0


def pods_gateway() -> str:
    """The host's address on the pods' bridge: a node address of this host's nodes."""
    info = json.loads(sh("docker", "network", "inspect", PODS_NETWORK))
    return str(info[0]["IPAM"]["Config"][0]["Gateway"])


UDP_SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[2])))
while True:
    data, peer = s.recvfrom(512)
    s.sendto(sys.argv[1].encode(), peer)
"""


def start_udp_backends(n: int, port: int = 5300) -> list[Backend]:
    """n UDP servers (Python in the minik8s image) on the pods' bridge, answering their name."""
    out = []
    for i in range(n):
        name = f"udp-{i}"
        cname = unique("proxytest-udp")
        sh("docker", "run", "-d", "--name", cname, "--label", "minik8s.test=proxy",
           "--network", PODS_NETWORK, "minik8s/minik8s:latest",
           "python3", "-c", UDP_SERVER, name, str(port))
        ip = sh("docker", "inspect", "-f",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", cname).strip()
        out.append(Backend(name, cname, ip))
    for b in out:
        wait_for(lambda b=b: udp_ask(b.ip, port) == b.name, timeout=20,
                 message=f"UDP server in {b.container}")
    return out


def udp_ask(ip: str, port: int, sock: socket.socket | None = None,
            timeout: float = 0.5) -> str | None:
    """One datagram and its answer (on ``sock`` if given, else a fresh socket)."""
    own = sock is None
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(b"?", (ip, port))
        data, _ = s.recvfrom(512)
        return data.decode()
    except OSError:
        return None
    finally:
        if own:
            s.close()
